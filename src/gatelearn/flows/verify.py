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

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import progress, runs
from ..backends import aiger
from ..backends.verilog import HwSpec, NetSpec, hw_spec
from ..circuit.ir import Circuit
from ..errors import FileFormatError, InputError, ToolError
from ..fileio import atomic_write_text
from ..verification.artifacts import c_artifacts, check_c_artifact, check_numpy_artifact, numpy_artifacts
from ..verification.equivalence import (
    Check,
    VerifyReport,
    abc_readable,
    cec_check,
    prove_netlist,
    prove_verilog,
    same_interface,
)
from .manifest import KINDS, MANIFEST, VERILOG_NETLIST, load_manifest

__all__ = ["VERIFY_FILE", "verify", "verify_imported"]

VERIFY_FILE = "verify.json"
C_DIR, NUMPY_DIR = "c", "numpy"          # where gatelearn compile --target c|numpy writes
# the kinds verify has a proof for: the manifest's, and the plain Verilog module of a circuit
# without a head, which prove_netlist covers
PROVEN_KINDS = tuple(dict.fromkeys((*KINDS, VERILOG_NETLIST)))


@dataclass
class _Reference:
    """What one verify compares with: ``circuit`` (the model's lowering, or the source as
    gatelearn reads it) for interfaces, Verilog and the tests of programs; ``net``, the file every
    gate network is proven against (the model's network as AIGER, or the source file itself);
    ``by_order``: ports matched by their order (an imported circuit: its writers need not keep the
    source's port names) rather than by name; ``name``: it in words ("model", "source file source.aig")."""
    circuit: Circuit
    net: Path
    by_order: bool
    name: str


