"""Output heads: the codebook head, a learned tau, tau by the rule, and the heads chosen from the
training settings, each lowered, compiled and proven like GroupSum."""
import json

import numpy as np
import pytest
import torch

import gatelearn as gl
from gatelearn.backends import compile_circuit
from gatelearn.cli.main import main
from gatelearn.errors import InputError
from gatelearn.layers.heads import CodebookHead, make_code
from gatelearn.training import make_config
from gatelearn.training.sizing import auto_tau, resolve
from gatelearn.verification.agreement import agree_with_model, model_counts


def test_codes():
    h = make_code("hadamard", 10, 16)
    assert h.shape == (10, 16) and set(np.unique(h)) == {0.0, 1.0}
    distances = (h[:, None, :] != h[None, :, :]).sum(-1)
    assert (distances[~np.eye(10, dtype=bool)] == 8).all()          # any two differ in exactly L/2 bits
    r = make_code("random", 300, 9, seed=1)                           # 512 words for 300 classes: redraws
    assert len(np.unique(r, axis=0)) == 300
    assert np.array_equal(r, make_code("random", 300, 9, seed=1))
    with pytest.raises(InputError, match="300 classes need codewords of at least 9 bits"):
        CodebookHead(300, 8)


def test_codebook_head_scores_are_agreements_and_the_nearest_codeword_wins():
    head = CodebookHead(5, 12, tau=2.0, code="random", seed=3)
    bits = torch.randint(0, 2, (64, 12)).float()
    agree = (bits[:, None, :] == head.codebook[None]).sum(-1)
    assert torch.equal(head(bits), agree / 2.0)
    assert torch.equal(head.counts(bits), agree.to(torch.int64))
    assert torch.equal(head(bits).argmax(1), (bits[:, None, :] != head.codebook[None]).sum(-1).argmin(1))
    soft = torch.rand(8, 12, requires_grad=True)
    head(soft).sum().backward()                                      # differentiable in the relaxed bits
    assert soft.grad is not None and soft.grad.abs().sum() > 0
    bad = CodebookHead(3, 4)
    bad.codebook[1] = bad.codebook[0]
    with pytest.raises(InputError, match="two equal codewords"):
        bad.check_state()


def _model(head: dict, seed: int = 0):
    return gl.build_model({"encoder": {"kind": "bits", "features": 24},
                           "layers": [{"kind": "logic", "out": 96}, {"kind": "logic", "out": 48}],
                           "head": head, "seed": seed}).eval()


@pytest.mark.parametrize("head", [{"kind": "codebook", "classes": 6, "tau": 3.0, "code": "hadamard"},
                                  {"kind": "codebook", "classes": 6, "tau": 3.0, "code": "random", "seed": 2},
                                  {"kind": "groupsum", "classes": 6, "tau": 2.0, "learn_tau": True},
                                  {"kind": "binary", "tau": 5.0, "learn_tau": True}])
