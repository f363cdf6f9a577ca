"""Output heads: the last module of a model, from the last layer's bits to class scores. A model
spec's ``head`` names one of the kinds declared here.

``groupsum``  :class:`~gatelearn.layers.groupsum.GroupSum` ``{"kind": "groupsum", "classes": C,
              "tau": t}``: the outputs split into C contiguous groups of equal size; class k's
              score is the number of ones in group k divided by t. C >= 2.
``binary``    :class:`BinaryHead` ``{"kind": "binary", "tau": t}``: a yes/no decision from all k
              outputs. With c the number of ones, the threshold is k/2 and the scores are
              ``[0, (c - k/2) / t]``: class 1 exactly when c > k/2 (more ones than zeros, a
              majority vote), and a tie (c = k/2, k even) is class 0, the first maximum, as
              ``torch.argmax`` takes it. Cross-entropy on these two scores is the logistic loss
              of ``(c - k/2) / t``, and the argmax is the decision, so the training loop and every
              evaluation use the head unchanged.

A :class:`HeadKind` says everything gatelearn needs to know about a kind of head: the spec
options it accepts, how a spec is checked (and how many classes it has) and built, and its two
lowerings, the ``head`` argument of :func:`gatelearn.lower`:

``"ir"``     the head stays the IR's :class:`~gatelearn.circuit.ir.Head` (GroupSum counts, which
             every backend and proof understands): GroupSum is ``Head(C, t)`` over the last
             layer's bits. A binary head is the same decision as GroupSum over the inverted bits
             and the bits, ``Head(2, 2t)`` over ``[not b_1 .. not b_k, b_1 .. b_k]``: the counts
             are ``[k - c, c]``, the class is the same argmax (ties to class 0), and the model's
             class-1 score is exactly the difference of the two IR scores,
             ``(2c - k) / 2t = (c - k/2) / t``.
``"gates"``  the head is built from 2-input gates (:mod:`gatelearn.circuit.arith`), so the
             circuit passes and ABC see the whole design. Outputs: the class index in binary,
             least significant bit first (``index_width(C)`` bits: a binary head's single output
             is 1 for class 1); GroupSum's is the popcount of each group and the argmax of the
             counts, lowest index on ties.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..circuit import arith
from ..circuit.builder import CircuitBuilder
from ..circuit.ir import Head
from ..errors import InputError
from ..gates import BY_NAME
from .groupsum import GroupSum, one_class_message
from .kinds import MAX_SIZE, check_number, check_size

__all__ = ["BinaryHead", "GroupSum", "HeadKind", "HEADS", "register_head", "head_kind_of", "check_head_spec",
           "head_from_spec", "HEAD_LOWERINGS"]

# The ``head`` argument of gatelearn.lower: keep the IR's Head, or build the head from gates.
HEAD_LOWERINGS = ("ir", "gates")

_NOT = BY_NAME["NOT_A"].id


class BinaryHead(nn.Module):
    """Two classes from one group of k output bits: scores ``[0, (c - k/2) / tau]`` with c the
    number of ones, so class 1 exactly when c > k/2 and class 0 on a tie (see the module
    docstring)."""

    kind = "binary"
    classes = 2
    # GroupSum sums ``groups`` groups of the last layer; here all k bits are one group, so the
    # model may reorder the last layer's gates freely (gatelearn.layers.wiring).
    groups = 1

    def __init__(self, tau: float = 1.0):
        super().__init__()
        self.tau = check_number("BinaryHead tau", tau, positive=True)

    def extra_repr(self) -> str:
        return f"tau={self.tau}"

    @staticmethod
    def threshold(bits: int) -> float:
        """The count a decision of ``bits`` bits is compared with: half of them."""
        return bits / 2

    def check_input(self, shape: tuple) -> None:
        """Raise InputError unless the last layer's output ``shape`` (no batch) is k >= 1 bits."""
        if len(shape) != 1 or shape[0] < 1:
            raise InputError(f"the binary head needs the last layer's bits as a flat vector (batch, k), k >= 1; "
                             f"it gets {tuple(shape)} per sample (add a flatten layer)")

    def counts(self, bits: torch.Tensor) -> torch.Tensor:
        """The counts of the IR head this head lowers to (``gatelearn.lower(model)``: GroupSum over
        the inverted bits and the bits), int64 (batch, 2) for hard bits (batch, k): ``[k - c, c]``.
        The class-1 score is exactly ``(counts[:, 1] - counts[:, 0]) / (2 tau)``."""
        ones = bits.sum(1).to(torch.int64)
        return torch.stack((bits.shape[1] - ones, ones), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] < 1:
            raise InputError(f"BinaryHead needs input of shape (batch, k), k >= 1, got {tuple(x.shape)}")
        # c - k/2 is exact in float32 (an integer or a half-integer) for k < 2^24 bits, so the
        # score's sign is exactly the comparison c > k/2 that the circuit makes.
        score = (x.sum(1) - self.threshold(x.shape[1])) / self.tau
        return torch.stack((torch.zeros_like(score), score), 1)


Lowering = Callable[[nn.Module, CircuitBuilder, np.ndarray], object]


