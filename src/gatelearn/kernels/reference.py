"""Pure-PyTorch logic layer: the reference every fused kernel is tested against, and the GPU path."""
from __future__ import annotations

import torch


def logic_forward_reference(x: torch.Tensor, idx_a: torch.Tensor, idx_b: torch.Tensor,
                            coeffs: torch.Tensor) -> torch.Tensor:
    a = x.index_select(1, idx_a)
    b = x.index_select(1, idx_b)
    c0, ca, cb, cab = coeffs.unbind(dim=1)
    # a * (ca + cab * b) + cb * b + c0: 3 multiply-adds per sample and gate
    return torch.addcmul(c0 + cb * b, a, ca + cab * b)


def softmax_coefficients_reference(logits: torch.Tensor, table: torch.Tensor, hard: bool = False) -> torch.Tensor:
    probs = torch.softmax(logits, dim=-1)
    soft = probs @ table
    if not hard:
        return soft
    # straight-through: the value of the most probable gate, the gradient of the soft mixture
    return table[logits.argmax(-1)] + soft - soft.detach()


def rows_coefficients_reference(row_logits: torch.Tensor, row_map: torch.Tensor, hard: bool = False) -> torch.Tensor:
    """sigmoid(row_logits) @ row_map, (out, 4) -> (out, 4): the light / walsh coefficients."""
    rows = torch.sigmoid(row_logits)
    if hard:
        # straight-through: the value of the rows (q > 0), the gradient of the soft rows
        rows = (row_logits > 0).to(rows.dtype) + rows - rows.detach()
    return rows @ row_map
