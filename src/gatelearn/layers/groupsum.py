"""GroupSum: the output head. Class k's score is the number of ones in its group, divided by tau."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError


class _FeatureMajorGroupSum(torch.autograd.Function):
    """(n, B) contiguous -> (classes, B): the sum of each group of n / classes rows.

    Autograd's own backward of ``reshape(...).sum(1)`` broadcasts the incoming gradient, which
    arrives as a transposed (classes, B) view, into (n, B) with a strided gather; broadcasting a
    contiguous copy of it instead is about 1 ms faster per training step of 8,000 outputs at
    batch 100 (benchmarks: head backward 1.73 against 2.80 ms on one thread)."""

    @staticmethod
    def forward(ctx, xT, classes):
        ctx.shape = xT.shape
        return xT.reshape(classes, xT.shape[0] // classes, xT.shape[1]).sum(1)

    @staticmethod
    def backward(ctx, grad):
        n, batch = ctx.shape
        classes = grad.shape[0]
        return grad.contiguous()[:, None, :].expand(classes, n // classes, batch).reshape(n, batch), None


def one_class_message(what: str) -> str:
    """Why a GroupSum of one class is refused, and what to use instead."""
    return (f"{what} always predicts class 0 (the argmax of a single score); for a yes/no task use the "
            "binary head, BinaryHead(tau) (model spec head {'kind': 'binary', 'tau': ...}), whose class 1 "
            "means more ones than zeros among the last layer's bits, or GroupSum(2, tau)")


class Temperature(nn.Module):
    """A head's tau: a fixed number, or a learned one (``learn=True``) that starts at ``tau`` and
    may only grow: ``tau * exp(softplus(rise))`` with the parameter ``rise`` trained with the
    network. Scores are divided by it, so it never changes which class wins; the circuit takes
    its value when the model is lowered, as the IR head's scale. ``float(t)`` is its value.

    Why only upward: a tau free to fall lets the relaxed network sharpen its soft sums instead of
    making its gates discrete. Measured with benchmarks/heads.py (3,000 steps): a free tau fell
    from 5.66 to 0.17-0.57 on the synthetic task and from 10 to 0.25 on Letter, the relaxed
    accuracy stayed at 91-100% and the hard accuracy fell to 3-61%."""

    RISE_START = -6.0   # softplus(-6) = 0.0025: the start is tau itself (Adam's steps do not scale with it)

    def __init__(self, tau: float, learn: bool = False):
        super().__init__()
        if not tau > 0:
            raise InputError(f"tau must be > 0, got {tau}")
        self.learn = bool(learn)
        self.fixed = float(tau)
        if self.learn:
            self.rise = nn.Parameter(torch.tensor(self.RISE_START, dtype=torch.float32))

    def _value(self) -> torch.Tensor:
        return self.fixed * torch.nn.functional.softplus(self.rise).exp()

    def __float__(self) -> float:
        return float(self._value().detach()) if self.learn else self.fixed

    def divide(self, scores: torch.Tensor) -> torch.Tensor:
        """``scores / tau``: a tensor division when learned (the gradient reaches tau)."""
        if not self.learn:
            return scores / self.fixed
        return scores / self._value().to(scores.dtype)

    def extra_repr(self) -> str:
        return f"tau={float(self):g}" + (", learned" if self.learn else "")


class GroupSum(nn.Module):
    """Split the last dimension into ``classes`` contiguous groups and sum each, divided by ``tau``.
    ``classes`` >= 2: a single group would always win the argmax (see :class:`BinaryHead` in
    :mod:`gatelearn.layers.heads` for a yes/no decision)."""

    kind = "groupsum"

    def __init__(self, classes: int, tau: float = 1.0, learn_tau: bool = False):
        super().__init__()
        if classes == 1:
            raise InputError(one_class_message("GroupSum(1)"))
        if classes < 2:
            raise InputError(f"GroupSum needs classes >= 2, got {classes}")
        if not tau > 0:
            raise InputError(f"GroupSum needs tau > 0, got {tau}")
        self.classes = int(classes)
        self.temperature = Temperature(tau, learn_tau)

    @property
    def tau(self) -> float:
        """The current tau (learned or fixed): what the circuit's head is scaled by."""
        return float(self.temperature)

    @property
    def groups(self) -> int:
        """The groups of the last layer's outputs this head sums (one per class); the model may
        reorder the last layer's gates within a group (gatelearn.layers.wiring)."""
        return self.classes

    def extra_repr(self) -> str:
        return f"classes={self.classes}"

    def check_input(self, shape: tuple) -> None:
        """Raise InputError unless the last layer's output ``shape`` (no batch) is a flat vector
        that splits into ``classes`` equal, non-empty groups."""
        if len(shape) != 1 or shape[0] % self.classes or shape[0] == 0:
            raise InputError(f"the last layer gives {tuple(shape)} outputs, not divisible into {self.classes} classes"
                             + (" (add a flatten layer)" if len(shape) != 1 else ""))

    def counts(self, bits: torch.Tensor) -> torch.Tensor:
        """The counts of the IR head this head lowers to (``gatelearn.lower(model)``), int64
        (batch, classes) for hard bits (batch, n): the ones of each group. The scores are
        exactly these counts divided by tau."""
        return bits.reshape(bits.shape[0], self.classes, -1).sum(-1).to(torch.int64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[-1] % self.classes:
            raise InputError(f"GroupSum({self.classes}) needs input of shape (batch, n) with n a "
                             f"multiple of {self.classes}, got {tuple(x.shape)}")
        xT = x.t()
        if xT.is_contiguous():
            # x is a transposed view of a feature-major (n, B) tensor, what the fused logic
            # kernel returns: summing that one over contiguous rows is several times faster than
            # a strided sum, and its gradient reaches the kernel feature-major, without a copy.
            return self.temperature.divide(_FeatureMajorGroupSum.apply(xT, self.classes)).t()
        return self.temperature.divide(x.reshape(x.shape[0], self.classes, x.shape[1] // self.classes).sum(-1))

    def scores(self, counts: torch.Tensor) -> torch.Tensor:
        """The scores this head gives for the IR head's ``counts`` (exactly its forward's on hard bits)."""
        return self.temperature.divide(counts.to(torch.float32))