@dataclass(frozen=True)
class HeadKind:
    """One kind of head (see the module docstring).

    ``check``        spec -> its number of classes, after checking the options' values
                     (InputError naming the option); unknown options are refused before
    ``build``        a checked spec -> the module
    ``lower_ir``     (module, builder, nodes) -> (outputs, :class:`Head`); ``nodes`` are the last
                     layer's node ids, shaped like its output
    ``lower_gates``  (module, builder, nodes) -> the class index bits, least significant first
    ``ir_outputs``   what the outputs of ``lower_ir`` are, for ``meta["head"]`` of the circuit,
                     when the IR Head alone does not say it (None: the last layer's bits, grouped)
    """
    name: str
    module: type
    options: tuple[str, ...]
    check: Callable[[dict], int]
    build: Callable[[dict], nn.Module]
    lower_ir: Lowering
    lower_gates: Lowering
    ir_outputs: str | None = None


HEADS: dict[str, HeadKind] = {}


def register_head(kind: HeadKind) -> HeadKind:
    if kind.name in HEADS and HEADS[kind.name] != kind:
        raise ValueError(f"head kind {kind.name!r} is declared twice")
    HEADS[kind.name] = kind
    return kind


def head_kind_of(module: nn.Module) -> HeadKind | None:
    """The declared head kind of ``module`` (by its class, most specific first), or None."""
    for cls in type(module).__mro__:
        for kind in HEADS.values():
            if kind.module is cls:
                return kind
    return None


def check_head_spec(spec) -> int:
    """The number of classes of head spec ``spec``, after checking it: an object whose ``kind``
    (default ``groupsum``) is declared, with only that kind's options, each valid."""
    if not isinstance(spec, dict):
        raise InputError(f"model spec 'head' must be an object, got {spec!r}")
    name = spec.get("kind", "groupsum")
    if name not in HEADS:
        raise InputError(f"unknown head kind {name!r}; known: {', '.join(sorted(map(repr, HEADS)))}")
    kind = HEADS[name]
    unknown = sorted(str(k) for k in spec if k != "kind" and k not in kind.options)
    if unknown:
        raise InputError(f"head ({name}): unknown option{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(map(repr, unknown))}; a {name!r} head accepts: {', '.join(kind.options)}")
    return kind.check(spec)


def head_from_spec(spec: dict, in_shape: tuple) -> nn.Module:
    """The head ``spec`` describes, checked against the last layer's output shape ``in_shape``."""
    check_head_spec(spec)
    head = HEADS[spec.get("kind", "groupsum")].build(spec)
    head.check_input(tuple(in_shape))
    return head


def _tau(spec: dict) -> float:
    tau = spec.get("tau", 1.0)
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise InputError(f"head 'tau' must be a finite number > 0, got {tau!r}")
    return float(tau)


# ---------------------------------------------------------------------------- groupsum

def _check_groupsum(spec: dict) -> int:
    classes = check_size("head 'classes'", spec.get("classes"), high=MAX_SIZE)
    if classes == 1:
        raise InputError(one_class_message("a 'groupsum' head with classes 1"))
    _tau(spec)
    return classes


def _groupsum_ir(head: GroupSum, builder, nodes: np.ndarray):
    head.check_input(nodes.shape)
    return nodes.reshape(-1), Head(head.classes, head.tau)


def _groupsum_gates(head: GroupSum, builder, nodes: np.ndarray) -> np.ndarray:
    head.check_input(nodes.shape)
    groups = nodes.reshape(head.classes, -1).T               # (bits per class, classes)
    return arith.argmax(builder, arith.popcount(builder, groups))


register_head(HeadKind("groupsum", GroupSum, ("classes", "tau"), _check_groupsum,
                       lambda spec: GroupSum(int(spec["classes"]), _tau(spec)), _groupsum_ir, _groupsum_gates))


# ---------------------------------------------------------------------------- binary

def _check_binary(spec: dict) -> int:
    # 'classes' may be stated (a spec written like a GroupSum one), but it can only be 2.
    if "classes" in spec and (isinstance(spec["classes"], bool) or spec["classes"] != 2):
        raise InputError(f"a 'binary' head has 2 classes (class 1: more ones than zeros); its 'classes' "
                         f"may only be 2, got {spec['classes']!r}")
    _tau(spec)
    return 2


def _binary_ir(head: BinaryHead, builder, nodes: np.ndarray):
    head.check_input(nodes.shape)
    bits = nodes.reshape(-1)
    inverted = builder.add_gates(np.full(len(bits), _NOT), bits, np.zeros_like(bits))
    return np.concatenate([inverted, bits]), Head(2, 2 * head.tau)


def _binary_gates(head: BinaryHead, builder, nodes: np.ndarray) -> np.ndarray:
    head.check_input(nodes.shape)
    bits = nodes.reshape(-1)
    # c > k/2 for a whole count c is c > floor(k/2): for odd k, c >= (k+1)/2 either way.
    return arith.greater_than_constant(builder, arith.popcount(builder, bits), len(bits) // 2).reshape(1)


register_head(HeadKind("binary", BinaryHead, ("tau", "classes"), _check_binary,
                       lambda spec: BinaryHead(_tau(spec)), _binary_ir, _binary_gates,
                       ir_outputs="[not bits, bits] under Head(2, 2 tau); the model's class-1 score is "
                                  "IR score 1 - IR score 0"))
