"""gatelearn bench RUN_DIR [--json]: compiled-C inference speed, end to end from raw inputs
(uint8, or float32) to class indices, on one core and on all cores."""
from __future__ import annotations

import argparse

from ..data.feature_files import read_features
from ..flows.bench import bench
from ._args import MAX_THREADS, int_in, positive_float, positive_int
from ._output import add_json_flag, key_value_table, on_interrupt, show


def run(args: argparse.Namespace) -> int:
    x = read_features(args.input) if args.input else None
    with on_interrupt("bench writes nothing, so nothing was changed"):
        rep = bench(args.run_dir, x, args.samples, args.seconds, args.threads)
    show(args, rep, lambda: _table(rep))
    return 0


def _table(r: dict) -> str:
    return key_value_table([
        ("run directory", r["run_dir"]),
        ("gates", r["gates"]),
        ("inputs", f"{r['samples']:,} samples x {r['inputs']:,} features ({r['input_dtype']})"),
        ("samples/s, 1 thread", r["samples_per_s_1core"]),
        (f"samples/s, {r['threads_all_cores']} threads", r["samples_per_s_all_cores"]),
        ("gate evaluations/s, 1 thread", f"{r['gate_evals_per_s_1core']:.3g}"),
        ("compile", f"{r['compile_seconds']:.2f} s (generating the C: {r['generate_seconds']:.2f} s)"),
        ("samples per block", r["block_samples"]),
    ])


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure compiled-C inference speed (samples/s)", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--input", help="raw inputs to time (.npy/.csv/IDX); default: random uint8")
    p.add_argument("--samples", type=positive_int, default=100_000, help="random inputs to time (default 100000)")
    p.add_argument("--seconds", type=positive_float, default=2.0, help="minimum timed seconds per measurement")
    p.add_argument("--threads", type=int_in(0, MAX_THREADS), default=0,
                   help="threads for the all-cores figure (default 0: all)")
    add_json_flag(p)
    p.set_defaults(func=run)
