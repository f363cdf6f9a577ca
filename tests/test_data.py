"""Tests for gatelearn.data: real files (shared benchmark copies, Debian's Fashion-MNIST, the
bundled UCI sets), malformed files, the search order, and downloads (always faked: these tests
never touch the network)."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gatelearn.data import DATASETS, Dataset, load_dataset, readers, sources, stratified_split
from gatelearn.data.datasets import fit_quantile_thresholds
from gatelearn.errors import FileFormatError, GatelearnError, InputError
from gatelearn.layers.encoders import OneHotEncoder, TabularEncoder, ThresholdEncoder, encoder_from_spec

SHARED = Path(os.environ.get("GATELEARN_TEST_DATA")
              or Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets").resolve()
FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_shared = pytest.mark.skipif(not (SHARED / "mnist").is_dir(),
                                  reason=f"shared benchmark data not found at {SHARED} "
                                         f"(set GATELEARN_TEST_DATA to the datasets folder)")
needs_fashion = pytest.mark.skipif(not FASHION.is_dir(),
                                   reason=f"{FASHION} missing (apt-get install dataset-fashion-mnist)")


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


class NoNetwork:
    """Stand-in for sources.fetch_url: records what would have been downloaded, then fails."""

    def __init__(self):
        self.urls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        raise urllib.error.URLError("network disabled in tests")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every test: no network, an empty private cache, and no GATELEARN_DATA from the caller."""
    fake = NoNetwork()
    monkeypatch.setattr(sources, "fetch_url", fake)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("GATELEARN_DATA", raising=False)
    return fake


@pytest.fixture
def no_bundle(monkeypatch, tmp_path):
    """Hide the bundled UCI copies so 'missing data' paths can be reached for them."""
    empty = tmp_path / "no-bundle"
    empty.mkdir()
    monkeypatch.setattr(sources, "BUNDLED_DIR", empty)


# ------------------------------------------------------------------------- real: MNIST family

@pytest.fixture(scope="module")
def mnist():
    if not (SHARED / "mnist").is_dir():
        pytest.skip(f"shared MNIST not found at {SHARED / 'mnist'}")
    return load_dataset("mnist", data_dir=SHARED, download=False)


@pytest.fixture(scope="module")
def fashion():
    if not FASHION.is_dir():
        pytest.skip(f"{FASHION} missing (apt-get install dataset-fashion-mnist)")
    old = os.environ.pop("GATELEARN_DATA", None)  # module scope: the autouse fixture is not active yet
    try:
        return load_dataset("fashion-mnist", download=False)  # found via the system folder
    finally:
        if old is not None:
            os.environ["GATELEARN_DATA"] = old


