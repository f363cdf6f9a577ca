"""The circuit IR: a netlist of 2-input gates, with the input encoder and the GroupSum head.

Nodes
    Node ids ``0 .. num_inputs-1`` are the primary inputs (the encoded bits). Node
    ``num_inputs + g`` is gate ``g``. Gates are stored in topological order: a gate's operands
    are always smaller node ids than the gate itself. A gate is ``(op, a, b)`` with ``op`` a gate
    id of the one gate table (:mod:`gatelearn.gates`); constants are gates 0 (FALSE) and 15
    (TRUE). An operand the gate's function ignores is stored as 0 (canonical form), so two
    gates computing the same thing compare equal.

Outputs
    ``outputs`` lists node ids (any node, including inputs). With a GroupSum head the outputs
    are split into ``head.classes`` contiguous equal groups; the score of class k is the
    number of ones in group k divided by ``head.tau``. Without a head, outputs are plain bits.

Encoder
    ``encoder`` says how raw features become the primary inputs: input bit i is
    ``x[feature[i]] > value[i]`` (op ``gt``) or ``x[feature[i]] == value[i]`` (op ``eq``).
    ``None`` means the inputs are given as bits already.

Layers
    ``layer`` gives each gate the index of the model layer it came from (-1 when unknown, e.g.
    a gate created by a pass or read from a file), for reports.

Files
    ``save``/``load`` use one ``.npz`` (NumPy's zip of arrays) whose ``meta`` entry is JSON. It is
    read with ``allow_pickle=False`` and validated: every index, gate id, size and the format
    version are checked, and a malformed file raises :class:`gatelearn.errors.FileFormatError`.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from ..fileio import atomic_path
from ..gates import GATES, NUM_GATES

FORMAT = "gatelearn.circuit"
VERSION = 1
OPS = ("gt", "eq")

# Which operands each gate id reads: masks derived from the one gate table.
USES_A = np.array([g.uses_a for g in GATES])
USES_B = np.array([g.uses_b for g in GATES])


@dataclass
class InputEncoding:
    """Input bit i = x[feature[i]] <op[i]> value[i]; op 0 = 'gt' (>), 1 = 'eq' (==)."""
    num_features: int
    feature: np.ndarray          # int64 (num_inputs,)
    op: np.ndarray               # uint8 (num_inputs,): index into OPS
    value: np.ndarray            # float64 (num_inputs,)

    @classmethod
    def from_bit_table(cls, table, num_features: int) -> InputEncoding:
        return cls(int(num_features), np.asarray(table.feature, np.int64),
                   np.array([OPS.index(o) for o in table.op], np.uint8), np.asarray(table.value, np.float64))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Raw features (N, num_features) -> bits (N, num_inputs) as bool, exactly as the model does.

        Comparisons happen in float32, the precision of the model's encoder.
        """
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected raw features of shape (N, {self.num_features}), got {x.shape}")
        cols = x[:, self.feature].astype(np.float32)
        val = self.value.astype(np.float32)
        return np.where(self.op == 0, cols > val, cols == val)

    def to_meta(self) -> dict:
        return {"num_features": self.num_features}


@dataclass
class Head:
    classes: int
    tau: float = 1.0


