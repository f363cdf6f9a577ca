"""Output heads against the number of classes: hard test accuracy, gates after the passes and
compiled C throughput for each head, on the presets' networks, in one run; prints one JSON document.

    .venv/bin/python benchmarks/heads.py --presets synthetic-10,synthetic-100,letter \\
        --heads rule,learned,codebook --iterations 3000 --out runs/heads
    .venv/bin/python benchmarks/heads.py --presets monk1,letter --tau-scales 0.5,1,2 --iterations 3000

Heads (each on the preset's layers and training settings):

``preset``    GroupSum with the preset's own tau (skipped when the preset has none)
``rule``      GroupSum with tau = sqrt(outputs per class) (``tau="auto"``)
``learned``   GroupSum, tau starting at the rule's value and learned with the network
``codebook``  the codebook head: random codewords of ``--code-bits`` bits (the last layer's width
              becomes that; its score for each class reads every one of them, so the C and Verilog
              heads cost classes x code bits per sample), tau = sqrt(code bits)

``--tau-scales`` measures the rule's constant instead: GroupSum with tau = s * sqrt(outputs per
class) for each s, and ``--validation`` of the training set held out; the constant is chosen per
preset by the validation accuracy (never the test's), which the JSON reports next to the test
accuracy of every run.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import gatelearn  # noqa: F401  (before torch: the OpenMP wait policy)
from gatelearn import runs
from gatelearn.circuit.passes import optimize
from gatelearn.flows.bench import quick_throughput
from gatelearn.training import make_config, train
from gatelearn.training.sizing import auto_tau, last_width


def run_one(preset: str, label: str, overrides: dict, args, out: Path) -> dict:
    config = make_config(preset, iterations=args.iterations, eval_every=max(1, args.iterations // 5),
                         checkpoint_every=None, threads=args.threads, seed=args.seed, data_dir=args.data_dir,
                         **overrides)
    t0 = time.perf_counter()
    summary = train(config, out, progress=False)
    circuit = optimize(runs.model_circuit(out))[0]
    row = {"preset": preset, "head": label, "classes": runs.load_model(out).classes,
           "tau": summary["config"]["tau"], "learned_tau": None,
           "hard_accuracy": summary["hard_accuracy"], "relaxed_accuracy": summary["relaxed_accuracy"],
           "validation_accuracy": summary.get("val_hard_accuracy"),
           "gates": summary["gates"], "gates_after_passes": circuit.num_gates,
           "train_seconds": round(summary["train_seconds"], 1), "seconds": None}
    if summary["config"].get("learn_tau"):
        row["learned_tau"] = round(runs.load_model(out).head.tau, 4)
    if args.bench:
        row["samples_per_s_1thread"] = round(quick_throughput(circuit, seconds=0.5))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", required=True, help="comma-separated preset names")
    p.add_argument("--heads", default="preset,rule,learned,codebook")
    p.add_argument("--tau-scales", help="measure the rule's constant: comma-separated scales of sqrt(outputs/class)")
    p.add_argument("--validation", type=float, default=0.1, help="held-out fraction for --tau-scales")
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--code-bits", type=int, default=256, help="codeword length of the codebook head")
    p.add_argument("--threads", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir")
    p.add_argument("--no-bench", dest="bench", action="store_false", help="skip the C throughput")
    p.add_argument("--out", default="runs/heads")
    args = p.parse_args()
    rows = []
    for preset in args.presets.split(","):
        base = make_config(preset)
        if args.tau_scales:
            for scale in (float(s) for s in args.tau_scales.split(",")):
                classes = _classes(preset, args)
                tau = round(scale * auto_tau(last_width(base.layers), classes), 3)
                rows.append(run_one(preset, f"tau x{scale:g}", {"tau": tau, "validation": args.validation},
                                    args, Path(args.out) / preset / f"scale-{scale:g}"))
            continue
        for head in args.heads.split(","):
            if head == "preset" and base.tau is None:
                continue
            narrow = [*base.layers[:-1], {**base.layers[-1], "out": args.code_bits}]
            overrides = {"preset": {}, "rule": {"tau": "auto"}, "learned": {"tau": "auto", "learn_tau": True},
                         "codebook": {"head": "codebook", "tau": "auto", "layers": narrow}}[head]
            rows.append(run_one(preset, head, overrides, args, Path(args.out) / preset / head))
    result = {"benchmark": "heads", "iterations": args.iterations, "machine": platform.machine(),
              "processor": platform.processor() or None, "rows": rows}
    if args.tau_scales:
        best = {}
        for r in rows:
            val = r["validation_accuracy"]
            if val is not None and (r["preset"] not in best or val > best[r["preset"]]["validation_accuracy"]):
                best[r["preset"]] = r
        result["chosen_by_validation"] = {k: {"head": v["head"], "tau": v["tau"], "test": v["hard_accuracy"]}
                                          for k, v in best.items()}
    print(json.dumps(result, indent=2))


def _classes(preset: str, args) -> int:
    from gatelearn.data import load_dataset
    return load_dataset(make_config(preset).dataset, data_dir=args.data_dir).classes


if __name__ == "__main__":
    main()
