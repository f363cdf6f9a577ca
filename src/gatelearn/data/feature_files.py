"""Raw feature files for ``gatelearn predict`` and ``gatelearn bench``: .npy, IDX (MNIST
format, optionally gzipped) and CSV. Nothing is unpickled.

Whatever the format, :func:`read_features` returns a non-empty numeric table (N >= 1 rows, one
per sample) or raises one :class:`FileFormatError` line naming the file and what is wrong with
it. Sizes stated in a header (.npy shape, IDX dimensions) are checked against the file's size
before anything is allocated, so a damaged header is an error, not an out-of-memory crash."""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..errors import FileFormatError
from .readers import read_bytes

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# bool, signed and unsigned integers, floats: what a feature value can be
_NUMERIC_KINDS = "biuf"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (e.g. t10k-images-idx3-ubyte, gzipped or not) as an array of its shape."""
    path = Path(path)
    data = read_bytes(path)   # gunzipped when it is gzip data; FileFormatError when it cannot be
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise FileFormatError(f"{path}: not an IDX file (bad magic number)")
    nd = data[3]
    if nd == 0:
        raise FileFormatError(f"{path}: IDX file with 0 dimensions; expected (N, ...): one entry per sample")
    header = 4 + 4 * nd
    if len(data) < header:
        raise FileFormatError(f"{path}: truncated IDX header ({len(data)} bytes, {nd} dimensions need {header})")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    dt = np.dtype(_IDX_TYPES[data[2]])
    need = math.prod(dims) * dt.itemsize   # a Python int: no overflow, whatever the dimensions
    if len(data) - header != need:
        raise FileFormatError(f"{path}: IDX header says shape {tuple(dims)} ({need} data bytes) but the file "
                              f"holds {len(data) - header} data bytes")
    arr = np.frombuffer(data, dt, offset=header).reshape(dims)
    return arr.astype(arr.dtype.newbyteorder("=")) if dt.byteorder == ">" else arr


def read_npy(path: Path) -> np.ndarray:
    """A .npy file's array, its header checked against the file's size first (no pickles)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is not None:
                shape, _, dtype = read_header(fh)
                have = path.stat().st_size - fh.tell()
                need = math.prod(shape) * dtype.itemsize
                if not dtype.hasobject and need > have:
                    raise FileFormatError(f"{path}: .npy header says shape {shape} of {dtype} ({need} bytes) but "
                                          f"the file holds {have} data bytes (truncated?)")
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{path}: not a .npy array: {_one_line(exc)}") from exc
    if not isinstance(x, np.ndarray):   # an .npz archive under a .npy name
        raise FileFormatError(f"{path}: not a .npy array (a .npz archive?); save one array with numpy.save")
    return x


def read_csv(path: Path) -> np.ndarray:
    """A comma-separated table of numbers, one row per sample (gzipped or not)."""
    path = Path(path)
    try:
        text = read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path}: not a text file (byte {exc.start} is not UTF-8)") from None
    if not text.strip():
        raise FileFormatError(f"{path}: holds no samples (an empty CSV file); expected one row of numbers per sample")
    try:
        with warnings.catch_warnings():   # numpy warns (on stderr) about rows it skips; refused below if none
            warnings.simplefilter("ignore")
            return np.loadtxt(text.splitlines(), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise FileFormatError(f"{path}: not a numeric CSV file: {_one_line(exc)}") from exc


def read_features(path: str) -> np.ndarray:
    """Raw features as (N, features), N >= 1: images are flattened per sample, a 1-d array is one
    sample. FileFormatError, naming the file, for anything else."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"no input file at {p}")
    if p.is_dir():
        raise FileFormatError(f"{p} is a folder; expected an input file (.npy, .csv or IDX)")
    name = p.name.lower()
    if name.endswith(".npy"):
        x = read_npy(p)
    elif name.endswith((".csv", ".txt")):
        x = read_csv(p)
    elif "idx" in name or name.endswith("-ubyte") or name.endswith("-ubyte.gz"):
        x = read_idx(p)
    else:
        raise FileFormatError(f"{p}: unknown input format; use .npy, .csv or an IDX file "
                              "(e.g. t10k-images-idx3-ubyte.gz)")
    return _as_table(p, x)


def _as_table(p: Path, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in _NUMERIC_KINDS:
        kind = x.dtype.name if x.dtype.fields is None else "record"
        raise FileFormatError(f"{p}: holds {kind} values (numpy dtype {x.dtype.str!r}); expected numbers "
                              f"(integers or floats)")
    if x.ndim == 0:
        raise FileFormatError(f"{p}: holds a single value (a 0-d array); expected (N, features): one row per sample")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.shape[0] == 0:
        raise FileFormatError(f"{p}: holds no samples (shape {x.shape}); expected at least one row")
    x = x.reshape(len(x), -1)
    if x.shape[1] == 0:
        raise FileFormatError(f"{p}: its rows hold no features (shape {x.shape})")
    return x


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
