"""``gatelearn import FILE OUT.npz``: an external combinational AIGER/BLIF file as an IR circuit,
which the simulation backends then evaluate (bit-parallel simulation of circuits gatelearn did not
train)."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("import", help="read a combinational AIGER (.aig/.aag) or BLIF file into a circuit .npz")
    p.add_argument("file")
    p.add_argument("out", help="circuit file to write (.npz)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..backends.aiger import read_aiger
    from ..backends.blif import read_blif
    from ..errors import InputError
    suffix = args.file.lower().rsplit(".", 1)[-1]
    if suffix in ("aig", "aag"):
        c = read_aiger(args.file)
    elif suffix == "blif":
        c = read_blif(args.file)
    else:
        raise InputError(f"{args.file}: unknown circuit format; expected .aig, .aag or .blif")
    c.save(args.out)
    print(f"{args.file}: {c.num_inputs} inputs, {c.num_gates} gates, {c.num_outputs} outputs, depth {c.depth()} "
          f"-> {args.out}")
    return 0