@dataclass
class Circuit:
    num_inputs: int
    op: np.ndarray                       # uint8 (G,)
    a: np.ndarray                        # int64 (G,) node ids
    b: np.ndarray                        # int64 (G,) node ids
    outputs: np.ndarray                  # int64 (O,) node ids
    head: Head | None = None
    encoder: InputEncoding | None = None
    layer: np.ndarray | None = None      # int32 (G,), -1 = unknown
    meta: dict = field(default_factory=dict)   # free-form, JSON-able (e.g. source model, pass log)

    def __post_init__(self):
        self.op = np.ascontiguousarray(self.op, dtype=np.uint8)
        self.a = np.ascontiguousarray(self.a, dtype=np.int64)
        self.b = np.ascontiguousarray(self.b, dtype=np.int64)
        self.outputs = np.ascontiguousarray(self.outputs, dtype=np.int64)
        if self.layer is None:
            self.layer = np.full(len(self.op), -1, np.int32)
        self.layer = np.ascontiguousarray(self.layer, dtype=np.int32)

    # ------------------------------------------------------------------ basic facts
    @property
    def num_gates(self) -> int:
        return len(self.op)

    @property
    def num_nodes(self) -> int:
        return self.num_inputs + self.num_gates

    @property
    def num_outputs(self) -> int:
        return len(self.outputs)

    def copy(self) -> Circuit:
        enc = None if self.encoder is None else InputEncoding(
            self.encoder.num_features, self.encoder.feature.copy(), self.encoder.op.copy(), self.encoder.value.copy())
        head = None if self.head is None else Head(self.head.classes, self.head.tau)
        return Circuit(self.num_inputs, self.op.copy(), self.a.copy(), self.b.copy(), self.outputs.copy(),
                       head, enc, self.layer.copy(), json.loads(json.dumps(self.meta)))

    def gate_counts(self) -> dict[str, int]:
        """Number of gates of each kind, by gate name (kinds with zero gates omitted)."""
        counts = np.bincount(self.op, minlength=NUM_GATES)
        return {GATES[i].name: int(c) for i, c in enumerate(counts) if c}

    def node_levels(self) -> np.ndarray:
        """Logic level of every node, the one definition every part uses: inputs and constant
        gates (which read nothing) are level 0; any other gate is 1 + the largest level among the
        operands it reads. So a circuit whose only output is TRUE has depth 0.

        Gates are topologically ordered; a Python loop over 10^5..10^6 gates would be slow, so
        the gates go in chunks in which no gate reads another gate of the same chunk, each chunk
        one vectorised step. A layered network is a few chunks per layer; finding a chunk's end
        scans a window that grows geometrically, so the work is linear in the gates."""
        n, G = self.num_inputs, self.num_gates
        level = np.zeros(self.num_nodes, np.int64)
        ua, ub = USES_A[self.op], USES_B[self.op]
        dep = np.maximum(np.where(ua, self.a, -1), np.where(ub, self.b, -1))   # last node read
        start = 0
        while start < G:
            window = 64
            while True:
                stop = min(G, start + window)
                inside = np.flatnonzero(dep[start:stop] >= n + start)
                if len(inside) or stop == G:
                    break
                window *= 4
            end = start + max(1, int(inside[0])) if len(inside) else G
            sl = slice(start, end)
            la = np.where(ua[sl], level[self.a[sl]], -1)
            lb = np.where(ub[sl], level[self.b[sl]], -1)
            level[n + start:n + end] = np.maximum(la, lb) + 1     # constants: -1 + 1 = 0
            start = end
        return level

    def depth(self) -> int:
        """Logic depth: the largest level among the outputs."""
        if self.num_outputs == 0:
            return 0
        return int(self.node_levels()[self.outputs].max())

    # ------------------------------------------------------------------ simulation
    def simulate(self, bits: np.ndarray) -> np.ndarray:
        """Input bits (N, num_inputs) -> output bits (N, num_outputs), bool: the reference
        evaluation (:mod:`gatelearn.circuit.simulate`) every backend is checked against."""
        from .simulate import simulate
        return simulate(self, bits)

    def class_counts(self, out_bits: np.ndarray) -> np.ndarray:
        """Output bits (N, O) -> ones per class (N, classes), int64. Needs a head."""
        if self.head is None:
            raise ValueError("this circuit has no GroupSum head")
        return np.asarray(out_bits, np.int64).reshape(len(out_bits), self.head.classes, -1).sum(-1)

    # ------------------------------------------------------------------ checks
    def validate(self) -> Circuit:
        """Check every invariant; raise ValueError naming the first violation."""
        G = self.num_gates
        if self.num_inputs < 0:
            raise ValueError(f"num_inputs must be >= 0, got {self.num_inputs}")
        for name in ("a", "b", "layer"):
            if len(getattr(self, name)) != G:
                raise ValueError(f"'{name}' has {len(getattr(self, name))} entries for {G} gates")
        if G and self.op.max() >= NUM_GATES:
            g = int(np.argmax(self.op >= NUM_GATES))
            raise ValueError(f"gate {g} has op {int(self.op[g])}; gate ids are 0..15")
        own = self.num_inputs + np.arange(G)
        for name, uses in (("a", USES_A[self.op]), ("b", USES_B[self.op])):
            idx = getattr(self, name)
            bad = np.nonzero(np.where(uses, (idx < 0) | (idx >= own), idx != 0))[0]
            if len(bad):
                g = int(bad[0])
                raise ValueError(f"gate {g} (node {own[g]}): operand {name} = {int(idx[g])} is not an earlier "
                                 "node (or not 0 for an operand the gate ignores)")
        if len(self.outputs) and ((self.outputs < 0) | (self.outputs >= self.num_nodes)).any():
            o = int(np.argmax((self.outputs < 0) | (self.outputs >= self.num_nodes)))
            raise ValueError(f"output {o} refers to node {int(self.outputs[o])}; there are {self.num_nodes} nodes")
        if self.head is not None:
            if self.head.classes < 1 or self.num_outputs % self.head.classes:
                raise ValueError(f"{self.num_outputs} outputs cannot be split into {self.head.classes} classes")
            if not self.head.tau > 0:
                raise ValueError(f"head tau must be > 0, got {self.head.tau}")
        if self.encoder is not None:
            e = self.encoder
            if not (len(e.feature) == len(e.op) == len(e.value) == self.num_inputs):
                raise ValueError(f"encoder describes {len(e.feature)} bits for {self.num_inputs} inputs")
            if len(e.feature) and ((e.feature < 0) | (e.feature >= e.num_features)).any():
                raise ValueError(f"encoder refers to a feature outside 0..{e.num_features - 1}")
            if len(e.op) and e.op.max() >= len(OPS):
                raise ValueError(f"encoder op must be one of {OPS}")
            if np.isnan(e.value).any():
                raise ValueError("encoder threshold is NaN")
        return self

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the circuit as one ``.npz`` file, atomically."""
        path = Path(path)
        meta = {"format": FORMAT, "version": VERSION, "num_inputs": self.num_inputs,
                "head": None if self.head is None else {"classes": self.head.classes, "tau": self.head.tau},
                "encoder": None if self.encoder is None else self.encoder.to_meta(), "meta": self.meta}
        arrays = {"op": self.op, "a": self.a, "b": self.b, "outputs": self.outputs, "layer": self.layer,
                  "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        if self.encoder is not None:
            arrays.update(enc_feature=self.encoder.feature, enc_op=self.encoder.op, enc_value=self.encoder.value)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Circuit:
        path = Path(path)
        if not path.exists():
            raise FileFormatError(f"no circuit file at {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(bytes(arrays["meta"]).decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
            raise FileFormatError(f"{path} is not a readable gatelearn circuit file: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise FileFormatError(f"{path}: not a gatelearn circuit (format {meta.get('format')!r})")
        if meta.get("version") != VERSION:
            raise FileFormatError(f"{path}: circuit format version {meta.get('version')}; "
                                  f"this gatelearn reads {VERSION}")
        try:
            for key in ("op", "a", "b", "outputs", "layer"):
                if key not in arrays or arrays[key].ndim != 1 or arrays[key].dtype.kind not in "iu":
                    raise ValueError(f"array {key!r} missing or not a 1-D integer array")
            enc = None
            if meta.get("encoder") is not None:
                for key in ("enc_feature", "enc_op", "enc_value"):
                    if key not in arrays or arrays[key].ndim != 1:
                        raise ValueError(f"array {key!r} missing or not 1-D")
                enc = InputEncoding(int(meta["encoder"]["num_features"]), arrays["enc_feature"].astype(np.int64),
                                    arrays["enc_op"].astype(np.uint8), arrays["enc_value"].astype(np.float64))
            head = None if meta.get("head") is None else Head(int(meta["head"]["classes"]), float(meta["head"]["tau"]))
            c = cls(int(meta["num_inputs"]), arrays["op"], arrays["a"], arrays["b"], arrays["outputs"],
                    head, enc, arrays["layer"], meta.get("meta") or {})
            return c.validate()
        except (ValueError, KeyError, TypeError) as exc:
            raise FileFormatError(f"{path}: invalid circuit: {exc}") from exc


def canonical_operands(op: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero the operands a gate ignores (the IR's canonical form)."""
    return np.where(USES_A[op], a, 0), np.where(USES_B[op], b, 0)
