"""Circuit passes: each one preserves every output's function (exhaustively on small random
circuits), does the rewrite it promises, and gives exactly the circuit that rewriting the gates
level by level gives (the passes' first implementation, kept here as the reference)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gatelearn.circuit.ir import USES_A, USES_B, Circuit, Head, canonical_operands
from gatelearn.circuit.passes import PASSES, optimize
from gatelearn.circuit.random import random_circuit
from gatelearn.gates import BY_NAME, NUM_GATES, TRUTH_NP

ID = {k: v.id for k, v in BY_NAME.items()}


def all_inputs(n):
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)


@st.composite
def circuits(draw):
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 6))
    g = draw(st.integers(0, 60))
    loc = draw(st.sampled_from([None, 3, 8]))
    return random_circuit(rng, n, g, draw(st.integers(1, 3)), draw(st.integers(1, 4)), locality=loc)


@settings(max_examples=150, deadline=None)
@given(circuits())
def test_every_pass_preserves_function(c):
    X = all_inputs(c.num_inputs)
    ref = c.simulate(X)
    for name, p in PASSES.items():
        d = p(c).validate()
        assert d.num_outputs == c.num_outputs
        assert (d.simulate(X) == ref).all(), name
        assert d.num_gates <= c.num_gates + c.num_outputs   # a pass may add a NOT only for an output
    d, log = optimize(c)
    assert (d.simulate(X) == ref).all()
    again, _ = optimize(d)
    assert again.num_gates == d.num_gates            # a fixpoint
    # nothing the passes remove is left: no copies, no constants feeding gates, no duplicates
    assert not np.isin(d.op, [ID["A"], ID["B"]]).any()
    keys = set(zip(d.op.tolist(), d.a.tolist(), d.b.tolist()))
    assert len(keys) == d.num_gates


def test_rewrites_on_a_hand_made_circuit():
    # inputs 0,1. gates: 2 = NOT a; 3 = NOT(2) (double negation); 4 = AND(0,1); 5 = AND(1,0);
    # 6 = FALSE; 7 = OR(4, 6) (constant folding -> copy of 4); 8 = XOR(5, 5) (same operand -> FALSE)
    # 9 = AND(2, 1) (NOT folded -> NOT_A_AND_B(0, 1)); 10 = NAND(0, 1) dead
    op = [ID["NOT_A"], ID["NOT_A"], ID["AND"], ID["AND"], ID["FALSE"], ID["OR"], ID["XOR"], ID["AND"], ID["NAND"]]
    a = [0, 2, 0, 1, 0, 4, 5, 2, 0]
    b = [0, 0, 1, 0, 0, 6, 5, 1, 1]
    c = Circuit(2, op, a, b, [3, 7, 8, 9, 2], Head(5, 1.0)).validate()
    d, _ = optimize(c)
    X = all_inputs(2)
    assert (d.simulate(X) == c.simulate(X)).all()
    assert d.outputs[0] == 0                               # NOT NOT x is x: an input node
    assert d.op[d.outputs[1] - 2] == ID["AND"]             # OR(AND, FALSE) is the AND
    assert d.op[d.outputs[2] - 2] == ID["FALSE"]           # XOR(x, x)
    assert d.op[d.outputs[3] - 2] == ID["NOT_A_AND_B"]     # NOT folded into the consumer
    assert d.op[d.outputs[4] - 2] == ID["NOT_A"]           # an output that is a NOT keeps it
    assert d.num_gates == 4                                # AND, FALSE, NOT_A_AND_B, NOT_A


def test_output_inverters_are_absorbed_into_their_source():
    # inputs 0,1,2. gates: 3 = AND(0,1); 4 = NOT(3), an output; 5 = OR(3, 2) also reads the AND
    op, a, b = [ID["AND"], ID["NOT_A"], ID["OR"]], [0, 3, 3], [1, 0, 2]
    c = Circuit(3, op, a, b, [4, 5]).validate()
    d, _ = optimize(c)
    X = all_inputs(3)
    assert (d.simulate(X) == c.simulate(X)).all()
    assert d.num_gates == 2                                  # the NOT is gone
    assert d.op[d.outputs[0] - 3] == ID["NAND"]              # the AND became a NAND ...
    # ... which the OR reads negated (operands in canonical order: input 2 first)
    assert d.op[d.outputs[1] - 3] == ID["A_OR_NOT_B"] and d.b[d.outputs[1] - 3] == d.outputs[0]
    # when an output needs the AND itself, the NOT stays
    c2 = Circuit(3, op, a, b, [4, 5, 3]).validate()
    d2, _ = optimize(c2)
    assert d2.num_gates == 3 and (d2.simulate(X) == c2.simulate(X)).all()


def test_commutative_and_swapped_duplicates_merge():
    # AND(0,1) / AND(1,0) and A_AND_NOT_B(0,1) / NOT_A_AND_B(1,0) are the same gates
    op = [ID["AND"], ID["AND"], ID["A_AND_NOT_B"], ID["NOT_A_AND_B"]]
    c = Circuit(2, op, [0, 1, 0, 1], [1, 0, 1, 0], [2, 3, 4, 5]).validate()
    d, _ = optimize(c)
    assert d.num_gates == 2
    assert (d.simulate(all_inputs(2)) == c.simulate(all_inputs(2))).all()


def test_large_deep_circuit_keeps_its_function():
    rng = np.random.default_rng(0)
    c = random_circuit(rng, 784, 100_000, 10, 100, locality=20_000)
    lv = c.node_levels()
    assert (lv[:784] == 0).all() and lv[784:].min() >= 0
    d, log = optimize(c)
    assert d.num_gates < c.num_gates
    X = rng.random((64, 784)) < 0.5
    assert (d.simulate(X) == c.simulate(X)).all()


def test_levels_have_one_definition():
    """Inputs and constants are level 0, other gates 1 + their deepest operand; depth agrees
    between the IR and the report (a circuit whose only output is TRUE has depth 0)."""
    from gatelearn.circuit.report import describe
    c = Circuit(2, [ID["TRUE"], ID["AND"], ID["NOT_A"], ID["OR"]], [0, 0, 3, 4], [0, 1, 0, 2],
                [2]).validate()
    assert c.node_levels().tolist() == [0, 0, 0, 1, 2, 3]
    assert c.depth() == 0 and describe(c)["depth"] == 0
    c.outputs = np.array([5])
    assert c.depth() == 3 and describe(c)["depth"] == 3


# ------------------------------------------------------------------ the level-by-level reference
# The passes' first implementation: every gate rewritten one logic level at a time (a level only
# reads lower ones), each gate once, from its function and its operands' views. The passes now
# compute the views in closed form (pointer jumping, cascades, one vectorised fold) and must give
# exactly its circuits: same gates, same order, same outputs.
ROW_WEIGHTS = np.array([8, 4, 2, 1])


class LevelSweep:
    def __init__(self, c):
        N = c.num_nodes
        self.c, self.node, self.neg = c, np.arange(N), np.zeros(N, bool)
        self.const, self.out = np.full(N, -1, np.int8), np.arange(N)
        self.op, self.a, self.b = c.op.copy(), c.a.copy(), c.b.copy()

    def groups(self):
        n = self.c.num_inputs
        lv = self.c.node_levels()[n:]
        return [np.flatnonzero(lv == L) for L in np.unique(lv)]

    def operands(self, g):
        op = self.op[g]
        t = TRUTH_NP[op].copy()
        ua, ub = USES_A[op], USES_B[op]
        a, b = self.a[g], self.b[g]
        na, nb = ua & self.neg[a], ub & self.neg[b]
        t[na] = t[na][:, [2, 3, 0, 1]]
        t[nb] = t[nb][:, [1, 0, 3, 2]]
        ka, kb = np.where(ua, self.const[a], -1), np.where(ub, self.const[b], -1)
        for v in (0, 1):
            s = ka == v
            t[s] = t[s][:, [2 * v, 2 * v + 1, 2 * v, 2 * v + 1]]
            s = kb == v
            t[s] = t[s][:, [v, v, 2 + v, 2 + v]]
        return t, np.where(ua & (ka < 0), self.node[a], 0), np.where(ub & (kb < 0), self.node[b], 0)

    def set_gates(self, g, t, a, b):
        op = (t @ ROW_WEIGHTS).astype(np.uint8)
        a, b = canonical_operands(op, a, b)
        self.op[g], self.a[g], self.b[g] = op, a, b
        return op, a, b

    def build(self):
        c, n = self.c, self.c.num_inputs
        kept = np.flatnonzero(self.out[n:] == np.arange(n, c.num_nodes))
        new_id = np.full(c.num_nodes, -1)
        new_id[:n] = np.arange(n)
        new_id[n + kept] = n + np.arange(len(kept))
        op = self.op[kept]
        a, b = canonical_operands(op, new_id[self.a[kept]], new_id[self.b[kept]])
        return Circuit(n, op, a, b, new_id[self.out[c.outputs]], c.head, c.encoder, c.layer[kept], dict(c.meta))


def sweep(c, rule):
    rw = LevelSweep(c)
    for g in rw.groups():
        rule(rw, g, *rw.operands(g), c.num_inputs)
    return rw.build()


def ref_propagate_constants(c):
    def rule(rw, g, t, a, b, n):
        op, a, b = rw.set_gates(g, t, a, b)
        k = (op == ID["FALSE"]) | (op == ID["TRUE"])
        rw.const[n + g[k]] = op[k] == ID["TRUE"]
    return sweep(c, rule)


def ref_remove_buffers(c):
    def rule(rw, g, t, a, b, n):
        op, a, b = rw.set_gates(g, t, a, b)
        src, nodes = np.where(USES_A[op], a, b), n + g
        buf, inv = np.isin(op, [ID["A"], ID["B"]]), np.isin(op, [ID["NOT_A"], ID["NOT_B"]])
        rw.node[nodes[buf]] = src[buf]
        rw.out[nodes[buf]] = rw.out[src[buf]]
        rw.node[nodes[inv]] = src[inv]
        rw.neg[nodes[inv]] = True
    return sweep(c, rule)


def ref_absorb_output_inverters(c):
    n = c.num_inputs
    out_nodes = np.unique(c.outputs)
    out_gates = out_nodes[out_nodes >= n] - n
    not_out = out_gates[np.isin(c.op[out_gates], [ID["NOT_A"], ID["NOT_B"]])]
    src = np.where(c.op[not_out] == ID["NOT_A"], c.a[not_out], c.b[not_out])
    flip = np.zeros(c.num_nodes, bool)
    flip[src[src >= n]] = True
    flip[out_nodes] = False
    flip[n:] &= ~np.isin(c.op, [ID["FALSE"], ID["TRUE"]])

    def rule(rw, g, t, a, b, n):
        f = flip[n + g]
        t[f] = 1 - t[f]
        rw.set_gates(g, t, a, b)
        rw.neg[n + g[f]] = True
    return sweep(c, rule)


def ref_collapse_same_operands(c):
    def rule(rw, g, t, a, b, n):
        op = (t @ ROW_WEIGHTS).astype(np.uint8)
        same = USES_A[op] & USES_B[op] & (a == b)
        t[same] = t[same][:, [0, 0, 3, 3]]
        rw.set_gates(g, t, a, b)
    return sweep(c, rule)


def ref_structural_hash(c):
    N = c.num_nodes + 1

    def rule(rw, g, t, a, b, n):
        op = (t @ ROW_WEIGHTS).astype(np.uint8)
        swap = (~USES_A[op] & USES_B[op]) | (USES_A[op] & USES_B[op] & (a > b))
        t[swap] = t[swap][:, [0, 2, 1, 3]]
        op, a, b = rw.set_gates(g, t, np.where(swap, b, a), np.where(swap, a, b))
        _, first, inverse = np.unique((a * N + b) * NUM_GATES + op, return_index=True, return_inverse=True)
        rep, nodes = n + g[first[inverse.reshape(-1)]], n + g
        dup = rep != nodes
        rw.node[nodes[dup]] = rep[dup]
        rw.out[nodes[dup]] = rep[dup]
    return sweep(c, rule)


def ref_remove_dead(c):
    n = c.num_inputs
    live = np.zeros(c.num_nodes, bool)
    live[c.outputs] = True
    rw = LevelSweep(c)
    for g in reversed(rw.groups()):
        g = g[live[n + g]]
        live[c.a[g[USES_A[c.op[g]]]]] = True
        live[c.b[g[USES_B[c.op[g]]]]] = True
    rw.out[n + np.flatnonzero(~live[n:])] = -1
    return rw.build()


REFERENCE = {"propagate_constants": ref_propagate_constants, "remove_buffers": ref_remove_buffers,
             "absorb_output_inverters": ref_absorb_output_inverters,
             "collapse_same_operands": ref_collapse_same_operands, "structural_hash": ref_structural_hash,
             "remove_dead": ref_remove_dead}


def identical(x, y):
    return (x.num_inputs == y.num_inputs and np.array_equal(x.op, y.op) and np.array_equal(x.a, y.a)
            and np.array_equal(x.b, y.b) and np.array_equal(x.outputs, y.outputs)
            and np.array_equal(x.layer, y.layer))


def doubled(c):
    """Two copies of ``c`` on the same inputs: the second copy merges into the first gate by
    gate, from the inputs up (the longest cascade structural hashing can have)."""
    n, G = c.num_inputs, c.num_gates
    shift = lambda x: np.where(x >= n, x + G, x)   # noqa: E731
    op = np.r_[c.op, c.op]
    a, b = canonical_operands(op, np.r_[c.a, shift(c.a)], np.r_[c.b, shift(c.b)])
    outputs = np.r_[c.outputs, shift(c.outputs)]
    return Circuit(n, op, a, b, outputs, Head(2 * c.head.classes, 1.0) if c.head else None).validate()


@st.composite
def rewritable_circuits(draw):
    """Random circuits, some of them rich in what the passes remove: copies, NOTs, constants,
    duplicates, deep chains, and two copies of one circuit."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n = draw(st.integers(0, 8))
    g = draw(st.integers(0, 400))
    c = random_circuit(rng, n, g, draw(st.integers(1, 3)), draw(st.integers(1, 4)),
                       locality=draw(st.sampled_from([None, 2, 3, 8, 40])))
    kind = draw(st.sampled_from(["plain", "unary", "duplicates", "doubled"]))
    if kind == "unary" and g and n:
        pick = rng.random(g) < 0.5
        c.op[pick] = rng.choice([ID[k] for k in ("A", "B", "NOT_A", "NOT_B", "FALSE", "TRUE", "AND")], pick.sum())
        own = n + np.arange(g)
        # operands of gates that read nothing before: any earlier node
        c.a = np.where(c.a == 0, (rng.random(g) * own).astype(np.int64), c.a)
        c.b = np.where(c.b == 0, (rng.random(g) * own).astype(np.int64), c.b)
        c.a, c.b = canonical_operands(c.op, c.a, c.b)
    elif kind == "duplicates" and g > 1:
        for _ in range(g // 3):
            i = int(rng.integers(0, g - 1))
            j = int(rng.integers(i + 1, g))
            c.op[j], c.a[j], c.b[j] = c.op[i], c.a[i], c.b[i]
    elif kind == "doubled":
        c = doubled(c)
    return c.validate()


@settings(max_examples=120, deadline=None)
@given(rewritable_circuits())
def test_passes_match_the_level_by_level_reference(c):
    cur = c
    for _ in range(3):       # later rounds see circuits the earlier passes made
        for name, p in PASSES.items():
            want = REFERENCE[name](cur)
            assert identical(p(cur), want), name
            cur = want


def test_long_cascades_match_the_reference():
    """Cascades one gate per step: two copies of a 700-gate chain merge gate by gate (small
    steps take the incremental regrouping), an AND chain fed by FALSE folds to constants gate by
    gate, and a live chain sits next to a dead one."""
    rng = np.random.default_rng(3)
    n, G = 6, 700
    own = n + np.arange(G)
    op = rng.choice([ID[k] for k in ("AND", "OR", "XOR", "NAND", "A_AND_NOT_B")], G).astype(np.uint8)
    chain = Circuit(n, op, np.r_[0, own[:-1]], rng.integers(0, n, G), own[::100]).validate()
    cases = [doubled(chain)]
    op = np.full(G, ID["AND"], np.uint8)
    op[0] = ID["FALSE"]
    a, b = canonical_operands(op, np.r_[0, own[:-1]], np.arange(G) % n)
    cases.append(Circuit(n, op, a, b, [own[-1], 1]).validate())
    live_and_dead = chain.copy()
    live_and_dead.outputs = own[G // 2:G // 2 + 1]
    cases.append(live_and_dead)
    for c in cases:
        cur = c
        for _ in range(2):
            for name, p in PASSES.items():
                want = REFERENCE[name](cur)
                assert identical(p(cur), want), name
                cur = want
    merged = PASSES["structural_hash"](cases[0])
    assert merged.num_gates == G and (merged.outputs[:7] == merged.outputs[7:]).all()
    assert PASSES["propagate_constants"](cases[1]).op.tolist() == [ID["FALSE"]] * G
    assert PASSES["remove_dead"](cases[2]).num_gates == G // 2 + 1
