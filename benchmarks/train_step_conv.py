"""Time one training step (forward, backward, AdamW step) of a convolutional preset's model.

    .venv/bin/python benchmarks/train_step_conv.py --preset mnist-conv-s --batch 128 --threads 2 [--json]

Random MNIST-shaped inputs (the step time does not depend on the values). Reports the median
step time, and the forward+backward time of the conv-tree layers alone with the fused C++
kernel and with the pure-PyTorch formulation, so a regression in either shows up.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from gatelearn.kernels import conv_tree
from gatelearn.layers.conv import LogicConv2d
from gatelearn.model import build_model
from gatelearn.training.presets import layer_specs, make_config


def _median_time(fn, repeats: int) -> float:
    fn()   # warm-up (builds the extension, allocates)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="mnist-conv-s")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = make_config(args.preset)
    enc = dict(config.encoder)
    c, h, w = enc["image"]
    enc["features"] = c * h * w
    model = build_model({"encoder": enc, "layers": layer_specs(config),
                         "head": {"kind": "groupsum", "classes": 10, "tau": config.tau}, "seed": 0}).train()
    x = torch.randint(0, 256, (args.batch, c * h * w)).float()
    y = torch.randint(0, 10, (args.batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    result = {"preset": args.preset, "batch": args.batch, "threads": args.threads, "gates": model.num_gates(),
              "fused_conv_kernel": conv_tree.fused_tree_available(),
              "step_ms": 1e3 * _median_time(step, args.repeats)}

    # The conv-tree layers alone, fused vs pure PyTorch, on their real input shapes.
    with torch.no_grad():
        inputs, hcur = [], model.encoder(x)
        for layer in model.layers:
            if isinstance(layer, LogicConv2d):
                inputs.append((layer, hcur))
            hcur = layer(hcur)
    for fused in (True, False):
        if fused and not result["fused_conv_kernel"]:
            continue

        def conv_only(fused=fused):
            for layer, inp in inputs:
                xin = F.pad(inp, (layer.padding[1],) * 2 + (layer.padding[0],) * 2).reshape(inp.shape[0], -1)
                xin.requires_grad_(True)
                out = conv_tree.tree_forward(xin, layer.leaf_index(inp.shape[2], inp.shape[3]),
                                             layer.coefficients(), fused=fused)
                out.sum().backward()
        result[f"conv_fwd_bwd_ms_{'fused' if fused else 'pytorch'}"] = 1e3 * _median_time(conv_only, args.repeats)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v:.1f}" if isinstance(v, float) else f"{k:>28}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
