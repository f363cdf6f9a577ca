"""``load_dataset``: the benchmark datasets as numpy arrays plus the paper's input encoding.

Encodings (``Dataset.make_encoder()``; all fitted on the training part only):

=============  ======  =====================================================================
dataset        bits    encoding
=============  ======  =====================================================================
mnist          784     ThresholdEncoder(784, 1), threshold 127: bit = pixel > 127, which is
fashion-mnist  784     round(pixel / 255) -- the one rule used for training, eval and circuits
cifar10        9216    ThresholdEncoder(3072, 3), thresholds 63.75 / 127.5 / 191.25 per channel
                       value: bit k = value/255 > (k+1)/4, i.e. value >= 64 / 128 / 192
adult          116     TabularEncoder: one-hot of the 8 categorical columns (99 documented
                       categories) + thermometer thresholds on age (5), capital-gain (3),
                       capital-loss (3), hours-per-week (6); see ``_adult_thresholds``
breast-cancer  51      one-hot of the 9 categorical attributes (documented categories)
monk1..3       17      one-hot of the 6 attributes (3+3+2+3+4+2)
=============  ======  =====================================================================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..layers.encoders import BitInput, OneHotEncoder, TabularEncoder, ThresholdEncoder
from . import mlbench, own, readers, synthetic
from .sources import locate

DATASETS = ("mnist", "fashion-mnist", "adult", "breast-cancer", "monk1", "monk2", "monk3", "cifar10",
            *mlbench.TABLES)
# and synthetic-C for any number of classes C (gatelearn.data.synthetic)

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]

# Pixel rule for (Fashion-)MNIST: the reference code trains on grey values, evaluates on
# x.round() and compiles with x > 0; we use one rule everywhere, round(x / 255) == (x > 127).
MNIST_THRESHOLD = 127.0
# CIFAR-10 thermometer: the reference's x > (k+1)/4 on x = value / 255, in raw byte units.
CIFAR_THRESHOLDS = [255 * (k + 1) / 4 for k in range(3)]
# Adult: bits per numeric column. The paper one-hot encodes fixed bins (age 5, capital-gain 3,
# capital-loss 3, hours-per-week 6 bins = 17 bits, 116 in all); we spend the same 17 bits on
# thermometer thresholds fitted to the training data, which keeps 116 bits while ordering the
# values (a thermometer over k thresholds separates k + 1 ranges).
ADULT_THRESHOLD_BITS = {"age": 5, "capital-gain": 3, "capital-loss": 3, "hours-per-week": 6}
# Breast Cancer has no official test split; the paper's reference holds out 25% (seeded). Ours
# is stratified by class with a fixed seed, so it is reproducible without scikit-learn. With
# 69 test rows one row is 1.45 points, so other seeds (``split_seed``) give the spread over splits.
BREAST_CANCER_TEST_FRACTION = 0.25
BREAST_CANCER_SPLIT_SEED = 0
# split_seed="reference": the reference code's own split, so a figure can be set beside the
# published one on the very same test rows. That code calls scikit-learn's
# train_test_split(test_size=0.25, random_state=0) on the rows left after dropping those with
# '?', which is NumPy's legacy RandomState(0) permutation of the rows with the first ceil(25%)
# held out (70 of 277 rows; not stratified).
REFERENCE_SPLIT = "reference"
# Datasets whose test part is a seeded hold-out of ours (the others ship an official test split).
SPLIT_SEEDED = ("breast-cancer", *(k for k, t in mlbench.TABLES.items() if t.test_rows is None))


@dataclass
class Dataset:
    """A dataset's train and test parts and how to turn them into bits.

    ``x`` arrays: uint8 (N, 784) for (Fashion-)MNIST, uint8 (N, 3072) channel-major (CHW) for
    CIFAR-10, float32 (N, columns) of raw numbers / integer category codes for tabular sets.
    ``y`` arrays: int64 in [0, classes). ``categories`` maps each categorical column name to its
    category labels (code = index); numeric columns are absent from it.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    image_shape: tuple[int, int, int] | None
    class_names: list[str]
    feature_names: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)
    notes: str = ""  # what the loader did beyond parsing (dropped rows, split), for reports
    # Your own data (gatelearn.data.own): how raw values become the model's features and bits,
    # as plain JSON data that rides in the run directory and the model file. None: a benchmark.
    schema: dict | None = None

    def __post_init__(self) -> None:
        # Loaders are the only producers, but a wrong dtype or label here would otherwise show up
        # as a confusing error inside training, so check the contract once.
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if x.ndim != 2 or x.shape[1] != len(self.feature_names):
                raise InputError(f"{self.name}: x_{part} has shape {x.shape}, expected "
                                 f"(N, {len(self.feature_names)})")
            if y.shape != (x.shape[0],) or y.dtype != np.int64:
                raise InputError(f"{self.name}: y_{part} must be int64 of shape ({x.shape[0]},), "
                                 f"got {y.dtype} {y.shape}")
            if y.size and (y.min() < 0 or y.max() >= self.classes):
                raise InputError(f"{self.name}: y_{part} has labels outside 0..{self.classes - 1}")
        if len(self.class_names) != self.classes:
            raise InputError(f"{self.name}: {len(self.class_names)} class names for {self.classes} classes")

    def __repr__(self) -> str:
        # The generated repr would print every feature name (3072 for CIFAR-10) and the arrays.
        return (f"Dataset({self.name!r}, train {self.x_train.shape} {self.x_train.dtype}, "
                f"test {self.x_test.shape}, classes={self.classes})")

    @property
    def in_features(self) -> int:
        return self.x_train.shape[1]

    from_csv = staticmethod(own.dataset_from_csv)
    from_arrays = staticmethod(own.dataset_from_arrays)
    from_image_folder = staticmethod(own.dataset_from_image_folder)

    def make_encoder(self) -> nn.Module:
        """The input encoding for this dataset, fitted on ``x_train``: the paper's for a
        benchmark (see module doc), the schema's for your own data (:mod:`gatelearn.data.own`)."""
        if self.schema is not None and self.schema.get("fit", True):
            return own.schema_encoder(self.schema, self.x_train)
        if synthetic.is_synthetic(self.name):
            return BitInput(self.in_features)
        if self.name in ("mnist", "fashion-mnist"):
            return ThresholdEncoder(self.in_features, 1, torch.full((self.in_features, 1), MNIST_THRESHOLD))
        if self.name == "cifar10":
            t = torch.tensor(CIFAR_THRESHOLDS).expand(self.in_features, len(CIFAR_THRESHOLDS))
            return ThresholdEncoder(self.in_features, len(CIFAR_THRESHOLDS), t)
        if self.name == "adult":
            return _adult_encoder(self)
        if self.categories and all(f in self.categories for f in self.feature_names):
            # Purely categorical sets (breast-cancer, monk1-3): one bit per documented category.
            return OneHotEncoder([len(self.categories[f]) for f in self.feature_names])
        raise InputError(f"no encoding defined for dataset {self.name!r}")

    def validation_split(self, fraction: float = 0.1, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(x_tr, y_tr, x_val, y_val): a seeded, class-stratified hold-out from the training part.

        ``round(fraction * N)`` rows go to validation, spread over the classes in proportion to
        their size; both parts keep the original row order. The test part is never touched.
        """
        train_idx, val_idx = stratified_split(self.y_train, fraction, seed, what=f"{self.name} validation split")
        return (self.x_train[train_idx], self.y_train[train_idx],
                self.x_train[val_idx], self.y_train[val_idx])


def reference_split(n: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) exactly as scikit-learn's ``train_test_split(range(n),
    test_size=fraction, random_state=seed)`` returns them (without needing scikit-learn)."""
    order = np.random.RandomState(seed).permutation(n)
    n_test = int(np.ceil(fraction * n))
    return order[n_test:], order[:n_test]


def stratified_split(y: np.ndarray, fraction: float, seed: int, what: str = "split"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out) with ``round(fraction * len(y))`` held out, stratified by class."""
    if not 0.0 < float(fraction) < 1.0:
        raise InputError(f"{what}: fraction must be strictly between 0 and 1, got {fraction}")
    n = len(y)
    n_out = int(round(fraction * n))
    if n_out < 1 or n_out >= n:
        raise InputError(f"{what}: fraction {fraction} of {n} rows leaves an empty part")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    # Largest-remainder allocation: per-class shares that add up to exactly n_out.
    share = counts * n_out / n
    take = np.floor(share).astype(np.int64)
    for i in np.argsort(-(share - take), kind="stable")[: n_out - int(take.sum())]:
        take[i] += 1
    held = [rng.permutation(np.flatnonzero(y == c))[:k] for c, k in zip(classes, take)]
    mask = np.zeros(n, dtype=bool)
    mask[np.concatenate(held)] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


# ----------------------------------------------------------------------------------- encoders

def fit_quantile_thresholds(values: np.ndarray, k: int, what: str = "column") -> np.ndarray:
    """``k`` strictly increasing thresholds splitting ``values`` as close to evenly as possible.

    Thresholds sit midway between consecutive distinct values, so ``x > t`` never depends on
    float rounding of a data value. Plain quantiles repeat a threshold when one value is very
    common (40 hours a week is 47% of Adult), which wastes bits on identical columns; instead we
    choose, by dynamic programming, the k distinct cut points whose cumulative fractions are
    nearest (summed absolute difference) to the target quantiles 1/(k+1) .. k/(k+1).
    """
    u, counts = np.unique(np.asarray(values, dtype=np.float64), return_counts=True)
    if len(u) < k + 1:
        raise InputError(f"{what}: {len(u)} distinct values cannot be split by {k} thresholds")
    cuts = (u[:-1] + u[1:]) / 2
    cdf = np.cumsum(counts)[:-1] / counts.sum()   # fraction of values below each cut
    targets = np.arange(1, k + 1) / (k + 1)
    cost = np.abs(cdf[None, :] - targets[:, None])  # (k, cuts)
    m = len(cuts)
    best = np.full((k, m), np.inf)
    back = np.zeros((k, m), dtype=np.int64)
    best[0] = cost[0]
    for i in range(1, k):
        # best[i, j] = cost[i, j] + min over j' < j of best[i-1, j']
        prefix_min = np.minimum.accumulate(best[i - 1])
        prefix_arg = np.zeros(m, dtype=np.int64)
        for j in range(1, m):
            prefix_arg[j] = prefix_arg[j - 1] if best[i - 1, prefix_arg[j - 1]] <= best[i - 1, j] else j
        best[i, 1:] = cost[i, 1:] + prefix_min[:-1]
        back[i, 1:] = prefix_arg[:-1]
    j = int(np.argmin(best[k - 1]))
    chosen = [j]
    for i in range(k - 1, 0, -1):
        j = int(back[i, j])
        chosen.append(j)
    return cuts[np.array(chosen[::-1])]


def _adult_thresholds(name: str, col: np.ndarray) -> np.ndarray:
    k = ADULT_THRESHOLD_BITS[name]
    if name in ("capital-gain", "capital-loss"):
        # About 92% (gain) / 95% (loss) of people report 0, so quantiles of the whole column are
        # all 0. First bit: any gain/loss at all (x > 0); the rest: quantiles of the nonzero amounts.
        rest = fit_quantile_thresholds(col[col > 0], k - 1, what=f"adult {name} (nonzero part)")
        return np.concatenate([[0.0], rest])
    return fit_quantile_thresholds(col, k, what=f"adult {name}")


def _adult_encoder(ds: Dataset) -> TabularEncoder:
    columns = []
    for f in ds.feature_names:
        if f in ds.categories:
            columns.append({"kind": "onehot", "categories": len(ds.categories[f])})
        else:
            columns.append({"kind": "thresholds", "per_feature": ADULT_THRESHOLD_BITS[f]})
    enc = TabularEncoder(columns)
    for j, (f, sub) in enumerate(zip(ds.feature_names, enc.encoders)):
        if isinstance(sub, ThresholdEncoder):
            t = _adult_thresholds(f, ds.x_train[:, j])
            sub.thresholds.copy_(torch.as_tensor(t, dtype=torch.float32).reshape(1, -1))
    return enc


# ------------------------------------------------------------------------------------ loaders

def _load_idx(name: str, data_dir, download: bool, class_names: list[str]) -> Dataset:
    p = locate(name, data_dir, download)
    x_tr, y_tr = readers.read_idx_pair(p["train-images-idx3-ubyte.gz"], p["train-labels-idx1-ubyte.gz"])
    x_te, y_te = readers.read_idx_pair(p["t10k-images-idx3-ubyte.gz"], p["t10k-labels-idx1-ubyte.gz"])
    return Dataset(name, x_tr, y_tr, x_te, y_te, 10, (1, 28, 28), list(class_names),
                   [f"pixel_{r}_{c}" for r in range(28) for c in range(28)])


def _load_adult(data_dir, download: bool) -> Dataset:
    p = locate("adult", data_dir, download)
    x_tr, y_tr, d_tr = readers.read_adult(p["adult.data"])
    x_te, y_te, d_te = readers.read_adult(p["adult.test"])
    cats = {f: list(readers.ADULT_CATEGORIES[f]) for f in readers.ADULT_FEATURES if f in readers.ADULT_CATEGORIES}
    # raw records (adult.data's 15 columns, or a CSV with these column names) for `predict`
    schema = own.benchmark_schema(readers.ADULT_COLUMNS, readers.ADULT_FEATURES, cats, x_tr, "income",
                                  readers.ADULT_CLASSES)
    return Dataset("adult", x_tr, y_tr, x_te, y_te, 2, None, list(readers.ADULT_CLASSES),
                   list(readers.ADULT_FEATURES), cats,
                   notes=f"dropped rows with missing values ('?'): {d_tr} train, {d_te} test; "
                         f"columns fnlwgt and education-num not used", schema=schema)


def _load_breast_cancer(data_dir, download: bool, split_seed: int | str) -> Dataset:
    p = locate("breast-cancer", data_dir, download)
    x, y, dropped = readers.read_breast_cancer(p["breast-cancer.data"])
    if split_seed == REFERENCE_SPLIT:
        tr, te = reference_split(len(y), BREAST_CANCER_TEST_FRACTION)
        split = f"the reference code's {BREAST_CANCER_TEST_FRACTION:.0%} hold-out (scikit-learn, random_state 0)"
    else:
        tr, te = stratified_split(y, BREAST_CANCER_TEST_FRACTION, split_seed, what="breast-cancer test split")
        split = f"stratified {BREAST_CANCER_TEST_FRACTION:.0%} hold-out, seed {split_seed}"
    cats = {k: list(v) for k, v in readers.BREAST_CANCER_CATEGORIES.items()}
    return Dataset("breast-cancer", x[tr], y[tr], x[te], y[te], 2, None, list(readers.BREAST_CANCER_CLASSES),
                   list(cats), cats,
                   notes=f"dropped {dropped} rows with missing values ('?'); test = {split}")


def _load_monk(k: int, data_dir, download: bool) -> Dataset:
    name = f"monk{k}"
    p = locate(name, data_dir, download)
    x_tr, y_tr = readers.read_monk(p[f"monks-{k}.train"])
    x_te, y_te = readers.read_monk(p[f"monks-{k}.test"])
    cats = {f: [str(v) for v in range(1, n + 1)] for f, n in zip(readers.MONK_FEATURES, readers.MONK_VALUES)}
    return Dataset(name, x_tr, y_tr, x_te, y_te, 2, None, ["0", "1"], list(readers.MONK_FEATURES), cats)


def _load_cifar10(data_dir, download: bool) -> Dataset:
    p = locate("cifar10", data_dir, download)
    parts = [readers.read_cifar_batch(p[n]) for n in readers.CIFAR_TRAIN_FILES]
    x_te, y_te = readers.read_cifar_batch(p[readers.CIFAR_TEST_FILE])
    x_tr = np.concatenate([x for x, _ in parts])
    y_tr = np.concatenate([y for _, y in parts])
    feats = [f"{ch}_{r}_{c}" for ch in "rgb" for r in range(32) for c in range(32)]
    return Dataset("cifar10", x_tr, y_tr, x_te, y_te, 10, (3, 32, 32), list(CIFAR_CLASSES), feats)


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, download: bool = True,
                 split_seed: int | str | None = None) -> Dataset:
    """Load dataset ``name`` (one of ``DATASETS``).

    Files are looked for in ``data_dir`` (else ``$GATELEARN_DATA``), the system copy, the copy
    bundled with the package and the download cache, then downloaded if ``download`` is true;
    see ``gatelearn.data.sources`` for the exact order and layout.

    ``split_seed`` picks another seeded train/test split for the datasets that have no official
    one (``SPLIT_SEEDED``); None keeps the default split; ``"reference"`` is the paper's reference
    code's split (``REFERENCE_SPLIT``). Other datasets reject it.
    """
    key = str(name).lower()
    if synthetic.is_synthetic(key):
        if split_seed is not None:
            raise InputError("split_seed does not apply to synthetic data (its test part is drawn separately)")
        return synthetic.load_synthetic(key)
    if key not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split_seed is not None:
        if key not in SPLIT_SEEDED:
            raise InputError(f"split_seed applies only to datasets without an official test split "
                             f"({', '.join(SPLIT_SEEDED)}); {key} has one")
        if split_seed != REFERENCE_SPLIT and (isinstance(split_seed, bool)
                                              or not isinstance(split_seed, (int, np.integer))
                                              or split_seed < 0):
            raise InputError(f"split_seed must be an integer >= 0 or {REFERENCE_SPLIT!r}, got {split_seed!r}")
    if key == "mnist":
        return _load_idx("mnist", data_dir, download, MNIST_CLASSES)
    if key == "fashion-mnist":
        return _load_idx("fashion-mnist", data_dir, download, FASHION_CLASSES)
    if key == "adult":
        return _load_adult(data_dir, download)
    if key == "breast-cancer":
        return _load_breast_cancer(data_dir, download, BREAST_CANCER_SPLIT_SEED if split_seed is None
                                   else split_seed if split_seed == REFERENCE_SPLIT else int(split_seed))
    if key.startswith("monk"):
        return _load_monk(int(key[-1]), data_dir, download)
    if key in mlbench.TABLES:
        return mlbench.load_mlbench(key, data_dir, split_seed=int(split_seed or 0))
    return _load_cifar10(data_dir, download)
