"""The one table of the 16 two-input gates. Every other part of gatelearn reads it.

Gate id = the truth table read as a 4-bit number, with the output for (a, b) = (0, 0) as the
most significant bit (the convention of difflogic and torchlogix, so files and results compare).

Each gate's relaxation is the bilinear form ``c0 + ca*a + cb*b + cab*a*b``: the probability that
the gate outputs 1 when a and b are independent Bernoulli variables with means a and b. The
coefficients are derived from the truth table, never typed in by hand.

Expressions are written with the operands ``{a}`` / ``{b}`` as format fields:
- ``c``: a bitwise C expression over words (works for uint64_t and GCC vector types). The
  constants are written ``ZERO`` and ``ONES``; a renderer defines them for its word type.
  The same text evaluates on NumPy unsigned integer arrays with ``ZERO``/``ONES`` bound.
- ``verilog``: a Verilog expression over 1-bit wires.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Gate", "GATES", "NUM_GATES", "BY_NAME", "truth_rows", "gate_id_from_truth",
           "COEFFS_NP", "coeffs_tensor", "TRUTH_NP", "truth_tensor", "PASS_A", "evaluate_np"]

NUM_GATES = 16

# Truth-table rows in the order used everywhere: (a, b) = 00, 01, 10, 11.
ROWS = ((0, 0), (0, 1), (1, 0), (1, 1))


@dataclass(frozen=True)
class Gate:
    id: int
    name: str
    c: str
    verilog: str

    @property
    def truth(self) -> tuple[int, int, int, int]:
        """Outputs for (a, b) = 00, 01, 10, 11."""
        return truth_rows(self.id)

    @property
    def coeffs(self) -> tuple[int, int, int, int]:
        """(c0, ca, cb, cab) of the relaxation c0 + ca*a + cb*b + cab*a*b."""
        t00, t01, t10, t11 = self.truth
        return (t00, t10 - t00, t01 - t00, t11 - t10 - t01 + t00)

    @property
    def uses_a(self) -> bool:
        c0, ca, cb, cab = self.coeffs
        return ca != 0 or cab != 0

    @property
    def uses_b(self) -> bool:
        c0, ca, cb, cab = self.coeffs
        return cb != 0 or cab != 0

    def __call__(self, a: int, b: int) -> int:
        return self.truth[2 * a + b]


def truth_rows(gate_id: int) -> tuple[int, int, int, int]:
    """Truth table of a gate id as outputs for (a, b) = 00, 01, 10, 11."""
    if not 0 <= gate_id < NUM_GATES:
        raise ValueError(f"gate id must be in 0..15, got {gate_id}")
    return tuple((gate_id >> (3 - r)) & 1 for r in range(4))  # type: ignore[return-value]


def gate_id_from_truth(t00: int, t01: int, t10: int, t11: int) -> int:
    return (t00 << 3) | (t01 << 2) | (t10 << 1) | t11


GATES: tuple[Gate, ...] = (
    Gate(0, "FALSE", "ZERO", "1'b0"),
    Gate(1, "AND", "({a} & {b})", "({a} & {b})"),
    Gate(2, "A_AND_NOT_B", "({a} & ~{b})", "({a} & ~{b})"),
    Gate(3, "A", "{a}", "{a}"),
    Gate(4, "NOT_A_AND_B", "(~{a} & {b})", "(~{a} & {b})"),
    Gate(5, "B", "{b}", "{b}"),
    Gate(6, "XOR", "({a} ^ {b})", "({a} ^ {b})"),
    Gate(7, "OR", "({a} | {b})", "({a} | {b})"),
    Gate(8, "NOR", "~({a} | {b})", "~({a} | {b})"),
    Gate(9, "XNOR", "~({a} ^ {b})", "~({a} ^ {b})"),
    Gate(10, "NOT_B", "~{b}", "~{b}"),
    Gate(11, "A_OR_NOT_B", "({a} | ~{b})", "({a} | ~{b})"),
    Gate(12, "NOT_A", "~{a}", "~{a}"),
    Gate(13, "NOT_A_OR_B", "(~{a} | {b})", "(~{a} | {b})"),
    Gate(14, "NAND", "~({a} & {b})", "~({a} & {b})"),
    Gate(15, "TRUE", "ONES", "1'b1"),
)
assert all(g.id == i for i, g in enumerate(GATES))

BY_NAME = {g.name: g for g in GATES}

# The pass-through gate `a`: residual initialisation starts every gate near it.
PASS_A = BY_NAME["A"].id

# (16, 4) tables derived from the truth tables.
TRUTH_NP = np.array([g.truth for g in GATES], dtype=np.int64)
COEFFS_NP = np.array([g.coeffs for g in GATES], dtype=np.int64)

# The linear map from truth-table row values (t00, t01, t10, t11) to (c0, ca, cb, cab):
# coeffs = truth @ TRUTH_TO_COEFFS. Parametrizations that learn truth tables use it.
TRUTH_TO_COEFFS_NP = np.array([
    # c0  ca  cb  cab
    [1, -1, -1, 1],   # t00
    [0, 0, 1, -1],    # t01
    [0, 1, 0, -1],    # t10
    [0, 0, 0, 1],     # t11
], dtype=np.int64)
assert (TRUTH_NP @ TRUTH_TO_COEFFS_NP == COEFFS_NP).all()


def coeffs_tensor(dtype=None, device=None):
    """The (16, 4) coefficient table as a torch tensor."""
    import torch
    return torch.tensor(COEFFS_NP, dtype=dtype or torch.float32, device=device)


def truth_tensor(dtype=None, device=None):
    """The (16, 4) truth-table rows (a, b = 00, 01, 10, 11) as a torch tensor."""
    import torch
    return torch.tensor(TRUTH_NP, dtype=dtype or torch.float32, device=device)


def truth_to_coeffs_tensor(dtype=None, device=None):
    """The (4, 4) map from truth-table rows to coefficients as a torch tensor."""
    import torch
    return torch.tensor(TRUTH_TO_COEFFS_NP, dtype=dtype or torch.float32, device=device)


def evaluate_np(gate_id: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Evaluate one gate bitwise on unsigned NumPy arrays (bit-packed words or 0/1 bools)."""
    a = np.asarray(a)
    dtype = a.dtype
    ones = np.array(1 if dtype == np.bool_ else np.iinfo(dtype).max, dtype=dtype) \
        if dtype != np.bool_ else np.True_
    zero = np.zeros((), dtype=dtype)
    expr = GATES[gate_id].c.format(a="a", b="b")
    return np.broadcast_to(eval(expr, {"ZERO": zero, "ONES": ones}, {"a": a, "b": np.asarray(b)}),
                           np.broadcast_shapes(a.shape, np.shape(b))).astype(dtype, copy=False)
