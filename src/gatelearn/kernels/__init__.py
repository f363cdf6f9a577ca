"""Kernels of the logic layer: y[:, j] = c0[j] + ca[j]*a + cb[j]*b + cab[j]*a*b, a = x[:, ia[j]], b = x[:, ib[j]].

``logic_forward`` is the one entry point the layers call. It uses the fused CPU extension
(``logic_fused.cpp``, built on first use with torch.utils.cpp_extension and cached under a key
of everything that changes the build, see :mod:`.build`) when it is available and the tensors
are float32/float64 on the CPU, and the pure-PyTorch reference otherwise (GPU tensors, other
dtypes, ``GATELEARN_NO_EXTENSION=1``, or a machine where the extension cannot be built; the last
case warns once with the reason).

The fused path works feature-major internally and returns ``y`` as a transposed view of an
(out, B) tensor: values and shape are those of the reference, only the strides differ, and the
next fused layer reads that view without a copy.
"""
from __future__ import annotations

import contextlib
import weakref

import torch
from torch.autograd.function import once_differentiable

from ..errors import ToolError
from .build import NO_EXTENSION_ENV, Extension
from .reference import logic_forward_reference, rows_coefficients_reference, softmax_coefficients_reference

__all__ = ["logic_forward", "logic_forward_reference", "softmax_coefficients", "rows_coefficients", "fused_available",
           "fused_unavailable_reason", "use_fused", "FusedWiring", "NO_EXTENSION_ENV"]

_EXTENSION = Extension("gatelearn_logic", "logic_fused.cpp", "fused CPU logic kernel")
_default_fused: bool | None = None   # set by use_fused(); None = use whenever it applies


def fused_available() -> bool:
    """True when the fused CPU kernel is built and loadable (builds it on first call, which takes
    about a minute once per machine and environment, saying so on stderr). False when
    ``GATELEARN_NO_EXTENSION=1`` is set."""
    return _EXTENSION.get() is not None


def fused_unavailable_reason() -> str | None:
    """Why the fused kernel is not used (None when it is available)."""
    return _EXTENSION.unavailable_reason()


@contextlib.contextmanager
def use_fused(enabled: bool | None):
    """Within the block, ``logic_forward(..., fused=None)`` uses the fused kernel (True), the
    reference (False) or whichever applies (None). For benchmarks and A/B checks."""
    global _default_fused
    prev, _default_fused = _default_fused, enabled
    try:
        yield
    finally:
        _default_fused = prev


class FusedWiring:
    """The wiring in the form the kernel wants: int32 indices and the inverse index (for every
    input, which (gate, operand) read it, and that gate's other operand) that lets the backward
    pass own each grad_x row without atomics. Built once per wiring; ``matches`` tells whether a
    cached one is stale."""

    def __init__(self, idx_a: torch.Tensor, idx_b: torch.Tensor, in_features: int):
        out = idx_a.numel()
        if 2 * out >= 2 ** 31 or in_features >= 2 ** 31:
            raise ValueError(f"layer too large for the fused kernel's int32 indices ({in_features} -> {out})")
        ia = idx_a.detach().to("cpu", torch.int64).reshape(-1)
        ib = idx_b.detach().to("cpu", torch.int64).reshape(-1)
        if out and (min(int(ia.min()), int(ib.min())) < 0 or max(int(ia.max()), int(ib.max())) >= in_features):
            raise ValueError(f"wiring indices must be in 0..{in_features - 1}")
        self.in_features = int(in_features)
        self.idx_a = ia.to(torch.int32).contiguous()
        self.idx_b = ib.to(torch.int32).contiguous()
        reader = torch.cat([ia, ib])                                  # input read by each entry
        code = torch.cat([torch.arange(out) * 2, torch.arange(out) * 2 + 1])   # gate << 1 | operand
        # Stable sort keeps each input's readers in gate order, so the backward walks the grad
        # rows of one input in increasing address order.
        order = torch.sort(reader, stable=True).indices
        self.inv_entries = code[order].to(torch.int32).contiguous()
        # The input each entry's gate reads as its other operand (b for an a-entry, a for a
        # b-entry): the backward reads that row, and knowing it without a lookup lets it prefetch.
        other = torch.cat([ib, ia])
        self.inv_other = other[order].to(torch.int32).contiguous()
        counts = torch.bincount(reader, minlength=in_features)
        self.inv_offsets = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)]).to(torch.int32).contiguous()
        # Identity of the source tensors: the same objects at the same version hold the same values
        # (load_state_dict and every in-place write bump the version).
        self._src = (weakref.ref(idx_a), idx_a._version, weakref.ref(idx_b), idx_b._version)

    def __getstate__(self):
        # Weak references cannot be pickled (torch.save of a whole model, deepcopy); a copy no
        # longer knows its source tensors, so it never matches and gets rebuilt on first use.
        state = dict(self.__dict__)
        state["_src"] = None
        return state

    def matches(self, idx_a: torch.Tensor, idx_b: torch.Tensor, in_features: int) -> bool:
        if self._src is None:
            return False
        ra, va, rb, vb = self._src
        return (ra() is idx_a and rb() is idx_b and va == idx_a._version and vb == idx_b._version
                and in_features == self.in_features)


