"""The foundation layers: gate table, parametrizations, wiring, LogicLayer modes and errors, and
saving / loading models with their wiring."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import gates, kernels
from gatelearn.errors import InputError
from gatelearn.layers import GroupSum, LogicLayer
from gatelearn.layers import parametrization as P
from gatelearn.layers.wiring import make_wiring

# The 16 gates as Table 1 of Petersen et al. 2022 lists them, typed in independently of gates.py on
# purpose: id -> (name as in the paper, c0, ca, cb, cab).
PAPER_TABLE = {
    0: ("FALSE", 0, 0, 0, 0), 1: ("a AND b", 0, 0, 0, 1), 2: ("a AND NOT b", 0, 1, 0, -1),
    3: ("a", 0, 1, 0, 0), 4: ("NOT a AND b", 0, 0, 1, -1), 5: ("b", 0, 0, 1, 0),
    6: ("XOR", 0, 1, 1, -2), 7: ("OR", 0, 1, 1, -1), 8: ("NOR", 1, -1, -1, 1),
    9: ("XNOR", 1, -1, -1, 2), 10: ("NOT b", 1, 0, -1, 0), 11: ("a OR NOT b", 1, 0, -1, 1),
    12: ("NOT a", 1, -1, 0, 0), 13: ("NOT a OR b", 1, -1, 0, 1), 14: ("NAND", 1, 0, 0, -1),
    15: ("TRUE", 1, 0, 0, 0),
}
PARAMS = ["softmax16", "light", "walsh"]


def test_gate_table_matches_paper_table():
    assert len(gates.GATES) == gates.NUM_GATES == 16
    for g in gates.GATES:
        assert g.coeffs == PAPER_TABLE[g.id][1:], g.name
        assert tuple(gates.COEFFS_NP[g.id]) == g.coeffs
        # the relaxation reproduces the truth table at the corners, and the id is the truth
        # table read with (0, 0) as the most significant bit
        c0, ca, cb, cab = g.coeffs
        for a, b in itertools.product((0, 1), repeat=2):
            assert c0 + ca * a + cb * b + cab * a * b == g(a, b)
        assert gates.gate_id_from_truth(*g.truth) == g.id
    assert gates.PASS_A == 3 and gates.GATES[3].truth == (0, 0, 1, 1)


def test_gate_bitwise_expressions_agree_with_truth_tables():
    a = np.array([0b0011], dtype=np.uint8)
    b = np.array([0b0101], dtype=np.uint8)
    for g in gates.GATES:
        word = int(gates.evaluate_np(g.id, a, b)[0]) & 0b1111
        for bit, (va, vb) in enumerate([(1, 1), (1, 0), (0, 1), (0, 0)]):
            assert (word >> bit) & 1 == g(va, vb), (g.name, va, vb)


def _truth_table_eval(gate_ids: torch.Tensor, idx_a, idx_b, x: torch.Tensor) -> torch.Tensor:
    """Evaluate every gate by looking up gates.GATES truth tables: the discrete spec."""
    truth = torch.tensor([g.truth for g in gates.GATES])          # (16, 4), rows 00 01 10 11
    a = x[:, idx_a].long()
    b = x[:, idx_b].long()
    return truth[gate_ids.unsqueeze(0).expand_as(a), 2 * a + b].to(x.dtype)


@pytest.mark.parametrize("parametrization", PARAMS)
@pytest.mark.parametrize("fused", [True, False])
def test_eval_equals_truth_tables_exactly(parametrization, fused):
    if fused and not kernels.fused_available():
        pytest.skip(f"fused kernel unavailable: {kernels.fused_unavailable_reason()}")
    layer = LogicLayer(10, 200, parametrization=parametrization, init="gaussian", seed=3).eval()
    ids = layer.gate_ids()
    assert len(ids.unique()) > 10      # gaussian init reaches most gates
    x = torch.tensor(list(itertools.product((0.0, 1.0), repeat=10)))[::7]   # 147 distinct inputs
    with torch.no_grad(), kernels.use_fused(fused):
        y = layer(x)
    assert torch.equal(y, _truth_table_eval(ids, layer.idx_a, layer.idx_b, x))


def _row_logits_from_field(parametrization: str, w: torch.Tensor) -> torch.Tensor:
    """Logit of 'output is 1' for rows (a, b) = 00, 01, 10, 11, from the paper's definitions."""
    if parametrization == "light":
        return w
    rows = []
    for a, b in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        A, B = 1 - 2 * a, 1 - 2 * b
        z = w[:, 0] + w[:, 1] * B + w[:, 2] * A + w[:, 3] * A * B
        rows.append(-z)                           # y = sigmoid(-z)
    return torch.stack(rows, dim=1)


