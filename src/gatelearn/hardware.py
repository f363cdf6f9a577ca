"""The hardware flow on a run directory: export, ABC optimisation, equivalence proofs, reports.

What ``verify`` proves (each a combinational equivalence check by ABC ``cec``, which either
proves equivalence or returns a counterexample):

* every IR circuit (RUN_DIR/circuit.npz, circuit.abc.npz) has the model's encoder and head and a
  gate network equivalent to the network lowered from the trained model (runs.model_circuit);
* artifacts/*.aig and *.blif (gate network only) are equivalent to that network; ABC reads them
  itself, so gatelearn's readers are not part of the argument;
* each Verilog top, synthesised by yosys to gates (proc; flatten; techmap), is equivalent to a
  reference AIG built straight from the model's IR (:func:`backends.verilog.reference_aig`): the
  whole design from the integer features ``x`` to ``class_idx`` and ``counts``, encoder, popcount
  and argmax included; the network-only module ``NAME_net`` is proven against the network too.
* a pipelined Verilog top is turned into gates by yosys, its flip-flops are made transparent
  (gatelearn's BLIF reader), every path from the inputs to class_idx/counts is checked to cross
  exactly LATENCY registers and out_valid to lag in_valid by LATENCY cycles, and the resulting
  combinational function is proven equal to the same reference. So the pipelined design
  outputs, LATENCY cycles later, exactly what the model computes.

The reference for all of them is the circuit lowered from model.safetensors, the same lowering
that training's hard accuracy is measured with.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import runs
from .backends import aiger, blif, verilog
from .circuit.ir import Circuit
from .errors import FileFormatError, GatelearnError, InputError, ToolError
from .fileio import atomic_write_text

MANIFEST = "manifest.json"
VERIFY_FILE = "verify.json"
NET_AIG = "net.aig"
NET_BLIF = "net.blif"
FORMATS = ("verilog", "aiger", "blif")


# ---------------------------------------------------------------------------------- helpers
def _network_only(c: Circuit) -> Circuit:
    out = c.copy()
    out.head, out.encoder = None, None
    return out


def attach(net: Circuit, like: Circuit, meta: dict | None = None) -> Circuit:
    """``net``'s gates with ``like``'s encoder and head (ABC only sees the gate network)."""
    if net.num_inputs != like.num_inputs or net.num_outputs != like.num_outputs:
        raise FileFormatError(f"optimised network has {net.num_inputs} inputs / {net.num_outputs} outputs; "
                              f"expected {like.num_inputs} / {like.num_outputs}")
    out = Circuit(net.num_inputs, net.op, net.a, net.b, net.outputs, like.copy().head, like.copy().encoder,
                  None, meta if meta is not None else dict(like.meta))
    return out.validate()


def same_interface(c: Circuit, ref: Circuit) -> str | None:
    """None when c has ref's inputs, outputs, head and encoder; else what differs."""
    if c.num_inputs != ref.num_inputs or c.num_outputs != ref.num_outputs:
        return f"{c.num_inputs} inputs / {c.num_outputs} outputs instead of {ref.num_inputs} / {ref.num_outputs}"
    if (c.head is None) != (ref.head is None) or (c.head and (c.head.classes, c.head.tau) != (ref.head.classes, ref.head.tau)):
        return "a different GroupSum head"
    if (c.encoder is None) != (ref.encoder is None):
        return "a different input encoder"
    if c.encoder is not None:
        e, r = c.encoder, ref.encoder
        if e.num_features != r.num_features or not (np.array_equal(e.feature, r.feature) and np.array_equal(e.op, r.op)
                                                    and np.array_equal(e.value.astype(np.float32), r.value.astype(np.float32))):
            return "a different input encoder"
    return None


def _write_named_aiger(c: Circuit, path: Path, in_fmt: str, out_fmt: str) -> None:
    b, outs = aiger.circuit_to_aig(c)
    path.write_bytes(b.to_bytes(outs, [in_fmt.format(i) for i in range(c.num_inputs)],
                                [out_fmt.format(k) for k in range(c.num_outputs)]))


def source_name(run: Path, c: Circuit) -> str:
    """Which file runs.best_circuit picked."""
    if c.meta.get("file") == runs.ABC_CIRCUIT_FILE:
        return runs.ABC_CIRCUIT_FILE
    return runs.CIRCUIT_FILE if (run / runs.CIRCUIT_FILE).exists() else "model.safetensors (lowered, passes run)"


