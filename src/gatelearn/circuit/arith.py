"""Gate-level arithmetic on unsigned numbers, appended to a :class:`CircuitBuilder`: popcount (an
adder tree), addition, comparison (with a constant or another number) and argmax. The heads
lowered into gates are made of these (:mod:`gatelearn.layers.heads`).

Numbers
    An unsigned number is an integer array of node ids shaped ``(W, *batch)``: bit i (weight 2^i)
    along axis 0, least significant bit first, for every number of the batch at once. Each step
    of a function appends the gates of the whole batch in one :meth:`CircuitBuilder.add_gates`
    call, so counting the ones of ten groups of a thousand bits takes a few hundred NumPy steps,
    not tens of thousands of Python calls.

Constants
    Inside this module a constant bit is not a node but a marker (``-1`` FALSE, ``-2`` TRUE), and
    a gate with a constant operand, or with the same node twice, is folded as it is made
    (``AND(x, FALSE)`` is FALSE, ``XOR(x, FALSE)`` is ``x``, ``XOR(x, TRUE)`` one NOT gate). So
    the constant index bits of an argmax, or the high bits of a count that cannot be set, cost no
    gates. The public functions return node ids: a constant bit of a result becomes the builder's
    shared constant node (:meth:`CircuitBuilder.constant`) only then.

Every result is exact for every input; the tests check each function bit for bit against NumPy
on random inputs. No torch.
"""
from __future__ import annotations

import numpy as np

from ..gates import BY_NAME, TRUTH_NP
from .builder import CircuitBuilder

__all__ = ["popcount", "add", "greater_than_constant", "greater", "mux", "argmax", "count_width", "index_width"]

_FALSE, _TRUE = -1, -2          # constant bits inside this module (never node ids, which are >= 0)
_NOT = BY_NAME["NOT_A"].id


def count_width(n: int) -> int:
    """Bits of the count of ``n`` bits (0..n), at least 1."""
    return max(1, int(n).bit_length())


def index_width(classes: int) -> int:
    """Bits of a class index 0..classes-1, at least 1."""
    return max(1, (int(classes) - 1).bit_length())


# ------------------------------------------------------------------------------ signals

def _value(s: np.ndarray) -> np.ndarray:
    """Per signal: 0 / 1 for a constant, -1 for a node."""
    return np.where(s == _FALSE, 0, np.where(s == _TRUE, 1, -1))


def _const(bits) -> np.ndarray:
    """0/1 values as constant signals."""
    return np.where(np.asarray(bits, bool), _TRUE, _FALSE).astype(np.int64)


def _signals(nodes, what: str) -> np.ndarray:
    """Node ids given to a public function, checked: the markers must not be mistaken for nodes."""
    arr = np.asarray(nodes)
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must be node ids (integers), got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{what} holds {int(arr.min())}; node ids are >= 0")
    return arr


def _nodes(b: CircuitBuilder, s: np.ndarray) -> np.ndarray:
    """Signals -> node ids: constants become the builder's shared constant nodes."""
    out = np.array(s, np.int64, copy=True)
    for marker, value in ((_FALSE, False), (_TRUE, True)):
        hit = out == marker
        if hit.any():
            out[hit] = b.constant(value)
    return out


def _gate(b: CircuitBuilder, name: str, x, y) -> np.ndarray:
    """Gate ``name`` applied elementwise to signals x and y (broadcast), folded where an operand
    is constant or both are the same node: what is left is a constant, a copy of one operand, a
    NOT gate of it, or the gate itself."""
    op = BY_NAME[name].id
    truth = TRUTH_NP[op]                                   # outputs for (x, y) = 00, 01, 10, 11
    x, y = np.broadcast_arrays(np.asarray(x, np.int64), np.asarray(y, np.int64))
    shape = x.shape
    x, y = x.reshape(-1), y.reshape(-1)
    vx, vy = _value(x), _value(y)
    both = (vx >= 0) & (vy >= 0)
    x_const = (vx >= 0) & ~both
    y_const = (vy >= 0) & ~both
    same = (vx < 0) & (vy < 0) & (x == y)
    general = ~(both | x_const | y_const | same)
    ix, iy = np.maximum(vx, 0), np.maximum(vy, 0)
    # What is left of the gate as a function of one node v: its outputs f0 (v = 0) and f1 (v = 1).
    v = np.where(x_const, y, x)
    f0 = np.select([both, x_const, y_const], [truth[2 * ix + iy], truth[2 * ix], truth[iy]], truth[0])
    f1 = np.select([both, x_const, y_const], [truth[2 * ix + iy], truth[2 * ix + 1], truth[2 + iy]], truth[3])
    out = np.where(f0 == f1, np.where(f0 == 1, _TRUE, _FALSE), v)
    negate = ~general & (f0 == 1) & (f1 == 0)
    if negate.any():
        out[negate] = b.add_gates(np.full(int(negate.sum()), _NOT), v[negate], np.zeros(int(negate.sum()), np.int64))
    if general.any():
        out[general] = b.add_gates(np.full(int(general.sum()), op), x[general], y[general])
    return out.reshape(shape)