def _feature_major(t: torch.Tensor) -> torch.Tensor:
    """(B, n) -> contiguous (n, B). Free when ``t`` is already a transposed view (a fused layer's
    output or grad); one copy otherwise."""
    tt = t.t()
    return tt if tt.is_contiguous() else tt.contiguous()


class _FusedLogic(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeffs, wiring):
        xT = _feature_major(x)
        coeffs = coeffs.contiguous()
        yT = _EXTENSION.module.forward(xT, wiring.idx_a, wiring.idx_b, coeffs)
        ctx.save_for_backward(xT, coeffs)
        ctx.wiring = wiring
        return yT.t()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        xT, coeffs = ctx.saved_tensors
        w = ctx.wiring
        need_x, need_c = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gxT, gc = _EXTENSION.module.backward(_feature_major(grad_y).to(xT.dtype), xT, w.idx_a, w.idx_b, coeffs,
                                w.inv_offsets, w.inv_entries, w.inv_other, need_x, need_c)
        return (gxT.t() if need_x else None), (gc if need_c else None), None


def _fused_applies(x: torch.Tensor, coeffs: torch.Tensor) -> str | None:
    """None if the fused kernel can compute this call, else why not."""
    if x.device.type != "cpu" or coeffs.device.type != "cpu":
        return "the fused kernel runs on CPU tensors only"
    if x.dtype not in (torch.float32, torch.float64) or coeffs.dtype != x.dtype:
        return (f"the fused kernel needs float32 or float64 x and coeffs of the same dtype "
                f"(got {x.dtype}, {coeffs.dtype})")
    if x.dim() != 2:
        return f"the fused kernel needs x of shape (batch, in), got {tuple(x.shape)}"
    return None


def logic_forward(x: torch.Tensor, idx_a: torch.Tensor, idx_b: torch.Tensor,
                  coeffs: torch.Tensor, *, fused: bool | None = None,
                  cache: dict | None = None) -> torch.Tensor:
    """Batch-major (B, in) -> (B, out). ``fused=None`` picks the fastest available path;
    ``fused=True`` insists on the fused kernel (ToolError/ValueError if it cannot be used),
    ``fused=False`` uses the reference. ``cache`` is a dict the caller keeps (LogicLayer keeps
    one per layer) where the prepared wiring is stored between calls."""
    if fused is None:
        fused = _default_fused
    if fused is False:
        return logic_forward_reference(x, idx_a, idx_b, coeffs)
    why_not = _fused_applies(x, coeffs)
    if fused is None:
        if why_not is not None or not fused_available():
            return logic_forward_reference(x, idx_a, idx_b, coeffs)
    else:
        if why_not is not None:
            raise ValueError(f"fused=True: {why_not}; pass fused=None to fall back to the reference")
        if not fused_available():
            raise ToolError(f"fused=True but the fused kernel is unavailable: {fused_unavailable_reason()}")
    in_features = x.shape[1]
    wiring = cache.get("fused_wiring") if cache is not None else None
    if wiring is None or not wiring.matches(idx_a, idx_b, in_features):
        wiring = FusedWiring(idx_a, idx_b, in_features)
        if cache is not None:
            cache["fused_wiring"] = wiring
    return _FusedLogic.apply(x, coeffs, wiring)


