"""Your own data: tables (CSV, arrays) and image folders as datasets, the schema that rides in the
run and the model file, records through `predict` / `encode`, and sizing for a gate budget."""
import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import gatelearn as gl
from gatelearn.cli.main import main
from gatelearn.data import Dataset
from gatelearn.data.own import MISSING, Schema
from gatelearn.errors import FileFormatError, InputError
from gatelearn.training import make_config
from gatelearn.training.sizing import auto_tau, layers_for_budget, resolve

ROOT = Path(__file__).resolve().parents[1]


def write_table(path: Path, n: int = 300, seed: int = 0, missing: bool = True) -> Path:
    """A small labelled table: a numeric and a categorical column that decide the label, a noise
    column, an identifier column, and (optionally) missing values in both kinds."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        age = int(rng.integers(18, 80))
        colour = str(rng.choice(["red", "blue", "green"]))
        label = "yes" if (age > 45) != (colour == "red") else "no"
        rows.append([
            "" if missing and i % 23 == 5 else str(age),
            "?" if missing and i % 29 == 7 else colour,
            f"{rng.normal(50, 10):.2f}",
            f"id-{i}",
            label,
        ])
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["age", "colour", "income", "id", "label"])
        w.writerows(rows)
    return path


def test_csv_schema_is_inferred_and_encodes_like_training(tmp_path):
    ds = Dataset.from_csv(write_table(tmp_path / "t.csv"), target="label")
    schema = Schema.from_dict(ds.schema)
    kinds = {c["name"]: c["kind"] for c in schema.columns}
    assert kinds == {"age": "numeric", "colour": "categorical", "income": "numeric", "id": "ignore"}
    assert schema.class_names == ds.class_names == ["no", "yes"]
    colour = next(c for c in schema.columns if c["name"] == "colour")
    assert colour["categories"] == ["blue", "green", "red", MISSING]   # missing values became a category
    age = next(c for c in schema.columns if c["name"] == "age")
    assert age["missing"] == 13 and 18 <= age["fill"] <= 80            # missing ages take the median
    assert ds.feature_names == ["age", "colour", "income"]
    assert len(ds.y_train) == 240 and len(ds.y_test) == 60               # seeded 20% hold-out
    # the encoder: 8 thermometer bits per numeric column, one-hot for the categories
    enc = ds.make_encoder()
    assert enc.out_features == 8 + 4 + 8
    # records go through the same encoding as training: a missing age is the median, "?" the category
    x = schema.encode_table(["label", "colour", "age", "income"],
                            [["yes", "?", "", "1"], ["no", "red", "30", "2"]], "r")
    assert x.tolist() == [[age["fill"], 3.0, 1.0], [30.0, 2.0, 2.0]]
    # and names what it refuses: the row, the column, the value
    with pytest.raises(InputError, match=r"row 1, column 'colour': category 'purple', which training never saw"):
        schema.encode_table(["age", "colour", "income"], [["3", "purple", "1"]], "r")
    with pytest.raises(InputError, match=r"row 2, column 'age': 'old' is not a number"):
        schema.encode_table(["age", "colour", "income"], [["3", "red", "1"], ["old", "red", "1"]], "r")
    with pytest.raises(InputError, match=r"r: no column 'income'"):
        schema.encode_table(["age", "colour"], [["3", "red"]], "r")


def test_csv_overrides_test_file_and_bad_tables(tmp_path):
    table = write_table(tmp_path / "t.csv", missing=False)
    test = write_table(tmp_path / "test.csv", n=50, seed=1, missing=False)
    ds = Dataset.from_csv(table, target="label", test=test,
                          columns={"age": {"kind": "numeric", "bits": 3}, "income": "ignore", "id": "ignore"})
    assert ds.feature_names == ["age", "colour"] and len(ds.y_test) == 50
    assert ds.make_encoder().out_features == 3 + 3          # no missing colours: no (missing) category
    # a missing value in a column that had none in training is refused, not guessed
    with pytest.raises(InputError, match="a missing value, which training never saw"):
        Schema.from_dict(ds.schema).encode_table(["age", "colour"], [["30", ""]], "r")
    (tmp_path / "ragged.csv").write_text("a,b,label\n1,2,x\n1,y\n")
    with pytest.raises(FileFormatError, match="line 3 has 2 fields, the header 3"):
        Dataset.from_csv(tmp_path / "ragged.csv")
    (tmp_path / "nolabel.csv").write_text("a,label\n1,x\n2,\n3,y\n")
    with pytest.raises(InputError, match="row 2 has no value in the target column 'label'"):
        Dataset.from_csv(tmp_path / "nolabel.csv", target="label")
    with pytest.raises(InputError, match="no column 'klass' to predict"):
        Dataset.from_csv(table, target="klass")
    with pytest.raises(InputError, match="columns: no column named 'agee'"):
        Dataset.from_csv(table, target="label", columns={"agee": "numeric"})
    with pytest.raises(InputError, match="column 'colour' is declared numeric but holds '(red|blue|green)'"):
        Dataset.from_csv(table, target="label", columns={"colour": "numeric"})


def test_arrays_tabular_and_images():
    rng = np.random.default_rng(0)
    x = np.c_[rng.normal(size=200), rng.integers(0, 3, 200)]
    x[5, 0] = np.nan
    y = (x[:, 1] == 1).astype(int)
    ds = Dataset.from_arrays(x, y, class_names=["other", "one"], categorical=[1], feature_names=["v", "k"])
    assert ds.class_names == ["other", "one"] and ds.feature_names == ["v", "k"]
    assert ds.make_encoder().out_features == 8 + 3
    images = rng.integers(0, 256, (40, 6, 6)).astype(np.uint8)
    ids = Dataset.from_arrays(images, np.repeat(["cat", "dog"], 20))
    assert ids.image_shape == (1, 6, 6) and ids.class_names == ["cat", "dog"] and ids.in_features == 36
    assert ids.make_encoder().out_features == 36            # one grey level per pixel
    with pytest.raises(InputError, match="3 class names for 2 distinct labels"):
        Dataset.from_arrays(x, y, class_names=["a", "b", "c"])
    with pytest.raises(InputError, match=r"y must have shape \(200,\)"):
        Dataset.from_arrays(x, y[:10])


def write_images(root: Path, n: int = 24, size=(8, 8)) -> Path:
    """Two classes of tiny greyscale PNGs: a bright top half or a bright left half."""
    from PIL import Image
    rng = np.random.default_rng(0)
    for cls in ("left", "top"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 60, size).astype(np.uint8)
            if cls == "top":
                a[: size[0] // 2] += 180
            else:
                a[:, : size[1] // 2] += 180
            Image.fromarray(a, "L").save(root / cls / f"{i}.png")
    return root


def test_image_folder(tmp_path):
    from PIL import Image
    root = write_images(tmp_path / "img")
    ds = Dataset.from_image_folder(root)
    assert ds.class_names == ["left", "top"] and ds.image_shape == (1, 8, 8) and len(ds.y_test) == 10
    Image.fromarray(np.zeros((5, 7), np.uint8), "L").save(root / "top" / "odd.png")
    with pytest.raises(InputError, match=r"odd.png is 5x7 pixels but .*0.png is 8x8; give one size .*--image-size H,W"):
        Dataset.from_image_folder(root)
    assert Dataset.from_image_folder(root, size=(4, 4)).image_shape == (1, 4, 4)
    (root / "top" / "bad.png").write_bytes(b"not an image")
    with pytest.raises(FileFormatError, match="bad.png: not a readable image"):
        Dataset.from_image_folder(root, size=(4, 4))
    with pytest.raises(InputError, match="one sub-folder per class"):
        Dataset.from_image_folder(root / "top")


def test_budget_sizing_and_auto_tau():
    layers = layers_for_budget(2_000, 3)
    assert len(layers) == 4 and all(la["out"] == 498 for la in layers)     # 500 rounded down to 3 classes
    assert [la["out"] for la in layers_for_budget(48_000, 10)] == [8_000] * 6   # the paper's MNIST small
    assert len(layers_for_budget(20_000, 2)) == 5
    with pytest.raises(InputError, match="too small for 10 classes.*--budget-gates 40"):
        layers_for_budget(20, 10)
    assert auto_tau(8_000, 10) == 28.3 and auto_tau(500, 2) == 15.8
    # a dense preset's layers give way to the budget; tau and the evaluation interval stay the preset's
    config = resolve(make_config("adult", budget_gates=1_000), 2)
    assert [la["out"] for la in config.layers] == [250] * 4 and config.tau == 20.0 and config.budget_gates is None
    with pytest.raises(InputError, match="budget_gates sizes dense logic layers; this config has conv, orpool"):
        resolve(make_config("mnist-conv-s", budget_gates=1_000), 10)
    # no preset: everything is sized from the data
    bare = resolve(make_config(iterations=100), 2)
    assert len(bare.layers) == 4 and bare.tau == auto_tau(1_000, 2) and bare.eval_every == 5


def test_python_api_trains_on_a_csv_and_the_model_file_carries_names(tmp_path):
    ds = gl.Dataset.from_csv(write_table(tmp_path / "t.csv"), target="label")
    summary = gl.train(make_config(budget_gates=400, iterations=500, seed=1), tmp_path / "run", dataset=ds,
                       progress=False)
    assert summary["dataset"] == "t" and summary["hard_accuracy"] > 0.7
    model = gl.load(tmp_path / "run")
    assert model.class_names == ["no", "yes"] and model.spec["schema"] == ds.schema
    assert json.loads((tmp_path / "run" / "schema.json").read_text()) == ds.schema
    circuit = gl.lower(model)
    assert circuit.meta["class_names"] == ["no", "yes"]
    # the model reads the numbers the schema makes from raw records
    x = torch.as_tensor(ds.x_test)
    assert model.predict(x).shape == (len(ds.y_test),)


def test_cli_csv_to_compiled_verified_records(tmp_path, capsys, monkeypatch):
    """The user's path: their CSV -> train -> compile -> verify -> predict on raw records -> the
    numbers a deployed circuit reads."""
    monkeypatch.chdir(tmp_path)
    write_table(tmp_path / "train.csv")
    run = tmp_path / "runs" / "mine"
    assert main(["train", "--data", "train.csv", "--target", "label", "--budget-gates", "400",
                 "--iterations", "500", "--out", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "hard test accuracy" in out and f"next: gatelearn compile {run}" in out
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == "train.csv" and [la["out"] for la in config["layers"]] == [100] * 4
    assert main(["compile", str(run)]) == 0
    assert main(["verify", str(run)]) == 0
    capsys.readouterr()
    # raw records (some with missing values, the label column included) -> class names
    records = tmp_path / "records.csv"
    lines = (tmp_path / "train.csv").read_text().splitlines()[:41]
    records.write_text("\n".join(lines) + "\n")
    assert main(["predict", str(run), "--input", str(records)]) == 0
    captured = capsys.readouterr()
    names = captured.out.split()
    assert len(names) == 40 and set(names) <= {"yes", "no"}
    assert "accuracy on the 40 labelled records" in captured.err
    assert main(["predict", str(run), "--input", str(records), "--target", "torch"]) == 0
    assert capsys.readouterr().out.split() == names           # the C circuit and the model agree
    assert main(["predict", str(run), "--input", str(records), "--json"]) == 0
    assert [p["class"] for p in json.loads(capsys.readouterr().out)] == names
    assert main(["encode", str(run), "--input", str(records), "--out", str(tmp_path / "rows.csv")]) == 0
    rows = np.loadtxt(tmp_path / "rows.csv", delimiter=",", dtype=np.float32)
    assert rows.shape == (40, 3)
    capsys.readouterr()
    assert main(["encode", str(run), "--input", str(records), "--json"]) == 0
    encoded = json.loads(capsys.readouterr().out)
    assert encoded["features"] == ["age", "colour", "income"] and np.array_equal(encoded["rows"], rows)
    model = gl.load(run)
    classes = model.predict(torch.from_numpy(rows)).tolist()
    assert [model.class_names[c] for c in classes] == names
    # ... and a plain-cc C program (the README's microcontroller example) prints the same names
    c_dir = run / "artifacts" / "c"
    assert main(["compile", str(run), "--target", "c"]) == 0
    program = tmp_path / "classify"
    subprocess.run(["cc", "-O2", "-DGL_PORTABLE", "-I", str(c_dir), str(ROOT / "examples" / "mcu" / "classify.c"),
                    str(c_dir / "gatelearn_net.c"), "-o", str(program)], check=True)
    res = subprocess.run([str(program)], input=(tmp_path / "rows.csv").read_text(), capture_output=True,
                         text=True, check=True)
    assert res.stdout.split() == names
    # the saved config trains the same run again
    assert main(["train", "--config", str(run / "config.json"), "--out", str(tmp_path / "again"),
                 "--no-progress"]) == 0
    first, again = (json.loads((d / "summary.json").read_text()) for d in (run, tmp_path / "again"))
    assert again["hard_accuracy"] == first["hard_accuracy"] and again["gates_used"] == first["gates_used"]


def test_cli_image_folder(tmp_path, capsys):
    root = write_images(tmp_path / "img")
    run = tmp_path / "run"
    assert main(["train", "--data", str(root), "--budget-gates", "400", "--iterations", "500",
                 "--out", str(run), "--no-progress"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset"] == "img" and summary["hard_accuracy"] >= 0.8
    ds = Dataset.from_image_folder(root)
    np.save(tmp_path / "x.npy", ds.x_test)
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "x.npy")]) == 0
    assert set(capsys.readouterr().out.split()) <= {"left", "top"}
    assert main(["train", "--data", str(root), "--image-size", "0,4", "--out", str(tmp_path / "x")]) == 2
    assert "image_size must be a list of integers in [1, 4096], got 0" in capsys.readouterr().err


def test_predict_reads_raw_adult_records(tmp_path, capsys):
    """A benchmark table's raw records (UCI's adult.test lines, no header, a comment line first)
    go through the same schema: text categories, the two unused columns skipped, class names out."""
    from gatelearn.data.readers import read_text
    from gatelearn.data.sources import BUNDLED_DIR
    run = tmp_path / "adult"
    assert main(["train", "--preset", "adult", "--iterations", "20", "--eval-every", "10", "--out", str(run),
                 "--no-progress"]) == 0
    lines = [ln for ln in read_text(BUNDLED_DIR / "adult" / "adult.test.gz").splitlines() if "?" not in ln][:31]
    assert lines[0].startswith("|")
    (tmp_path / "raw.csv").write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(tmp_path / "raw.csv")]) == 0
    captured = capsys.readouterr()
    names = captured.out.split()
    assert len(names) == 30 and set(names) <= {"<=50K", ">50K"}
    assert "accuracy on the 30 labelled records" in captured.err
    # the same records with a header line, columns in another order, no label: the same classes
    from gatelearn.data.readers import ADULT_COLUMNS
    rows = [[f.strip() for f in ln.split(",")][:-1] for ln in lines[1:]]
    order = list(reversed(ADULT_COLUMNS))
    table = [",".join(order)] + [",".join(r[ADULT_COLUMNS.index(c)] for c in order) for r in rows]
    (tmp_path / "named.csv").write_text("\n".join(table) + "\n")
    assert main(["predict", str(run), "--input", str(tmp_path / "named.csv")]) == 0
    assert capsys.readouterr().out.split() == names