def _mux(b: CircuitBuilder, s, x, y) -> np.ndarray:
    """``y`` where s is 1, else ``x`` (elementwise; s broadcasts over the leading axes of x and y)."""
    x, y = np.broadcast_arrays(np.asarray(x, np.int64), np.asarray(y, np.int64))
    s = np.broadcast_to(np.asarray(s, np.int64), x.shape)
    out = x.copy()
    # Equal operands need no gate; building the mux for them would leave OR(s, NOT s) behind.
    differ = x != y
    if differ.any():
        sd, xd, yd = s[differ], x[differ], y[differ]
        out[differ] = _gate(b, "OR", _gate(b, "AND", sd, yd), _gate(b, "A_AND_NOT_B", xd, sd))
    return out


def _full_add(b: CircuitBuilder, x, y, z, carry: bool = True):
    """Sum and carry of three bits (5 gates: XOR, XOR, AND, AND, OR); no carry gates when the
    caller knows the carry is always 0."""
    half = _gate(b, "XOR", x, y)
    total = _gate(b, "XOR", half, z)
    if not carry:
        return total, None
    return total, _gate(b, "OR", _gate(b, "AND", x, y), _gate(b, "AND", half, z))


def _add(b: CircuitBuilder, x: np.ndarray, y: np.ndarray, width: int) -> np.ndarray:
    """Ripple-carry sum of x and y (signals, (Wx, *batch) and (Wy, *batch)), its low ``width`` bits."""
    batch = np.broadcast_shapes(x.shape[1:], y.shape[1:])
    carry = np.full(batch, _FALSE, np.int64)
    bits = []
    for i in range(width):
        xi = x[i] if i < len(x) else _FALSE
        yi = y[i] if i < len(y) else _FALSE
        s, carry = _full_add(b, xi, yi, carry, carry=i + 1 < width)
        bits.append(np.broadcast_to(s, batch))
    return np.stack(bits) if bits else np.zeros((0, *batch), np.int64)


def _popcount(b: CircuitBuilder, bits: np.ndarray) -> np.ndarray:
    """Count of ones along axis 0 of signals ``bits`` (n, *batch) -> (count_width(n), *batch).

    A carry-save (Wallace) tree: bits of equal weight form a column; every round, each column
    turns its bits three at a time into a sum bit (same column) and a carry bit (the next one up)
    with full adders, until no column holds more than two; a ripple-carry adder then adds the two
    rows. Each full adder removes one bit, so about n full adders (5n gates), depth about
    3 log_1.5(n) plus the final adder. The count never reaches 2^width, so every bit of weight
    2^width or more would be constant 0: those carries are not built."""
    n, batch = bits.shape[0], bits.shape[1:]
    width = count_width(n)
    cols = [bits] + [np.zeros((0, *batch), np.int64) for _ in range(width - 1)]
    while any(len(col) > 2 for col in cols):
        nxt: list[list[np.ndarray]] = [[] for _ in range(width)]
        for w, col in enumerate(cols):
            q = len(col) // 3
            if q:
                s, c = _full_add(b, col[0:3 * q:3], col[1:3 * q:3], col[2:3 * q:3], carry=w + 1 < width)
                nxt[w].append(s)
                if c is not None:
                    nxt[w + 1].append(c)
            nxt[w].append(col[3 * q:])
        cols = [np.concatenate(parts) for parts in nxt]
    rows = [np.stack([col[r] if len(col) > r else np.full(batch, _FALSE, np.int64) for col in cols])
            for r in (0, 1)]
    return _add(b, rows[0], rows[1], width)


def _greater_than_constant(b: CircuitBuilder, x: np.ndarray, c: int) -> np.ndarray:
    """x > c for signals x (W, *batch) and an integer c: one gate per bit, from the least
    significant up: the low i+1 bits of x exceed those of c when x_i = 1 and c_i = 0, or when
    x_i equals c_i and the lower bits exceed (AND where c_i = 1, OR where c_i = 0)."""
    batch = x.shape[1:]
    if c < 0:
        return np.full(batch, _TRUE, np.int64)
    if c >= 1 << len(x):
        return np.full(batch, _FALSE, np.int64)
    g = np.full(batch, _FALSE, np.int64)
    for i in range(len(x)):
        g = _gate(b, "AND" if (c >> i) & 1 else "OR", x[i], g)
    return g


