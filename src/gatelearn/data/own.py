"""Your own data: a table (CSV file or arrays) or a folder of images as a :class:`Dataset`.

    ds = Dataset.from_csv("train.csv", target="income")          # seeded 20% test split
    ds = Dataset.from_csv("train.csv", target="income", test="test.csv")
    ds = Dataset.from_arrays(x, y, class_names=["no", "yes"])
    ds = Dataset.from_image_folder("images/")                   # one sub-folder per class

**The schema.** A table's columns are described by a schema (plain JSON data, saved as
``schema.json`` in a run directory and inside the model file), which says for each column how a
raw value becomes the numbers the model (and every circuit made from it) reads:

* ``numeric``: the value as a number, encoded as thermometer bits ``x > t`` at ``bits``
  thresholds fitted to the training data's quantiles (fewer when the column has fewer distinct
  values). A missing value takes the training median (``fill``).
* ``categorical``: the value's index in ``categories`` (text as written, surrounding spaces
  removed), one-hot encoded. A missing value is the category ``(missing)`` when the training data
  had missing values in that column; a category never seen in training is refused.
* ``ignore``: the column is not used.

Kinds are inferred: a column whose values all read as numbers is numeric, any other categorical,
except that a text column with more than ``MAX_CATEGORIES`` distinct values (an identifier, a free
text) is ignored, with that reason in the schema. ``columns={"zip": "categorical", "id":
"ignore", "age": {"kind": "numeric", "bits": 4}}`` overrides the inference.

Missing values are the empty field and ``MISSING_TOKENS`` (``?``, ``NA``, ...). The target column
may have no missing values; its distinct values are the classes (sorted, numerically when they are
all numbers), and their text is the class names ``predict`` prints.

**Images** are read with Pillow, one sub-folder per class (torchvision's ImageFolder layout),
as greyscale (``L``) when every image is greyscale, else RGB, all of one size (``size`` resizes
them). The raw features are the pixel bytes, channel-major, like MNIST's and CIFAR-10's; the
encoding is thermometer bits at ``levels`` (default: 127.5 for greyscale, 63.75 / 127.5 / 191.25
per colour channel).
"""
from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FileFormatError, InputError

if TYPE_CHECKING:
    from .datasets import Dataset

SCHEMA_FORMAT = "gatelearn.schema"
SCHEMA_VERSION = 1
SCHEMA_FILE = "schema.json"
MISSING_TOKENS = frozenset({"", "?", "NA", "N/A", "na", "n/a", "NaN", "nan", "null", "NULL", "None"})
MISSING = "(missing)"                 # the category a missing categorical value becomes
NUMERIC_BITS = 8                      # thermometer thresholds per numeric column, by default
MAX_CATEGORIES = 100                  # more distinct texts than this: an identifier, not a category
TEST_FRACTION = 0.2
GREY_LEVELS = [127.5]
COLOUR_LEVELS = [63.75, 127.5, 191.25]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm")
KINDS = ("numeric", "categorical", "ignore")


# ------------------------------------------------------------------------------------ schema

