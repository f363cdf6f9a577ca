"""The software simulator: the one evaluation of a circuit that everything else is checked against.

Samples are packed 64 to a ``uint64`` word (sample s is bit s % 64 of word s // 64). Gates run one
logic level at a time (gates of one level never read each other) and, inside a level, one
vectorised NumPy expression per gate kind. The expression is the C text of the gate table
(:mod:`gatelearn.gates`): plain bitwise operators that NumPy evaluates on uint64 arrays as well,
so no gate is typed in twice.
"""
from __future__ import annotations

import numpy as np

from ..gates import GATES
from .ir import USES_A, USES_B, Circuit

__all__ = ["pack_bits", "unpack_bits", "Simulator", "simulate"]

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


class Simulator:
    """A circuit prepared for bit-packed evaluation: the plan (per level, per gate kind: the nodes
    written and the operands read) is made once, ``run`` may be called many times."""

    def __init__(self, circuit: Circuit, chunk: int = 8192):
        self.circuit = c = circuit
        self.chunk = int(chunk)
        n = c.num_inputs
        levels = c.node_levels()[n:]
        order = np.lexsort((c.op, levels))
        cut = np.flatnonzero((np.diff(levels[order]) != 0) | (np.diff(c.op[order]) != 0)) + 1
        self.plan = []
        for g in np.split(order, cut) if len(order) else []:
            k = int(c.op[g[0]])
            self.plan.append((k, n + g, c.a[g], c.b[g], bool(USES_A[k]), bool(USES_B[k])))

    def run(self, bits: np.ndarray) -> np.ndarray:
        """Input bits (N, num_inputs) -> output bits (N, num_outputs), bool."""
        c = self.circuit
        bits = np.asarray(bits)
        if bits.ndim != 2 or bits.shape[1] != c.num_inputs:
            raise ValueError(f"expected input bits of shape (N, {c.num_inputs}), got {bits.shape}")
        out = np.zeros((len(bits), c.num_outputs), bool)
        for s in range(0, len(bits), self.chunk):
            part = bits[s:s + self.chunk].astype(bool, copy=False)
            values = np.empty((c.num_nodes, -(-len(part) // 64)), np.uint64)
            values[:c.num_inputs] = pack_bits(part)
            for k, dst, a, b, ua, ub in self.plan:
                va = values[a] if ua else _ZERO
                vb = values[b] if ub else _ZERO
                values[dst] = np.broadcast_to(_FUNCS[k](va, vb), (len(dst), values.shape[1]))
            out[s:s + self.chunk] = unpack_bits(values[c.outputs], len(part))
        return out


def simulate(circuit: Circuit, bits: np.ndarray) -> np.ndarray:
    """Input bits (N, num_inputs) -> output bits (N, num_outputs), bool."""
    return Simulator(circuit).run(bits)


assert len(_FUNCS) == len(GATES)
