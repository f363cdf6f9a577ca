"""The NumPy backend: a bit-packed evaluator, the readable reference of the fast backends.

Samples are packed 64 to a ``uint64`` word (sample s is bit s % 64 of word s // 64). Gates are
evaluated one logic level at a time; within a level, one vectorised NumPy expression per gate
kind, taken from the C expressions of the gate table (they are plain bitwise expressions that
NumPy evaluates on uint64 arrays as well).
"""
from __future__ import annotations

import numpy as np

from ..circuit.ir import USES_A, USES_B, Circuit
from ..circuit.passes import gate_levels
from ..gates import GATES, NUM_GATES
from .common import Prediction, argmax_first, check_raw, encoding, num_classes

_ZERO = np.uint64(0)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
# One function per gate kind, compiled from the table's expression text (never retyped here).
_FUNCS = [eval(f"lambda a, b: {g.c.format(a='a', b='b')}", {"ZERO": _ZERO, "ONES": _ONES}) for g in GATES]


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(N, k) bool -> (k, ceil(N/64)) uint64, sample s at bit s % 64 of word s // 64."""
    n, k = bits.shape
    words = -(-n // 64)
    padded = np.zeros((k, words * 64), bool)
    padded[:, :n] = bits.T
    return np.packbits(padded, axis=1, bitorder="little").view("<u8").astype(np.uint64)


def unpack_bits(words: np.ndarray, n: int) -> np.ndarray:
    """(k, W) uint64 -> (n, k) bool."""
    b = np.unpackbits(words.astype("<u8").view(np.uint8), axis=1, bitorder="little")
    return b[:, :n].T.astype(bool)


class NumpyProgram:
    """A circuit prepared for bit-packed evaluation. ``run(x)`` takes raw features."""

    def __init__(self, circuit: Circuit, chunk: int = 8192):
        self.circuit = c = circuit
        self.chunk = chunk
        n = c.num_inputs
        # Per level, per gate kind: (node ids written, operand a ids, operand b ids).
        self.plan = []
        levels = gate_levels(c)
        order = np.lexsort((c.op, levels))
        lv, op = levels[order], c.op[order]
        cut = np.flatnonzero((np.diff(lv) != 0) | (np.diff(op) != 0)) + 1
        for g in np.split(order, cut) if len(order) else []:
            k = int(c.op[g[0]])
            self.plan.append((k, n + g, c.a[g], c.b[g], bool(USES_A[k]), bool(USES_B[k])))

    def eval_bits(self, bits: np.ndarray) -> np.ndarray:
        """Input bits (N, num_inputs) -> output bits (N, num_outputs), bool."""
        c = self.circuit
        out = np.zeros((len(bits), c.num_outputs), bool)
        for s in range(0, len(bits), self.chunk):
            part = bits[s:s + self.chunk]
            values = np.empty((c.num_nodes, -(-len(part) // 64)), np.uint64)
            values[:c.num_inputs] = pack_bits(part)
            for k, dst, a, b, ua, ub in self.plan:
                va = values[a] if ua else _ZERO
                vb = values[b] if ub else _ZERO
                values[dst] = np.broadcast_to(_FUNCS[k](va, vb), (len(dst), values.shape[1]))
            out[s:s + self.chunk] = unpack_bits(values[c.outputs], len(part))
        return out

    def run(self, x, threads: int = 1) -> Prediction:
        """Raw features -> scores and classes (``threads`` is accepted for a common interface)."""
        c = self.circuit
        x = check_raw(c, x, "NumpyProgram.run")
        bits = encoding(c).encode(x)
        outs = self.eval_bits(bits)
        if c.head is not None:
            scores = outs.reshape(len(outs), c.head.classes, -1 if len(outs) else c.num_outputs // c.head.classes)
            scores = scores.sum(-1, dtype=np.int64).astype(np.int32)
        else:
            scores = outs.astype(np.int32)
        return Prediction(scores, argmax_first(scores))


def compile_numpy(circuit: Circuit) -> NumpyProgram:
    return NumpyProgram(circuit.validate())


assert NUM_GATES == len(_FUNCS)
