"""A synthetic many-class task of binary vectors, for studying heads as the number of classes grows
(as Brändle et al. 2025 do up to 2,000 classes).

``synthetic-C`` (e.g. ``synthetic-2000``): each of C classes has a prototype, ``BITS`` random
bits; a sample is its class's prototype with each bit flipped independently with probability
``NOISE``. ``TRAIN_PER_CLASS`` training and ``TEST_PER_CLASS`` test samples per class, all from one
seeded generator (``numpy.random.default_rng(SEED + C)``), so the task is the same on every
machine. With 256 bits and 10% noise two prototypes differ in about 128 bits and a sample is about
26 bits from its own, so the Bayes error is near 0: what limits accuracy is the network and its
head, not the data.
"""
from __future__ import annotations

import re

import numpy as np

from ..errors import InputError

BITS = 256
NOISE = 0.1
TRAIN_PER_CLASS = 50
TEST_PER_CLASS = 10
SEED = 20_250_930
MAX_CLASSES = 10_000
NAME = re.compile(r"^synthetic-(\d+)$")


def is_synthetic(name: str) -> bool:
    return bool(NAME.match(name))


def make_synthetic(classes: int, *, bits: int = BITS, noise: float = NOISE, train_per_class: int = TRAIN_PER_CLASS,
                   test_per_class: int = TEST_PER_CLASS, seed: int = SEED):
    """The dataset ``synthetic-{classes}`` (see the module docstring); other values for studies."""
    from .datasets import Dataset
    if not 2 <= classes <= MAX_CLASSES:
        raise InputError(f"synthetic data: classes must be in [2, {MAX_CLASSES}], got {classes}")
    if not 0.0 <= noise < 0.5:
        raise InputError(f"synthetic data: noise must be in [0, 0.5), got {noise}")
    rng = np.random.default_rng(seed + classes)
    prototypes = rng.random((classes, bits)) < 0.5

    def draw(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(classes, dtype=np.int64), per_class)
        flips = rng.random((len(y), bits)) < noise
        return (prototypes[y] ^ flips).astype(np.uint8), y

    x_tr, y_tr = draw(train_per_class)
    x_te, y_te = draw(test_per_class)
    order = rng.permutation(len(y_tr))      # classes interleaved, as a real training set would be
    width = len(str(classes - 1))
    return Dataset(f"synthetic-{classes}", x_tr[order], y_tr[order], x_te, y_te, classes, None,
                   [f"c{k:0{width}d}" for k in range(classes)], [f"b{j}" for j in range(bits)],
                   notes=f"{bits} bits, {noise:.0%} bit flips around one random prototype per class, "
                         f"{train_per_class} / {test_per_class} samples per class, seed {seed + classes}")


def load_synthetic(name: str):
    m = NAME.match(name)
    if m is None:
        raise InputError(f"synthetic data is named synthetic-CLASSES, e.g. synthetic-100, got {name!r}")
    return make_synthetic(int(m.group(1)))
