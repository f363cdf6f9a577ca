"""gatelearn compile RUN_DIR --target c|numpy [--out DIR]: lower the trained model, run the
passes, write RUN_DIR/circuit.npz, emit the artifact (c: NAME.c, NAME.h, NAME_main.c and the built
library; numpy: the standalone module NAME.py with its tables NAME.npz, and circuit.npz) and check
it against the model."""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from .. import runs
from ..backends import TARGETS, compile_circuit, emit
from ..backends.base import check_name
from ..backends.common import num_features
from ..circuit.passes import optimize
from ..errors import GatelearnError
from ..verification.agreement import agree_with_model
from ._args import non_negative_int
from ._lock import writes_run_dir


def check_inputs(circuit, n: int, seed: int = 0) -> np.ndarray:
    """Random raw inputs for a quick agreement check: uint8 for threshold encoders (all values
    appear), category codes for one-hot columns."""
    rng = np.random.default_rng(seed)
    F = num_features(circuit)
    if circuit.encoder is None:
        return rng.integers(0, 2, (n, F)).astype(np.uint8)
    enc = circuit.encoder
    hi = np.full(F, 256.0)
    eq = enc.op == 1
    if eq.any():   # one-hot features: codes 0 .. max value seen (so every bit can be on)
        for f in np.unique(enc.feature[eq]):
            hi[f] = enc.value[(enc.feature == f) & eq].max() + 1
    return (rng.random((n, F)) * hi).astype(np.int64).astype(np.uint8 if (hi <= 256).all() else np.float32)


def run(args: argparse.Namespace) -> int:
    rd = runs.run_dir(args.run_dir)
    check_name(args.name, args.target)     # a bad name writes nothing, not even circuit.npz
    model = runs.load_model(rd)
    t0 = time.perf_counter()
    lowered = runs.model_circuit(rd)
    optimized, log = optimize(lowered)
    optimized.save(rd / runs.CIRCUIT_FILE)
    pass_seconds = time.perf_counter() - t0
    circuit = runs.best_circuit(rd)
    out = Path(args.out) if args.out else rd / runs.ARTIFACTS_DIR / args.target
    out.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    if args.target == "c":
        prog = compile_circuit(circuit, "c", name=args.name, portable=args.portable)
        paths = prog.source.write(out)
        shutil.copyfile(prog.path, out / prog.path.name)
        artifact = [str(p) for p in paths.values()] + [str(out / prog.path.name)]
    else:
        prog = compile_circuit(circuit, "numpy")
        paths = emit(circuit, "numpy", args.name).write(out)
        circuit.save(out / "circuit.npz")
        artifact = [str(out / "circuit.npz")] + [str(p) for p in paths.values()]
    build_seconds = time.perf_counter() - t1
    report = {"run_dir": str(rd), "target": args.target, "gates_lowered": lowered.num_gates,
              "gates_after_passes": optimized.num_gates, "gates_used": circuit.num_gates,
              "circuit": str(rd / runs.CIRCUIT_FILE), "artifact": artifact,
              "pass_seconds": round(pass_seconds, 3), "build_seconds": round(build_seconds, 3)}
    if args.check:
        x = check_inputs(circuit, args.check)
        report["check"] = agree_with_model(model, prog, x)
        if not report["check"]["agree"]:
            print(json.dumps(report, indent=2))
            raise GatelearnError(f"the compiled circuit disagrees with the model on {report['check']['mismatches']} "
                                 f"of {args.check} random inputs; please report this as a bug")
    print(json.dumps(report, indent=2))
    return 0


def register(sub) -> None:
    p = sub.add_parser("compile", help="optimize the trained network and emit C or a NumPy circuit",
                       description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--target", choices=TARGETS, default="c")
    p.add_argument("--out", help="artifact folder (default RUN_DIR/artifacts/TARGET)")
    p.add_argument("--name", default="gatelearn_net",
                   help="C identifier prefix of the API (target c), the module name (target numpy)")
    p.add_argument("--portable", action="store_true", help="build with 64-bit words, no SIMD (target c)")
    p.add_argument("--check", type=non_negative_int, default=512, metavar="N",
                   help="compare with model.eval() on N random inputs (0: skip; default 512)")
    p.set_defaults(func=writes_run_dir(run))
