"""gatelearn compile / predict / inspect / bench on a small run directory."""
import json

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn.circuit.ir import Circuit
from gatelearn.cli.main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("run")
    spec = {"encoder": {"kind": "thresholds", "features": 30, "per_feature": 2},
            "layers": [{"kind": "logic", "out": 300, "init": "gaussian"} for _ in range(3)],
            "head": {"kind": "groupsum", "classes": 3, "tau": 4.0}, "seed": 5}
    m = gatelearn.build_model(spec)
    m.encoder.thresholds.copy_(torch.tensor([[60.0, 180.0]]).expand(30, 2))
    gatelearn.save(m, d)
    return d


def test_compile_predict_inspect_bench(run_dir, tmp_path, capsys):
    assert main(["compile", str(run_dir), "--target", "c", "--out", str(tmp_path / "c"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["check"]["agree"] and rep["gates_after_passes"] < rep["gates_lowered"]
    assert (run_dir / "circuit.npz").exists()
    for f in ("gatelearn_net.c", "gatelearn_net.h", "gatelearn_net_main.c"):
        assert (tmp_path / "c" / f).exists()
    assert Circuit.load(run_dir / "circuit.npz").num_gates == rep["gates_after_passes"]
    # the numpy target: the standalone module and its tables, checked against the model too
    assert main(["compile", str(run_dir), "--target", "numpy", "--out", str(tmp_path / "np"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["check"]["agree"]
    assert {"gatelearn_net.py", "gatelearn_net.npz"} <= {f.name for f in (tmp_path / "np").iterdir()}

    x = np.random.default_rng(0).integers(0, 256, (97, 30)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    model = gatelearn.load(run_dir)
    expected = model(torch.from_numpy(x).float()).argmax(1).numpy()
    for target in ("c", "numpy", "torch"):
        assert main(["predict", str(run_dir), "--input", str(tmp_path / "x.npy"), "--target", target]) == 0
        got = np.array(capsys.readouterr().out.split(), int)
        assert (got == expected).all(), target
    np.savetxt(tmp_path / "x.csv", x, delimiter=",", fmt="%d")
    assert main(["predict", str(run_dir), "--input", str(tmp_path / "x.csv"), "--out", str(tmp_path / "y.npy")]) == 0
    assert (np.load(tmp_path / "y.npy") == expected).all()
    # --scores with --out keeps the scores (the circuit's class counts): the (N, classes) array,
    # or the text lines of stdout
    from gatelearn.verification.agreement import model_counts
    assert main(["predict", str(run_dir), "--input", str(tmp_path / "x.csv"), "--scores",
                 "--out", str(tmp_path / "s.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "s.npy"), model_counts(model, x))
    assert main(["predict", str(run_dir), "--input", str(tmp_path / "x.csv"), "--scores"]) == 0
    printed = capsys.readouterr().out
    assert main(["predict", str(run_dir), "--input", str(tmp_path / "x.csv"), "--scores",
                 "--out", str(tmp_path / "s.txt")]) == 0
    assert (tmp_path / "s.txt").read_text() == printed and printed.count("\t") == len(x)

    assert main(["inspect", str(run_dir), "--json"]) == 0
    ins = json.loads(capsys.readouterr().out)
    assert ins["before"]["gates"] == 900 and ins["after"]["gates"] == rep["gates_after_passes"]
    assert ins["before"]["depth"] == 3 and set(ins["before"]["gates_per_layer"]) == {"0", "1", "2"}
    assert main(["inspect", str(run_dir / "circuit.npz")]) == 0
    assert "gates per kind" in capsys.readouterr().out

    assert main(["bench", str(run_dir), "--json", "--samples", "3000", "--seconds", "0.1"]) == 0
    b = json.loads(capsys.readouterr().out)
    for key in ("samples_per_s_1core", "samples_per_s_all_cores", "gates", "compile_seconds"):
        assert b[key] > 0


def test_uncompiled_run_uses_the_passes(run_dir, tmp_path, capsys):
    """A run never compiled is benchmarked (and predicted) on the circuit after gatelearn's
    passes, computed on the fly, not on the raw lowering; nothing is written into the run."""
    import shutil

    from gatelearn import runs
    from gatelearn.circuit.passes import optimize
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for f in run_dir.iterdir():
        if f.name.startswith("model."):
            shutil.copy(f, fresh / f.name)
    after = optimize(runs.model_circuit(fresh))[0].num_gates
    assert after < runs.model_circuit(fresh).num_gates == 900
    assert runs.base_circuit(fresh).num_gates == runs.best_circuit(fresh).num_gates == after
    assert main(["bench", str(fresh), "--json", "--samples", "1000", "--seconds", "0.05"]) == 0
    assert json.loads(capsys.readouterr().out)["gates"] == after
    assert not (fresh / "circuit.npz").exists()


def test_predict_errors(run_dir, tmp_path, capsys):
    np.save(tmp_path / "bad.npy", np.zeros((4, 29), np.uint8))
    assert main(["predict", str(run_dir), "--input", str(tmp_path / "bad.npy"), "--target", "numpy"]) == 2
    assert "(N, 30)" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["inspect", str(tmp_path / "junk.npz")]) == 2
