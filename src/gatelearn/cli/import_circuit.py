"""``gatelearn import FILE OUT``: an external combinational AIGER/BLIF file as an IR circuit, which
every command then takes (inspect, optimize, verify, bench, predict, export).

OUT is either a circuit file (``.npz``), or a folder (any other name), which becomes a run folder of
the circuit: ``circuit.npz``, a byte copy of FILE (``source.aig``, ``source.aag`` or
``source.blif``) and ``import.json`` naming the copy, its format and its SHA-256, so that
``gatelearn verify OUT`` proves with ABC that the circuit (and whatever optimize and export write
there later) computes exactly what FILE does. The folder must be new or empty. Prints what it read
(--json: as JSON)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import progress
from ._output import add_json_flag, key_value_table, on_interrupt, show


def register(sub) -> None:
    p = sub.add_parser("import", help="read a combinational AIGER (.aig/.aag) or BLIF file into a circuit "
                                      "(.npz) or a run folder of it",
                       description=__doc__)
    p.add_argument("file")
    p.add_argument("out", help="circuit file to write (.npz), or a new or empty folder to make a run folder of the "
                               "circuit in (circuit.npz, a copy of FILE, import.json)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from .. import runs
    from ..errors import InputError
    from ..fileio import LOCK_FILE
    src, out = Path(args.file), Path(args.out)
    fmt = runs.source_format(src)
    to_folder = out.suffix.lower() != ".npz"
    if to_folder and out.suffix.lower() in runs.SOURCE_FORMATS:
        # almost surely a conversion the user expected; a folder named like a circuit file is a trap
        raise InputError(f"{out}: OUT is a circuit file (.npz) or a folder; import does not write {out.suffix} "
                         f"files (gatelearn export writes AIGER and BLIF)")
    # the lock file alone is what an import interrupted before its first write leaves: still empty
    if to_folder and out.exists() and (not out.is_dir() or any(f.name != LOCK_FILE for f in out.iterdir())):
        what = "a file" if not out.is_dir() else "a folder that is not empty"
        raise InputError(f"{out} is {what}; import into a new or empty folder (or give OUT.npz for a circuit file)")
    with progress.step(f"reading {src.name}"):
        c = runs.read_source(src)
    # the absolute path: a relative one would mean another file once the command runs elsewhere
    c.meta[runs.IMPORTED_META] = {"file": str(src.resolve()), "format": fmt}
    if to_folder:
        copy = f"source{src.suffix.lower()}"
        written = [out / copy, out / runs.CIRCUIT_FILE, out / runs.IMPORT_FILE]
        # the copy is read after the parse: verify proves circuit.npz against this copy, so a file
        # changed in between shows there as a failed proof, never as a silent mismatch
        data = src.read_bytes()
        with on_interrupt(lambda: _left(written)):
            out.mkdir(parents=True, exist_ok=True)
            with runs.lock(out):
                _write_folder(out, copy, data, fmt, src, c)
    else:
        # the one write is atomic (Circuit.save): OUT is either the old file or the whole new one
        with on_interrupt(f"{out} was not written"):
            c.save(out)
    rep = {"file": str(src), "out": str(out), "format": fmt, "folder": to_folder, "inputs": c.num_inputs,
           "gates": c.num_gates, "outputs": c.num_outputs, "depth": c.depth()}
    show(args, rep, lambda: key_value_table([
        ("read", rep["file"]), ("format", fmt), ("inputs", rep["inputs"]), ("gates", rep["gates"]),
        ("outputs", rep["outputs"]), ("depth", rep["depth"]),
        ("written", [f"{out}/ (run folder: {runs.CIRCUIT_FILE}, {copy}, {runs.IMPORT_FILE})"] if to_folder
         else rep["out"])]))
    return 0


def _write_folder(out: Path, copy: str, data: bytes, fmt: str, src: Path, c) -> None:
    """The copy and circuit.npz first, import.json last: a folder with import.json is complete
    (a Ctrl-C before it leaves files that the next import refuses to overwrite, and says so)."""
    from .. import runs
    from ..fileio import atomic_write_bytes, atomic_write_text
    atomic_write_bytes(out / copy, data)
    c.save(out / runs.CIRCUIT_FILE)
    info = {"format": runs.IMPORT_FORMAT, "version": runs.IMPORT_VERSION, "file": copy, "source_format": fmt,
            "sha256": hashlib.sha256(data).hexdigest(), "original": str(src.resolve()),
            "inputs": c.num_inputs, "outputs": c.num_outputs, "gates": c.num_gates}
    atomic_write_text(out / runs.IMPORT_FILE, json.dumps(info, indent=2) + "\n")


def _left(written: list[Path]) -> str:
    there = [p.name for p in written if p.exists()]
    if not there:
        return f"nothing was written into {written[0].parent}"
    if len(there) == len(written):
        return f"{written[0].parent} was already complete"
    return (f"{written[0].parent} holds only {', '.join(there)}, not a complete import; remove the folder and "
            f"import again")
