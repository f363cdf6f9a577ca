"""Train a preset with gatelearn's own training loop and print the results-table figures as JSON.

    .venv/bin/python benchmarks/accuracy.py --preset adult --sampling gumbel --threads 1
    .venv/bin/python benchmarks/accuracy.py --preset mnist-conv-s --data-dir ../shared/datasets \\
        --threads 1 --minutes 65

The same as ``gatelearn train`` (its main flags are passed through), plus a JSON line with hard and
relaxed accuracy, the discretization gap, gates, gates actually used, iterations and training
time, and the preset's published reference figure next to them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from gatelearn.training import make_config, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", required=True)
    p.add_argument("--out", help="run directory (default runs/PRESET)")
    p.add_argument("--data-dir")
    p.add_argument("--iterations", type=int)
    p.add_argument("--minutes", type=float, help="time limit for the training (the run finishes there)")
    p.add_argument("--sampling", choices=("soft", "gumbel"))
    p.add_argument("--parametrization", choices=("softmax16", "light", "walsh"))
    p.add_argument("--init", choices=("residual", "gaussian"))
    p.add_argument("--relaxed-inputs", type=float, metavar="WIDTH")
    p.add_argument("--lr-decay-at", type=float)
    p.add_argument("--augment-shift", type=int, metavar="PIXELS")
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--eval-every", type=int)
    args = p.parse_args()
    config = make_config(args.preset, data_dir=args.data_dir, iterations=args.iterations,
                         time_limit=args.minutes, sampling=args.sampling, parametrization=args.parametrization,
                         init=args.init, relaxed_inputs=args.relaxed_inputs, lr_decay_at=args.lr_decay_at,
                         augment_shift=args.augment_shift, threads=args.threads, seed=args.seed,
                         eval_every=args.eval_every)
    out = Path(args.out or Path("runs") / args.preset)
    s = train(config, out, progress=False)
    print(json.dumps({"preset": args.preset, "run_dir": str(out),
                      "hard_accuracy": s["hard_accuracy"], "relaxed_accuracy": s["relaxed_accuracy"],
                      "gap": s["gap"], "gates": s["gates"], "gates_used": s["gates_used"],
                      "iterations": s["iterations"], "train_seconds": s["train_seconds"],
                      "reference": config.reference}, indent=2))


if __name__ == "__main__":
    main()
