"""Time one training step (forward + backward + Adam) of a logic gate network, fused kernel vs
pure PyTorch, in one run on the same model and data.

    python benchmarks/train_step.py --inputs 784 --layers 6 --width 8000 --batch 100 \
        --classes 10 --threads 2 [--parametrization softmax16] [--steps 30]

The model comes from a gatelearn model spec, so any layer kind registered in
``gatelearn.layers.kinds.KINDS`` can be timed: ``--spec model.json`` takes the spec from a file
(its encoder decides the raw input width), ``--preset NAME`` picks one of ``PRESETS`` below;
without either, a dense spec is made from --inputs/--layers/--width/--classes. Prints one JSON
object on stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

# isort: off
import gatelearn  # before torch, as in `gatelearn train`: it sets the OpenMP wait policy torch reads on load
import torch
# isort: on

from gatelearn import kernels
from gatelearn.kernels.allocator import keep_freed_memory
from gatelearn.training.batches import BitsToScores


def dense_spec(inputs: int, layers: int, width: int, classes: int, parametrization: str,
               sampling: str, connections: str, tau: float, seed: int) -> dict:
    layer = {"kind": "logic", "out": width, "parametrization": parametrization,
             "sampling": sampling, "connections": connections, "init": "residual"}
    return {"encoder": {"kind": "bits", "features": inputs},
            "layers": [dict(layer) for _ in range(layers)],
            "head": {"kind": "groupsum", "classes": classes, "tau": tau},
            "seed": seed}


def conv_preset_spec(name: str, seed: int) -> dict:
    """Model spec of a convolutional training preset (its image-shaped encoder, its layers)."""
    from gatelearn.training.presets import layer_specs, make_config
    config = make_config(name)
    enc = dict(config.encoder)
    c, h, w = enc["image"]
    enc["features"] = c * h * w
    return {"encoder": enc, "layers": layer_specs(config),
            "head": {"kind": "groupsum", "classes": 10, "tau": config.tau}, "seed": seed}


# Named model shapes. A preset is a function of the parsed arguments returning a spec, so a
# convolutional model can be added here (or passed with --spec) once its layer kind exists.
PRESETS = {
    "dense": lambda a: dense_spec(a.inputs, a.layers, a.width, a.classes, a.parametrization,
                                  a.sampling, a.connections, a.tau, a.seed),
    # DLGN "small" from the 2022 paper (MNIST 20x20 crop = 400 bits, 6 x 8,000, tau 10)
    "mnist-small": lambda a: dense_spec(400, 6, 8000, 10, a.parametrization, a.sampling,
                                        a.connections, 10.0, a.seed),
    # LogicTreeNet S for MNIST (2024): logic-tree convolutions + OR pooling + 3 dense layers
    "mnist-conv-s": lambda a: conv_preset_spec("mnist-conv-s", a.seed),
}


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def input_width(model: gatelearn.LogicNet) -> int:
    enc = model.encoder
    return int(enc.in_features)


def make_adam(params, lr: float, impl: str):
    """Adam; ``fused`` is PyTorch's single-kernel CPU Adam (about 3x faster on this model's
    768K parameters than the default foreach version), used when this torch has it."""
    if impl == "fused":
        try:
            return torch.optim.Adam(params, lr=lr, fused=True), "fused"
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.Adam(params, lr=lr), "foreach"


def time_path(model, x, y, fused: bool, steps: int, warmup: int, lr: float, adam: str) -> dict:
    """Warm-up, then ``steps`` timed steps; each step is forward, loss, backward and Adam.
    ``model`` maps ``x`` to class scores (main passes the layers + head on encoded bits)."""
    opt, adam_impl = make_adam(list(model.parameters()), lr, adam)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    times, fwd_times = [], []
    usage = None
    with kernels.use_fused(fused):
        for i in range(warmup + steps):
            if i == warmup:
                usage = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            t1 = time.perf_counter()
            loss.backward()
            opt.step()
            t2 = time.perf_counter()
            if i >= warmup:
                times.append(t2 - t0)
                fwd_times.append(t1 - t0)
    ms = statistics.median(times) * 1e3
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"ms_per_step": round(ms, 3),
            "ms_min": round(min(times) * 1e3, 3),
            "ms_forward": round(statistics.median(fwd_times) * 1e3, 3),
            "steps": steps,
            "adam": adam_impl,
            # page faults and kernel time are what an allocator that hands memory back costs
            "minor_faults_per_step": round((after.ru_minflt - usage.ru_minflt) / steps, 1),
            "system_cpu_ms_per_step": round((after.ru_stime - usage.ru_stime) * 1e3 / steps, 3),
            "final_loss": round(float(loss.detach()), 6)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=784)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--tau", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parametrization", default="softmax16", choices=["softmax16", "light", "walsh"])
    ap.add_argument("--sampling", default="soft", choices=["soft", "gumbel"])
    ap.add_argument("--connections", default="random", choices=["random", "unique"])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--steps", type=int, default=30, help="timed steps of the fused path")
    ap.add_argument("--reference-steps", type=int, default=5,
                    help="timed steps of the PyTorch path (it is slow); 0 skips it")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--adam", default="fused", choices=["fused", "foreach"],
                    help="Adam implementation for both paths (fused falls back to foreach if absent)")
    ap.add_argument("--seed", type=int, default=0)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--preset", choices=sorted(PRESETS), help="a named model shape")
    group.add_argument("--spec", type=Path, help="a JSON model spec file (gatelearn.build_model format)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    # As `gatelearn train` does (both paths profit): no page faults on each step's big tensors.
    keep_memory = keep_freed_memory()
    dtype = getattr(torch, args.dtype)
    if args.spec is not None:
        spec = json.loads(args.spec.read_text())
        source = str(args.spec)
    else:
        name = args.preset or "dense"
        spec = PRESETS[name](args)
        source = f"preset:{name}"
    model = gatelearn.build_model(spec).to(dtype)
    n_in = input_width(model)
    x = torch.randint(0, 2, (args.batch, n_in)).to(dtype)
    y = torch.randint(0, model.classes, (args.batch,))
    gates = model.num_gates()
    state = {k: v.clone() for k, v in model.state_dict().items()}

    fused_ok = kernels.fused_available()   # builds the extension before any timing
    result = {"benchmark": "train_step", "model": source, "gates": gates, "batch": args.batch,
              "inputs": n_in, "classes": model.classes, "threads": torch.get_num_threads(),
              "dtype": args.dtype, "parametrization": args.parametrization if args.spec is None else None,
              "sampling": args.sampling if args.spec is None else None,
              "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "step": "layers + head on encoded bits, as gatelearn train",
              "keep_freed_memory": keep_memory, "loadavg_1min_before": _loadavg()}

    # A step is what `gatelearn train` runs: the layers and the head on bits encoded once up front
    # (the training loop encodes the whole dataset before the first step, so the encoder and its
    # input checks are not part of a step).
    with torch.no_grad():
        bits = model.encoder(x)
    step_net = BitsToScores(model)

    def record(name: str, fused: bool, steps: int):
        model.load_state_dict(state)   # both paths start from the same weights
        r = time_path(step_net, bits, y, fused, steps, args.warmup, args.lr, args.adam)
        r["neuron_evals_per_s"] = round(gates * args.batch / (r["ms_per_step"] / 1e3))
        result[name] = r

    if fused_ok:
        # Same weights, same input: the two paths must give the same scores before timing them
        # (final_loss below differs only because the paths run different numbers of steps).
        with torch.no_grad():
            with kernels.use_fused(True):
                out_f = model(x)
            with kernels.use_fused(False):
                out_r = model(x)
        result["max_abs_diff_fused_vs_reference"] = float((out_f - out_r).abs().max())
        record("fused", True, args.steps)
    else:
        result["fused"] = {"error": kernels.fused_unavailable_reason()}
    if args.reference_steps > 0:
        record("reference", False, args.reference_steps)
    if fused_ok and args.reference_steps > 0:
        result["speedup"] = round(result["reference"]["ms_per_step"] / result["fused"]["ms_per_step"], 2)
    # Timings on a machine shared with other work are only meaningful next to its load.
    result["loadavg_1min_after"] = _loadavg()
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
