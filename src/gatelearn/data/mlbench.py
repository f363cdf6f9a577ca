"""Many-class UCI tables from R's mlbench package (Debian: ``r-cran-mlbench``), read from its
``.rda`` files with the ``rdata`` package (``pip install rdata``, or ``gatelearn[uci]``).

=========  =================  =======  ======  ============================================
dataset    mlbench object     classes  rows    test part
=========  =================  =======  ======  ============================================
letter     LetterRecognition  26       20,000  the last 4,000 rows (UCI's documented split)
soybean    Soybean            19       683     seeded stratified 20% (``split_seed``)
vowel      Vowel              11       990     seeded stratified 20%
satellite  Satellite          6        6,435   the last 2,000 rows (UCI's sat.tst)
shuttle    Shuttle            7        58,000  the last 14,500 rows (UCI's shuttle.tst)
glass      Glass              6        214     seeded stratified 20%
vehicle    Vehicle            4        846     seeded stratified 20%
dna        DNA                3        3,186   the last 1,186 rows (StatLog's dna.test)
=========  =================  =======  ======  ============================================

Each table goes through the one path of your own tables (:func:`gatelearn.data.own.dataset_from_table`):
R factors are categorical columns (one-hot; a missing value, R's NA, becomes the category
``(missing)``), numbers are numeric columns with thermometer thresholds at the training quantiles
(``bits`` per column). So a run's schema reads raw records of these tables as it reads a CSV's.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import FileFormatError, InputError
from .own import NUMERIC_BITS, TEST_FRACTION, dataset_from_table
from .sources import locate


@dataclass(frozen=True)
class Table:
    obj: str                  # the R object (and file) name
    target: str               # the class column
    test_rows: int | None     # a fixed test part (the last rows), or None: a seeded split


TABLES = {
    "letter": Table("LetterRecognition", "lettr", 4_000),
    "soybean": Table("Soybean", "Class", None),
    "vowel": Table("Vowel", "Class", None),
    "satellite": Table("Satellite", "classes", 2_000),
    "shuttle": Table("Shuttle", "Class", 14_500),
    "glass": Table("Glass", "Type", None),
    "vehicle": Table("Vehicle", "Class", None),
    "dna": Table("DNA", "Class", 1_186),
}


def _read_rda(path: Path, obj: str):
    try:
        import rdata
    except ImportError:
        raise InputError(f"reading {path.name} (R's mlbench data) needs the rdata package: pip install rdata "
                         f"(or pip install 'gatelearn[uci]')") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # "Unknown encoding. Assumed ASCII.": the tables are ASCII
            frames = rdata.read_rda(str(path))
    except Exception as exc:   # rdata raises whatever its parser meets on a damaged file
        raise FileFormatError(f"{path}: not a readable R data file ({type(exc).__name__}: {exc})") from None
    if obj not in frames:
        raise FileFormatError(f"{path}: holds {', '.join(frames)}, not the table {obj!r}")
    return frames[obj]


def _text(value) -> str:
    """A cell as the text field a CSV would hold (missing values empty)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return "" if text in ("nan", "<NA>") else text


def load_mlbench(name: str, data_dir=None, download: bool = False, split_seed: int = 0,
                 bits: int = NUMERIC_BITS):
    table = TABLES[name]
    path = locate(name, data_dir, download)[f"{table.obj}.rda"]
    frame = _read_rda(path, table.obj)
    header = [str(c) for c in frame.columns]
    factors = [str(c) for c in frame.columns if str(frame[c].dtype) == "category"]
    rows = [[_text(v) for v in row] for row in frame.astype(object).itertuples(index=False, name=None)]
    return dataset_from_table(name, header, rows, table.target, str(path), test_rows=table.test_rows,
                              test_fraction=TEST_FRACTION, seed=split_seed, bits=bits, categorical=factors,
                              notes=f"R mlbench {table.obj}")
