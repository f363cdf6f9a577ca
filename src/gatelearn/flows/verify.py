"""``gatelearn verify``: prove (or, for programs, test) every circuit and artifact of a run
equal to the trained model, and say which is which.

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
  manifest entry states (its registers made transparent, then the same proof);
* the Verilog's input format (fractional bits per feature, exactness) is checked against the
  model's thresholds, and the reference's comparators come from those thresholds, not from the
  emitter.

What it tests (programs cannot be proven here; :mod:`gatelearn.verification.artifacts`): the C
library in RUN_DIR/artifacts/c (``gatelearn compile --target c``), compiled from its sources, and
the NumPy module in RUN_DIR/artifacts/numpy, each run on every input region when there are few
enough, else on corner cases and random inputs, and compared with the software simulator.

The reference for all of them is the circuit lowered from model.safetensors, the same lowering
that training's hard accuracy is measured with. The report lists what was proven, what tested
and which artifacts no check covers (testbenches, example programs, built libraries).
"""
from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from .. import progress, runs
from ..backends import aiger
from ..backends.verilog import HwSpec, hw_spec
from ..circuit.ir import Circuit
from ..errors import FileFormatError, InputError
from ..fileio import atomic_write_text
from ..verification.artifacts import c_artifacts, check_c_artifact, check_numpy_artifact, numpy_artifacts
from ..verification.equivalence import Check, VerifyReport, cec_check, prove_verilog, same_interface
from .manifest import KINDS, MANIFEST, load_manifest

__all__ = ["VERIFY_FILE", "verify"]

VERIFY_FILE = "verify.json"
C_DIR, NUMPY_DIR = "c", "numpy"          # where gatelearn compile --target c|numpy writes


