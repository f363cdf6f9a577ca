"""The Verilog input format (fixed point with k fractional bits per feature), the proof's
reference built from the model's thresholds, and the names emitters accept.

A model on float features in [0, 1) with thresholds 0.25 / 0.5 / 0.75 used to get every
comparator ``x > 8'd0`` (an integer port), and ``verify`` proved it because its reference made the
same integer assumption.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import runs
from gatelearn.backends import emit, verilog
from gatelearn.backends.base import check_name
from gatelearn.backends.c.emit import CEmitter
from gatelearn.backends.np.emit import NumpyEmitter
from gatelearn.cli.main import main
from gatelearn.errors import InputError
from gatelearn.flows.export import export
from gatelearn.flows.manifest import MANIFEST, load_manifest
from gatelearn.flows.simulate import simulate_artifact
from gatelearn.flows.verify import verify
from gatelearn.lowering import lower
from gatelearn.tools import abc, sim, yosys
from gatelearn.verification.agreement import model_counts
from gatelearn.verification.reference import format_problems, hardware_bits
from gatelearn.verification.testbench import parse_results, to_hw_features

needs_tools = pytest.mark.skipif(not (abc.available() and yosys.available()),
                                 reason="ABC and yosys are needed (apt-get install berkeley-abc yosys)")
needs_iverilog = pytest.mark.skipif(not sim.available("iverilog"),
                                    reason="Icarus Verilog (apt-get install iverilog) is not installed")

QUARTERS = [0.25, 0.5, 0.75]


def unit_model(thresholds=QUARTERS, features=4, seed=0):
    """A small model on features in [0, 1): the same thresholds for every feature."""
    spec = {"encoder": {"kind": "thresholds", "features": features, "per_feature": len(thresholds)},
            "layers": [{"kind": "logic", "out": 48, "init": "gaussian"},
                       {"kind": "logic", "out": 12, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": seed}
    m = gatelearn.build_model(spec)
    with torch.no_grad():
        m.encoder.thresholds.copy_(torch.tensor([thresholds] * features, dtype=torch.float32))
    return m


def unit_inputs(n=500, features=4, seed=1):
    """Floats in [0, 1), with every threshold and its neighbours among them."""
    x = np.random.default_rng(seed).random((n, features)).astype(np.float32)
    edges = np.array([0.0, 0.25, 0.5, 0.75, np.nextafter(np.float32(0.25), 1), np.nextafter(np.float32(0.5), 0)],
                     np.float32)
    x[:len(edges)] = edges[:, None]
    return x


def emulate(circuit, spec, hx):
    """The emitted comparators (encoder_constants) on hardware values: what the Verilog computes."""
    bits = np.zeros((len(hx), circuit.num_inputs), bool)
    for i, (kind, c) in enumerate(verilog.encoder_constants(circuit, spec.width, spec.frac_bits)):
        col = hx[:, circuit.encoder.feature[i]].astype(np.int64)
        bits[:, i] = bool(c) if kind == "const" else (col > c) if kind == "gt" else (col == c)
    return bits


# ------------------------------------------------------------------------------ the format
def test_fractional_thresholds_get_a_scale_that_is_exact():
    c = lower(unit_model())
    spec = verilog.hw_spec(c)
    assert spec.frac_bits == [2] * 4 and spec.grid_only == [] and spec.width == 8
    assert [k for k, _ in verilog.encoder_constants(c, spec.width, spec.frac_bits)[:3]] == ["gt"] * 3
    assert [v for _, v in verilog.encoder_constants(c, spec.width, spec.frac_bits)[:3]] == [1, 2, 3]
    x = unit_inputs()
    hx = to_hw_features(c, spec, x)
    assert (hx == np.ceil(x.astype(np.float64) * 4)).all()
    # exact for every input, on the grid or not: the emitted comparators and the reference's
    # rules both give the model's bits
    want = c.encoder.encode(x)
    assert (emulate(c, spec, hx) == want).all()
    assert (hardware_bits(c, spec, hx) == want).all()
    text = verilog.emit_verilog(c, "m")[0]
    assert "(x[0 +: 8] > 8'd1)" in text and "ceil(x_f * 2^k_f)" in text and "k = 2 for every feature" in text
    assert "x > 8'd0" not in text.replace("x[0 +: 8]", "x")


def test_integer_thresholds_keep_raw_integers():
    """MNIST-like thresholds (127) keep W = 8 and no scale: the raw uint8 pixel."""
    m = unit_model([127.0, 200.0])
    spec = verilog.hw_spec(lower(m))
    assert spec.frac_bits == [0] * 4 and spec.width == 8 and spec.exact


def test_coarser_grids_are_recorded_or_refused():
    c = lower(unit_model([0.3, 0.6]))
    exact = verilog.hw_spec(c)
    assert exact.exact and exact.frac_bits[0] > 20          # float32 0.3 is exact with 25 bits
    coarse = verilog.hw_spec(c, frac_bits=4)
    assert coarse.frac_bits == [4] * 4 and coarse.grid_only == [0, 1, 2, 3]
    text = verilog.emit_verilog(c, "m", frac_bits=4)[0]
    assert "exact only on the grid" in text
    # the coarse format is exactly the model on its grid points
    grid = np.arange(0, 40)[:, None].repeat(4, 1)
    assert (emulate(c, coarse, grid) == c.encoder.encode(grid / 16.0)).all()
    with pytest.raises(InputError, match=r"feature 0: thresholds 0\.3.* and 0\.6.* fall between the same two"):
        verilog.hw_spec(c, frac_bits=0)
    tiny = lower(unit_model([1e-3, 0.5]))
    with pytest.raises(InputError, match=r"feature 0: threshold 0\.001.* needs 33 fractional bits.*--frac-bits"):
        verilog.hw_spec(tiny)
    with pytest.raises(InputError, match="frac-bits must be in 0..64"):
        verilog.hw_spec(c, frac_bits=-1)


def test_format_claims_are_checked_against_the_model():
    c = lower(unit_model([0.3, 0.6]))
    coarse = verilog.hw_spec(c, frac_bits=4)
    assert format_problems(c, coarse) == []
    lying = verilog.hw_spec(c, frac_bits=4)
    lying.grid_only = []                                      # claims exactness it does not have
    assert any("not a multiple of 2^-4" in p for p in format_problems(c, lying))
    q = lower(unit_model())
    collapsed = verilog.hw_spec(q)
    collapsed.frac_bits = [0] * 4                             # what the old export did
    assert any("cannot tell them apart" in p for p in format_problems(q, collapsed))


def test_hardware_features_refuse_negatives_and_bad_rows():
    c = lower(unit_model())
    spec = verilog.hw_spec(c)
    with pytest.raises(InputError, match=r"raw feature 2 is -0\.5 in row 1; the hardware takes features >= 0"):
        to_hw_features(c, spec, np.array([[0, 0, 0, 0], [0, 0, -0.5, 0]]))
    with pytest.raises(InputError, match="NaN"):
        to_hw_features(c, spec, np.full((1, 4), np.nan))
    assert (to_hw_features(c, spec, np.full((1, 4), 1e30)) == 255).all()


# ------------------------------------------------------------------------------ the flow
@pytest.fixture(scope="module")
def unit_run(tmp_path_factory):
    if not (abc.available() and yosys.available()):
        pytest.skip("ABC and yosys are needed (apt-get install berkeley-abc yosys)")
    run = tmp_path_factory.mktemp("unit")
    model = unit_model()
    gatelearn.save(model, run)
    export(run, formats=("verilog",), vectors=64, x=unit_inputs(64))
    return run, model


@needs_tools
def test_fractional_model_is_proven_and_simulates_like_the_model(unit_run):
    run, model = unit_run
    entry = next(e for e in load_manifest(run)["artifacts"] if e["file"] == "gatelearn_model.v")
    assert entry["spec"]["frac_bits"] == [2] * 4 and entry["spec"]["grid_only"] == []
    rep = verify(run, include_circuits=False)
    assert rep.ok, [c.to_dict() for c in rep.failed]
    assert any("2 fractional bits, exact for every input" in c.what for c in rep.checks)
    if not sim.available("iverilog"):
        pytest.skip("Icarus Verilog (apt-get install iverilog) is not installed")
    r = simulate_artifact(run, "gatelearn_model", "iverilog")
    assert r["testbench_errors"] == 0 and r["results"] == 64
    # the simulated hardware on the scaled inputs equals the torch model on the float inputs
    spec = verilog.HwSpec(**entry["spec"])
    cls, cnt = parse_results((run / runs.ARTIFACTS_DIR / "gatelearn_model_results.txt").read_text(), spec)
    x = unit_inputs(64)
    assert np.array_equal(cnt, model_counts(model, x))
    assert (cls == model.predict(torch.from_numpy(x)).numpy()).all()


@needs_tools
def test_wrong_emitter_comparator_fails_verify(tmp_path, monkeypatch):
    """The reference comes from the model's thresholds: a comparator one off in the emitter
    (here: the old integer view, every constant floor(t) = 0) fails the proof."""
    run = tmp_path / "run"
    gatelearn.save(unit_model(), run)
    real = verilog.encoder_constants

    def wrong(circuit, width=None, frac_bits=None):
        return [(k, c - 1) if k == "gt" and c > 1 else (k, c) for k, c in real(circuit, width, frac_bits)]
    monkeypatch.setattr(verilog, "encoder_constants", wrong)
    export(run, formats=("verilog",), vectors=16)
    monkeypatch.undo()
    rep = verify(run, include_circuits=False)
    assert not rep.ok
    assert {c.item for c in rep.failed} == {"artifacts/gatelearn_model.v"}
    assert any(c.status == "FAILED" and "encoder" in c.what for c in rep.failed)


@needs_tools
def test_integer_format_of_old_exports_fails_verify(unit_run, tmp_path):
    """A manifest claiming the old integer format (0 fractional bits) for the [0, 1) model is
    refused: its thresholds cannot be told apart."""
    import shutil
    run = tmp_path / "run"
    shutil.copytree(unit_run[0], run)
    f = run / runs.ARTIFACTS_DIR / MANIFEST
    m = json.loads(f.read_text())
    for e in m["artifacts"]:
        if e["kind"] == "verilog":
            del e["spec"]["frac_bits"], e["spec"]["grid_only"]
    f.write_text(json.dumps(m))
    rep = verify(run, include_circuits=False)
    assert [c.item for c in rep.failed] == ["artifacts/gatelearn_model.v"]
    assert "cannot tell them apart" in rep.failed[0].detail


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize("name, target, msg", [
    ("é", "verilog", "not an ASCII identifier"),
    ("module", "verilog", "Verilog / SystemVerilog keyword"),
    ("always_ff", "verilog", "keyword"),
    ("logic", "verilog", "keyword"),
    ("1net", "verilog", "not an ASCII identifier"),
    ("a b", "c", "not an ASCII identifier"),
    ("", "numpy", "non-empty"),
    ("int", "c", "C keyword"),
    ("_net", "c", "starts with '_'"),
    ("class", "numpy", "Python keyword"),
    ("numpy", "numpy", "shadow"),
    ("os", "numpy", "shadow"),
    ("x" * 101, "verilog", "at most 100"),
])
def test_bad_names_are_refused(name, target, msg):
    with pytest.raises(InputError, match=msg):
        check_name(name, target)


def test_every_emitter_checks_its_name():
    c = lower(unit_model())
    for bad, target in (("module", "verilog"), ("é", "c"), ("import", "numpy"), ("a/b", "aiger"), ("a b", "blif")):
        with pytest.raises(InputError, match="identifier|keyword"):
            emit(c, target, bad)
    with pytest.raises(InputError, match="keyword"):
        verilog.emit_verilog(c, "wire")
    with pytest.raises(InputError, match="C keyword"):
        CEmitter().emit(c, "static")
    with pytest.raises(InputError, match="Python keyword"):
        NumpyEmitter().emit(c, "lambda")
    assert check_name("Module", "verilog") == "Module"        # keywords are lower case


@pytest.mark.parametrize("name", ["é", "module", "gatelearn_model;", "class"])
def test_export_with_a_bad_name_writes_nothing(tmp_path, capsys, name):
    run = tmp_path / "run"
    gatelearn.save(unit_model(), run)
    assert main(["export", str(run), "--formats", "aiger,verilog", "--vectors", "8"]) == 0
    art = run / runs.ARTIFACTS_DIR
    before = {p.name: p.read_bytes() for p in art.iterdir()}
    capsys.readouterr()
    assert main(["export", str(run), "--name", name, "--vectors", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Verilog module name" in err[0]
    assert {p.name: p.read_bytes() for p in art.iterdir()} == before
    with pytest.raises(InputError, match="vectors"):
        export(run, vectors=0)
    with pytest.raises(InputError, match="pipeline"):
        export(run, pipeline=-1)
    assert {p.name: p.read_bytes() for p in art.iterdir()} == before
