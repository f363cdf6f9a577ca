"""``gatelearn report RUN_DIR``: hardware figures of a run's best circuit."""
from __future__ import annotations

import json

from ._args import positive_float


def register(sub) -> None:
    p = sub.add_parser("report",
                       help="gates, depth, ABC AND count, 6-LUTs and LUT depth (ABC, yosys), latency, accuracy")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-luts", action="store_true", help="skip the LUT mapping")
    p.add_argument("--network-luts-only", action="store_true",
                   help="map only the gate network (ABC), not encoder + popcount + argmax (yosys)")
    p.add_argument("--timeout", type=positive_float, default=900.0, help="seconds per tool call")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..flows.report import report
    r = report(args.run_dir, luts=not args.no_luts, full_luts=not args.network_luts_only,
                        timeout=args.timeout)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    rows = [("circuit", r["circuit"]), ("gates", r["gates"]), ("gates of the lowered model", r.get("model_gates")),
            ("logic depth", r["depth"]), ("ABC AND nodes", r["abc_ands"]), ("ABC levels", r["abc_levels"]),
            ("6-LUTs, gate network (ABC if)", r.get("luts_network")),
            ("LUT depth, gate network", r.get("lut_depth_network")),
            ("6-LUTs, encoder + head (yosys)", r.get("luts_encoder_head")),
            ("6-LUTs, whole design", r.get("luts_full")), ("LUT depth, whole design", r.get("lut_depth_full")),
            ("pipeline latency (cycles)", ", ".join(f"{k}: {v}" for k, v in r["pipeline_latency"].items()) or None),
            ("accuracy", ", ".join(f"{k} {v:.4f}" for k, v in r["accuracy"].items()) or None),
            ("verified", r.get("verified")), ("for comparison", r.get("reference"))]
    for k, v in rows:
        if v is not None:
            print(f"{k:30s} {v}")
    return 0
