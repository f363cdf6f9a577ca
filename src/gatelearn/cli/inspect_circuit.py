"""gatelearn inspect RUN_DIR|CIRCUIT.npz [--json]: gates per kind, per layer, depth, before and
after gatelearn's passes. On a run directory it ends with the run's summary table: accuracy,
gates learned and after passes, depth, and the compiled C's speed on one thread (--no-bench
skips that)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import progress
from ..circuit.ir import Circuit
from ..circuit.passes import optimize
from ..circuit.report import describe, format_report
from ._output import add_json_flag, on_interrupt, show


def load_any(path: str) -> Circuit:
    """A run directory gives its lowered model (the circuit before any pass); a file is read as is."""
    p = Path(path)
    if p.is_dir():
        from .. import runs
        with progress.step("lowering the trained model"):
            return runs.model_circuit(p)
    return Circuit.load(p)


def run(args: argparse.Namespace) -> int:
    with on_interrupt("inspect writes nothing, so nothing was changed"):
        rep = _inspect(args)
    show(args, rep, lambda: _table(rep))
    return 0


def _inspect(args: argparse.Namespace) -> dict:
    before = load_any(args.path)
    with progress.step(f"running gatelearn's passes on {before.num_gates:,} gates"):
        after, log = optimize(before)
    rep = {"before": describe(before), "after": describe(after), "passes": log}
    if Path(args.path).is_dir():
        rep["summary"] = _run_summary(Path(args.path), before, after, bench=not args.no_bench)
    return rep


def _run_summary(run: Path, before: Circuit, after: Circuit, bench: bool) -> dict:
    """The figures of report's summary table that inspect has at hand (no ABC, no LUTs)."""
    from ..errors import ToolError
    from ..flows.bench import quick_throughput
    from ..flows.report import training_accuracy
    out = {"run": str(run), "accuracy": training_accuracy(run), "model_gates": before.num_gates,
           "gates_after_passes": after.num_gates, "depth": after.depth()}
    if bench and after.head is not None:
        try:
            out["samples_per_s_1thread"] = round(quick_throughput(after))
        except ToolError as exc:      # no C compiler: the rest of the summary still stands
            out["throughput_note"] = f"no throughput: {str(exc).splitlines()[0]}"
    return out


def _table(rep: dict) -> str:
    text = format_report(rep["before"], rep["after"], rep["passes"])
    if "summary" in rep:
        from .report import summary_table
        text += "\n\n" + summary_table(rep["summary"], verify_row=False)
    return text


def register(sub) -> None:
    p = sub.add_parser("inspect", help="report a circuit: gates per kind and layer, depth, before/after passes",
                       description=__doc__)
    p.add_argument("path", help="a run directory (its model is lowered) or a circuit .npz")
    add_json_flag(p)
    p.add_argument("--no-bench", action="store_true",
                   help="on a run directory: skip the throughput measurement (compiling to C and timing briefly)")
    p.set_defaults(func=run)
