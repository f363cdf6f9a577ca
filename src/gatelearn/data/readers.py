"""Parsers for the raw dataset files: IDX (MNIST, Fashion-MNIST), UCI Adult, UCI Breast Cancer
(Ljubljana), MONK's problems and the CIFAR-10 binary layout.

Every parser takes a path and returns numpy arrays; every problem raises ``FileFormatError``
naming the file (and the line/record/value where it applies), because a bad download or a
hand-edited file otherwise surfaces much later as a shape error deep inside training.

Files may be plain or gzip-compressed; compression is detected from the gzip magic bytes, not
the file name, so ``adult.data.gz`` and a ``train-images-idx3-ubyte`` that someone unpacked both
work. Nothing here ever unpickles data.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import FileFormatError

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """The file's contents, gunzipped if it is gzip data (whatever its name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"cannot read {path}: {exc}") from exc
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        # EOFError: the gzip stream was cut short (interrupted download); BadGzipFile
        # (an OSError) / zlib.error: corrupted bytes or a failed CRC check.
        raise FileFormatError(f"{path}: corrupted or truncated gzip data ({exc}); "
                              f"delete the file and supply it again") from exc


def read_text(path: str | Path) -> str:
    data = read_bytes(path)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        # The UCI files are plain ASCII; anything else means a binary or wrong file.
        raise FileFormatError(f"{path}: not an ASCII text file (byte {exc.start}: "
                              f"{data[exc.start:exc.start + 1]!r})") from exc


# --------------------------------------------------------------------------------------- IDX

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte data, 3 dimensions (count, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte data, 1 dimension (count)


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes and return it as a uint8 array of its stated shape.

    ``magic`` is the expected magic number (2051 images, 2049 labels); a mismatch usually means
    the image and label files were swapped or the file is not IDX at all.
    """
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4:
        raise FileFormatError(f"{path}: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kinds = {IDX_IMAGES_MAGIC: "images", IDX_LABELS_MAGIC: "labels"}
        raise FileFormatError(f"{path}: IDX magic number {found}, expected {magic} "
                              f"({kinds.get(magic, 'IDX')} file); wrong or corrupted file")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FileFormatError(f"{path}: truncated IDX header ({len(data)} bytes, need {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) < expected:
        raise FileFormatError(f"{path}: truncated IDX data: header says shape {dims} "
                              f"({expected} bytes in all), file has {len(data)} bytes")
    if len(data) > expected:
        raise FileFormatError(f"{path}: {len(data) - expected} unexpected bytes after the "
                              f"IDX data of shape {dims}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_pair(images_path: str | Path, labels_path: str | Path, rows: int = 28, cols: int = 28,
                  classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images flattened to (N, rows*cols) uint8 and labels as int64, with the pair checked."""
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if images.shape[1:] != (rows, cols):
        raise FileFormatError(f"{images_path}: images of shape {images.shape[1:]}, expected "
                              f"({rows}, {cols})")
    if images.shape[0] != labels.shape[0]:
        raise FileFormatError(f"{images_path} has {images.shape[0]} images but {labels_path} has "
                              f"{labels.shape[0]} labels")
    if labels.size and int(labels.max()) >= classes:
        raise FileFormatError(f"{labels_path}: label {int(labels.max())} out of range 0..{classes - 1}")
    return images.reshape(images.shape[0], rows * cols).copy(), labels.astype(np.int64)


# ------------------------------------------------------------------------------- UCI Adult

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
                 "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
                 "hours-per-week", "native-country"]

