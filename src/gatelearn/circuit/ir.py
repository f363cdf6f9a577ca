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
    ``None`` means the inputs are given as bits already. ``categories`` is the input contract
    (:mod:`gatelearn.circuit.inputs`): per raw feature 0 (a real number) or n (a category code
    0..n-1); every runner refuses rows outside it, as the model's encoder does.

Layers
    ``layer`` gives each gate the index of the model layer it came from (-1 when unknown, e.g.
    a gate created by a pass or read from a file), for reports.

Files
    ``save``/``load`` use one ``.npz`` (NumPy's zip of arrays) whose ``meta`` entry is JSON. It is
    read with ``allow_pickle=False`` and validated: every index, gate id, size and the format
    version are checked (values before they are narrowed to the IR's types), and a malformed or
    damaged file raises :class:`gatelearn.errors.FileFormatError`. ``enc_categories`` is absent
    from files written before the input contract existed: their features all count as real.
"""
from __future__ import annotations

import json
import os
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
    """Input bit i = x[feature[i]] <op[i]> value[i]; op 0 = 'gt' (>), 1 = 'eq' (==).

    ``categories`` is the input contract (:class:`gatelearn.circuit.inputs.InputContract`): per raw
    feature 0 when it is a real number, n when it is a category code 0..n-1 (a one-hot column).
    Every runner refuses rows outside it, as the model does. Default: every feature real."""
    num_features: int
    feature: np.ndarray          # int64 (num_inputs,)
    op: np.ndarray               # uint8 (num_inputs,): index into OPS
    value: np.ndarray            # float64 (num_inputs,)
    categories: np.ndarray | None = None   # int64 (num_features,): 0 = real, n = codes 0..n-1

    def __post_init__(self):
        self.num_features = int(self.num_features)
        self.feature = narrow(self.feature, np.int64, "encoder feature")
        self.op = narrow(self.op, np.uint8, "encoder op", 0, len(OPS) - 1)
        value = np.asarray(self.value)
        if value.size and value.dtype.kind not in "biuf":
            raise ValueError(f"encoder thresholds must be real numbers, got dtype {value.dtype}")
        self.value = np.ascontiguousarray(value, dtype=np.float64)
        if self.categories is None:
            self.categories = np.zeros(max(self.num_features, 0), np.int64)
        self.categories = narrow(self.categories, np.int64, "encoder categories")

    @classmethod
    def from_bit_table(cls, table, num_features: int, categories: np.ndarray | None = None) -> InputEncoding:
        return cls(int(num_features), np.asarray(table.feature, np.int64),
                   np.array([OPS.index(o) for o in table.op], np.uint8), np.asarray(table.value, np.float64),
                   categories)

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

    def copy(self) -> InputEncoding:
        return InputEncoding(self.num_features, self.feature.copy(), self.op.copy(), self.value.copy(),
                             self.categories.copy())

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
        # Values are checked before they are narrowed: gate 270 must not become gate 14.
        self.op = narrow(self.op, np.uint8, "op", 0, NUM_GATES - 1)
        self.a = narrow(self.a, np.int64, "a")
        self.b = narrow(self.b, np.int64, "b")
        self.outputs = narrow(self.outputs, np.int64, "outputs")
        if self.layer is None:
            self.layer = np.full(len(self.op), -1, np.int32)
        self.layer = narrow(self.layer, np.int32, "layer", -1)

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

    # Port names: a circuit imported from a file keeps its own (``meta['input_names']`` /
    # ``meta['output_names']``, and its module or model name as ``meta['name']``); every writer
    # and runner reads them through these, so a re-export matches its source port by port.
    @property
    def input_names(self) -> list[str]:
        """One name per primary input: the circuit's own, else ``i0, i1, ...``."""
        return _names(self.meta.get("input_names"), self.num_inputs, "i")

    @property
    def output_names(self) -> list[str]:
        """One name per output: the circuit's own, else ``o0, o1, ...``."""
        return _names(self.meta.get("output_names"), self.num_outputs, "o")

    @property
    def name(self) -> str | None:
        """The circuit's own name (a Verilog module, an AIGER comment, a BLIF model), if it has one."""
        name = self.meta.get("name")
        return name if isinstance(name, str) and name else None

    def copy(self) -> Circuit:
        enc = None if self.encoder is None else self.encoder.copy()
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
        the gates go in chunks in which no gate reads another gate of the same chunk
        (:meth:`independent_chunks`), each chunk one vectorised step. A layered network is a few
        chunks per layer."""
        n = self.num_inputs
        level = np.zeros(self.num_nodes, np.int64)
        ua, ub = USES_A[self.op], USES_B[self.op]
        for start, end in self.independent_chunks():
            sl = slice(start, end)
            la = np.where(ua[sl], level[self.a[sl]], -1)
            lb = np.where(ub[sl], level[self.b[sl]], -1)
            level[n + start:n + end] = np.maximum(la, lb) + 1     # constants: -1 + 1 = 0
        return level

    def independent_chunks(self) -> list[tuple[int, int]]:
        """The gates cut into runs ``(start, end)`` of consecutive gates none of which reads
        another of its run, so a run can be evaluated in one vectorised step once the runs before
        it are (and, visited backwards, its readers are all in later runs). A run's end is found in
        a window that grows geometrically, so the work is linear in the gates."""
        n, G = self.num_inputs, self.num_gates
        ua, ub = USES_A[self.op], USES_B[self.op]
        dep = np.maximum(np.where(ua, self.a, -1), np.where(ub, self.b, -1))   # last node read
        chunks, start = [], 0
        while start < G:
            window = 64
            while True:
                stop = min(G, start + window)
                inside = np.flatnonzero(dep[start:stop] >= n + start)
                if len(inside) or stop == G:
                    break
                window *= 4
            end = start + max(1, int(inside[0])) if len(inside) else G
            chunks.append((start, end))
            start = end
        return chunks

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
        for key, count in (("input_names", self.num_inputs), ("output_names", self.num_outputs)):
            names = self.meta.get(key)
            if names is not None and (not isinstance(names, list) or len(names) != count
                                      or not all(isinstance(n, str) and n for n in names)):
                raise ValueError(f"meta {key!r} must be {count} non-empty texts")
            if key == "input_names" and names is not None and len(set(names)) != count:
                raise ValueError("meta 'input_names' must be distinct")
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
                raise ValueError(f"encoder threshold of input bit {int(np.argmax(np.isnan(e.value)))} is NaN")
            if len(e.categories) != e.num_features or (len(e.categories) and e.categories.min() < 0):
                raise ValueError(f"encoder categories must be {e.num_features} counts >= 0 (one per feature), "
                                 f"got {len(e.categories)}")
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
            arrays.update(enc_feature=self.encoder.feature, enc_op=self.encoder.op, enc_value=self.encoder.value,
                          enc_categories=self.encoder.categories)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Circuit:
        """Read a file written by :meth:`save`; anything malformed is a :class:`FileFormatError`."""
        path = Path(path)
        if not path.exists():
            raise FileFormatError(f"no circuit file at {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(bytes(arrays["meta"]).decode())
        except MemoryError as exc:
            raise FileFormatError(f"{path}: its arrays are too large to read (corrupted?)") from exc
        except Exception as exc:
            # Reading a damaged zip raises whatever its layers raise (zlib.error, BadZipFile,
            # EOFError, struct.error, ...): all mean the same thing here.
            raise FileFormatError(f"{path} is not a readable gatelearn circuit file (truncated or corrupted?): "
                                  f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(meta, dict):
            raise FileFormatError(f"{path}: not a gatelearn circuit (its meta entry is not a JSON object)")
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
                # enc_categories is absent from files written before the input contract: all real
                cats = arrays.get("enc_categories")
                if cats is not None and cats.ndim != 1:
                    raise ValueError("array 'enc_categories' is not 1-D")
                enc = InputEncoding(_meta_int(meta["encoder"], "num_features"), arrays["enc_feature"],
                                    arrays["enc_op"], arrays["enc_value"], cats)
            head = None
            if meta.get("head") is not None:
                head = Head(_meta_int(meta["head"], "classes"), _meta_number(meta["head"], "tau"))
            extra = meta.get("meta") or {}
            if not isinstance(extra, dict):
                raise ValueError("'meta' must be a JSON object")
            c = cls(_meta_int(meta, "num_inputs"), arrays["op"], arrays["a"], arrays["b"], arrays["outputs"],
                    head, enc, arrays["layer"], extra)
            return c.validate()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise FileFormatError(f"{path}: invalid circuit: {exc}") from exc


def _names(names, count: int, prefix: str) -> list[str]:
    if isinstance(names, list) and len(names) == count and all(isinstance(n, str) and n for n in names):
        return list(names)
    return [f"{prefix}{k}" for k in range(count)]


def narrow(values, dtype, what: str, low: int | None = None, high: int | None = None) -> np.ndarray:
    """``values`` as a contiguous array of the integer type ``dtype``, after checking that every
    value is an integer in ``low..high`` (default: the type's range), so nothing wraps or rounds
    on the way (op 270 is not gate 14, -1 is not 255, 2.5 is not 2). A ValueError names ``what``."""
    arr = np.asarray(values)
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype)
    low = info.min if low is None else low
    high = info.max if high is None else high
    if arr.size == 0:
        return np.zeros(arr.shape, dtype)
    if arr.dtype.kind not in "biu":
        raise ValueError(f"{what} must hold integers, got dtype {arr.dtype}")
    if arr.dtype == dtype and low == info.min and high == info.max:
        return np.ascontiguousarray(arr)
    lo, hi = arr.min(), arr.max()
    if lo < low or hi > high:
        bad = lo if lo < low else hi
        raise ValueError(f"{what} holds {int(bad)}, outside {low}..{high}")
    return np.ascontiguousarray(arr, dtype=dtype)


def _meta_int(meta: dict, key: str) -> int:
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{key!r} must be an integer, got {v!r}")
    return v


def _meta_number(meta: dict, key: str) -> float:
    v = meta[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"{key!r} must be a number, got {v!r}")
    return float(v)


def canonical_operands(op: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero the operands a gate ignores (the IR's canonical form)."""
    return np.where(USES_A[op], a, 0), np.where(USES_B[op], b, 0)
