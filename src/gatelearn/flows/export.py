"""``gatelearn export``: the run's best circuit as Verilog (combinational, and pipelined on
request, each with a self-checking testbench), AIGER and BLIF, listed in the manifest."""
from __future__ import annotations

import numpy as np

from .. import runs
from ..backends import emit
from ..errors import InputError
from ..verification.testbench import emit_testbench
from .manifest import FORMATS, NET_AIG, NET_BLIF, load_manifest, source_name, write_manifest

__all__ = ["export"]


def export(run_dir, formats=FORMATS, pipeline: int = 0, name: str = "gatelearn_model",
           vectors: int = 256, x: np.ndarray | None = None, seed: int = 0) -> dict:
    """Write artifacts for the run's best circuit into RUN_DIR/artifacts; returns the manifest.

    Verilog comes with a self-checking testbench NAME_tb.v whose golden vectors (``x`` if given,
    else ``vectors`` random valid feature vectors) come from the software simulator.
    """
    run = runs.run_dir(run_dir)
    bad = set(formats) - set(FORMATS)
    if bad:
        raise InputError(f"unknown export format(s) {sorted(bad)}; choose from {', '.join(FORMATS)}")
    circuit = runs.best_circuit(run)
    art = run / runs.ARTIFACTS_DIR
    art.mkdir(exist_ok=True)
    entries = {e["file"]: e for e in load_manifest(run)["artifacts"]}
    base = {"gates": circuit.num_gates, "depth": circuit.depth(), "source": source_name(run, circuit)}
    # AIGER and BLIF hold the gate network only (the head and the encoder are not part of them)
    if "aiger" in formats:
        emit(circuit, "aiger", NET_AIG.removesuffix(".aig")).write(art)
        entries[NET_AIG] = {"file": NET_AIG, "kind": "aiger", **base}
    if "blif" in formats:
        emit(circuit, "blif", NET_BLIF.removesuffix(".blif")).write(art)
        entries[NET_BLIF] = {"file": NET_BLIF, "kind": "blif", **base}
    if "verilog" in formats:
        for p in sorted({0, pipeline}):
            mod = name if p == 0 else f"{name}_pipe{p}"
            design = emit(circuit, "verilog", mod, pipeline=p)
            design.write(art)
            spec = design.info["spec"]
            entries[f"{mod}.v"] = {"file": f"{mod}.v", "kind": "verilog", "top": mod, "net": f"{mod}_net",
                                   "spec": spec.to_dict(), **base}
            if x is None:
                rng = np.random.default_rng(seed)
                hi = 2 if spec.bits_input else (1 << spec.width)
                xs = rng.integers(0, hi, size=(vectors, spec.features))
            else:
                xs = np.asarray(x)
            bench = emit_testbench(circuit, spec, xs)
            bench.write(art)
            entries[f"{mod}_tb.v"] = {"file": f"{mod}_tb.v", "kind": "testbench", "top": bench.info["top"],
                                      "design": f"{mod}.v", "vectors": int(len(xs))}
    return write_manifest(run, list(entries.values()))