# Category lists in the order of adult.names, so codes do not depend on which values happen to
# occur in a file (Never-worked never survives the removal of rows with missing values, and
# Holand-Netherlands occurs only once, in adult.data).
ADULT_CATEGORIES = {
    "workclass": ["Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov",
                  "State-gov", "Without-pay", "Never-worked"],
    "education": ["Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Assoc-acdm",
                  "Assoc-voc", "9th", "7th-8th", "12th", "Masters", "1st-4th", "10th", "Doctorate",
                  "5th-6th", "Preschool"],
    "marital-status": ["Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed",
                       "Married-spouse-absent", "Married-AF-spouse"],
    "occupation": ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
                   "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
                   "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
                   "Armed-Forces"],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"],
    "sex": ["Female", "Male"],
    "native-country": ["United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany",
                       "Outlying-US(Guam-USVI-etc)", "India", "Japan", "Greece", "South", "China",
                       "Cuba", "Iran", "Honduras", "Philippines", "Italy", "Poland", "Jamaica",
                       "Vietnam", "Mexico", "Portugal", "Ireland", "France", "Dominican-Republic",
                       "Laos", "Ecuador", "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala",
                       "Nicaragua", "Scotland", "Thailand", "Yugoslavia", "El-Salvador",
                       "Trinadad&Tobago", "Peru", "Hong", "Holand-Netherlands"],
}
# The paper's encoding ignores fnlwgt (a census sampling weight, not a property of the person)
# and education-num (a one-to-one recoding of education), so the loader drops them: the 12
# columns kept are what the 116-bit encoding reads.
ADULT_FEATURES = [c for c in ADULT_COLUMNS if c not in ("fnlwgt", "education-num")]
ADULT_CLASSES = ["<=50K", ">50K"]


