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

Representation inside a pass: every old node gets a *consumer view* ``(node, neg, const)`` --
what a later gate should read instead of it (a kept node, possibly negated, or a constant) -- and
an *output view*: a kept node that computes exactly the old node (for the circuit's outputs,
which must not change meaning). Every gate is then rewritten once, all gates in one vectorised
step, from its original function and the views of its operands (:func:`_fold`); kept gates keep
their relative order, so the result is again topologically ordered.

Speed: circuits have 10^5..10^6 gates and arithmetic ones are thousands of levels deep (the EPFL
``hyp``: 184K gates, depth 24,800), so no pass walks the circuit level by level: a Python step
per level costs more than all the vectorised work together. Each pass computes the views in
closed form instead, in time linear in the gates plus a few NumPy calls per round of a cascade:

* views that do not depend on each other (``absorb_output_inverters``,
  ``collapse_same_operands``) are one vectorised step;
* chains of copies and NOTs (``remove_buffers``) are resolved by pointer jumping, log2 of the
  longest chain rounds;
* constants (``propagate_constants``) and merged duplicates (``structural_hash``) spread from
  the gates they change to those gates' readers only, one round per step of the longest chain
  of changes (short in practice: a change stops where a gate does not fold or merge);
* liveness (``remove_dead``) grows from the outputs down and, at the same time, dead gates from
  the unread gates up; whichever finishes first decides, so a deep circuit with little to
  remove costs a few rounds.

The result is exactly the one of rewriting the gates level by level (each gate after its
operands): ``tests/test_passes.py`` compares the two on random circuits.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from ..gates import BY_NAME, TRUTH_NP
from .ir import USES_A, USES_B, Circuit

__all__ = ["propagate_constants", "remove_buffers", "absorb_output_inverters", "collapse_same_operands",
           "structural_hash", "remove_dead", "optimize", "DEFAULT_PASSES", "PASSES"]

OP_FALSE, OP_TRUE = BY_NAME["FALSE"].id, BY_NAME["TRUE"].id
OP_A, OP_B = BY_NAME["A"].id, BY_NAME["B"].id
OP_NOT_A, OP_NOT_B = BY_NAME["NOT_A"].id, BY_NAME["NOT_B"].id
_WEIGHTS = np.array([8, 4, 2, 1], np.int64)       # truth rows (00, 01, 10, 11) -> gate id


def _rows(perm: list[int]) -> np.ndarray:
    """Gate id -> the id of the function whose truth rows are the gate's rows in order ``perm``
    (row 00 is the top bit of an id): a rewrite of the truth table as one table lookup."""
    return (TRUTH_NP[:, perm] @ _WEIGHTS).astype(np.uint8)


_NEG_A = _rows([2, 3, 0, 1])                         # f(~a, b): rows a=0 and a=1 swap
_NEG_B = _rows([1, 0, 3, 2])                         # f(a, ~b)
_FIX_A = (_rows([0, 1, 0, 1]), _rows([2, 3, 2, 3]))  # a fixed to 0 / 1: rows (v0, v1) for either a
_FIX_B = (_rows([0, 0, 2, 2]), _rows([1, 1, 3, 3]))  # b fixed to 0 / 1: rows (0v, 1v)
_SAME = _rows([0, 0, 3, 3])                          # f(x, x): rows 00 and 11
_SWAP = _rows([0, 2, 1, 3])                          # f(b, a): rows 01 and 10 swap
_IS_CONST = np.isin(np.arange(16), [OP_FALSE, OP_TRUE])
_IS_UNARY = np.isin(np.arange(16), [OP_A, OP_B, OP_NOT_A, OP_NOT_B])
_IS_NOT = np.isin(np.arange(16), [OP_NOT_A, OP_NOT_B])


class _Views:
    """The consumer view ``(node, neg, const)`` and the output view ``out`` of every old node.
    ``neg`` / ``const`` stay None in passes that never set them (their folding is skipped)."""

    def __init__(self, c: Circuit, neg: bool = False, const: bool = False):
        N = c.num_nodes
        self.node = np.arange(N, dtype=np.int64)      # consumer view: read this node ...
        self.neg = np.zeros(N, bool) if neg else None  # ... negated ...
        self.const = np.full(N, -1, np.int8) if const else None   # ... or this constant (0/1) when >= 0
        self.out = np.arange(N, dtype=np.int64)       # output view: a kept node computing the same


