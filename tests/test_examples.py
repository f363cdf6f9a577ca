"""The scripts in examples/ run as their docstrings say, on small data in seconds, and what they
build answers as the trained model does (checked here again from the files they leave, not from
what they print)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import runs
from gatelearn.data import load_dataset
from gatelearn.data.own import read_csv
from gatelearn.tools import abc, sim, yosys

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_example(name: str, *args: str) -> str:
    """Run examples/NAME as its docstring does (a script, this Python); its stdout."""
    r = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{name} failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def model_names(model, x: np.ndarray) -> list[str]:
    with torch.no_grad():
        return [model.class_names[k] for k in model(torch.from_numpy(np.asarray(x, np.float32))).argmax(1).tolist()]


def test_tabular_to_c(tmp_path):
    out = run_example("tabular_to_c.py", "--out", str(tmp_path), "--iterations", "200")
    assert "agree on 200 of 200 records" in out and "MISMATCH" not in out
    # the data it wrote is what the docstring says: numbers and categories, some missing
    schema = json.loads((tmp_path / "run" / "schema.json").read_text())
    kinds = {c["name"]: c["kind"] for c in schema["columns"]}
    assert kinds == {"temperature": "numeric", "humidity": "numeric", "site": "categorical", "shift": "categorical"}
    assert all(c["missing"] > 0 for c in schema["columns"] if c["kind"] == "numeric")
    assert "(missing)" in next(c for c in schema["columns"] if c["name"] == "site")["categories"]
    # the header names the classes, and the program prints them
    header = (tmp_path / "c" / "gatelearn_net.h").read_text()
    assert '#define GATELEARN_NET_CLASS_NAMES {"alarm", "ok"}' in header
    # again, independently: the new records by the run's schema, through the built program,
    # against the trained model (as saved)
    model = gatelearn.load(tmp_path / "run").eval()
    head, rows = read_csv(tmp_path / "new_records.csv")
    x = runs.table_schema(tmp_path / "run").encode_table(head, rows, "new_records.csv")
    assert np.isfinite(x).all() and len(x) == 200
    lines = "".join(",".join(str(v) for v in row) + "\n" for row in x)
    got = subprocess.run([str(tmp_path / "c" / "classify")], input=lines, capture_output=True, text=True,
                         check=True, timeout=60).stdout.splitlines()
    assert got == model_names(model, x) and set(got) == {"alarm", "ok"}
    # a second run into the same folder replaces its run (training alone would refuse)
    run_example("tabular_to_c.py", "--out", str(tmp_path), "--iterations", "20")
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["iterations"] == 20


def test_images_to_verilog(tmp_path):
    pytest.importorskip("PIL", reason="the example draws its images with Pillow")
    if not (abc.available() and yosys.available()):
        pytest.skip("the proofs need ABC (berkeley-abc) and yosys")
    out = run_example("images_to_verilog.py", "--out", str(tmp_path), "--iterations", "300")
    run = tmp_path / "run"
    pngs = sorted((tmp_path / "images").rglob("*.png"))
    assert len(pngs) == 600 and {p.parent.name for p in pngs} == {"horizontal", "vertical"}
    report = json.loads((run / "verify.json").read_text())
    proven = {"artifacts/gatelearn_model.v", "artifacts/gatelearn_model_pipe2.v"}
    assert report["ok"] and proven <= set(report["proven"])
    assert '"ok": true' in out
    # the input port takes the pixel bytes themselves: 64 fields of 8 bits, no fractional bits
    manifest = json.loads((run / "artifacts" / "manifest.json").read_text())
    spec = next(e["spec"] for e in manifest["artifacts"] if e["file"] == "gatelearn_model.v")
    assert (spec["features"], spec["width"], set(spec["frac_bits"])) == (64, 8, {0})
    # the testbench's golden classes are the model's on the test images (the example's own split)
    ds = gatelearn.Dataset.from_image_folder(tmp_path / "images")
    model = gatelearn.load(run).eval()
    golden = [int(t, 16) for t in (run / "artifacts" / "gatelearn_model_class.hex").read_text().split()]
    assert [model.class_names[k] for k in golden] == model_names(model, ds.x_test)
    # and a simulator, where there is one, runs the Verilog on them to the same answers
    if sim.available("iverilog"):
        from gatelearn.flows.simulate import simulate_artifact
        for top in ("gatelearn_model", "gatelearn_model_pipe2"):
            res = simulate_artifact(run, top, "iverilog")
            assert res["testbench_errors"] == 0 and res["class_agree"] == res["vectors"] == len(ds.x_test), res


def test_custom_loop(tmp_path):
    out = run_example("custom_loop.py", "--out", str(tmp_path), "--iterations", "300")
    assert "equals the model on all 432 test records: True" in out
    acc = float(out.split("hard test accuracy ")[1].split("%")[0])
    assert acc > 75.0, out             # it learned something (MONK-1: a majority guess is 50%)
    # the saved model and the C it wrote: built with the microcontroller example and run on
    # every test record, the model's class names
    model = gatelearn.load(tmp_path).eval()
    assert model.class_names == ["0", "1"]
    ds = load_dataset("monk1")
    c_dir = tmp_path / "c"
    cc = shutil.which("cc")
    assert cc, "the example compiles C; install a C compiler"
    subprocess.run([cc, "-O2", "-DGL_PORTABLE", "-I", str(c_dir), str(EXAMPLES / "mcu" / "classify.c"),
                    str(c_dir / "gatelearn_net.c"), "-o", str(tmp_path / "classify")], check=True, timeout=300)
    lines = "".join(",".join(str(int(v)) for v in row) + "\n" for row in ds.x_test)
    got = subprocess.run([str(tmp_path / "classify")], input=lines, capture_output=True, text=True, check=True,
                         timeout=60).stdout.splitlines()
    assert got == model_names(model, ds.x_test)