def test_heads_lower_into_circuits_that_agree_with_the_model(head, tmp_path):
    model = _model(head)
    x = np.random.default_rng(0).integers(0, 2, (500, 24)).astype(np.float32)
    circuit = gl.lower(model)
    # the IR head's counts, and so C, NumPy and every proof, are the model's
    counts = model_counts(model, x)
    sim = circuit.class_counts(circuit.simulate(x.astype(bool)))
    assert np.array_equal(sim, counts)
    assert agree_with_model(model, compile_circuit(circuit, target="c"), x)["agree"]
    # the head in gates: the class index in binary, least significant bit first
    gates = gl.lower(model, head="gates")
    out = gates.simulate(x.astype(bool)).astype(np.int64)
    index = (out * (1 << np.arange(out.shape[1]))).sum(1)
    with torch.no_grad():
        assert np.array_equal(index, model(torch.from_numpy(x)).argmax(1).numpy())
    # saved and loaded, the same head (the codebook is in the state dict)
    gl.save(model, tmp_path)
    again = gl.load(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(again(torch.from_numpy(x)), model(torch.from_numpy(x)))


def test_learned_tau_trains_and_is_frozen_into_the_circuit(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (400, 12))
    y = x[:, 0] ^ x[:, 1]
    ds = gl.Dataset.from_arrays(x, y, categorical=range(12))
    summary = gl.train(make_config(budget_gates=400, iterations=600, tau=4.0, learn_tau=True, seed=0),
                       tmp_path / "run", dataset=ds, progress=False)
    model = gl.load(tmp_path / "run")
    assert model.spec["head"]["learn_tau"] is True and model.spec["head"]["tau"] == 4.0
    learned = model.head.tau
    assert learned != 4.0 and summary["hard_accuracy"] > 0.9
    assert gl.lower(model).head.tau == pytest.approx(learned, rel=0, abs=0)


def test_tau_auto_and_head_settings():
    config = resolve(make_config("adult", tau="auto"), 2)
    assert config.tau == auto_tau(256, 2) == 11.3                       # the preset's 20 replaced by the rule
    assert resolve(make_config("adult"), 2).tau == 20.0
    assert resolve(make_config("adult", head="codebook", tau="auto"), 2).tau == auto_tau(256, 1) == 16.0
    with pytest.raises(InputError, match="tau: expected a number or 'auto', got 'hot'"):
        make_config("adult", tau="hot")


@pytest.mark.parametrize("flags", [["--head", "codebook", "--code", "hadamard"], ["--head", "binary"],
                                   ["--learn-tau", "--tau", "auto"]])
def test_cli_trains_compiles_and_proves_each_head(tmp_path, capsys, flags):
    run = tmp_path / "run"
    assert main(["train", "--preset", "monk1", "--iterations", "300", "--eval-every", "100", "--out", str(run),
                 "--no-progress", *flags]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["hard_accuracy"] > 0.6
    assert main(["compile", str(run)]) == 0
    assert main(["export", str(run), "--pipeline", "2"]) == 0      # Verilog, AIGER, BLIF: proven below too
    assert main(["verify", str(run)]) == 0
    assert "FAILED" not in capsys.readouterr().out


def test_binary_head_needs_two_classes(tmp_path):
    ds = gl.Dataset.from_arrays(np.random.default_rng(0).normal(size=(60, 2)), np.arange(60) % 3)
    with pytest.raises(InputError, match="the binary head decides between 2 classes; this data has 3"):
        gl.train(make_config(budget_gates=60, iterations=1, head="binary"), tmp_path / "r", dataset=ds,
                 progress=False)


def test_a_head_in_gates_runs_through_predict_and_bench(tmp_path, capsys):
    """A model lowered with its head in gates and saved as a circuit file: predict reads raw
    features (the circuit's encoder) and prints the class index, bench times it from raw features."""
    torch.manual_seed(0)
    model = gl.build_model({"encoder": {"kind": "thresholds", "features": 4, "per_feature": 2},
                            "layers": [{"kind": "logic", "out": 64}, {"kind": "logic", "out": 30}],
                            "head": {"kind": "groupsum", "classes": 3, "tau": 2.0}, "seed": 1}).eval()
    model.encoder.thresholds.uniform_(0, 1)
    for layer in model.layers:
        layer.weight.data.normal_(0, 3)           # gates of every kind, not the initial pass-throughs
    gl.lower(model, head="gates").save(tmp_path / "c.npz")
    x = np.random.default_rng(0).random((200, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["predict", str(tmp_path / "c.npz"), "--input", str(tmp_path / "x.npy")]) == 0
    got = [int(v) for v in capsys.readouterr().out.split()]
    with torch.no_grad():
        want = model(torch.from_numpy(x)).argmax(1).tolist()
    assert got == want and len(set(want)) > 1
    assert main(["bench", str(tmp_path / "c.npz"), "--samples", "1000", "--seconds", "0.1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["vectors_per_s_1core"] > 0