def _fold(c: Circuit, v: _Views, g: np.ndarray | None = None):
    """Gates ``g`` (all when None) with their operands replaced by the consumer views: negations
    and constants folded into the function. Returns (op, a, b); an operand that became a constant
    reads 0, one the new function ignores may still hold its node (see :func:`_canonical`)."""
    op0, a0, b0 = (c.op, c.a, c.b) if g is None else (c.op[g], c.a[g], c.b[g])
    ua, ub = USES_A[op0], USES_B[op0]
    op = op0
    if v.neg is not None:
        op = np.where(ua & v.neg[a0], _NEG_A[op], op)
        op = np.where(ub & v.neg[b0], _NEG_B[op], op)
    if v.const is not None:
        ka = np.where(ua, v.const[a0], -1)
        kb = np.where(ub, v.const[b0], -1)
        for val in (0, 1):     # with both fixed either order gives the constant f(ka, kb)
            op = np.where(ka == val, _FIX_A[val][op], op)
            op = np.where(kb == val, _FIX_B[val][op], op)
        ua, ub = ua & (ka < 0), ub & (kb < 0)
    return op.astype(np.uint8), np.where(ua, v.node[a0], 0), np.where(ub, v.node[b0], 0)


def _canonical(op, a, b):
    """Operands the function ignores stored as 0 (the IR's canonical form)."""
    return op, np.where(USES_A[op], a, 0), np.where(USES_B[op], b, 0)


def _build(c: Circuit, op: np.ndarray, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> Circuit:
    """The rewritten circuit: kept gates are the gates that are their own output view, with the
    rewritten (op, a, b); operands are consumer views, which point at kept nodes by
    construction. Outputs use the output views."""
    n = c.num_inputs
    keep = out[n:] == np.arange(n, c.num_nodes)
    new_id = np.full(c.num_nodes, -1, np.int64)
    new_id[:n] = np.arange(n)
    kept = np.flatnonzero(keep)
    new_id[n + kept] = n + np.arange(len(kept))
    op, a, b = op[kept], a[kept], b[kept]
    a = np.where(USES_A[op], new_id[a], 0)
    b = np.where(USES_B[op], new_id[b], 0)
    outputs = new_id[out[c.outputs]]
    assert (a >= 0).all() and (b >= 0).all() and (outputs >= 0).all(), "pass referenced a dropped node"
    return Circuit(n, op, a, b, outputs, c.head, c.encoder, c.layer[kept], dict(c.meta))


class _Readers:
    """The gates that read each node (compressed rows), built once per pass when needed."""

    def __init__(self, c: Circuit):
        ua, ub = USES_A[c.op], USES_B[c.op]
        g = np.arange(c.num_gates, dtype=np.int64)
        src = np.concatenate([c.a[ua], c.b[ub]])
        order = np.argsort(src, kind="stable")
        self.gates = np.concatenate([g[ua], g[ub]])[order]
        self.start = np.zeros(c.num_nodes + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=c.num_nodes), out=self.start[1:])

    def of(self, nodes: np.ndarray) -> np.ndarray:
        """The distinct gates reading any of ``nodes``, in increasing order."""
        lo = self.start[nodes]
        count = self.start[nodes + 1] - lo
        # position j of node i's row: lo_i + j, as one flat index array
        at = np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
        return np.unique(self.gates[at])


def _operands(c: Circuit, g: np.ndarray) -> np.ndarray:
    """The nodes gates ``g`` read (with repeats)."""
    op = c.op[g]
    return np.concatenate([c.a[g][USES_A[op]], c.b[g][USES_B[op]]])


# ---------------------------------------------------------------------------------- passes
def propagate_constants(c: Circuit) -> Circuit:
    """Fold constant operands into each gate; a gate whose function becomes constant becomes a
    constant gate (FALSE / TRUE), and its consumers fold it in turn."""
    n = c.num_inputs
    v = _Views(c, const=True)
    new = np.flatnonzero(_IS_CONST[c.op])
    v.const[n + new] = c.op[new] == OP_TRUE
    readers = _Readers(c) if len(new) else None
    # Only readers of a gate that just became constant can become constant. Constness only
    # grows (fixing one more operand of a constant function keeps it that constant), so a gate
    # folded again after another operand turned constant ends where one fold with all final
    # views ends.
    while len(new):
        g = readers.of(n + new)
        op, _, _ = _fold(c, v, g)
        turned = _IS_CONST[op] & (v.const[n + g] < 0)
        new = g[turned]
        v.const[n + new] = op[turned] == OP_TRUE
    return _build(c, *_canonical(*_fold(c, v)), v.out)


