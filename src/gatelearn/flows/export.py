"""``gatelearn export``: a circuit as Verilog, AIGER and BLIF, listed in a manifest.

What it exports (SOURCE):

* a run directory (a trained run, or a folder made by ``gatelearn import``): its best circuit
  (:func:`gatelearn.runs.load_any_circuit`), into SOURCE/artifacts;
* a circuit file (``.npz``, ``.aig``, ``.aag``, ``.blif``, read by the same function): into the
  folder ``out`` (``--out DIR``), manifest.json beside the artifacts.

A circuit with a GroupSum head (a trained classifier) becomes the classifier's Verilog,
combinational and pipelined on request, each with a self-checking testbench; one without (an
imported circuit) becomes a plain module with one port per input and output under the circuit's
own names (:class:`gatelearn.backends.verilog.NetSpec`), combinational and pipelined on request,
listed as kind ``verilog_netlist``. The golden-vector testbenches are the classifier's: a plain
module gets none. AIGER and BLIF hold the gate network, with the circuit's port names.

Everything is made in memory first and written only when all of it could be made, so a bad
name, option or golden vector leaves the artifacts and their manifest as they were."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import progress, runs
from ..backends import emit
from ..backends.base import check_name
from ..backends.verilog import module_name
from ..circuit.ir import Circuit
from ..errors import FileFormatError, InputError
from ..fileio import exclusive_lock
from ..verification.testbench import emit_testbench, random_features
from .manifest import FORMATS, NET_AIG, NET_BLIF, VERILOG_NETLIST, load_manifest_at, source_name, write_manifest_at

__all__ = ["export", "MAX_VECTORS", "CIRCUIT_SUFFIXES"]

MAX_VECTORS = 1_000_000      # golden vectors a testbench reads ($readmemh files, simulator memory)
CIRCUIT_SUFFIXES = (".npz", *runs.SOURCE_FORMATS)     # the circuit files export takes besides folders


def export(source, formats=FORMATS, pipeline: int = 0, name: str | None = None,
           vectors: int = 256, x: np.ndarray | None = None, seed: int = 0,
           frac_bits: int | None = None, written: list[Path] | None = None, out=None) -> dict:
    """Write the artifacts of ``source`` (a run directory, or a circuit file with ``out`` the
    folder for them; see the module docstring); returns the manifest.

    ``name``: the Verilog module (default: the circuit's name made an identifier,
    :func:`gatelearn.backends.verilog.module_name`, else gatelearn_model). A classifier's Verilog
    comes with a self-checking testbench NAME_tb.v whose golden vectors (``x`` if given, else
    ``vectors`` random feature vectors the hardware represents exactly) come from the software
    simulator. ``frac_bits``: at most this many fractional bits per feature in the classifier's
    input format (default: as many as make it exact; see
    :func:`gatelearn.backends.verilog.input_format`). ``written``: a list each file is appended
    to once it is in place (what a Ctrl-C left, for the caller to say).
    """
    bad = set(formats) - set(FORMATS)
    if bad:
        raise InputError(f"unknown export format(s) {sorted(bad)}; choose from {', '.join(FORMATS)}")
    if isinstance(pipeline, bool) or not isinstance(pipeline, (int, np.integer)) or pipeline < 0:
        raise InputError(f"--pipeline must be an integer >= 0, got {pipeline}")
    pipelines = sorted({0, int(pipeline)})
    if "verilog" in formats:
        if name is not None:
            # an explicit name before the circuit is read (lowering a model takes seconds)
            _check_tops(name, pipelines, testbench=False)
        if x is None and (isinstance(vectors, bool) or not isinstance(vectors, (int, np.integer))
                          or not 1 <= vectors <= MAX_VECTORS):
            raise InputError(f"--vectors must be an integer in 1..{MAX_VECTORS:,} (golden vectors of the testbench), "
                             f"got {vectors}")
    src, art = _where(source, out)
    _entries(art)          # a malformed manifest is bad input: said before anything is made
    with progress.step(f"reading the circuit of {src}"):
        circuit, _ = runs.load_any_circuit(src)
    name = name if name is not None else module_name(circuit)
    if "verilog" in formats:
        _check_tops(name, pipelines, testbench=circuit.head is not None)
        if circuit.head is None and x is not None:
            raise InputError(f"golden vectors (--dataset) make a classifier's testbench; {src} holds a circuit without "
                             "a GroupSum head, whose Verilog gets no testbench")
    base = {"gates": circuit.num_gates, "depth": circuit.depth(),
            "source": source_name(src, circuit) if src.is_dir() else str(src)}
    made, new = _make(circuit, formats, pipelines, name, vectors, x, seed, frac_bits, base)
    if src.is_dir():
        return _write(art, made, new, written)
    # a circuit file's folder is not a run directory: export takes its lock itself (which
    # creates the folder), and reads the manifest again under it, in case another export wrote it
    with exclusive_lock(art, error=InputError):
        return _write(art, made, new, written)


def _where(source, out) -> tuple[Path, Path]:
    """The source as a path and the artifact folder; an InputError / FileFormatError naming what
    is wrong with them."""
    src = Path(source)
    if src.is_dir():
        if out is not None:
            raise InputError(f"--out is for a circuit file; the artifacts of the folder {src} go to "
                             f"{src / runs.ARTIFACTS_DIR}")
        return src, src / runs.ARTIFACTS_DIR
    if not src.exists():
        raise FileFormatError(f"{src} does not exist (expected a run directory, or a circuit file: "
                              f"{', '.join(CIRCUIT_SUFFIXES)})")
    if src.suffix.lower() not in CIRCUIT_SUFFIXES:
        raise InputError(f"{src}: not a run directory or a circuit file (expected {', '.join(CIRCUIT_SUFFIXES)})")
    if out is None:
        raise InputError(f"{src} is a circuit file: give --out DIR, the folder for its artifacts")
    art = Path(out)
    if art.exists() and not art.is_dir():
        raise InputError(f"--out {art} is a file; give a folder for the artifacts")
    return src, art


def _check_tops(name: str, pipelines: list[int], testbench: bool) -> None:
    """Every module (and testbench) name the Verilog will have, before anything is made."""
    for p in pipelines:
        top = _top(name, p)
        check_name(top, "verilog")
        if testbench:
            check_name(f"{top}_tb", "verilog")


def _top(name: str, pipeline: int) -> str:
    return name if pipeline == 0 else f"{name}_pipe{pipeline}"


def _entries(art: Path) -> dict[str, dict]:
    """The entries the folder's manifest lists, by file."""
    return {e["file"]: e for e in load_manifest_at(art)["artifacts"] if isinstance(e, dict) and "file" in e}


