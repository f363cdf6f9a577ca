"""``gatelearn report RUN_DIR``: one table of what a run's best circuit is and costs: accuracy,
gates (learned, after passes, after ABC), depth, ABC AND nodes, 6-LUTs, latency, and the compiled
C's speed on one thread. ``--json``: the same figures as JSON.

``--fpga DEVICE`` (ice40-hx8k, ...) adds the run's exported pipelined Verilog synthesised, placed
and routed on that iCE40 with yosys and nextpnr: LUT4s, logic cells, whether it fits, fmax. A design
that does not fit still gets its table (or JSON), then one error line with the numbers, exit code 1."""
from __future__ import annotations

from ..errors import InputError, ToolError
from ..progress import format_seconds
from ..tools.ice40 import DEVICES
from ._args import positive_float, positive_int
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
    p.add_argument("--fpga", choices=list(DEVICES), default=None, metavar="DEVICE",
                   help="also place and route the exported pipelined Verilog on this iCE40 (yosys synth_ice40, "
                        f"nextpnr-ice40; needs `gatelearn export RUN_DIR --pipeline N`): {', '.join(DEVICES)}")
    p.add_argument("--pipeline", type=positive_int, default=None, metavar="N",
                   help="with --fpga: the exported pipelined top to use (default: the smallest N exported)")
    p.add_argument("--timeout", type=positive_float, default=900.0, help="seconds per tool call")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..flows.report import report
    if args.pipeline is not None and args.fpga is None:
        raise InputError("--pipeline picks the top that --fpga places; give --fpga DEVICE too")
    with on_interrupt("report writes nothing, so nothing was changed"):
        r = report(args.run_dir, luts=not args.no_luts, full_luts=not args.network_luts_only,
                   timeout=args.timeout, throughput=not args.no_bench, fpga=args.fpga, fpga_pipeline=args.pipeline)
    show(args, r, lambda: summary_table(r))
    fpga = r.get("fpga")
    if fpga is not None and not fpga["fits"]:
        # the figures above stand; the exit code tells a script that the design does not fit
        raise ToolError(f"{fpga['top']} does not fit {fpga['device']}: {fpga['not_fitted']}")
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
    if r.get("fpga"):
        rows += fpga_rows(r["fpga"])
    return key_value_table(rows)


def fpga_rows(f: dict) -> list[tuple[str, object]]:
    """The table rows of ``report --fpga`` (:func:`gatelearn.flows.report.fpga_report`)."""
    cells = f.get("logic_cells")
    where = "after placement" if f.get("placed_and_routed") else "after packing, not placed"
    timing = None
    if f.get("fmax_mhz") is not None:
        timing = f"{f['fmax_mhz']:.1f} MHz (register to register)"
        if f.get("input_to_register_ns") is not None:
            timing += f"; input pin to register {f['input_to_register_ns']:.2f} ns"
        if f.get("register_to_output_ns") is not None:
            timing += f", register to output pin {f['register_to_output_ns']:.2f} ns"
    icetime = (f"{f['icetime_fmax_mhz']:.1f} MHz (interior paths)" if f.get("icetime_fmax_mhz")
               else f.get("icetime_note"))
    # the image has the device's size whatever the design: what it shows is that the design packs
    bitstream = (f"packs into a {f['bitstream_bytes']:,}-byte image" if f.get("bitstream_bytes")
                 else f.get("bitstream_note"))
    steps = ", ".join(f"{k.replace('_', ' ')} {format_seconds(v)}" for k, v in f.get("seconds", {}).items()
                      if k != "total")
    return [
        ("FPGA", f"{f['device']} ({f['package']}: {f['device_lut4s']:,} LUT4s, {f['package_pins']} I/O pins)"),
        ("FPGA design", f"{f['file']} (--pipeline {f['pipeline']}, latency {f['latency_cycles']} cycles)"),
        ("LUT4s after synthesis", f"{f['lut4s_synthesis']:,} ({f['flip_flops_synthesis']:,} flip-flops, "
                                  f"{f['carries_synthesis']:,} carry cells)"),
        ("logic cells", f"{cells:,} of {f['device_lut4s']:,} ({where})" if cells is not None else None),
        ("I/O pins", f"{f['io_bits']:,} of {f['package_pins']}"),
        ("fits", "yes" if f["fits"] else f"no: {f['not_fitted']}"),
        ("fmax (nextpnr)", timing),
        ("fmax (icetime)", icetime if f.get("placed_and_routed") else None),
        ("bitstream (icepack)", bitstream),
        ("FPGA flow time", f"{format_seconds(f['seconds']['total'])} ({steps})" if f.get("seconds") else None),
        ("FPGA tools", ", ".join(f.get("tools", {}).values()) or None),
    ]


def _with(r: dict, key: str, second: str, how: str) -> str | None:
    """'13,109 (LUT depth 4)': the figure ``key`` and, formatted by ``how``, the one that goes
    with it; None (no row) without the first."""
    if r.get(key) is None:
        return None
    return f"{r[key]:,} ({how.format(r[second])})" if r.get(second) is not None else f"{r[key]:,}"
