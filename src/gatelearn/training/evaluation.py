"""Accuracy of the hard network and of its relaxation, without drawing random numbers.

Evaluation never consumes the training RNG, so how often a run evaluates does not change what
it trains.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from ..model import LogicNet


@contextlib.contextmanager
def soft_relaxation(model: nn.Module) -> Iterator[None]:
    """Evaluate the relaxation without sampling.

    With Gumbel straight-through sampling a train-mode forward is one randomly drawn discrete
    network, not the relaxation, and drawing it would consume the training RNG. The relaxed
    accuracy is therefore measured on the noise-free soft mixture (``sampling="soft"``): the
    deterministic relaxed network whose distance to the hard network is the discretization gap.
    """
    changed = [m for m in model.modules() if getattr(m, "sampling", "soft") != "soft"]
    saved = [m.sampling for m in changed]
    for m in changed:
        m.sampling = "soft"
    try:
        yield
    finally:
        for m, s in zip(changed, saved):
            m.sampling = s


@torch.no_grad()
def eval_chunk(scores: nn.Module, bits: torch.Tensor, dtype: torch.dtype) -> int:
    """Samples per evaluation chunk: bound the largest activation (measured on one sample, so
    any layer kind and shape works) to about 32 M values per chunk."""
    if len(bits) == 0:
        return 1
    model = scores.model
    was = model.training
    model.train()
    largest = bits[0].numel()
    try:
        with soft_relaxation(model):
            h = bits[:1].to(dtype)
            for layer in model.layers:
                h = layer(h)
                largest = max(largest, h.numel())
    finally:
        model.train(was)
    return max(16, min(8192, (32 << 20) // largest))


@torch.no_grad()
def accuracy(scores: nn.Module, bits: torch.Tensor, y: torch.Tensor, dtype: torch.dtype, *, hard: bool,
             chunk: int | None = None) -> float:
    """Accuracy of the hard (eval-mode) network, or of the soft relaxation (train mode, no noise)."""
    model = scores.model
    chunk = chunk or eval_chunk(scores, bits, dtype)
    was = model.training
    model.train(not hard)
    correct = 0
    try:
        with soft_relaxation(model):
            for i in range(0, len(bits), chunk):
                pred = scores(bits[i:i + chunk].to(dtype)).argmax(1)
                correct += int((pred == y[i:i + chunk]).sum())
    finally:
        model.train(was)
    return correct / max(1, len(bits))


@torch.no_grad()
def raw_accuracy(model: LogicNet, x, y, chunk: int = 4096) -> float:
    """Accuracy of the complete saved model (encoder included) on raw inputs, in eval mode."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    correct = sum(int((model.predict(x[i:i + chunk]) == y[i:i + chunk]).sum()) for i in range(0, len(x), chunk))
    return correct / max(1, len(x))
