"""GroupSum: the output head. Class k's score is the number of ones in its group, divided by tau."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError


class GroupSum(nn.Module):
    """Split the last dimension into ``classes`` contiguous groups and sum each, divided by ``tau``."""

    def __init__(self, classes: int, tau: float = 1.0):
        super().__init__()
        if classes < 1:
            raise ValueError(f"GroupSum needs classes >= 1, got {classes}")
        if tau <= 0:
            raise ValueError(f"GroupSum needs tau > 0, got {tau}")
        self.classes = int(classes)
        self.tau = float(tau)

    def extra_repr(self) -> str:
        return f"classes={self.classes}, tau={self.tau}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[-1] % self.classes:
            raise InputError(f"GroupSum({self.classes}) needs input of shape (batch, n) with n a "
                             f"multiple of {self.classes}, got {tuple(x.shape)}")
        xT = x.t()
        if xT.is_contiguous():
            # x is a transposed view of a feature-major (n, B) tensor, what the fused logic
            # kernel returns: summing that one over contiguous rows is several times faster than
            # a strided sum, and its gradient reaches the kernel feature-major, without a copy.
            return (xT.reshape(self.classes, -1, x.shape[0]).sum(1) / self.tau).t()
        return x.reshape(x.shape[0], self.classes, -1).sum(-1) / self.tau