def remove_buffers(c: Circuit) -> Circuit:
    """Bypass copy gates (A, B) and fold NOT gates (NOT_A, NOT_B) into their consumers; double
    negations disappear. A NOT gate stays only where an output needs it."""
    n = c.num_inputs
    v = _Views(c, neg=True)
    # Chains of one-input gates, resolved by pointer jumping: each gets its root (the first node
    # that is not a copy or a NOT, following operands) and the parity of the NOTs on the way,
    # itself included. parity[x] covers the path from x to up[x], up[x] excluded.
    u = np.flatnonzero(_IS_UNARY[c.op])
    up = np.arange(c.num_nodes, dtype=np.int64)
    parity = np.zeros(c.num_nodes, bool)
    up[n + u] = np.where(USES_A[c.op[u]], c.a[u], c.b[u])
    parity[n + u] = _IS_NOT[c.op[u]]
    todo = n + u
    while len(todo):
        todo = todo[up[up[todo]] != up[todo]]       # those whose next node is not a root yet
        nxt = up[todo]
        parity[todo] ^= parity[nxt]                 # both right-hand sides read the old values
        up[todo] = up[nxt]
    # A chain with an even number of NOTs is a copy of its root: read through, same output
    # view. An odd one is a NOT of the root: readers take the root negated, and the gate stays
    # (as a NOT of the root) for the outputs that name it.
    v.node[n + u] = up[n + u]
    v.neg[n + u] = parity[n + u]
    copy = u[~parity[n + u]]
    v.out[n + copy] = up[n + copy]
    return _build(c, *_canonical(*_fold(c, v)), v.out)


def absorb_output_inverters(c: Circuit) -> Circuit:
    """The NOT gates ``remove_buffers`` must keep are outputs ``NOT(x)``. When no output reads the
    gate x itself, x is rewritten to compute ``~x`` (another of the 16 functions): the NOT then
    reads ``~~x`` and becomes a copy (bypassed by ``remove_buffers``), and every other reader of
    x reads the new gate negated, which folds into its own function. One gate fewer per such x;
    in trained networks the last layer has many NOT outputs."""
    n = c.num_inputs
    out_nodes = np.unique(c.outputs)
    out_gates = out_nodes[out_nodes >= n] - n
    not_out = out_gates[_IS_NOT[c.op[out_gates]]]
    src = np.where(c.op[not_out] == OP_NOT_A, c.a[not_out], c.b[not_out])
    flip = np.zeros(c.num_nodes, bool)
    flip[src[src >= n]] = True
    flip[out_nodes] = False                     # an output needs x itself
    flip[n:] &= ~_IS_CONST[c.op]                # constants are propagate_constants' job
    # Readers take a complemented gate negated (its old value); which gates are complemented
    # is known up front, so every gate folds at once.
    v = _Views(c, neg=True)
    v.neg[:] = flip
    op, a, b = _fold(c, v)
    op = np.where(flip[n:], 15 - op, op).astype(np.uint8)     # complement: every truth row flips
    return _build(c, *_canonical(op, a, b), v.out)


def collapse_same_operands(c: Circuit) -> Circuit:
    """A gate reading the same node twice, f(x, x), becomes the one-input function
    (f(0,0) for x=0, f(1,1) for x=1) of x -- a constant, a copy or a NOT."""
    v = _Views(c)
    op, a, b = _fold(c, v)
    same = USES_A[op] & USES_B[op] & (a == b)
    op = np.where(same, _SAME[op], op)
    return _build(c, *_canonical(op, a, b), v.out)


class _Classes:
    """The gates grouped by key (structural_hash's (function, operands)), each class represented
    by its lowest gate, kept up to date while keys change.

    A regrouping sorts all keys, a cost in the number of gates; a chain of merges one gate at a
    time (two copies of one deep cone merge level by level) would pay it once per level. So
    small changes go through :meth:`move`, which touches only the classes involved: the sorted
    grouping of the last regrouping, plus a dict of the gates that took a key since."""

    def __init__(self, key: np.ndarray):
        order = np.argsort(key, kind="stable")        # stable: equal keys in increasing gate order
        ks = key[order]
        first = np.r_[True, ks[1:] != ks[:-1]] if len(ks) else np.zeros(0, bool)
        self.rep = np.empty(len(key), np.int64)
        self.rep[order] = order[np.flatnonzero(first)][np.cumsum(first) - 1]
        self.order = order
        self.start = np.r_[np.flatnonzero(first), len(ks)]
        self.keys = ks[first]
        self.moved: dict[int, list[int]] = {}

    def members(self, k: int, key: np.ndarray) -> list[int]:
        """The gates whose key is now ``k`` (entries whose gate took another key since are stale)."""
        i = int(np.searchsorted(self.keys, k))
        found = []
        if i < len(self.keys) and self.keys[i] == k:
            found = [g for g in self.order[self.start[i]:self.start[i + 1]].tolist() if key[g] == k]
        return found + [g for g in self.moved.get(k, ()) if key[g] == k]

    def move(self, gates: np.ndarray, key: np.ndarray) -> np.ndarray:
        """``gates`` have new keys: join them to the classes of their keys. Returns the gates
        whose representative changed."""
        changed = []
        for k in np.unique(key[gates]).tolist():
            self.moved.setdefault(k, []).extend(gates[key[gates] == k].tolist())
            cls = self.members(k, key)
            low = min(cls)
            changed += [g for g in cls if self.rep[g] != low]
            self.rep[cls] = low
        return np.array(sorted(set(changed)), np.int64)


