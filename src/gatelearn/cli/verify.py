"""``gatelearn verify RUN_DIR``: prove circuits and artifacts equivalent to the trained model."""
from __future__ import annotations

import json

from ._args import positive_float
from ._lock import writes_run_dir


def register(sub) -> None:
    p = sub.add_parser("verify", help="prove every circuit and artifact of a run equivalent to the trained model",
                       description="Formal equivalence (ABC cec; yosys turns Verilog into gates) of "
                                   "circuit.npz, circuit.abc.npz and the Verilog, AIGER and BLIF artifacts "
                                   "against the circuit lowered from model.safetensors; the C library "
                                   "(artifacts/c) and NumPy module (artifacts/numpy) are compiled / imported and "
                                   "tested (exhaustively over every input region when few enough, else on corner "
                                   "cases and random inputs), which is reported as tested, not proven. The last "
                                   "line says what was proven, what tested and what not checked. Exit code 0 "
                                   "only when every check passed; the failing item is named. Results also go to "
                                   "RUN_DIR/verify.json.")
    p.add_argument("run_dir")
    p.add_argument("--timeout", type=positive_float, default=600.0, help="seconds per tool call")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=writes_run_dir(run))   # verify.json


def run(args) -> int:
    from ..flows.verify import verify
    rep = verify(args.run_dir, args.timeout)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=2))
    else:
        for c in rep.checks:
            print(f"{c.status.upper():9s} {c.item}: {c.what} ({c.seconds:.1f} s)")
            if c.detail:
                print(f"          {c.detail}")
        if not rep.checks:
            print("nothing to verify: no circuit.npz, circuit.abc.npz or artifacts (run gatelearn export or "
                  "gatelearn compile)")
        print(rep.summary())
    return 0 if rep.ok else 1
