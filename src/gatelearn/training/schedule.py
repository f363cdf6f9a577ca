"""What changes over a run: the learning rate, the discreteness penalty's weight, and the
iterations at which layers harden. Each is a function of the config and the iteration only, so a
resumed run continues every schedule where it stood."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import InputError
from .config import TrainConfig


def learning_rate(config: TrainConfig, iteration: int) -> float:
    """The learning rate of the step that follows ``iteration`` steps: ``lr``, or ``lr * lr_decay``
    from ``lr_decay_at * iterations`` on. The schedule counts in the iterations asked for, not
    where a time limit stops the run."""
    lr = float(config.lr)
    at = config.lr_decay_at
    if at is None:
        return lr
    if not 0.0 < at <= 1.0:
        raise InputError(f"lr_decay_at must be a fraction of the iterations in (0, 1], got {at}")
    if not config.lr_decay > 0.0:
        raise InputError(f"lr_decay must be > 0, got {config.lr_decay}")
    return lr * config.lr_decay if iteration >= round(at * config.iterations) else lr


def learned_layers(model: nn.Module, first: int | None = None) -> list[nn.Module]:
    """The layers with learned gates (dense and convolutional), in order; the first ``first`` only
    when given."""
    layers = [m for m in model.layers if hasattr(m, "weight") and hasattr(m, "parametrization")]
    return layers if first is None else layers[:int(first)]


def discreteness_loss(layers: list[nn.Module]) -> torch.Tensor:
    """Sum over ``layers`` of each layer's mean discreteness penalty (see
    :func:`gatelearn.layers.parametrization.discreteness_penalty`): every layer weighs the same,
    whatever its width, so a narrow first layer is not drowned by wide dense ones."""
    from ..layers.parametrization import discreteness_penalty
    return sum(discreteness_penalty(m.parametrization, m.weight) for m in layers)


def discreteness_weight(config: TrainConfig, iteration: int) -> float:
    """Weight of the discreteness penalty at ``iteration``: ``discreteness``, ramped linearly from
    0 at the first step to its full value at the last, so the gates first learn freely and are
    pulled toward discrete ones as training ends."""
    weight = float(config.discreteness or 0.0)
    if weight < 0.0 or not math.isfinite(weight):
        raise InputError(f"discreteness must be a finite weight >= 0, got {weight}")
    return weight * min(1.0, iteration / max(1, config.iterations))


def harden_points(config: TrainConfig, layers: list[nn.Module]) -> list[int]:
    """Iterations at which the first learned layers become discrete and stop learning
    (``harden_at``: one fraction of ``iterations`` per layer, in layer order)."""
    fractions = list(config.harden_at or [])
    if len(fractions) > len(layers):
        raise InputError(f"harden_at has {len(fractions)} fractions but the model has only {len(layers)} "
                         f"learned layers")
    for f in fractions:
        if not 0.0 <= f <= 1.0:
            raise InputError(f"harden_at takes fractions of the iterations in [0, 1], got {f}")
    return [round(f * config.iterations) for f in fractions]


def harden(layer: nn.Module) -> None:
    """Make ``layer`` its discrete gates in training too and freeze it: the layers after it then
    learn on exactly the values the circuit will give them. Idempotent (a resumed run calls it
    again on the saved, already hard, weights)."""
    from ..layers.parametrization import hard_weights
    with torch.no_grad():
        layer.weight.copy_(hard_weights(layer.parametrization, layer.gate_ids().reshape(-1), layer.weight.dtype))
    layer.weight.requires_grad_(False)
    layer.weight.grad = None