def structural_hash(c: Circuit) -> Circuit:
    """One gate per distinct (function, operands). Operands are first put in canonical order:
    a gate reading only b is rewritten to read a, and a two-operand gate gets a < b (swapping the
    operands of a non-commutative function swaps its truth rows 01 and 10). A duplicate is
    replaced by the lowest-numbered gate of its kind; constant gates of one value are one."""
    n = c.num_inputs
    G = c.num_gates
    N = np.int64(c.num_nodes + 1)
    v = _Views(c)
    op, a, b = np.empty(G, np.uint8), np.empty(G, np.int64), np.empty(G, np.int64)
    key = np.empty(G, np.int64)

    def rewrite(g):
        o, x, y = _fold(c, v, g)
        swap = (~USES_A[o] & USES_B[o]) | (USES_A[o] & USES_B[o] & (x > y))
        o = np.where(swap, _SWAP[o], o)
        o, x, y = _canonical(o, np.where(swap, y, x), np.where(swap, x, y))
        op[g], a[g], b[g] = o, x, y
        key[g] = (x * N + y) * 16 + o

    rewrite(np.arange(G))
    classes = _Classes(key)
    changed = np.flatnonzero(classes.rep != np.arange(G))
    readers = None
    # Merging gates can make their readers equal, and so on up: readers of gates whose
    # representative changed are rewritten and regrouped until nothing changes. The gates of a
    # class read the same nodes, so they are rewritten together: classes only merge, and a
    # representative only moves down, so this ends; then every gate's key is the one of its
    # final operands, which is what a level-by-level sweep computes.
    while len(changed):
        v.node[n + changed] = n + classes.rep[changed]
        if readers is None:
            readers = _Readers(c)
        g = readers.of(n + changed)
        rewrite(g)
        if len(g) * 64 >= G:            # many: regroup all at once
            before = classes.rep
            classes = _Classes(key)
            changed = np.flatnonzero(classes.rep != before)
        else:
            changed = classes.move(g, key)
    v.out = v.node       # a duplicate's output is its representative
    return _build(c, op, a, b, v.out)


def remove_dead(c: Circuit) -> Circuit:
    """Drop the gates no output depends on."""
    n, N = c.num_inputs, c.num_nodes
    is_out = np.zeros(N, bool)
    is_out[c.outputs] = True
    live = is_out.copy()
    dead = np.zeros(N, bool)
    ua, ub = USES_A[c.op], USES_B[c.op]
    unread = np.bincount(c.a[ua], minlength=N) + np.bincount(c.b[ub], minlength=N)   # readers not yet dead
    grow = np.unique(c.outputs[c.outputs >= n])             # newly live gates
    fall = n + np.flatnonzero((unread[n:] == 0) & ~is_out[n:])   # newly dead gates
    # Liveness spreads down from the outputs, deadness up from the unread gates (a gate dies
    # when its last reader does). Either one finished decides every gate, so the rounds are
    # those of the shorter: few on a deep circuit with little dead logic, and on a dead cone.
    while len(grow) and len(fall):
        nodes = np.unique(_operands(c, grow - n))
        nodes = nodes[~live[nodes]]
        live[nodes] = True
        grow = nodes[nodes >= n]
        dead[fall] = True
        nodes, times = np.unique(_operands(c, fall - n), return_counts=True)
        unread[nodes] -= times
        fall = nodes[(unread[nodes] == 0) & (nodes >= n) & ~is_out[nodes]]
    drop = dead[n:] if len(fall) == 0 else ~live[n:]
    out = np.arange(N, dtype=np.int64)
    out[n:][drop] = -1     # not its own output view -> dropped; nothing live reads it
    return _build(c, c.op, c.a, c.b, out)


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
