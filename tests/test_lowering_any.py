"""Lowering any chain of gatelearn modules (issue #25): nn.Sequential compositions with or without
an encoder and a head, the binary head (spec, files, training, lowering), the refusal of
GroupSum(1), heads lowered into gates, and the gate-level arithmetic they are built from
(gatelearn.circuit.arith), checked bit for bit against NumPy and the models' own eval()."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import gatelearn
from gatelearn.backends import compile_circuit
from gatelearn.backends.common import encoding
from gatelearn.circuit import arith, optimize
from gatelearn.circuit.builder import CircuitBuilder
from gatelearn.circuit.ir import USES_A, USES_B, Circuit
from gatelearn.circuit.passes import remove_dead
from gatelearn.data import Dataset
from gatelearn.errors import InputError
from gatelearn.gates import BY_NAME
from gatelearn.layers import (
    BinaryHead,
    BitInput,
    GroupSum,
    LogicConv2d,
    LogicLayer,
    OneHotEncoder,
    OrPool2d,
    ThresholdEncoder,
)
from gatelearn.lowering import lower
from gatelearn.model import build_model, load, save
from gatelearn.training import make_config, train

N = 300     # random samples per check
CONSTANTS = [BY_NAME["FALSE"].id, BY_NAME["TRUE"].id]


# ------------------------------------------------------------------------ helpers

def bits_of(values: np.ndarray, width: int) -> np.ndarray:
    """Integers (...) -> their bits (width, ...), least significant first."""
    return (np.asarray(values)[None] >> np.arange(width).reshape(-1, *[1] * np.ndim(values))) & 1


def value_of(bits: np.ndarray) -> np.ndarray:
    """Bits (..., W) of simulated outputs, least significant first -> integers (...)."""
    return (np.asarray(bits, np.int64) << np.arange(bits.shape[-1])).sum(-1)


def simulate_numbers(builder: CircuitBuilder, result: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Simulate the circuit whose outputs are the bits of ``result`` ((W, *batch) node ids) on
    input bits (samples, num_inputs): -> integers (samples, *batch). Also checks the arithmetic
    leaves nothing for the passes to do: no dead gate, no constant or repeated operand."""
    c = builder.build(np.moveaxis(result, 0, -1).reshape(-1))
    assert remove_dead(c).num_gates == c.num_gates
    reads = [(USES_A[c.op], c.a), (USES_B[c.op], c.b)]
    constant = np.concatenate([np.zeros(c.num_inputs, bool), np.isin(c.op, CONSTANTS)])   # per node
    assert not any(constant[node[uses]].any() for uses, node in reads)      # no constant operand
    assert not (USES_A[c.op] & USES_B[c.op] & (c.a == c.b)).any()           # no gate reads a node twice
    out = c.simulate(inputs.astype(bool)).reshape(len(inputs), *result.shape[1:], result.shape[0])
    return value_of(out)


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Random weights everywhere, so the hard gates are of every kind (not the residual init's
    pass-through gates)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 3)
    return module.eval()


def classes_of(c: Circuit, out_bits: np.ndarray) -> np.ndarray:
    """The class a circuit lowered with head='gates' outputs: its index bits, lsb first."""
    assert c.head is None and c.meta["head"]["lowered"] == "gates"
    assert c.num_outputs == c.meta["head"]["index_bits"]
    return value_of(out_bits)


