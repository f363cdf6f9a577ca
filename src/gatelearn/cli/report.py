"""``gatelearn report RUN_DIR``: one table of what a run's best circuit is and costs: accuracy,
gates (learned, after passes, after ABC), depth, ABC AND nodes, 6-LUTs, latency, and the compiled
C's speed on one thread. ``--json``: the same figures as JSON."""
from __future__ import annotations

from ._args import positive_float
from ._output import add_json_flag, key_value_table, on_interrupt, percent, show


def register(sub) -> None:
    p = sub.add_parser("report",
                       help="accuracy, gates, depth, ABC AND count, 6-LUTs (ABC, yosys), latency, C throughput",
                       description=__doc__)
    p.add_argument("run_dir")
    add_json_flag(p)
    p.add_argument("--no-luts", action="store_true", help="skip the LUT mapping")
    p.add_argument("--network-luts-only", action="store_true",
                   help="map only the gate network (ABC), not encoder + popcount + argmax (yosys)")
    p.add_argument("--no-bench", action="store_true",
                   help="skip the throughput measurement (compiling the circuit to C and timing it briefly)")
    p.add_argument("--timeout", type=positive_float, default=900.0, help="seconds per tool call")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..flows.report import report
    with on_interrupt("report writes nothing, so nothing was changed"):
        r = report(args.run_dir, luts=not args.no_luts, full_luts=not args.network_luts_only,
                   timeout=args.timeout, throughput=not args.no_bench)
    show(args, r, lambda: summary_table(r))
    return 0


def summary_table(r: dict, verify_row: bool = True) -> str:
    """The one table ``report`` (and ``inspect`` on a run directory) ends with; a figure the
    command did not compute leaves its row out. ``verify_row``: say whether verify.json holds a
    pass (report), or leave that out (inspect, which does not look)."""
    acc = r.get("accuracy") or {}
    accuracy = percent(acc.get("hard_accuracy"))
    if accuracy is not None and acc.get("relaxed_accuracy") is not None:
        accuracy += f" (relaxed {percent(acc['relaxed_accuracy'])})"
    if accuracy is not None and acc.get("published_accuracy_percent") is not None:
        accuracy += f"; the paper reports {acc['published_accuracy_percent']}%"
    speed = r.get("samples_per_s_1thread")
    rows = [
        ("run", r.get("run")),
        ("accuracy (hard, test set)", accuracy or "- (no summary.json: not trained by gatelearn train)"),
        ("gates learned (lowered model)", r.get("model_gates")),
        ("gates after passes", r.get("gates_after_passes")),
        ("gates after ABC", r.get("gates") if r.get("circuit") == "circuit.abc.npz" else None),
        ("circuit reported", r.get("circuit")),
        ("logic depth", r.get("depth")),
        ("ABC AND nodes", _with(r, "abc_ands", "abc_levels", "{} levels")),
        ("6-LUTs, gate network (ABC)", _with(r, "luts_network", "lut_depth_network", "LUT depth {}")),
        ("6-LUTs, encoder + head (yosys)", r.get("luts_encoder_head")),
        ("6-LUTs, whole design", _with(r, "luts_full", "lut_depth_full", "LUT depth {}")),
        ("LUT note", r.get("luts_full_note")),
        ("pipeline latency (cycles)", r.get("pipeline_latency") or None),
        ("throughput (C, 1 thread)", f"{speed:,} samples/s" if speed is not None else r.get("throughput_note")),
        ("verified (gatelearn verify)", (r["verified"] if "verified" in r else "not run") if verify_row else None),
        ("for comparison", r.get("reference")),
    ]
    return key_value_table(rows)


def _with(r: dict, key: str, second: str, how: str) -> str | None:
    """'13,109 (LUT depth 4)': the figure ``key`` and, formatted by ``how``, the one that goes
    with it; None (no row) without the first."""
    if r.get(key) is None:
        return None
    return f"{r[key]:,} ({how.format(r[second])})" if r.get(second) is not None else f"{r[key]:,}"
