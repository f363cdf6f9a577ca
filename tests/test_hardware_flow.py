"""The hardware flow with the real tools: ABC, yosys, Verilator, Icarus Verilog.

Every test skips with the reason when its tool is missing; .ci/run installs them
(apt-get install berkeley-abc yosys verilator iverilog).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import runs
from gatelearn.backends import aiger, verilog
from gatelearn.circuit.ir import Circuit
from gatelearn.cli.main import main
from gatelearn.errors import ToolError
from gatelearn.flows.export import export
from gatelearn.flows.manifest import MANIFEST, load_manifest
from gatelearn.flows.optimize import optimize
from gatelearn.flows.report import report
from gatelearn.flows.simulate import simulate_artifact
from gatelearn.flows.verify import VERIFY_FILE, verify
from gatelearn.tools import abc, sim, yosys
from gatelearn.verification.agreement import reference_outputs
from gatelearn.verification.testbench import hw_values, parse_results, read_hex_rows

needs_abc = pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")
needs_yosys = pytest.mark.skipif(not yosys.available(), reason="yosys (apt-get install yosys) is not installed")
needs_iverilog = pytest.mark.skipif(not sim.available("iverilog"),
                                    reason="Icarus Verilog (apt-get install iverilog) is not installed")
needs_verilator = pytest.mark.skipif(not sim.available("verilator"),
                                     reason="Verilator (apt-get install verilator) is not installed")


def make_run(path, seed=0, classes=3, features=10):
    spec = {"encoder": {"kind": "thresholds", "features": features, "per_feature": 2},
            "layers": [{"kind": "logic", "out": 120, "init": "gaussian"},
                       {"kind": "logic", "out": 80, "init": "gaussian"},
                       {"kind": "logic", "out": 10 * classes, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": classes, "tau": 1.0}, "seed": seed}
    m = gatelearn.build_model(spec)
    with torch.no_grad():
        m.encoder.thresholds.copy_(torch.tensor(np.random.default_rng(seed).uniform(0, 255, (features, 2)),
                                                dtype=torch.float32))
    gatelearn.save(m, path)
    return m


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory):
    """A run taken through optimize and export (with a pipelined top), shared by the tests."""
    if not (abc.available() and yosys.available()):
        pytest.skip("ABC and yosys are needed (apt-get install berkeley-abc yosys)")
    run = tmp_path_factory.mktemp("run")
    model = make_run(run)
    opt = optimize(run)
    export(run, pipeline=2, vectors=64)
    return run, model, opt


def copy_run(src, dst):
    shutil.copytree(src, dst)
    return dst


@needs_abc
def test_optimize_keeps_smaller_proven_circuit(flow_run):
    run, model, opt = flow_run
    assert opt.proven is True
    assert opt.ands_after <= opt.ands_before
    best = runs.best_circuit(run)
    if opt.kept:
        assert (run / runs.ABC_CIRCUIT_FILE).exists() and best.num_gates == opt.gates_after < opt.gates_before
    # Encoder and head survive ABC: the chosen circuit classifies like the model.
    x = np.random.default_rng(1).integers(0, 256, (200, 10))
    cls, _ = reference_outputs(best, x)
    assert (cls == model.predict(torch.tensor(x, dtype=torch.float32)).numpy()).all()


@needs_abc
@needs_yosys
def test_verify_proves_everything(flow_run):
    run, _, _ = flow_run
    rep = verify(run)
    assert rep.ok, [c.to_dict() for c in rep.failed]
    items = {c.item for c in rep.checks}
    assert {"artifacts/net.aig", "artifacts/net.blif", "artifacts/gatelearn_model.v",
            "artifacts/gatelearn_model_pipe2.v"} <= items
    # The network module and the whole top are proven separately for each Verilog file.
    assert sum(c.item == "artifacts/gatelearn_model_pipe2.v" for c in rep.checks) == 2
    assert json.loads((run / VERIFY_FILE).read_text())["ok"] is True


def flip_one_gate(c: Circuit, g: int | None = None) -> Circuit:
    """Change one gate that matters: a gate feeding an output, to its complement."""
    c = c.copy()
    g = int(c.outputs[c.outputs >= c.num_inputs][0] - c.num_inputs) if g is None else g
    c.op[g] = 15 - c.op[g]           # complement of the truth table
    from gatelearn.circuit.ir import canonical_operands
    c.a, c.b = canonical_operands(c.op, c.a, c.b)
    return c.validate()


@needs_abc
@needs_yosys
def test_verify_names_the_changed_circuit(flow_run, tmp_path):
    run = copy_run(flow_run[0], tmp_path / "run")
    bad = flip_one_gate(runs.model_circuit(run))
    bad.save(run / runs.CIRCUIT_FILE)
    rep = verify(run)
    assert not rep.ok
    failed = {c.item for c in rep.failed}
    assert failed == {runs.CIRCUIT_FILE}
    assert "NOT EQUIVALENT" in rep.failed[0].detail.upper()
    assert main(["verify", str(run)]) == 1


@needs_abc
@needs_yosys
def test_verify_names_each_changed_artifact(flow_run, tmp_path):
    run = copy_run(flow_run[0], tmp_path / "run")
    art = run / runs.ARTIFACTS_DIR
    best = runs.best_circuit(run)
    net = best.copy()
    net.head = net.encoder = None
    aiger.write_aiger(flip_one_gate(net), art / "net.aig")
    # One gate of the Verilog network changed by hand: AND <-> OR on one line.
    v = (art / "gatelearn_model_pipe2.v").read_text()
    line = next(ln for ln in v.splitlines() if ln.startswith("  wire g") and " & " in ln and "~" not in ln)
    (art / "gatelearn_model_pipe2.v").write_text(v.replace(line, line.replace(" & ", " | "), 1))
    rep = verify(run, include_circuits=False)
    failed = {c.item for c in rep.failed}
    assert failed == {"artifacts/net.aig", "artifacts/gatelearn_model_pipe2.v"}, [c.to_dict() for c in rep.checks]


@needs_abc
@needs_yosys
def test_verify_catches_wrong_latency_and_unknown_files(flow_run, tmp_path):
    run = copy_run(flow_run[0], tmp_path / "run")
    art = run / runs.ARTIFACTS_DIR
    m = json.loads((art / MANIFEST).read_text())
    for e in m["artifacts"]:
        if e["file"] == "gatelearn_model_pipe2.v":
            e["spec"]["latency"] += 1
    (art / MANIFEST).write_text(json.dumps(m))
    (art / "stray.blif").write_text(".model s\n.inputs a\n.outputs f\n.names a f\n1 1\n.end\n")
    (art / "net.blif").unlink()
    (art / "net.aig").unlink()
    (art / "gatelearn_model.v").unlink()
    rep = verify(run, include_circuits=False)
    by_item = {}
    for c in rep.failed:
        by_item.setdefault(c.item, []).append(c.detail)
    assert "artifacts/stray.blif" in by_item
    assert any("registers" in d for d in by_item["artifacts/gatelearn_model_pipe2.v"])
    assert "missing" in by_item["artifacts/net.blif"][0]


@needs_iverilog
def test_iverilog_agrees_bit_for_bit(flow_run):
    run, model, _ = flow_run
    r = simulate_artifact(run, "gatelearn_model", "iverilog")
    assert r["testbench_errors"] == 0 and r["results"] == r["vectors"] == 64
    # The dumped results equal the software model and the torch model, count by count.
    art = run / runs.ARTIFACTS_DIR
    spec = verilog.HwSpec(**next(e for e in load_manifest(run)["artifacts"]
                                 if e["file"] == "gatelearn_model.v")["spec"])
    cls, cnt = parse_results((art / "gatelearn_model_results.txt").read_text(), spec)
    # the hardware values stand for x = m / 2^k (the thresholds are fractional: k > 0)
    assert spec.exact and min(spec.frac_bits) > 0
    x = hw_values(spec, read_hex_rows((art / "gatelearn_model_x.hex").read_text(), spec.features, spec.width))
    scls, scnt = reference_outputs(runs.model_circuit(run), x)
    assert (cnt == scnt).all() and (cls == scls).all()
    assert (cls == model.predict(torch.tensor(x, dtype=torch.float32)).numpy()).all()


@needs_verilator
@pytest.mark.slow
def test_verilator_runs_pipelined_testbench(flow_run):
    run, _, _ = flow_run
    r = simulate_artifact(run, "gatelearn_model_pipe2", "verilator")
    assert r["testbench_errors"] == 0 and r["results"] == 64 and r["class_agree"] == 64


@needs_iverilog
def test_testbench_detects_wrong_golden_vectors(flow_run, tmp_path):
    run = copy_run(flow_run[0], tmp_path / "run")
    f = run / runs.ARTIFACTS_DIR / "gatelearn_model_class.hex"
    lines = f.read_text().split()
    lines[3] = format((int(lines[3], 16) + 1) % 3, "x")
    f.write_text("\n".join(lines) + "\n")
    r = simulate_artifact(run, "gatelearn_model", "iverilog")
    assert r["testbench_errors"] == 1


@needs_abc
@needs_yosys
def test_report_figures(flow_run, capsys):
    run, _, opt = flow_run
    r = report(run)
    assert r["gates"] == runs.best_circuit(run).num_gates
    assert r["abc_ands"] > 0 and r["luts_network"] > 0 and r["lut_depth_network"] >= 1
    # popcount and argmax cost LUTs too; the network (mapped by ABC) is a black box in yosys's part
    assert r["luts_encoder_head"] > 0 and r["luts_full"] == r["luts_network"] + r["luts_encoder_head"]
    assert r["lut_depth_full"] > r["lut_depth_network"]
    # ABC's mapper on the network alone lands where yosys's whole flow on the network module does
    with tempfile.TemporaryDirectory() as tmp:
        v = Path(tmp) / "d.v"
        v.write_text(verilog.emit_verilog(runs.best_circuit(run), "gatelearn_model")[0])
        by_yosys = yosys.lut_map([v], "gatelearn_model_net")
    assert abs(by_yosys.luts - r["luts_network"]) <= 0.1 * by_yosys.luts
    assert r["pipeline_latency"]["gatelearn_model_pipe2"] == verilog.hw_spec(runs.best_circuit(run), "m", 2).latency
    assert main(["report", str(run), "--json", "--network-luts-only"]) == 0
    assert json.loads(capsys.readouterr().out)["gates"] == r["gates"]


@needs_abc
def test_cli_optimize_and_import(tmp_path, capsys):
    run = tmp_path / "run"
    make_run(run, seed=5)
    assert main(["optimize", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["proven"] is True
    # --from-model: ABC alone, on the lowered model before gatelearn's passes
    assert main(["optimize", str(run), "--json", "--from-model"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert raw["proven"] is True and raw["gates_before"] == runs.model_circuit(run).num_gates
    assert raw["ands_after"] <= raw["ands_naive"]
    # An external AIGER (written by ABC) imported and simulated: same function as the model.
    with_names = tmp_path / "ext.aig"
    c = runs.model_circuit(run)
    net = c.copy()
    net.head = net.encoder = None
    aiger.write_aiger(net, tmp_path / "in.aig")
    abc.optimize(tmp_path / "in.aig", with_names)
    assert main(["import", str(with_names), str(tmp_path / "ext.npz")]) == 0
    ext = Circuit.load(tmp_path / "ext.npz")
    bits = np.random.default_rng(0).random((300, c.num_inputs)) < 0.5
    assert (ext.simulate(bits) == c.simulate(bits)).all()


@needs_iverilog
def test_popcount_compressor_tree_counts_exactly(tmp_path):
    """The class popcounts (compressor trees) for group sizes that leave every kind of remainder:
    all-zero, all-one and random vectors, simulated with iverilog against NumPy."""
    import subprocess
    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 11, 13, 20, 37, 64, 100]
    rng = np.random.default_rng(0)
    for G in sizes:
        B = G.bit_length()
        spec = verilog.HwSpec("m", G, 1, True, 2, G, B, 1, 0, 0, 0)
        body = "\n".join(verilog._popcount_lines(spec, "bits", "counts"))
        vectors = np.concatenate([np.zeros((1, 2 * G), bool), np.ones((1, 2 * G), bool),
                                  rng.random((60, 2 * G)) < rng.random((60, 1))])
        (tmp_path / "v.hex").write_text("\n".join(format(int("".join("1" if b else "0" for b in v[::-1]), 2), "x")
                                                   for v in vectors) + "\n")
        (tmp_path / "t.v").write_text(
            f"module t; reg [{2 * G - 1}:0] mem [0:{len(vectors) - 1}]; reg [{2 * G - 1}:0] bits;\n"
            f"wire [{2 * B - 1}:0] counts; integer i;\n{body}\n"
            f"initial begin $readmemh(\"v.hex\", mem); for (i = 0; i < {len(vectors)}; i = i + 1) begin "
            f"bits = mem[i]; #1; $display(\"%0d %0d\", counts[0 +: {B}], counts[{B} +: {B}]); end end endmodule\n")
        subprocess.run(["iverilog", "-o", "t.vvp", "t.v"], cwd=tmp_path, check=True)
        out = subprocess.run(["vvp", "-n", "t.vvp"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout
        got = np.array([[int(v) for v in line.split()] for line in out.split("\n") if line.strip()])
        want = vectors.reshape(len(vectors), 2, G).sum(-1)
        assert np.array_equal(got, want), G


@needs_yosys
def test_lut_depth_counts_a_black_box_as_its_given_depth(tmp_path):
    """in -> LUT -> box (3 levels) -> LUT -> out: 2 LUTs counted, depth 1 + 3 + 1."""
    v = tmp_path / "t.v"
    v.write_text("module box(input wire [1:0] i, output wire [1:0] o); assign o = ~i; endmodule\n"
                 "module top(input wire [3:0] x, output wire y);\n"
                 "  wire [1:0] m; wire [1:0] n;\n"
                 "  assign m = {x[0] ^ x[1] ^ x[2], x[3] & x[2]};\n"
                 "  box b(.i(m), .o(n));\n"
                 "  assign y = n[0] | (n[1] & x[0]);\nendmodule\n")
    r = yosys.lut_map([v], "top", blackbox={"box": 3})
    assert (r.luts, r.depth) == (3, 5)
    flat = yosys.lut_map([v], "top")
    assert flat.depth < r.depth


@needs_abc
def test_lut_count_is_of_the_luts_a_device_needs(tmp_path):
    """Outputs: AND(a, b) twice, NAND(a, b), input a, constant 0. ABC's mapper gives each output
    its own node (5); a device needs two LUTs (the AND once, the NAND)."""
    f = tmp_path / "t.blif"
    f.write_text(".model t\n.inputs a b\n.outputs o1 o2 o3 o4 o5\n.names a b n\n11 1\n.names n o1\n1 1\n"
                 ".names n o2\n0 1\n.names a o3\n1 1\n.names o4\n.names n o5\n1 1\n.end\n")
    assert abc.lut_map(f, 6) == abc.LutStats(2, 1)
    # the counter itself: duplicates under other names, continuation lines, comments
    text = (".model m\n.inputs a b c\n.outputs x y z w\n.names a b \\\n c x # carry\n11- 1\n1-1 1\n"
            ".names a b c y\n1-1 1\n11- 1\n.names a z\n0 1\n.names w\n 1\n.end\n")
    assert abc.count_luts(text) == 1


def test_missing_tool_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GATELEARN_ABC", str(tmp_path / "no-abc"))
    with pytest.raises(ToolError, match=r"ABC is not installed.*apt-get install berkeley-abc"):
        abc.stats(tmp_path / "x.aig")
    monkeypatch.setenv("GATELEARN_YOSYS", str(tmp_path / "no-yosys"))
    with pytest.raises(ToolError, match="yosys is not installed"):
        yosys.lut_map([tmp_path / "x.v"], "top")


@needs_abc
def test_failing_and_timing_out_tool(tmp_path):
    bad = tmp_path / "bad.aig"
    bad.write_bytes(b"aig 1 0 0\n")
    with pytest.raises(ToolError, match="ABC"):
        abc.stats(bad)
    # A fake ABC that hangs: the timeout kills it and says what to do.
    fake = tmp_path / "slow-abc"
    fake.write_text("#!/bin/sh\nsleep 30\n")
    fake.chmod(0o755)
    import os
    old = os.environ.get("GATELEARN_ABC")
    os.environ["GATELEARN_ABC"] = str(fake)
    try:
        with pytest.raises(ToolError, match="timed out after 1 s"):
            abc.stats(bad, timeout=1)
    finally:
        if old is None:
            del os.environ["GATELEARN_ABC"]
        else:
            os.environ["GATELEARN_ABC"] = old


@needs_abc
def test_failed_optimize_writes_nothing(tmp_path, monkeypatch):
    run = tmp_path / "run"
    make_run(run, seed=2)
    with pytest.raises(ToolError):
        optimize(run, script="no_such_command")
    assert not (run / runs.ABC_CIRCUIT_FILE).exists()
    assert not list(run.glob(".*tmp"))


@needs_yosys
def test_yosys_failure_names_tool(tmp_path):
    v = tmp_path / "broken.v"
    v.write_text("module broken(input a, output b); assign b = ; endmodule\n")
    with pytest.raises(ToolError, match="yosys failed"):
        yosys.to_blif([v], "broken", tmp_path / "out.blif")
    assert not (tmp_path / "out.blif").exists()