def _make(circuit: Circuit, formats, pipelines: list[int], name: str, vectors: int, x, seed: int, frac_bits,
          base: dict) -> tuple[list, dict[str, dict]]:
    """Every artifact in memory, and the manifest entries for them."""
    made, entries = [], {}
    # AIGER and BLIF hold the gate network only (the head and the encoder are not part of them)
    if "aiger" in formats:
        with progress.step(f"writing the gate network as AIGER ({circuit.num_gates:,} gates)"):
            made.append(emit(circuit, "aiger", NET_AIG.removesuffix(".aig")))
        entries[NET_AIG] = {"file": NET_AIG, "kind": "aiger", **base}
    if "blif" in formats:
        with progress.step(f"writing the gate network as BLIF ({circuit.num_gates:,} gates)"):
            made.append(emit(circuit, "blif", NET_BLIF.removesuffix(".blif")))
        entries[NET_BLIF] = {"file": NET_BLIF, "kind": "blif", **base}
    if "verilog" not in formats:
        return made, entries
    for p in pipelines:
        top = _top(name, p)
        with progress.step(f"writing Verilog {top}"):
            design = emit(circuit, "verilog", top, pipeline=p, frac_bits=frac_bits)
        spec = design.info["spec"]
        made.append(design)
        if circuit.head is None:
            entries[f"{top}.v"] = {"file": f"{top}.v", "kind": VERILOG_NETLIST, "top": top, "spec": spec.to_dict(),
                                   **base}
            continue
        xs = random_features(circuit, spec, int(vectors), seed) if x is None else np.asarray(x)
        with progress.step(f"computing {len(xs):,} golden vectors for the testbench {top}_tb"):
            bench = emit_testbench(circuit, spec, xs)
        made.append(bench)
        entries[f"{top}.v"] = {"file": f"{top}.v", "kind": "verilog", "top": top, "net": f"{top}_net",
                               "spec": spec.to_dict(), **base}
        entries[f"{top}_tb.v"] = {"file": f"{top}_tb.v", "kind": "testbench", "top": bench.info["top"],
                                  "design": f"{top}.v", "vectors": int(len(xs))}
    return made, entries


def _write(art: Path, made: list, new: dict[str, dict], written: list[Path] | None) -> dict:
    """Write the artifacts into ``art``, then its manifest: the entries it listed, updated by
    ``new``."""
    entries = _entries(art)
    entries.update(new)
    art.mkdir(parents=True, exist_ok=True)
    for artifact in made:
        paths = artifact.write(art)
        if written is not None:
            written += list(paths.values())
    return write_manifest_at(art, list(entries.values()))
