"""AIGER / BLIF writers and readers, and the Verilog text, without external tools."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gatelearn
from gatelearn.backends import aiger, blif, verilog
from gatelearn.circuit.ir import Circuit
from gatelearn.errors import FileFormatError, InputError
from gatelearn.gates import NUM_GATES
from gatelearn.lowering import lower
from gatelearn.verification.testbench import to_hw_features


def random_circuit(seed: int, inputs: int = 12, gates: int = 60, outputs: int = 8) -> Circuit:
    """Every gate id, random operands (including constants, repeated and input outputs)."""
    rng = np.random.default_rng(seed)
    op = rng.integers(0, NUM_GATES, gates)
    own = inputs + np.arange(gates)
    a = (rng.random(gates) * own).astype(np.int64)
    b = (rng.random(gates) * own).astype(np.int64)
    from gatelearn.circuit.ir import canonical_operands
    a, b = canonical_operands(op, a, b)
    outs = rng.integers(0, inputs + gates, outputs)
    return Circuit(inputs, op, a, b, outs).validate()


def all_bits(n: int) -> np.ndarray:
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_aiger_and_blif_round_trip_exhaustively(seed):
    c = random_circuit(seed)
    bits = all_bits(c.num_inputs)
    want = c.simulate(bits)
    for data in (aiger.aiger_bytes(c),):
        back = aiger.parse_aiger(data)
        assert back.num_inputs == c.num_inputs and back.num_outputs == c.num_outputs
        assert (back.simulate(bits) == want).all()
    back = blif.parse_blif(blif.blif_text(c))
    assert (back.simulate(bits) == want).all()


def test_aiger_xor_read_back_as_one_gate(tmp_path):
    # x ^ y written as three ANDs comes back as a single XOR gate.
    c = Circuit(2, np.array([6, 9], np.uint8), np.array([0, 0]), np.array([1, 1]), np.array([2, 3]))
    back = aiger.read_aiger(aiger.write_aiger(c, tmp_path / "x.aig"))
    assert back.num_gates == 2
    assert set(back.gate_counts()) <= {"XOR", "XNOR", "NOT_A"}
    assert (back.simulate(all_bits(2)) == c.simulate(all_bits(2))).all()


def test_ascii_aiger_out_of_order_and_symbols():
    # ASCII AIGER may list ANDs in any order; names come back in meta.
    text = b"aag 4 2 0 1 2\n2\n4\n9\n8 6 2\n6 2 5\ni0 a\ni1 b\no0 f\nc\nhand written\n"
    c = aiger.parse_aiger(text)
    assert c.meta["input_names"] == ["a", "b"] and c.meta["output_names"] == ["f"]
    # f = ~(a & (a & ~b)) = ~(a & ~b)
    bits = all_bits(2)
    assert (c.simulate(bits)[:, 0] == ~(bits[:, 0] & ~bits[:, 1])).all()


@pytest.mark.parametrize("data, msg", [
    (b"", "no header"),
    (b"hello\n", "not an AIGER"),
    (b"aig 3 2 1 1 0\n", "latches"),
    (b"aig 3 2 0 1 1\n6\n", "truncated"),
    (b"aag 3 2 0 1 1\n2\n4\n6\n6 2 8\n", "out of range"),
    (b"aag 3 2 0 1 1\n2\n4\n7\n6 8 4\n", "out of range"),
    (b"aag 2 2 0 1 0\n2\n4\n9\n", "out of range"),
    (b"aag 3 2 0 1 1\n2\n4\n6\n6 6 2\n", "cycle"),
    (b"aig 2 1 0 1 1 1\n", "1.9"),
    # header counts are checked against the file before anything is allocated
    (b"aag 1000000000000 0 0 0 0\n", "32-bit"),
    (b"aag 10 0 0 0 5\n", "5 AND gates, which need at least 30 bytes"),
    (b"aig 20000000 20000000 0 1 0\n2\n", "at most 16777216 inputs"),
    (b"aag 4 1 0 1 1\n2\n4\n4 2 99999999999999999999999\n", "AND literal 99999999999999999999999 out of range"),
])
def test_malformed_aiger(data, msg):
    with pytest.raises(FileFormatError, match=msg):
        aiger.parse_aiger(data)


def test_ascii_aiger_with_sparse_variables():
    """M may exceed I + A in ASCII AIGER (gaps in the numbering); memory follows what is defined."""
    c = aiger.parse_aiger(b"aag 2000000000 2 0 1 1\n2\n3000000000\n3999999999\n3999999998 2 3000000001\n")
    bits = all_bits(2)
    assert c.num_inputs == 2 and (c.simulate(bits)[:, 0] == ~(bits[:, 0] & ~bits[:, 1])).all()


def test_read_aiger_names_the_file(tmp_path):
    f = tmp_path / "bad.aig"
    f.write_bytes(b"aig 5 2 0 1 3\n4\n\x02")
    with pytest.raises(FileFormatError, match="bad.aig"):
        aiger.read_aiger(f)
    with pytest.raises(FileFormatError, match="cannot read"):
        aiger.read_aiger(tmp_path / "missing.aig")


def test_blif_general_covers_and_constants():
    text = """# comment
