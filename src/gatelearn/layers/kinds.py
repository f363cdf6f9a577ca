"""Layer kinds: the one place a kind of layer is declared.

A :class:`LayerKind` says everything gatelearn needs to know about a kind of layer:

``name``      the ``kind`` of a layer in a model spec (``{"kind": "logic", "out": 8000}``)
``module``    the ``torch.nn.Module`` class the spec builds
``build``     ``(spec, in_shape, seed) -> (module, out_shape)``; shapes exclude the batch dimension
``lower``     ``(module, builder, nodes) -> nodes``: appends the layer's hard (eval-mode) gates to a
              :class:`gatelearn.circuit.builder.CircuitBuilder`; ``nodes`` are the node ids of the
              layer's input shaped like that input, the result those of its output
``defaults``  options every layer of the kind gets unless a preset or the layer says otherwise

Each layer module registers its kinds with :func:`register` next to the class, so adding a kind
is one declaration: the model builds it, :mod:`gatelearn.lowering` lowers it and the training
presets fill in its defaults, all from here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from ..errors import InputError

__all__ = ["LayerKind", "KINDS", "register", "kind_of", "layer_defaults"]

Builder = Callable[[dict, tuple, "int | None"], "tuple[nn.Module, tuple]"]
Lowering = Callable[[nn.Module, object, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LayerKind:
    name: str
    module: type
    build: Builder
    lower: Lowering
    defaults: dict = field(default_factory=dict)


KINDS: dict[str, LayerKind] = {}


def register(kind: LayerKind) -> LayerKind:
    if kind.name in KINDS and KINDS[kind.name] != kind:
        raise ValueError(f"layer kind {kind.name!r} is declared twice")
    KINDS[kind.name] = kind
    return kind


def kind_of(module: nn.Module) -> LayerKind:
    """The declared kind of a layer module (by its class, most specific first)."""
    for cls in type(module).__mro__:
        for kind in KINDS.values():
            if kind.module is cls:
                return kind
    raise InputError(f"{type(module).__name__} is not a declared layer kind; known: {', '.join(sorted(KINDS))}")


def layer_defaults(name: str) -> dict:
    """The default options of layer kind ``name`` (a copy; empty for an unknown kind, which the
    model spec then rejects with the list of known kinds)."""
    kind = KINDS.get(name)
    return dict(kind.defaults) if kind is not None else {}
