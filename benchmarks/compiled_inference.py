"""Compiled inference, end to end (raw uint8 MNIST images -> class indices), printing JSON.

Models: MNIST small (784 -> 6 x 8,000 -> GroupSum 10) with random gates (gaussian init, the worst
case: little simplifies), optionally a briefly trained model (--trained RUN_DIR), and MNIST large
(6 x 64,000, gaussian) with --large. Per model: gates before/after the passes, compile seconds,
samples/s on 1 core and on all cores, gate evaluations/s, and the same run's reference: a plain
indexed loop in C over as many gates (operands read through index arrays, values in memory),
the speed limit of evaluating gates from memory one at a time.

    .venv/bin/python benchmarks/compiled_inference.py [--trained runs/mnist-small-brief] [--large]
        [--trained-large RUN_DIR]

The machine may be shared: compare the ratio to the indexed loop (measured in the same run), not
absolute numbers across runs; the load average is recorded with each model.
"""
from __future__ import annotations

import argparse
import ctypes
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import gatelearn
from gatelearn.backends.c import CProgram, compiler, throughput
from gatelearn.circuit.ir import Circuit
from gatelearn.circuit.passes import optimize
from gatelearn.lowering import lower
from gatelearn.verification.agreement import model_counts

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "datasets" / "mnist" / "t10k-images-idx3-ubyte.gz"

INDEXED_LOOP = r"""
#include <stdint.h>
#include <stddef.h>
typedef uint64_t w256 __attribute__((vector_size(32)));
/* Gate g: v[n+g] = f(v[a[g]], v[b[g]]) with f given by its truth table as 4 masks, so the loop has
   no branches: the plain indexed loop over gate values in memory. */
#define LOOP(T)                                                                        \
  for (size_t r = 0; r < reps; r++)                                                    \
    for (size_t g = 0; g < G; g++) {                                                   \
      T x = v[a[g]], y = v[b[g]];                                                      \
      const uint8_t t = op[g];                                                         \
      const uint64_t m11 = -(uint64_t)(t & 1), m10 = -(uint64_t)((t >> 1) & 1);         \
      const uint64_t m01 = -(uint64_t)((t >> 2) & 1), m00 = -(uint64_t)((t >> 3) & 1);  \
      T r_ = ((x & y) & m11) | ((x & ~y) & m10) | ((~x & y) & m01) | (~(x | y) & m00);  \
      v[n + g] = r_;                                                                   \
    }
void loop64(uint64_t *v, const int32_t *a, const int32_t *b, const uint8_t *op, size_t n, size_t G,
            size_t reps) { LOOP(uint64_t) }
void loop256(w256 *v, const int32_t *a, const int32_t *b, const uint8_t *op, size_t n, size_t G,
             size_t reps) { LOOP(w256) }
"""


def indexed_loop_reference(c: Circuit) -> dict:
    """Samples/s of the plain indexed loop over c's gates (64-bit and 256-bit words), one core."""
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "loop.c"
        src.write_text(INDEXED_LOOP)
        lib = Path(d) / "loop.so"
        subprocess.run([compiler(), "-O2", "-march=native", "-fPIC", "-shared", str(src), "-o", str(lib)], check=True)
        L = ctypes.CDLL(str(lib))
        n, G = c.num_inputs, c.num_gates
        a = c.a.astype(np.int32)
        b = c.b.astype(np.int32)
        op = c.op.astype(np.uint8)
        res = {}
        for name, words in (("loop64", 1), ("loop256", 4)):
            # 64-byte aligned: the 256-bit loop uses aligned vector loads and stores
            raw = np.zeros((c.num_nodes + 16) * words, np.uint64)
            skip = (-raw.ctypes.data % 64) // 8
            v = raw[skip:skip + (c.num_nodes + 8) * words]
            v[:n * words] = np.random.default_rng(0).integers(0, 2 ** 63, n * words, dtype=np.uint64)
            fn = getattr(L, name)
            fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_size_t] * 3
            reps = 1
            while True:
                t = time.perf_counter()
                fn(v.ctypes.data, a.ctypes.data, b.ctypes.data, op.ctypes.data, n, G, reps)
                dt = time.perf_counter() - t
                if dt > 0.5:
                    break
                reps *= 4
            ns_per_gate_word = dt / (reps * G) * 1e9
            res[f"{name}_ns_per_gate_word"] = round(ns_per_gate_word, 3)
            res[f"{name}_samples_per_s"] = round(64 * words / (ns_per_gate_word * 1e-9 * G))
            res[f"{name}_gate_evals_per_s"] = float(f"{64 * words / (ns_per_gate_word * 1e-9):.4g}")
        return res


