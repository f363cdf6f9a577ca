"""Optimisation passes on the circuit IR. Each pass is a function ``Circuit -> Circuit`` that
keeps the function of every output (an output may end up on an input node or a constant gate);
:func:`optimize` runs a list of passes until none changes the circuit any more.

Passes
    propagate_constants   a constant operand is folded into the gate's function
    remove_buffers        copies (A, B) are bypassed; NOT gates are folded into their consumers
                          (every 2-input function with a negated operand is again one of the 16),
                          which also removes double negations
    absorb_output_inverters an output NOT(x) of a gate x that no output reads directly: x is
                          complemented instead (the 16 functions are closed under negation),
                          so the NOT becomes a copy and x's other readers take it negated
    collapse_same_operands f(x, x) becomes a function of x alone
    structural_hash       one gate per distinct (function, operands); operands put in a canonical
                          order (a <= b, swapping the truth table for non-commutative gates)
    remove_dead           gates that reach no output are dropped

Speed: circuits have 10^5..10^6 gates, so nothing loops over gates in Python. A pass works one
logic level at a time (a level depends only on lower levels), vectorised over the level; the
number of Python iterations is the depth of the circuit.

Representation inside a pass: every old node gets a *consumer view* ``(node, neg, const)`` --
what a later gate should read instead of it (a kept node, possibly negated, or a constant) -- and
an *output view*: a kept node that computes exactly the old node (for the circuit's outputs,
which must not change meaning). Kept gates keep their relative order, so the result is again
topologically ordered.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..gates import BY_NAME, NUM_GATES, TRUTH_NP
from .ir import USES_A, USES_B, Circuit

__all__ = ["propagate_constants", "remove_buffers", "absorb_output_inverters", "collapse_same_operands",
           "structural_hash", "remove_dead", "optimize", "DEFAULT_PASSES", "PASSES"]

OP_FALSE, OP_TRUE = BY_NAME["FALSE"].id, BY_NAME["TRUE"].id
OP_A, OP_B = BY_NAME["A"].id, BY_NAME["B"].id
OP_NOT_A, OP_NOT_B = BY_NAME["NOT_A"].id, BY_NAME["NOT_B"].id
_WEIGHTS = np.array([8, 4, 2, 1], np.int64)       # truth rows (00, 01, 10, 11) -> gate id


def _ids(t: np.ndarray) -> np.ndarray:
    """(n, 4) truth rows -> gate ids (the table's numbering: row 00 is the top bit)."""
    return (t @ _WEIGHTS).astype(np.uint8)


def _gate_levels(c: Circuit) -> np.ndarray:
    """Level of every gate (G,), from the IR's one level function."""
    return c.node_levels()[c.num_inputs:]


def _level_groups(levels: np.ndarray):
    order = np.argsort(levels, kind="stable")
    if not len(order):
        return
    bounds = np.flatnonzero(np.diff(levels[order])) + 1
    yield from np.split(order, bounds)


class _Rewrite:
    """Shared machinery: the consumer and output views of every old node, and the rebuild."""

    def __init__(self, c: Circuit):
        self.c = c
        N = c.num_nodes
        self.node = np.arange(N, dtype=np.int64)      # consumer view: read this node ...
        self.neg = np.zeros(N, bool)                  # ... negated ...
        self.const = np.full(N, -1, np.int8)          # ... or this constant (0/1) when >= 0
        self.out = np.arange(N, dtype=np.int64)       # output view: a kept node computing the same
        self.op = c.op.copy()
        self.a = c.a.copy()
        self.b = c.b.copy()

    def operands(self, g: np.ndarray):
        """Truth rows of gates g with their operands replaced by the consumer views: negations and
        constants folded into the truth table. Returns (t (n,4), a, b)."""
        c, n = self.c, self.c.num_inputs
        op = self.op[g]
        t = TRUTH_NP[op].copy()
        ua, ub = USES_A[op], USES_B[op]
        a, b = self.a[g], self.b[g]
        na, nb = ua & self.neg[a], ub & self.neg[b]
        # f(~x, y): rows with a=0 and a=1 swap; f(x, ~y): rows with b=0 and b=1 swap.
        t[na] = t[na][:, [2, 3, 0, 1]]
        t[nb] = t[nb][:, [1, 0, 3, 2]]
        ka = np.where(ua, self.const[a], -1)
        kb = np.where(ub, self.const[b], -1)
        for v in (0, 1):   # a fixed to v: the function of b is rows (v0, v1), for either a
            s = ka == v
            t[s] = t[s][:, [2 * v, 2 * v + 1, 2 * v, 2 * v + 1]]
            s = kb == v   # b fixed to v: the function of a is rows (0v, 1v)
            t[s] = t[s][:, [v, v, 2 + v, 2 + v]]
        a = np.where(ua & (ka < 0), self.node[a], 0)
        b = np.where(ub & (kb < 0), self.node[b], 0)
        del c, n
        return t, a, b

    def set_gates(self, g, t, a, b):
        op = _ids(t)
        a = np.where(USES_A[op], a, 0)
        b = np.where(USES_B[op], b, 0)
        self.op[g], self.a[g], self.b[g] = op, a, b
        return op, a, b

    def build(self) -> Circuit:
        """Kept gates = gates that are their own output view. Operands are consumer views, which
        point at kept nodes by construction. Outputs use the output views."""
        c, n = self.c, self.c.num_inputs
        keep = self.out[n:] == np.arange(n, c.num_nodes)
        new_id = np.full(c.num_nodes, -1, np.int64)
        new_id[:n] = np.arange(n)
        kept = np.flatnonzero(keep)
        new_id[n + kept] = n + np.arange(len(kept))
        op, a, b = self.op[kept], self.a[kept], self.b[kept]
        a = np.where(USES_A[op], new_id[a], 0)
        b = np.where(USES_B[op], new_id[b], 0)
        outputs = new_id[self.out[c.outputs]]
        assert (a >= 0).all() and (b >= 0).all() and (outputs >= 0).all(), "pass referenced a dropped node"
        res = Circuit(n, op, a, b, outputs, c.head, c.encoder, c.layer[kept], dict(c.meta))
        return res


def _sweep(c: Circuit, rule: Callable) -> Circuit:
    """Visit the gates level by level; ``rule(rw, g, t, a, b)`` rewrites gates g (old ids)."""
    rw = _Rewrite(c)
    n = c.num_inputs
    for g in _level_groups(_gate_levels(c)):
        t, a, b = rw.operands(g)
        rule(rw, g, t, a, b, n)
    return rw.build()


# ---------------------------------------------------------------------------------- passes
def propagate_constants(c: Circuit) -> Circuit:
    """Fold constant operands into each gate; a gate whose function becomes constant becomes a
    constant gate (FALSE / TRUE), and its consumers fold it in turn."""
    def rule(rw, g, t, a, b, n):
        op, a, b = rw.set_gates(g, t, a, b)
        k = (op == OP_FALSE) | (op == OP_TRUE)
        rw.const[n + g[k]] = (op[k] == OP_TRUE)
    return _sweep(c, rule)


def remove_buffers(c: Circuit) -> Circuit:
    """Bypass copy gates (A, B) and fold NOT gates (NOT_A, NOT_B) into their consumers; double
    negations disappear. A NOT gate stays only where an output needs it."""
    def rule(rw, g, t, a, b, n):
        op, a, b = rw.set_gates(g, t, a, b)
        src = np.where(USES_A[op], a, b)
        nodes = n + g
        buf = (op == OP_A) | (op == OP_B)
        inv = (op == OP_NOT_A) | (op == OP_NOT_B)
        # A copy reads through to its source: same consumer view, same output view.
        rw.node[nodes[buf]] = src[buf]
        rw.out[nodes[buf]] = rw.out[src[buf]]
        # A NOT: consumers read the source negated; the gate itself stays for outputs.
        rw.node[nodes[inv]] = src[inv]
        rw.neg[nodes[inv]] = True
    return _sweep(c, rule)


def absorb_output_inverters(c: Circuit) -> Circuit:
    """The NOT gates ``remove_buffers`` must keep are outputs ``NOT(x)``. When no output reads the
    gate x itself, x is rewritten to compute ``~x`` (another of the 16 functions): the NOT then
    reads ``~~x`` and becomes a copy (bypassed by ``remove_buffers``), and every other reader of
    x reads the new gate negated, which folds into its own function. One gate fewer per such x;
    in trained networks the last layer has many NOT outputs."""
    n = c.num_inputs
    out_nodes = np.unique(c.outputs)
    out_gates = out_nodes[out_nodes >= n] - n
    not_out = out_gates[(c.op[out_gates] == OP_NOT_A) | (c.op[out_gates] == OP_NOT_B)]
    src = np.where(c.op[not_out] == OP_NOT_A, c.a[not_out], c.b[not_out])
    flip = np.zeros(c.num_nodes, bool)
    flip[src[src >= n]] = True
    flip[out_nodes] = False                     # an output needs x itself
    flip[n:] &= ~np.isin(c.op, [OP_FALSE, OP_TRUE])   # constants are propagate_constants' job

    def rule(rw, g, t, a, b, n):
        f = flip[n + g]
        t[f] = 1 - t[f]
        rw.set_gates(g, t, a, b)
        rw.neg[n + g[f]] = True       # readers take the complemented gate negated: the old value
    return _sweep(c, rule)


def collapse_same_operands(c: Circuit) -> Circuit:
    """A gate reading the same node twice, f(x, x), becomes the one-input function
    (f(0,0) for x=0, f(1,1) for x=1) of x -- a constant, a copy or a NOT."""
    def rule(rw, g, t, a, b, n):
        same = USES_A[_ids(t)] & USES_B[_ids(t)] & (a == b)
        t[same] = t[same][:, [0, 0, 3, 3]]
        rw.set_gates(g, t, a, b)
    return _sweep(c, rule)


def structural_hash(c: Circuit) -> Circuit:
    """One gate per distinct (function, operands). Operands are first put in canonical order:
    a gate reading only b is rewritten to read a, and a two-operand gate gets a < b (swapping the
    operands of a non-commutative function swaps its truth rows 01 and 10). A duplicate is
    replaced by the first gate of its kind: identical gates have identical levels, so comparing
    within a level finds them all."""
    N = np.int64(c.num_nodes + 1)

    def rule(rw, g, t, a, b, n):
        op = _ids(t)
        swap = (~USES_A[op] & USES_B[op]) | (USES_A[op] & USES_B[op] & (a > b))
        t[swap] = t[swap][:, [0, 2, 1, 3]]
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        op, a, b = rw.set_gates(g, t, a, b)
        key = (a * N + b) * NUM_GATES + op
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        rep = n + g[first[inverse.reshape(-1)]]
        nodes = n + g
        dup = rep != nodes
        rw.node[nodes[dup]] = rep[dup]
        rw.out[nodes[dup]] = rep[dup]
        # A duplicate of a constant gate is itself constant; consumers may already fold it.
    return _sweep(c, rule)


def remove_dead(c: Circuit) -> Circuit:
    """Drop the gates no output depends on (walking levels from the top down)."""
    n = c.num_inputs
    live = np.zeros(c.num_nodes, bool)
    live[c.outputs] = True
    groups = list(_level_groups(_gate_levels(c)))
    for g in reversed(groups):
        g = g[live[n + g]]
        ua, ub = USES_A[c.op[g]], USES_B[c.op[g]]
        live[c.a[g[ua]]] = True
        live[c.b[g[ub]]] = True
    rw = _Rewrite(c)
    dead = np.flatnonzero(~live[n:])
    rw.out[n + dead] = -1     # not its own output view -> dropped; nothing reads it
    return rw.build()


PASSES: dict[str, Callable[[Circuit], Circuit]] = {
    "propagate_constants": propagate_constants,
    "remove_buffers": remove_buffers,
    "absorb_output_inverters": absorb_output_inverters,
    "collapse_same_operands": collapse_same_operands,
    "structural_hash": structural_hash,
    "remove_dead": remove_dead,
}
DEFAULT_PASSES: tuple[Callable[[Circuit], Circuit], ...] = tuple(PASSES.values())


def _same(x: Circuit, y: Circuit) -> bool:
    return (x.num_gates == y.num_gates and np.array_equal(x.op, y.op) and np.array_equal(x.a, y.a)
            and np.array_equal(x.b, y.b) and np.array_equal(x.outputs, y.outputs))


def optimize(circuit: Circuit, passes: Sequence[Callable[[Circuit], Circuit]] = DEFAULT_PASSES,
             max_rounds: int = 50) -> tuple[Circuit, list[dict]]:
    """Run ``passes`` in order, repeatedly, until a whole round changes nothing.

    Returns the optimised circuit and a log: one entry per pass run (name, round, gates before
    and after, seconds). The result records the log summary in ``meta['passes']``.
    """
    c = circuit
    log: list[dict] = []
    start_gates = c.num_gates
    for rnd in range(max_rounds):
        changed = False
        for p in passes:
            t0 = time.perf_counter()
            nxt = p(c)
            entry = {"pass": p.__name__, "round": rnd, "gates_before": c.num_gates,
                     "gates_after": nxt.num_gates, "seconds": round(time.perf_counter() - t0, 4)}
            log.append(entry)
            if not _same(c, nxt):
                changed = True
            c = nxt
        if not changed:
            break
    c.meta = dict(c.meta)
    c.meta["passes"] = {"gates_before": start_gates, "gates_after": c.num_gates,
                        "rounds": log[-1]["round"] + 1 if log else 0,
                        "names": [p.__name__ for p in passes]}
    return c.validate(), log