def verify(run_dir, timeout: float = 600.0, include_circuits: bool = True,
           on_check: Callable[[Check], None] | None = None) -> VerifyReport:
    """Prove every circuit and hardware artifact of RUN_DIR equivalent to the trained model's
    circuit and test its C and NumPy artifacts; with ``include_circuits`` the IR circuits too, and
    the report goes to RUN_DIR/verify.json. ``on_check`` is called with each check as soon as it
    is done (a proof of a large design takes minutes: the CLI prints each result as it comes);
    each check running longer than a couple of seconds shows as a progress line meanwhile.

    ``run_dir`` may also be an imported circuit (see :func:`verify_imported`)."""
    if not runs.is_trained_run(run_dir):
        return verify_imported(run_dir, timeout, include_circuits, on_check)
    run = runs.run_dir(run_dir)
    # the manifest first: a malformed one is bad input, reported before minutes of proofs
    manifest = load_manifest(run)
    with progress.step("lowering the trained model (the reference of every check)"):
        model = runs.model_circuit(run)
    report = VerifyReport()
    add = _adder(report, on_check)
    with tempfile.TemporaryDirectory(prefix="gatelearn-verify-") as tmpdir:
        tmp = Path(tmpdir)
        ref = _Reference(model, aiger.write_aiger(model, tmp / "ref_net.aig"), False, "model")
        if include_circuits:
            _check_circuits(run, _RUN_CIRCUITS, ref, tmp, timeout, add)
        _check_manifest(report, run, manifest, ref, tmp, timeout, add)
        _check_programs(report, run / runs.ARTIFACTS_DIR, model, tmp, timeout, include_circuits, add)
    if include_circuits:
        atomic_write_text(run / VERIFY_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def verify_imported(path, timeout: float = 600.0, include_circuits: bool = True,
                    on_check: Callable[[Check], None] | None = None) -> VerifyReport:
    """Prove a circuit made by ``gatelearn import`` equal to the file it was imported from, with
    ABC's ``cec`` reading that file itself (ports matched by order):

    * a folder made by ``gatelearn import FILE FOLDER``: its copy of FILE must still have the
      digest import recorded; then circuit.npz, circuit.abc.npz (gatelearn optimize) and every
      artifact of its manifest (gatelearn export) are proven equal to it, and C / NumPy programs
      there tested against it, as for a trained run; the report goes to FOLDER/verify.json;
    * a circuit .npz written by ``gatelearn import FILE OUT.npz`` (or optimize --out from one):
      proven equal to FILE, which must still be where it was read from;
    * an .aig / .aag / .blif file: the circuit gatelearn reads from it proven equal to the file.

    Anything without a source is an InputError naming it."""
    p = Path(path)
    folder = p if p.is_dir() else None
    # the folder's records first (import.json, the manifest): bad input before minutes of proofs
    manifest = load_manifest(folder) if folder is not None else None
    if folder is not None:
        # not load_any_circuit: a damaged circuit file there is a failed check, as in a trained run
        info = runs.import_info(folder)
        source = None if info is None else folder / info["file"]
    else:
        _, source = runs.load_any_circuit(p)
    if source is None:
        raise InputError(f"{p} records no file it was imported from, so there is nothing to prove it against (verify "
                         "proves a trained run against its model, and a circuit made by gatelearn import against its "
                         "source)")
    if not source.is_file():
        raise FileFormatError(f"{source}, the file {p} was imported from, is missing, so there is nothing to prove "
                              f"it against; import the circuit again")
    name = f"source file {source.name}" if folder is not None else f"source file {source}"
    report = VerifyReport(against=f"the {name}", tested_against=f"the {name}")
    add = _adder(report, on_check)
    changed = _changed_source(folder, source) if folder is not None else None
    if changed is not None:
        # before the copy is even read: proofs against an edited copy would prove the wrong thing
        add(changed)
    else:
        with progress.step(f"reading the source {source.name} (the reference of every check)"):
            src_circuit = runs.read_source(source)
        with tempfile.TemporaryDirectory(prefix="gatelearn-verify-") as tmpdir:
            _check_imported(p, folder, manifest, src_circuit, source, name, Path(tmpdir), timeout, include_circuits,
                            report, add)
    if folder is not None and include_circuits:
        atomic_write_text(folder / VERIFY_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _check_imported(p: Path, folder: Path | None, manifest: dict | None, src_circuit: Circuit, source: Path,
                    name: str, tmp: Path, timeout: float, include_circuits: bool, report: VerifyReport,
                    add: Callable[..., None]) -> None:
    """The checks of :func:`verify_imported` once the source is read (see there)."""
    t0 = time.perf_counter()
    try:
        ref = _Reference(src_circuit, abc_readable(source, tmp, timeout), True, name)
    except ToolError as exc:
        add(Check(source.name, "the source, read for ABC", "error", str(exc), time.perf_counter() - t0))
        return
    if folder is not None:
        if include_circuits:
            _check_circuits(folder, _RUN_CIRCUITS, ref, tmp, timeout, add)
        _check_manifest(report, folder, manifest, ref, tmp, timeout, add)
        _check_programs(report, folder / runs.ARTIFACTS_DIR, src_circuit, tmp, timeout, include_circuits, add)
    elif p.suffix.lower() == ".npz":
        _check_circuits(p.parent, (p.name,), ref, tmp, timeout, add)
    else:
        # the file is its own source: what is proven is that gatelearn reads it faithfully (the
        # circuit every other command runs is the one in the file)
        with progress.step(f"proving {p.name} as gatelearn reads it equal to the file (ABC cec)"):
            mine = aiger.write_aiger(src_circuit, tmp / "read_by_gatelearn.aig")
            add(cec_check(p.name, "the circuit gatelearn reads vs the file (by port order)", ref.net, mine,
                          timeout, by_order=True))


def _adder(report: VerifyReport, on_check: Callable[[Check], None] | None) -> Callable[..., None]:
    """``add(*checks)``: append to the report, and tell ``on_check`` at once."""
    def add(*checks: Check) -> None:
        for c in checks:
            report.checks.append(c)
            if on_check is not None:
                on_check(c)
    return add


def _changed_source(folder: Path, source: Path) -> Check | None:
    """A failed check when the folder's copy of the source is no longer the one import copied."""
    want = (runs.import_info(folder) or {}).get("sha256")
    if not isinstance(want, str):
        return None       # an import record without a digest: nothing to compare
    if hashlib.sha256(source.read_bytes()).hexdigest() == want:
        return None
    return Check(source.name, "the source, as imported", "FAILED",
                 f"changed since gatelearn import (its SHA-256 differs from {runs.IMPORT_FILE}), so it is no "
                 "longer the file the circuit was read from; nothing was proven against it. Import the original "
                 "file again into a new folder")


def _cec(ref: _Reference, item: str, what: str, file: Path, timeout: float) -> Check:
    """``file``'s network proven against the reference's, ports matched the reference's way (the
    flag is passed only when set, so a trained run's proofs call cec_check as they always did)."""
    if ref.by_order:
        return cec_check(item, what, ref.net, file, timeout, by_order=True)
    return cec_check(item, what, ref.net, file, timeout)


# the IR circuits a run folder may hold: compile's, optimize's, and the one compile --target numpy copies
_RUN_CIRCUITS = (runs.CIRCUIT_FILE, runs.ABC_CIRCUIT_FILE, f"{runs.ARTIFACTS_DIR}/{NUMPY_DIR}/{runs.CIRCUIT_FILE}")


def _check_circuits(run: Path, files, ref: _Reference, tmp: Path, timeout: float,
                    add: Callable[..., None]) -> None:
    """The IR circuits ``files`` of ``run`` that exist: the reference's interface (encoder and
    head), and its gate network."""
    what = ("IR circuit: gate network vs model (encoder and head equal)" if not ref.by_order else
            f"IR circuit vs the {ref.name} (ports by order)")
    for fname in files:
        f = run / fname
        if not f.exists():
            continue
        try:
            c = Circuit.load(f)
        except FileFormatError as exc:
            add(Check(fname, "IR circuit", "error", str(exc)))
            continue
        diff = same_interface(c, ref.circuit)
        if diff:
            add(Check(fname, "IR circuit", "FAILED", f"has {diff} than the {ref.name}"))
            continue
        with progress.step(f"proving {fname} equivalent to the {ref.name} (ABC cec)"):
            net = aiger.write_aiger(c, tmp / f"{fname.replace('/', '_')}.aig")
            add(_cec(ref, fname, what, net, timeout))


def _check_manifest(report: VerifyReport, run: Path, manifest: dict, ref: _Reference, tmp: Path, timeout: float,
                    add: Callable[..., None]) -> None:
    """Every artifact the manifest lists, proven against the reference (testbenches listed as not
    checked), and every netlist in artifacts/ it does not list reported as unknown."""
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
            with progress.step(f"proving {item} equivalent to the {ref.name} (ABC cec)"):
                add(_cec(ref, item, f"{e['kind']} gate network vs {ref.name}"
                         + (" (ports by order)" if ref.by_order else ""), f, timeout))
        elif e["kind"] == "verilog":
            try:
                spec = _claimed_spec(ref.circuit, e)
                net = e["net"]
                if not isinstance(net, str):
                    raise TypeError(f"'net' is {net!r}")
            except InputError as exc:
                add(Check(item, "verilog", "FAILED", f"does not fit the {ref.name}: {exc}"))
                continue
            except (KeyError, TypeError, ValueError) as exc:
                add(Check(item, "verilog", "FAILED", f"its manifest entry is malformed "
                          f"({type(exc).__name__}: {exc}); re-run gatelearn export"))
                continue
            with progress.step(f"proving {item} equivalent to the {ref.name} (yosys, ABC cec)"):
                add(*prove_verilog(ref.circuit, spec, f, net, tmp, timeout, item))
        elif e["kind"] == VERILOG_NETLIST:
            try:
                nspec = NetSpec(**e["spec"])
                if not (isinstance(nspec.name, str) and isinstance(nspec.inputs, list)
                        and isinstance(nspec.outputs, list) and isinstance(nspec.latency, int)):
                    raise TypeError("its name, inputs, outputs or latency has the wrong type")
            except (KeyError, TypeError, ValueError) as exc:
                add(Check(item, VERILOG_NETLIST, "FAILED", f"its manifest entry is malformed "
                          f"({type(exc).__name__}: {exc}); re-run gatelearn export"))
                continue
            with progress.step(f"proving {item} equivalent to the {ref.name} (yosys, ABC cec)"):
                # ports by the spec's order, which is the circuit's and so the reference network's
                add(prove_netlist(nspec, f, ref.net, tmp, timeout, item, f"the {ref.name}"))


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
        if name is not None and isinstance(kind, str) and kind in PROVEN_KINDS:
            good.append(e)
        elif name is not None and isinstance(kind, str):
            bad.append(Check(f"{where} entry {i}", "manifest", "FAILED",
                             f"artifacts/{name} has the unknown kind {kind[:60]!r} (known: {', '.join(PROVEN_KINDS)}), "
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
