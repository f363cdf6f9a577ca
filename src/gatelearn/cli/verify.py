"""``gatelearn verify RUN_DIR``: prove circuits and artifacts equivalent to the trained model."""
from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("verify", help="prove every circuit and artifact of a run equivalent to the trained model",
                       description="Formal equivalence (ABC cec; yosys turns Verilog into gates) of "
                                   "circuit.npz, circuit.abc.npz and artifacts/* against the circuit lowered "
                                   "from model.safetensors. Exit code 0 only when everything is proven; the "
                                   "failing item is named. Results also go to RUN_DIR/verify.json.")
    p.add_argument("run_dir")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per tool call")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


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
            print("nothing to verify: no circuit.npz, circuit.abc.npz or artifacts (run gatelearn export)")
        print("all proven equivalent to the trained model" if rep.ok else
              f"NOT verified: {', '.join(sorted({c.item for c in rep.failed}))}")
    return 0 if rep.ok else 1
