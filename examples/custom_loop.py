"""Your own training loop: a LogicNet is a torch.nn.Module, trained by plain PyTorch code.

    python examples/custom_loop.py --out runs/custom [--iterations 300]

On MONK-1 (bundled with gatelearn): build the network from a spec, train it with Adam and
cross-entropy, switch to ``model.eval()`` (every gate becomes its most likely Boolean function:
the hard network), save it, lower it to a circuit, compile that to C and check that the C gives
exactly the model's class scores on every test record. Exits with 1 if it does not.

Files in --out: model.safetensors + model.json (``gl.load`` and every ``gatelearn`` command read
them), c/ (gatelearn_net.c / .h).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import gatelearn as gl
from gatelearn.backends import compile_circuit
from gatelearn.data import load_dataset


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the model and the C")
    p.add_argument("--iterations", type=int, default=1000, help="training steps (default 1000: seconds)")
    p.add_argument("--seed", type=int, default=0, help="seed of the wiring, the weights and the batches")
    args = p.parse_args(argv)
    # torch only now, after gatelearn: gatelearn sets OpenMP's wait policy before torch loads
    import torch
    torch.manual_seed(args.seed)

    # MONK-1: 6 attributes given as category codes (0, 1, ...), 124 training and 432 test records.
    ds = load_dataset("monk1")
    categories = [len(ds.categories[f]) for f in ds.feature_names]

    # The spec says everything the model is: one-hot bits per attribute (17 in all), three
    # layers of 64 learned gates and one of 32, a GroupSum head (class k's score: the ones among
    # its 16 outputs, / tau). It is saved with the weights, so gl.load rebuilds this model.
    spec = {"encoder": {"kind": "onehot", "categories": categories},
            "layers": [{"kind": "logic", "out": width, "init": "gaussian"} for width in (64, 64, 64, 32)],
            "head": {"kind": "groupsum", "classes": ds.classes, "tau": 3.0},
            "seed": args.seed, "class_names": ds.class_names}
    model = gl.LogicNet(spec)
    x_train, y_train = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    x_test = torch.from_numpy(ds.x_test)

    # A plain loop: in train mode every gate is a softmax mixture of the 16 functions, so the
    # loss is differentiable in the gate weights. Minibatches of 32 of the 124 records.
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    model.train()
    for step in range(args.iterations):
        batch = torch.randint(0, len(x_train), (32,))
        loss = torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % max(1, args.iterations // 5) == 0:
            print(f"step {step + 1:5d}  loss {loss.item():.4f}")

    # eval(): the hard network, the one every circuit made from the model computes.
    model.eval()
    with torch.no_grad():
        scores = model(x_test)
    accuracy = (scores.argmax(1).numpy() == ds.y_test).mean()
    print(f"hard test accuracy {100 * accuracy:.2f}% with {model.num_gates()} gates")

    # Save (safetensors: weights, wiring, encoder and spec; no pickle) and read it back.
    gl.save(model, args.out)
    model = gl.load(args.out).eval()

    # The circuit: gl.lower turns the hard gates, the encoder and the head into gatelearn's IR;
    # the C backend builds it (bit-sliced, 64+ records per pass) and runs it on the raw records.
    circuit = gl.lower(model)
    program = compile_circuit(circuit, "c")
    program.source.write(args.out / "c")
    pred = program.run(ds.x_test)
    # The C returns each class's count of ones; the model's score is that count / tau, exactly.
    with torch.no_grad():
        same = torch.equal(torch.from_numpy(pred.scores).float() / 3.0, model(x_test))
    same = same and np.array_equal(pred.classes, scores.argmax(1).numpy())
    print(f"C ({circuit.num_gates} gates, {args.out / 'c'}) equals the model on all {len(ds.x_test)} test "
          f"records: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
