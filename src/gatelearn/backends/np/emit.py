"""The NumPy target's emitter: a standalone module ``NAME.py`` (the file
:mod:`gatelearn.backends.np.standalone`, copied as it is) and its tables ``NAME.npz``. The module
needs NumPy alone: ``import NAME; scores, classes = NAME.predict(x)``."""
from __future__ import annotations

import io
from importlib import resources

import numpy as np

from ...circuit.ir import Circuit
from ...gates import TRUTH_NP
from ..base import Artifacts, Emitter
from ..common import encoding

__all__ = ["NumpyEmitter", "module_tables"]


def module_tables(circuit: Circuit) -> dict[str, np.ndarray]:
    """The arrays the standalone module reads (documented in its docstring)."""
    c = circuit
    n = c.num_inputs
    enc = encoding(c)
    # evaluation order: by logic level, then gate id (the order of the software simulator)
    levels = c.node_levels()[n:]
    order = np.lexsort((c.op, levels)).astype(np.int64)
    cut = np.flatnonzero((np.diff(levels[order]) != 0) | (np.diff(c.op[order]) != 0)) + 1
    group_start = np.r_[0, cut].astype(np.int64) if len(order) else np.zeros(0, np.int64)
    return {"num_inputs": np.int64(n), "op": c.op, "a": c.a, "b": c.b, "outputs": c.outputs,
            "classes": np.int64(c.head.classes if c.head is not None else 0),
            "num_features": np.int64(enc.num_features), "enc_feature": enc.feature.astype(np.int64),
            "enc_op": enc.op.astype(np.uint8), "enc_value": enc.value.astype(np.float64),
            "truth": TRUTH_NP.astype(np.uint8), "order": order, "group_start": group_start}


class NumpyEmitter(Emitter):
    """Target ``numpy``: NAME.py (the evaluator, NumPy only) and NAME.npz (the circuit's tables)."""
    target = "numpy"
    default_name = "gatelearn_net"

    def emit(self, circuit: Circuit, name: str | None = None) -> Artifacts:
        c = circuit.validate()
        name = self.checked_name(name)
        buf = io.BytesIO()
        np.savez_compressed(buf, **module_tables(c))
        source = resources.files(__package__).joinpath("standalone.py").read_text(encoding="utf-8")
        return Artifacts(name, {f"{name}.py": source, f"{name}.npz": buf.getvalue()},
                         {"gates": c.num_gates, "inputs": c.num_inputs, "outputs": c.num_outputs})