@pytest.mark.parametrize("parametrization", PARAMS)
def test_hard_ids_agree_with_relaxed_coefficients_at_extremes(parametrization):
    torch.manual_seed(0)
    w = torch.randn(500, P.num_params(parametrization), dtype=torch.float64) * 1000
    coeffs = P.coefficients(parametrization, w)
    hard = P.hard_gate_ids(parametrization, w)
    if parametrization == "softmax16":
        top2 = w.topk(2, dim=1).values
        sure = (top2[:, 0] - top2[:, 1]) > 30
    else:
        logits = _row_logits_from_field(parametrization, w)
        sure = logits.abs().min(dim=1).values > 30
        expected = ((logits > 0).long() * torch.tensor([8, 4, 2, 1])).sum(1)
        assert torch.equal(hard, expected)
    assert sure.sum() > 400
    table = gates.coeffs_tensor(torch.float64)
    torch.testing.assert_close(coeffs[sure], table[hard[sure]], rtol=0, atol=1e-9)


@pytest.mark.parametrize("parametrization", PARAMS)
def test_residual_init_is_close_to_pass_through_a(parametrization):
    layer = LogicLayer(30, 100, parametrization=parametrization, init="residual", seed=0).train()
    assert (layer.gate_ids() == gates.PASS_A).all()
    c = layer.coefficients().detach()
    # no dependence on b, nearly y = a
    assert c[:, 2].abs().max() < 1e-6 and c[:, 3].abs().max() < 1e-6
    x = torch.rand(16, 30)
    y = layer(x).detach()
    assert (y - x[:, layer.idx_a]).abs().max() < 0.06


def test_gumbel_sampling_is_one_hard_gate_per_neuron_with_soft_gradient():
    for parametrization in PARAMS:
        w = torch.randn(50, P.num_params(parametrization), requires_grad=True)
        torch.manual_seed(1)
        c = P.coefficients(parametrization, w, sampling="gumbel")
        # forward values are exactly table rows (hard sample), gradient still reaches w
        table = gates.coeffs_tensor()
        match = (c.detach().unsqueeze(1) - table.unsqueeze(0)).abs().amax(-1).min(1).values
        assert match.max() < 1e-5, parametrization
        c.sum().backward()
        assert w.grad.abs().sum() > 0


def test_eval_rejects_non_binary_input():
    layer = LogicLayer(8, 16, seed=0).eval()
    with pytest.raises(InputError, match="binary"):
        layer(torch.full((2, 8), 0.5))
    layer.train()
    layer(torch.full((2, 8), 0.5))      # relaxed inputs are fine in training


def test_wrong_shape_or_dtype_raise_input_error():
    layer = LogicLayer(8, 16, seed=0)
    with pytest.raises(InputError, match=r"\(batch, 8\)"):
        layer(torch.rand(2, 9))
    with pytest.raises(InputError, match=r"\(batch, 8\)"):
        layer(torch.rand(8))
    with pytest.raises(InputError, match="floating-point"):
        layer(torch.ones(2, 8, dtype=torch.int64))
    with pytest.raises(InputError):
        GroupSum(3)(torch.rand(2, 10))


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="parametrization"):
        LogicLayer(4, 4, parametrization="nope")
    with pytest.raises(ValueError, match="unique"):
        LogicLayer(100, 10, connections="unique")
    with pytest.raises(ValueError, match="gumbel_tau"):
        LogicLayer(4, 4, gumbel_tau=0)


def test_wiring_random_balanced_and_unique_has_distinct_pairs():
    g = torch.Generator().manual_seed(0)
    a, b = make_wiring(50, 80, "random", g)
    counts = torch.bincount(torch.cat([a, b]), minlength=50)
    assert counts.max() - counts.min() <= 1            # 160 slots over 50 inputs: 3 or 4 each
    a, b = make_wiring(40, 300, "unique", g)
    assert (a != b).all()
    pairs = {tuple(sorted(p)) for p in zip(a.tolist(), b.tolist())}
    assert len(pairs) == 300
    assert set(torch.cat([a, b]).tolist()) == set(range(40))


