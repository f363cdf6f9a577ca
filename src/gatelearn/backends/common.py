"""What every runner shares: the raw-input contract (shape, dtype, NaN; the circuit's encoding)
and the result type, :class:`Prediction`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..circuit.ir import Circuit, InputEncoding
from ..errors import InputError


@dataclass
class Prediction:
    """Class scores as integer counts (ones per GroupSum group; without a head, the output bits)
    and the class indices (argmax, the first maximum on ties, as torch.argmax)."""
    scores: np.ndarray     # int32 (N, classes)
    classes: np.ndarray    # int32 (N,)


def num_features(c: Circuit) -> int:
    """Raw features a sample has: the encoder's feature count, or the input bits themselves."""
    return c.encoder.num_features if c.encoder is not None else c.num_inputs


def num_classes(c: Circuit) -> int:
    """Classes of the GroupSum head; without a head, each output bit is a score."""
    return c.head.classes if c.head is not None else c.num_outputs


def encoding(c: Circuit) -> InputEncoding:
    """The circuit's encoder; a circuit without one reads bits, i.e. bit i = x[i] > 0.5."""
    if c.encoder is not None:
        return c.encoder
    n = c.num_inputs
    return InputEncoding(n, np.arange(n, dtype=np.int64), np.zeros(n, np.uint8), np.full(n, 0.5))


def check_raw(c: Circuit, x, where: str) -> np.ndarray:
    """Raw features as a 2-D numeric array of the right width; NaN is refused as the model does."""
    x = np.asarray(x)
    F = num_features(c)
    if x.ndim == 1 and x.size == 0:
        x = x.reshape(0, F)
    if x.ndim != 2 or x.shape[1] != F:
        raise InputError(f"{where} expects raw features of shape (N, {F}), got {x.shape}")
    if x.dtype.kind not in "uifb":
        raise InputError(f"{where} expects numeric features (uint8, integers or floats), got dtype {x.dtype}")
    if x.dtype.kind == "f" and np.isnan(x).any():
        rows = np.flatnonzero(np.isnan(x).any(1))[:5].tolist()
        raise InputError(f"{where}: input contains NaN (rows {rows}); impute or drop missing values first")
    return x


def argmax_first(scores: np.ndarray) -> np.ndarray:
    """Class indices int32 (N,): the first maximum of each row, as torch.argmax."""
    return np.argmax(scores, axis=1).astype(np.int32) if scores.shape[1] else np.zeros(len(scores), np.int32)