.model t
.inputs a b c
.outputs f g h k
.names a b c f
1-1 1
01- 1
.names a b \\
 g
11 0
.names h
.names k
1
.end
"""
    c = blif.parse_blif(text)
    bits = all_bits(3)
    a, b, cc = bits[:, 0], bits[:, 1], bits[:, 2]
    out = c.simulate(bits)
    assert (out[:, 0] == ((a & cc) | (~a & b))).all()
    assert (out[:, 1] == ~(a & b)).all()
    assert (~out[:, 2]).all() and out[:, 3].all()


@pytest.mark.parametrize("text, msg", [
    (".inputs a\n.outputs f\n.names a f\n1 1\n", "no .model"),
    (".model m\n.inputs a\n.outputs f\n.latch a f re clk 0\n.end\n", "latches"),
    (".model m\n.inputs a\n.outputs f\n.subckt x a=a f=f\n.end\n", "subckt"),
    (".model m\n.inputs a\n.outputs f\n.names a g f\n11 1\n.end\n", "never defined"),
    (".model m\n.inputs a\n.outputs f\n.names a g f\n11 1\n.names f g\n1 1\n.end\n", "cycle"),
    (".model m\n.inputs a\n.outputs f\n.names a f\n12 1\n.end\n", "x.blif, line 5: malformed cover"),
    (".model m\n.inputs a\n.outputs f\n.names a f\n1 1\n.names a f\n0 1\n.end\n", "defined twice"),
    (".model m\n.inputs a\n.outputs f\n.names a f\n1 1\n0 0\n.end\n", "mixes"),
    (".model m\n.inputs a\n.outputs a \\", "x.blif, line 3: the file ends inside a continued line"),
    ("\x93\x00\x17.model", "x.blif: not a BLIF file \\(binary data"),
])
def test_malformed_blif(text, msg):
    with pytest.raises(FileFormatError, match=msg):
        blif.parse_blif(text, source="x.blif")


def test_readers_name_a_wrong_argument():
    with pytest.raises(TypeError, match="parse_aiger takes the file's bytes, got str"):
        aiger.parse_aiger("aag 0 0 0 0 0\n")
    assert aiger.parse_aiger(bytearray(b"aag 0 0 0 0 0\n")).num_inputs == 0
    with pytest.raises(TypeError, match="parse_blif takes the file's text"):
        blif.parse_blif(b".model m\n.end\n")
    with pytest.raises(InputError, match="latches must be 'reject' or 'transparent', got 'maybe'"):
        blif.parse_blif(".model m\n.end\n", latches="maybe")


def test_blif_pipeline_latency_and_imbalance():
    text = """.model p
