"""Output agreement by simulation: a backend against ``model.eval()`` (class scores, not only the
argmax), and the golden outputs every comparison uses. Formal equivalence (ABC / yosys) is in
:mod:`.equivalence`.

Golden outputs come from the one software simulator (:meth:`Circuit.simulate`, i.e.
:mod:`gatelearn.circuit.simulate`) and the circuit's own :meth:`Circuit.class_counts`.
"""
from __future__ import annotations

import numpy as np

from ..backends.common import Prediction, encoding
from ..circuit.ir import Circuit
from ..errors import InputError

__all__ = ["reference_outputs", "model_counts", "compare", "agree_with_model"]


def reference_outputs(circuit: Circuit, x, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(class indices int64 (N,), class counts int64 (N, classes)) of ``circuit`` for raw
    features x (the input bits themselves when the circuit has no encoder), from the software
    simulator; ties go to the first maximum. Needs a GroupSum head."""
    enc = encoding(circuit)
    classes, counts = [], []
    for lo in range(0, len(x), chunk):
        part = circuit.class_counts(circuit.simulate(enc.encode(np.asarray(x[lo:lo + chunk]))))
        counts.append(part)
        classes.append(np.argmax(part, axis=1))
    if not counts:
        return np.zeros(0, np.int64), np.zeros((0, circuit.head.classes if circuit.head else 0), np.int64)
    return np.concatenate(classes).astype(np.int64), np.concatenate(counts)


def model_counts(model, x) -> np.ndarray:
    """The counts of the IR head the model lowers to, for the hard network (eval mode), int64
    (N, classes): GroupSum's ones per class group, the codebook's agreements, the binary head's
    [zeros, ones]. The model's scores must be exactly what its head makes of them."""
    import torch
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            xt = torch.from_numpy(np.array(x, dtype=np.float32))
            feats = model.features(xt)
            out = model.head(feats)
            counts = model.head.counts(feats)
            # the scores the model reports must follow from the counts, bit for bit
            if not torch.equal(out, model.head.scores(counts)):
                raise AssertionError("the model's scores are not its head's scores of the circuit's counts")
            return counts.to(torch.int64).numpy()
    finally:
        model.train(was)


def compare(expected_counts: np.ndarray, pred: Prediction) -> dict:
    """Exact comparison of scores and classes; lists the first disagreeing rows."""
    exp = np.asarray(expected_counts, np.int64)
    if pred.scores.shape != exp.shape:
        raise InputError(f"score shapes differ: expected {exp.shape}, got {pred.scores.shape}")
    bad = np.flatnonzero((pred.scores != exp).any(1) | (pred.classes != (
        np.argmax(exp, 1) if exp.shape[1] else 0)))
    return {"samples": int(len(exp)), "agree": bool(len(bad) == 0), "mismatched_rows": bad[:10].tolist(),
            "mismatches": int(len(bad))}


def agree_with_model(model, program, x, threads: int = 1) -> dict:
    """Run ``program`` (NumpyProgram or CProgram) on raw features x and compare with the model."""
    pred = program.run(x, threads=threads) if hasattr(program, "run_prepared") else program.run(x)
    return compare(model_counts(model, x), pred)
