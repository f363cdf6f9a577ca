"""A logic gate network compiled by gatelearn, evaluated with NumPy alone.

This file is copied as it is next to its tables: the module ``NAME.py`` reads ``NAME.npz`` from
its own folder on first use. It needs NumPy and nothing else (no gatelearn, no torch)::

    import NAME
    scores, classes = NAME.predict(x)     # x: (N, features) raw features, uint8 or float

``predict`` applies the input encoding as the trained model does (comparisons in float32), runs
the gates bit-packed (64 samples per uint64 word, one logic level and gate kind at a time) and
returns the GroupSum counts (ones per class; the model's score is count / tau) and the class
indices (argmax, the first maximum on ties). ``eval_bits`` runs the gate network alone.

Tables in NAME.npz: ``num_inputs``, the gates ``op`` / ``a`` / ``b`` (node ids; node i <
num_inputs is input bit i, node num_inputs + g is gate g), ``outputs``, ``classes`` (0: no
GroupSum head, the output bits are the scores), the encoder ``enc_feature`` / ``enc_op`` (0: x >
value, 1: x == value) / ``enc_value`` / ``num_features``, ``truth`` (row k: gate id k's outputs
for (a, b) = 00, 01, 10, 11, from gatelearn's gate table), and the evaluation order ``order`` cut
into groups of one level and gate id at ``group_start``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["predict", "eval_bits", "encode", "tables"]

_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_TABLES: dict | None = None


def tables(path: str | Path | None = None) -> dict:
    """The circuit's tables (read once from ``path``, default this module's .npz)."""
    global _TABLES
    if path is not None or _TABLES is None:
        file = Path(path) if path is not None else Path(__file__).with_suffix(".npz")
        with np.load(file, allow_pickle=False) as z:
            loaded = {k: z[k] for k in z.files}
        if path is not None:
            return loaded
        _TABLES = loaded
    return _TABLES


def encode(x) -> np.ndarray:
    """Raw features (N, features) -> input bits (N, num_inputs), compared in float32."""
    t = tables()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != int(t["num_features"]):
        raise ValueError(f"expected raw features of shape (N, {int(t['num_features'])}), got {x.shape}")
    cols = x[:, t["enc_feature"]].astype(np.float32)
    value = t["enc_value"].astype(np.float32)
    return np.where(t["enc_op"] == 0, cols > value, cols == value)


def _gate(truth: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A gate from its truth table: the OR of its true rows' minterms (constants: all or none)."""
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape), np.uint64)
    for row, (va, vb) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        if truth[row]:
            out |= (a if va else a ^ _ONES) & (b if vb else b ^ _ONES)
    return out


def eval_bits(bits, chunk: int = 8192) -> np.ndarray:
    """Input bits (N, num_inputs) -> output bits (N, outputs), bool."""
    t = tables()
    n = int(t["num_inputs"])
    bits = np.asarray(bits, bool)
    if bits.ndim != 2 or bits.shape[1] != n:
        raise ValueError(f"expected input bits of shape (N, {n}), got {bits.shape}")
    op, a, b, outputs, truth = t["op"], t["a"], t["b"], t["outputs"], t["truth"]
    groups = np.split(t["order"], t["group_start"][1:]) if len(t["order"]) else []
    out = np.zeros((len(bits), len(outputs)), bool)
    for s in range(0, len(bits), chunk):
        part = bits[s:s + chunk]
        words = -(-len(part) // 64)
        padded = np.zeros((n, words * 64), bool)
        padded[:, :len(part)] = part.T
        values = np.empty((n + len(op), words), np.uint64)
        values[:n] = np.packbits(padded, axis=1, bitorder="little").view("<u8")
        for g in groups:         # one level and one gate id: the gates of a group never read each other
            values[n + g] = _gate(truth[op[g[0]]], values[a[g]], values[b[g]])
        packed = values[outputs].astype("<u8").view(np.uint8)
        out[s:s + chunk] = np.unpackbits(packed, axis=1, bitorder="little")[:, :len(part)].T
    return out


def predict(x) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (N, features) -> (scores int32 (N, classes), classes int32 (N,))."""
    t = tables()
    x = np.asarray(x)
    if x.dtype.kind == "f" and np.isnan(x).any():
        raise ValueError("input contains NaN; impute or drop missing values first")
    out = eval_bits(encode(x))
    classes = int(t["classes"])
    scores = out.reshape(len(out), classes, out.shape[1] // classes).sum(-1) if classes else out
    scores = scores.astype(np.int32)
    best = np.argmax(scores, axis=1).astype(np.int32) if scores.shape[1] else np.zeros(len(scores), np.int32)
    return scores, best