def mnist_images() -> np.ndarray:
    with gzip.open(MNIST) as f:
        d = f.read()
    return np.frombuffer(d, np.uint8, offset=16).reshape(-1, 784)


def gaussian_model(width: int, seed: int = 0):
    spec = {"encoder": {"kind": "thresholds", "features": 784, "per_feature": 1},
            "layers": [{"kind": "logic", "out": width, "init": "gaussian"} for _ in range(6)],
            "head": {"kind": "groupsum", "classes": 10, "tau": 10.0 if width <= 8000 else 30.0}, "seed": seed}
    m = gatelearn.build_model(spec).eval()
    m.encoder.thresholds.fill_(127.0)
    return m


def bench_model(label: str, model, x: np.ndarray, seconds: float) -> dict:
    t0 = time.perf_counter()
    lowered = lower(model)
    c, log = optimize(lowered)
    pass_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GATELEARN_CACHE"] = cache          # a fresh build: compile time is measured
        prog = CProgram(c)
    check = prog.run(x[:2000], threads=2)
    exact = bool((check.scores == model_counts(model, x[:2000])).all())
    one = throughput(prog, x, 1, seconds)
    allc = throughput(prog, x, os.cpu_count() or 1, seconds)
    ref = indexed_loop_reference(c)
    evals = one * c.num_gates
    return {"model": label, "gates_lowered": lowered.num_gates, "gates_after_passes": c.num_gates,
            "depth": c.depth(), "pass_seconds": round(pass_s, 2),
            "compile_seconds": round(prog.generate_seconds + prog.compile_seconds, 2),
            "generate_seconds": round(prog.generate_seconds, 2), "gcc_seconds": round(prog.compile_seconds, 2),
            "c_source_mb": round(len(prog.source.data(f"{prog.source.name}.c")) / 1e6, 2), "layout": prog.source.info,
            "block_samples": prog.block_samples, "samples": int(len(x)),
            "samples_per_s_1core": round(one), "samples_per_s_all_cores": round(allc),
            "threads_all_cores": os.cpu_count(),
            # end to end (encoding, gates, counters, argmax), counted over the gates after the passes
            "gate_evals_per_s_1core": float(f"{evals:.4g}"),
            "scores_identical_to_model_on_2000": exact,
            "indexed_loop_reference_same_gates": ref,
            "ratio_vs_indexed_loop256": round(evals / ref["loop256_gate_evals_per_s"], 2),
            "load_average_after": [round(v, 2) for v in os.getloadavg()]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trained", help="run directory of a (briefly) trained MNIST-small model")
    ap.add_argument("--large", action="store_true", help="also the 6 x 64,000 network (gaussian init)")
    ap.add_argument("--trained-large", help="run directory of a trained MNIST-large model")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if not MNIST.exists():
        print(json.dumps({"error": f"MNIST not found at {MNIST}"}))
        return 1
    x = mnist_images()                                   # the 10,000 test images, raw uint8
    x = np.concatenate([x] * 5)                          # 50,000 images per timed call
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    results = {"machine": {"cpu": cpu, "cores": os.cpu_count(),
                           "gcc": subprocess.run([compiler(), "--version"], capture_output=True,
                                                 text=True).stdout.splitlines()[0]},
               "input": "MNIST t10k images, raw uint8 (x5), end to end to class indices", "models": []}
    results["models"].append(bench_model("mnist-small 6x8000, random gates (gaussian init, untrained)",
                                         gaussian_model(8000), x, args.seconds))
    if args.trained:
        from gatelearn.model import load
        note = Path(args.trained, "brief_training.txt")
        label = "mnist-small 6x8000, briefly trained: " + (note.read_text().strip() if note.exists() else args.trained)
        results["models"].append(bench_model(label, load(args.trained), x, args.seconds))
    if args.large:
        results["models"].append(bench_model("mnist-large 6x64000, random gates (gaussian init, untrained)",
                                             gaussian_model(64000), x, args.seconds))
    if args.trained_large:
        from gatelearn.model import load
        results["models"].append(bench_model(f"mnist-large, trained: {args.trained_large}",
                                             load(args.trained_large), x, args.seconds))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