def read_adult(path: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Parse adult.data or adult.test: (x float32 (N, 12), y int64, rows dropped for '?').

    Numbers stay raw floats; categories become codes into ``ADULT_CATEGORIES``. Rows with a
    missing value ('?', in workclass, occupation or native-country) are dropped, as the paper's
    reference code does: that keeps the documented 99 category bits and gives the usual
    30,162 / 15,060 rows. adult.test's first line ('|1x3 Cross validator') and the '.' after its
    labels are handled.
    """
    path = Path(path)
    keep = [ADULT_COLUMNS.index(c) for c in ADULT_FEATURES]
    rows: list[list[float]] = []
    labels: list[int] = []
    dropped = 0
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("|"):  # blank lines and adult.test's '|1x3 ...' header
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(ADULT_COLUMNS) + 1:
            raise FileFormatError(f"{path}:{lineno}: expected {len(ADULT_COLUMNS) + 1} "
                                  f"comma-separated fields, got {len(fields)}: {line[:80]!r}")
        label = fields[-1].rstrip(".")  # adult.test writes '<=50K.' and '>50K.'
        if label not in ADULT_CLASSES:
            raise FileFormatError(f"{path}:{lineno}: label {fields[-1]!r}, expected one of "
                                  f"{ADULT_CLASSES} (optionally followed by '.')")
        if "?" in fields:
            dropped += 1
            continue
        row = []
        for j in keep:
            name, value = ADULT_COLUMNS[j], fields[j]
            if name in ADULT_CATEGORIES:
                try:
                    row.append(float(ADULT_CATEGORIES[name].index(value)))
                except ValueError:
                    raise FileFormatError(f"{path}:{lineno}: column {name!r} has unknown "
                                          f"category {value!r}") from None
            else:
                try:
                    row.append(float(value))
                except ValueError:
                    raise FileFormatError(f"{path}:{lineno}: column {name!r} should be a number, "
                                          f"got {value!r}") from None
        rows.append(row)
        labels.append(ADULT_CLASSES.index(label))
    if not rows:
        raise FileFormatError(f"{path}: no data rows found")
    return (np.asarray(rows, dtype=np.float32).reshape(len(rows), len(ADULT_FEATURES)),
            np.asarray(labels, dtype=np.int64), dropped)


# ---------------------------------------------------------------- UCI Breast Cancer (Ljubljana)

BREAST_CANCER_CATEGORIES = {
    "age": ["10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-99"],
    "menopause": ["lt40", "ge40", "premeno"],
    "tumor-size": ["0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44",
                   "45-49", "50-54", "55-59"],
    "inv-nodes": ["0-2", "3-5", "6-8", "9-11", "12-14", "15-17", "18-20", "21-23", "24-26",
                  "27-29", "30-32", "33-35", "36-39"],
    "node-caps": ["yes", "no"],
    "deg-malig": ["1", "2", "3"],
    "breast": ["left", "right"],
    # breast-cancer.names writes 'left-up' etc.; the data file itself uses underscores.
    "breast-quad": ["left_up", "left_low", "right_up", "right_low", "central"],
    "irradiat": ["yes", "no"],
}
BREAST_CANCER_CLASSES = ["no-recurrence-events", "recurrence-events"]


def read_breast_cancer(path: str | Path) -> tuple[np.ndarray, np.ndarray, int]:
    """Parse breast-cancer.data: (x float32 (N, 9) category codes, y int64, rows dropped).

    The class is the first column. The 9 rows with a missing value ('?' in node-caps or
    breast-quad) are dropped, as in the paper's reference code: the one-hot encoding then has
    exactly the 51 documented category bits (a '?' category would make it 53).
    """
    path = Path(path)
    names = list(BREAST_CANCER_CATEGORIES)
    rows, labels, dropped = [], [], 0
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(names) + 1:
            raise FileFormatError(f"{path}:{lineno}: expected {len(names) + 1} comma-separated "
                                  f"fields (class + 9 attributes), got {len(fields)}: {line[:80]!r}")
        if fields[0] not in BREAST_CANCER_CLASSES:
            raise FileFormatError(f"{path}:{lineno}: class {fields[0]!r}, expected one of "
                                  f"{BREAST_CANCER_CLASSES}")
        if "?" in fields:
            dropped += 1
            continue
        row = []
        for name, value in zip(names, fields[1:]):
            if value not in BREAST_CANCER_CATEGORIES[name]:
                raise FileFormatError(f"{path}:{lineno}: attribute {name!r} has unknown value "
                                      f"{value!r}; expected one of {BREAST_CANCER_CATEGORIES[name]}")
            row.append(float(BREAST_CANCER_CATEGORIES[name].index(value)))
        rows.append(row)
        labels.append(BREAST_CANCER_CLASSES.index(fields[0]))
    if not rows:
        raise FileFormatError(f"{path}: no data rows found")
    return np.asarray(rows, dtype=np.float32), np.asarray(labels, dtype=np.int64), dropped


# ----------------------------------------------------------------------------- MONK's problems

MONK_VALUES = [3, 3, 2, 3, 4, 2]  # values per attribute a1..a6 (each coded 1..n in the files)
MONK_FEATURES = [f"a{i}" for i in range(1, 7)]


def read_monk(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a monks-N.train/test file: (x float32 (N, 6) codes 0..n-1, y int64 in {0, 1}).

    Each line is 'class a1 a2 a3 a4 a5 a6 id' separated by blanks.
    """
    path = Path(path)
    rows, labels = [], []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 8:
            raise FileFormatError(f"{path}:{lineno}: expected 8 fields (class, a1..a6, id), "
                                  f"got {len(fields)}: {line.strip()[:80]!r}")
        try:
            values = [int(f) for f in fields[:7]]
        except ValueError:
            raise FileFormatError(f"{path}:{lineno}: class and attributes must be integers, got "
                                  f"{fields[:7]}") from None
        if values[0] not in (0, 1):
            raise FileFormatError(f"{path}:{lineno}: class {values[0]}, expected 0 or 1")
        for i, (v, n) in enumerate(zip(values[1:], MONK_VALUES)):
            if not 1 <= v <= n:
                raise FileFormatError(f"{path}:{lineno}: attribute a{i + 1} = {v}, expected 1..{n}")
        rows.append([float(v - 1) for v in values[1:]])
        labels.append(values[0])
    if not rows:
        raise FileFormatError(f"{path}: no data rows found")
    return np.asarray(rows, dtype=np.float32), np.asarray(labels, dtype=np.int64)


# ------------------------------------------------------------------------- CIFAR-10 (binary)

CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then the 1024 red, 1024 green, 1024 blue bytes
CIFAR_TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
CIFAR_TEST_FILE = "test_batch.bin"


def read_cifar_batch(path: str | Path, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the ``cifar-10-batches-bin`` layout: (x uint8 (N, 3072) CHW, y int64)."""
    path = Path(path)
    data = read_bytes(path)
    if len(data) == 0 or len(data) % CIFAR_RECORD:
        raise FileFormatError(f"{path}: {len(data)} bytes is not a positive multiple of the "
                              f"{CIFAR_RECORD}-byte CIFAR-10 record (1 label + 3072 pixels); "
                              f"truncated or not a cifar-10-batches-bin file")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if int(labels.max()) >= classes:
        bad = int(np.argmax(labels >= classes))
        raise FileFormatError(f"{path}: record {bad} has label {int(labels[bad])}, expected "
                              f"0..{classes - 1} (CIFAR-100 file, or a corrupted one?)")
    return records[:, 1:].copy(), labels
