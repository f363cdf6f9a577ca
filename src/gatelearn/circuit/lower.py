"""Lowering a trained model into the circuit IR.

Each layer kind registers a lowering function with :func:`register_lowering`. A lowering gets
the module, a :class:`CircuitBuilder` and the node ids of its input as a NumPy array shaped
like the layer's input without the batch dimension (so ``(features,)`` for dense layers and
``(channels, height, width)`` for convolutional ones). It appends gates through the builder and
returns the node ids of its output, shaped like the layer's output. Lowering uses the hard
(eval-mode) gates, so the circuit computes exactly what ``model.eval()`` computes.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from torch import nn

from ..layers.logic import LogicLayer
from .ir import Circuit, Head, InputEncoding, canonical_operands

Lowering = Callable[[nn.Module, "CircuitBuilder", np.ndarray], np.ndarray]
LOWERINGS: dict[type, Lowering] = {}


def register_lowering(module_type: type):
    def deco(fn: Lowering) -> Lowering:
        LOWERINGS[module_type] = fn
        return fn
    return deco


class CircuitBuilder:
    """Appends gates in topological order; ``layer`` tags them for reports."""

    def __init__(self, num_inputs: int):
        self.num_inputs = int(num_inputs)
        self._op: list[np.ndarray] = []
        self._a: list[np.ndarray] = []
        self._b: list[np.ndarray] = []
        self._layer: list[np.ndarray] = []
        self.num_gates = 0
        self.current_layer = -1

    def add_gates(self, op, a, b) -> np.ndarray:
        """Append gates (arrays of equal length); returns their node ids. Operands must be
        existing nodes (inputs or gates added before)."""
        op = np.asarray(op, np.uint8).reshape(-1)
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

    def build(self, outputs: np.ndarray, head: Head | None = None,
              encoder: InputEncoding | None = None, meta: dict | None = None) -> Circuit:
        cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
        return Circuit(self.num_inputs, cat(self._op, np.uint8), cat(self._a, np.int64), cat(self._b, np.int64),
                       np.asarray(outputs, np.int64).reshape(-1), head, encoder,
                       cat(self._layer, np.int32), meta or {}).validate()


def lower_model(model) -> Circuit:
    """Lower a :class:`gatelearn.model.LogicNet` (or any module with encoder/layers/head)."""
    enc = model.encoder
    in_shape = tuple(getattr(enc, "out_shape", (enc.out_features,)))
    builder = CircuitBuilder(enc.out_features)
    nodes = np.arange(enc.out_features, dtype=np.int64).reshape(in_shape)
    for i, layer in enumerate(model.layers):
        fn = next((f for t, f in LOWERINGS.items() if isinstance(layer, t)), None)
        if fn is None:
            raise TypeError(f"layer {i} ({type(layer).__name__}) has no lowering to the circuit IR")
        builder.current_layer = i
        nodes = fn(layer, builder, nodes)
    encoding = InputEncoding.from_bit_table(enc.bit_table(), enc.in_features)
    if getattr(enc, "kind", None) == "bits":
        encoding = None
    meta = {"source": "gatelearn.model", "spec": getattr(model, "spec", None)}
    return builder.build(nodes, Head(model.head.classes, model.head.tau), encoding, meta)


@register_lowering(nn.Flatten)
def _lower_flatten(module, builder: CircuitBuilder, nodes: np.ndarray) -> np.ndarray:
    return nodes.reshape(-1)


@register_lowering(LogicLayer)
def _lower_logic(layer, builder: CircuitBuilder, nodes: np.ndarray) -> np.ndarray:
    nodes = nodes.reshape(-1)
    op = layer.gate_ids().cpu().numpy()
    ia = layer.idx_a.cpu().numpy()
    ib = layer.idx_b.cpu().numpy()
    return builder.add_gates(op, nodes[ia], nodes[ib])


# Lowerings of the convolutional layers register themselves on import.
from . import lower_conv as _lower_conv  # noqa: E402,F401
