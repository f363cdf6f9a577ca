"""Circuit passes: each one preserves every output's function (exhaustively on small random
circuits), and does the rewrite it promises."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gatelearn.circuit.ir import Circuit, Head
from gatelearn.circuit.passes import PASSES, optimize
from gatelearn.circuit.random import random_circuit
from gatelearn.gates import BY_NAME

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


def test_levels_and_large_circuit_are_fast():
    rng = np.random.default_rng(0)
    c = random_circuit(rng, 784, 100_000, 10, 100, locality=20_000)
    lv = c.node_levels()
    assert (lv[:784] == 0).all() and lv[784:].min() >= 0
    import time
    t = time.perf_counter()
    d, log = optimize(c)
    assert time.perf_counter() - t < 60
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