def _greater(b: CircuitBuilder, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x > y for signals (Wx, *batch), (Wy, *batch): the carry out of x + not(y), i.e. a chain of
    majority gates from the least significant bit, 4 gates per bit (the first one 1)."""
    width = max(len(x), len(y))
    batch = np.broadcast_shapes(x.shape[1:], y.shape[1:])
    g = np.full(batch, _FALSE, np.int64)
    for i in range(width):
        xi = x[i] if i < len(x) else np.full(batch, _FALSE, np.int64)
        yi = y[i] if i < len(y) else np.full(batch, _FALSE, np.int64)
        wins = _gate(b, "A_AND_NOT_B", xi, yi)                     # x_i = 1, y_i = 0
        if i == 0:      # nothing below bit 0: no carry in (the XNOR would be left unread)
            g = np.broadcast_to(wins, batch)
            continue
        g = _gate(b, "OR", wins, _gate(b, "AND", _gate(b, "XNOR", xi, yi), g))
    return g


def _argmax(b: CircuitBuilder, counts: np.ndarray) -> np.ndarray:
    """Index of the largest of ``counts`` (W, C, *batch) signals, the lowest index on ties ->
    (index_width(C), *batch).

    A tournament over adjacent pairs, level by level: the right one wins only when strictly
    greater. The left subtree always holds the lower indices, so each subtree's winner is the
    lowest-indexed of its maxima, as np.argmax and torch.argmax choose. The index bits start as
    constants; the muxes fold them, so choosing between 2i and 2i+1 costs no gate for the index."""
    C, batch = counts.shape[1], counts.shape[2:]
    bits = index_width(C)
    index = _const((np.arange(C)[None, :] >> np.arange(bits)[:, None]) & 1)     # (B, C)
    index = np.broadcast_to(index.reshape(bits, C, *([1] * len(batch))), (bits, C, *batch))
    values = counts
    while values.shape[1] > 1:
        m = values.shape[1]
        p = m // 2
        left, right = values[:, 0:2 * p:2], values[:, 1:2 * p:2]
        right_wins = _greater(b, right, left)                                       # (p, *batch)
        won_index = _mux(b, right_wins, index[:, 0:2 * p:2], index[:, 1:2 * p:2])
        # The winners' values are compared again only if more than one is left: after the final
        # comparison they would be gates nothing reads.
        won = _mux(b, right_wins, left, right) if p + m % 2 > 1 else left
        if m % 2:       # the last one has no partner: it meets the winners one level up
            won = np.concatenate([won, values[:, m - 1:]], axis=1)
            won_index = np.concatenate([won_index, index[:, m - 1:]], axis=1)
        values, index = won, won_index
    return index[:, 0]


# ------------------------------------------------------------------------------ public

def popcount(builder: CircuitBuilder, bits) -> np.ndarray:
    """The number of ones along axis 0 of ``bits`` (node ids, shape (n, *batch)), as a number
    (count_width(n), *batch) of node ids, least significant bit first."""
    bits = _signals(bits, "popcount bits")
    if bits.ndim == 0:
        raise ValueError("popcount needs bits shaped (n, *batch)")
    return _nodes(builder, _popcount(builder, bits))


def add(builder: CircuitBuilder, x, y) -> np.ndarray:
    """x + y for numbers (Wx, *batch), (Wy, *batch): max(Wx, Wy) + 1 bits, ripple carry."""
    x, y = _signals(x, "add operand x"), _signals(y, "add operand y")
    return _nodes(builder, _add(builder, x, y, max(len(x), len(y)) + 1))


def greater_than_constant(builder: CircuitBuilder, x, c: int) -> np.ndarray:
    """The bit x > c (shape ``batch``) for a number x (W, *batch) and an integer constant c (any
    sign; x >= c is x > c - 1). Constant when c < 0 or c >= 2^W."""
    return _nodes(builder, _greater_than_constant(builder, _signals(x, "compared number"), int(c)))


def greater(builder: CircuitBuilder, x, y) -> np.ndarray:
    """The bit x > y (shape ``batch``) for numbers x (Wx, *batch) and y (Wy, *batch)."""
    return _nodes(builder, _greater(builder, _signals(x, "compared number x"), _signals(y, "compared number y")))


def mux(builder: CircuitBuilder, s, x, y) -> np.ndarray:
    """``y`` where the select bit ``s`` is 1, else ``x``, elementwise (``s`` broadcasts over the
    leading axes, e.g. one select bit per number of a batch)."""
    return _nodes(builder, _mux(builder, _signals(s, "select bits"), _signals(x, "mux input x"),
                                _signals(y, "mux input y")))


def argmax(builder: CircuitBuilder, counts) -> np.ndarray:
    """The index of the largest of C numbers ``counts`` (W, C, *batch), the lowest index on
    ties (as np.argmax), as index_width(C) bits (index_width(C), *batch), least significant
    first."""
    counts = _signals(counts, "argmax counts")
    if counts.ndim < 2 or counts.shape[1] < 1:
        raise ValueError(f"argmax needs counts shaped (W, C, *batch) with C >= 1, got {counts.shape}")
    return _nodes(builder, _argmax(builder, counts))
