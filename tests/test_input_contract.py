"""One input contract for every runner: the torch model, the C library and the NumPy runner read
raw features under the same rules (shape, dtype, NaN, category codes, bits) and refuse a bad input
with the same message, through ``gatelearn predict``'s own code path (a run directory)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn.circuit.inputs import InputContract
from gatelearn.circuit.ir import Circuit
from gatelearn.circuit.passes import optimize
from gatelearn.cli.predict import predict
from gatelearn.errors import InputError
from gatelearn.lowering import lower

TARGETS = ("torch", "numpy", "c")

# Adult-like columns: a 4-category code, a number (2 thresholds), a 3-category code.
TABULAR = {"encoder": {"kind": "tabular", "columns": [{"kind": "onehot", "categories": 4},
                                                      {"kind": "thresholds", "per_feature": 2},
                                                      {"kind": "onehot", "categories": 3}]},
           "layers": [{"kind": "logic", "out": 24, "init": "gaussian"},
                      {"kind": "logic", "out": 12, "init": "gaussian"}],
           "head": {"kind": "groupsum", "classes": 2, "tau": 2.0}, "seed": 0}
BITS = {"encoder": {"kind": "bits", "features": 5},
        "layers": [{"kind": "logic", "out": 12, "init": "gaussian"}],
        "head": {"kind": "groupsum", "classes": 3, "tau": 1.0}, "seed": 1}


def _save(tmp_path_factory, spec, name):
    d = tmp_path_factory.mktemp(name)
    model = gatelearn.build_model(spec)
    for enc in getattr(model.encoder, "encoders", []):
        if hasattr(enc, "thresholds"):
            enc.thresholds.copy_(torch.tensor([[-1.0, 0.5]]))
    gatelearn.save(model, d)
    return d


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    return _save(tmp_path_factory, TABULAR, "tabular")


@pytest.fixture(scope="module")
def bits_run(tmp_path_factory):
    return _save(tmp_path_factory, BITS, "bits")


def _message(run, x, target) -> str:
    with pytest.raises(InputError) as info:
        predict(run, x, target)
    return str(info.value)


GOOD = np.array([[0, 0.3, 2], [3, -5.0, 0], [1, 1e30, 1], [2, -np.inf, 2], [2.0000000001, 7, 0]])
BAD = {
    "category code out of range": (np.array([[0, 0.3, 2], [999, 0.0, 1]]), r"feature 0.*999.*codes 0\.\.3"),
    "fractional category code": (np.array([[2.5, 0.3, 2]]), r"feature 0.*2\.5.*codes 0\.\.3"),
    "negative category code": (np.array([[1, 0.3, -1]]), r"feature 2.*-1.*codes 0\.\.2"),
    "infinite category code": (np.array([[np.inf, 0.3, 1]]), r"feature 0.*inf"),
    "NaN": (np.array([[1, np.nan, 1], [1, 2, 1]]), r"NaN.*rows \[0\]"),
    "NaN in a category column": (np.array([[1, 0, 1], [np.nan, 2, 1]]), r"NaN.*rows \[1\]"),
    "too few columns": (np.zeros((2, 2)), r"shape \(N, 3\).*\(2, 2\)"),
    "too many columns": (np.zeros((2, 4)), r"shape \(N, 3\).*\(2, 4\)"),
    "3-D": (np.zeros((2, 3, 1)), r"shape \(N, 3\)"),
    "strings": (np.array([["1", "0", "1"]]), "dtype <U1"),
    "complex": (np.ones((1, 3), np.complex64), "dtype complex64"),
    "uint8 code out of range": (np.array([[200, 0, 1]], np.uint8), r"feature 0.*200"),
}


def test_good_inputs_give_the_same_classes_everywhere(tabular_run):
    results = {t: predict(tabular_run, GOOD, t) for t in TARGETS}
    for t in TARGETS:
        assert (results[t][1] == results["torch"][1]).all(), t
    # integer counts (C, NumPy) are the model's scores times tau
    for t in ("numpy", "c"):
        assert np.array_equal(results[t][0], results["torch"][0] * 2.0), t


@pytest.mark.parametrize("case", BAD)
def test_every_target_refuses_a_bad_input_with_one_message(tabular_run, case):
    x, pattern = BAD[case]
    messages = {t: _message(tabular_run, x, t) for t in TARGETS}
    assert len(set(messages.values())) == 1, messages
    import re
    assert re.search(pattern, messages["c"]), messages["c"]
    assert "\n" not in messages["c"]


@pytest.mark.parametrize("x", [np.array([[0, 1, 2, 0, 1]]), np.array([[0, 1, 0.5, 0, 1]]),
                               np.array([[0, 1, 1, 0, -1]])])
def test_bit_inputs_must_be_bits_everywhere(bits_run, x):
    messages = {t: _message(bits_run, x, t) for t in TARGETS}
    assert len(set(messages.values())) == 1, messages
    assert "0 or 1" in messages["c"]


def test_bit_inputs_accepted_everywhere(bits_run):
    x = np.random.default_rng(0).integers(0, 2, (50, 5))
    classes = [predict(bits_run, x.astype(dtype), t)[1] for t in TARGETS for dtype in (np.uint8, bool, np.float64)]
    assert all((c == classes[0]).all() for c in classes)


def test_the_contract_travels_with_the_circuit(tmp_path):
    model = gatelearn.build_model(TABULAR)
    contract = model.encoder.contract
    assert contract.categories.tolist() == [4, 0, 3]
    c = lower(model)
    assert InputContract.of(c) == contract
    c.save(tmp_path / "c.npz")
    assert InputContract.of(Circuit.load(tmp_path / "c.npz")) == contract
    assert InputContract.of(optimize(c)[0]) == contract
    bits = lower(gatelearn.build_model(BITS))
    assert bits.encoder is None and InputContract.of(bits).categories.tolist() == [2] * 5


def test_the_torch_encoders_check_the_same_contract():
    model = gatelearn.build_model(TABULAR).eval()
    x = torch.tensor([[999.0, 0.0, 1.0]])
    with pytest.raises(InputError) as torch_error:
        model(x)
    with pytest.raises(InputError) as contract_error:
        model.encoder.contract.check(x.numpy())
    assert str(torch_error.value) == str(contract_error.value)
    # float64 tensors compare in float32, as every backend does
    assert model(torch.tensor([[2.0000000001, 0.0, 1.0]], dtype=torch.float64)).shape == (1, 2)