def check_exact(module: nn.Module, x: np.ndarray, **kw) -> list[Circuit]:
    """Lower ``module`` with the head kept in the IR and with the head in gates (when it has
    one), and check each circuit against ``module.eval()`` on raw inputs ``x`` (shaped as the
    module takes them; the circuit reads them flattened): the same bits without a head, the same
    scores and classes with one. Returns the circuits."""
    module.eval()
    with torch.no_grad():
        out = module(torch.as_tensor(x))
    flat = x.reshape(len(x), -1)
    circuits = [lower(module, **kw)]
    c = circuits[0]
    sim = c.simulate(encoding(c).encode(flat))
    if c.head is None:
        # a plain circuit: the last layer's bits in torch's (flattened) order
        assert "head" not in c.meta
        assert np.array_equal(sim, out.reshape(len(x), -1).numpy().astype(bool))
        with pytest.raises(InputError, match="has no head"):
            lower(module, head="gates", **kw)
        return circuits
    counts = c.class_counts(sim)
    if c.meta.get("head", {}).get("kind") == "binary":
        tau = c.meta["head"]["tau"]
        k = counts.sum(1)                 # the IR counts are [zeros, ones] of the k bits
        assert np.all(k == k[0]) and c.head.tau == 2 * tau
        ones = torch.from_numpy(counts[:, 1]).float()
        assert torch.equal(out[:, 0], torch.zeros(len(x)))
        assert torch.equal(out[:, 1], (ones - k[0] / 2) / tau)
        # the model's class-1 score is the difference of the IR scores, exactly
        assert torch.equal(out[:, 1], torch.from_numpy(((counts[:, 1] - counts[:, 0]) / c.head.tau).astype(np.float32)))
    else:
        assert torch.equal(out, torch.from_numpy(counts).float() / c.head.tau)
    assert np.array_equal(counts.argmax(1), out.argmax(1).numpy())
    gates = lower(module, head="gates", **kw)
    circuits.append(gates)
    for g in (gates, optimize(gates)[0]):
        assert np.array_equal(classes_of(g, g.simulate(encoding(g).encode(flat))), out.argmax(1).numpy())
    return circuits


def random_bits(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=shape).astype(np.float32)


# ------------------------------------------------------------------------ arithmetic

@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 7, 8, 9, 31, 64, 100])
def test_popcount_is_the_number_of_ones(n):
    rng = np.random.default_rng(n)
    # two batch axes, inputs shuffled over the nodes; one spare input so n = 0 has a node
    b = CircuitBuilder(n * 6 + 1)
    nodes = rng.permutation(n * 6).reshape(n, 2, 3)
    count = arith.popcount(b, nodes)
    assert count.shape == (arith.count_width(n), 2, 3)
    x = rng.integers(0, 2, (N, n * 6 + 1))
    x[:5] = 1          # all ones: the largest count, n
    got = simulate_numbers(b, count, x)
    assert np.array_equal(got, x[:, nodes].sum(1))


def test_popcount_is_an_adder_tree_of_about_five_gates_per_bit():
    b = CircuitBuilder(1000)
    arith.popcount(b, np.arange(1000))
    # one full adder (5 gates) removes one bit: about 5n, plus the final adder
    assert 4 * 1000 < b.num_gates < 5 * 1000 + 60
    assert b.build(np.arange(b.num_inputs, b.num_inputs + b.num_gates)).depth() < 80


def test_add_greater_and_mux_match_numpy():
    rng = np.random.default_rng(1)
    x, y, s = np.arange(5)[:, None], np.arange(5, 8)[:, None], np.array([8])   # 5-bit x, 3-bit y, select s
    inputs = rng.integers(0, 2, (N, 9))
    inputs[:32, :5] = bits_of(np.arange(32), 5).T             # every x, against random y
    xv, yv, sv = value_of(inputs[:, :5]), value_of(inputs[:, 5:8]), inputs[:, 8]
    cases = {
        "add": (lambda b: arith.add(b, x, y), xv + yv),
        "x > y": (lambda b: arith.greater(b, x, y)[None], xv > yv),
        "y > x": (lambda b: arith.greater(b, y, x)[None], yv > xv),
        "mux": (lambda b: arith.mux(b, s, y, x[:3]), np.where(sv == 1, xv % 8, yv)),
    }
    for name, (make, expected) in cases.items():
        b = CircuitBuilder(9)
        assert np.array_equal(simulate_numbers(b, make(b), inputs)[:, 0], expected), name


def test_greater_than_every_constant():
    b = CircuitBuilder(4)
    x = np.arange(4)[:, None]
    constants = np.arange(-2, 19)          # below 0, every 4-bit value, beyond 15
    result = np.stack([arith.greater_than_constant(b, x, c) for c in constants], 1)   # (1, constants)
    inputs = bits_of(np.arange(16), 4).T     # all 16 values of x
    got = simulate_numbers(b, result, inputs)
    assert np.array_equal(got, (np.arange(16)[:, None] > constants[None]).astype(int))
    # one gate per bit at most: the recurrence needs no more
    assert b.num_gates <= 4 * len(constants)


