"""Many-class data: the UCI tables of R's mlbench (Letter, ...) and the synthetic task."""
import numpy as np
import pytest

from gatelearn.cli.main import main
from gatelearn.data import load_dataset
from gatelearn.data.mlbench import TABLES
from gatelearn.data.own import Schema
from gatelearn.data.sources import MLBENCH_DIR
from gatelearn.data.synthetic import make_synthetic
from gatelearn.errors import FileFormatError, InputError

needs_mlbench = pytest.mark.skipif(not (MLBENCH_DIR / "LetterRecognition.rda").is_file(),
                                   reason="R's mlbench data (Debian r-cran-mlbench) not installed")


@needs_mlbench
def test_letter_and_the_other_tables_load_with_their_documented_splits():
    pytest.importorskip("rdata")
    letter = load_dataset("letter")
    assert letter.classes == 26 and letter.class_names[:3] == ["A", "B", "C"]
    assert (len(letter.y_train), len(letter.y_test)) == (16_000, 4_000)      # UCI's split: the last 4,000
    assert letter.feature_names[:2] == ["x.box", "y.box"] and letter.in_features == 16
    assert letter.make_encoder().out_features == 16 * 8                        # 8 thermometer bits per number
    shuttle = load_dataset("shuttle")
    # mlbench appends shuttle.tst to shuttle.trn: the test part has UCI's documented class counts
    counts = dict(zip(shuttle.class_names, np.bincount(shuttle.y_test).tolist()))
    assert counts == {"Bpv.Close": 4, "Bpv.Open": 2, "Bypass": 809, "Fpv.Close": 13, "Fpv.Open": 39,
                      "High": 2155, "Rad.Flow": 11478}
    soybean = load_dataset("soybean", split_seed=3)                           # no fixed split: seeded
    schema = Schema.from_dict(soybean.schema)
    assert soybean.classes == 19 and all(c["kind"] == "categorical" for c in schema.used)
    assert any("(missing)" in c["categories"] for c in schema.used)          # R's NA became a category
    with pytest.raises(InputError, match="split_seed applies only to datasets without an official test split"):
        load_dataset("letter", split_seed=1)
    assert set(TABLES) <= set(__import__("gatelearn.data", fromlist=["DATASETS"]).DATASETS)


def test_missing_mlbench_files_say_how_to_get_them(tmp_path, monkeypatch):
    from gatelearn.data import sources
    monkeypatch.setitem(sources.SYSTEM_DIRS, "vowel", [tmp_path / "nowhere"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileFormatError, match="apt-get install r-cran-mlbench"):
        load_dataset("vowel", data_dir=tmp_path)


def test_synthetic_task_is_seeded_and_learnable(tmp_path, capsys):
    a, b = make_synthetic(50), load_dataset("synthetic-50")
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert a.x_train.shape == (50 * 50, 256) and a.x_test.shape == (50 * 10, 256) and a.classes == 50
    assert set(np.unique(a.x_train)) == {0, 1} and np.bincount(a.y_train).tolist() == [50] * 50
    # about 10% of the bits differ from the class's majority pattern (its prototype)
    proto = np.stack([a.x_train[a.y_train == k].mean(0) > 0.5 for k in range(50)])
    flips = (a.x_test != proto[a.y_test]).mean()
    assert 0.08 < flips < 0.12
    assert make_synthetic(50, noise=0.0).x_test.tolist() == proto[make_synthetic(50).y_test].astype(np.uint8).tolist()
    with pytest.raises(InputError, match=r"classes must be in \[2, 10000\]"):
        load_dataset("synthetic-1")
    assert main(["train", "--preset", "synthetic-10", "--iterations", "300", "--out", str(tmp_path / "r"),
                 "--no-progress"]) == 0
    assert "hard test accuracy  100.00%" in capsys.readouterr().out


@needs_mlbench
def test_letter_preset_trains_and_predicts_raw_records(tmp_path, capsys):
    pytest.importorskip("rdata")
    run = tmp_path / "letter"
    assert main(["train", "--preset", "letter", "--iterations", "200", "--eval-every", "100", "--widths",
                 "520,520", "--out", str(run), "--no-progress"]) == 0
    ds = load_dataset("letter")
    header = ["lettr", *ds.feature_names]
    rows = [",".join([ds.class_names[y], *(str(int(v)) for v in x)]) for x, y in zip(ds.x_test[:50], ds.y_test[:50])]
    (tmp_path / "records.csv").write_text(",".join(header) + "\n" + "\n".join(rows) + "\n")
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "records.csv")]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 50 and set(names) <= set(ds.class_names)