.inputs clk a b
.outputs f g
.latch a a1 re clk 2
.latch b b1 re clk 2
.names a1 b1 f
11 1
.names a b1 g
11 1
.end
"""
    c = blif.parse_blif(text, latches="transparent")
    assert c.meta["output_latency"] == [[1], [0, 1]]     # g mixes 0 and 1 registers
    with pytest.raises(FileFormatError, match="latches"):
        blif.parse_blif(text)


def small_model(classes=3, features=6, per_feature=2, seed=0, bits=False):
    enc = {"kind": "bits", "features": features} if bits else \
        {"kind": "thresholds", "features": features, "per_feature": per_feature}
    spec = {"encoder": enc,
            "layers": [{"kind": "logic", "out": 24, "init": "gaussian"},
                       {"kind": "logic", "out": 4 * classes, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": classes, "tau": 1.0}, "seed": seed}
    m = gatelearn.build_model(spec)
    if not bits:
        import torch
        with torch.no_grad():
            thresholds = np.random.default_rng(seed).uniform(-3, 300, (features, per_feature))
            m.encoder.thresholds.copy_(torch.tensor(thresholds, dtype=torch.float32))
    return m


def test_encoder_constants_match_float_semantics():
    # A hardware value m stands for m / 2^k; m > T equals the model's m / 2^k > float32(t).
    # Out-of-range thresholds become constants.
    m = small_model()
    c = lower(m)
    spec = verilog.hw_spec(c)
    assert spec.exact and max(spec.frac_bits) > 0          # random float thresholds: on a fine grid
    consts = verilog.encoder_constants(c, spec.width, spec.frac_bits)
    top = (1 << spec.width) - 1
    rng = np.random.default_rng(0)
    for i, (kind, k) in enumerate(consts):
        scale = 2.0 ** spec.frac_bits[c.encoder.feature[i]]
        t = float(np.float32(c.encoder.value[i]))
        ms = np.unique(np.clip(np.r_[0, top, rng.integers(0, top, 50),
                                     (np.arange(-2, 3) + (k if kind != "const" else 0))], 0, top))
        want = ms / scale > t                                   # exact in float64
        got = np.full(len(ms), bool(k)) if kind == "const" else ms > k
        assert (got == want).all(), (i, kind, k, t)
    assert any(kind == "const" for kind, _ in consts)     # thresholds below 0 exist
    # exact on every input >= 0, not only on the grid: ceil(x * 2^k) > T  <=>  x > t
    x = np.abs(rng.normal(150, 100, (2000, 6))).astype(np.float32)
    hx = to_hw_features(c, spec, x).astype(np.int64)
    bits = np.stack([np.full(len(x), bool(v)) if kind == "const" else hx[:, c.encoder.feature[i]] > v
                     for i, (kind, v) in enumerate(consts)], 1)
    assert (bits == c.encoder.encode(x)).all()


def test_verilog_text_has_latency_and_every_gate():
    m = small_model()
    c = lower(m)
    text, spec = verilog.emit_verilog(c, "mdl", pipeline=2)
    assert f"LATENCY = {spec.latency} clock cycles" in text
    assert spec.latency == -(-c.depth() // 2) + 2
    assert text.count("  wire g") == 2 * c.num_gates       # network module + pipelined top
    with pytest.raises(InputError, match="identifier"):
        verilog.emit_verilog(c, "bad name")


def test_hardware_features_round_up_to_the_grid():
    c = lower(small_model())
    spec = verilog.hw_spec(c)
    k = np.array(spec.frac_bits)
    x = np.full((2, 6), 1.5)
    assert (to_hw_features(c, spec, x) == np.ceil(1.5 * 2.0 ** k)).all()
    with pytest.raises(InputError, match=">= 0"):
        to_hw_features(c, spec, -x)
    x = np.full((1, 6), 1e30)
    assert (to_hw_features(c, spec, x) == (1 << spec.width) - 1).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 900), st.integers(0, 2 ** 32 - 1))
def test_compressor_plan_is_a_popcount(n, seed):
    """Evaluating the plan (groups of 3-6 bits -> their count, then the two final rows added)
    gives the number of ones, with every group within one 6-LUT's inputs."""
    groups, rows = verilog.compressor_plan(n)
    bits = np.random.default_rng(seed).random(n) < np.random.default_rng(seed + 1).random()
    made = []

    def value(r):
        return 0 if r is None else int(bits[r[1]]) if r[0] == "in" else (made[r[1]] >> r[2]) & 1
    for group in groups:
        assert 3 <= len(group) <= 6
        made.append(sum(value(r) for r in group))
    total = sum((value(a) + value(b)) << w for w, (a, b) in enumerate(zip(*rows)))
    assert total == int(bits.sum())
    assert len(rows[0]) <= max(n, 1).bit_length() + 1
