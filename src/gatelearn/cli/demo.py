"""``gatelearn demo``: the whole path on data bundled with the package, in a few minutes.

train (UCI Adult, bundled) -> compile (passes + C) -> optimize (ABC) -> export (Verilog, AIGER,
BLIF) -> verify (formal equivalence of every circuit and artifact) -> report -> bench.

Each step is the real subcommand, run in order on one run directory; the demo stops at the
first step that fails and says which. It holds the run directory's lock throughout (each step
takes it again, nested), so no other command writes there between two steps.

Each step prints its own table under a ``=== gatelearn ...`` heading, and the demo ends with a
table of the steps. ``--json`` prints one JSON document instead: every step's JSON result (the
training's: its summary.json).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import time
from pathlib import Path

from .. import progress, runs
from ..errors import InputError
from ..fileio import LOCK_FILE
from ..model import MODEL_FILE
from ..training import CHECKPOINT_FILE
from ._args import MAX_THREADS, int_in, positive_int
from ._output import add_json_flag, column_table, print_json

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
        progress.say("ABC not found (Debian package berkeley-abc): skipping optimize, export and verify")
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
    from .main import run_nested
    if args.fresh:
        _clear(Path(args.out))
    done: list[dict] = []
    for name, argv in _steps(args):
        t0 = time.perf_counter()
        try:
            if args.json:
                code, result = _run_for_json(name, argv, run_nested)
            else:
                print(f"\n=== gatelearn {' '.join(argv)}", flush=True)
                code, result = run_nested(argv), None
        except KeyboardInterrupt as exc:
            finished = ", ".join(d["step"] for d in done)
            raise KeyboardInterrupt(
                f"interrupted in step {name} ({exc or 'interrupted'}); "
                + (f"finished before it: {finished}, their files are in {args.out}" if done else
                   "no step had finished")) from None
        done.append({"step": name, "command": "gatelearn " + " ".join(argv), "exit_code": code,
                     "seconds": round(time.perf_counter() - t0, 1), "result": result})
        if code:
            break
    ok = all(d["exit_code"] == 0 for d in done)
    if args.json:
        print_json({"out": str(args.out), "ok": ok, "steps": done})
    else:
        print("\n" + column_table(["step", "result", "seconds"],
                                  [[d["step"], "ok" if d["exit_code"] == 0 else f"FAILED (exit {d['exit_code']})",
                                    d["seconds"]] for d in done]))
        print(f"\ndemo {'finished' if ok else 'stopped at the failed step'}: everything is in {args.out}")
    return next((d["exit_code"] for d in done if d["exit_code"]), 0)


def _run_for_json(name: str, argv: list[str], run_nested) -> tuple[int, object]:
    """Run a step for ``demo --json``: the step's own --json result, read from what it printed
    (train has no JSON output: its summary line goes to stderr, its result is summary.json)."""
    if name == "train":
        with contextlib.redirect_stdout(sys.stderr):
            code = run_nested(argv)
        summary = Path(argv[argv.index("--out") + 1]) / "summary.json"
        try:
            return code, json.loads(summary.read_text())
        except (OSError, ValueError):
            return code, None
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = run_nested([*argv, "--json"])
    try:
        return code, json.loads(buf.getvalue())
    except ValueError:     # a failed step printed no JSON (its error went to stderr)
        return code, None


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
    add_json_flag(p)
    p.set_defaults(func=run)
