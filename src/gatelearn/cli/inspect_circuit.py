"""gatelearn inspect PATH [--json]: gates per kind, per layer, depth, before and after
gatelearn's passes. PATH is a trained run directory (its lowered model), a folder made by
``gatelearn import`` (its circuit.npz), a circuit .npz, or an .aig / .aag / .blif file. On a
trained run it ends with the run's summary table: accuracy, gates learned and after passes, depth,
and the compiled C's speed on one thread (--no-bench skips that); on an imported circuit it names
the file it was imported from."""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import progress
from ..circuit.ir import Circuit
from ..circuit.passes import optimize
from ..circuit.report import describe, format_report
from ._output import add_json_flag, on_interrupt, show


def load_any(path: str) -> tuple[Circuit, Path | None]:
    """The circuit before any pass and the file it was imported from (or None): a trained run
    gives its lowered model, an import folder its circuit.npz as imported, a file (.npz, .aig,
    .aag, .blif) itself."""
    from .. import runs
    p = Path(path)
    if runs.is_trained_run(p):
        with progress.step("lowering the trained model"):
            return runs.model_circuit(p), None
    if p.is_dir():
        _, source = runs.load_any_circuit(p)    # checks the folder (import.json, circuit.npz) first
        return Circuit.load(p / runs.CIRCUIT_FILE), source
    return runs.load_any_circuit(p)


def run(args: argparse.Namespace) -> int:
    with on_interrupt("inspect writes nothing, so nothing was changed"):
        rep = _inspect(args)
    show(args, rep, lambda: _table(rep))
    return 0


def _inspect(args: argparse.Namespace) -> dict:
    from .. import runs
    before, source = load_any(args.path)
    with progress.step(f"running gatelearn's passes on {before.num_gates:,} gates"):
        after, log = optimize(before)
    rep = {"before": describe(before), "after": describe(after), "passes": log}
    if source is not None:
        rep["source"] = str(source)
    if runs.is_trained_run(args.path):
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
    if "source" in rep:
        text += f"\n\nimported from {rep['source']}"
    if "summary" in rep:
        from .report import summary_table
        text += "\n\n" + summary_table(rep["summary"], verify_row=False)
    return text


def register(sub) -> None:
    p = sub.add_parser("inspect", help="report a circuit: gates per kind and layer, depth, before/after passes",
                       description=__doc__)
    p.add_argument("path", help="a run directory (its model is lowered), a folder made by gatelearn import, a circuit "
                                ".npz, or an .aig / .aag / .blif file")
    add_json_flag(p)
    p.add_argument("--no-bench", action="store_true",
                   help="on a trained run directory: skip the throughput measurement (compiling to C and timing "
                        "briefly)")
    p.set_defaults(func=run)
