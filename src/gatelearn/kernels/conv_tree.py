"""Kernel of the convolutional logic tree layer (LogicConv2d).

Every output channel o is a complete binary tree of learned 2-input gates over L = 2^depth
leaves; leaf l of channel o reads input element ``x_flat[:, leaf_index[o, l, p]]`` at output
position p (the index already folds in channel, kernel offset, stride and padding). Gates are
stored level by level: gate j < L/2 reads leaves 2j, 2j+1; the next level reads pairs of the
previous level's outputs, and so on up to the root (gate L-2).

``tree_forward`` is the one entry point. It picks the fused C++ kernel (``conv_tree.cpp``,
built on first use with torch.utils.cpp_extension) for CPU float32 tensors when it can be
built, and the pure-PyTorch formulation otherwise; both compute the same function and the
tests hold them to each other.
"""
from __future__ import annotations

import torch

from .build import Extension

__all__ = ["tree_forward", "tree_forward_reference", "fused_tree_available", "window_max"]


def tree_forward_reference(x_flat: torch.Tensor, leaf_index: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Pure PyTorch (autograd): x_flat (B, N), leaf_index (O, L, P) int64, coeffs (O, L-1, 4) -> (B, O, P)."""
    O, L, P = leaf_index.shape
    B = x_flat.shape[0]
    h = x_flat.index_select(1, leaf_index.reshape(-1)).view(B, O, L, P)
    start = 0
    width = L // 2
    while width >= 1:
        c = coeffs[:, start:start + width, :]                      # (O, width, 4)
        c0, ca, cb, cab = (c[..., i].unsqueeze(-1) for i in range(4))   # (O, width, 1)
        a, b = h[:, :, 0::2, :], h[:, :, 1::2, :]
        # a * (ca + cab*b) + (c0 + cb*b): the bilinear relaxation with 3 multiply-adds
        h = torch.addcmul(c0 + cb * b, a, ca + cab * b)
        start += width
        width //= 2
    return h.view(B, O, P)


# ------------------------------------------------------------------------------ fused kernel
_EXTENSION = Extension("gatelearn_conv_tree", "conv_tree.cpp", "fused conv-tree kernel")


def _load_extension():
    return _EXTENSION.get()


def fused_tree_available() -> bool:
    return _load_extension() is not None


class _FusedTree(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_flat, leaf_index, coeffs):
        ext = _load_extension()
        x_flat = x_flat.contiguous()
        coeffs = coeffs.contiguous()
        idx32 = leaf_index.to(torch.int32).contiguous()
        y = ext.forward(x_flat, idx32, coeffs)
        ctx.save_for_backward(x_flat, idx32, coeffs)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x_flat, idx32, coeffs = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        gx, gc = _load_extension().backward(grad_y.contiguous(), x_flat, idx32, coeffs, need_x)
        return (gx if need_x else None), None, gc


def tree_forward(x_flat: torch.Tensor, leaf_index: torch.Tensor, coeffs: torch.Tensor, *,
                 fused: bool | None = None) -> torch.Tensor:
    """(B, N) -> (B, O, P). ``fused=None`` uses the C++ kernel when it applies and builds."""
    applies = (x_flat.device.type == "cpu" and x_flat.dtype == torch.float32
               and coeffs.dtype == torch.float32 and x_flat.shape[1] < 2 ** 31)
    if fused is None:
        fused = applies and _load_extension() is not None
    elif fused and not (applies and _load_extension() is not None):
        raise RuntimeError(f"fused conv-tree kernel not usable here ({_EXTENSION.unavailable_reason() or 'needs CPU float32'})")
    if fused:
        return _FusedTree.apply(x_flat, leaf_index, coeffs)
    return tree_forward_reference(x_flat, leaf_index, coeffs)


class _WindowMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k):
        y, win = _load_extension().window_max(x.contiguous(), k)
        ctx.save_for_backward(win)
        ctx.k = k
        return y

    @staticmethod
    def backward(ctx, grad):
        (win,) = ctx.saved_tensors
        return _load_extension().window_max_backward(grad.contiguous(), win, ctx.k), None


def window_max(x: torch.Tensor, k: int, *, fused: bool | None = None) -> torch.Tensor:
    """Maximum over non-overlapping k x k windows of (B, C, H, W): ``F.max_pool2d(x, k, k)``,
    values and gradient (all of it to the first maximum of a window), through the C++ kernel on
    CPU float32 when H and W are multiples of k; F.max_pool2d otherwise."""
    applies = (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4 and 1 <= k <= 15
               and x.shape[2] % k == 0 and x.shape[3] % k == 0)
    if fused is None:
        fused = applies and _load_extension() is not None
    elif fused and not (applies and _load_extension() is not None):
        raise RuntimeError("fused window max not usable here (needs CPU float32, H and W multiples of k, the extension)")
    if fused:
        return _WindowMax.apply(x, int(k))
    return torch.nn.functional.max_pool2d(x, k, k)
