"""``gatelearn export``: the run's best circuit as Verilog (combinational, and pipelined on
request, each with a self-checking testbench), AIGER and BLIF, listed in the manifest.

Everything is made in memory first and written only when all of it could be made, so a bad
name, option or golden vector leaves the run directory and its manifest as they were."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import progress, runs
from ..backends import emit
from ..backends.base import check_name
from ..errors import InputError
from ..verification.testbench import emit_testbench, random_features
from .manifest import FORMATS, NET_AIG, NET_BLIF, load_manifest, source_name, write_manifest

__all__ = ["export", "MAX_VECTORS"]

MAX_VECTORS = 1_000_000      # golden vectors a testbench reads ($readmemh files, simulator memory)


def export(run_dir, formats=FORMATS, pipeline: int = 0, name: str = "gatelearn_model",
           vectors: int = 256, x: np.ndarray | None = None, seed: int = 0,
           frac_bits: int | None = None, written: list[Path] | None = None) -> dict:
    """Write artifacts for the run's best circuit into RUN_DIR/artifacts; returns the manifest.

    Verilog comes with a self-checking testbench NAME_tb.v whose golden vectors (``x`` if given,
    else ``vectors`` random feature vectors the hardware represents exactly) come from the
    software simulator. ``frac_bits``: at most this many fractional bits per feature in the
    Verilog's input format (default: as many as make it exact; see
    :func:`gatelearn.backends.verilog.input_format`). ``written``: a list each file is appended
    to once it is in place (what a Ctrl-C left, for the caller to say).
    """
    run = runs.run_dir(run_dir)
    bad = set(formats) - set(FORMATS)
    if bad:
        raise InputError(f"unknown export format(s) {sorted(bad)}; choose from {', '.join(FORMATS)}")
    if isinstance(pipeline, bool) or not isinstance(pipeline, (int, np.integer)) or pipeline < 0:
        raise InputError(f"--pipeline must be an integer >= 0, got {pipeline}")
    tops = [name if p == 0 else f"{name}_pipe{p}" for p in sorted({0, int(pipeline)})]
    if "verilog" in formats:
        # every module and file name, before anything is made (or written)
        for top in tops:
            check_name(top, "verilog")
            check_name(f"{top}_tb", "verilog")
        if x is None and (isinstance(vectors, bool) or not isinstance(vectors, (int, np.integer))
                          or not 1 <= vectors <= MAX_VECTORS):
            raise InputError(f"--vectors must be an integer in 1..{MAX_VECTORS:,} (golden vectors of the testbench), "
                             f"got {vectors}")
    with progress.step("reading the run's best circuit"):
        circuit = runs.best_circuit(run)
    entries = {e["file"]: e for e in load_manifest(run)["artifacts"] if isinstance(e, dict) and "file" in e}
    base = {"gates": circuit.num_gates, "depth": circuit.depth(), "source": source_name(run, circuit)}
    made = []
    # AIGER and BLIF hold the gate network only (the head and the encoder are not part of them)
    if "aiger" in formats:
        with progress.step(f"writing the gate network as AIGER ({circuit.num_gates:,} gates)"):
            made.append(emit(circuit, "aiger", NET_AIG.removesuffix(".aig")))
        entries[NET_AIG] = {"file": NET_AIG, "kind": "aiger", **base}
    if "blif" in formats:
        with progress.step(f"writing the gate network as BLIF ({circuit.num_gates:,} gates)"):
            made.append(emit(circuit, "blif", NET_BLIF.removesuffix(".blif")))
        entries[NET_BLIF] = {"file": NET_BLIF, "kind": "blif", **base}
    if "verilog" in formats:
        for p, top in zip(sorted({0, int(pipeline)}), tops):
            with progress.step(f"writing Verilog {top}"):
                design = emit(circuit, "verilog", top, pipeline=p, frac_bits=frac_bits)
            spec = design.info["spec"]
            xs = random_features(circuit, spec, int(vectors), seed) if x is None else np.asarray(x)
            with progress.step(f"computing {len(xs):,} golden vectors for the testbench {top}_tb"):
                bench = emit_testbench(circuit, spec, xs)
            made += [design, bench]
            entries[f"{top}.v"] = {"file": f"{top}.v", "kind": "verilog", "top": top, "net": f"{top}_net",
                                   "spec": spec.to_dict(), **base}
            entries[f"{top}_tb.v"] = {"file": f"{top}_tb.v", "kind": "testbench", "top": bench.info["top"],
                                      "design": f"{top}.v", "vectors": int(len(xs))}
    art = run / runs.ARTIFACTS_DIR
    art.mkdir(exist_ok=True)
    for artifact in made:
        paths = artifact.write(art)
        if written is not None:
            written += list(paths.values())
    return write_manifest(run, list(entries.values()))
