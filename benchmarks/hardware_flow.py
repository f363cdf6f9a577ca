"""Run the whole hardware flow on a run directory and print its figures as JSON.

    python benchmarks/hardware_flow.py RUN_DIR [--pipeline N] [--dataset NAME] [--vectors N]
        [--simulate verilator|iverilog|none] [--no-luts]

optimize (ABC) -> export (Verilog + testbench with golden vectors, AIGER, BLIF) -> verify (cec) ->
simulate (testbench bit-for-bit vs the software model) -> report (gates, ANDs, LUTs); each
step timed. Each step's figures also go to stderr as soon as they exist (one JSON line per step),
so a run stopped by a time limit still shows what it measured. With --dataset the testbench
holds the first --vectors test samples of that dataset (e.g. all 10,000 MNIST test images) and
the hard accuracy of the Verilog is computed from the simulator's own outputs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from gatelearn import runs
from gatelearn.backends.verilog import HwSpec
from gatelearn.flows.export import export
from gatelearn.flows.manifest import load_manifest
from gatelearn.flows.optimize import optimize
from gatelearn.flows.report import report
from gatelearn.flows.simulate import simulate_artifact
from gatelearn.flows.verify import verify
from gatelearn.verification.agreement import reference_outputs
from gatelearn.verification.testbench import parse_results


def progress(fig: dict, step: str) -> None:
    print(json.dumps({"step": step, "figures": fig}), file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--pipeline", type=int, default=0)
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--vectors", type=int, default=10_000)
    ap.add_argument("--simulate", default="verilator", choices=("verilator", "iverilog", "none"))
    ap.add_argument("--no-luts", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800.0)
    args = ap.parse_args()
    run = Path(args.run_dir)
    fig: dict = {"run": str(run)}
    t = time.perf_counter()
    opt = optimize(run, timeout=args.timeout)
    fig["optimize"] = opt.to_dict()
    fig["ands_reduction_vs_gate_by_gate"] = opt.ands_naive / max(opt.ands_after, 1)
    fig["ands_reduction_vs_strash"] = opt.ands_before / max(opt.ands_after, 1)
    progress(fig, "optimize")
    x = y = None
    if args.dataset:
        from gatelearn.data.datasets import load_dataset
        ds = load_dataset(args.dataset, data_dir=args.data_dir, download=False)
        x, y = ds.x_test[:args.vectors], np.asarray(ds.y_test[:args.vectors])
        model_c, best_c = runs.model_circuit(run), runs.best_circuit(run)
        t = time.perf_counter()
        m_cls, _ = reference_outputs(model_c, x)
        b_cls, _ = reference_outputs(best_c, x)
        fig["accuracy_model_circuit"] = float((m_cls == y).mean())
        fig["accuracy_best_circuit"] = float((b_cls == y).mean())
        fig["software_sim_seconds"] = time.perf_counter() - t
        progress(fig, "software")
    t = time.perf_counter()
    export(run, pipeline=args.pipeline, vectors=args.vectors if x is None else len(x), x=x)
    fig["export_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    rep = verify(run, timeout=args.timeout)
    fig["verify"] = {"ok": rep.ok, "seconds": time.perf_counter() - t,
                     "checks": [{k: c.to_dict()[k] for k in ("item", "what", "status", "seconds")} for c in rep.checks]}
    progress(fig, "verify")
    if args.simulate != "none":
        sims = []
        for top in ["gatelearn_model"] + ([f"gatelearn_model_pipe{args.pipeline}"] if args.pipeline else []):
            r = simulate_artifact(run, top, args.simulate, timeout=args.timeout)
            if y is not None:
                art = run / runs.ARTIFACTS_DIR
                spec = HwSpec(**next(e for e in load_manifest(run)["artifacts"]
                                     if e.get("top") == top and e["kind"] == "verilog")["spec"])
                cls, _ = parse_results((art / f"{top}_results.txt").read_text(), spec)
                r["accuracy_from_simulation"] = float((cls == y[:len(cls)]).mean())
            sims.append(r)
            fig["simulation"] = sims
            progress(fig, f"simulate {top}")
    t = time.perf_counter()
    fig["report"] = report(run, luts=not args.no_luts, timeout=args.timeout)
    fig["report_seconds"] = time.perf_counter() - t
    print(json.dumps(fig, indent=2))
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
