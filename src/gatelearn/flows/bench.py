"""Compiled-C inference speed of a run's best circuit, end to end from raw inputs (uint8 or
float32) to class indices: ``gatelearn bench`` (one thread and all of them, the compile time
measured on a fresh build) and the one-thread figure of ``gatelearn report`` (a short timing on
the cached build). A plain circuit (no GroupSum head: one made by ``gatelearn import``) is timed
from input bits to all of its output bits, in vectors per second."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import progress, runs
from ..backends.c import CProgram, throughput
from ..backends.common import num_features
from ..circuit.ir import Circuit

__all__ = ["random_inputs", "bench", "quick_throughput"]


def random_inputs(circuit: Circuit, n: int, seed: int = 0) -> np.ndarray:
    """Random raw inputs for timing and quick agreement checks: uint8 for threshold encoders (all
    values appear), category codes for one-hot columns."""
    rng = np.random.default_rng(seed)
    F = num_features(circuit)
    if circuit.encoder is None:
        return rng.integers(0, 2, (n, F)).astype(np.uint8)
    enc = circuit.encoder
    hi = np.full(F, 256.0)
    eq = enc.op == 1
    if eq.any():   # one-hot features: codes 0 .. max value seen (so every bit can be on)
        for f in np.unique(enc.feature[eq]):
            hi[f] = enc.value[(enc.feature == f) & eq].max() + 1
    return (rng.random((n, F)) * hi).astype(np.int64).astype(np.uint8 if (hi <= 256).all() else np.float32)


@contextmanager
def _fresh_cache():
    """A private, empty build cache for the block, so that the compile time is measured."""
    old = os.environ.get("GATELEARN_CACHE")
    with tempfile.TemporaryDirectory(prefix="gatelearn-bench-") as tmp:
        os.environ["GATELEARN_CACHE"] = tmp
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("GATELEARN_CACHE", None)
            else:
                os.environ["GATELEARN_CACHE"] = old


def _compile(circuit: Circuit) -> CProgram:
    with progress.step(f"compiling the circuit ({circuit.num_gates:,} gates) to C"):
        return CProgram(circuit)


def bench(run_dir, x: np.ndarray | None = None, samples: int = 100_000, seconds: float = 2.0,
          threads: int = 0) -> dict:
    """Samples per second of RUN_DIR's best circuit compiled to C, on one thread and on
    ``threads`` (0: every core), timed on ``x`` (default ``samples`` random inputs) for at least
    ``seconds`` each; the compile time is that of a fresh build.

    ``run_dir`` may be any path :func:`gatelearn.runs.load_any_circuit` reads (an import folder, a
    circuit .npz, an .aig / .aag / .blif file). A circuit without a head is timed in vectors per
    second (keys ``vectors``, ``vectors_per_s_*``) from random input bits, every output computed."""
    p = Path(run_dir)
    if runs.is_trained_run(p):
        where, circuit = {"run_dir": str(p)}, runs.best_circuit(p)
    else:
        where, circuit = {"circuit": str(p)}, runs.load_any_circuit(p)[0]
    # a head turns the outputs into one class per sample; without one every output bit is a result
    unit = "samples" if circuit.head is not None else "vectors"
    x = random_inputs(circuit, samples, seed=1) if x is None else x
    cores = threads or os.cpu_count() or 1
    with _fresh_cache():
        prog = _compile(circuit)
        with progress.step(f"timing {len(x):,} {unit} on 1 thread"):
            one = throughput(prog, x, 1, seconds)
        with progress.step(f"timing {len(x):,} {unit} on {cores} threads"):
            allc = throughput(prog, x, cores, seconds)
    rep = {**where, "gates": circuit.num_gates, "inputs": int(x.shape[1]), unit: int(len(x)),
           "input_dtype": str(prog.prepare(x[:1]).dtype), f"{unit}_per_s_1core": round(one),
           f"{unit}_per_s_all_cores": round(allc), "threads_all_cores": cores,
           "gate_evals_per_s_1core": float(f"{one * circuit.num_gates:.4g}"),
           "compile_seconds": round(prog.generate_seconds + prog.compile_seconds, 2),
           "generate_seconds": round(prog.generate_seconds, 2), "block_samples": prog.block_samples}
    if circuit.head is None:
        rep["outputs"] = circuit.num_outputs
    return rep


def quick_throughput(circuit: Circuit, samples: int = 20_000, seconds: float = 0.3) -> float:
    """Samples per second on one thread, the C backend, on random inputs: a short timing for
    reports (the build comes from the cache when the circuit was compiled before)."""
    prog = _compile(circuit)
    with progress.step("timing the compiled circuit on 1 thread"):
        return throughput(prog, random_inputs(circuit, samples, seed=1), 1, seconds)
