"""The training step beside a CPU hog: the fused kernel against the pure-PyTorch reference path,
and against its own quiet speed, in one run.

    python benchmarks/train_step_under_load.py [--width 8000] [--batch 100] [--steps 20]

Each configuration runs ``benchmarks/train_step.py`` in a fresh process (so the OpenMP runtime
starts with that configuration's environment), once on a quiet machine and once with one
CPU-bound process per hog (``--hogs``, default 1: on a 2-core machine half the cores are taken).
Rows:

- ``quiet_1t``       fused step, 1 thread, nothing beside it (the yardstick: "its own quiet
                     single-thread speed")
- ``quiet_default``  fused step with gatelearn's default threading, nothing beside it
- ``hog_default``    fused step with the default threading, beside the hog(s)
- ``hog_reference``  the PyTorch reference path with the default threading, beside the hog(s)
- ``hog_active``     fused step, all cores, spin-waiting OpenMP threads (OMP_WAIT_POLICY=ACTIVE,
                     the default before gatelearn set a passive one), beside the hog(s)

Prints one JSON object with the rows' median ms per step and the ratios the issue asks for:
``hog_default`` must stay well ahead of ``hog_reference`` and not fall below half of
``quiet_1t``'s speed (ms at most 2x).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOG = "import time\nend = time.time() + {secs}\nx = 0\nwhile time.time() < end:\n    x += 1\n"


def run_step(args, threads: int | None, env: dict, reference: bool) -> dict:
    cmd = [sys.executable, str(HERE / "train_step.py"), "--inputs", str(args.inputs), "--layers", str(args.layers),
           "--width", str(args.width), "--batch", str(args.batch), "--classes", "10",
           "--steps", str(args.steps), "--reference-steps", str(args.reference_steps if reference else 0)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode:
        raise SystemExit(f"train_step.py failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout)
    path = r["reference"] if reference else r["fused"]
    return {"ms_per_step": path["ms_per_step"], "threads": r["threads"]}


def with_hogs(n: int, secs: float, fn):
    hogs = [subprocess.Popen([sys.executable, "-c", HOG.format(secs=secs)]) for _ in range(n)]
    try:
        time.sleep(0.5)          # let the scheduler see them
        return fn()
    finally:
        for h in hogs:
            h.kill()
            h.wait()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inputs", type=int, default=784)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--width", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reference-steps", type=int, default=3)
    ap.add_argument("--hogs", type=int, default=1, help="CPU-bound processes beside the step")
    args = ap.parse_args(argv)

    base = dict(os.environ)
    active = {**base, "OMP_WAIT_POLICY": "ACTIVE"}
    rows = {"quiet_1t": run_step(args, 1, base, False),
            "quiet_default": run_step(args, None, base, False)}
    hog_secs = 900
    rows["hog_default"] = with_hogs(args.hogs, hog_secs, lambda: run_step(args, None, base, False))
    rows["hog_reference"] = with_hogs(args.hogs, hog_secs, lambda: run_step(args, None, base, True))
    rows["hog_active"] = with_hogs(args.hogs, hog_secs, lambda: run_step(args, os.cpu_count(), active, False))
    q1 = rows["quiet_1t"]["ms_per_step"]
    hd = rows["hog_default"]["ms_per_step"]
    result = {"benchmark": "train_step_under_load", "cpus": os.cpu_count(), "hogs": args.hogs,
              "model": f"{args.inputs} -> {args.layers} x {args.width}, batch {args.batch}", "rows": rows,
              "hog_default_vs_reference_speedup": round(rows["hog_reference"]["ms_per_step"] / hd, 2),
              "hog_default_vs_quiet_1t_slowdown": round(hd / q1, 2),
              "hog_active_vs_quiet_1t_slowdown": round(rows["hog_active"]["ms_per_step"] / q1, 2)}
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
