"""``gatelearn verify PATH``: prove circuits and artifacts equivalent to the trained model, or an
imported circuit equal to the file it was imported from.

Each result is printed the moment its check finishes (a proof of an MNIST design takes a minute
or more), one aligned line per check; the last line says what was proven, what tested and what
not checked. ``--json`` prints the whole report as one JSON document at the end instead."""
from __future__ import annotations

import sys
from pathlib import Path

from .. import runs
from ._args import positive_float
from ._lock import writes_run_dir
from ._output import add_json_flag, on_interrupt, print_json

STATUS_WIDTH = 9        # "undecided", the longest status: the items line up after it


def register(sub) -> None:
    p = sub.add_parser("verify", help="prove every circuit and artifact of a run equivalent to the trained model "
                                      "(of an imported circuit: to its source file)",
                       description="Formal equivalence (ABC cec; yosys turns Verilog into gates) of "
                                   "circuit.npz, circuit.abc.npz and the Verilog, AIGER and BLIF artifacts "
                                   "against the circuit lowered from model.safetensors; the C library "
                                   "(artifacts/c) and NumPy module (artifacts/numpy) are compiled / imported and "
                                   "tested (exhaustively over every input region when few enough, else on corner "
                                   "cases and random inputs), which is reported as tested, not proven. Each result "
                                   "is printed as its check finishes; the last line says what was proven, what "
                                   "tested and what not checked. Exit code 0 only when every check passed; the "
                                   "failing item is named. Results also go to RUN_DIR/verify.json. "
                                   "PATH may also be an imported circuit: a folder made by gatelearn import (its "
                                   "circuit.npz, circuit.abc.npz and exported artifacts are proven equal to its copy "
                                   "of the source file, read by ABC itself, ports matched by order), a .npz written "
                                   "by gatelearn import (proven equal to the file it was read from), or an .aig / "
                                   ".aag / .blif file (the circuit gatelearn reads from it proven equal to it).")
    p.add_argument("run_dir", metavar="path", help="a trained run directory, a folder made by gatelearn import, a "
                                                   "circuit .npz made by gatelearn import, or an .aig / .aag / "
                                                   ".blif file")
    p.add_argument("--timeout", type=positive_float, default=600.0, help="seconds per tool call")
    add_json_flag(p)
    # verify.json, written into a folder only
    p.set_defaults(func=writes_run_dir(run, where=lambda args: args.run_dir if Path(args.run_dir).is_dir() else None))


def check_line(c) -> str:
    """One result: STATUS, the item, what was checked, how long it took (and the detail below)."""
    line = f"{c.status.upper():{STATUS_WIDTH}s} {c.item}: {c.what} ({c.seconds:.1f} s)"
    if c.detail:
        line += f"\n{'':{STATUS_WIDTH}s} {c.detail}"
    return line


def run(args) -> int:
    from ..flows.verify import VERIFY_FILE, verify
    done = []

    def on_check(c) -> None:
        done.append(c)
        if not args.json:
            print(check_line(c), flush=True)

    def left() -> str:
        passed = sum(c.status in ("proven", "tested") for c in done)
        if not Path(args.run_dir).is_dir():
            return f"{len(done)} check(s) had finished ({passed} passed, {len(done) - passed} not); nothing is written"
        previous = (runs.run_dir(args.run_dir) / VERIFY_FILE).exists()
        return (f"{len(done)} check(s) had finished ({passed} passed, {len(done) - passed} not); {VERIFY_FILE} was "
                f"not written{' (it still holds the previous results)' if previous else ''}")

    with on_interrupt(left):
        rep = verify(args.run_dir, args.timeout, on_check=on_check)
    if args.json:
        print_json(rep.to_dict())
    else:
        if not rep.checks:
            print("nothing to verify: no circuit.npz, circuit.abc.npz or artifacts (run gatelearn export or "
                  "gatelearn compile)")
        print(rep.summary())
        sys.stdout.flush()
    return 0 if rep.ok else 1
