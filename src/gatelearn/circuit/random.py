"""Random valid circuits, for tests and benchmarks of the passes, backends and file formats."""
from __future__ import annotations

import numpy as np

from .ir import Circuit, Head, canonical_operands

__all__ = ["random_circuit"]


def random_circuit(rng: np.random.Generator, num_inputs: int, num_gates: int, classes: int,
                   per_class: int, encoder=None, locality: int | None = None) -> Circuit:
    """A random valid circuit with a GroupSum head: every gate kind, operands anywhere before
    (or within ``locality`` nodes before, which makes deep circuits), outputs anywhere."""
    op = rng.integers(0, 16, num_gates).astype(np.uint8)
    own = num_inputs + np.arange(num_gates)
    if locality:
        lo = np.maximum(0, own - locality)
        a = lo + (rng.random(num_gates) * (own - lo)).astype(np.int64)
        b = lo + (rng.random(num_gates) * (own - lo)).astype(np.int64)
    else:
        a = (rng.random(num_gates) * own).astype(np.int64)
        b = (rng.random(num_gates) * own).astype(np.int64)
    if num_inputs == 0:
        op[:] = np.where(rng.random(num_gates) < 0.5, 0, 15)
    a, b = canonical_operands(op, a, b)
    outputs = (rng.integers(0, num_inputs + num_gates, classes * per_class) if num_inputs + num_gates
               else np.zeros(0, np.int64))
    return Circuit(num_inputs, op, a, b, outputs, Head(classes, 1.0), encoder).validate()
