"""The input contract: which raw feature rows a model and every circuit made from it accept.

One contract, checked by every runner (the torch encoders, the C library's runner, the NumPy
runner), so a bad input is refused everywhere with the same message, and never classified by
one backend while another refuses it. Torch-free: the encoders in :mod:`gatelearn.layers` check
their tensors through it too.

Per raw feature the contract holds ``categories[f]``:

``0``       a real number: any value but NaN (infinities compare as they do in float32)
``n >= 1``  a category code: an integer in ``0 .. n-1`` (a one-hot column of ``n`` categories);
            a circuit read as bits (no encoder) has ``n = 2``: every input is 0 or 1

Rows are ``(N, features)`` arrays of numbers (bool, integers or floats). Values are judged as the
model sees them, in float32 (the precision of every encoder's comparisons), so ``2.0000000001``
is the code 2 in every backend and ``2.5`` is no code anywhere. A finite value too large for
float32 (``1e300`` in float64) is what float32 makes of it, an infinity: a real number compared
as one (no overflow warning), and no category code (the message names the value given, ``1e+300``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

__all__ = ["InputContract", "REAL", "BIT"]

REAL = 0     # categories[f] of a real-valued feature
BIT = 2      # categories[f] of a feature read as a bit (codes 0 and 1)


@dataclass(frozen=True, eq=False)
class InputContract:
    """``categories``: int64 (features,), 0 for a real-valued feature, n for codes 0..n-1."""
    categories: np.ndarray

    def __post_init__(self):
        cats = np.asarray(self.categories)
        if cats.ndim != 1 or (cats.size and (cats.dtype.kind not in "iu" or cats.min() < 0)):
            raise ValueError(f"an input contract needs a 1-D array of category counts >= 0, got {cats!r}")
        object.__setattr__(self, "categories", cats.astype(np.int64))

    # ------------------------------------------------------------------ construction
    @classmethod
    def reals(cls, features: int) -> InputContract:
        """``features`` real-valued features."""
        return cls(np.zeros(int(features), np.int64))

    @classmethod
    def bits(cls, features: int) -> InputContract:
        """``features`` inputs that are bits (0 or 1)."""
        return cls(np.full(int(features), BIT, np.int64))

    @classmethod
    def concat(cls, parts: list[InputContract]) -> InputContract:
        """Features of ``parts`` side by side (e.g. the columns of a tabular encoder)."""
        return cls(np.concatenate([p.categories for p in parts]) if parts else np.zeros(0, np.int64))

    @classmethod
    def of(cls, circuit) -> InputContract:
        """The contract of a :class:`gatelearn.circuit.ir.Circuit`: its encoder's, or bits when it
        reads its inputs as they are."""
        if circuit.encoder is None:
            return cls.bits(circuit.num_inputs)
        return cls(circuit.encoder.categories)

    # ------------------------------------------------------------------ facts
    @property
    def num_features(self) -> int:
        return len(self.categories)

    def __eq__(self, other) -> bool:
        return isinstance(other, InputContract) and np.array_equal(self.categories, other.categories)

    def __hash__(self) -> int:
        return hash(self.categories.tobytes())

    def describe(self, f: int) -> str:
        """What feature ``f`` takes, in words."""
        n = int(self.categories[f])
        if n == REAL:
            return "a real number (not NaN)"
        if n == 1:
            return "the category code 0"
        if n == BIT:
            return "0 or 1"
        return f"one of the category codes 0..{n - 1} (an integer)"

    # ------------------------------------------------------------------ the check
    def check(self, x) -> np.ndarray:
        """``x`` as a 2-D numeric array of the right width (an empty 1-D array counts as no rows),
        or an :class:`InputError` naming the first thing wrong: shape, dtype, NaN (the rows that
        hold it), a value outside its feature's codes (row, feature, value as given, allowed codes).
        The array itself is returned unconverted, except that finite values beyond float32's range
        become the infinities float32 makes of them (a copy), so that every runner's float32 cast
        reads them as the model does, without an overflow warning."""
        F = self.num_features
        x = np.asarray(x)
        if x.ndim == 1 and x.size == 0:
            x = x.reshape(0, F)
        if x.ndim != 2 or x.shape[1] != F:
            raise InputError(f"raw features must be an array of shape (N, {F}) (one row of {F} features per "
                             f"sample), got shape {x.shape}")
        if x.dtype.kind not in "biuf":
            raise InputError(f"raw features must be numbers (bool, integers or floats), got dtype {x.dtype}")
        if x.dtype.kind == "f":
            nan = np.isnan(x)
            if nan.any():
                rows = np.flatnonzero(nan.any(1))
                raise InputError(f"raw features contain NaN ({len(rows)} rows, e.g. rows {rows[:5].tolist()}); "
                                 "impute or drop the missing values first")
        coded = np.flatnonzero(self.categories)
        if len(coded) and len(x):
            # as the model sees them: float32, the precision of its comparisons (too large: inf)
            with np.errstate(over="ignore"):
                v = x[:, coded].astype(np.float32)
            bad = ~((v >= 0) & (v < self.categories[coded]) & (v == np.floor(v)))
            if bad.any():
                r, j = np.argwhere(bad)[0]
                f = int(coded[j])
                shown = _shown(x[r, f])
                n, count = int(self.categories[f]), int(bad.sum())
                hint = "binarize the inputs first" if n == BIT else "encode categories as their integer codes"
                raise InputError(f"raw feature {f} is {shown} in row {int(r)}; it must be {self.describe(f)} "
                                 f"({count} value{'s' if count > 1 else ''} out of place in all): {hint}")
        return _float32_range(x)


def _shown(value) -> str:
    """A raw value as given (not as float32 rounds it): an integer without a fraction, a float as
    NumPy prints it (``2.5``, ``1e+300``, ``inf``)."""
    if isinstance(value, (np.integer, np.bool_)):
        return str(int(value))
    if np.isfinite(value) and value == np.floor(value) and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def _float32_range(x: np.ndarray) -> np.ndarray:
    """``x``, with its finite values too large for float32 replaced by what the cast to float32
    gives them (+-inf) in a copy; ``x`` itself when there are none (the usual case)."""
    if x.dtype.kind != "f" or x.dtype.itemsize <= 4 or not x.size:
        return x
    big = np.abs(x) > np.finfo(np.float32).max
    if not big.any():
        return x
    big &= np.isfinite(x)
    if not big.any():
        return x
    x = x.copy()
    with np.errstate(over="ignore"):
        x[big] = x[big].astype(np.float32)      # +-inf, or float32's largest where it rounds down to it
    return x
