"""Sizing a network when the config leaves it open: layers for a gate budget, and the head's tau.

A config may leave out ``layers`` (own data without a preset), ask for ``budget_gates``, or leave
``tau`` or ``eval_every`` unset; :func:`resolve` fills them in once the dataset is known (the
classes decide the widths and tau), and the run saves the resolved config, so its
``config.json`` trains the same network again.

**Layers for a budget** of N gates: dense logic layers of one width, ``depth`` of them, where
depth is 4 up to 4,000 gates, 5 up to 40,000, 6 beyond (the published dense networks: 5 layers
for the UCI tables, 6 for MNIST and CIFAR-10), and the width is ``N // depth`` rounded down to a
multiple of the classes (GroupSum splits the last layer's outputs evenly over the classes). So
``budget_gates=48_000`` on MNIST is the paper's 6 x 8,000 network.

**tau** (the head's temperature; the score of a class is its count of ones divided by tau), when
unset or ``"auto"``: the square root of the outputs per class, the scaling rule of Petersen et al.
2024 (each score of the binary and codebook heads reads all outputs). It never
changes which class wins (the circuit's argmax), only how sharp the training loss is.
"""
from __future__ import annotations

import math

from ..errors import InputError
from .config import TrainConfig

DEFAULT_BUDGET = 4_000
EVALUATIONS_PER_RUN = 20


def depth_for_budget(budget: int) -> int:
    return 4 if budget <= 4_000 else 5 if budget <= 40_000 else 6


def layers_for_budget(budget: int, classes: int) -> list[dict]:
    """Dense logic layer specs with about ``budget`` gates in all (see the module docstring)."""
    depth = depth_for_budget(budget)
    width = (budget // depth) // classes * classes
    if width < classes:
        raise InputError(f"a budget of {budget} gates is too small for {classes} classes: {depth} layers need "
                         f"at least {classes} gates each, so give --budget-gates {depth * classes} or more")
    return [{"kind": "logic", "out": width} for _ in range(depth)]


def auto_tau(outputs: int, classes: int) -> float:
    """The square root of the outputs per class, to three significant digits."""
    return float(f"{math.sqrt(max(1, outputs // classes)):.3g}")


def last_width(layers: list[dict]) -> int | None:
    """Outputs of the last layer that states them (``out``), or None."""
    for layer in reversed(layers):
        if isinstance(layer.get("out"), int):
            return layer["out"]
    return None


def resolve(config: TrainConfig, classes: int) -> TrainConfig:
    """``config`` with layers, tau and eval_every filled in for a dataset of ``classes`` classes."""
    changes: dict = {}
    if config.budget_gates is not None or config.layers is None:
        budget = config.budget_gates or DEFAULT_BUDGET
        kinds = sorted({str(la.get("kind")) for la in config.layers or []} - {"logic", "flatten"})
        if kinds:
            raise InputError(f"budget_gates sizes dense logic layers; this config has {', '.join(kinds)} layers "
                             f"(give their sizes in the layers instead)")
        flatten = [la for la in config.layers or [] if la.get("kind") == "flatten"]
        changes["layers"] = flatten[:1] + layers_for_budget(budget, classes)
        changes["budget_gates"] = None
    layers = changes.get("layers", config.layers)
    if config.tau is None or config.tau == "auto":
        width = last_width(layers)
        if width is None:
            raise InputError("tau: the last layers state no width to derive it from; give tau")
        # a binary or codebook score reads every output; a GroupSum score its class's group
        changes["tau"] = auto_tau(width, 1 if config.head in ("binary", "codebook") else classes)
    if config.eval_every is None:
        changes["eval_every"] = max(1, config.iterations // EVALUATIONS_PER_RUN)
    return config.replace(**changes) if changes else config
