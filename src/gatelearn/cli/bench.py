"""gatelearn bench PATH [--json]: compiled-C inference speed, end to end from raw inputs
(uint8, or float32) to class indices, on one core and on all cores. PATH is a run directory, or
any circuit: a folder made by ``gatelearn import``, a circuit .npz, an .aig / .aag / .blif file.
A plain circuit (no class head) is timed in vectors per second from random input bits (or the
0/1 rows of --input) to all of its output bits."""
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
    if "vectors" in r:      # a plain circuit: input bits in, every output bit out
        what, inputs, unit = "circuit", f"{r['vectors']:,} vectors x {r['inputs']:,} input bits", "vectors/s"
        unit_all = f"{unit} (all {r['outputs']:,} outputs)"
        per = r["vectors_per_s_1core"], r["vectors_per_s_all_cores"]
    else:
        what = "run directory" if "run_dir" in r else "circuit"
        inputs, unit = f"{r['samples']:,} samples x {r['inputs']:,} features", "samples/s"
        unit_all = unit
        per = r["samples_per_s_1core"], r["samples_per_s_all_cores"]
    return key_value_table([
        (what, r.get("run_dir", r.get("circuit"))),
        ("gates", r["gates"]),
        ("inputs", f"{inputs} ({r['input_dtype']})"),
        (f"{unit_all}, 1 thread", per[0]),
        (f"{unit}, {r['threads_all_cores']} threads", per[1]),
        ("gate evaluations/s, 1 thread", f"{r['gate_evals_per_s_1core']:.3g}"),
        ("compile", f"{r['compile_seconds']:.2f} s (generating the C: {r['generate_seconds']:.2f} s)"),
        ("vectors per block" if "vectors" in r else "samples per block", r["block_samples"]),
    ])


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure compiled-C inference speed (samples/s; vectors/s for a plain circuit)",
                       description=__doc__)
    p.add_argument("run_dir", metavar="path", help="a run directory, a folder made by gatelearn import, a circuit "
                                                   ".npz, or an .aig / .aag / .blif file")
    p.add_argument("--input", help="raw inputs to time (.npy/.csv/IDX; for a plain circuit rows of 0/1 input bits); "
                                   "default: random uint8 (random bits)")
    p.add_argument("--samples", type=positive_int, default=100_000, help="random inputs to time (default 100000)")
    p.add_argument("--seconds", type=positive_float, default=2.0, help="minimum timed seconds per measurement")
    p.add_argument("--threads", type=int_in(0, MAX_THREADS), default=0,
                   help="threads for the all-cores figure (default 0: all)")
    add_json_flag(p)
    p.set_defaults(func=run)
