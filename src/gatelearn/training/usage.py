"""Which gates of the discrete network actually reach the output.

A gate is *used* when its output reaches the head through a chain of gates that each read the
operand it comes from. The walk goes backwards from the head: every output of the last layer
feeds a class sum, so it is used (a constant gate there still adds a constant to its class's
score); a used gate needs operand ``a`` only if its hard gate reads ``a``
(``gates.GATES[id].uses_a``), likewise ``b``. A gate nobody needs is dead logic that any
circuit pass would delete.

This is a quick training-time statistic; the circuit passes compute the same thing on the
lowered netlist (and more, e.g. duplicate gates) and may replace it.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..gates import GATES, NUM_GATES

_USES_A = np.array([g.uses_a for g in GATES])
_USES_B = np.array([g.uses_b for g in GATES])


def _out_size(module: nn.Module) -> int | None:
    return getattr(module, "out_features", None)


@torch.no_grad()
def gate_usage(model: nn.Module) -> dict:
    """Per layer: gates, gates used and the used gates' kinds (counts per gate id).

    Dense ``LogicLayer``s (anything with ``idx_a``/``idx_b``/``gate_ids()``) are walked exactly;
    shape-only layers (``nn.Flatten``) pass the mask through. A layer kind this function does not
    know is counted as fully used and as needing all of its inputs (a safe over-estimate), with
    ``exact: False`` in its entry.
    """
    layers = list(model.layers)
    needed: np.ndarray | None = None   # mask over the current layer's outputs
    per_layer: list[dict] = []
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        if all(hasattr(layer, a) for a in ("idx_a", "idx_b", "gate_ids")):
            ids = layer.gate_ids().cpu().numpy()
            n = len(ids)
            used = np.ones(n, bool) if needed is None else needed.reshape(-1)
            kinds = np.bincount(ids[used], minlength=NUM_GATES)
            in_needed = np.zeros(layer.in_features, bool)
            in_needed[layer.idx_a.cpu().numpy()[used & _USES_A[ids]]] = True
            in_needed[layer.idx_b.cpu().numpy()[used & _USES_B[ids]]] = True
            per_layer.append({"layer": i, "gates": n, "used": int(used.sum()),
                              "kinds": kinds.tolist(), "exact": True})
            needed = in_needed
        elif isinstance(layer, nn.Flatten) or not hasattr(layer, "gate_count"):
            # Shape-only layers: the flat mask means the same positions before and after.
            continue
        else:
            n = int(layer.gate_count())
            per_layer.append({"layer": i, "gates": n, "used": n, "kinds": None, "exact": False})
            needed = None   # unknown wiring: assume everything below is needed
    per_layer.reverse()
    return {"gates": sum(p["gates"] for p in per_layer),
            "gates_used": sum(p["used"] for p in per_layer),
            "layers": per_layer}