def load_manifest(run: Path) -> dict:
    file = run / runs.ARTIFACTS_DIR / MANIFEST
    if not file.exists():
        return {"artifacts": []}
    try:
        data = json.loads(file.read_text())
        if not isinstance(data.get("artifacts"), list):
            raise ValueError("no 'artifacts' list")
        return data
    except (OSError, ValueError, AttributeError) as exc:
        raise FileFormatError(f"{file} is not a readable artifact manifest ({exc}); re-run gatelearn export") from exc


# ---------------------------------------------------------------------------------- export
def export(run_dir, formats=FORMATS, pipeline: int = 0, name: str = "gatelearn_model",
           vectors: int = 256, x: np.ndarray | None = None, seed: int = 0) -> dict:
    """Write artifacts for the run's best circuit into RUN_DIR/artifacts; returns the manifest.

    Verilog comes with a self-checking testbench NAME_tb.v whose golden vectors (``x`` if given,
    else ``vectors`` random valid feature vectors) come from the software model.
    """
    run = runs.run_dir(run_dir)
    bad = set(formats) - set(FORMATS)
    if bad:
        raise InputError(f"unknown export format(s) {sorted(bad)}; choose from {', '.join(FORMATS)}")
    circuit = runs.best_circuit(run)
    source = source_name(run, circuit)
    art = run / runs.ARTIFACTS_DIR
    art.mkdir(exist_ok=True)
    manifest = load_manifest(run)
    entries = {e["file"]: e for e in manifest["artifacts"]}
    base = {"gates": circuit.num_gates, "depth": circuit.depth(), "source": source}
    if "aiger" in formats:
        aiger.write_aiger(_network_only(circuit), art / NET_AIG)
        entries[NET_AIG] = {"file": NET_AIG, "kind": "aiger", **base}
    if "blif" in formats:
        blif.write_blif(_network_only(circuit), art / NET_BLIF)
        entries[NET_BLIF] = {"file": NET_BLIF, "kind": "blif", **base}
    if "verilog" in formats:
        for p in sorted({0, pipeline}):
            mod = name if p == 0 else f"{name}_pipe{p}"
            spec = verilog.write_verilog(circuit, art / f"{mod}.v", mod, p)
            entries[f"{mod}.v"] = {"file": f"{mod}.v", "kind": "verilog", "top": mod, "net": f"{mod}_net",
                                   "spec": spec.to_dict(), **base}
            if x is None:
                rng = np.random.default_rng(seed)
                hi = 2 if spec.bits_input else (1 << spec.width)
                xs = rng.integers(0, hi, size=(vectors, spec.features))
            else:
                xs = np.asarray(x)
            tb, files = verilog.emit_testbench(circuit, spec, xs)
            for fname, text in files.items():
                atomic_write_text(art / fname, text)
            atomic_write_text(art / f"{mod}_tb.v", tb)
            entries[f"{mod}_tb.v"] = {"file": f"{mod}_tb.v", "kind": "testbench", "top": f"{mod}_tb",
                                      "design": f"{mod}.v", "vectors": int(len(xs))}
    manifest = {"format": "gatelearn.artifacts", "version": 1, "artifacts": sorted(entries.values(), key=lambda e: e["file"])}
    atomic_write_text(art / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


# ---------------------------------------------------------------------------------- optimize
@dataclass
class OptimizeResult:
    script: str
    ands_naive: int        # gate-by-gate translation of the input circuit, all gates
    ands_before: int       # after ABC's strash (hashing, dead logic removed)
    levels_before: int
    ands_after: int
    levels_after: int
    gates_before: int
    gates_after: int
    depth_before: int
    depth_after: int
    kept: bool
    proven: bool | None
    seconds: float
    file: str | None = None

    def to_dict(self) -> dict:
        return dict(vars(self))


def optimize(run_dir, script: str | None = None, timeout: float = 600.0,
             from_model: bool = False) -> OptimizeResult:
    """ABC on the gate network of RUN_DIR's base circuit; keep the result if it is smaller (in IR
    gates, the measure runs.best_circuit uses) and ABC's cec proves it equal to the input.

    ``from_model=True`` starts from the model as lowered, before gatelearn's own passes, which
    measures what ABC alone does with the trained network."""
    from .tools import abc
    t0 = time.perf_counter()
    run = runs.run_dir(run_dir)
    script = script or abc.DEFAULT_SCRIPT
    base = runs.model_circuit(run) if from_model else runs.base_circuit(run)
    with tempfile.TemporaryDirectory(prefix="gatelearn-opt-") as tmp:
        src, dst = Path(tmp) / "in.aig", Path(tmp) / "out.aig"
        aiger.write_aiger(_network_only(base), src)
        before, after, _ = abc.optimize(src, dst, script, timeout)
        proven = abc.cec(src, dst, timeout).equivalent
        net = aiger.read_aiger(dst)
    meta = dict(base.meta)
    meta["abc"] = {"script": script, "ands_before": before.ands, "ands_after": after.ands}
    meta["file"] = runs.ABC_CIRCUIT_FILE
    opt = attach(net, base, meta)
    abc_file = run / runs.ABC_CIRCUIT_FILE
    old = Circuit.load(abc_file).num_gates if abc_file.exists() else None
    # Kept only when smaller than what the run already has (with --from-model: smaller than the
    # circuit of gatelearn's passes, else that one stays the run's best).
    current = runs.base_circuit(run).num_gates if from_model else base.num_gates
    kept = bool(proven) and opt.num_gates < current and (old is None or opt.num_gates <= old)
    if kept:
        opt.save(abc_file)
    return OptimizeResult(script, aiger.naive_and_count(base), before.ands, before.levels, after.ands, after.levels, base.num_gates, opt.num_gates,
                          base.depth(), opt.depth(), kept, proven, time.perf_counter() - t0,
                          str(abc_file) if kept else None)


# ---------------------------------------------------------------------------------- verify
@dataclass
class Check:
    item: str
    what: str
    status: str            # "proven", "FAILED", "undecided", "error"
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status == "proven" for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status != "proven"]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}


