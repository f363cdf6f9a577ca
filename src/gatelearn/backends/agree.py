"""Simulation-based agreement: every backend against ``model.eval()`` (class scores, not only the
argmax) and circuits against each other. Formal equivalence (ABC / yosys) lives elsewhere."""
from __future__ import annotations

import numpy as np

from ..circuit.ir import Circuit, Head, canonical_operands
from ..errors import InputError
from .common import Prediction


def model_counts(model, x) -> np.ndarray:
    """GroupSum counts of the hard network (eval mode): ones per class group, int64 (N, classes).
    The model's scores are exactly these counts divided by tau."""
    import torch
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            xt = torch.from_numpy(np.array(x, dtype=np.float32))
            feats = model.features(xt)
            out = model.head(feats)
            counts = feats.reshape(len(feats), model.head.classes, -1).sum(-1)
            # the scores the model reports must be the counts / tau, bit for bit
            if not torch.equal(out, counts / model.head.tau):
                raise AssertionError("model scores are not counts / tau")
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


def random_circuit(rng: np.random.Generator, num_inputs: int, num_gates: int, classes: int,
                   per_class: int, encoder=None, locality: int | None = None) -> Circuit:
    """A random valid circuit with a GroupSum head: every gate kind, operands anywhere before
    (or within ``locality`` nodes before, which makes deep circuits), outputs anywhere."""
    op = rng.integers(0, 16, num_gates).astype(np.uint8)
    own = num_inputs + np.arange(num_gates)
    if locality:
        lo = np.maximum(0, own - locality)
        a = lo + (rng.random(num_gates) * (own - lo)).astype(np.int64)
        b = lo + (rng.random(num_gates) * (own - lo)).astype(np.int64)
    else:
        a = (rng.random(num_gates) * own).astype(np.int64)
        b = (rng.random(num_gates) * own).astype(np.int64)
    if num_inputs == 0:
        op[:] = np.where(rng.random(num_gates) < 0.5, 0, 15)
    a, b = canonical_operands(op, a, b)
    outputs = rng.integers(0, num_inputs + num_gates, classes * per_class) if num_inputs + num_gates else np.zeros(0, np.int64)
    return Circuit(num_inputs, op, a, b, outputs, Head(classes, 1.0), encoder).validate()
