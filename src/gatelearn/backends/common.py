"""What every runner shares: the raw-input contract (:class:`gatelearn.circuit.inputs.InputContract`:
shape, dtype, NaN, category codes, bits; the same one the torch encoders check) and the result
type, :class:`Prediction`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..circuit.inputs import InputContract
from ..circuit.ir import Circuit, InputEncoding


@dataclass
class Prediction:
    """Class scores as integer counts (ones per GroupSum group; without a head, the output bits)
    and the class indices (argmax, the first maximum on ties, as torch.argmax)."""
    scores: np.ndarray     # int32 (N, classes)
    classes: np.ndarray    # int32 (N,)


def num_features(c: Circuit) -> int:
    """Raw features a sample has: the encoder's feature count, or the input bits themselves."""
    return c.encoder.num_features if c.encoder is not None else c.num_inputs


def num_classes(c: Circuit) -> int:
    """Classes of the GroupSum head; without a head, each output bit is a score."""
    return c.head.classes if c.head is not None else c.num_outputs


def encoding(c: Circuit) -> InputEncoding:
    """The circuit's encoder; a circuit without one reads bits, i.e. bit i = x[i] > 0.5."""
    if c.encoder is not None:
        return c.encoder
    n = c.num_inputs
    return InputEncoding(n, np.arange(n, dtype=np.int64), np.zeros(n, np.uint8), np.full(n, 0.5),
                         InputContract.bits(n).categories)


def input_contract(c: Circuit) -> InputContract:
    """The rows ``c`` accepts: its encoder's contract (the model's), or bits without an encoder.
    Runners compute it once and call its ``check`` on every input."""
    return InputContract.of(c)


def check_raw(c: Circuit, x, where: str = "") -> np.ndarray:
    """Raw features checked against the circuit's input contract (``where`` is kept for callers of
    the old signature; the message is the contract's, the same in every runner and the model)."""
    return InputContract.of(c).check(x)


def argmax_first(scores: np.ndarray) -> np.ndarray:
    """Class indices int32 (N,): the first maximum of each row, as torch.argmax."""
    return np.argmax(scores, axis=1).astype(np.int32) if scores.shape[1] else np.zeros(len(scores), np.int32)