def _small_spec(parametrization="softmax16", seed=7):
    return {"encoder": {"kind": "bits", "features": 12},
            "layers": [{"kind": "logic", "out": 40, "parametrization": parametrization, "init": "gaussian"},
                       {"kind": "logic", "out": 30, "parametrization": parametrization, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 2.0}, "seed": seed}


@pytest.mark.parametrize("parametrization", PARAMS)
def test_save_load_round_trip_identical_outputs(tmp_path, parametrization):
    model = gatelearn.build_model(_small_spec(parametrization))
    keys = model.state_dict().keys()
    assert {"layers.0.idx_a", "layers.0.idx_b", "layers.1.idx_a", "layers.1.idx_b"} <= set(keys)
    x = torch.randint(0, 2, (25, 12)).float()
    gatelearn.save(model, tmp_path / "run")
    loaded = gatelearn.load(tmp_path / "run")
    assert not loaded.training
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
        model.train(), loaded.train()
        assert torch.equal(model(x), loaded(x))
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_state_dict_loads_with_weights_only_and_restores_wiring(tmp_path):
    model = gatelearn.build_model(_small_spec(seed=7)).eval()
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    state = torch.load(tmp_path / "sd.pt", weights_only=True)
    # a model built with another seed has another wiring; loading the state dict must carry the
    # wiring over (its absence dropped accuracy to chance in other tools)
    other = gatelearn.build_model(_small_spec(seed=8)).eval()
    assert not torch.equal(other.layers[0].idx_a, model.layers[0].idx_a)
    x = torch.randint(0, 2, (40, 12)).float()
    with torch.no_grad():
        other(x)                         # run once so any cached kernel wiring exists
        other.load_state_dict(state)
        assert torch.equal(other(x), model(x))


def test_groupsum_feature_major_view_gives_same_scores_and_grads():
    """The fused logic kernel hands GroupSum a transposed view; the result must not depend on it."""
    from gatelearn.layers import GroupSum
    head = GroupSum(5, tau=3.0)
    base = torch.rand(7, 40, dtype=torch.float64)               # (batch, n)
    weights = torch.arange(5.0, dtype=torch.float64)
    results = []
    for x in (base.clone(), base.t().contiguous().t()):        # batch-major, then feature-major storage
        x.requires_grad_(True)
        y = head(x)
        (g,) = torch.autograd.grad((y * weights).sum(), x)
        results.append((y.detach(), g))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    assert results[1][1].t().is_contiguous()     # the gradient goes back to the kernel feature-major


@pytest.mark.parametrize("connections", ["random", "unique"])
def test_gates_ordered_for_locality_compute_the_same_network(monkeypatch, connections):
    """build_model numbers the gates of dense layers so that idx_a is sorted (the kernels then
    stream operand a); the network must be the one built without that, gate for gate."""
    import copy

    import gatelearn.model as model_module
    from gatelearn.layers.wiring import order_gates_for_locality
    spec = {"encoder": {"kind": "bits", "features": 24},
            "layers": [{"kind": "logic", "out": 40, "init": "gaussian", "connections": connections}
                       for _ in range(3)],
            "head": {"kind": "groupsum", "classes": 4, "tau": 2.0}, "seed": 3}
    built = gatelearn.build_model(spec)
    monkeypatch.setattr(model_module, "order_gates_for_locality", lambda layers, classes: None)
    plain = gatelearn.build_model(spec)
    ordered = copy.deepcopy(plain)
    order_gates_for_locality(ordered.layers, ordered.classes)
    for k, v in built.state_dict().items():
        assert torch.equal(v, ordered.state_dict()[k]), k
    l0, l1, l2 = ordered.layers
    assert (l0.idx_a.diff() >= 0).all() and (l1.idx_a.diff() >= 0).all()
    assert (l2.idx_a.view(4, 10).diff(dim=1) >= 0).all()           # last layer: within each class
    assert not torch.equal(l0.idx_a, plain.layers[0].idx_a)          # it did renumber
    x = torch.randint(0, 2, (16, 24)).float()
    for mode in ("train", "eval"):
        getattr(plain, mode)(), getattr(ordered, mode)()
        torch.testing.assert_close(ordered(x), plain(x), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("parametrization", P.PARAMETRIZATIONS)
def test_truth_table_and_discreteness_penalty(parametrization):
    # A strongly initialised gate is (almost) the discrete gate `a`: its expected truth table is
    # `a`'s and the penalty is near 0; zero parameters are maximally undecided (for light/walsh
    # every row is a coin flip, penalty 1; for softmax16 every row has 8 of 16 gates, also 1).
    from gatelearn.gates import PASS_A, truth_rows
    w = P.init_weights(parametrization, "residual", 3) * 4
    table = P.truth_table(parametrization, w)
    assert table.shape == (3, 4)
    assert torch.allclose(table, torch.tensor([truth_rows(PASS_A)] * 3, dtype=torch.float32), atol=1e-3)
    assert P.discreteness_penalty(parametrization, w).item() < 1e-2
    zero = torch.zeros(3, P.num_params(parametrization), requires_grad=True)
    penalty = P.discreteness_penalty(parametrization, zero)
    assert penalty.item() == pytest.approx(1.0)
    # the relaxation and the truth table agree: c0 + ca a + cb b + cab ab at the four corners
    w = torch.randn(5, P.num_params(parametrization))
    c = P.coefficients(parametrization, w)
    corners = torch.stack([c[:, 0], c[:, 0] + c[:, 2], c[:, 0] + c[:, 1], c.sum(1)], 1)
    assert torch.allclose(corners, P.truth_table(parametrization, w), atol=1e-5)


@pytest.mark.parametrize("parametrization", P.PARAMETRIZATIONS)
def test_hard_weights_relax_to_exactly_their_gates(parametrization):
    ids = torch.arange(16).repeat(2)
    w = P.hard_weights(parametrization, ids)
    assert torch.equal(P.hard_gate_ids(parametrization, w), ids)
    truth = torch.tensor(gates.TRUTH_NP, dtype=torch.float32)[ids]
    assert torch.allclose(P.truth_table(parametrization, w), truth, rtol=0, atol=1e-12)
    coeffs = torch.tensor(gates.COEFFS_NP, dtype=torch.float32)[ids]
    assert torch.allclose(P.coefficients(parametrization, w), coeffs, rtol=0, atol=1e-12)
