"""Do the circuit passes take time linear in the gates? Prints one JSON document.

    .venv/bin/python benchmarks/pass_scaling.py [--gates 100000] [--repeat 3] [--circuit FILE ...]

Two shapes of random circuit, each at 1x, 2x and 4x ``--gates``:

* ``chain``: every gate reads the gate just before it and a random input bit, so the depth is
  about the number of gates (the case that made level-by-level passes slow: one Python step per
  level). 88% of the gates are two-input functions, 10% copies or NOTs of the previous gate and
  2% constants, which the next gate reads instead of an input (a constant is not on the chain);
  32 outputs are spread along it. So every pass has work, and a gate that folds to a constant
  cuts the chain below it off from the outputs above.
* ``wide``: :func:`gatelearn.circuit.random.random_circuit` (every gate kind, operands anywhere
  before; depth a few dozen) with 10 x 100 outputs.

Per circuit: gates, depth, seconds of each pass applied once to the circuit as generated (the
best of ``--repeat``), seconds of :func:`gatelearn.circuit.passes.optimize` (all passes until
nothing changes; best of ``--repeat``) and the gates it leaves. Per shape: ``ratio_2x`` and
``ratio_4x``, the optimize time of the 2x and 4x circuit over that of the 1x one (linear time:
about 2 and 4). ``--circuit`` times files (.aig, .aag, .blif, .npz) the same way, for instance the
largest EPFL circuit (``hyp``: 214K AND nodes, depth 24,801).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from gatelearn.circuit.ir import Circuit, canonical_operands
from gatelearn.circuit.passes import PASSES, optimize
from gatelearn.circuit.random import random_circuit
from gatelearn.gates import BY_NAME, GATES

TWO_INPUT = np.array([g.id for g in GATES if g.name not in ("FALSE", "TRUE", "A", "B", "NOT_A", "NOT_B")], np.uint8)
ONE_INPUT = np.array([BY_NAME[k].id for k in ("A", "B", "NOT_A", "NOT_B")], np.uint8)
CONSTANT = np.array([BY_NAME[k].id for k in ("FALSE", "TRUE")], np.uint8)


def chain(rng: np.random.Generator, gates: int, inputs: int = 64, outputs: int = 32) -> Circuit:
    """A chain as described above: every gate reads the last non-constant node before it, and a
    random input, or the constant gate just before it."""
    own = inputs + np.arange(gates)
    const = rng.random(gates) < 0.02
    op = np.where(rng.random(gates) < 0.9, rng.choice(TWO_INPUT, gates), rng.choice(ONE_INPUT, gates))
    op = np.where(const, rng.choice(CONSTANT, gates), op).astype(np.uint8)
    # the spine: the last non-constant node before each gate (a constant gate reads nothing)
    prev = np.maximum.accumulate(np.r_[inputs - 1, np.where(const, -1, own)[:-1]])
    side = np.where(np.r_[False, const[:-1]], own - 1, rng.integers(0, inputs, gates))
    flip = rng.random(gates) < 0.5                 # the spine as operand a or b
    a, b = np.where(flip, side, prev), np.where(flip, prev, side)
    # a one-input gate reads the spine (a copy or NOT of an input would end the chain)
    a = np.where(np.isin(op, [BY_NAME["A"].id, BY_NAME["NOT_A"].id]), prev, a)
    b = np.where(np.isin(op, [BY_NAME["B"].id, BY_NAME["NOT_B"].id]), prev, b)
    a, b = canonical_operands(op, a, b)
    outs = np.r_[np.sort(rng.choice(own, outputs - 1, replace=False)), own[-1]]
    return Circuit(inputs, op, a, b, outs).validate()


def wide(rng: np.random.Generator, gates: int) -> Circuit:
    return random_circuit(rng, 256, gates, 10, 100)


def load(path: Path) -> Circuit:
    if path.suffix == ".npz":
        return Circuit.load(path)
    if path.suffix == ".blif":
        from gatelearn.backends.blif import read_blif
        return read_blif(path)
    from gatelearn.backends.aiger import read_aiger
    return read_aiger(path)


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def measure(c: Circuit, repeat: int) -> dict:
    per_pass = {name: round(best(lambda p=p: p(c), repeat)[0], 4) for name, p in PASSES.items()}
    total, (opt, log) = best(lambda: optimize(c), repeat)
    return {"gates": c.num_gates, "depth": c.depth(), "seconds_per_pass": per_pass,
            "optimize_seconds": round(total, 4), "optimize_rounds": log[-1]["round"] + 1 if log else 0,
            "gates_after": opt.num_gates}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gates", type=int, default=100_000, help="gates of the 1x circuits")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--circuit", type=Path, nargs="*", default=[], help="circuit files to time as well")
    args = ap.parse_args(argv)
    result = {"machine": platform.processor() or platform.machine(), "repeat": args.repeat, "shapes": {},
              "circuits": {}}
    for shape, make in (("chain", chain), ("wide", wide)):
        sizes = []
        for mult in (1, 2, 4):
            c = make(np.random.default_rng(args.seed), args.gates * mult)
            sizes.append({"size": f"{mult}x", **measure(c, args.repeat)})
            print(json.dumps({shape: sizes[-1]}), file=sys.stderr, flush=True)
        t = [s["optimize_seconds"] for s in sizes]
        result["shapes"][shape] = {"sizes": sizes, "ratio_2x": round(t[1] / t[0], 2), "ratio_4x": round(t[2] / t[0], 2)}
    for path in args.circuit:
        t0 = time.perf_counter()
        c = load(path)
        entry = {"import_seconds": round(time.perf_counter() - t0, 3), **measure(c, args.repeat)}
        result["circuits"][path.stem] = entry
        print(json.dumps({path.stem: entry}), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
