"""Convolutional logic gate layers (Petersen et al., "Convolutional Differentiable Logic Gate
Networks", NeurIPS 2024): logic-tree kernels and OR pooling, on (batch, channels, height, width).

LogicConv2d
    Output channel o is a complete binary tree of ``depth`` levels of learned 2-input gates
    (2^depth - 1 gates) over 2^depth leaves. The leaves are drawn at random, once, from the
    ``kernel_size`` x ``kernel_size`` receptive field of two input channels of o's channel group,
    and the same tree (wiring and gates) is applied at every output position, like a convolution
    kernel. Zero padding reads constant 0 (FALSE).
OrPool2d
    Logical OR over each pooling window; relaxed as max (which is OR on bits).

Both are declared as layer kinds ('conv', 'orpool') at the end of this module, with their
lowerings: a convolution is unrolled over its output positions, every (channel, position) gets
its own copy of the channel's tree; gates are appended level by level for the whole layer, so
every operand is an earlier node (the IR's topological order). Zero padding reads the circuit's
one constant FALSE node.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..gates import BY_NAME, coeffs_tensor
from ..kernels.conv_tree import tree_forward, window_max
from . import parametrization as P
from .kinds import LayerKind, check_finite, check_index, check_number, check_size, register
from .logic import check_binary, check_gate_ids

MAX_DEPTH = 6   # 64 leaves: the fused kernel's per-tree buffers are sized for at most this


def _pair(v, what: str, low: int = 1) -> tuple[int, int]:
    if not isinstance(v, (list, tuple)):
        v = (v, v)
    if len(v) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints, got {v}")
    return tuple(check_size(what, i, low=low) for i in v)  # type: ignore[return-value]


def _check_image(x: torch.Tensor, channels: int, where: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{where} expects input of shape (batch, {channels}, height, width), got {shape}")
    if not x.is_floating_point():
        raise InputError(f"{where} expects a floating-point tensor, got dtype {x.dtype}")


def make_tree_wiring(in_channels: int, out_channels: int, kernel_size: tuple[int, int], depth: int,
                     channel_groups: int, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Leaves of every tree: (channel, dy, dx), each int64 of shape (out_channels, 2^depth).

    Each output channel picks 2 distinct input channels of its group (the same one twice if the
    group has a single channel), then 2^depth distinct positions of the 2 x kh x kw receptive
    field (with repetition only if the field is smaller than the leaf count), in random order.
    Distinct leaves keep a first-level gate from reading the same bit twice.
    """
    kh, kw = kernel_size
    per_group_in = in_channels // channel_groups
    per_group_out = out_channels // channel_groups
    leaves = 2 ** depth
    field = 2 * kh * kw
    group_base = (torch.arange(out_channels) // per_group_out) * per_group_in        # (O,)
    if per_group_in >= 2:
        # argsort of uniform noise = one random permutation per row, drawn all at once
        pair = torch.rand(out_channels, per_group_in, generator=generator).argsort(dim=1)[:, :2]
    else:
        pair = torch.zeros(out_channels, 2, dtype=torch.int64)
    pair = pair + group_base[:, None]
    if field >= leaves:
        pos = torch.rand(out_channels, field, generator=generator).argsort(dim=1)[:, :leaves]
    else:
        pos = torch.randint(field, (out_channels, leaves), generator=generator)
    which, rest = pos // (kh * kw), pos % (kh * kw)
    ch = pair.gather(1, which)
    dy = rest // kw
    dx = rest % kw
    return ch, dy, dx


class LogicConv2d(nn.Module):
    """Logic-tree convolution: (B, in_channels, H, W) -> (B, out_channels, H', W').

    ``train()`` computes the relaxation (soft mixture or Gumbel straight-through sample per
    gate); ``eval()`` computes the discrete circuit and requires binary inputs. Wiring lives in
    buffers (``leaf_channel``, ``leaf_dy``, ``leaf_dx``), so it is part of the state dict. Gates
    of a tree are ordered level by level: gate j < 2^(depth-1) reads leaves 2j and 2j+1, later
    gates read pairs of earlier outputs (gate g reads tree nodes 2g, 2g+1 with leaves as nodes
    0..L-1 and gate g as node L+g), the root is the last gate.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, depth: int = 3, *,
                 stride=1, padding=0, channel_groups: int = 1, parametrization: str = "softmax16",
                 init: str = "residual", sampling: str = "soft", gumbel_tau: float = 1.0,
                 in_size: tuple[int, int] | None = None, seed: int | None = None):
        super().__init__()
        P.check_choice("parametrization", parametrization, P.PARAMETRIZATIONS)
        P.check_choice("init", init, P.INITS)
        P.check_choice("sampling", sampling, P.SAMPLINGS)
        self.in_channels = check_size("LogicConv2d in_channels", in_channels)
        self.out_channels = check_size("LogicConv2d out_channels", out_channels)
        self.kernel_size = _pair(kernel_size, "LogicConv2d kernel_size")
        self.stride = _pair(stride, "LogicConv2d stride")
        self.padding = _pair(padding, "LogicConv2d padding", low=0)
        self.depth = check_size("LogicConv2d depth", depth, high=MAX_DEPTH)
        self.channel_groups = check_size("LogicConv2d channel_groups", channel_groups)
        check_size("LogicConv2d learned gates (out_channels x (2^depth - 1))",
                   self.out_channels * (2 ** self.depth - 1))
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"LogicConv2d needs kernel_size, stride >= 1 and padding >= 0, got "
                             f"{self.kernel_size}, {self.stride}, {self.padding}")
        if (self.channel_groups < 1 or self.in_channels % self.channel_groups
                or self.out_channels % self.channel_groups):
            raise ValueError(f"channel_groups={channel_groups} must divide in_channels={in_channels} "
                             f"and out_channels={out_channels}")
        gumbel_tau = check_number("gumbel_tau", gumbel_tau, positive=True)
        self.parametrization, self.init, self.sampling = parametrization, init, sampling
        self.gumbel_tau = float(gumbel_tau)
        self.in_size = None if in_size is None else _pair(in_size, "LogicConv2d in_size")
        if self.in_size is not None:
            self.out_size(*self.in_size)   # fail early on a kernel larger than the padded input
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        ch, dy, dx = make_tree_wiring(self.in_channels, self.out_channels, self.kernel_size, self.depth,
                                      self.channel_groups, gen)
        self.register_buffer("leaf_channel", ch)
        self.register_buffer("leaf_dy", dy)
        self.register_buffer("leaf_dx", dx)
        n = self.out_channels * self.gates_per_tree
        self.weight = nn.Parameter(P.init_weights(parametrization, init, n, gen))
        self._index_cache: dict = {}

    # ------------------------------------------------------------------ facts
    @property
    def leaves(self) -> int:
        return 2 ** self.depth

    @property
    def gates_per_tree(self) -> int:
        return 2 ** self.depth - 1

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise InputError(f"LogicConv2d: kernel {self.kernel_size} is larger than the padded input "
                             f"{(h + 2 * ph, w + 2 * pw)}")
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def check_state(self, prefix: str = "") -> None:
        """Raise InputError (naming the tensor) unless every leaf reads an input channel and a
        position of the receptive field, and the weights are finite."""
        shape = (self.out_channels, self.leaves)
        for name, limit, what in (("leaf_channel", self.in_channels, "input channels"),
                                  ("leaf_dy", self.kernel_size[0], "kernel rows"),
                                  ("leaf_dx", self.kernel_size[1], "kernel columns")):
            t = getattr(self, name)
            if tuple(t.shape) != shape:
                raise InputError(f"{prefix}{name} has shape {tuple(t.shape)}, expected {shape}")
            check_index(prefix, name, t, limit, what)
        wshape = (self.out_channels * self.gates_per_tree, P.num_params(self.parametrization))
        if tuple(self.weight.shape) != wshape:
            raise InputError(f"{prefix}weight has shape {tuple(self.weight.shape)}, expected {wshape}")
        check_finite(prefix, "weight", self.weight)

    def gate_count(self) -> int:
        """Gates of the discrete layer after unrolling the trees over all output positions."""
        if self.in_size is None:
            raise ValueError("LogicConv2d.gate_count needs the input size (construct with in_size=(H, W))")
        ho, wo = self.out_size(*self.in_size)
        return self.out_channels * self.gates_per_tree * ho * wo

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, depth={self.depth}, "
                f"stride={self.stride}, padding={self.padding}, channel_groups={self.channel_groups}, "
                f"parametrization={self.parametrization!r}, sampling={self.sampling!r}")

    # ------------------------------------------------------------------ gates
    @torch.no_grad()
    def gate_ids(self) -> torch.Tensor:
        """Discrete gate ids, int64 of shape (out_channels, 2^depth - 1), in tree order."""
        return P.hard_gate_ids(self.parametrization, self.weight.detach()).view(self.out_channels, -1)

    def coefficients(self) -> torch.Tensor:
        """(out_channels, 2^depth - 1, 4) coefficients used by the next forward in the current mode."""
        if self.training:
            c = P.coefficients(self.parametrization, self.weight, sampling=self.sampling,
                               gumbel_tau=self.gumbel_tau)
        else:
            c = coeffs_tensor(self.weight.dtype, self.weight.device)[self.gate_ids().reshape(-1)]
        return c.view(self.out_channels, self.gates_per_tree, 4)

    def leaf_index(self, h: int, w: int) -> torch.Tensor:
        """(out_channels, 2^depth, H'*W') flat indices into the padded input (C, H+2p, W+2p)."""
        key = (h, w, self.leaf_channel.device)
        # The wiring buffers may be replaced by load_state_dict; key the cache on their data too.
        stamp = (self.leaf_channel.data_ptr(), self.leaf_dy.data_ptr(), self.leaf_dx.data_ptr(),
                 self.leaf_channel._version, self.leaf_dy._version, self.leaf_dx._version)
        hit = self._index_cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        ho, wo = self.out_size(h, w)
        hp, wp = h + 2 * self.padding[0], w + 2 * self.padding[1]
        oy = torch.arange(ho, device=key[2]) * self.stride[0]
        ox = torch.arange(wo, device=key[2]) * self.stride[1]
        pos = (oy[:, None] * wp + ox[None, :]).reshape(-1)                     # (P,)
        base = self.leaf_channel * (hp * wp) + self.leaf_dy * wp + self.leaf_dx  # (O, L)
        idx = (base[:, :, None] + pos[None, None, :]).contiguous()
        self._index_cache = {key: (stamp, idx)}
        return idx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_image(x, self.in_channels, "LogicConv2d")
        if self.in_size is not None and tuple(x.shape[2:]) != self.in_size:
            raise InputError(f"LogicConv2d was built for {self.in_size[0]}x{self.in_size[1]} inputs, "
                             f"got {x.shape[2]}x{x.shape[3]}")
        if not self.training:
            check_binary(x, "LogicConv2d")
        h, w = x.shape[2], x.shape[3]
        ho, wo = self.out_size(h, w)
        if any(self.padding):
            x = F.pad(x, (self.padding[1], self.padding[1], self.padding[0], self.padding[0]))
        idx = self.leaf_index(h, w)
        # explicit sizes, not -1: a batch of 0 rows has 0 elements, which -1 cannot be solved for
        y = tree_forward(x.reshape(x.shape[0], x.shape[1] * x.shape[2] * x.shape[3]), idx,
                         self.coefficients().to(x.dtype))
        return y.view(x.shape[0], self.out_channels, ho, wo)


class OrPool2d(nn.Module):
    """OR over ``kernel_size`` windows (stride = kernel_size unless given); padding reads 0.

    Relaxed as max, which equals OR on bits; eval mode requires binary inputs like every hard layer.
    """

    def __init__(self, kernel_size=2, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "OrPool2d kernel_size")
        self.stride = _pair(stride if stride is not None else kernel_size, "OrPool2d stride")
        self.padding = _pair(padding, "OrPool2d padding", low=0)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"OrPool2d needs kernel_size, stride >= 1 and padding >= 0, got "
                             f"{self.kernel_size}, {self.stride}, {self.padding}")
        if self.padding[0] >= self.kernel_size[0] or self.padding[1] >= self.kernel_size[1]:
            raise ValueError("OrPool2d padding must be smaller than the kernel "
                             "(a window of padding only is constant 0)")

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if h + 2 * ph < kh or w + 2 * pw < kw:
            raise InputError(f"OrPool2d: window {self.kernel_size} is larger than the padded input "
                             f"{(h + 2 * ph, w + 2 * pw)}")
        return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise InputError(f"OrPool2d expects input of shape (batch, channels, height, width), "
                             f"got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if not x.is_floating_point():
            raise InputError(f"OrPool2d expects a floating-point tensor, got dtype {x.dtype}")
        if not self.training:
            check_binary(x, "OrPool2d")
        self.out_size(x.shape[2], x.shape[3])
        if any(self.padding):
            # Pad with 0 (FALSE), not max_pool2d's -inf, so relaxed and hard agree with the circuit.
            x = F.pad(x, (self.padding[1], self.padding[1], self.padding[0], self.padding[0]))
        k = self.kernel_size[0]
        if self.kernel_size == self.stride == (k, k):
            return window_max(x, k)     # the common case, in C++ (F.max_pool2d when it cannot)
        return F.max_pool2d(x, self.kernel_size, self.stride)


# ---------------------------------------------------------------------------- layer kinds
CONV_OPTIONS = ("stride", "padding", "channel_groups", "parametrization", "init", "sampling", "gumbel_tau")
OR = BY_NAME["OR"].id


def _build_conv(spec: dict, in_shape: tuple, seed: int | None):
    if len(in_shape) != 3:
        raise ValueError(f"a 'conv' layer needs (channels, height, width) input, got shape {in_shape}; "
                         "give the encoder an image shape")
    for key in ("out_channels", "kernel_size"):
        if key not in spec:
            raise ValueError(f"a 'conv' layer spec needs {key!r}, got {spec}")
    opts = {k: spec[k] for k in CONV_OPTIONS if k in spec}
    layer = LogicConv2d(in_shape[0], spec["out_channels"], spec["kernel_size"], spec.get("depth", 3),
                        in_size=(in_shape[1], in_shape[2]), seed=seed, **opts)
    return layer, (layer.out_channels, *layer.out_size(in_shape[1], in_shape[2]))


ORPOOL_OPTIONS = ("kernel_size", "stride", "padding")


def _build_orpool(spec: dict, in_shape: tuple, seed: int | None):
    if len(in_shape) != 3:
        raise ValueError(f"an 'orpool' layer needs (channels, height, width) input, got shape {in_shape}")
    layer = OrPool2d(spec.get("kernel_size", 2), spec.get("stride"), spec.get("padding", 0))
    return layer, (in_shape[0], *layer.out_size(in_shape[1], in_shape[2]))


def _pad_nodes(builder, nodes: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Node grid (C, H, W) -> (C, H+2ph, W+2pw) with padding positions reading constant FALSE."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return nodes
    return np.pad(nodes, ((0, 0), (ph, ph), (pw, pw)), constant_values=builder.constant(False))


def _check_grid(nodes: np.ndarray, channels: int | None, where: str) -> np.ndarray:
    if nodes.ndim != 3 or (channels is not None and nodes.shape[0] != channels):
        want = f"({channels}, H, W)" if channels is not None else "(C, H, W)"
        raise ValueError(f"{where} lowering needs input nodes shaped {want}, got {nodes.shape}; "
                         "the encoder must produce an image (give it an image shape)")
    return nodes


def _lower_conv(layer: LogicConv2d, builder, nodes: np.ndarray) -> np.ndarray:
    nodes = _check_grid(np.asarray(nodes), layer.in_channels, "LogicConv2d")
    c, h, w = nodes.shape
    ho, wo = layer.out_size(h, w)
    flat = _pad_nodes(builder, nodes, layer.padding).reshape(-1)
    idx = layer.leaf_index(h, w).cpu().numpy()                 # (O, L, P) into the padded grid
    ops = check_gate_ids(layer.gate_ids().cpu().numpy(), "LogicConv2d")   # (O, L-1) in tree order
    O, L, P = idx.shape
    level = flat[idx]                                          # (O, L, P) node ids of the leaves
    start, width = 0, L // 2
    while width >= 1:
        op = np.broadcast_to(ops[:, start:start + width, None], (O, width, P))
        level = builder.add_gates(op, level[:, 0::2, :], level[:, 1::2, :]).reshape(O, width, P)
        start += width
        width //= 2
    return level.reshape(O, ho, wo)


def _lower_orpool(layer: OrPool2d, builder, nodes: np.ndarray) -> np.ndarray:
    nodes = _check_grid(np.asarray(nodes), None, "OrPool2d")
    c, h, w = nodes.shape
    ho, wo = layer.out_size(h, w)
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    grid = _pad_nodes(builder, nodes, layer.padding)
    # Window members as a list of (C, H', W') node arrays, then a balanced OR tree over them
    # (3 OR gates per 2x2 window).
    members = [grid[:, dy:dy + sh * (ho - 1) + 1:sh, dx:dx + sw * (wo - 1) + 1:sw]
               for dy in range(kh) for dx in range(kw)]
    while len(members) > 1:
        nxt = []
        for i in range(0, len(members) - 1, 2):
            a, b = members[i], members[i + 1]
            nxt.append(builder.add_gates(np.full(a.size, OR), a, b).reshape(a.shape))
        if len(members) % 2:
            nxt.append(members[-1])
        members = nxt
    return np.ascontiguousarray(members[0])


register(LayerKind("conv", LogicConv2d, _build_conv, _lower_conv,
                   defaults={"parametrization": "softmax16", "init": "residual", "sampling": "soft"},
                   options=("out_channels", "kernel_size", "depth", *CONV_OPTIONS)))
register(LayerKind("orpool", OrPool2d, _build_orpool, _lower_orpool, options=ORPOOL_OPTIONS))