class _FusedSoftmaxCoeffs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, table, hard):
        tableT = table.t().contiguous()
        c, probs = _EXTENSION.module.softmax_coeffs(logits.contiguous(), tableT, hard)
        ctx.save_for_backward(probs, tableT)
        return c

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_c):
        probs, tableT = ctx.saved_tensors
        return _EXTENSION.module.softmax_coeffs_backward(grad_c.contiguous(), probs, tableT), None, None


def _cpu_float_matrix(t: torch.Tensor, cols: int) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and t.dim() == 2 and t.shape[1] == cols


def _take_fused(fused: bool | None, applies: bool, needs: str) -> bool:
    """Whether a coefficient function takes its C++ pass: ``fused=None`` when it applies and the
    extension is built, ``False`` never, ``True`` always (raising, with ``needs``, if it cannot)."""
    if fused is None:
        fused = _default_fused
    if fused is False or (fused is None and not (applies and fused_available())):
        return False
    if not applies:
        raise ValueError(f"fused=True: {needs}")
    if not fused_available():
        raise ToolError(f"fused=True but the fused kernel is unavailable: {fused_unavailable_reason()}")
    return True


def softmax_coefficients(logits: torch.Tensor, table: torch.Tensor, hard: bool = False, *,
                         fused: bool | None = None) -> torch.Tensor:
    """softmax(logits) @ table, (out, 16) -> (out, 4), the softmax16 relaxation coefficients.

    ``hard=True`` is the straight-through estimator: the value is the table row of the most
    probable gate, the gradient that of the soft mixture. Fused into one C++ pass (forward and
    backward) on CPU float tensors; ``fused`` as in :func:`logic_forward`.
    """
    applies = _cpu_float_matrix(logits, 16) and table.shape[0] == 16
    if not _take_fused(fused, applies, "the fused softmax coefficients need a CPU float32/float64 (out, 16) tensor"):
        return softmax_coefficients_reference(logits, table, hard)
    return _FusedSoftmaxCoeffs.apply(logits, table.to(logits.dtype), bool(hard))


class _FusedRowsCoeffs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, row_map, hard, pre_map):
        row_map = row_map.contiguous()
        pre = pre_map.contiguous() if pre_map is not None else row_map.new_empty(0)
        c, rows = _EXTENSION.module.rows_coeffs(inputs.contiguous(), row_map, hard, pre)
        ctx.save_for_backward(rows, row_map, pre)
        return c

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_c):
        rows, row_map, pre = ctx.saved_tensors
        return _EXTENSION.module.rows_coeffs_backward(grad_c.contiguous(), rows, row_map, pre), None, None, None


def rows_coefficients(inputs: torch.Tensor, row_map: torch.Tensor, hard: bool = False, *,
                      pre_map: torch.Tensor | None = None, fused: bool | None = None) -> torch.Tensor:
    """sigmoid(q) @ row_map, (out, 4) -> (out, 4): the coefficients of the truth-table
    parametrizations (light, walsh) from their row logits q, which are ``inputs`` or, given a
    (4, 4) ``pre_map``, ``inputs @ pre_map`` (walsh's fixed map of its weights).
    ``hard=True`` is the straight-through estimator (value of the rows q > 0, gradient of the
    soft rows; no pre_map). One C++ pass each way on CPU float tensors; ``fused`` as in
    :func:`logic_forward`."""
    if hard and pre_map is not None:
        raise ValueError("rows_coefficients: hard=True takes the row logits themselves, not a pre_map")
    applies = (_cpu_float_matrix(inputs, 4) and tuple(row_map.shape) == (4, 4)
               and (pre_map is None or tuple(pre_map.shape) == (4, 4)))
    if not _take_fused(fused, applies, "the fused row coefficients need a CPU float32/float64 (out, 4) tensor"):
        q = inputs if pre_map is None else inputs @ pre_map.to(inputs.dtype)
        return rows_coefficients_reference(q, row_map, hard)
    pre = pre_map.to(inputs.dtype) if pre_map is not None else None
    return _FusedRowsCoeffs.apply(inputs, row_map.to(inputs.dtype), bool(hard), pre)
