"""CircuitBuilder: appends gates in topological order; what every lowering writes with."""
from __future__ import annotations

import numpy as np

from ..gates import BY_NAME, NUM_GATES
from .ir import Circuit, Head, InputEncoding, canonical_operands, narrow

__all__ = ["CircuitBuilder"]

_CONSTANT_OP = {False: BY_NAME["FALSE"].id, True: BY_NAME["TRUE"].id}


class CircuitBuilder:
    """Appends gates in topological order; ``current_layer`` tags them for reports."""

    def __init__(self, num_inputs: int):
        self.num_inputs = int(num_inputs)
        self._op: list[np.ndarray] = []
        self._a: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        self._layer: list[np.ndarray] = []
        self._constants: dict[bool, int] = {}
        self.num_gates = 0
        self.current_layer = -1

    def add_gates(self, op, a, b) -> np.ndarray:
        """Append gates (arrays of equal length); returns their node ids. Operands must be
        existing nodes (inputs or gates added before)."""
        op = narrow(np.asarray(op).reshape(-1), np.uint8, "gate op", 0, NUM_GATES - 1)
        a = np.asarray(a, np.int64).reshape(-1)
        b = np.asarray(b, np.int64).reshape(-1)
        if not (len(op) == len(a) == len(b)):
            raise ValueError("add_gates: op, a and b must have the same length")
        limit = self.num_inputs + self.num_gates
        if len(op) and (max(a.max(), b.max()) >= limit or min(a.min(), b.min()) < 0):
            raise ValueError("add_gates: an operand refers to a node that does not exist yet")
        a, b = canonical_operands(op, a, b)
        ids = np.arange(limit, limit + len(op), dtype=np.int64)
        self._op.append(op)
        self._a.append(a)
        self._b.append(b)
        self._layer.append(np.full(len(op), self.current_layer, np.int32))
        self.num_gates += len(op)
        return ids

    def constant(self, value: bool) -> int:
        """The node of constant ``value``: one FALSE / TRUE gate per circuit, added on first use
        (e.g. for zero padding) and shared afterwards."""
        value = bool(value)
        if value not in self._constants:
            self._constants[value] = int(self.add_gates([_CONSTANT_OP[value]], [0], [0])[0])
        return self._constants[value]

    def build(self, outputs: np.ndarray, head: Head | None = None,
              encoder: InputEncoding | None = None, meta: dict | None = None) -> Circuit:
        def cat(parts, dtype):
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
        return Circuit(self.num_inputs, cat(self._op, np.uint8), cat(self._a, np.int64), cat(self._b, np.int64),
                       np.asarray(outputs, np.int64).reshape(-1), head, encoder,
                       cat(self._layer, np.int32), meta or {}).validate()
