"""Layer kind ``flatten``: image-shaped bits (channels, height, width) -> a flat vector, for the
dense layers after convolutional ones."""
from __future__ import annotations

import math

import numpy as np
from torch import nn

from .kinds import LayerKind, register


def _build(spec: dict, in_shape: tuple, seed: int | None):
    return nn.Flatten(), (math.prod(in_shape),)


def _lower(module: nn.Flatten, builder, nodes: np.ndarray) -> np.ndarray:
    return nodes.reshape(-1)


register(LayerKind("flatten", nn.Flatten, _build, _lower, options=()))
