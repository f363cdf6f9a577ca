"""Lowering of the convolutional layers (LogicConv2d, OrPool2d) into the circuit IR.

A convolution is unrolled over its output positions: every (channel, position) gets its own
copy of the channel's tree. Gates are appended level by level for the whole layer, so every
operand is an earlier node (the IR's topological order). Zero padding reads one constant
FALSE gate, added the first time a layer of the circuit needs it and shared afterwards.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..gates import BY_NAME
from ..layers.conv import LogicConv2d, OrPool2d
from .lower import CircuitBuilder, register_lowering

FALSE = BY_NAME["FALSE"].id
OR = BY_NAME["OR"].id

# One constant-FALSE node per builder (i.e. per circuit), created on first use.
_FALSE_NODE: "weakref.WeakKeyDictionary[CircuitBuilder, int]" = weakref.WeakKeyDictionary()


def false_node(builder: CircuitBuilder) -> int:
    if builder not in _FALSE_NODE:
        _FALSE_NODE[builder] = int(builder.add_gates([FALSE], [0], [0])[0])
    return _FALSE_NODE[builder]


def _pad(builder: CircuitBuilder, nodes: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    """Node grid (C, H, W) -> (C, H+2ph, W+2pw) with padding positions reading constant FALSE."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return nodes
    return np.pad(nodes, ((0, 0), (ph, ph), (pw, pw)), constant_values=false_node(builder))


def _check_grid(nodes: np.ndarray, channels: int | None, where: str) -> np.ndarray:
    if nodes.ndim != 3 or (channels is not None and nodes.shape[0] != channels):
        want = f"({channels}, H, W)" if channels is not None else "(C, H, W)"
        raise ValueError(f"{where} lowering needs input nodes shaped {want}, got {nodes.shape}; "
                         "the encoder must produce an image (give it an image shape)")
    return nodes


@register_lowering(LogicConv2d)
def _lower_logic_conv(layer: LogicConv2d, builder: CircuitBuilder, nodes: np.ndarray) -> np.ndarray:
    nodes = _check_grid(np.asarray(nodes), layer.in_channels, "LogicConv2d")
    c, h, w = nodes.shape
    ho, wo = layer.out_size(h, w)
    flat = _pad(builder, nodes, layer.padding).reshape(-1)
    idx = layer.leaf_index(h, w).cpu().numpy()                 # (O, L, P) into the padded grid
    ops = layer.gate_ids().cpu().numpy()                       # (O, L-1) in tree order
    O, L, P = idx.shape
    level = flat[idx]                                          # (O, L, P) node ids of the leaves
    start, width = 0, L // 2
    while width >= 1:
        op = np.broadcast_to(ops[:, start:start + width, None], (O, width, P))
        level = builder.add_gates(op, level[:, 0::2, :], level[:, 1::2, :]).reshape(O, width, P)
        start += width
        width //= 2
    return level.reshape(O, ho, wo)


@register_lowering(OrPool2d)
def _lower_or_pool(layer: OrPool2d, builder: CircuitBuilder, nodes: np.ndarray) -> np.ndarray:
    nodes = _check_grid(np.asarray(nodes), None, "OrPool2d")
    c, h, w = nodes.shape
    ho, wo = layer.out_size(h, w)
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    grid = _pad(builder, nodes, layer.padding)
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