class Schema:
    """How each column of a table becomes the model's raw features (see the module docstring)."""

    def __init__(self, columns: list[dict], target: str | None, class_names: list[str]):
        self.columns = [dict(c) for c in columns]
        self.target = target
        self.class_names = list(class_names)

    # the columns the model reads, in its feature order
    @property
    def used(self) -> list[dict]:
        return [c for c in self.columns if c["kind"] != "ignore"]

    @property
    def feature_names(self) -> list[str]:
        return [c["name"] for c in self.used]

    def to_dict(self) -> dict:
        return {"format": SCHEMA_FORMAT, "version": SCHEMA_VERSION, "target": self.target,
                "class_names": self.class_names, "columns": self.columns}

    @classmethod
    def from_dict(cls, data: Any, where: str = "schema") -> Schema:
        if not isinstance(data, dict) or data.get("format") != SCHEMA_FORMAT:
            raise FileFormatError(f"{where}: not a gatelearn table schema")
        if data.get("version") != SCHEMA_VERSION:
            raise FileFormatError(f"{where}: schema version {data.get('version')!r}; this gatelearn reads "
                                  f"version {SCHEMA_VERSION}")
        cols = data.get("columns")
        if not isinstance(cols, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                                 and c.get("kind") in KINDS for c in cols):
            raise FileFormatError(f"{where}: 'columns' must be a list of {{name, kind}} objects")
        for c in cols:
            if c["kind"] == "categorical" and not (isinstance(c.get("categories"), list) and c["categories"]):
                raise FileFormatError(f"{where}: categorical column {c['name']!r} has no categories")
            if c["kind"] == "numeric" and not isinstance(c.get("fill"), (int, float)):
                raise FileFormatError(f"{where}: numeric column {c['name']!r} has no fill value")
        return cls(cols, data.get("target"), [str(n) for n in data.get("class_names") or []])

    def describe(self) -> str:
        """The schema as a few readable lines (what ``gatelearn train`` prints)."""
        lines = []
        width = max(len(c["name"]) for c in self.columns)
        for c in self.columns:
            if c["kind"] == "numeric":
                what = f"numeric, {c['bits']} threshold bit{'s' if c['bits'] != 1 else ''}"
                if c.get("missing"):
                    what += f", {c['missing']} missing -> {c['fill']:g} (the median)"
            elif c["kind"] == "categorical":
                cats = c["categories"]
                shown = ", ".join(cats[:6]) + (f", ... ({len(cats)} in all)" if len(cats) > 6 else "")
                what = f"categorical, {len(cats)} one-hot bits: {shown}"
            else:
                what = "ignored" + (f" ({c['reason']})" if c.get("reason") else "")
            lines.append(f"  {c['name']:<{width}}  {what}")
        if self.target is not None:
            shown = ", ".join(self.class_names[:10]) + (", ..." if len(self.class_names) > 10 else "")
            lines.append(f"  target {self.target!r}: {len(self.class_names)} classes: {shown}")
        return "\n".join(lines)

    # --- raw values -> the model's raw features ------------------------------------------------

    def encode_table(self, header: Sequence[str], rows: Sequence[Sequence[str]], where: str) -> np.ndarray:
        """Rows of text fields (with ``header``) -> float32 (N, features): numbers and category
        codes as the model reads them. Columns are found by name (others, such as the target,
        are skipped); a missing column, an unreadable number or an unknown category is an
        InputError naming the column and the row."""
        index = {name: j for j, name in enumerate(header)}
        if not any(c["name"] in index for c in self.used) and len(header) in (len(self.columns),
                                                                               len(self.columns) + 1):
            # no header line (as in UCI's adult.data): the first line is a record, and the fields
            # are the schema's columns in order, then the target if present
            rows = [list(header), *rows]
            index = {c["name"]: j for j, c in enumerate(self.columns)}
        out = np.empty((len(rows), len(self.used)), dtype=np.float32)
        for f, col in enumerate(self.used):
            if col["name"] not in index:
                raise InputError(f"{where}: no column {col['name']!r}; the model reads the columns "
                                 f"{', '.join(self.feature_names)}")
            j = index[col["name"]]
            out[:, f] = self._encode_column(col, [r[j] for r in rows], where)
        return out

    @staticmethod
    def _encode_column(col: dict, values: list[str], where: str) -> np.ndarray:
        name = col["name"]
        if col["kind"] == "numeric":
            out = np.empty(len(values), dtype=np.float64)
            for i, v in enumerate(values):
                v = v.strip()
                if v in MISSING_TOKENS:
                    out[i] = col["fill"]
                    continue
                num = _number(v)
                if num is None:
                    raise InputError(f"{where}: row {i + 1}, column {name!r}: {v!r} is not a number "
                                     f"(the column is numeric)")
                out[i] = num
            return out
        codes = {c: k for k, c in enumerate(col["categories"])}
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            v = v.strip()
            key = MISSING if v in MISSING_TOKENS else v
            if key not in codes:
                known = ", ".join(col["categories"][:8]) + (", ..." if len(col["categories"]) > 8 else "")
                what = "a missing value, which training never saw in this column" if key == MISSING \
                    else f"category {v!r}, which training never saw"
                raise InputError(f"{where}: row {i + 1}, column {name!r}: {what} (known: {known})")
            out[i] = codes[key]
        return out

    def labels(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> np.ndarray | None:
        """Class indices of the records' target column (-1 for a value that is no class; a
        trailing '.' is ignored, as UCI's adult.test writes it), or None without that column."""
        names = [c["name"] for c in self.columns]
        if self.target in header:
            j = list(header).index(self.target)
        elif not any(n in header for n in names) and len(header) == len(names) + 1:
            j, rows = len(names), [list(header), *rows]     # no header line: the target is last
        else:
            return None
        codes = {c: k for k, c in enumerate(self.class_names)}
        return np.array([codes.get(r[j].strip(), codes.get(r[j].strip().rstrip("."), -1)) for r in rows],
                        dtype=np.int64)

    def make_encoder(self, x_train: np.ndarray):
        """The input encoder of this table: thermometer bits fitted to the numeric columns of
        ``x_train`` (raw features as :meth:`encode_table` makes them), one-hot bits for the
        categorical ones."""
        import torch

        from ..layers.encoders import TabularEncoder
        from .datasets import fit_quantile_thresholds
        specs, thresholds = [], []
        for f, col in enumerate(self.used):
            if col["kind"] == "categorical":
                specs.append({"kind": "onehot", "categories": len(col["categories"])})
                thresholds.append(None)
                continue
            values = x_train[:, f].astype(np.float64)
            distinct = np.unique(values)
            if len(distinct) == 1:   # a constant column: one bit, always 0 on the training data
                t = distinct[:1]
            else:
                t = fit_quantile_thresholds(values, min(col["bits"], len(distinct) - 1), what=f"column {col['name']!r}")
            specs.append({"kind": "thresholds", "per_feature": len(t)})
            thresholds.append(t)
        enc = TabularEncoder(specs)
        for sub, t in zip(enc.encoders, thresholds):
            if t is not None:
                sub.thresholds.copy_(torch.as_tensor(t, dtype=torch.float32).reshape(1, -1))
        return enc


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _class_order(values: Sequence[str]) -> list[str]:
    """Distinct target values, sorted as numbers when they all are, else as text."""
    distinct = sorted(set(values))
    nums = [_number(v) for v in distinct]
    if all(n is not None for n in nums):
        distinct = [v for _, v in sorted(zip(nums, distinct))]
    return distinct


def _column_override(name: str, override: Any) -> dict:
    if isinstance(override, str):
        override = {"kind": override}
    if not isinstance(override, Mapping) or override.get("kind") not in KINDS:
        raise InputError(f"columns: {name!r} must be one of {', '.join(KINDS)} or {{kind = ..., bits = N}}, "
                         f"got {override!r}")
    unknown = set(override) - {"kind", "bits"}
    if unknown:
        raise InputError(f"columns: {name!r} has unknown option(s) {', '.join(sorted(unknown))}; "
                         f"a column takes kind and bits")
    bits = override.get("bits")
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 1024):
        raise InputError(f"columns: {name!r} bits must be an integer in [1, 1024], got {bits!r}")
    return dict(override)


