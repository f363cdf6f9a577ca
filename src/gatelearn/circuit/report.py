"""Reports on circuits: gates per kind and per layer, logic depth -- before and after the passes."""
from __future__ import annotations

import numpy as np

from .ir import Circuit


def describe(c: Circuit) -> dict:
    depth = c.depth()
    layers = {str(int(k)) if k >= 0 else "unknown": int(v)
              for k, v in zip(*np.unique(c.layer, return_counts=True))}
    return {"inputs": c.num_inputs, "gates": c.num_gates, "outputs": c.num_outputs,
            "classes": c.head.classes if c.head is not None else None,
            "depth": depth, "gates_per_kind": c.gate_counts(), "gates_per_layer": layers}


def format_report(before: dict, after: dict | None = None, log: list | None = None) -> str:
    lines = []
    cols = [("before passes", before)] + ([("after passes", after)] if after else [])
    lines.append(f"{'':24s}" + "".join(f"{name:>16s}" for name, _ in cols))
    for key in ("inputs", "gates", "outputs", "depth"):
        lines.append(f"{key:24s}" + "".join(f"{d[key]:>16}" for _, d in cols))
    kinds = sorted({k for _, d in cols for k in d["gates_per_kind"]})
    lines.append("gates per kind")
    for k in kinds:
        lines.append(f"  {k:22s}" + "".join(f"{d['gates_per_kind'].get(k, 0):>16}" for _, d in cols))
    layers = sorted({k for _, d in cols for k in d["gates_per_layer"]},
                    key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0))
    lines.append("gates per layer")
    for k in layers:
        lines.append(f"  {k:22s}" + "".join(f"{d['gates_per_layer'].get(k, 0):>16}" for _, d in cols))
    if log:
        lines.append("passes (gates before -> after, seconds)")
        for e in log:
            if e["gates_before"] != e["gates_after"] or e["round"] == 0:
                lines.append(f"  round {e['round']} {e['pass']:24s} {e['gates_before']:>8} -> "
                             f"{e['gates_after']:<8} {e['seconds']:.3f}")
    return "\n".join(lines)
