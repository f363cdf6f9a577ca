"""How much of a trained circuit could data-driven pruning remove? Prints JSON.

    python benchmarks/care_set.py RUN_DIR --dataset mnist [--data-dir DIR] [--toggles 0 5 30 100]

Lossless optimisation (our passes, ABC) keeps the function on every input. A looser goal is the
same accuracy: a gate that (almost) never changes value on the training images can be replaced by
a constant, and constant propagation and dead-gate removal then take whatever it alone fed. For
each limit T in --toggles this replaces every gate whose value differs from its majority on at
most T of the training images by that majority constant, runs gatelearn's passes, and reports the
gates left and the hard test accuracy of the pruned circuit (T = 0: gates constant on the whole
training set, which keeps every training prediction exactly).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from gatelearn import runs
from gatelearn.backends.np import compile_numpy
from gatelearn.circuit.ir import Circuit
from gatelearn.circuit.passes import optimize
from gatelearn.data.datasets import load_dataset
from gatelearn.gates import BY_NAME

FALSE, TRUE = BY_NAME["FALSE"].id, BY_NAME["TRUE"].id


def ones_per_gate(c: Circuit, x: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """How many of the samples x set each gate to 1, int64 (num_gates,)."""
    probe = c.copy()
    probe.outputs = np.arange(c.num_inputs, c.num_nodes, dtype=probe.outputs.dtype)
    probe.head = None
    program = compile_numpy(probe)
    ones = np.zeros(c.num_gates, np.int64)
    for s in range(0, len(x), chunk):
        bits = c.encoder.encode(x[s:s + chunk].reshape(len(x[s:s + chunk]), -1))
        ones += program.eval_bits(bits).sum(0)
    return ones


def with_constants(c: Circuit, gates: np.ndarray, value: np.ndarray) -> Circuit:
    """The circuit with the given gates replaced by constants (value True -> TRUE), after the passes."""
    out = c.copy()
    out.op[gates] = np.where(value, TRUE, FALSE)
    out.a[gates] = 0
    out.b[gates] = 0
    return optimize(out)[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--toggles", type=int, nargs="+", default=[0, 5, 30, 100, 300])
    args = ap.parse_args(argv)

    c = runs.base_circuit(args.run_dir)
    if c.encoder is None or c.head is None:
        raise SystemExit("care_set.py needs a run whose circuit has its input encoder and GroupSum head")
    ds = load_dataset(args.dataset, args.data_dir)
    n = len(ds.x_train)
    ones = ones_per_gate(c, np.asarray(ds.x_train))
    majority = ones * 2 > n
    toggles = np.minimum(ones, n - ones)          # samples on which the gate leaves its majority value

    def test_accuracy(circuit: Circuit) -> float:
        pred = compile_numpy(circuit).run(np.asarray(ds.x_test).reshape(len(ds.x_test), -1))
        return round(float((pred.classes == np.asarray(ds.y_test)).mean()), 6)

    result = {"benchmark": "care_set", "run": str(args.run_dir), "dataset": args.dataset,
              "train_samples": n, "gates": c.num_gates, "test_accuracy": test_accuracy(c), "limits": []}
    for limit in args.toggles:
        pruned_gates = np.flatnonzero(toggles <= limit)
        pruned = with_constants(c, pruned_gates, majority[pruned_gates])
        result["limits"].append({"max_toggles": limit, "gates_made_constant": int(len(pruned_gates)),
                                 "gates_after_passes": pruned.num_gates,
                                 "reduction": round(c.num_gates / max(pruned.num_gates, 1), 3),
                                 "test_accuracy": test_accuracy(pruned)})
        print(json.dumps(result["limits"][-1]), file=sys.stderr, flush=True)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
