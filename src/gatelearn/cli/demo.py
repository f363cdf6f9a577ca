"""``gatelearn demo``: the whole path on data bundled with the package, in a few minutes.

train (UCI Adult, bundled) -> compile (passes + C) -> optimize (ABC) -> export (Verilog, AIGER,
BLIF) -> verify (formal equivalence of every circuit and artifact) -> report -> bench.

Each step is the real subcommand, run in order on one run directory; the demo stops at the
first step that fails and says which. It holds the run directory's lock throughout (each step
takes it again, nested), so no other command writes there between two steps.
"""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from .. import runs
from ..errors import InputError
from ..fileio import LOCK_FILE
from ..model import MODEL_FILE
from ..training import CHECKPOINT_FILE
from ._args import MAX_THREADS, int_in, positive_int

RUN_MARKERS = (MODEL_FILE, CHECKPOINT_FILE, "metrics.jsonl")


def _steps(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    run = args.out
    train = ["train", "--preset", args.preset, "--out", run, "--iterations", str(args.iterations),
             "--sampling", "gumbel", "--eval-every", str(max(1, args.iterations // 10))]
    if args.threads:
        train += ["--threads", str(args.threads)]
    steps = [("train", train),
             ("compile", ["compile", run, "--target", "c"])]
    if shutil.which("berkeley-abc") or shutil.which("yosys-abc") or shutil.which("abc"):
        steps += [("optimize", ["optimize", run]),
                  ("export", ["export", run, "--pipeline", "4"]),
                  ("verify", ["verify", run])]
    else:
        print("gatelearn demo: ABC not found (Debian package berkeley-abc): skipping optimize, export and verify")
    steps += [("report", ["report", run]),
              ("bench", ["bench", run, "--samples", "20000", "--seconds", "1"])]
    return steps


def _clear(out: Path) -> None:
    """Empty ``out`` for a fresh demo, but only if it is a gatelearn run (never a user's folder).
    The lock file stays: the demo holds the lock on it, and a new file would be a second lock."""
    entries = [p for p in out.iterdir() if p.name != LOCK_FILE] if out.exists() else []
    if not entries:
        return
    if not any((out / f).exists() for f in RUN_MARKERS):
        raise InputError(f"{out} exists and is not a gatelearn run directory; choose another --out")
    for p in entries:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file, not a folder; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    with runs.lock(out):
        return _run_steps(args)


def _run_steps(args: argparse.Namespace) -> int:
    from .main import main
    if args.fresh:
        _clear(Path(args.out))
    for name, argv in _steps(args):
        print(f"\n=== gatelearn {' '.join(argv)}", flush=True)
        t0 = time.perf_counter()
        code = main(argv)
        print(f"--- {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {time.perf_counter() - t0:.1f} s",
              flush=True)
        if code:
            return code
    print(f"\ndemo finished: everything is in {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="train, compile, verify and report on bundled data (a few minutes)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    p.add_argument("--preset", default="adult", help="a preset whose data ships with the package (default adult)")
    p.add_argument("--iterations", type=positive_int, default=6000, help="training steps (default 6000)")
    # One thread: the demo network is small (1,280 gates), so a second thread buys nothing and
    # costs a lot when the other core is busy (OpenMP workers spin waiting for each other).
    p.add_argument("--threads", type=int_in(0, MAX_THREADS), default=1,
                   help="torch threads for training (default 1; 0: torch's default)")
    p.add_argument("--fresh", action=argparse.BooleanOptionalAction, default=True,
                   help="start from an empty run directory (default); --no-fresh keeps an existing one")
    p.set_defaults(func=run)
