"""Raw feature files for ``gatelearn predict`` and ``gatelearn bench``: .npy, IDX (MNIST
format, optionally gzipped) and CSV. Nothing is unpickled."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import FileFormatError

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (e.g. t10k-images-idx3-ubyte, gzipped or not) as an array of its shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"{path}: cannot read IDX file: {exc}") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise FileFormatError(f"{path}: not an IDX file (bad magic number)")
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    dt = np.dtype(_IDX_TYPES[data[2]])
    need = int(np.prod(dims)) * dt.itemsize
    if len(data) - 4 - 4 * nd != need:
        raise FileFormatError(f"{path}: IDX header says {dims} but the file holds {len(data) - 4 - 4 * nd} data bytes")
    arr = np.frombuffer(data, dt, offset=4 + 4 * nd).reshape(dims)
    return arr.astype(arr.dtype.newbyteorder("=")) if dt.byteorder == ">" else arr


def read_features(path: str) -> np.ndarray:
    """Raw features as (N, features): images are flattened per sample."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"no input file at {p}")
    name = p.name.lower()
    if name.endswith(".npy"):
        try:
            x = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise FileFormatError(f"{p}: not a readable .npy array: {exc}") from exc
    elif name.endswith((".csv", ".txt")):
        try:
            x = np.loadtxt(p, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise FileFormatError(f"{p}: not a numeric CSV file: {exc}") from exc
    elif "idx" in name or name.endswith("-ubyte") or name.endswith("-ubyte.gz"):
        x = read_idx(p)
    else:
        raise FileFormatError(f"{p}: unknown input format; use .npy, .csv or an IDX file "
                              "(e.g. t10k-images-idx3-ubyte.gz)")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    return x.reshape(len(x), -1)
