"""Two cases benchmarks/bad_inputs.py found.

* A finite float64 too large for float32 (1e300): every backend compares in float32, where it is
  an infinity. For a real-valued feature that is a valid input, classified as the torch model
  classifies it (its float32 cast gives inf), without NumPy's overflow RuntimeWarning; for a
  category feature it is no code, refused with a message naming the value given (1e+300, not inf).
* A manifest with an entry of an unknown ``kind``, or of another ``format``, used to pass
  ``gatelearn verify`` (exit 0)."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import runs
from gatelearn.backends import compile_circuit
from gatelearn.circuit.inputs import InputContract
from gatelearn.cli.main import main
from gatelearn.errors import InputError
from gatelearn.flows.export import export
from gatelearn.lowering import lower
from gatelearn.tools import abc
from test_input_contract import TABULAR  # the same tabular model as the contract tests


@pytest.fixture(scope="module")
def tabular():
    model = gatelearn.build_model(TABULAR)
    for enc in model.encoder.encoders:
        if hasattr(enc, "thresholds"):
            enc.thresholds.copy_(torch.tensor([[-1.0, 0.5]]))
    model.eval()
    return model, compile_circuit(lower(model), "numpy")


def _no_warnings(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


# ---------------------------------------------------------------- values beyond float32's range
@pytest.mark.parametrize("big, same_as", [(1e300, np.inf), (-1e300, -np.inf), (3.5e38, np.inf),
                                          (np.finfo(np.float64).max, np.inf)])
def test_huge_real_values_are_read_as_float32_reads_them(tabular, big, same_as):
    model, prog = tabular
    rows = np.array([[0, big, 2], [3, big, 0], [1, big, 1]])
    ref = rows.copy()
    ref[:, 1] = same_as
    got = _no_warnings(prog.run, rows)
    want = prog.run(ref)
    assert np.array_equal(got.scores, want.scores) and np.array_equal(got.classes, want.classes)
    torch_classes = _no_warnings(model.predict, torch.from_numpy(rows)).numpy()
    assert np.array_equal(torch_classes, got.classes)
    assert np.array_equal(rows[:, 1], [big] * 3)            # the caller's array is left alone


def test_huge_category_code_is_refused_with_its_own_value(tabular):
    model, prog = tabular
    rows = np.array([[1, 0.3, 2], [1e300, 0.3, 1]])
    for run in (prog.run, lambda x: model.predict(torch.from_numpy(x))):
        with pytest.raises(InputError) as info:
            _no_warnings(run, rows)
        msg = str(info.value)
        assert "raw feature 0 is 1e+300 in row 1" in msg and "inf" not in msg
        assert "\n" not in msg


def test_contract_keeps_ordinary_arrays_and_values_as_given():
    contract = InputContract(np.array([0, 4], np.int64))
    x = np.array([[1e30, 2.0], [-np.inf, 3.0]])
    assert contract.check(x) is x                            # nothing beyond float32: no copy
    with pytest.raises(InputError, match=r"is 2\.5000000001 in row 0"):
        contract.check(np.array([[0.0, 2.5000000001]]))
    with pytest.raises(InputError, match=r"is 999 in row 0"):
        contract.check(np.array([[0.0, 999.0]]))
    with pytest.raises(InputError, match=r"is -1e\+20 in row 0"):
        contract.check(np.array([[0.0, -1e20]]))
    checked = _no_warnings(contract.check, np.array([[1e39, 1.0]]))
    assert checked[0, 0] == np.inf and checked.dtype == np.float64


# ---------------------------------------------------------------- hand-edited manifests
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run = tmp_path_factory.mktemp("manifest") / "run"
    spec = {"encoder": {"kind": "thresholds", "features": 3, "per_feature": 1},
            "layers": [{"kind": "logic", "out": 12, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": 0}
    m = gatelearn.build_model(spec)
    with torch.no_grad():
        m.encoder.thresholds.copy_(torch.tensor([[10.0], [20.0], [30.0]]))
    gatelearn.save(m, run)
    runs.model_circuit(run).save(run / runs.CIRCUIT_FILE)     # as training leaves it: a circuit to prove
    export(run, formats=("aiger",))
    return run


def _edited(exported, tmp_path, change) -> object:
    run = shutil.copytree(exported, tmp_path / "run")
    f = run / "artifacts" / "manifest.json"
    m = json.loads(f.read_text())
    change(m)
    f.write_text(json.dumps(m))
    return run


def test_unknown_kind_fails_verify(exported, tmp_path, capsys):
    def change(m):
        (entry,) = [e for e in m["artifacts"] if e["file"] == "net.aig"]
        entry["kind"] = "mystery"
    run = _edited(exported, tmp_path, change)
    assert main(["verify", str(run)]) == 1       # was 0: circuit.npz proven, the entry skipped
    out = capsys.readouterr().out
    assert "FAILED    artifacts/manifest.json entry 0: manifest" in out
    assert "artifacts/net.aig has the unknown kind 'mystery'" in out
    assert "not listed in artifacts/manifest.json" not in out     # reported once, for its kind


@pytest.mark.parametrize("field, value, problem", [("format", "something-else", "its format is 'something-else'"),
                                                  ("format", None, "its format is None"),
                                                  ("version", 7, "its version is 7")])
def test_foreign_manifest_is_a_file_format_error(exported, tmp_path, capsys, field, value, problem):
    def change(m):
        if value is None:
            del m[field]
        else:
            m[field] = value
    run = _edited(exported, tmp_path, change)
    assert main(["verify", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(run / "artifacts" / "manifest.json") in err and problem in err
    assert "not a readable artifact manifest" in err


@pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")
def test_exported_manifest_still_verifies(exported, tmp_path):
    run = shutil.copytree(exported, tmp_path / "run")
    assert main(["verify", str(run)]) == 0