@needs_shared
def test_mnist_files_match_published_md5():
    # From the shared README (the original LeCun files).
    expected = {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    assert {n: md5(SHARED / "mnist" / n) for n in expected} == expected
    # The loader's download table must agree, or a fresh download would be rejected.
    assert {f.name: f.md5 for f in sources.SOURCES["mnist"].files} == expected


def test_mnist_arrays(mnist):
    assert mnist.name == "mnist" and mnist.classes == 10 and mnist.image_shape == (1, 28, 28)
    assert mnist.x_train.shape == (60000, 784) and mnist.x_train.dtype == np.uint8
    assert mnist.x_test.shape == (10000, 784) and mnist.x_test.dtype == np.uint8
    assert mnist.y_train.dtype == np.int64 and mnist.y_test.dtype == np.int64
    assert np.bincount(mnist.y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.class_names == [str(d) for d in range(10)] and len(mnist.feature_names) == 784
    # The first training image is a 5 with ink in the middle rows and blank borders.
    assert mnist.y_train[0] == 5
    img = mnist.x_train[0].reshape(28, 28)
    assert img[0].max() == 0 and img[:, 0].max() == 0 and img[10:20].max() > 200


def test_mnist_encoder_is_round_of_x_over_255(mnist):
    enc = mnist.make_encoder()
    assert isinstance(enc, ThresholdEncoder) and enc.in_features == enc.out_features == 784
    x = mnist.x_test[:500]
    bits = enc(torch.as_tensor(x))
    assert bits.shape == (500, 784) and set(bits.unique().tolist()) == {0.0, 1.0}
    expected = np.round(x.astype(np.float64) / 255.0)  # the reference's eval rule
    assert np.array_equal(bits.numpy(), expected)
    assert np.array_equal(bits.numpy(), (x > 127).astype(np.float32))
    table = enc.bit_table()
    assert len(table) == 784 and set(table.op) == {"gt"} and np.all(table.value == 127.0)


@needs_fashion
def test_fashion_mnist_from_system_folder(fashion):
    assert fashion.x_train.shape == (60000, 784) and fashion.x_train.dtype == np.uint8
    assert fashion.x_test.shape == (10000, 784)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.class_names[0] == "T-shirt/top" and fashion.class_names[9] == "Ankle boot"
    enc = fashion.make_encoder()
    assert enc.out_features == 784
    bits = enc(torch.as_tensor(fashion.x_train[:200]))
    assert set(bits.unique().tolist()) == {0.0, 1.0}


@needs_fashion
def test_fashion_mnist_decompressed_bytes():
    # Debian re-compresses the files, so the .gz MD5s differ from upstream; these are the MD5s of
    # the decompressed IDX bytes as installed (which the package says match upstream exactly).
    expected = {"train-images-idx3-ubyte.gz": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "train-labels-idx1-ubyte.gz": "9018921c3c673c538a1fc5bad174d6f9",
                "t10k-images-idx3-ubyte.gz": "8181f5470baa50b63fa0f6fddb340f0a",
                "t10k-labels-idx1-ubyte.gz": "15d484375f8d13e6eb1aabb0c3f46965"}
    got = {n: hashlib.md5(gzip.decompress((FASHION / n).read_bytes())).hexdigest() for n in expected}
    assert got == expected


# --------------------------------------------------------------------------------- real: UCI

@pytest.fixture(scope="module")
def adult():
    return load_dataset("adult", download=False)  # the bundled copy


def test_bundled_files_are_unmodified_copies():
    b = sources.BUNDLED_DIR
    assert hashlib.md5(gzip.decompress((b / "adult/adult.data.gz").read_bytes())).hexdigest() == \
        "5d7c39d7b8804f071cdd1f2a7c460872"
    assert hashlib.md5(gzip.decompress((b / "adult/adult.test.gz").read_bytes())).hexdigest() == \
        "35238206dfdf7f1fe215bbb874adecdc"
    assert md5(b / "breast-cancer/breast-cancer.data") == "d887db31e2b99e39c4b7fc79d2f36a3a"
    for k in (1, 2, 3):
        for f in sources.SOURCES[f"monk{k}"].files:
            assert md5(b / "monks" / f.name) == f.md5, f.name


def test_adult_arrays(adult):
    assert adult.classes == 2 and adult.image_shape is None and adult.class_names == ["<=50K", ">50K"]
    # 32,561 / 16,281 rows minus those with a '?' (dropped, as in the paper's reference code).
    assert adult.x_train.shape == (30162, 12) and adult.x_test.shape == (15060, 12)
    assert adult.x_train.dtype == np.float32
    assert np.bincount(adult.y_train).tolist() == [22654, 7508]
    assert np.bincount(adult.y_test).tolist() == [11360, 3700]
    assert "fnlwgt" not in adult.feature_names and "education-num" not in adult.feature_names
    # First row of adult.data: 39, State-gov, ..., Bachelors, ..., 2174, 0, 40, United-States, <=50K
    row = dict(zip(adult.feature_names, adult.x_train[0].tolist()))
    assert row["age"] == 39 and row["capital-gain"] == 2174 and row["hours-per-week"] == 40
    assert adult.categories["workclass"][int(row["workclass"])] == "State-gov"
    assert adult.categories["education"][int(row["education"])] == "Bachelors"
    assert adult.y_train[0] == 0
    # Category codes are integral and inside their documented lists.
    for j, f in enumerate(adult.feature_names):
        if f in adult.categories:
            col = adult.x_train[:, j]
            assert np.all(col == np.round(col)) and col.min() >= 0 and col.max() < len(adult.categories[f])


@needs_shared
def test_adult_from_shared_folder_equals_bundle(adult):
    assert md5(SHARED / "adult/adult.data") == "5d7c39d7b8804f071cdd1f2a7c460872"
    assert md5(SHARED / "adult/adult.test") == "35238206dfdf7f1fe215bbb874adecdc"
    shared = load_dataset("adult", data_dir=SHARED, download=False)
    assert np.array_equal(shared.x_train, adult.x_train) and np.array_equal(shared.y_test, adult.y_test)


def test_adult_encoder_116_bits(adult):
    enc = adult.make_encoder()
    assert isinstance(enc, TabularEncoder) and enc.in_features == 12 and enc.out_features == 116
    bits = enc(torch.as_tensor(adult.x_test))
    assert bits.shape == (15060, 116) and set(bits.unique().tolist()) == {0.0, 1.0}
    # One-hot groups have exactly one bit set per row; thermometer groups are monotone.
    start = 0
    for f, sub in zip(adult.feature_names, enc.encoders):
        group = bits[:, start:start + sub.out_features]
        if isinstance(sub, OneHotEncoder):
            assert torch.all(group.sum(1) == 1), f
        else:
            t = sub.thresholds.flatten()
            assert torch.all(t[1:] > t[:-1]), f"{f} thresholds not strictly increasing: {t}"
            assert torch.all(group[:, 1:] <= group[:, :-1]), f
            # Every threshold bit varies on the training data (no wasted constant bit).
            train_bits = sub(torch.as_tensor(adult.x_train[:, adult.feature_names.index(f)][:, None]))
            assert torch.all((train_bits.mean(0) > 0) & (train_bits.mean(0) < 1)), f
        start += sub.out_features
    gain = enc.encoders[adult.feature_names.index("capital-gain")].thresholds.flatten()
    assert gain[0] == 0.0  # first capital-gain bit: any gain at all


def test_adult_encoder_survives_spec_and_state_dict(adult):
    # A saved model rebuilds its encoder from spec() and then loads the fitted thresholds.
    enc = adult.make_encoder()
    rebuilt = encoder_from_spec(enc.spec())
    rebuilt.load_state_dict(enc.state_dict())
    x = torch.as_tensor(adult.x_test[:300])
    assert torch.equal(rebuilt(x), enc(x))


def test_breast_cancer():
    ds = load_dataset("breast-cancer", download=False)
    # 286 rows, 9 with '?' dropped -> 277; the original 201 / 85 split loses 5 / 4 rows.
    assert len(ds.y_train) + len(ds.y_test) == 277
    assert len(ds.y_test) == 69  # round(0.25 * 277)
    assert (np.bincount(ds.y_train) + np.bincount(ds.y_test)).tolist() == [196, 81]
    assert np.bincount(ds.y_test).tolist() == [49, 20]  # stratified
    assert ds.x_train.shape[1] == 9 and ds.x_train.dtype == np.float32
    enc = ds.make_encoder()
    assert isinstance(enc, OneHotEncoder) and enc.out_features == 51
    bits = enc(torch.as_tensor(ds.x_train))
    assert set(bits.unique().tolist()) == {0.0, 1.0} and torch.all(bits.sum(1) == 9)
    # The split is fixed: loading twice gives identical arrays.
    again = load_dataset("breast-cancer", download=False)
    assert np.array_equal(again.x_test, ds.x_test) and np.array_equal(again.y_train, ds.y_train)


def test_breast_cancer_split_seed():
    default = load_dataset("breast-cancer", download=False)
    assert np.array_equal(load_dataset("breast-cancer", download=False, split_seed=0).x_test, default.x_test)
    other = load_dataset("breast-cancer", download=False, split_seed=1)
    # Another stratified 69-row hold-out of the same 277 rows: same sizes and class counts.
    assert len(other.y_test) == 69 and np.bincount(other.y_test).tolist() == [49, 20]
    assert not np.array_equal(other.x_test, default.x_test)
    def rows(d):
        return sorted(map(tuple, np.concatenate([d.x_train, d.x_test]).tolist()))
    assert rows(other) == rows(default)
    assert "seed 1" in other.notes
    with pytest.raises(InputError, match="mnist has one"):
        load_dataset("mnist", split_seed=1)
    for bad in (-1, 1.5, True):
        with pytest.raises(InputError, match="split_seed must be an integer"):
            load_dataset("breast-cancer", download=False, split_seed=bad)


def test_breast_cancer_reference_split():
    """split_seed='reference' is the paper's reference code's split: scikit-learn's
    train_test_split(test_size=0.25, random_state=0) over the 277 complete rows in file order.
    The indices below were computed once with scikit-learn 1.x (not a dependency)."""
    from gatelearn.data import readers
    from gatelearn.data.datasets import reference_split
    from gatelearn.data.sources import locate
    tr, te = reference_split(277, 0.25)
    assert len(te) == 70 and len(tr) == 207 and sorted(np.concatenate([tr, te]).tolist()) == list(range(277))
    assert te[:10].tolist() == [218, 225, 190, 15, 55, 198, 253, 81, 207, 268]
    assert tr[:5].tolist() == [217, 44, 210, 222, 213]
    x, y, _ = readers.read_breast_cancer(locate("breast-cancer", None, False)["breast-cancer.data"])
    ds = load_dataset("breast-cancer", download=False, split_seed="reference")
    assert np.array_equal(ds.x_test, x[te]) and np.array_equal(ds.y_train, y[tr])
    assert "reference code" in ds.notes
    with pytest.raises(InputError, match="or 'reference'"):
        load_dataset("breast-cancer", download=False, split_seed="paper")


@pytest.mark.parametrize("k,n_train,train_counts,test_counts", [
    (1, 124, [62, 62], [216, 216]), (2, 169, [105, 64], [290, 142]), (3, 122, [62, 60], [204, 228])])
def test_monks(k, n_train, train_counts, test_counts):
    ds = load_dataset(f"monk{k}", download=False)
    assert ds.x_train.shape == (n_train, 6) and ds.x_test.shape == (432, 6)
    assert np.bincount(ds.y_train).tolist() == train_counts
    assert np.bincount(ds.y_test).tolist() == test_counts
    enc = ds.make_encoder()
    assert enc.out_features == 17
    bits = enc(torch.as_tensor(ds.x_test))
    assert torch.all(bits.sum(1) == 6)
    # MONK-1's concept: (a1 == a2) or (a5 == 1); noise-free on the test set.
    if k == 1:
        x = ds.x_test
        assert np.array_equal(((x[:, 0] == x[:, 1]) | (x[:, 4] == 0)).astype(np.int64), ds.y_test)


@needs_shared
def test_monks_from_shared_folder():
    ds = load_dataset("monk2", data_dir=SHARED, download=False)
    assert ds.x_train.shape == (169, 6)
    for f in sources.SOURCES["monk2"].files:
        assert md5(SHARED / "monks" / f.name) == f.md5


# ---------------------------------------------------------------------- splits and thresholds

def test_validation_split(adult):
    x_tr, y_tr, x_val, y_val = adult.validation_split(0.1, seed=3)
    n = len(adult.y_train)
    assert len(y_val) == round(0.1 * n) and len(y_tr) + len(y_val) == n
    assert x_tr.shape[1] == x_val.shape[1] == 12
    # Stratified: class proportions match the full training part closely.
    assert abs(y_val.mean() - adult.y_train.mean()) < 1e-3
    again = adult.validation_split(0.1, seed=3)
    assert np.array_equal(again[3], y_val) and np.array_equal(again[2], x_val)
    other = adult.validation_split(0.1, seed=4)
    assert not np.array_equal(other[2], x_val)
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        adult.validation_split(1.0, seed=0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=200), st.floats(0.05, 0.95), st.integers(0, 2**31))
def test_stratified_split_partitions(labels, fraction, seed):
    y = np.array(labels)
    n_out = round(fraction * len(y))
    if n_out < 1 or n_out >= len(y):
        with pytest.raises(InputError, match="empty part"):
            stratified_split(y, fraction, seed)
        return
    kept, held = stratified_split(y, fraction, seed)
    assert len(held) == n_out
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(y)))
    for c in np.unique(y):  # each class contributes its proportional share, +-1
        assert abs((y[held] == c).sum() - (y == c).sum() * n_out / len(y)) < 1 + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=300), st.integers(1, 6))
