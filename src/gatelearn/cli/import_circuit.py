"""``gatelearn import FILE OUT.npz``: an external combinational AIGER/BLIF file as an IR circuit,
which the simulation backends then evaluate (bit-parallel simulation of circuits gatelearn did not
train). Prints what it read (--json: as JSON)."""
from __future__ import annotations

from pathlib import Path

from .. import progress
from ._output import add_json_flag, key_value_table, on_interrupt, show


def register(sub) -> None:
    p = sub.add_parser("import", help="read a combinational AIGER (.aig/.aag) or BLIF file into a circuit .npz",
                       description=__doc__)
    p.add_argument("file")
    p.add_argument("out", help="circuit file to write (.npz)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..backends.aiger import read_aiger
    from ..backends.blif import read_blif
    from ..errors import InputError
    suffix = args.file.lower().rsplit(".", 1)[-1]
    if suffix in ("aig", "aag"):
        read = read_aiger
    elif suffix == "blif":
        read = read_blif
    else:
        raise InputError(f"{args.file}: unknown circuit format; expected .aig, .aag or .blif")
    # the one write is atomic (Circuit.save): OUT is either the old file or the whole new one
    with on_interrupt(f"{args.out} was not written"):
        with progress.step(f"reading {Path(args.file).name}"):
            c = read(args.file)
        c.save(args.out)
    rep = {"file": str(args.file), "out": str(args.out), "inputs": c.num_inputs, "gates": c.num_gates,
           "outputs": c.num_outputs, "depth": c.depth()}
    show(args, rep, lambda: key_value_table([("read", rep["file"]), ("inputs", rep["inputs"]),
                                             ("gates", rep["gates"]), ("outputs", rep["outputs"]),
                                             ("depth", rep["depth"]), ("written", rep["out"])]))
    return 0
