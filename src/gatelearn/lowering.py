"""Lowering a trained model into the circuit IR: the bridge between the torch half (layers,
model) and the torch-free circuit half.

The encoder becomes the IR's input encoding (its bit table and its input contract), each layer
appends its hard (eval-mode) gates through the lowering of its declared kind
(:mod:`gatelearn.layers.kinds`, looked up by the layer's class), and the GroupSum head becomes
the IR's head. So the circuit computes exactly what ``model.eval()`` computes, and accepts the
inputs it accepts.

The model's state is checked first (:func:`gatelearn.model.check_state`): a model built or
edited in Python can hold a wiring index outside its layer (which NumPy would read from the
other end and C from wherever it points), a NaN weight or a NaN threshold; lowering refuses it
with an InputError naming the tensor.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .circuit.builder import CircuitBuilder
from .circuit.ir import Circuit, Head, InputEncoding
from .layers.kinds import kind_of
from .model import check_state

__all__ = ["lower"]

if TYPE_CHECKING:
    from .model import LogicNet


def lower(model: LogicNet) -> Circuit:
    """Lower a :class:`gatelearn.model.LogicNet` (any module with ``encoder``, ``layers`` and a
    GroupSum ``head``) into a :class:`Circuit`. Raises InputError for a model whose state is
    invalid (see the module docstring)."""
    check_state(model)
    enc = model.encoder
    in_shape = tuple(getattr(enc, "out_shape", (enc.out_features,)))
    builder = CircuitBuilder(enc.out_features)
    nodes = np.arange(enc.out_features, dtype=np.int64).reshape(in_shape)
    for i, layer in enumerate(model.layers):
        builder.current_layer = i
        nodes = kind_of(layer).lower(layer, builder, nodes)
    # Bits given as they are need no encoder in the circuit.
    encoding = None if getattr(enc, "kind", None) == "bits" else \
        InputEncoding.from_bit_table(enc.bit_table(), enc.in_features,
                                     getattr(getattr(enc, "contract", None), "categories", None))
    spec = getattr(model, "spec", None) or {}
    meta = {"source": "gatelearn.model", "spec": spec or None}
    # what the backends print and document: class names (C header, predict), the raw features
    if spec.get("class_names"):
        meta["class_names"] = list(spec["class_names"])
    if spec.get("schema"):
        meta["schema"] = spec["schema"]
    return builder.build(nodes, Head(model.head.classes, model.head.tau), encoding, meta)