def infer_schema(header: Sequence[str], columns: Sequence[Sequence[str]], target: str | None,
                 target_values: Sequence[str] | None, overrides: Mapping[str, Any] | None = None,
                 bits: int = NUMERIC_BITS, where: str = "data") -> Schema:
    """The schema of a table given as text columns (the target's values separately)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(header))
    if unknown:
        raise InputError(f"columns: no column named {', '.join(map(repr, unknown))} in {where} "
                         f"(its columns: {', '.join(header)})")
    cols = []
    for name, values in zip(header, columns):
        given = _column_override(name, overrides[name]) if name in overrides else {}
        stripped = [v.strip() for v in values]
        missing = [v in MISSING_TOKENS for v in stripped]
        present = [v for v, m in zip(stripped, missing) if not m]
        nums = [_number(v) for v in present]
        kind = given.get("kind")
        col: dict[str, Any] = {"name": name}
        if kind is None:
            if not present:
                kind, col["reason"] = "ignore", "no values"
            elif all(n is not None for n in nums):
                kind = "numeric"
            elif len(set(present)) > MAX_CATEGORIES:
                kind, col["reason"] = "ignore", (f"{len(set(present))} distinct texts: an identifier or free text? "
                                                 f"mark it categorical to use it")
            else:
                kind = "categorical"
        col["kind"] = kind
        if kind == "numeric":
            bad = next((v for v, n in zip(present, nums) if n is None), None)
            if bad is not None:
                raise InputError(f"{where}: column {name!r} is declared numeric but holds {bad!r}")
            if not present:
                raise InputError(f"{where}: numeric column {name!r} has no values")
            col["bits"] = int(given.get("bits") or bits)
            col["fill"] = float(np.median(np.array([n for n in nums], dtype=np.float64)))
            col["missing"] = int(sum(missing))
        elif kind == "categorical":
            cats = sorted(set(present), key=lambda v: (_number(v) is None, _number(v) or 0.0, v))
            if any(missing):
                cats.append(MISSING)
            col["categories"] = cats
        cols.append(col)
    if not any(c["kind"] != "ignore" for c in cols):
        raise InputError(f"{where}: no usable column (all are ignored or empty)")
    class_names = _class_order(target_values) if target_values is not None else []
    return Schema(cols, target, class_names)


def benchmark_schema(columns: Sequence[str], used: Sequence[str], categories: Mapping[str, Sequence[str]],
                     x_train: np.ndarray, target: str, class_names: Sequence[str]) -> dict:
    """The schema of a benchmark table (Adult, Breast Cancer, MONK's), so that ``predict`` reads its
    raw records too: ``columns`` in the raw file's order (those not in ``used`` are ignored),
    categories as documented. ``fit`` is false: the benchmark keeps its own (the paper's) encoder;
    the schema only turns records into the model's raw features."""
    cols = []
    for name in columns:
        if name not in used:
            cols.append({"name": name, "kind": "ignore"})
        elif name in categories:
            cols.append({"name": name, "kind": "categorical", "categories": list(categories[name])})
        else:
            values = x_train[:, list(used).index(name)].astype(np.float64)
            cols.append({"name": name, "kind": "numeric", "fill": float(np.median(values)), "missing": 0})
    return {**Schema(cols, target, list(class_names)).to_dict(), "fit": False}


# ------------------------------------------------------------------------------------ tables

def read_csv(path: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a CSV file (gzipped or not) with a header line; every row has the header's
    length. The delimiter (comma, semicolon or tab) is detected."""
    from .readers import read_bytes
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a CSV file (or a folder of images with one sub-folder "
                         f"per class)")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    raw = read_bytes(path)     # gunzipped when it is gzip data
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not a UTF-8 text file (byte {exc.start}); save the table as UTF-8 "
                              f"CSV") from None
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        # blank lines, and UCI's comment lines ('|1x3 Cross validator' opens adult.test), are skipped
        rows = [r for r in csv.reader(io.StringIO(text), dialect)
                if any(f.strip() for f in r) and not r[0].lstrip().startswith("|")]
    except csv.Error as exc:
        raise FileFormatError(f"{path}: not a readable CSV file: {exc}") from None
    if len(rows) < 2:
        raise FileFormatError(f"{path}: needs a header line and at least one row of data")
    header = [h.strip() for h in rows[0]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise FileFormatError(f"{path}: line {i} has {len(r)} fields, the header {len(header)}")
    return header, rows[1:]


def _split_target(header: list[str], rows: list[list[str]], target: str | None, where: str
                  ) -> tuple[str, list[str]]:
    if target is None:
        target = header[-1]
    if target not in header:
        raise InputError(f"{where}: no column {target!r} to predict (--target); its columns: {', '.join(header)}")
    j = header.index(target)
    values = [r[j].strip() for r in rows]
    for i, v in enumerate(values):
        if v in MISSING_TOKENS:
            raise InputError(f"{where}: row {i + 1} has no value in the target column {target!r}; "
                             f"remove the rows without a label")
    return target, values


def _labels(values: Sequence[str], class_names: list[str], where: str) -> np.ndarray:
    codes = {c: k for k, c in enumerate(class_names)}
    unknown = sorted(set(values) - set(codes))
    if unknown:
        raise InputError(f"{where}: target value(s) {', '.join(map(repr, unknown[:5]))} do not occur in the "
                         f"training data (classes: {', '.join(class_names[:10])})")
    return np.array([codes[v] for v in values], dtype=np.int64)


def _split(y: np.ndarray, fraction: float, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    from .datasets import stratified_split
    return stratified_split(y, fraction, seed, what=f"{where} test split")


def _table_dataset(name: str, schema: Schema, x_tr, y_tr, x_te, y_te, notes: str) -> Dataset:
    from .datasets import Dataset
    cats = {c["name"]: list(c["categories"]) for c in schema.used if c["kind"] == "categorical"}
    return Dataset(name, x_tr, y_tr, x_te, y_te, len(schema.class_names), None, list(schema.class_names),
                   schema.feature_names, cats, notes=notes, schema=schema.to_dict())


def dataset_from_csv(path: str | os.PathLike, target: str | None = None, *, test: str | os.PathLike | None = None,
                     test_fraction: float = TEST_FRACTION, seed: int = 0, columns: Mapping[str, Any] | None = None,
                     bits: int = NUMERIC_BITS) -> Dataset:
    """A dataset from a CSV file with a header (see the module docstring). ``target``: the
    column to predict (default: the last). ``test``: a second CSV file with the same columns;
    without one, a seeded class-stratified ``test_fraction`` of the rows is held out."""
    path = Path(path)
    header, rows = read_csv(path)
    test_table = None
    if test is not None:
        test_table = (*read_csv(test), str(test))
    return dataset_from_table(path.stem, header, rows, target, str(path), test_table=test_table,
                              test_fraction=test_fraction, seed=seed, columns=columns, bits=bits)


def dataset_from_table(name: str, header: list[str], rows: list[list[str]], target: str | None, where: str, *,
                       test_table: tuple[list[str], list[list[str]], str] | None = None, test_rows: int | None = None,
                       test_fraction: float = TEST_FRACTION, seed: int = 0, columns: Mapping[str, Any] | None = None,
                       bits: int = NUMERIC_BITS, categorical: Sequence[str] = (), notes: str = "") -> Dataset:
    """A dataset from a table of text fields (the one path of CSV files and of the UCI tables
    other packages ship). The test part: ``test_table`` (header, rows, where), else the last
    ``test_rows`` rows (a split the data's publisher fixed), else a seeded class-stratified
    ``test_fraction``. ``categorical``: columns that are categories even when they read as numbers
    (under ``columns``, which the user gives)."""
    if len(set(header)) != len(header) or any(not h for h in header):
        dup = next((h for h in header if not h or header.count(h) > 1), "")
        raise FileFormatError(f"{where}: the first line must name the columns, each once "
                              f"({'an empty name' if not dup else f'{dup!r} appears twice'})")
    target, target_values = _split_target(header, rows, target, where)
    features = [h for h in header if h != target]
    cols = [[r[k] for r in rows] for k, h in enumerate(header) if h != target]
    if columns and target in columns:
        raise InputError(f"columns: {target!r} is the target column; it cannot also be a feature")
    overrides = {**{c: "categorical" for c in categorical if c != target}, **(columns or {})}
    schema = infer_schema(features, cols, target, target_values, overrides, bits, where=where)
    y = _labels(target_values, schema.class_names, where)
    x = schema.encode_table(header, rows, where)
    if test_table is not None:
        t_header, t_rows, t_where = test_table
        _, t_values = _split_target(t_header, t_rows, target, t_where)
        x_tr, y_tr = x, y
        x_te, y_te = schema.encode_table(t_header, t_rows, t_where), _labels(t_values, schema.class_names, t_where)
        split = f"train {Path(where).name} ({len(y_tr)} rows), test {Path(t_where).name} ({len(y_te)} rows)"
    elif test_rows is not None:
        x_tr, y_tr, x_te, y_te = x[:-test_rows], y[:-test_rows], x[-test_rows:], y[-test_rows:]
        split = f"{len(y)} rows; test = the last {test_rows}"
    else:
        tr, te = _split(y, test_fraction, seed, where)
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
        split = f"{len(y)} rows; test = stratified {test_fraction:.0%} hold-out, seed {seed}"
    notes = f"{Path(where).name}: {split}" + (f"; {notes}" if notes else "")
    return _table_dataset(name, schema, x_tr, y_tr, x_te, y_te, notes)


def dataset_from_arrays(x, y, *, x_test=None, y_test=None, test_fraction: float = TEST_FRACTION, seed: int = 0,
                        class_names: Sequence[str] | None = None, feature_names: Sequence[str] | None = None,
                        categorical: Sequence[int | str] = (), bits: int = NUMERIC_BITS, name: str = "arrays",
                        image_levels: Sequence[float] | None = None) -> Dataset:
    """A dataset from arrays. ``x``: (N, features) numbers (NaN = missing), or images (N, H, W) /
    (N, C, H, W) of bytes. ``y``: N labels of any kind (the classes are their sorted distinct
    values, named by ``class_names`` in that order when given, e.g. ``["cat", "dog"]`` for labels
    0 and 1). ``categorical``: columns (index or name) whose values are categories."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim in (3, 4):
        return _image_arrays(x, y, x_test, y_test, test_fraction, seed, class_names, name, image_levels)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"from_arrays: x must have shape (samples, features) or be images (N, H, W) / (N, C, H, W), "
                         f"got {x.shape}")
    names = [str(n) for n in feature_names] if feature_names is not None else [f"x{j}" for j in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise InputError(f"from_arrays: {len(names)} feature names for {x.shape[1]} columns")
    cat = {names[c] if isinstance(c, (int, np.integer)) else str(c) for c in categorical}
    overrides = {n: "categorical" for n in cat}
    overrides.update({n: "numeric" for n in names if n not in cat})
    xt = None if x_test is None else np.asarray(x_test)
    if xt is not None and (xt.ndim != 2 or xt.shape[1] != x.shape[1]):
        raise InputError(f"from_arrays: x_test has shape {xt.shape}, expected (N, {x.shape[1]})")
    label_text, test_text, class_list = _label_texts(y, y_test, class_names, len(x), xt)
    text = _as_text(x)
    schema = infer_schema(names, [list(text[:, j]) for j in range(x.shape[1])], None, label_text,
                          overrides, bits, where="x")
    schema.class_names = class_list
    schema.target = None
    x_all = schema.encode_table(names, text.tolist(), "x")
    y_all = _labels(label_text, class_list, "y")
    if xt is not None:
        x_te = schema.encode_table(names, _as_text(xt).tolist(), "x_test")
        y_te = _labels(test_text, class_list, "y_test")
        x_tr, y_tr = x_all, y_all
        notes = f"{len(y_tr)} training rows, {len(y_te)} test rows (arrays)"
    else:
        tr, te = _split(y_all, test_fraction, seed, "arrays")
        x_tr, y_tr, x_te, y_te = x_all[tr], y_all[tr], x_all[te], y_all[te]
        notes = f"{len(y_all)} rows (arrays); test = stratified {test_fraction:.0%} hold-out, seed {seed}"
    return _table_dataset(name, schema, x_tr, y_tr, x_te, y_te, notes)


def _as_text(x: np.ndarray) -> np.ndarray:
    """Array values as text fields (NaN and None as missing), so arrays and CSV take one path."""
    out = np.empty(x.shape, dtype=object)
    flat = x.reshape(-1)
    out_flat = out.reshape(-1)
    for i, v in enumerate(flat.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out_flat[i] = ""
        elif isinstance(v, float) and v.is_integer():
            out_flat[i] = str(int(v))
        else:
            out_flat[i] = repr(v) if isinstance(v, float) else str(v)
    return out


def _label_texts(y, y_test, class_names, n: int, x_test) -> tuple[list[str], list[str] | None, list[str]]:
    """Labels as text and the class list (sorted distinct labels, renamed by ``class_names``)."""
    if y.shape != (n,):
        raise InputError(f"from_arrays: y must have shape ({n},), got {y.shape}")
    if (y_test is None) != (x_test is None):
        raise InputError("from_arrays: give both x_test and y_test, or neither")
    yt = None if y_test is None else np.asarray(y_test)
    if yt is not None and yt.shape != (len(x_test),):
        raise InputError(f"from_arrays: y_test must have shape ({len(x_test)},), got {yt.shape}")
    texts = [str(v) for v in _as_text(y).tolist()]
    test_texts = None if yt is None else [str(v) for v in _as_text(yt).tolist()]
    if any(t == "" for t in texts):
        raise InputError("from_arrays: y holds missing labels (NaN / None)")
    order = _class_order(texts)
    if class_names is None:
        return texts, test_texts, order
    names = [str(c) for c in class_names]
    if len(names) != len(order):
        raise InputError(f"from_arrays: {len(names)} class names for {len(order)} distinct labels "
                         f"({', '.join(order[:10])})")
    rename = dict(zip(order, names))
    return ([rename[t] for t in texts], None if test_texts is None else [rename.get(t, t) for t in test_texts], names)


# ------------------------------------------------------------------------------------ images

def _image_levels(channels: int, levels) -> list[float]:
    if levels is None:
        return list(GREY_LEVELS if channels == 1 else COLOUR_LEVELS)
    levels = [float(v) for v in levels]
    if not levels or any(not math.isfinite(v) for v in levels) or any(b <= a for a, b in zip(levels, levels[1:])):
        raise InputError(f"image levels must be increasing numbers, got {levels}")
    return levels


def _image_dataset(name: str, x_tr, y_tr, x_te, y_te, shape, class_names, levels, notes) -> Dataset:
    from .datasets import Dataset
    c, h, w = shape
    feats = [f"{ch}_{r}_{col}" for ch in (("grey",) if c == 1 else "rgb"[:c] if c <= 3 else range(c))
             for r in range(h) for col in range(w)]
    schema = {"format": SCHEMA_FORMAT, "version": SCHEMA_VERSION, "images": {"shape": list(shape),
              "levels": _image_levels(c, levels)}, "class_names": list(class_names)}
    return Dataset(name, x_tr, y_tr, x_te, y_te, len(class_names), tuple(shape), list(class_names), feats,
                   notes=notes, schema=schema)


def _image_arrays(x, y, x_test, y_test, fraction, seed, class_names, name, levels) -> Dataset:
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[0] == 0 or x.shape[1] not in (1, 3):
        raise InputError(f"from_arrays: images must be (N, H, W) or (N, C, H, W) with C 1 or 3, got {x.shape}")
    shape = tuple(int(s) for s in x.shape[1:])
    flat = x.reshape(len(x), -1)
    xt = None if x_test is None else np.asarray(x_test).reshape(len(x_test), -1)
    if xt is not None and xt.shape[1] != flat.shape[1]:
        raise InputError(f"from_arrays: x_test images have {xt.shape[1]} values each, x {flat.shape[1]}")
    texts, test_texts, order = _label_texts(y, y_test, class_names, len(x), xt)
    y_all = _labels(texts, order, "y")
    if xt is not None:
        return _image_dataset(name, flat, y_all, xt, _labels(test_texts, order, "y_test"), shape, order, levels,
                              f"{len(flat)} training images, {len(xt)} test images (arrays)")
    tr, te = _split(y_all, fraction, seed, "arrays")
    return _image_dataset(name, flat[tr], y_all[tr], flat[te], y_all[te], shape, order, levels,
                          f"{len(flat)} images (arrays); test = stratified {fraction:.0%} hold-out, seed {seed}")


def _read_image_folder(root: Path, size, mode) -> tuple[list[str], list[tuple[Path, int]]]:
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; an image dataset is a folder with one sub-folder per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise InputError(f"{root}: found {len(classes)} class sub-folder(s); an image dataset needs one "
                         f"sub-folder per class (at least two), e.g. {root}/cat/1.png, {root}/dog/2.png")
    files = []
    for k, c in enumerate(classes):
        found = sorted(p for p in (root / c).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not found:
            raise InputError(f"{root / c}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        files += [(p, k) for p in found]
    return classes, files


def _load_images(files: list[tuple[Path, int]], size, mode) -> tuple[np.ndarray, np.ndarray, tuple]:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise InputError("reading images needs Pillow: pip install pillow") from None
    opened = []
    for p, _ in files:
        try:
            with Image.open(p) as im:
                im.load()
                opened.append(im.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise FileFormatError(f"{p}: not a readable image ({exc})") from None
    if mode is None:
        mode = "L" if all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in opened) else "RGB"
    if mode not in ("L", "RGB"):
        raise InputError(f"image mode must be 'L' (greyscale) or 'RGB', got {mode!r}")
    if size is None:
        w, h = opened[0].size
        odd = next((i for i, im in enumerate(opened) if im.size != (w, h)), None)
        if odd is not None:
            ow, oh = opened[odd].size
            raise InputError(f"{files[odd][0]} is {oh}x{ow} pixels but {files[0][0]} is {h}x{w}; give one size to "
                             f"resize every image to (--image-size H,W, or size=(H, W))")
    else:
        h, w = (int(v) for v in size)
    out = []
    for im in opened:
        im = im.convert(mode)
        if im.size != (w, h):
            im = im.resize((w, h), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    x = np.stack(out).reshape(len(out), -1)
    return x, np.array([k for _, k in files], dtype=np.int64), (1 if mode == "L" else 3, h, w)


def dataset_from_image_folder(root: str | os.PathLike, *, test: str | os.PathLike | None = None,
                              test_fraction: float = TEST_FRACTION, seed: int = 0, size: Sequence[int] | None = None,
                              mode: str | None = None, levels: Sequence[float] | None = None) -> Dataset:
    """A dataset from a folder of images with one sub-folder per class (see the module
    docstring). ``size``: (height, width) to resize every image to; ``mode``: ``"L"`` or
    ``"RGB"`` (default: greyscale when every image is); ``levels``: the thermometer thresholds."""
    root = Path(root)
    if size is not None and (len(size) != 2 or any(isinstance(v, bool) or int(v) != v or not 1 <= v <= 4096
                                                     for v in size)):
        raise InputError(f"image size must be (height, width), each in [1, 4096], got {list(size)}")
    classes, files = _read_image_folder(root, size, mode)
    x, y, shape = _load_images(files, size, mode)
    if test is not None:
        t_classes, t_files = _read_image_folder(Path(test), size, mode)
        if t_classes != classes:
            raise InputError(f"{test}: its class folders ({', '.join(t_classes)}) differ from {root}'s "
                             f"({', '.join(classes)})")
        xt, yt, t_shape = _load_images(t_files, size or shape[1:], "L" if shape[0] == 1 else "RGB")
        return _image_dataset(root.name, x, y, xt, yt, shape, classes, levels,
                              f"{len(x)} training images from {root.name}, {len(xt)} test images from "
                              f"{Path(test).name}")
    tr, te = _split(y, test_fraction, seed, str(root))
    return _image_dataset(root.name, x[tr], y[tr], x[te], y[te], shape, classes, levels,
                          f"{len(x)} images in {root.name}; test = stratified {test_fraction:.0%} hold-out, "
                          f"seed {seed}")


def image_encoder(schema: dict):
    """The thermometer encoder of an image dataset's schema: flat bits, pixel-major (a config's
    ``encoder`` option, e.g. ``{image = [1, 28, 28]}``, asks for image-shaped bits for
    convolutional layers)."""
    import torch

    from ..layers.encoders import ThresholdEncoder
    c, h, w = schema["images"]["shape"]
    levels = torch.tensor(schema["images"]["levels"], dtype=torch.float32)
    return ThresholdEncoder(c * h * w, len(levels), levels.expand(c * h * w, len(levels)))


def schema_encoder(schema: dict, x_train: np.ndarray):
    """The input encoder a dataset's schema describes, fitted to ``x_train``."""
    if "images" in schema:
        return image_encoder(schema)
    return Schema.from_dict(schema).make_encoder(x_train)
