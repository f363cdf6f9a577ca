"""``gatelearn report``: hardware figures of a run's best circuit, its accuracy and its compiled
speed; with ``fpga`` also the run's pipelined Verilog placed and routed on an iCE40
(:mod:`gatelearn.tools.ice40`). The tools' steps (ABC, yosys, nextpnr) show as progress lines
while they run."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .. import progress, runs
from ..backends import aiger, emit
from ..errors import FileFormatError, GatelearnError, InputError, ToolError
from .bench import quick_throughput
from .manifest import VERILOG_NETLIST, load_manifest, source_name
from .verify import VERIFY_FILE

__all__ = ["report", "fpga_report", "pipelined_top", "training_accuracy", "DWN_MNIST"]

# Published figure printed beside MNIST (784 features, 10 classes) reports, for comparison.
DWN_MNIST = "DWN (ICML 2024), MNIST on FPGA: 2,100-4,600 LUTs at 98.3% accuracy"


def training_accuracy(run: Path) -> dict:
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


def pipelined_top(run: Path, pipeline: int | None = None) -> dict:
    """The manifest entry of RUN's exported pipelined Verilog top: the one with ``pipeline`` N, or
    by default the smallest N exported (the shortest paths between registers). InputError, in
    one line saying which export to run, when there is none."""
    entries = [e for e in load_manifest(run)["artifacts"]
               if e.get("kind") in ("verilog", VERILOG_NETLIST) and isinstance(e.get("spec"), dict)
               and isinstance(e["spec"].get("pipeline"), int) and e["spec"]["pipeline"] > 0]
    n = pipeline if pipeline is not None else 2
    if pipeline is not None:
        entries = [e for e in entries if e["spec"]["pipeline"] == pipeline]
    if not entries:
        what = f"--pipeline {pipeline} Verilog" if pipeline is not None else "pipelined Verilog"
        raise InputError(f"{run} has no exported {what}, which --fpga places and routes: run "
                         f"`gatelearn export {run} --pipeline {n}` first")
    entry = min(entries, key=lambda e: (e["spec"]["pipeline"], e["file"]))
    if not (run / runs.ARTIFACTS_DIR / entry["file"]).is_file():
        raise FileFormatError(f"{run / runs.ARTIFACTS_DIR / entry['file']} is listed in the manifest but missing: "
                              f"run `gatelearn export {run} --pipeline {entry['spec']['pipeline']}` again")
    return entry


def fpga_report(run_dir, device: str, timeout: float = 900.0, pipeline: int | None = None) -> dict:
    """RUN_DIR's exported pipelined Verilog (:func:`pipelined_top`) through synthesis, place and
    route on ``device`` (a name of :data:`gatelearn.tools.ice40.DEVICES`): the figures of
    :class:`~gatelearn.tools.ice40.Ice40Result` with the file, its pipeline N and its latency in
    cycles. A design that does not fit is a result (``fits`` False, ``not_fitted``)."""
    from ..tools import ice40
    run = runs.run_dir(run_dir)
    dev = ice40.device(device)
    entry = pipelined_top(run, pipeline)
    result = ice40.flow([run / runs.ARTIFACTS_DIR / entry["file"]], entry["top"], dev, timeout)
    return {"file": entry["file"], "pipeline": entry["spec"]["pipeline"],
            "latency_cycles": entry["spec"].get("latency"), **result.to_dict()}


def report(run_dir, luts: bool = True, full_luts: bool = True, timeout: float = 900.0,
           throughput: bool = True, fpga: str | None = None, fpga_pipeline: int | None = None) -> dict:
    """Figures of RUN_DIR's best circuit: gates (lowered, after gatelearn's passes, the best
    circuit), depth, ABC AND count and levels, 6-LUTs and LUT depth (the network mapped by ABC;
    with ``full_luts`` also the whole design, its encoder and head mapped by yosys), latency,
    accuracy, and with ``throughput`` the samples per second of the circuit compiled to C on one
    thread (a short timing; skipped with a note when no C compiler works). With ``fpga`` (a
    device, "ice40-hx8k") also ``out["fpga"]``: :func:`fpga_report` of the exported pipelined
    top with ``fpga_pipeline`` N (default the smallest exported)."""
    from ..tools import abc, ice40, yosys
    run = runs.run_dir(run_dir)
    if fpga is not None:
        # a wrong device, a missing export or tool is said now, not after minutes of ABC and yosys
        ice40.device(fpga)
        pipelined_top(run, fpga_pipeline)
        ice40.require()
    with progress.step("reading the run's circuits"):
        best = runs.best_circuit(run)
        # the circuit of gatelearn's passes is the best one unless ABC's (circuit.abc.npz) is smaller
        base = runs.base_circuit(run) if best.meta.get("file") == runs.ABC_CIRCUIT_FILE else best
        out: dict = {"run": str(run), "circuit": source_name(run, best),
                     "gates": best.num_gates, "depth": best.depth(), "inputs": best.num_inputs,
                     "outputs": best.num_outputs, "gates_after_passes": base.num_gates}
    with progress.step("lowering the trained model"):
        try:
            out["model_gates"] = runs.model_circuit(run).num_gates
        except GatelearnError:
            pass
    with tempfile.TemporaryDirectory(prefix="gatelearn-report-") as tmpdir:
        tmp = Path(tmpdir)
        a = aiger.write_aiger(best, tmp / "net.aig")          # the gate network only
        st = abc.stats(a, timeout)
        out["abc_ands"], out["abc_levels"] = st.ands, st.levels
        if luts:
            # The gate network goes straight to ABC's LUT mapper (yosys's generic synthesis in
            # front of the same mapper had not finished after 15 min on a 17K-gate network); yosys
            # maps the rest of the design (encoder comparators, popcounts, argmax) with the network
            # as a black box.
            net = abc.lut_map(a, 6, timeout)
            out["luts_network"], out["lut_depth_network"] = net.luts, net.levels
            if full_luts and best.head is not None:
                try:
                    with progress.step("writing the whole design as Verilog"):
                        design = emit(best, "verilog", "gatelearn_model")
                except InputError as exc:
                    # the default input format cannot hold the thresholds: no whole design to count
                    out["luts_full_note"] = f"no whole-design LUT count: {exc}"
                else:
                    v = design.write(tmp)["gatelearn_model.v"]
                    rest = yosys.lut_map([v], "gatelearn_model", 6, timeout,
                                         blackbox={"gatelearn_model_net": net.levels}, fast=True)
                    out["luts_encoder_head"] = rest.luts
                    out["luts_full"], out["lut_depth_full"] = net.luts + rest.luts, rest.depth
    if throughput:
        if best.head is None:
            out["throughput_note"] = "no throughput: the circuit has no classifier head (GroupSum)"
        else:
            try:
                out["samples_per_s_1thread"] = round(quick_throughput(best))
            except ToolError as exc:     # no C compiler: the hardware figures still stand
                out["throughput_note"] = f"no throughput: {str(exc).splitlines()[0]}"
    manifest = load_manifest(run)
    out["pipeline_latency"] = {e["top"]: e["spec"]["latency"] for e in manifest["artifacts"]
                               if e.get("kind") == "verilog"}
    out["accuracy"] = training_accuracy(run)
    if best.encoder is not None and best.encoder.num_features == 784 and best.head and best.head.classes == 10:
        out["reference"] = DWN_MNIST
    vf = run / VERIFY_FILE
    if vf.exists():
        try:
            out["verified"] = json.loads(vf.read_text()).get("ok")
        except (OSError, ValueError):
            out["verified"] = None
    if fpga is not None:
        out["fpga"] = fpga_report(run, fpga, timeout, fpga_pipeline)
    return out
