"""The C backend's packed evaluator (``NAME_eval_packed``, ``CProgram.run_bits``): plain circuits
from packed input bits to packed output bits, bit for bit what ``circuit.simulate`` computes, for
any number of vectors (within a 64-bit word, at word edges, past a block), any selection of
outputs, on one thread or several, in the native and the portable build."""
import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatelearn.backends.c import CProgram, generate_c, pack_inputs, unpack_outputs
from gatelearn.backends.c.emit import MAX_PACKED_WORDS, packed_words
from gatelearn.backends.c.layout import MIN_RUN, Schedule, node_heights
from gatelearn.circuit.ir import USES_A, USES_B, Circuit, canonical_operands
from gatelearn.circuit.random import random_circuit
from gatelearn.circuit.simulate import pack_bits
from gatelearn.errors import InputError
from gatelearn.gates import BY_NAME

EDGE_SIZES = [0, 1, 63, 64, 65, 127, 128, 129, 1000]


def plain(c: Circuit, extra_outputs=()) -> Circuit:
    """``c`` without its head, with ``extra_outputs`` appended (inputs, constants, repeats)."""
    d = c.copy()
    d.head = None
    d.outputs = np.r_[d.outputs, np.asarray(extra_outputs, np.int64)]
    return d.validate()


def with_constant_outputs(c: Circuit) -> Circuit:
    """Two constant gates appended as outputs: a FALSE and a TRUE the gates never read."""
    op = np.r_[c.op, BY_NAME["FALSE"].id, BY_NAME["TRUE"].id].astype(np.uint8)
    a, b = canonical_operands(op, np.r_[c.a, 0, 0], np.r_[c.b, 0, 0])
    n = c.num_nodes
    return Circuit(c.num_inputs, op, a, b, np.r_[c.outputs, n, n + 1]).validate()


@pytest.fixture(scope="module")
def wide():
    """Every gate kind, operands anywhere, 30 outputs plus inputs, repeats and constants."""
    rng = np.random.default_rng(1)
    c = with_constant_outputs(plain(random_circuit(rng, 20, 1500, 6, 5), extra_outputs=[0, 19, 0]))
    c = plain(c, extra_outputs=[c.outputs[3], c.num_nodes - 1])
    return c, CProgram(c, "packed_wide"), CProgram(c, "packed_wide", portable=True)


@pytest.fixture(scope="module")
def deep():
    """A chain: each gate reads the one before it and an input, so 3000 gates are 3000 levels
    deep (runs of one gate, many words per value); every gate kind but the constants."""
    rng = np.random.default_rng(2)
    n, G = 6, 3000
    kinds = [g for g in range(16) if g not in (BY_NAME["FALSE"].id, BY_NAME["TRUE"].id)]
    op = rng.choice(kinds, G).astype(np.uint8)
    own = n + np.arange(G)
    prev, bit = own - 1, rng.integers(0, n, G)
    flip = rng.random(G) < 0.5
    # the chain as operand a or b; a one-input gate reads the chain
    a = np.where(flip & ~np.isin(op, [BY_NAME[k].id for k in ("A", "NOT_A")]), bit, prev)
    b = np.where(flip | np.isin(op, [BY_NAME[k].id for k in ("B", "NOT_B")]), prev, bit)
    a, b = canonical_operands(op, a, b)
    c = Circuit(n, op, a, b, np.r_[rng.choice(own, 15), own[-1]]).validate()
    return c, CProgram(c, "packed_deep")


def expect(c: Circuit, bits: np.ndarray) -> np.ndarray:
    return pack_bits(c.simulate(bits)) if len(bits) else np.zeros((c.num_outputs, 0), np.uint64)