@pytest.mark.parametrize("classes", [1, 2, 3, 5, 8, 10])
def test_argmax_takes_the_lowest_index_on_ties(classes):
    rng = np.random.default_rng(classes)
    width = 3
    b = CircuitBuilder(width * classes * 2)
    counts = np.arange(width * classes * 2).reshape(width, classes, 2)    # two argmaxes at once
    index = arith.argmax(b, counts)
    assert index.shape == (arith.index_width(classes), 2)
    # small values: ties between the largest counts are common
    values = rng.integers(0, 3, (N, classes, 2))
    values[:20] = 7        # all equal: class 0
    inputs = np.zeros((N, b.num_inputs), np.int64)
    inputs[:, counts] = bits_of(values, width).transpose(1, 0, 2, 3)
    assert np.array_equal(simulate_numbers(b, index, inputs), values.argmax(1))


def test_arithmetic_refuses_what_is_not_node_ids():
    b = CircuitBuilder(4)
    with pytest.raises(ValueError, match="node ids are >= 0"):
        arith.popcount(b, np.array([0, -1]))
    with pytest.raises(ValueError, match="integers"):
        arith.popcount(b, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(W, C, \*batch\)"):
        arith.argmax(b, np.arange(3))


# ------------------------------------------------------------------------ compositions

def test_the_issue_example_lowers_and_computes_what_eval_computes():
    model = randomize(nn.Sequential(LogicLayer(9, 64), GroupSum(2, 4.0)), 0)
    ir, gates = check_exact(model, random_bits((N, 9), 0))
    assert ir.encoder is None and ir.head.classes == 2 and ir.head.tau == 4.0
    assert ir.meta == {"source": "gatelearn.modules", "modules": ["LogicLayer", "GroupSum"]}
    assert gates.meta["head"] == {"kind": "groupsum", "classes": 2, "tau": 4.0, "lowered": "gates", "layer": 1,
                                  "outputs": "class index, least significant bit first", "index_bits": 1}
    assert set(gates.layer[ir.num_gates:]) == {1}      # the head's gates are tagged as layer 1
    # raw bits are checked as the model checks them
    with pytest.raises(InputError):
        model(torch.full((1, 9), 0.5))
    with pytest.raises(InputError):
        compile_circuit(ir, "numpy").run(np.full((1, 9), 0.5))


def _image_encoder() -> ThresholdEncoder:
    return ThresholdEncoder(2 * 6 * 6, 2, torch.tensor([[-0.5, 0.5]]).expand(72, 2), image=(2, 6, 6))


COMPOSITIONS = {
    "layers only": lambda: (nn.Sequential(LogicLayer(12, 20), LogicLayer(20, 8)), random_bits((N, 12), 1)),
    "one layer, not in a Sequential": lambda: (LogicLayer(10, 6), random_bits((N, 10), 2)),
    "thresholds, layers, 3 classes": lambda: (
        nn.Sequential(ThresholdEncoder.uniform(5, 3, -1, 1), LogicLayer(15, 30), LogicLayer(30, 12),
                      GroupSum(3, 1.5)), np.random.default_rng(3).normal(size=(N, 5)).astype(np.float32)),
    "encoder only": lambda: (nn.Sequential(ThresholdEncoder.uniform(3, 2, 0, 1)),
                             np.random.default_rng(4).random((N, 3)).astype(np.float32)),
    "encoder and head": lambda: (nn.Sequential(OneHotEncoder([3, 2, 3]), GroupSum(2, 1.0)),
                                 np.random.default_rng(5).integers(0, 2, (N, 3)).astype(np.float32)),
    "bits, binary head, odd k": lambda: (nn.Sequential(BitInput(8), LogicLayer(8, 16), LogicLayer(16, 7),
                                                       BinaryHead(1.5)), random_bits((N, 8), 6)),
    "one-hot, binary head, even k (ties)": lambda: (
        nn.Sequential(OneHotEncoder([3, 3, 2]), LogicLayer(8, 4), BinaryHead(2.0)),
        np.random.default_rng(7).integers(0, 2, (N, 3)).astype(np.float32)),
    "nested Sequentials": lambda: (
        nn.Sequential(ThresholdEncoder.uniform(4, 2, 0, 1), nn.Sequential(LogicLayer(8, 16), LogicLayer(16, 16)),
                      nn.Sequential(LogicLayer(16, 10), GroupSum(5, 2.0))),
        np.random.default_rng(8).random((N, 4)).astype(np.float32)),
    "image encoder, conv, pool, flatten, dense, head": lambda: (
        nn.Sequential(_image_encoder(), LogicConv2d(4, 6, 3, depth=2, padding=1), OrPool2d(2),
                      nn.Flatten(), LogicLayer(6 * 3 * 3, 24), GroupSum(4, 2.0)),
        np.random.default_rng(9).normal(size=(N, 72)).astype(np.float32)),
    "conv without encoder or head": lambda: (
        nn.Sequential(LogicConv2d(3, 4, 3, depth=2, in_size=(5, 5)), OrPool2d(2, padding=1)),
        random_bits((N, 3, 5, 5), 10)),
}


@pytest.mark.parametrize("name", COMPOSITIONS)
def test_every_composition_computes_what_eval_computes(name):
    module, x = COMPOSITIONS[name]()
    ir = check_exact(randomize(module, 11), x)[0]
    has_encoder = name.startswith(("thresholds", "encoder", "one-hot", "nested", "image"))
    assert (ir.encoder is not None) == has_encoder
    if ir.head is not None:
        # the IR head is what every backend runs: the NumPy program agrees with the model
        pred = compile_circuit(ir, "numpy").run(x.reshape(len(x), -1))
        with torch.no_grad():
            assert np.array_equal(pred.classes, module(torch.as_tensor(x)).argmax(1).numpy())


def test_a_conv_chain_without_encoder_needs_its_input_shape():
    conv = randomize(LogicConv2d(2, 4, 3, depth=2), 12)
    model = nn.Sequential(conv, nn.Flatten(), GroupSum(4, 1.0)).eval()
    with pytest.raises(InputError, match=r"input_shape=\(channels, height, width\)"):
        lower(model)
    x = random_bits((N, 2, 4, 5), 13)
    c = lower(model, input_shape=(2, 4, 5))
    counts = c.class_counts(c.simulate(x.reshape(N, -1).astype(bool)))
    assert torch.equal(model(torch.from_numpy(x)), torch.from_numpy(counts).float())
    with pytest.raises(InputError, match="input_shape must be"):
        lower(model, input_shape=(2, 4))


def test_a_logicnet_lowers_as_before_and_with_its_head_in_gates():
    spec = {"encoder": {"kind": "thresholds", "features": 6, "per_feature": 2},
            "layers": [{"kind": "logic", "out": 24, "init": "gaussian"},
                       {"kind": "logic", "out": 12, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 2.0}, "seed": 4, "class_names": ["a", "b", "c"]}
    model = build_model(spec).eval()
    x = np.random.default_rng(14).normal(size=(N, 6)).astype(np.float32)
    ir, gates = check_exact(model, x)
    with torch.no_grad():
        counts = model.head.counts(model.features(torch.from_numpy(x))).numpy()
    assert np.array_equal(counts, ir.class_counts(ir.simulate(ir.encoder.encode(x))))
    # the default lowering is what it was: the last layer's bits under a GroupSum Head
    assert ir.head.classes == 3 and ir.num_outputs == 12 and ir.num_gates == 36
    assert "head" not in ir.meta and ir.meta["class_names"] == ["a", "b", "c"]
    assert gates.meta["class_names"] == ["a", "b", "c"] and gates.num_outputs == 2


# ------------------------------------------------------------------------ refusals

REFUSED = {
    "a torch layer": (lambda: nn.Sequential(LogicLayer(4, 4), nn.ReLU()),
                      r"module '1' \(ReLU\).*not a gatelearn layer"),
    "an encoder after a layer": (lambda: nn.Sequential(LogicLayer(4, 4), ThresholdEncoder(4)),
                                 r"module '1' \(ThresholdEncoder\).*must be the first"),
    "a head before a layer": (lambda: nn.Sequential(GroupSum(2), LogicLayer(4, 4)),
                              r"module '0' \(GroupSum\).*must be the last"),
    "wrong widths": (lambda: nn.Sequential(LogicLayer(9, 10), LogicLayer(12, 4)),
                     r"module '1' \(LogicLayer\).*10 input nodes for a layer of 12"),
    "a dense layer on an image": (lambda: nn.Sequential(_image_encoder(), LogicConv2d(4, 2, 3), LogicLayer(32, 4)),
                                  r"module '2' \(LogicLayer\).*add nn.Flatten\(\)"),
    "a head on an image": (lambda: nn.Sequential(_image_encoder(), LogicConv2d(4, 2, 3), GroupSum(2)),
                           r"module '2' \(GroupSum\).*add a flatten layer"),
    "a conv layer on a vector": (lambda: nn.Sequential(ThresholdEncoder(4), LogicConv2d(4, 2, 3)),
                                 r"module '1' \(LogicConv2d\)"),
    "a partial flatten": (lambda: nn.Sequential(_image_encoder(), nn.Flatten(2)), r"module '1' \(Flatten\).*start_dim"),
    "groups that do not divide": (lambda: nn.Sequential(LogicLayer(4, 5), GroupSum(2)), "not divisible into 2"),
    "nothing": (lambda: nn.Sequential(), "holds no modules"),
    "a logicnet inside a chain": (lambda: nn.Sequential(LogicLayer(4, 4), build_model(
        {"encoder": {"kind": "bits", "features": 4}, "layers": [], "head": {"kind": "groupsum", "classes": 2}})),
                                  r"'1\.encoder' \(BitInput\).*must be the first"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_be_lowered_is_one_clear_error_naming_the_module(case):
    make, pattern = REFUSED[case]
    with pytest.raises(InputError, match=pattern) as info:
        lower(make())
    assert "\n" not in str(info.value)


def test_bad_arguments_of_lower_are_refused():
    model = nn.Sequential(LogicLayer(4, 4), GroupSum(2))
    with pytest.raises(InputError, match="head must be one of 'ir', 'gates'"):
        lower(model, head="adders")
    with pytest.raises(InputError, match="needs a torch.nn.Module"):
        lower("model")
    with pytest.raises(InputError, match="differs from the encoder's output shape"):
        lower(nn.Sequential(ThresholdEncoder(4), LogicLayer(4, 2)), input_shape=(5,))
    bad = nn.Sequential(LogicLayer(4, 4), GroupSum(2))
    with torch.no_grad():
        bad[0].idx_a[0] = 7
    with pytest.raises(InputError, match="idx_a"):
        lower(bad)


# ------------------------------------------------------------------------ binary head

def test_groupsum_of_one_class_is_refused_pointing_to_the_binary_head():
    with pytest.raises(InputError, match=r"always predicts class 0.*BinaryHead\(tau\)"):
        GroupSum(1)
    spec = {"encoder": {"kind": "bits", "features": 4}, "layers": [{"kind": "logic", "out": 4}],
            "head": {"kind": "groupsum", "classes": 1}}
    with pytest.raises(InputError, match=r"always predicts class 0.*'kind': 'binary'"):
        build_model(spec)


def test_binary_head_scores_threshold_and_ties():
    head = BinaryHead(2.0)
    x = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]], dtype=torch.float32)
    scores = head(x)
    assert torch.equal(scores, torch.tensor([[0, 0], [0, 0.5], [0, -0.5], [0, 1]]))
    assert head(x).argmax(1).tolist() == [0, 1, 0, 1]          # 2 of 4 is a tie: class 0
    assert BinaryHead(1.0)(torch.tensor([[1.0, 1, 0], [1, 0, 0]])).argmax(1).tolist() == [1, 0]   # odd k: no tie
    # training sees a smooth score of soft bits (the logistic loss of the count's margin)
    soft = torch.tensor([[0.9, 0.8, 0.1, 0.4]], requires_grad=True)
    nn.functional.cross_entropy(head(soft), torch.tensor([1])).backward()
    assert torch.all(soft.grad < 0)
    with pytest.raises(InputError, match=r"\(batch, k\)"):
        head(torch.ones(3))
    with pytest.raises(InputError, match="tau"):
        BinaryHead(0.0)


BINARY_SPEC = {"encoder": {"kind": "thresholds", "features": 4, "per_feature": 2},
               "layers": [{"kind": "logic", "out": 16, "init": "gaussian"},
                          {"kind": "logic", "out": 9, "init": "gaussian"}],
               "head": {"kind": "binary", "tau": 3.0}, "seed": 2, "class_names": ["no", "yes"]}


def test_binary_head_from_a_spec_saves_loads_and_lowers(tmp_path):
    model = build_model(BINARY_SPEC).eval()
    assert isinstance(model.head, BinaryHead) and model.classes == 2 and model.class_names == ["no", "yes"]
    x = np.random.default_rng(15).normal(size=(N, 4)).astype(np.float32)
    save(model, tmp_path)
    again = load(tmp_path)
    assert again.spec["head"] == {"kind": "binary", "tau": 3.0}
    assert torch.equal(again(torch.from_numpy(x)), model(torch.from_numpy(x)))
    ir, gates = check_exact(again, x)
    assert ir.head.classes == 2 and ir.num_outputs == 18 and gates.num_outputs == 1
    # what a check of a backend against the model compares: the IR counts, from the model
    with torch.no_grad():
        counts = model.head.counts(model.features(torch.from_numpy(x))).numpy()
    assert np.array_equal(counts, ir.class_counts(ir.simulate(ir.encoder.encode(x))))
    assert ir.meta["head"]["kind"] == "binary" and ir.meta["class_names"] == ["no", "yes"]
    # 'classes' may be stated, as 2 only
    assert build_model({**BINARY_SPEC, "head": {"kind": "binary", "classes": 2}}).head.tau == 1.0


@pytest.mark.parametrize("head, pattern", [
    ({"kind": "binary", "classes": 3}, "may only be 2"),
    ({"kind": "binary", "tau": -1}, "tau' must be a finite number > 0"),
    ({"kind": "binary", "tau": 1, "bias": 0.5}, r"unknown option 'bias'; a 'binary' head accepts: tau, classes"),
    ({"kind": "softmax"}, r"unknown head kind 'softmax'; known: 'binary', 'codebook', 'groupsum'"),
    ({"kind": "groupsum", "classes": 2, "tua": 1}, "unknown option 'tua'"),
])
def test_bad_head_specs_are_refused(head, pattern):
    with pytest.raises(InputError, match=pattern):
        build_model({**BINARY_SPEC, "head": head})


def test_class_names_must_match_the_binary_head():
    with pytest.raises(InputError, match="list of 2 texts"):
        build_model({**BINARY_SPEC, "class_names": ["a", "b", "c"]})


def test_binary_head_trains_in_the_training_loop(tmp_path):
    """head='binary' trains through the one loop (loss, evaluation, checkpoint, saved model)."""
    rng = np.random.default_rng(0)
    x = rng.random((400, 3)).astype(np.float32)
    y = ((x[:, 0] > 0.5) ^ (x[:, 1] > 0.6)).astype(np.int64)     # not separable by one threshold
    ds = Dataset.from_arrays(x, y, class_names=["no", "yes"])
    cfg = make_config("monk1", iterations=150, eval_every=50, batch_size=32, tau=2.0, threads=1, lr=0.05,
                      head="binary").replace(layers=[{"kind": "logic", "out": 32}, {"kind": "logic", "out": 15}],
                                             dataset=None)
    summary = train(cfg, tmp_path, progress=False, dataset=ds)
    assert summary["hard_accuracy"] >= 0.8
    model = gatelearn.load(tmp_path)
    assert isinstance(model.head, BinaryHead) and model.head.tau == 2.0
    check_exact(model, ds.x_test)
    pred = model.predict(torch.from_numpy(ds.x_test)).numpy()
    assert np.mean(pred == ds.y_test) == summary["hard_accuracy"]
