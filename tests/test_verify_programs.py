"""``gatelearn verify`` covers the C library and the NumPy module too: built / imported from the
files on disk and tested against the model (not proven), and its last line says what was proven,
what tested and what not checked. A hand-edited C file used to pass as "all proven"."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn.cli.main import main
from gatelearn.flows.verify import verify
from gatelearn.tools import abc

C_ITEM = "artifacts/c/gatelearn_net.c"
NP_ITEM = "artifacts/numpy/gatelearn_net.py"


def save_model(path, features=10, per_feature=2, seed=0):
    spec = {"encoder": {"kind": "thresholds", "features": features, "per_feature": per_feature},
            "layers": [{"kind": "logic", "out": 120, "init": "gaussian"},
                       {"kind": "logic", "out": 30, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 1.0}, "seed": seed}
    m = gatelearn.build_model(spec)
    with torch.no_grad():
        t = np.random.default_rng(seed).uniform(0, 255, (features, per_feature))
        m.encoder.thresholds.copy_(torch.tensor(t, dtype=torch.float32))
    gatelearn.save(m, path)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    run = tmp_path_factory.mktemp("programs") / "run"
    save_model(run)
    assert main(["compile", str(run), "--target", "c", "--check", "0"]) == 0
    assert main(["compile", str(run), "--target", "numpy", "--check", "0"]) == 0
    return run


def copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "run")


def test_programs_are_tested_not_proven(compiled):
    rep = verify(compiled, include_circuits=False)
    assert rep.ok, [c.to_dict() for c in rep.failed]
    by_item = {c.item: c for c in rep.checks}
    assert by_item[C_ITEM].status == by_item[NP_ITEM].status == "tested"
    assert "random + corner cases" in by_item[C_ITEM].what       # 10 features: too many regions
    d = rep.to_dict()
    assert d["tested"] == [C_ITEM, NP_ITEM] and d["proven"] == []
    assert {n["item"] for n in d["not_checked"]} >= {"artifacts/c/gatelearn_net_main.c",
                                                     "artifacts/c/libgatelearn_net.so"}
    assert "tested against the model, not proven: " + C_ITEM in rep.summary()


def test_small_input_spaces_are_tested_exhaustively(tmp_path):
    run = tmp_path / "run"
    save_model(run, features=3, per_feature=1)
    assert main(["compile", str(run), "--target", "numpy", "--check", "0"]) == 0
    (check,) = verify(run, include_circuits=False).checks
    assert check.status == "tested" and "exhaustive over every input region" in check.what


@pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")
def test_cli_last_line_says_what_is_proven_and_what_tested(compiled, tmp_path, capsys):
    run = copy(compiled, tmp_path)
    assert main(["verify", str(run)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("proven equivalent to the trained model: circuit.npz, artifacts/numpy/circuit.npz; "
                           f"tested against the model, not proven: {C_ITEM}, {NP_ITEM}; not checked: ")


@pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")
def test_hand_edited_c_fails_verify(compiled, tmp_path, capsys):
    run = copy(compiled, tmp_path)
    f = run / C_ITEM
    text = f.read_text()
    line = "#define GL_E1(j) (GL_W(a[j]) & GL_W(b[j]))"          # the AND gate's expression
    assert line in text
    f.write_text(text.replace(line, line.replace("&", "|")))
    assert main(["verify", str(run)]) == 1
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith(f"NOT verified: {C_ITEM}; proven")
    rep = verify(run, include_circuits=False)
    assert [c.item for c in rep.failed] == [C_ITEM]
    assert "differ on" in rep.failed[0].detail and "the model" in rep.failed[0].detail


def test_edited_numpy_tables_fail_verify(compiled, tmp_path):
    run = copy(compiled, tmp_path)
    f = run / "artifacts/numpy/gatelearn_net.npz"
    with np.load(f) as z:
        t = {k: z[k] for k in z.files}
    n = int(t["num_inputs"])
    g = int(t["outputs"][t["outputs"] >= n][0]) - n              # a gate that is an output
    t["op"][g] = 15 - t["op"][g]                                   # its complement
    np.savez_compressed(f, **t)
    rep = verify(run, include_circuits=False)
    assert [c.item for c in rep.failed] == [NP_ITEM]


def test_c_that_crashes_or_does_not_build_is_a_failed_check(compiled, tmp_path):
    run = copy(compiled, tmp_path)
    f = run / C_ITEM
    good = f.read_text()
    f.write_text(good + "\n__attribute__((constructor)) static void boom(void) { __builtin_trap(); }\n")
    rep = verify(run, include_circuits=False)
    assert [c.item for c in rep.failed] == [C_ITEM] and "crashed" in rep.failed[0].detail
    f.write_text(good.replace("#include", "#error edited by hand\n#include", 1))
    rep = verify(run, include_circuits=False)
    assert [c.item for c in rep.failed] == [C_ITEM] and "could not be run" in rep.failed[0].detail
    # a header of another model is refused before anything runs
    h = run / "artifacts/c/gatelearn_net.h"
    f.write_text(good)
    h.write_text(h.read_text().replace("GATELEARN_NET_NUM_FEATURES 10", "GATELEARN_NET_NUM_FEATURES 11"))
    rep = verify(run, include_circuits=False)
    assert "made for another model" in rep.failed[0].detail
