"""The NumPy runner: a circuit run from raw features by the software simulator
(:mod:`gatelearn.circuit.simulate`, bit-packed, one vectorised expression per level and gate
kind), the readable reference of the fast backends."""
from __future__ import annotations

import numpy as np

from ...circuit.ir import Circuit
from ...circuit.simulate import Simulator
from ..common import Prediction, argmax_first, encoding, input_contract

__all__ = ["NumpyProgram", "compile_numpy"]


class NumpyProgram:
    """A circuit prepared for bit-packed evaluation. ``run(x)`` takes raw features."""

    def __init__(self, circuit: Circuit, chunk: int = 8192):
        self.circuit = circuit
        self.simulator = Simulator(circuit, chunk)
        self.contract = input_contract(circuit)

    def eval_bits(self, bits: np.ndarray) -> np.ndarray:
        """Input bits (N, num_inputs) -> output bits (N, num_outputs), bool."""
        return self.simulator.run(bits)

    def run(self, x, threads: int = 1) -> Prediction:
        """Raw features -> scores and classes (``threads`` is accepted for a common interface)."""
        c = self.circuit
        x = self.contract.check(x)      # the model's contract: shape, dtype, NaN, category codes, bits
        bits = encoding(c).encode(x)
        outs = self.eval_bits(bits)
        if c.head is not None:
            scores = outs.reshape(len(outs), c.head.classes, -1 if len(outs) else c.num_outputs // c.head.classes)
            scores = scores.sum(-1, dtype=np.int64).astype(np.int32)
        else:
            scores = outs.astype(np.int32)
        return Prediction(scores, argmax_first(scores))


def compile_numpy(circuit: Circuit) -> NumpyProgram:
    """``circuit`` (validated) ready to run."""
    return NumpyProgram(circuit.validate())
