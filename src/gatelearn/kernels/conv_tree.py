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

__all__ = ["tree_forward", "tree_forward_reference", "fused_tree_available", "leaf_runs", "window_max"]


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


def leaf_runs(leaf_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The leaf index table as runs for the fused kernel: ``(row_ptr, runs)``.

    Row ``o*L + l`` (leaf l of tree o) is cut wherever the index does not step by 1 from one
    position to the next; each piece is a run ``(p0, src, len)`` (positions p0.. read inputs
    src..). ``row_ptr`` (O*L + 1,) int32 delimits each row's runs in ``runs`` (R, 3) int32. A
    stride-1 convolution gives one run per output row, which the kernel copies with vector
    loads."""
    O, L, P = leaf_index.shape
    flat = leaf_index.reshape(O * L, P).to(torch.int64)
    start = torch.ones(O * L, P, dtype=torch.bool, device=flat.device)
    start[:, 1:] = flat[:, 1:] != flat[:, :-1] + 1
    row, p0 = start.nonzero(as_tuple=True)              # row-major: by row, then position
    nxt = torch.full_like(p0, P)
    same_row = row[1:] == row[:-1]
    nxt[:-1] = torch.where(same_row, p0[1:], torch.full_like(p0[1:], P))
    runs = torch.stack([p0, flat[row, p0], nxt - p0], 1).to(torch.int32).contiguous()
    row_ptr = torch.zeros(O * L + 1, dtype=torch.int64, device=flat.device)
    row_ptr[1:] = torch.bincount(row, minlength=O * L).cumsum(0)
    return row_ptr.to(torch.int32), runs


# The runs of the last few index tables (a LogicConv2d keeps its table, so it is cut once). The
# table itself is kept in the entry: an identity check, not a reused address, decides a hit.
# With the runs, the entry holds the table's smallest and largest index (checked against the
# input width on every call).
_RUNS_CACHE: dict[int, tuple[torch.Tensor, int, tuple[torch.Tensor, torch.Tensor, int, int]]] = {}


def _cached_leaf_runs(leaf_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    hit = _RUNS_CACHE.get(id(leaf_index))
    if hit is not None and hit[0] is leaf_index and hit[1] == leaf_index._version:
        return hit[2]
    lo, hi = (int(leaf_index.min()), int(leaf_index.max())) if leaf_index.numel() else (0, -1)
    entry = (*leaf_runs(leaf_index), lo, hi)
    if len(_RUNS_CACHE) >= 8:
        _RUNS_CACHE.pop(next(iter(_RUNS_CACHE)))
    _RUNS_CACHE[id(leaf_index)] = (leaf_index, leaf_index._version, entry)
    return entry


class _FusedTree(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_flat, row_ptr, runs, positions, coeffs):
        x_flat = x_flat.contiguous()
        coeffs = coeffs.contiguous()
        y = _load_extension().forward(x_flat, row_ptr, runs, positions, coeffs)
        ctx.save_for_backward(x_flat, row_ptr, runs, coeffs)
        ctx.positions = positions
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x_flat, row_ptr, runs, coeffs = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        gx, gc = _load_extension().backward(grad_y.contiguous(), x_flat, row_ptr, runs, ctx.positions, coeffs,
                                            need_x)
        return (gx if need_x else None), None, None, None, gc


def tree_forward(x_flat: torch.Tensor, leaf_index: torch.Tensor, coeffs: torch.Tensor, *,
                 fused: bool | None = None) -> torch.Tensor:
    """(B, N) -> (B, O, P). ``fused=None`` uses the C++ kernel when it applies and builds."""
    applies = (x_flat.device.type == "cpu" and x_flat.dtype == torch.float32
               and coeffs.dtype == torch.float32 and x_flat.shape[1] < 2 ** 31)
    if fused is None:
        fused = applies and _load_extension() is not None
    elif fused and not (applies and _load_extension() is not None):
        raise RuntimeError(f"fused conv-tree kernel not usable here "
                           f"({_EXTENSION.unavailable_reason() or 'needs CPU float32'})")
    if fused:
        O, L, P = leaf_index.shape
        if coeffs.shape != (O, L - 1, 4) or x_flat.dim() != 2:
            raise ValueError(f"tree_forward: x (B, N), leaf_index (O, L, P) and coeffs (O, L-1, 4) do not fit: "
                             f"{tuple(x_flat.shape)}, {tuple(leaf_index.shape)}, {tuple(coeffs.shape)}")
        row_ptr, runs, lo, hi = _cached_leaf_runs(leaf_index)
        if lo < 0 or hi >= x_flat.shape[1]:
            raise ValueError(f"tree_forward: leaf_index out of range for {x_flat.shape[1]} inputs")
        return _FusedTree.apply(x_flat, row_ptr, runs, P, coeffs)
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
        raise RuntimeError("fused window max not usable here "
                           "(needs CPU float32, H and W multiples of k, the extension)")
    if fused:
        return _WindowMax.apply(x, int(k))
    return torch.nn.functional.max_pool2d(x, k, k)