def _cec_check(item: str, what: str, a: Path, b: Path, timeout: float) -> Check:
    from .tools import abc
    t0 = time.perf_counter()
    try:
        r = abc.cec(a, b, timeout)
    except ToolError as exc:
        return Check(item, what, "error", str(exc), time.perf_counter() - t0)
    status = {True: "proven", False: "FAILED", None: "undecided"}[r.equivalent]
    detail = "" if r.equivalent else _cex(r.log)
    return Check(item, what, status, detail, time.perf_counter() - t0)


def _cex(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and "ABC command line" not in ln]
    return " | ".join(lines[:4])[:600]


def verify(run_dir, timeout: float = 600.0, include_circuits: bool = True) -> VerifyReport:
    """Prove every circuit and artifact of RUN_DIR equivalent to the trained model's circuit."""
    from .tools import yosys
    run = runs.run_dir(run_dir)
    ref = runs.model_circuit(run)
    report = VerifyReport()
    with tempfile.TemporaryDirectory(prefix="gatelearn-verify-") as tmpdir:
        tmp = Path(tmpdir)
        ref_net = tmp / "ref_net.aig"
        aiger.write_aiger(_network_only(ref), ref_net)
        if include_circuits:
            for fname in (runs.CIRCUIT_FILE, runs.ABC_CIRCUIT_FILE):
                f = run / fname
                if not f.exists():
                    continue
                try:
                    c = Circuit.load(f)
                except FileFormatError as exc:
                    report.checks.append(Check(fname, "IR circuit", "error", str(exc)))
                    continue
                diff = same_interface(c, ref)
                if diff:
                    report.checks.append(Check(fname, "IR circuit", "FAILED", f"has {diff} than the model"))
                    continue
                aiger.write_aiger(_network_only(c), tmp / f"{fname}.aig")
                report.checks.append(_cec_check(fname, "IR circuit: gate network vs model (encoder and head equal)",
                                                ref_net, tmp / f"{fname}.aig", timeout))
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
                report.checks.append(_cec_check(item, f"{e['kind']} gate network vs model", ref_net, f, timeout))
            elif e["kind"] == "verilog":
                report.checks += _verify_verilog(ref, e, f, tmp, timeout, yosys)
    if include_circuits:
        atomic_write_text(run / VERIFY_FILE, json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _verify_verilog(ref: Circuit, entry: dict, f: Path, tmp: Path, timeout: float, yosys) -> list[Check]:
    item = f"artifacts/{entry['file']}"
    checks = []
    s = entry["spec"]
    pipe = int(s.get("pipeline", 0))
    try:
        spec = verilog.hw_spec(ref, entry["top"], pipe, int(s["width"]) if not s["bits_input"] else None)
    except InputError as exc:
        return [Check(item, "verilog", "FAILED", f"does not fit the model: {exc}")]
    spec.latency = int(s.get("latency", 0))
    # 1. The network-only module, gate for gate.
    t0 = time.perf_counter()
    try:
        net_blif = yosys.to_blif([f], entry["net"], tmp / f"{entry['net']}.blif", timeout)
        ref_named = tmp / f"{entry['net']}_ref.aig"
        _write_named_aiger(_network_only(ref), ref_named, "in_bits[{}]", "out_bits[{}]")
        c = _cec_check(item, f"module {entry['net']} (gate network) vs model", ref_named, net_blif, timeout)
        c.seconds = time.perf_counter() - t0
        checks.append(c)
    except ToolError as exc:
        checks.append(Check(item, f"module {entry['net']}", "error", str(exc), time.perf_counter() - t0))
    # 2. The whole top: x -> class_idx, counts.
    t0 = time.perf_counter()
    what = f"module {entry['top']} (encoder + network + popcount + argmax) vs reference from the model"
    try:
        top_blif = yosys.to_blif([f], entry["top"], tmp / f"{entry['top']}.blif", timeout)
        ref_top = tmp / f"{entry['top']}_ref.aig"
        if not pipe:
            ref_top.write_bytes(verilog.reference_aig(ref, spec))
            c = _cec_check(item, what, ref_top, top_blif, timeout)
        else:
            ref_top.write_bytes(verilog.reference_aig(ref, spec, ("clk", "rst", "in_valid")))
            c = _verify_pipelined(item, what, spec, top_blif, ref_top, tmp, timeout)
        c.seconds = time.perf_counter() - t0
        checks.append(c)
    except (ToolError, FileFormatError) as exc:
        checks.append(Check(item, what, "error", str(exc), time.perf_counter() - t0))
    return checks


def _verify_pipelined(item, what, spec, top_blif: Path, ref_top: Path, tmp: Path, timeout) -> Check:
    c = blif.parse_blif(top_blif.read_text(), str(top_blif), latches="transparent")
    names = c.meta["output_names"]
    lat = c.meta["output_latency"]
    L = spec.latency
    data = [i for i, n in enumerate(names) if n != "out_valid"]
    bad = [names[i] for i in data if lat[i] not in ([L], [])]
    if bad:
        return Check(item, what, "FAILED", f"outputs {bad[:4]} are not exactly {L} registers behind the inputs "
                     f"(paths with {lat[data[0]]} registers); the header's LATENCY is wrong or the pipeline unbalanced")
    if "out_valid" not in names or max(lat[names.index("out_valid")], default=-1) != L:
        return Check(item, what, "FAILED", f"out_valid does not lag in_valid by LATENCY={L} cycles")
    c.outputs = c.outputs[data]
    b, outs = aiger.circuit_to_aig(c)
    impl = tmp / f"{spec.name}_transparent.aig"
    impl.write_bytes(b.to_bytes(outs, c.meta["input_names"], [names[i] for i in data]))
    chk = _cec_check(item, what + f" (registers transparent; every path crosses {L})", ref_top, impl, timeout)
    return chk


# ---------------------------------------------------------------------------------- report
DWN_MNIST = "DWN (ICML 2024), MNIST on FPGA: 2,100-4,600 LUTs at 98.3% accuracy (FIELD.md)"


def _accuracy(run: Path) -> dict:
    """Accuracy figures from the training summary (empty when the run has none)."""
    f = run / "summary.json"
    if not f.exists():
        return {}
    try:
        data = json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{f} is not a readable training summary: {exc}") from exc
    out = {k: data[k] for k in ("hard_accuracy", "relaxed_accuracy", "gap") if isinstance(data.get(k), (int, float))}
    ref = data.get("reference") or (data.get("config") or {}).get("reference")
    if isinstance(ref, dict) and ref.get("accuracy") is not None:
        out["published_accuracy_percent"] = ref["accuracy"]
    return out


def report(run_dir, luts: bool = True, full_luts: bool = True, timeout: float = 900.0) -> dict:
    """Figures of RUN_DIR's best circuit: gates, depth, ABC AND count and levels, 6-LUTs and LUT
    depth (the network mapped by ABC; with ``full_luts`` also the whole design, its encoder and
    head mapped by yosys), latency, accuracy."""
    from .tools import abc, yosys
    run = runs.run_dir(run_dir)
    best = runs.best_circuit(run)
    out: dict = {"run": str(run), "circuit": source_name(run, best),
                 "gates": best.num_gates, "depth": best.depth(), "inputs": best.num_inputs,
                 "outputs": best.num_outputs}
    try:
        model_gates = runs.model_circuit(run).num_gates
        out["model_gates"] = model_gates
    except GatelearnError:
        pass
    with tempfile.TemporaryDirectory(prefix="gatelearn-report-") as tmpdir:
        tmp = Path(tmpdir)
        a = tmp / "net.aig"
        aiger.write_aiger(_network_only(best), a)
        st = abc.stats(a, timeout)
        out["abc_ands"], out["abc_levels"] = st.ands, st.levels
        if luts:
            # The gate network goes straight to ABC's LUT mapper (yosys's generic synthesis in
            # front of the same mapper had not finished after 15 min on a 17K-gate network); yosys maps the rest of
            # the design (encoder comparators, popcounts, argmax) with the network as a black box.
            net = abc.lut_map(a, 6, timeout)
            out["luts_network"], out["lut_depth_network"] = net.luts, net.levels
            if full_luts and best.head is not None:
                v = tmp / "design.v"
                text, spec = verilog.emit_verilog(best, "gatelearn_model")
                v.write_text(text)
                rest = yosys.lut_map([v], "gatelearn_model", 6, timeout,
                                     blackbox={"gatelearn_model_net": net.levels}, fast=True)
                out["luts_encoder_head"] = rest.luts
                out["luts_full"], out["lut_depth_full"] = net.luts + rest.luts, rest.depth
    manifest = load_manifest(run)
    lat = {e["top"]: e["spec"]["latency"] for e in manifest["artifacts"] if e.get("kind") == "verilog"}
    out["pipeline_latency"] = lat
    out["accuracy"] = _accuracy(run)
    if best.encoder is not None and best.encoder.num_features == 784 and best.head and best.head.classes == 10:
        out["reference"] = DWN_MNIST
    vf = run / VERIFY_FILE
    if vf.exists():
        try:
            out["verified"] = json.loads(vf.read_text()).get("ok")
        except (OSError, ValueError):
            out["verified"] = None
    return out


def simulate_artifact(run_dir, top: str, simulator: str = "verilator", timeout: float = 900.0) -> dict:
    """Run the testbench of Verilog artifact ``top`` and compare its dumped results with the
    software model bit for bit (class index and every class count)."""
    from .tools import sim
    run = runs.run_dir(run_dir)
    art = run / runs.ARTIFACTS_DIR
    manifest = load_manifest(run)
    design = next((e for e in manifest["artifacts"] if e.get("kind") == "verilog" and e["top"] == top), None)
    tb = next((e for e in manifest["artifacts"] if e.get("kind") == "testbench" and e.get("design") == f"{top}.v"), None)
    if design is None or tb is None:
        raise FileFormatError(f"no Verilog artifact {top} with a testbench in {art}; run gatelearn export first")
    res = art / f"{top}_results.txt"
    if res.exists():
        res.unlink()
    t0 = time.perf_counter()
    log = sim.simulate([art / design["file"], art / tb["file"]], tb["top"], workdir=art, simulator=simulator,
                       timeout=timeout)
    secs = time.perf_counter() - t0
    line = next((ln for ln in log.splitlines() if ln.startswith("GATELEARN_TB")), None)
    if line is None:
        raise ToolError(f"{simulator} ran the testbench but it printed no GATELEARN_TB line:\n{log[-2000:]}")
    spec = verilog.HwSpec(**design["spec"])
    cls, cnt = verilog.parse_results(res.read_text(), spec)
    exp_cls = np.array([int(t, 16) for t in (art / f"{top}_class.hex").read_text().split()], np.int64)
    errors = int(line.split("errors=")[1].split()[0])
    return {"top": top, "simulator": simulator, "vectors": int(len(exp_cls)), "testbench_errors": errors,
            "results": int(len(cls)), "class_agree": int((cls == exp_cls[:len(cls)]).sum()) if len(cls) else 0,
            "seconds": secs}
