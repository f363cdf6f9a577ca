"""gatelearn inspect RUN_DIR|CIRCUIT.npz [--json]: gates per kind, per layer, depth, before and
after gatelearn's passes."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..circuit.ir import Circuit
from ..circuit.passes import optimize
from ..circuit.report import describe, format_report


def load_any(path: str) -> Circuit:
    """A run directory gives its lowered model (the circuit before any pass); a file is read as is."""
    p = Path(path)
    if p.is_dir():
        from .. import runs
        return runs.model_circuit(p)
    return Circuit.load(p)


def run(args: argparse.Namespace) -> int:
    before = load_any(args.path)
    after, log = optimize(before)
    rep = {"before": describe(before), "after": describe(after), "passes": log}
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(format_report(rep["before"], rep["after"], log))
    return 0


def register(sub) -> None:
    p = sub.add_parser("inspect", help="report a circuit: gates per kind and layer, depth, before/after passes",
                       description=__doc__)
    p.add_argument("path", help="a run directory (its model is lowered) or a circuit .npz")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)
