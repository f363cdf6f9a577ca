"""``gatelearn verify``: prove every circuit and artifact of a run equivalent to the trained model.

What it proves (each a combinational equivalence check by ABC ``cec``, which either proves
equivalence or returns a counterexample; the proofs are :mod:`gatelearn.verification.equivalence`):

* every IR circuit (RUN_DIR/circuit.npz, circuit.abc.npz) has the model's encoder and head and a
  gate network equivalent to the network lowered from the trained model (runs.model_circuit);
* artifacts/*.aig and *.blif (gate network only) are equivalent to that network; ABC reads them
  itself, so gatelearn's readers are not part of the argument;
* each Verilog top, synthesised by yosys to gates, is equivalent to a reference AIG built straight
  from the model's IR (:func:`gatelearn.verification.reference.reference_aig`): the whole design
  from the integer features ``x`` to ``class_idx`` and ``counts``, encoder, popcount and argmax
  included; the network-only module ``NAME_net`` is proven against the network too;
* a pipelined Verilog top is also checked to delay every output by exactly the LATENCY its
  manifest entry states (its registers made transparent, then the same proof).

The reference for all of them is the circuit lowered from model.safetensors, the same lowering
that training's hard accuracy is measured with.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .. import runs
from ..backends import aiger
from ..backends.verilog import HwSpec, hw_spec
from ..circuit.ir import Circuit
from ..errors import FileFormatError, InputError
from ..fileio import atomic_write_text
from ..verification.equivalence import Check, VerifyReport, cec_check, prove_verilog, same_interface
from .manifest import load_manifest

__all__ = ["VERIFY_FILE", "verify"]

VERIFY_FILE = "verify.json"


def verify(run_dir, timeout: float = 600.0, include_circuits: bool = True) -> VerifyReport:
    """Prove every circuit and artifact of RUN_DIR equivalent to the trained model's circuit; with
    ``include_circuits`` the IR circuits too, and the report goes to RUN_DIR/verify.json."""
    run = runs.run_dir(run_dir)
    ref = runs.model_circuit(run)
    report = VerifyReport()
    with tempfile.TemporaryDirectory(prefix="gatelearn-verify-") as tmpdir:
        tmp = Path(tmpdir)
        ref_net = aiger.write_aiger(ref, tmp / "ref_net.aig")
        if include_circuits:
            report.checks += _check_circuits(run, ref, ref_net, tmp, timeout)
        art = run / runs.ARTIFACTS_DIR
        manifest = load_manifest(run)
        listed = {e["file"] for e in manifest["artifacts"]}
        if art.is_dir():
            for f in sorted(art.iterdir()):
                if f.suffix in (".aig", ".blif", ".v") and f.name not in listed:
                    report.checks.append(Check(f"artifacts/{f.name}", "unknown artifact", "FAILED",
                                               "not listed in artifacts/manifest.json (not written by gatelearn "
                                               "export), so what it should compute is unknown; remove it or re-export"))
        for e in manifest["artifacts"]:
            f = art / e["file"]
            item = f"artifacts/{e['file']}"
            if e["kind"] == "testbench":
                continue
            if not f.exists():
                report.checks.append(Check(item, e["kind"], "FAILED", "listed in the manifest but missing"))
                continue
            if e["kind"] in ("aiger", "blif"):
                report.checks.append(cec_check(item, f"{e['kind']} gate network vs model", ref_net, f, timeout))
            elif e["kind"] == "verilog":
                try:
                    spec = _claimed_spec(ref, e)
                except InputError as exc:
                    report.checks.append(Check(item, "verilog", "FAILED", f"does not fit the model: {exc}"))
                    continue
                report.checks += prove_verilog(ref, spec, f, e["net"], tmp, timeout, item)
    if include_circuits:
        atomic_write_text(run / VERIFY_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _check_circuits(run: Path, ref: Circuit, ref_net: Path, tmp: Path, timeout: float) -> list[Check]:
    """circuit.npz and circuit.abc.npz: the model's interface, and its gate network."""
    checks = []
    for fname in (runs.CIRCUIT_FILE, runs.ABC_CIRCUIT_FILE):
        f = run / fname
        if not f.exists():
            continue
        try:
            c = Circuit.load(f)
        except FileFormatError as exc:
            checks.append(Check(fname, "IR circuit", "error", str(exc)))
            continue
        diff = same_interface(c, ref)
        if diff:
            checks.append(Check(fname, "IR circuit", "FAILED", f"has {diff} than the model"))
            continue
        net = aiger.write_aiger(c, tmp / f"{fname}.aig")
        checks.append(cec_check(fname, "IR circuit: gate network vs model (encoder and head equal)",
                                ref_net, net, timeout))
    return checks


def _claimed_spec(ref: Circuit, entry: dict) -> HwSpec:
    """The interface a Verilog artifact must have for the model, with the latency its manifest
    entry claims (which the proof then checks)."""
    s = entry["spec"]
    spec = hw_spec(ref, entry["top"], int(s.get("pipeline", 0)), int(s["width"]) if not s["bits_input"] else None)
    spec.latency = int(s.get("latency", 0))
    return spec
