"""Layer kinds: the one place a kind of layer is declared.

A :class:`LayerKind` says everything gatelearn needs to know about a kind of layer:

``name``      the ``kind`` of a layer in a model spec (``{"kind": "logic", "out": 8000}``)
``module``    the ``torch.nn.Module`` class the spec builds
``build``     ``(spec, in_shape, seed) -> (module, out_shape)``; shapes exclude the batch dimension
``lower``     ``(module, builder, nodes) -> nodes``: appends the layer's hard (eval-mode) gates to a
              :class:`gatelearn.circuit.builder.CircuitBuilder`; ``nodes`` are the node ids of the
              layer's input shaped like that input, the result those of its output
``defaults``  options every layer of the kind gets unless a preset or the layer says otherwise
``options``   the spec keys (besides ``kind``) a layer of the kind accepts; the model refuses any
              other key, so a mistyped option is an error rather than silently ignored. ``None``
              means not declared (any key passes); every built-in kind declares its options, and
              every key of ``defaults`` must be one of them

Each layer module registers its kinds with :func:`register` next to the class, so adding a kind
is one declaration: the model builds it, :mod:`gatelearn.lowering` lowers it and the training
presets fill in its defaults, all from here.

A module whose state can be wrong (wiring indices, weights, thresholds read from a file) defines
``check_state(prefix="")``, which raises :class:`InputError` naming the tensor (``prefix`` +
its name) and the bad value; :func:`gatelearn.model.check_state` runs it on every module, when
a model is loaded and before it is lowered. Sizes taken from a spec go through
:func:`check_size`, so an absurd size is refused before anything is allocated.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import InputError

__all__ = ["LayerKind", "KINDS", "register", "kind_of", "layer_defaults", "check_size", "check_number",
           "check_index", "check_finite", "MAX_SIZE"]

# The largest size (gates of a layer, features, channels, values per sample) a spec may ask
# for: 2^26 = 67M gates of a layer are 4.3 GB of softmax16 weights, far beyond any preset, and
# keeps every index well inside the kernels' int32 range. Larger is a corrupted or mistyped spec.
MAX_SIZE = 2 ** 26

Builder = Callable[[dict, tuple, "int | None"], "tuple[nn.Module, tuple]"]
Lowering = Callable[[nn.Module, object, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LayerKind:
    name: str
    module: type
    build: Builder
    lower: Lowering
    defaults: dict = field(default_factory=dict)
    options: tuple[str, ...] | None = None

    def __post_init__(self):
        if self.options is not None:
            object.__setattr__(self, "options", tuple(self.options))
            undeclared = sorted(set(self.defaults) - set(self.options))
            if undeclared:
                raise ValueError(f"layer kind {self.name!r} has defaults for options it does not accept: "
                                 f"{', '.join(undeclared)}")

    def unknown_options(self, spec: dict) -> list[str]:
        """The keys of layer spec ``spec`` (besides ``kind``) this kind does not accept, sorted
        (none when the kind declares no ``options``)."""
        if self.options is None:
            return []
        return sorted(str(k) for k in spec if k != "kind" and k not in self.options)


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


def check_size(what: str, value, low: int = 1, high: int = MAX_SIZE) -> int:
    """``value`` as an int in ``low..high`` (an integral float such as 3.0 counts), else an
    InputError naming ``what``: a spec's sizes are checked before anything is allocated."""
    ok = not isinstance(value, bool) and (isinstance(value, numbers.Integral)
                                          or isinstance(value, float) and value.is_integer())
    if not ok:
        raise InputError(f"{what} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise InputError(f"{what} must be in {low}..{high}, got {int(value)}")
    return int(value)


def check_number(what: str, value, positive: bool = False) -> float:
    """``value`` as a float if it is a finite real number (and > 0 when ``positive``), else an
    InputError naming ``what``: a spec's numeric options are checked when the layer is built."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or (positive and not value > 0):
        raise InputError(f"{what} must be a finite number{' > 0' if positive else ''}, got {value!r}")
    return float(value)


def check_index(prefix: str, name: str, t, limit: int, what: str) -> None:
    """Raise InputError unless tensor ``t`` (named ``prefix + name``) holds integers in 0..limit-1
    (``what`` says what they index, for the message)."""
    full = f"{prefix}{name}"
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise InputError(f"{full} must be an integer tensor, got dtype {t.dtype}")
    if t.numel():
        bad = (t < 0) | (t >= limit)
        if bool(bad.any()):
            pos = tuple(int(i) for i in bad.nonzero()[0])
            count = int(bad.sum())
            raise InputError(f"{full} holds {int(t[pos])} at {pos[0] if len(pos) == 1 else pos}, outside the "
                             f"{limit} {what} (0..{limit - 1}); {count} entr{'y' if count == 1 else 'ies'} "
                             "out of range")


def check_finite(prefix: str, name: str, t) -> None:
    """Raise InputError unless floating tensor ``t`` (named ``prefix + name``) is finite."""
    full = f"{prefix}{name}"
    if not t.is_floating_point():
        raise InputError(f"{full} must be floating-point, got dtype {t.dtype}")
    t = t.detach()
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        pos = tuple(int(i) for i in bad.nonzero()[0])
        raise InputError(f"{full} holds {float(t[pos])} at {pos[0] if len(pos) == 1 else pos} ({int(bad.sum())} of "
                         f"{t.numel()} values not finite); parameters must be finite numbers")
