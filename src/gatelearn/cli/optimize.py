"""``gatelearn optimize RUN_DIR``: ABC on the gate network; keeps circuit.abc.npz if smaller."""
from __future__ import annotations

import json

from ._args import positive_float
from ._lock import writes_run_dir


def register(sub) -> None:
    p = sub.add_parser("optimize", help="optimise a run's gate network with ABC (writes circuit.abc.npz if smaller)",
                       description="Run ABC (strash + script, with gatelearn's abc.rc) on the gate network of "
                                   "RUN_DIR/circuit.npz (or the lowered model), read the result back, prove it "
                                   "equal with cec, and keep it as RUN_DIR/circuit.abc.npz when it has fewer gates. "
                                   "Encoder and GroupSum head are kept as they are.")
    p.add_argument("run_dir")
    p.add_argument("--script", default=None, help="ABC commands after strash (default: "
                                                  "'strash; dc2; resyn2; dc2; resyn2')")
    p.add_argument("--timeout", type=positive_float, default=600.0, help="seconds per ABC call")
    p.add_argument("--from-model", action="store_true",
                   help="start from the model as lowered, before gatelearn's passes (what ABC alone achieves)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=writes_run_dir(run))


def run(args) -> int:
    from ..flows.optimize import optimize
    r = optimize(args.run_dir, args.script, args.timeout, from_model=args.from_model)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2))
        return 0
    print(f"ABC script: {r.script}")
    print(f"AND nodes : {r.ands_naive} gate by gate, {r.ands_before} after strash -> {r.ands_after} after the script "
          f"({r.ands_naive / max(r.ands_after, 1):.2f}x / {r.ands_before / max(r.ands_after, 1):.2f}x)")
    print(f"AIG levels: {r.levels_before} -> {r.levels_after}")
    print(f"IR gates  : {r.gates_before} -> {r.gates_after}; depth {r.depth_before} -> {r.depth_after}")
    print(f"cec       : {'proven equivalent' if r.proven else 'NOT proven'}")
    print(f"kept      : {r.file if r.kept else 'no (not smaller or not proven); circuit.abc.npz unchanged'}")
    print(f"time      : {r.seconds:.1f} s")
    return 0
