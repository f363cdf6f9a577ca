"""How a gate's learned parameters become the 4 relaxation coefficients (c0, ca, cb, cab).

Three parametrizations share one interface so the layer and the kernels never care which:

- ``softmax16``: 16 logits; a softmax mixes the 16 rows of the gate table (Petersen et al. 2022).
- ``light``: 4 logits, one per truth-table row; sigmoid gives the probability that the row is 1
  (input-wise parametrization, Ruttgers et al. 2025).
- ``walsh``: 4 coefficients in the +-1 basis, z = w0 + w1*B + w2*A + w3*A*B with A = 1-2a,
  B = 1-2b; a row's value is sigmoid(-z/1) evaluated at that corner (Gerlach et al. 2025).

Every one is linear in a probability vector (over 16 gates or over 4 rows), so the relaxation is
always the bilinear form c0 + ca*a + cb*b + cab*a*b, and Gumbel straight-through sampling can be
applied to that probability vector.
"""
from __future__ import annotations

import torch

from ..gates import NUM_GATES, PASS_A, coeffs_tensor, truth_tensor, truth_to_coeffs_tensor
from ..kernels import rows_coefficients, softmax_coefficients

PARAMETRIZATIONS = ("softmax16", "light", "walsh")
INITS = ("residual", "gaussian")
SAMPLINGS = ("soft", "gumbel")

# softmax16 residual init: logit 5 on `a`, 0 elsewhere (about 91% of the mass on `a`).
RESIDUAL_LOGIT = 5.0
# light / walsh residual init: rows of `a` at +-3 (sigmoid(3) = 0.95).
RESIDUAL_ROW = 3.0

# Walsh basis at the four corners (a, b) = 00, 01, 10, 11: z_row = WALSH @ w.
# A = 1 - 2a, B = 1 - 2b; columns are (1, B, A, A*B).
_WALSH_ROWS = [[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]


def num_params(parametrization: str) -> int:
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    return NUM_GATES if parametrization == "softmax16" else 4


def check_choice(what: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def init_weights(parametrization: str, init: str, out_features: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    check_choice("init", init, INITS)
    n = num_params(parametrization)
    if init == "gaussian":
        return torch.randn(out_features, n, generator=generator)
    w = torch.zeros(out_features, n)
    if parametrization == "softmax16":
        w[:, PASS_A] = RESIDUAL_LOGIT
    elif parametrization == "light":
        w[:] = torch.tensor([-1.0, -1.0, 1.0, 1.0]) * RESIDUAL_ROW   # rows of `a`: 0 0 1 1
    else:  # walsh: z = w2 * A is negative exactly where a = 1
        w[:, 2] = RESIDUAL_ROW
    return w


def _walsh_map(dtype, device) -> torch.Tensor:
    """walsh's row logits are weight @ this (4, 4) map: -(weight @ WALSH^T), as row value = sigmoid(-z)."""
    return -torch.tensor(_WALSH_ROWS, dtype=dtype, device=device).T


def _row_logits(parametrization: str, weight: torch.Tensor) -> torch.Tensor:
    """Logits of 'row is 1' for the truth-table parametrizations (light, walsh)."""
    if parametrization == "light":
        return weight
    return weight @ _walsh_map(weight.dtype, weight.device)


def coefficients(parametrization: str, weight: torch.Tensor, *, sampling: str = "soft",
                 gumbel_tau: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Relaxed (training) coefficients, shape (out_features, 4).

    With ``sampling="gumbel"`` one hard gate per neuron is drawn from the noise-perturbed
    parameters and used in the forward pass; the gradient flows through the perturbed soft
    probabilities (straight-through). One sample per gate, shared by the whole batch.
    """
    check_choice("sampling", sampling, SAMPLINGS)
    dtype, device = weight.dtype, weight.device
    if parametrization == "softmax16":
        table = coeffs_tensor(dtype, device)
        logits = weight
        if sampling == "gumbel":
            u = torch.rand(weight.shape, dtype=dtype, device=device, generator=generator)
            # Gumbel noise -log(-log u); the inner minus must be applied before clamping, else log(<0) = NaN
            logits = (weight - torch.log((-torch.log(u.clamp_min(1e-10))).clamp_min(1e-10))) / gumbel_tau
        return softmax_coefficients(logits, table, hard=sampling == "gumbel")
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    row_map = truth_to_coeffs_tensor(dtype, device)
    if parametrization == "walsh" and sampling == "soft":
        # the kernel applies walsh's fixed map itself (one pass instead of a skinny matmul more)
        return rows_coefficients(weight, row_map, pre_map=_walsh_map(dtype, device))
    logits = _row_logits(parametrization, weight)
    if sampling == "gumbel":
        # The difference of two Gumbel variables is logistic: the binary Gumbel trick per row.
        u = torch.rand(logits.shape, dtype=dtype, device=device, generator=generator).clamp(1e-10, 1 - 1e-10)
        logits = (logits + torch.log(u) - torch.log1p(-u)) / gumbel_tau
    return rows_coefficients(logits, row_map, hard=sampling == "gumbel")


def hard_gate_ids(parametrization: str, weight: torch.Tensor) -> torch.Tensor:
    """The discrete gate (id 0..15) of every neuron, shape (out_features,), int64."""
    if parametrization == "softmax16":
        return weight.argmax(dim=-1)
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    rows = (_row_logits(parametrization, weight) > 0).long()      # (out, 4): t00 t01 t10 t11
    return rows @ torch.tensor([8, 4, 2, 1], device=weight.device)


def truth_table(parametrization: str, weight: torch.Tensor) -> torch.Tensor:
    """Each gate's expected truth table, shape (out_features, 4): the probability that the relaxed
    gate outputs 1 for (a, b) = 00, 01, 10, 11. Differentiable. A row in (0, 1) is where the
    relaxed gate differs from every discrete one."""
    if parametrization == "softmax16":
        return torch.softmax(weight, dim=-1) @ truth_tensor(weight.dtype, weight.device)
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    return torch.sigmoid(_row_logits(parametrization, weight))


def discreteness_penalty(parametrization: str, weight: torch.Tensor) -> torch.Tensor:
    """Mean of 4 p (1 - p) over the truth-table rows p of every gate: 0 when every gate is one
    discrete gate, 1 when every row is a coin flip. Added to the loss it pulls the relaxed gates
    toward the hard ones that eval() and every circuit compute."""
    p = truth_table(parametrization, weight)
    return (4.0 * p * (1.0 - p)).mean()


# Logit margin of a hardened gate: the relaxed truth-table rows are within e^-40 (4e-18) of the
# discrete gate's 0s and 1s, far below float32's resolution of values near 1.
HARD_LOGIT = 40.0


def hard_weights(parametrization: str, gate_ids: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """Parameters whose relaxation is the discrete gates ``gate_ids`` (to within 1e-17 on {0, 1}
    inputs): the inverse of :func:`hard_gate_ids`."""
    ids = gate_ids.long()
    if parametrization == "softmax16":
        w = torch.zeros(len(ids), NUM_GATES, dtype=dtype, device=ids.device)
        w[torch.arange(len(ids), device=ids.device), ids] = HARD_LOGIT
        return w
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    truth = truth_tensor(dtype, ids.device)[ids]     # (out, 4) rows
    rows = (2 * truth - 1) * HARD_LOGIT
    if parametrization == "light":
        return rows
    return rows @ torch.linalg.inv(_walsh_map(dtype, ids.device))