def verify(run_dir, timeout: float = 600.0, include_circuits: bool = True,
           on_check: Callable[[Check], None] | None = None) -> VerifyReport:
    """Prove every circuit and hardware artifact of RUN_DIR equivalent to the trained model's
    circuit and test its C and NumPy artifacts; with ``include_circuits`` the IR circuits too, and
    the report goes to RUN_DIR/verify.json. ``on_check`` is called with each check as soon as it
    is done (a proof of a large design takes minutes: the CLI prints each result as it comes);
    each check running longer than a couple of seconds shows as a progress line meanwhile."""
    run = runs.run_dir(run_dir)
    # the manifest first: a malformed one is bad input, reported before minutes of proofs
    manifest = load_manifest(run)
    with progress.step("lowering the trained model (the reference of every check)"):
        ref = runs.model_circuit(run)
    report = VerifyReport()

    def add(*checks: Check) -> None:
        for c in checks:
            report.checks.append(c)
            if on_check is not None:
                on_check(c)

    with tempfile.TemporaryDirectory(prefix="gatelearn-verify-") as tmpdir:
        tmp = Path(tmpdir)
        ref_net = aiger.write_aiger(ref, tmp / "ref_net.aig")
        if include_circuits:
            _check_circuits(run, ref, ref_net, tmp, timeout, add)
        art = run / runs.ARTIFACTS_DIR
        entries, bad, listed = _entries(manifest)
        add(*bad)
        if art.is_dir():
            for f in sorted(art.iterdir()):
                if f.suffix in (".aig", ".blif", ".v") and f.name not in listed:
                    add(Check(f"artifacts/{f.name}", "unknown artifact", "FAILED",
                              "not listed in artifacts/manifest.json (not written by gatelearn "
                              "export), so what it should compute is unknown; remove it or re-export"))
        for e in entries:
            f = art / e["file"]
            item = f"artifacts/{e['file']}"
            if e["kind"] == "testbench":
                if f.exists():
                    report.not_checked.append((item, "testbench, run by a simulator, not by verify"))
                continue
            if not f.exists():
                add(Check(item, e["kind"], "FAILED", "listed in the manifest but missing"))
                continue
            if e["kind"] in ("aiger", "blif"):
                with progress.step(f"proving {item} equivalent to the model (ABC cec)"):
                    add(cec_check(item, f"{e['kind']} gate network vs model", ref_net, f, timeout))
            elif e["kind"] == "verilog":
                try:
                    spec = _claimed_spec(ref, e)
                    net = e["net"]
                    if not isinstance(net, str):
                        raise TypeError(f"'net' is {net!r}")
                except InputError as exc:
                    add(Check(item, "verilog", "FAILED", f"does not fit the model: {exc}"))
                    continue
                except (KeyError, TypeError, ValueError) as exc:
                    add(Check(item, "verilog", "FAILED", f"its manifest entry is malformed "
                              f"({type(exc).__name__}: {exc}); re-run gatelearn export"))
                    continue
                with progress.step(f"proving {item} equivalent to the model (yosys, ABC cec)"):
                    add(*prove_verilog(ref, spec, f, net, tmp, timeout, item))
        _check_programs(report, art, ref, tmp, timeout, include_circuits, add)
    if include_circuits:
        atomic_write_text(run / VERIFY_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _check_circuits(run: Path, ref: Circuit, ref_net: Path, tmp: Path, timeout: float,
                    add: Callable[..., None]) -> None:
    """circuit.npz and circuit.abc.npz: the model's interface, and its gate network."""
    for fname in (runs.CIRCUIT_FILE, runs.ABC_CIRCUIT_FILE, f"{runs.ARTIFACTS_DIR}/{NUMPY_DIR}/{runs.CIRCUIT_FILE}"):
        f = run / fname
        if not f.exists():
            continue
        try:
            c = Circuit.load(f)
        except FileFormatError as exc:
            add(Check(fname, "IR circuit", "error", str(exc)))
            continue
        diff = same_interface(c, ref)
        if diff:
            add(Check(fname, "IR circuit", "FAILED", f"has {diff} than the model"))
            continue
        with progress.step(f"proving {fname} equivalent to the model (ABC cec)"):
            net = aiger.write_aiger(c, tmp / f"{fname}.aig")
            add(cec_check(fname, "IR circuit: gate network vs model (encoder and head equal)", ref_net, net, timeout))


def _entries(manifest: dict) -> tuple[list[dict], list[Check], set[str]]:
    """The manifest's well-formed entries (a plain file name, a known kind), a failed check for
    each other one, and the file names every entry lists (so that the file of an entry refused
    for its kind is not reported a second time, as unlisted)."""
    good, bad, names = [], [], set()
    where = f"{runs.ARTIFACTS_DIR}/{MANIFEST}"
    for i, e in enumerate(manifest["artifacts"]):
        name = e.get("file") if isinstance(e, dict) else None
        if not (isinstance(name, str) and name and Path(name).name == name and name not in (".", "..")):
            name = None
        else:
            names.add(name)
        kind = e.get("kind") if isinstance(e, dict) else None
        if name is not None and isinstance(kind, str) and kind in KINDS:
            good.append(e)
        elif name is not None and isinstance(kind, str):
            bad.append(Check(f"{where} entry {i}", "manifest", "FAILED",
                             f"artifacts/{name} has the unknown kind {kind[:60]!r} (known: {', '.join(KINDS)}), "
                             "so what it should compute is unknown; re-run gatelearn export"))
        else:
            bad.append(Check(f"{where} entry {i}", "manifest", "FAILED",
                             f"malformed entry {str(e)[:200]}; re-run gatelearn export"))
    return good, bad, names


def _check_programs(report: VerifyReport, art: Path, ref: Circuit, tmp: Path, timeout: float,
                    include_circuits: bool, add: Callable[..., None]) -> None:
    """Test the C libraries in artifacts/c and the NumPy modules in artifacts/numpy; list the
    files there that no check covers."""
    covered: set[Path] = set()
    cdir, npdir = art / C_DIR, art / NUMPY_DIR
    for name in c_artifacts(cdir):
        covered |= {cdir / f"{name}.c", cdir / f"{name}.h"}
        item = f"{runs.ARTIFACTS_DIR}/{C_DIR}/{name}.c"
        with progress.step(f"testing {item} against the model (built from its sources)"):
            add(check_c_artifact(ref, cdir, name, item, tmp, timeout))
    for name in numpy_artifacts(npdir):
        covered |= {npdir / f"{name}.py", npdir / f"{name}.npz"}
        item = f"{runs.ARTIFACTS_DIR}/{NUMPY_DIR}/{name}.py"
        with progress.step(f"testing {item} against the model"):
            add(check_numpy_artifact(ref, npdir, name, item, tmp, timeout))
    if include_circuits:
        covered.add(npdir / runs.CIRCUIT_FILE)      # proven with the IR circuits
    libs = {f"lib{name}.so" for name in c_artifacts(cdir)}
    mains = {f"{name}_main.c" for name in c_artifacts(cdir)}
    for d in (cdir, npdir):
        if not d.is_dir():
            continue
        for f in sorted(d.iterdir()):
            if f in covered or not f.is_file():
                continue
            why = ("example program" if f.name in mains else
                   "built library; verify rebuilt it from the sources" if f.name in libs else
                   "IR circuit, checked only with the circuits" if f.name == runs.CIRCUIT_FILE else "unknown file")
            report.not_checked.append((f"{runs.ARTIFACTS_DIR}/{d.name}/{f.name}", why))


def _claimed_spec(ref: Circuit, entry: dict) -> HwSpec:
    """The interface a Verilog artifact must have for the model, with the input format and the
    latency its manifest entry claims (which the proof then checks against the model). A spec
    written before formats were recorded claims 0 fractional bits and exactness, as that export
    did."""
    s = entry["spec"]
    bits_input = bool(s["bits_input"])
    frac = s.get("frac_bits") or None
    if frac is None and not bits_input and ref.encoder is not None:
        frac = [0] * ref.encoder.num_features
    spec = hw_spec(ref, entry["top"], int(s.get("pipeline", 0)), None if bits_input else int(s["width"]),
                   None if bits_input else frac)
    spec.latency = int(s.get("latency", 0))
    spec.grid_only = [int(f) for f in s.get("grid_only", [])]
    return spec
