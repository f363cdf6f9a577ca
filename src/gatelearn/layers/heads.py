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
from .groupsum import GroupSum, Temperature, one_class_message
from .kinds import MAX_SIZE, check_number, check_size

__all__ = ["BinaryHead", "CodebookHead", "make_code", "GroupSum", "HeadKind", "HEADS", "register_head",
           "head_kind_of", "check_head_spec",
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

    def __init__(self, tau: float = 1.0, learn_tau: bool = False):
        super().__init__()
        self.temperature = Temperature(check_number("BinaryHead tau", tau, positive=True), learn_tau)

    @property
    def tau(self) -> float:
        return float(self.temperature)

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
        score = self.temperature.divide(x.sum(1) - self.threshold(x.shape[1]))
        return torch.stack((torch.zeros_like(score), score), 1)

    def scores(self, counts: torch.Tensor) -> torch.Tensor:
        """The scores for the IR head's counts ``[k - c, c]`` (exactly forward's on hard bits)."""
        counts = counts.to(torch.float32)
        score = self.temperature.divide(counts[:, 1] - self.threshold(int(counts[0].sum()) if len(counts) else 0))
        return torch.stack((torch.zeros_like(score), score), 1)


class CodebookHead(nn.Module):
    """Each class a binary codeword of the last layer's width L; class k's score is the number of
    the L output bits that agree with codeword k, divided by tau, and the prediction is the
    nearest codeword in Hamming distance (ties: the lowest class). In training, with relaxed bits
    x in [0, 1], the agreement is ``sum_j x_j c_kj + (1 - x_j)(1 - c_kj)``, differentiable and
    equal to the count on hard bits.

    Codes (the ``codebook`` buffer, (classes, L), part of the state dict):

    ``random``    each bit drawn with probability 1/2 from ``numpy.random.default_rng(seed)``,
                  redrawn until the codewords are distinct (any C and L with 2^L >= C);
    ``hadamard``  rows 1..C of the Sylvester Hadamard matrix of order n (the smallest power of 2
                  >= max(L, C + 1)) as 0/1, truncated to L columns: for L = n any two codewords
                  differ in exactly L/2 bits (row 0, all ones, is left out).
    """

    kind = "codebook"

    def __init__(self, classes: int, bits: int, tau: float = 1.0, code: str = "random", seed: int = 0,
                 learn_tau: bool = False):
        super().__init__()
        self.classes = check_size("CodebookHead classes", classes, low=2)
        self.bits = check_size("CodebookHead bits (the last layer's width)", bits)
        if code not in CODES:
            raise InputError(f"codebook code must be one of {', '.join(CODES)}, got {code!r}")
        if self.bits < 63 and 2 ** self.bits < self.classes:
            raise InputError(f"{self.classes} classes need codewords of at least {math.ceil(math.log2(self.classes))} "
                             f"bits; the last layer has {self.bits}")
        self.code, self.seed = code, int(seed)
        self.temperature = Temperature(check_number("CodebookHead tau", tau, positive=True), learn_tau)
        self.register_buffer("codebook", torch.from_numpy(make_code(code, self.classes, self.bits, self.seed)))

    # The head reads each output bit by its position in the codewords: the last layer's gates
    # must keep their order (groups of one, see gatelearn.layers.wiring).
    @property
    def groups(self) -> int:
        return self.bits

    @property
    def tau(self) -> float:
        return float(self.temperature)

    def extra_repr(self) -> str:
        return f"classes={self.classes}, bits={self.bits}, code={self.code!r}"

    def check_input(self, shape: tuple) -> None:
        if tuple(shape) != (self.bits,):
            hint = " (add a flatten layer)" if len(shape) != 1 else ""
            raise InputError(f"the codebook head reads {self.bits} bits per sample (its codeword length), "
                             f"the last layer gives {tuple(shape)}{hint}")

    def check_state(self, prefix: str = "") -> None:
        """A loaded codebook must hold 0/1 values in distinct rows (else two classes tie forever)."""
        c = self.codebook
        if not bool(((c == 0) | (c == 1)).all()):
            raise InputError(f"{prefix}codebook must hold only 0 and 1")
        if len(torch.unique(c, dim=0)) != len(c):
            raise InputError(f"{prefix}codebook has two equal codewords")

    def counts(self, bits: torch.Tensor) -> torch.Tensor:
        """Agreements of hard bits (batch, L) with every codeword: int64 (batch, classes)."""
        c = self.codebook.to(torch.int64)
        b = bits.to(torch.int64)
        return b @ c.T + (1 - b) @ (1 - c).T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.bits:
            raise InputError(f"CodebookHead needs input of shape (batch, {self.bits}), got {tuple(x.shape)}")
        c = self.codebook.to(x.dtype)
        # x.c + (1-x).(1-c) = x.(2c - 1) + sum(1 - c): one matrix product
        return self.temperature.divide(x @ (2 * c - 1).T + (1 - c).sum(1))

    def scores(self, counts: torch.Tensor) -> torch.Tensor:
        return self.temperature.divide(counts.to(torch.float32))


CODES = ("random", "hadamard")


def make_code(code: str, classes: int, bits: int, seed: int = 0) -> np.ndarray:
    """The (classes, bits) 0/1 float32 codebook of :class:`CodebookHead` (see its docstring)."""
    if code == "hadamard":
        n = 1
        while n < max(bits, classes + 1):
            n *= 2
        h = np.ones((1, 1), np.int8)
        while len(h) < n:
            h = np.block([[h, h], [h, -h]])
        book = (h[1:classes + 1, :bits] > 0)
        if len(np.unique(book, axis=0)) != classes:
            raise InputError(f"{bits}-bit Hadamard codewords do not separate {classes} classes; use code 'random' "
                             f"or a wider last layer")
        return book.astype(np.float32)
    rng = np.random.default_rng(seed)
    book = rng.random((classes, bits)) < 0.5
    for _ in range(1000):   # redraw duplicates (likely only when 2^bits is near classes)
        _, first = np.unique(book, axis=0, return_index=True)
        dup = np.setdiff1d(np.arange(classes), first)
        if not len(dup):
            return book.astype(np.float32)
        book[dup] = rng.random((len(dup), bits)) < 0.5
    raise InputError(f"could not draw {classes} distinct random codewords of {bits} bits")


Lowering = Callable[[nn.Module, CircuitBuilder, np.ndarray], object]


@dataclass(frozen=True)
class HeadKind:
    """One kind of head (see the module docstring).

    ``check``        spec -> its number of classes, after checking the options' values
                     (InputError naming the option); unknown options are refused before
    ``build``        (a checked spec, the last layer's output shape) -> the module
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
    build: Callable[[dict, tuple], nn.Module]
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
    head = HEADS[spec.get("kind", "groupsum")].build(spec, tuple(in_shape))
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
    _learn_tau(spec)
    return classes


def _groupsum_ir(head: GroupSum, builder, nodes: np.ndarray):
    head.check_input(nodes.shape)
    return nodes.reshape(-1), Head(head.classes, head.tau)


def _groupsum_gates(head: GroupSum, builder, nodes: np.ndarray) -> np.ndarray:
    head.check_input(nodes.shape)
    groups = nodes.reshape(head.classes, -1).T               # (bits per class, classes)
    return arith.argmax(builder, arith.popcount(builder, groups))


def _learn_tau(spec: dict) -> bool:
    learn = spec.get("learn_tau", False)
    if not isinstance(learn, bool):
        raise InputError(f"head 'learn_tau' must be true or false, got {learn!r}")
    return learn


register_head(HeadKind("groupsum", GroupSum, ("classes", "tau", "learn_tau"), _check_groupsum,
                       lambda spec, shape: GroupSum(int(spec["classes"]), _tau(spec), _learn_tau(spec)),
                       _groupsum_ir, _groupsum_gates))


# ---------------------------------------------------------------------------- binary

def _check_binary(spec: dict) -> int:
    # 'classes' may be stated (a spec written like a GroupSum one), but it can only be 2.
    if "classes" in spec and (isinstance(spec["classes"], bool) or spec["classes"] != 2):
        raise InputError(f"a 'binary' head has 2 classes (class 1: more ones than zeros); its 'classes' "
                         f"may only be 2, got {spec['classes']!r}")
    _tau(spec)
    _learn_tau(spec)
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


register_head(HeadKind("binary", BinaryHead, ("tau", "classes", "learn_tau"), _check_binary,
                       lambda spec, shape: BinaryHead(_tau(spec), _learn_tau(spec)), _binary_ir, _binary_gates,
                       ir_outputs="[not bits, bits] under Head(2, 2 tau); the model's class-1 score is "
                                  "IR score 1 - IR score 0"))


# ---------------------------------------------------------------------------- codebook

def _check_codebook(spec: dict) -> int:
    classes = check_size("head 'classes'", spec.get("classes"), low=2, high=MAX_SIZE)
    _tau(spec)
    _learn_tau(spec)
    if spec.get("code", "random") not in CODES:
        raise InputError(f"head 'code' must be one of {', '.join(CODES)}, got {spec.get('code')!r}")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"head 'seed' must be an integer >= 0, got {seed!r}")
    return classes


def _build_codebook(spec: dict, shape: tuple) -> CodebookHead:
    if len(shape) != 1:
        raise InputError(f"the codebook head reads a flat vector of bits; the last layer gives {shape} "
                         f"(add a flatten layer)")
    return CodebookHead(int(spec["classes"]), int(shape[0]), _tau(spec), spec.get("code", "random"),
                        spec.get("seed", 0), _learn_tau(spec))


def _codebook_groups(head: CodebookHead, builder, nodes: np.ndarray) -> np.ndarray:
    """(L, classes) node ids: bit j where codeword k has a 1, NOT bit j where it has a 0 (the
    XNOR with a constant), so that the ones of column k are the agreements with codeword k."""
    head.check_input(nodes.shape)
    bits = nodes.reshape(-1)
    book = head.codebook.detach().cpu().numpy().astype(bool)          # (classes, L)
    need_not = np.flatnonzero((~book).any(0))
    inverted = np.zeros_like(bits)
    inverted[need_not] = builder.add_gates(np.full(len(need_not), _NOT), bits[need_not], np.zeros_like(need_not))
    return np.where(book, bits[None, :], inverted[None, :]).T


def _codebook_ir(head: CodebookHead, builder, nodes: np.ndarray):
    # class-major groups of L outputs: GroupSum's counts are then exactly the agreements
    return _codebook_groups(head, builder, nodes).T.reshape(-1), Head(head.classes, head.tau)


def _codebook_gates(head: CodebookHead, builder, nodes: np.ndarray) -> np.ndarray:
    return arith.argmax(builder, arith.popcount(builder, _codebook_groups(head, builder, nodes)))


register_head(HeadKind("codebook", CodebookHead, ("classes", "tau", "learn_tau", "code", "seed"), _check_codebook,
                       _build_codebook, _codebook_ir, _codebook_gates,
                       ir_outputs="per class, its codeword's agreements: bit j, or NOT bit j where the codeword "
                                  "has a 0, under Head(classes, tau)"))