def test_fit_quantile_thresholds(values, k):
    v = np.array(values, dtype=np.float64)
    distinct = np.unique(v)
    if len(distinct) < k + 1:
        with pytest.raises(InputError, match="distinct values"):
            fit_quantile_thresholds(v, k)
        return
    t = fit_quantile_thresholds(v, k)
    assert t.shape == (k,) and np.all(np.diff(t) > 0)
    assert t[0] > distinct[0] and t[-1] < distinct[-1]
    assert not np.isin(t, distinct).any()  # cut points lie strictly between data values


def test_fit_quantile_thresholds_on_uniform_data_hits_quantiles():
    t = fit_quantile_thresholds(np.arange(100), 3)
    assert t.tolist() == [24.5, 49.5, 74.5]


# -------------------------------------------------------------------------- malformed: IDX

def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes | None = None) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    if payload is None:
        payload = bytes(range(256)) * (int(np.prod(dims)) // 256 + 1)
        payload = payload[:int(np.prod(dims))]
    return header + payload


def write_idx_set(folder: Path, n_train=6, n_test=4, compress=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        img = idx_bytes(2051, (n, 28, 28), rng.integers(0, 256, n * 784, dtype=np.uint8).tobytes())
        lab = idx_bytes(2049, (n,), (np.arange(n) % 10).astype(np.uint8).tobytes())
        for name, data in ((f"{prefix}-images-idx3-ubyte", img), (f"{prefix}-labels-idx1-ubyte", lab)):
            if compress:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
    return folder


def test_idx_small_set_plain_and_gz(tmp_path):
    write_idx_set(tmp_path / "gz" / "mnist")
    write_idx_set(tmp_path / "plain", compress=False)  # files directly in data_dir, not gzipped
    a = load_dataset("mnist", data_dir=tmp_path / "gz", download=False)
    b = load_dataset("mnist", data_dir=tmp_path / "plain", download=False)
    assert a.x_train.shape == (6, 784) and a.x_test.shape == (4, 784)
    assert np.array_equal(a.x_train, b.x_train) and a.y_test.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("case,match", [
    ("swapped_magic", "magic number 2049, expected 2051"),
    ("truncated_data", "truncated IDX data"),
    ("trailing_bytes", "unexpected bytes after"),
    ("truncated_gzip", "corrupted or truncated gzip"),
    ("wrong_dims", r"images of shape \(28, 27\)"),
    ("short_header", "too short for an IDX header"),
])
def test_idx_malformed_images(tmp_path, case, match):
    folder = write_idx_set(tmp_path / "mnist")
    target = folder / "train-images-idx3-ubyte.gz"
    good = gzip.decompress(target.read_bytes())
    bad = {
        "swapped_magic": lambda: gzip.compress(idx_bytes(2049, (6, 28, 28))),
        "truncated_data": lambda: gzip.compress(good[:-100]),
        "trailing_bytes": lambda: gzip.compress(good + b"\0" * 7),
        "truncated_gzip": lambda: target.read_bytes()[:-20],  # an interrupted download
        "wrong_dims": lambda: gzip.compress(idx_bytes(2051, (6, 28, 27))),
        "short_header": lambda: gzip.compress(b"\0\0"),
    }[case]()
    target.write_bytes(bad)
    with pytest.raises(FileFormatError, match=match) as info:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert str(target) in str(info.value)


def test_idx_count_mismatch_and_bad_label(tmp_path):
    folder = write_idx_set(tmp_path / "mnist")
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(2049, (3,), bytes([0, 1, 2]))))
    with pytest.raises(FileFormatError, match="has 4 images but .* has 3 labels"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    labels.write_bytes(gzip.compress(idx_bytes(2049, (4,), bytes([0, 1, 12, 3]))))
    with pytest.raises(FileFormatError, match="label 12 out of range 0..9") as info:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert str(labels) in str(info.value)


# -------------------------------------------------------------------------- malformed: UCI

ADULT_ROW = ("39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
             "2174, 0, 40, United-States, <=50K")


def write_adult(folder: Path, train_rows: list[str], test_rows: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adult.data").write_text("\n".join(train_rows) + "\n\n")
    (folder / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(test_rows) + "\n")


def test_adult_small_file_parsing(tmp_path, no_bundle):
    rows = [ADULT_ROW, ADULT_ROW.replace("State-gov", "?"), ADULT_ROW.replace("<=50K", ">50K")]
    write_adult(tmp_path / "adult", rows, [ADULT_ROW + ".", ADULT_ROW.replace("<=50K", ">50K.")])
    ds = load_dataset("adult", data_dir=tmp_path, download=False)
    assert ds.y_train.tolist() == [0, 1] and ds.y_test.tolist() == [0, 1]  # '?' row dropped
    assert "1 train, 0 test" in ds.notes


@pytest.mark.parametrize("bad_row,match", [
    (ADULT_ROW.replace(", 40,", ","), "expected 15 comma-separated fields, got 14"),
    (ADULT_ROW.replace("39,", "thirty-nine,"), "column 'age' should be a number, got 'thirty-nine'"),
    (ADULT_ROW.replace("Bachelors", "Hogwarts"), "column 'education' has unknown category 'Hogwarts'"),
    (ADULT_ROW.replace("<=50K", "maybe"), "label 'maybe'"),
    ("\x00\x01garbage\xff", "not an ASCII text file|expected 15"),
])
def test_adult_garbage_rows(tmp_path, no_bundle, bad_row, match):
    write_adult(tmp_path / "adult", [ADULT_ROW, ADULT_ROW, bad_row], [ADULT_ROW + "."])
    with pytest.raises(FileFormatError, match=match) as info:
        load_dataset("adult", data_dir=tmp_path, download=False)
    assert str(tmp_path / "adult" / "adult.data") in str(info.value)


def test_adult_empty_file(tmp_path, no_bundle):
    write_adult(tmp_path / "adult", [ADULT_ROW], [])
    with pytest.raises(FileFormatError, match="adult.test: no data rows"):
        load_dataset("adult", data_dir=tmp_path, download=False)


def test_breast_cancer_garbage(tmp_path):
    good = "no-recurrence-events,30-39,premeno,30-34,0-2,no,3,left,left_low,no"
    path = tmp_path / "bc.data"
    path.write_text(good + "\n" + good.replace("30-34", "31-35") + "\n")
    with pytest.raises(FileFormatError, match=r"bc.data:2: attribute 'tumor-size' has unknown value '31-35'"):
        readers.read_breast_cancer(path)
    path.write_text("sometimes," + good.split(",", 1)[1] + "\n")
    with pytest.raises(FileFormatError, match=r"bc.data:1: class 'sometimes'"):
        readers.read_breast_cancer(path)
    path.write_text(good + ",extra\n")
    with pytest.raises(FileFormatError, match=r"expected 10 comma-separated fields \(class \+ 9 attributes\), got 11"):
        readers.read_breast_cancer(path)


def test_monk_garbage(tmp_path, no_bundle):
    folder = tmp_path / "monks"
    folder.mkdir()
    (folder / "monks-1.test").write_text(" 1 1 1 1 1 1 1 data_1\n")
    (folder / "monks-1.train").write_text(" 1 1 1 1 1 1 1 data_1\n 0 1 1 3 1 1 1 data_2\n")
    with pytest.raises(FileFormatError, match=r"monks-1.train:2: attribute a3 = 3, expected 1..2"):
        load_dataset("monk1", data_dir=tmp_path, download=False)
    (folder / "monks-1.train").write_text(" 1 1 1 1 1 1 data_1\n")
    with pytest.raises(FileFormatError, match=r"monks-1.train:1: expected 8 fields"):
        load_dataset("monk1", data_dir=tmp_path, download=False)
    (folder / "monks-1.train").write_text(" 2 1 1 1 1 1 1 data_1\n")
    with pytest.raises(FileFormatError, match=r"class 2, expected 0 or 1"):
        load_dataset("monk1", data_dir=tmp_path, download=False)


# -------------------------------------------------------------- search order and downloads

def test_missing_data_without_network_names_file_places_and_fix(tmp_path, offline):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileFormatError) as info:
        load_dataset("mnist", data_dir=empty, download=True)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(empty) in msg and str(empty / "mnist") in msg
    assert "network disabled in tests" in msg and "GATELEARN_DATA" in msg and "data_dir" in msg
    assert offline.urls and offline.urls[0].startswith("https://")
    assert not any((empty / "mnist").glob("*"))  # no partial file left behind


def test_missing_data_download_false_never_fetches(tmp_path, offline, no_bundle):
    with pytest.raises(FileFormatError, match="download=False") as info:
        load_dataset("adult", data_dir=tmp_path, download=False)
    assert "adult.data" in str(info.value) and offline.urls == []
    assert isinstance(info.value, GatelearnError)


def test_partial_folder_is_reported(tmp_path, no_bundle):
    (tmp_path / "monks").mkdir()
    (tmp_path / "monks" / "monks-1.train").write_text(" 1 1 1 1 1 1 1 data_1\n")
    with pytest.raises(FileFormatError, match=r"has only monks-1.train"):
        load_dataset("monk1", data_dir=tmp_path, download=False)


def test_gatelearn_data_env_takes_precedence_over_bundle(tmp_path, monkeypatch):
    folder = tmp_path / "mine" / "monks"
    folder.mkdir(parents=True)
    lines = (sources.BUNDLED_DIR / "monks" / "monks-3.train").read_text().splitlines()
    (folder / "monks-3.train").write_text("\n".join(lines[:10]) + "\n")
    (folder / "monks-3.test").write_text((sources.BUNDLED_DIR / "monks" / "monks-3.test").read_text())
    monkeypatch.setenv("GATELEARN_DATA", str(tmp_path / "mine"))
    assert load_dataset("monk3").x_train.shape == (10, 6)
    # An explicit data_dir beats the environment variable.
    assert load_dataset("monk3", data_dir=tmp_path / "nothing-here").x_train.shape == (122, 6)


def test_download_checks_md5_and_writes_into_cache(tmp_path, monkeypatch, no_bundle):
    bundled = Path(__file__).resolve().parents[1] / "src/gatelearn/data/bundled/monks"
    served = {f.url: (bundled / f.name).read_bytes() for f in sources.SOURCES["monk2"].files}
    monkeypatch.setattr(sources, "fetch_url", lambda url: served[url])
    ds = load_dataset("monk2", download=True)
    cache = tmp_path / "xdg-cache" / "gatelearn" / "monks"
    assert sorted(p.name for p in cache.iterdir()) == ["monks-2.test", "monks-2.train"]
    assert ds.x_train.shape == (169, 6)

    # A corrupted transfer is rejected and nothing is saved under the final name.
    url = sources.SOURCES["monk1"].files[0].url
    served[url] = served[sources.SOURCES["monk2"].files[0].url]  # wrong bytes for monks-1.train
    served.update({f.url: b"" for f in sources.SOURCES["monk1"].files[1:]})
    with pytest.raises(FileFormatError, match="has MD5 .* expected fc1fc3a673e00908325c67cf16283335"):
        load_dataset("monk1", download=True)
    assert not (cache / "monks-1.train").exists()


def test_unknown_dataset():
    with pytest.raises(InputError, match="unknown dataset 'svhn'; choose one of mnist, fashion-mnist"):
        load_dataset("svhn")
    assert set(DATASETS) == {"mnist", "fashion-mnist", "adult", "breast-cancer", "monk1", "monk2",
                             "monk3", "cifar10", "letter", "soybean", "vowel", "satellite", "shuttle",
                             "glass", "vehicle", "dna"}


# -------------------------------------------------------------------------------- CIFAR-10

def cifar_records(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, bytes]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    pixels[:, :4] = [0, 63, 64, 255]  # exercise the threshold edges on red row 0
    return labels, pixels, np.concatenate([labels[:, None], pixels], axis=1).tobytes()


def write_cifar(folder: Path, n: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate(readers.CIFAR_TRAIN_FILES + [readers.CIFAR_TEST_FILE]):
        labels, pixels, data = cifar_records(n, i)
        (folder / name).write_bytes(data)
        written[name] = (labels, pixels)
    return written


def test_cifar10_binary_layout(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-bin")
    ds = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert ds.x_train.shape == (50, 3072) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (10, 3072) and ds.image_shape == (3, 32, 32)
    assert ds.y_train.dtype == np.int64 and ds.classes == 10 and ds.class_names[0] == "airplane"
    # Batches are concatenated in order 1..5 and records keep their CHW byte order.
    assert np.array_equal(ds.x_train[10:20], written["data_batch_2.bin"][1])
    assert np.array_equal(ds.y_test, written["test_batch.bin"][0].astype(np.int64))
    assert ds.feature_names[0] == "r_0_0" and ds.feature_names[1024] == "g_0_0"

    enc = ds.make_encoder()
    assert isinstance(enc, ThresholdEncoder) and enc.out_features == 9216
    bits = enc(torch.as_tensor(ds.x_test)).reshape(10, 3072, 3)
    x = ds.x_test.astype(np.int64)
    expected = np.stack([x >= 64, x >= 128, x >= 192], axis=-1).astype(np.float32)
    assert np.array_equal(bits.numpy(), expected)
    assert bits[0, :4].tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0], [1, 1, 1]]


def test_cifar10_bad_sizes_and_labels(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar(folder)
    bad = folder / "data_batch_3.bin"
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(FileFormatError, match="30729 bytes is not a positive multiple of the 3073") as info:
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert str(bad) in str(info.value)
    labels, pixels, _ = cifar_records(2, 0)
    labels[1] = 57  # a CIFAR-100 fine label
    bad.write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())
    with pytest.raises(FileFormatError, match="record 1 has label 57"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_cifar10_pickle_layout_is_refused(tmp_path):
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    # Not a real pickle; it must never be opened as one.
    (py / "data_batch_1").write_bytes(b"\x80\x04 not read")
    with pytest.raises(FileFormatError, match="cifar-10-batches-py, which gatelearn does not read"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def make_cifar_tar(n: int = 3, evil: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        names = readers.CIFAR_TRAIN_FILES + [readers.CIFAR_TEST_FILE, "batches.meta.txt"]
        for i, name in enumerate(names):
            data = cifar_records(n, i)[2] if name.endswith(".bin") else b"airplane\n"
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if evil:  # a member that would escape the destination if extracted blindly
            info = tarfile.TarInfo("../../escaped.bin")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"bad"))
    return buf.getvalue()


def test_cifar10_download_extracts_only_batches(tmp_path, monkeypatch):
    archive = make_cifar_tar()
    src = sources.SOURCES["cifar10"]
    patched = dataclasses.replace(src, archive=dataclasses.replace(
        src.archive, md5=hashlib.md5(archive).hexdigest()))
    monkeypatch.setitem(sources.SOURCES, "cifar10", patched)
    monkeypatch.setattr(sources, "fetch_url", lambda url: archive)
    target = tmp_path / "dl"
    ds = load_dataset("cifar10", data_dir=target, download=True)
    assert ds.x_train.shape == (15, 3072) and ds.x_test.shape == (3, 3072)
    assert sorted(p.name for p in (target / "cifar-10-batches-bin").iterdir()) == \
        sorted(readers.CIFAR_TRAIN_FILES + [readers.CIFAR_TEST_FILE])
    assert not list(tmp_path.rglob("escaped.bin"))
    # The real archive checksum is still enforced: the official MD5 rejects our fake archive.
    monkeypatch.setitem(sources.SOURCES, "cifar10", src)
    with pytest.raises(FileFormatError, match="expected c32a1d4ab5d03f1284b67883e8d87530"):
        load_dataset("cifar10", data_dir=tmp_path / "dl2", download=True)


def test_dataset_contract_is_checked():
    x = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(InputError, match="labels outside 0..1"):
        Dataset("t", x, np.array([0, 1, 2]), x, np.array([0, 1, 1]), 2, None, ["a", "b"], ["f", "g"])
    with pytest.raises(InputError, match="y_train must be int64"):
        Dataset("t", x, np.array([0, 1, 1], dtype=np.int32), x, np.array([0, 1, 1]), 2, None, ["a", "b"], ["f", "g"])
