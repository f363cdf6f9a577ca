"""gatelearn bench RUN_DIR [--json]: compiled-C inference speed, end to end from raw inputs
(uint8, or float32) to class indices, on one core and on all cores."""
from __future__ import annotations

import argparse
import json
import os
import tempfile

from .. import runs
from ..backends.c import CProgram, throughput
from ..data.feature_files import read_features
from ._args import MAX_THREADS, int_in, positive_float, positive_int
from .compile import check_inputs


def run(args: argparse.Namespace) -> int:
    rd = runs.run_dir(args.run_dir)
    circuit = runs.best_circuit(rd)
    x = read_features(args.input) if args.input else check_inputs(circuit, args.samples, seed=1)
    old = os.environ.get("GATELEARN_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GATELEARN_CACHE"] = tmp       # a fresh build, so compile time is measured
        try:
            prog = CProgram(circuit)
        finally:
            if old is None:
                os.environ.pop("GATELEARN_CACHE", None)
            else:
                os.environ["GATELEARN_CACHE"] = old
        cores = args.threads or os.cpu_count() or 1
        one = throughput(prog, x, 1, args.seconds)
        allc = throughput(prog, x, cores, args.seconds)
    rep = {"run_dir": str(rd), "gates": circuit.num_gates, "inputs": int(x.shape[1]), "samples": int(len(x)),
           "input_dtype": str(prog.prepare(x[:1]).dtype), "samples_per_s_1core": round(one),
           "samples_per_s_all_cores": round(allc), "threads_all_cores": cores,
           "gate_evals_per_s_1core": float(f"{one * circuit.num_gates:.4g}"),
           "compile_seconds": round(prog.generate_seconds + prog.compile_seconds, 2),
           "generate_seconds": round(prog.generate_seconds, 2), "block_samples": prog.block_samples}
    if args.json:
        print(json.dumps(rep))
    else:
        for k, v in rep.items():
            print(f"{k:28s} {v}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("bench", help="measure compiled-C inference speed (samples/s)", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--input", help="raw inputs to time (.npy/.csv/IDX); default: random uint8")
    p.add_argument("--samples", type=positive_int, default=100_000, help="random inputs to time (default 100000)")
    p.add_argument("--seconds", type=positive_float, default=2.0, help="minimum timed seconds per measurement")
    p.add_argument("--threads", type=int_in(0, MAX_THREADS), default=0,
                   help="threads for the all-cores figure (default 0: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)