@pytest.mark.parametrize("n", EDGE_SIZES)
def test_every_output_bit_for_bit(wide, n):
    c, prog, portable = wide
    bits = np.random.default_rng(n).random((n, c.num_inputs)) < 0.5
    want = expect(c, bits)
    for p in (prog, portable):
        got = p.run_bits(bits)
        assert got.dtype == np.uint64 and got.shape == (c.num_outputs, -(-n // 64))
        assert np.array_equal(got, want)          # packed: the bits past n are zero too
        assert np.array_equal(unpack_outputs(got, n), c.simulate(bits))


def test_blocks_and_threads(wide, deep):
    """Past one block (the last one partial) and over several threads: the same bits."""
    for c, prog in ((wide[0], wide[1]), (deep[0], deep[1])):
        n = 2 * prog.packed_block + 65
        bits = np.random.default_rng(5).random((n, c.num_inputs)) < 0.5
        want = expect(c, bits)
        for threads in (1, 2, 3):
            assert np.array_equal(prog.run_bits(bits, threads=threads), want)


def test_deep_circuit_gets_many_words_per_value(deep):
    c, prog = deep
    assert c.depth() > 2000
    assert prog.source.info["packed_words"] == MAX_PACKED_WORDS
    assert prog.packed_block == prog.block_samples * MAX_PACKED_WORDS
    for n in EDGE_SIZES:
        bits = np.random.default_rng(n + 1).random((n, c.num_inputs)) < 0.5
        assert np.array_equal(prog.run_bits(bits), expect(c, bits))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(0, 300), threads=st.integers(1, 2),
       picks=st.lists(st.integers(0, 10 ** 6), max_size=12))
def test_selected_outputs_in_any_order(wide, seed, n, threads, picks):
    c, prog, _ = wide
    select = [p % c.num_outputs for p in picks]            # repeats and any order allowed
    bits = np.random.default_rng(seed).random((n, c.num_inputs)) < 0.5
    got = prog.run_bits(bits, outputs=select, threads=threads)
    assert got.shape == (len(select), -(-n // 64))
    assert np.array_equal(got, expect(c, bits)[select])


def test_packed_and_integer_inputs_give_the_same(wide):
    c, prog, _ = wide
    n = 200
    bits = np.random.default_rng(9).random((n, c.num_inputs)) < 0.5
    want = expect(c, bits)
    words = pack_inputs(bits)
    assert words.shape == (c.num_inputs, 4) and np.array_equal(words, pack_bits(bits))
    assert np.array_equal(prog.run_bits(words, n=n), want)
    assert np.array_equal(prog.run_bits(bits.astype(np.uint8)), want)
    out = np.full(want.shape, 7, np.uint64)
    assert prog.run_bits(words, n=n, out=out) is out and np.array_equal(out, want)


def test_circuits_without_gates_or_inputs():
    """Outputs that are all inputs (no gate), and gates without inputs (constants only)."""
    just_wires = Circuit(3, [], [], [], [2, 0, 1, 0]).validate()
    rng = np.random.default_rng(4)
    constants = plain(random_circuit(rng, 0, 10, 2, 3))
    for c in (just_wires, constants):
        prog = CProgram(c, "packed_edge")
        for n in (0, 1, 64, 65, 700):
            bits = rng.random((n, c.num_inputs)) < 0.5
            assert np.array_equal(prog.run_bits(bits), expect(c, bits))


def test_bad_arguments(wide):
    c, prog, _ = wide
    bits = np.zeros((10, c.num_inputs), bool)
    for call in (lambda: prog.run_bits(bits[:, 1:]),
                 lambda: prog.run_bits(np.full(bits.shape, 2, np.uint8)),
                 lambda: prog.run_bits(pack_inputs(bits), n=65),
                 lambda: prog.run_bits(pack_inputs(bits).astype(np.int64), n=10),
                 lambda: prog.run_bits(bits, outputs=[c.num_outputs]),
                 lambda: prog.run_bits(bits, outputs=[-1]),
                 lambda: prog.run_bits(bits, threads=0),
                 lambda: prog.run_bits(bits, out=np.zeros((1, 1), np.uint64)),
                 lambda: unpack_outputs(np.zeros((2, 3), np.uint64), 64)):
        with pytest.raises(InputError):
            call()
    # the C entry point checks its own arguments: a select index out of range, no workspace
    fn = prog._packed
    words, rows = pack_inputs(bits), np.zeros((1, 1), np.uint64)
    bad = np.array([c.num_outputs], np.uint32)
    assert fn(words.ctypes.data, 10, rows.ctypes.data, bad.ctypes.data, 1, prog.workspace(1, "packed"), 1) == -1
    assert fn(words.ctypes.data, 10, rows.ctypes.data, None, 0, None, 1) == -1
    assert fn(words.ctypes.data, 10, rows.ctypes.data, None, 0, ctypes.c_void_p(prog.workspace(1, "packed") + 8),
              1) == -1


def test_only_plain_circuits_get_the_packed_api():
    rng = np.random.default_rng(3)
    with_head = random_circuit(rng, 8, 50, 2, 3)
    files = generate_c(with_head, "net").files
    assert "eval_packed" not in files["net.h"] and "eval_packed" not in files["net.c"]
    with pytest.raises(InputError, match="head"):
        CProgram(with_head, "net").run_bits(np.zeros((1, 8), bool))
    header = generate_c(plain(with_head), "net").files["net.h"]
    assert "int net_eval_packed(const uint64_t *in_bits, size_t n, uint64_t *out_bits" in header
    assert "#define NET_NUM_OUTPUTS 6" in header and "#define NET_NUM_INPUTS 8" in header


def test_words_per_value_follow_the_workspace():
    """Small workspaces get the most words per value; a large one one word (it would leave L2)."""
    assert packed_words(100) == MAX_PACKED_WORDS
    assert packed_words(50_000) == 1
    sizes = [packed_words(s) for s in (100, 1000, 4000, 8000, 50_000)]
    assert sizes == sorted(sizes, reverse=True)


# ------------------------------------------------------------------ the schedule
def test_heights_are_the_longest_paths_to_an_unread_node():
    rng = np.random.default_rng(6)
    for locality in (None, 2, 30):
        c = random_circuit(rng, 5, 400, 2, 3, locality=locality)
        want = [0] * c.num_nodes      # one gate at a time, from the last
        for g in range(c.num_gates - 1, -1, -1):
            node = c.num_inputs + g
            for x, used in ((c.a[g], USES_A[c.op[g]]), (c.b[g], USES_B[c.op[g]])):
                if used:
                    want[x] = max(want[x], want[node] + 1)
        assert node_heights(c).tolist() == want


def test_pieces_go_to_the_lowest_free_slots():
    """The vectorised slot search against the plain greedy walk it replaced: whole free
    intervals of MIN_RUN slots or more in address order, then the first that holds the rest; the
    free end of the workspace holds anything."""
    def walk(busy, k):
        cap = len(busy)
        edge = np.diff(np.r_[0, (~busy).astype(np.int8), 0])
        pieces, left = [], k
        for s0, s1 in zip(np.flatnonzero(edge == 1).tolist(), np.flatnonzero(edge == -1).tolist()):
            s1 = s0 + left if s1 == cap else s1
            m = min(s1 - s0, left)
            if m >= min(MIN_RUN, left):
                pieces.append((s0, m))
                left -= m
                if not left:
                    break
        return pieces + [(cap, left)] if left else pieces
    rng = np.random.default_rng(8)
    for _ in range(3000):
        busy = rng.random(int(rng.integers(64, 300))) < rng.choice([0.2, 0.6, 0.9, 0.97])
        k = int(rng.choice([1, 2, 5, MIN_RUN, MIN_RUN + 1, 40, 200]))
        assert Schedule.pieces(busy, k) == walk(busy, k)


@pytest.mark.parametrize("levels", ["early", "late"])
def test_both_schedules_compute_the_same(monkeypatch, levels):
    """Gates run level by level, as soon or as late as possible (emit picks the one with fewer
    values live at once): both give the circuit's bits, packed and through a head."""
    import gatelearn.backends.c.emit as c_emit
    real = c_emit.Schedule
    monkeypatch.setattr(c_emit, "Schedule", lambda *args: real(*args, levels=levels))
    rng = np.random.default_rng(12)
    c = random_circuit(rng, 16, 1200, 4, 6, locality=40)
    bits = rng.random((700, 16)) < 0.5
    prog = CProgram(c, f"sched_{levels}")
    assert (prog.run(bits.astype(np.uint8)).scores == c.class_counts(c.simulate(bits))).all()
    p = plain(c)
    assert np.array_equal(CProgram(p, f"sched_{levels}").run_bits(bits), expect(p, bits))


def test_deep_circuits_schedule_late_when_fewer_values_are_live():
    """A chain with side branches computed early and read at the end: as late as possible keeps
    a few values live instead of all the branches."""
    n, G = 4, 600
    op = np.full(G, BY_NAME["XOR"].id, np.uint8)
    own = n + np.arange(G)
    # gates 0..299: branches, ANDs of two inputs (level 1 as soon as possible); 300..599: a
    # chain, chain gate i reading chain gate i - 1 and branch 299 - i, so the branches are read
    # in reverse order, branch 0 at the very end
    op[:300] = BY_NAME["AND"].id
    a = np.r_[np.arange(300) % n, 0, own[300:599]]
    b = np.r_[(np.arange(300) + 1) % n, own[299 - np.arange(300)]]
    c = Circuit(n, op, a, b, [own[-1]]).validate()
    early = Schedule(c, np.arange(n), 64, levels="early")
    chosen = Schedule(c, np.arange(n), 64)
    assert early.slots >= 300 and chosen.late and chosen.slots < 100
    bits = np.random.default_rng(0).random((300, n)) < 0.5
    assert np.array_equal(CProgram(c, "late_chain").run_bits(bits), expect(c, bits))
