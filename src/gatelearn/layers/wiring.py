"""Fixed random wiring of a dense logic layer: which two inputs feed each gate."""
from __future__ import annotations

import torch

CONNECTIONS = ("random", "unique")


def make_wiring(in_features: int, out_features: int, connections: str,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (idx_a, idx_b), each int64 of shape (out_features,).

    ``random``: every input used about equally often (a permutation of 2*out slots taken
    modulo in_features, then relabelled by a random permutation of the inputs).
    ``unique``: pairs (i, i+1), then (i, i+2), ... over a random relabelling of the inputs, so
    no pair repeats and both operands differ; needs out_features >= in_features / 2.
    """
    if in_features < 1 or out_features < 1:
        raise ValueError(f"a logic layer needs in_features >= 1 and out_features >= 1, "
                         f"got {in_features} -> {out_features}")
    if connections == "random":
        slots = torch.randperm(2 * out_features, generator=generator) % in_features
        slots = torch.randperm(in_features, generator=generator)[slots]
        return slots[:out_features].clone(), slots[out_features:].clone()
    if connections == "unique":
        if 2 * out_features < in_features:
            raise ValueError(f"connections='unique' needs out_features >= in_features / 2 "
                             f"({out_features} < {in_features} / 2)")
        max_pairs = in_features * (in_features - 1) // 2
        if out_features > max_pairs:
            raise ValueError(f"connections='unique' allows at most {max_pairs} gates on "
                             f"{in_features} inputs, got {out_features}")
        a_parts, b_parts, have, offset = [], [], 0, 1
        base = torch.arange(in_features)
        while have < out_features:
            # At offset in/2 (even in) the pairs (i, i+k) and (i+k, i) coincide: keep half.
            n = in_features // 2 if 2 * offset == in_features else in_features
            a_parts.append(base[:n])
            b_parts.append((base[:n] + offset) % in_features)
            have += n
            offset += 1
        a = torch.cat(a_parts)[:out_features]
        b = torch.cat(b_parts)[:out_features]
        relabel = torch.randperm(in_features, generator=generator)
        order = torch.randperm(out_features, generator=generator)
        return relabel[a][order].clone(), relabel[b][order].clone()
    raise ValueError(f"unknown connections {connections!r}; choose one of {', '.join(CONNECTIONS)}")
