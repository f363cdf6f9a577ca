"""Training loop: metrics, summary, plots, checkpoints and resume, gate usage, presets,
distributed data parallelism, and short runs on the real bundled MONK-1 and Breast Cancer."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn.data import Dataset, load_dataset
from gatelearn.errors import FileFormatError, InputError
from gatelearn.gates import BY_NAME
from gatelearn.model import build_model
from gatelearn.training import (
    CHECKPOINT_FILE,
    PRESETS,
    TrainConfig,
    gate_usage,
    get_preset,
    layer_specs,
    make_config,
    train,
    train_model,
)
from gatelearn.training.checkpoint import load_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def toy_dataset(n_train: int = 240, n_test: int = 120, seed: int = 0) -> Dataset:
    """Four 3-valued categorical features; label = (f0 == 0) or (f1 == 2). One-hot: 12 bits."""
    rng = np.random.default_rng(seed)

    def part(n):
        x = rng.integers(0, 3, size=(n, 4)).astype(np.float32)
        y = ((x[:, 0] == 0) | (x[:, 1] == 2)).astype(np.int64)
        return x, y

    (xtr, ytr), (xte, yte) = part(n_train), part(n_test)
    feats = [f"f{i}" for i in range(4)]
    return Dataset("toy", xtr, ytr, xte, yte, 2, None, ["no", "yes"], feats,
                   {f: ["a", "b", "c"] for f in feats})


def toy_config(**overrides) -> TrainConfig:
    """A tiny 2 x 24 network on the toy data (built from the monk1 preset's settings)."""
    settings = dict(iterations=60, eval_every=20, checkpoint_every=30, batch_size=32, tau=2.0,
                    threads=1, lr=0.05)
    settings.update(overrides)
    return make_config("monk1", **settings).replace(
        layers=[{"kind": "logic", "out": 24}, {"kind": "logic", "out": 12}], dataset="toy")


def read_metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def strip_time(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "elapsed"} for m in lines]


# ------------------------------------------------------------------------- loop outputs

def test_train_writes_metrics_summary_model_and_plots(tmp_path):
    ds = toy_dataset()
    summary = train(toy_config(iterations=200, eval_every=50, checkpoint_every=100), tmp_path,
                    progress=False, dataset=ds)
    lines = read_metrics(tmp_path / "metrics.jsonl")
    assert [m["iteration"] for m in lines] == [50, 100, 150, 200]
    for m in lines:
        assert {"iteration", "loss", "relaxed_accuracy", "hard_accuracy", "gap", "gates_used",
                "elapsed"} <= set(m)
        assert m["gap"] == pytest.approx(m["relaxed_accuracy"] - m["hard_accuracy"])
        assert 0 < m["gates_used"] <= 36
    assert lines[-1]["loss"] < lines[0]["loss"]
    for key in ("hard_accuracy", "relaxed_accuracy", "gap", "gates", "gates_used", "train_seconds",
                "iterations", "preset", "config"):
        assert key in summary
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["gates"] == 36 and summary["iterations"] == 200
    # A one-OR-gate concept on 12 bits: a 2-layer net learns it.
    assert summary["hard_accuracy"] >= 0.95
    # The bit path used during training and the saved model on raw inputs agree.
    assert summary["hard_accuracy"] == pytest.approx(lines[-1]["hard_accuracy"])
    model = gatelearn.load(tmp_path)
    pred = model.predict(torch.as_tensor(ds.x_test))
    assert float((pred == torch.as_tensor(ds.y_test)).double().mean()) == pytest.approx(summary["hard_accuracy"])
    for png in ("accuracy.png", "gates.png"):
        data = (tmp_path / png).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5000
    assert load_checkpoint(tmp_path / CHECKPOINT_FILE)["info"]["iteration"] == 200


def test_time_limit_stops_early_and_finishes_the_run(tmp_path):
    # A zero-minute limit stops after the first step; the run still ends with a final
    # evaluation, a checkpoint that resumes to the full length, the model and the summary.
    ds = toy_dataset()
    summary = train(toy_config(iterations=200, time_limit=0.0), tmp_path, progress=False, dataset=ds)
    assert summary["iterations"] == 1
    assert read_metrics(tmp_path / "metrics.jsonl")[-1]["iteration"] == 1
    assert (tmp_path / "model.safetensors").exists()
    resumed = train(toy_config(iterations=40), tmp_path, resume=True, progress=False, dataset=ds)
    assert resumed["iterations"] == 40


def test_validation_split_is_logged(tmp_path):
    # (a plain dict of settings is checked into a TrainConfig, and trains like one)
    summary = train(toy_config(validation=0.25, iterations=20, eval_every=10).to_dict(), tmp_path,
                    progress=False, dataset=toy_dataset())
    lines = read_metrics(tmp_path / "metrics.jsonl")
    assert all("val_hard_accuracy" in m and "val_relaxed_accuracy" in m for m in lines)
    assert 0.0 <= summary["val_hard_accuracy"] <= 1.0


def test_keep_best_saves_the_model_of_the_best_validation_evaluation(tmp_path):
    ds = toy_dataset()
    # lr 0.2: validation accuracy peaks early, so the kept model is not the last one and, on the
    # resume below, comes from before the checkpoint
    cfg = dict(validation=0.25, iterations=60, eval_every=10, checkpoint_every=30, keep="best", lr=0.2)
    model, summary = train_model(toy_config(**cfg), tmp_path / "best", progress=False, dataset=ds)
    lines = read_metrics(tmp_path / "best" / "metrics.jsonl")
    # the first line with the highest (hard, relaxed) validation accuracy; the test set has no say
    choice = max(lines, key=lambda m: (m["val_hard_accuracy"], m["val_relaxed_accuracy"], -m["iteration"]))
    assert summary["kept"] == "best" and summary["kept_iteration"] == choice["iteration"] < 30
    assert summary["val_hard_accuracy"] == choice["val_hard_accuracy"]
    assert summary["hard_accuracy"] == pytest.approx(choice["hard_accuracy"])
    assert summary["relaxed_accuracy"] == pytest.approx(choice["relaxed_accuracy"])
    # The saved model is the state the run had at that iteration: what a run stopped there saves
    # (no lr schedule, so the length of a run does not change its steps).
    stopped, _ = train_model(toy_config(**{**cfg, "iterations": choice["iteration"], "keep": "last"}),
                             tmp_path / "stopped", progress=False, dataset=ds)
    saved = gatelearn.load(tmp_path / "best")
    for k, v in stopped.state_dict().items():
        assert torch.equal(saved.state_dict()[k], v), k
    # The checkpoint keeps the last state (for extending the run) and the best one beside it.
    ckpt = load_checkpoint(tmp_path / "best" / CHECKPOINT_FILE)
    assert ckpt["info"]["best"]["iteration"] == choice["iteration"] and ckpt["best_state"] is not None
    last, _ = train_model(toy_config(**{**cfg, "keep": "last"}), tmp_path / "last", progress=False, dataset=ds)
    for k, v in last.state_dict().items():
        assert torch.equal(ckpt["model_state"][k], v), k
    assert any(not torch.equal(saved.state_dict()[k], v) for k, v in last.state_dict().items())
    # Interrupted and resumed, the run keeps the same model.
    train(toy_config(**{**cfg, "iterations": 30}), tmp_path / "resumed", progress=False, dataset=ds)
    again = train({"iterations": 60}, tmp_path / "resumed", resume=True, progress=False, dataset=ds)
    assert again["kept_iteration"] == choice["iteration"]
    for k, v in saved.state_dict().items():
        assert torch.equal(gatelearn.load(tmp_path / "resumed").state_dict()[k], v), k
    # keep may change on a resume (it only decides what is saved at the end)
    flipped = train({"iterations": 60, "keep": "last"}, tmp_path / "resumed", resume=True, progress=False, dataset=ds)
    assert flipped["kept"] == "last" and flipped["kept_iteration"] == 60
    assert (tmp_path / "best" / "accuracy.png").read_bytes().startswith(PNG_MAGIC)


def test_keep_best_needs_a_validation_split(tmp_path):
    with pytest.raises(InputError, match="needs a validation split"):
        train(toy_config(keep="best"), tmp_path / "a", progress=False, dataset=toy_dataset())
    with pytest.raises(InputError, match="keep must be 'last' or 'best'"):
        train(toy_config(keep="first", validation=0.2), tmp_path / "b", progress=False, dataset=toy_dataset())


def test_evaluation_frequency_does_not_change_training(tmp_path):
    # Evaluation draws no random numbers (Gumbel runs use the soft relaxation there).
    ds = toy_dataset()
    a, _ = train_model(toy_config(sampling="gumbel", iterations=30, eval_every=1), tmp_path / "a",
                       progress=False, dataset=ds)
    b, _ = train_model(toy_config(sampling="gumbel", iterations=30, eval_every=30), tmp_path / "b",
                       progress=False, dataset=ds)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


# ------------------------------------------------------------------------- checkpoints

@pytest.mark.parametrize("sampling", ["soft", "gumbel"])
def test_resume_is_bit_identical(tmp_path, sampling):
    ds = toy_dataset()
    cfg = dict(sampling=sampling, iterations=40, eval_every=15, checkpoint_every=20, validation=0.2)
    straight, _ = train_model(toy_config(**cfg), tmp_path / "straight", progress=False, dataset=ds)
    # Stop half way (iteration 20 is not a multiple of eval_every: the running loss must carry over).
    train(toy_config(**{**cfg, "iterations": 20}), tmp_path / "resumed", progress=False, dataset=ds)
    assert load_checkpoint(tmp_path / "resumed" / CHECKPOINT_FILE)["info"]["iteration"] == 20
    resumed, summary = train_model({"iterations": 40}, tmp_path / "resumed", resume=True,
                                   progress=False, dataset=ds)
    assert summary["resumed_from"] == 20 and summary["iterations"] == 40
    sa, sb = straight.state_dict(), resumed.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{k} differs after resume"
    # Optimizer moments and metric lines match too.
    ca = load_checkpoint(tmp_path / "straight" / CHECKPOINT_FILE)
    cb = load_checkpoint(tmp_path / "resumed" / CHECKPOINT_FILE)
    for idx, state in ca["optimizer_state"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, cb["optimizer_state"]["state"][idx][key]), (idx, key)
    # The resumed run has one extra line: the end of its first part (iteration 20).
    resumed_lines = [m for m in read_metrics(tmp_path / "resumed" / "metrics.jsonl") if m["iteration"] != 20]
    assert strip_time(read_metrics(tmp_path / "straight" / "metrics.jsonl")) == strip_time(resumed_lines)


def test_a_run_stopped_before_its_end_says_how_to_save_its_model(tmp_path):
    from gatelearn import runs
    ds = toy_dataset()
    with pytest.raises(FileFormatError, match="train a model into it first"):
        runs.load_model(tmp_path)
    # A run stopped at its checkpoint (as Ctrl-C leaves it): a checkpoint but no model file yet.
    train(toy_config(iterations=20, checkpoint_every=10), tmp_path / "run", progress=False, dataset=ds)
    for f in (tmp_path / "run").glob("model.*"):
        f.unlink()
    with pytest.raises(FileFormatError, match=r"checkpoint \(iteration 20\).*--resume --iterations 20"):
        runs.load_model(tmp_path / "run")
    # Following the advice saves the model there, and the run can still be extended.
    train({"iterations": 20}, tmp_path / "run", resume=True, progress=False, dataset=ds)
    assert runs.load_model(tmp_path / "run").num_gates() == 36
    assert train({"iterations": 40}, tmp_path / "run", resume=True, progress=False, dataset=ds)["iterations"] == 40


def test_lr_step_schedule_and_resuming_into_it(tmp_path):
    from gatelearn.training.schedule import learning_rate
    cfg = toy_config(lr=0.02, iterations=100, lr_decay_at=0.9, lr_decay=0.1)
    assert learning_rate(cfg, 0) == learning_rate(cfg, 89) == 0.02
    assert learning_rate(cfg, 90) == learning_rate(cfg, 99) == pytest.approx(0.002)
    assert learning_rate(cfg.replace(lr_decay_at=None), 99) == 0.02
    with pytest.raises(InputError, match="lr_decay_at"):
        learning_rate(cfg.replace(lr_decay_at=1.5), 0)
    # A run given the schedule when resumed (before the step) ends where a scheduled run ends.
    ds = toy_dataset()
    straight, _ = train_model(toy_config(iterations=40, lr_decay_at=0.75), tmp_path / "a", progress=False, dataset=ds)
    train(toy_config(iterations=20), tmp_path / "b", progress=False, dataset=ds)
    resumed, _ = train_model({"iterations": 40, "lr_decay_at": 0.75}, tmp_path / "b", resume=True,
                             progress=False, dataset=ds)
    plain, _ = train_model(toy_config(iterations=40), tmp_path / "c", progress=False, dataset=ds)
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    assert any(not torch.equal(v, plain.state_dict()[k]) for k, v in straight.state_dict().items())


def test_discreteness_penalty_pulls_gates_toward_discrete_ones(tmp_path):
    from gatelearn.training.schedule import discreteness_loss, discreteness_weight, learned_layers
    cfg = toy_config(discreteness=2.0, iterations=100)
    assert discreteness_weight(cfg, 0) == 0.0 and discreteness_weight(cfg, 50) == pytest.approx(1.0)
    assert discreteness_weight(cfg, 100) == 2.0 and discreteness_weight(toy_config(iterations=100), 70) == 0.0
    for bad in (-1.0, float("nan")):
        with pytest.raises(InputError, match="discreteness"):
            discreteness_weight(cfg.replace(discreteness=bad), 0)
    # Gaussian init starts far from discrete gates; the penalty must end lower with it than without.
    ds = toy_dataset()
    settings = dict(iterations=120, init="gaussian")
    plain, _ = train_model(toy_config(**settings), tmp_path / "plain", progress=False, dataset=ds)
    pulled, summary = train_model(toy_config(discreteness=1.0, **settings), tmp_path / "pulled",
                                  progress=False, dataset=ds)
    # only the first layer when asked
    first, _ = train_model(toy_config(discreteness=1.0, discreteness_layers=1, **settings), tmp_path / "first",
                           progress=False, dataset=ds)
    with torch.no_grad():
        assert discreteness_loss(learned_layers(pulled)) < 0.7 * discreteness_loss(learned_layers(plain))
        assert len(learned_layers(first, 1)) == 1
        assert discreteness_loss(learned_layers(first)[:1]) < 0.7 * discreteness_loss(learned_layers(plain)[:1])
    assert summary["config"]["discreteness"] == 1.0


def test_harden_at_freezes_layers_as_their_discrete_gates(tmp_path):
    from gatelearn.layers.parametrization import hard_weights
    from gatelearn.training.schedule import learned_layers
    ds = toy_dataset()
    half, _ = train_model(toy_config(iterations=30), tmp_path / "half", progress=False, dataset=ds)
    full, summary = train_model(toy_config(iterations=60, harden_at=[0.5]), tmp_path / "full", progress=False,
                                dataset=ds)
    first, second = learned_layers(full)
    # the first layer is its gates as of step 30, frozen there; the second kept learning
    assert torch.equal(first.gate_ids(), learned_layers(half)[0].gate_ids())
    assert torch.equal(first.weight, hard_weights(first.parametrization, first.gate_ids()))
    assert not first.weight.requires_grad and second.weight.requires_grad
    assert summary["config"]["harden_at"] == [0.5]
    # resuming across the hardening point gives the same model as the straight run
    train(toy_config(iterations=20), tmp_path / "resumed", progress=False, dataset=ds)
    resumed, _ = train_model({"iterations": 60, "harden_at": [0.5]}, tmp_path / "resumed", resume=True,
                             progress=False, dataset=ds)
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    with pytest.raises(InputError, match="only 2 learned layers"):
        train(toy_config(harden_at=[0.1, 0.2, 0.3]), tmp_path / "bad1", progress=False, dataset=ds)
    with pytest.raises(InputError, match=r"harden_at must be a list of finite numbers in \[0, 1\], got 1.5"):
        train(toy_config(harden_at=[1.5]), tmp_path / "bad2", progress=False, dataset=ds)


def grey_dataset(n_train: int = 300, n_test: int = 100, seed: int = 0, image=None) -> Dataset:
    """Random 4x4 'images' of bytes under the MNIST name (threshold 127); label = the mean of the
    top row is dark (> 127)."""
    rng = np.random.default_rng(seed)

    def part(n):
        x = rng.integers(0, 256, size=(n, 16)).astype(np.uint8)
        return x, (x[:, :4].mean(1) > 127).astype(np.int64)

    (xtr, ytr), (xte, yte) = part(n_train), part(n_test)
    return Dataset("mnist", xtr, ytr, xte, yte, 2, image, ["light", "dark"], [f"p{i}" for i in range(16)], {})


def test_training_on_relaxed_inputs(tmp_path):
    """relaxed_inputs trains on the encoder's ramp (grey values for width 255) and changes the
    result; evaluation, the summary and the saved model use the hard bits."""
    ds = grey_dataset()
    cfg = make_config("mnist-small", iterations=30, eval_every=10, batch_size=20, threads=1, tau=2.0,
                      relaxed_inputs=0, augment_shift=0)   # these 4x4 rows have no image shape
    cfg = cfg.replace(encoder=None, layers=[{"kind": "logic", "out": 32}, {"kind": "logic", "out": 16}])
    grey, summary = train_model(cfg.replace(relaxed_inputs=255.0), tmp_path / "grey", progress=False, dataset=ds)
    hard, _ = train_model(cfg, tmp_path / "hard", progress=False, dataset=ds)
    assert any(not torch.equal(v, hard.state_dict()[k]) for k, v in grey.state_dict().items())
    loaded = gatelearn.load(tmp_path / "grey")
    loaded.eval()
    x_test = torch.as_tensor(ds.x_test)
    assert torch.equal(loaded.encoder(x_test), (x_test > 127).float())
    predicted = loaded(x_test).argmax(1).numpy()
    assert summary["hard_accuracy"] == pytest.approx((predicted == ds.y_test).mean())
    with pytest.raises(InputError, match="relaxed_inputs must be a finite number >= 0, got -1.0"):
        train(cfg.replace(relaxed_inputs=-1.0), tmp_path / "negative", progress=False, dataset=ds)
    with pytest.raises(InputError, match="threshold encoder.*onehot"):
        train(toy_config(relaxed_inputs=1.0), tmp_path / "onehot", progress=False, dataset=toy_dataset())


def test_shift_images_matches_a_plain_translation():
    from gatelearn.data.augment import draw_shifts, shift_images, step_generator
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(1, 256, size=(40, 2 * 5 * 6)).astype(np.uint8))
    shifts = draw_shifts(40, 2, step_generator(3, 7))
    assert torch.equal(shifts, draw_shifts(40, 2, step_generator(3, 7)))     # (seed, step) decides
    assert not torch.equal(shifts, draw_shifts(40, 2, step_generator(3, 8)))
    assert set(shifts.flatten().tolist()) == {-2, -1, 0, 1, 2}
    out = shift_images(x, (2, 5, 6), shifts, 2)
    assert out.dtype == x.dtype and out.shape == x.shape
    for i, (dy, dx) in enumerate(shifts.tolist()):
        want = np.zeros((2, 5, 6), np.uint8)
        img = x[i].view(2, 5, 6).numpy()
        for y in range(5):
            for xx in range(6):
                if 0 <= y - dy < 5 and 0 <= xx - dx < 6:
                    want[:, y, xx] = img[:, y - dy, xx - dx]
        assert np.array_equal(out[i].view(2, 5, 6).numpy(), want), (i, dy, dx)
    with pytest.raises(InputError, match="augment_shift must be in"):
        shift_images(x, (2, 5, 6), shifts, 5)
    with pytest.raises(InputError, match="rows of 2\\*5\\*6 = 60 pixels"):
        shift_images(x[:, :59], (2, 5, 6), shifts, 2)
    with pytest.raises(InputError, match=r"rows \(B, C\*H\*W\), got shape \(40, 2, 5, 6\)"):
        shift_images(x.reshape(len(x), 2, 5, 6), (2, 5, 6), shifts, 2)
    with pytest.raises(InputError, match="offsets within"):
        shift_images(x, (2, 5, 6), shifts * 2, 2)


def test_training_on_shifted_images_resumes_identically(tmp_path):
    """augment_shift trains on shifted copies (a different model than without), keeps the test
    images as they are, and a resumed run draws the same shifts as an uninterrupted one."""
    ds = grey_dataset(image=(1, 4, 4))
    cfg = make_config("mnist-small", iterations=30, eval_every=10, checkpoint_every=15, batch_size=20,
                      threads=1, tau=2.0, augment_shift=1)
    # no lr step: the schedule would differ between a 15- and a 30-step run
    cfg = cfg.replace(encoder=None, lr_decay_at=None,
                      layers=[{"kind": "logic", "out": 32}, {"kind": "logic", "out": 16}])
    shifted, summary = train_model(cfg, tmp_path / "shifted", progress=False, dataset=ds)
    plain, _ = train_model(cfg.replace(augment_shift=0), tmp_path / "plain", progress=False, dataset=ds)
    assert any(not torch.equal(v, plain.state_dict()[k]) for k, v in shifted.state_dict().items())
    shifted.eval()
    predicted = shifted(torch.as_tensor(ds.x_test)).argmax(1).numpy()
    assert summary["hard_accuracy"] == pytest.approx((predicted == ds.y_test).mean())
    train(cfg.replace(iterations=15), tmp_path / "resumed", progress=False, dataset=ds)
    resumed, _ = train_model({"iterations": 30}, tmp_path / "resumed", resume=True, progress=False, dataset=ds)
    for k, v in shifted.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), f"{k} differs after resume"
    with pytest.raises(InputError, match="augment_shift must be in"):
        train(cfg.replace(augment_shift=4), tmp_path / "too-far", progress=False, dataset=ds)
    with pytest.raises(InputError, match="augment_shift needs image data.*'toy'"):
        train(toy_config(augment_shift=1), tmp_path / "tabular", progress=False, dataset=toy_dataset())


def test_resume_rejects_changed_settings_and_existing_runs(tmp_path):
    ds = toy_dataset()
    train(toy_config(iterations=10, eval_every=10), tmp_path, progress=False, dataset=ds)
    with pytest.raises(InputError, match="lr"):
        train({"lr": 0.5, "iterations": 20}, tmp_path, resume=True, progress=False, dataset=ds)
    # A checkpoint written before a run setting existed counts as having its default then.
    from gatelearn.training.config import resume_config
    old_config = {k: v for k, v in toy_config(iterations=10).to_dict().items() if k != "split_seed"}
    with pytest.raises(InputError, match="split_seed: checkpoint None vs now 2"):
        resume_config(old_config, {"split_seed": 2}, tmp_path / "old.safetensors")
    assert resume_config(old_config, {"split_seed": None, "iterations": 20}, tmp_path).iterations == 20
    with pytest.raises(InputError, match="--resume"):
        train(toy_config(iterations=10), tmp_path, progress=False, dataset=ds)
    with pytest.raises(FileFormatError, match="no checkpoint"):
        train({}, tmp_path / "empty", resume=True, progress=False, dataset=ds)


def test_init_from_a_trained_model_fine_tunes_it(tmp_path):
    ds = toy_dataset()
    trained, _ = train_model(toy_config(iterations=30), tmp_path / "soft", progress=False, dataset=ds)
    # Zero steps from it, with another seed (other wiring were it built fresh) and Gumbel
    # sampling: the same network, weights and wiring.
    copy, summary = train_model(toy_config(iterations=0, seed=5, sampling="gumbel", init_from=tmp_path / "soft"),
                                tmp_path / "copy", progress=False, dataset=ds)
    assert all(torch.equal(v, copy.state_dict()[k]) for k, v in trained.state_dict().items())
    assert copy.layers[0].sampling == "gumbel"
    assert summary["hard_accuracy"] == json.loads((tmp_path / "soft" / "summary.json").read_text())["hard_accuracy"]
    # Fine-tuning trains from there (fresh optimizer), and resumes like any run.
    train(toy_config(iterations=20, sampling="gumbel", init_from=tmp_path / "soft"), tmp_path / "ft",
          progress=False, dataset=ds)
    assert (tmp_path / "ft" / "model.safetensors").exists()

    with pytest.raises(InputError, match="layer 0 is .*'out': 24.*this run's is .*'out': 48"):
        cfg = toy_config(init_from=tmp_path / "soft").replace(
            layers=[{"kind": "logic", "out": 48}, {"kind": "logic", "out": 12}])
        train(cfg, tmp_path / "wide", progress=False, dataset=ds)
    with pytest.raises(InputError, match="'parametrization': 'softmax16'"):
        train(toy_config(parametrization="light", init_from=tmp_path / "soft"), tmp_path / "light",
              progress=False, dataset=ds)
    other = toy_dataset()
    other.categories = {f: ["a", "b", "c", "d"] for f in other.categories}
    with pytest.raises(InputError, match="input encoder differs"):
        train(toy_config(init_from=tmp_path / "soft"), tmp_path / "enc", progress=False, dataset=other)
    with pytest.raises(InputError, match="no saved model"):
        train(toy_config(init_from=tmp_path / "missing"), tmp_path / "none", progress=False, dataset=ds)


def test_input_levels_replace_the_datasets_thresholds(tmp_path):
    rng = np.random.default_rng(0)
    ds = Dataset("mnist", rng.integers(0, 256, (64, 16)).astype(np.uint8), rng.integers(0, 10, 64),
                 rng.integers(0, 256, (16, 16)).astype(np.uint8), rng.integers(0, 10, 16), 10, (1, 4, 4),
                 [str(i) for i in range(10)], [f"p{i}" for i in range(16)])
    config = toy_config(iterations=3, input_levels=[63, 127, 191]).replace(
        dataset="mnist", relaxed_inputs=None, augment_shift=0,
        layers=[{"kind": "logic", "out": 40}, {"kind": "logic", "out": 20}])
    model, _ = train_model(config, tmp_path / "levels", progress=False, dataset=ds)
    assert model.encoder.per_feature == 3 and model.layers[0].in_features == 48
    assert torch.equal(model.encoder.thresholds, torch.tensor([[63.0, 127.0, 191.0]]).expand(16, 3))
    assert torch.equal(gatelearn.load(tmp_path / "levels").encoder.thresholds, model.encoder.thresholds)
    with pytest.raises(InputError, match="needs a threshold encoder"):
        train(toy_config(input_levels=[1.0]), tmp_path / "onehot", progress=False, dataset=toy_dataset())


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupted_checkpoint_names_the_file(tmp_path, damage):
    ds = toy_dataset()
    train(toy_config(iterations=10, eval_every=10), tmp_path, progress=False, dataset=ds)
    file = tmp_path / CHECKPOINT_FILE
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 64 + data[64:])
    with pytest.raises(FileFormatError, match=str(file).replace("\\", "\\\\")):
        train({"iterations": 20}, tmp_path, resume=True, progress=False, dataset=ds)


# ------------------------------------------------------------------------- gate usage

def test_gate_usage_walks_back_through_operands_read():
    spec = {"encoder": {"kind": "bits", "features": 4},
            "layers": [{"kind": "logic", "out": 4}, {"kind": "logic", "out": 2}],
            "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": 0}
    model = build_model(spec)
    l1, l2 = model.layers

    def set_gates(layer, names, a, b):
        with torch.no_grad():
            layer.weight.fill_(0.0)
            for j, name in enumerate(names):
                layer.weight[j, BY_NAME[name].id] = 10.0
            layer.idx_a.copy_(torch.tensor(a))
            layer.idx_b.copy_(torch.tensor(b))

    # Layer 2: gate 0 = `A` of layer-1 gate 1 (ignores its b = gate 2); gate 1 = NOT_B of gate 3.
    set_gates(l2, ["A", "NOT_B"], [1, 0], [2, 3])
    # Layer 1: gate 1 = AND, gate 3 = TRUE (reads nothing); gates 0 and 2 feed nothing used.
    set_gates(l1, ["XOR", "AND", "OR", "TRUE"], [0, 0, 1, 2], [1, 1, 2, 3])
    usage = gate_usage(model)
    assert usage["gates"] == 6 and usage["gates_used"] == 4
    first, last = usage["layers"]
    assert (first["used"], last["used"]) == (2, 2)
    assert first["kinds"][BY_NAME["AND"].id] == 1 and first["kinds"][BY_NAME["TRUE"].id] == 1
    assert first["kinds"][BY_NAME["XOR"].id] == 0 and first["kinds"][BY_NAME["OR"].id] == 0


# ------------------------------------------------------------------------- presets

def test_presets_are_data_and_build_models():
    from gatelearn.training.sizing import resolve
    for name in PRESETS:
        preset = get_preset(name)
        json.dumps(preset)   # plain data
        for key in ("dataset", "layers", "tau", "optimizer", "lr", "batch_size", "iterations", "eval_every"):
            assert key in preset, (name, key)
        if all(layer["kind"] == "logic" for layer in preset["layers"]) and \
                sum(layer["out"] for layer in preset["layers"]) <= 2000:
            # a preset without tau takes the rule's (resolved once the classes are known)
            tau = resolve(make_config(name), 2).tau
            assert tau == (preset["tau"] or tau) and tau > 0
            spec = {"encoder": {"kind": "bits", "features": 17}, "layers": layer_specs(preset),
                    "head": {"kind": "groupsum", "classes": 2, "tau": tau}, "seed": 0}
            assert build_model(spec).num_gates() == sum(layer["out"] for layer in preset["layers"])
    assert get_preset("adult")["layers"] == [{"kind": "logic", "out": 256}] * 5
    assert get_preset("breast-cancer")["lr"] == 1e-3
    assert [layer["out"] for layer in get_preset("mnist-large")["layers"]] == [64_000] * 6


def test_overrides_reach_every_layer_generically():
    config = make_config("monk1", parametrization="light", sampling="gumbel")
    config = config.replace(layers=config.layers + [{"kind": "flatten"}])
    specs = layer_specs(config)
    assert all(s["parametrization"] == "light" and s["sampling"] == "gumbel" for s in specs[:-1])
    assert specs[-1] == {"kind": "flatten"}   # layers without the option are left alone


def test_unknown_preset_and_setting():
    with pytest.raises(InputError, match="known presets: .*monk1"):
        get_preset("mnist-huge")
    with pytest.raises(InputError, match="momentum"):
        make_config("monk1", momentum=0.9)


# ------------------------------------------------------------------------- the config

def test_every_preset_is_a_valid_config():
    for name in PRESETS:
        config = make_config(name)
        assert config.preset == name and TrainConfig.from_dict(config.to_dict()) == config


def test_config_round_trips_through_json_and_toml(tmp_path):
    from gatelearn.training import load_config
    config = make_config("mnist-conv-s", iterations=50, seed=4, split_seed=None, harden_at=[0.5],
                         input_levels=[63, 127, 191], init_from=tmp_path / "run")
    # values are normalised as they are made: what JSON gives back compares equal
    assert config.input_levels == [63.0, 127.0, 191.0] and config.init_from == str(tmp_path / "run")
    config.save(tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config
    # A None in a file counts (here: no lr step, where the preset has one), as it does in a dict.
    plain = config.replace(lr_decay_at=None)
    plain.save(tmp_path / "plain.json")
    assert load_config(tmp_path / "plain.json").lr_decay_at is None
    assert TrainConfig.from_dict(json.loads(plain.to_json())) == plain
    # A hand-written TOML file names a preset and changes what differs; overrides go over it.
    (tmp_path / "run.toml").write_text(
        'preset = "monk1"\niterations = 500\nlr = 1\nharden_at = [0.5]\n'
        '[[layers]]\nkind = "logic"\nout = 32\n[[layers]]\nkind = "logic"\nout = 16\n')
    from_toml = load_config(tmp_path / "run.toml", seed=7, iterations=None)
    assert from_toml == make_config("monk1", iterations=500, lr=1.0, harden_at=[0.5], seed=7, widths=[32, 16])
    # without a preset, the network is sized when the data is known; the data itself is required
    (tmp_path / "bare.toml").write_text("iterations = 5\n")
    bare = load_config(tmp_path / "bare.toml")
    assert bare.iterations == 5 and bare.layers is None and bare.tau is None and bare.eval_every is None
    from gatelearn.training import train
    with pytest.raises(InputError, match="no data to train on: name a preset or a dataset, or give your own"):
        train(bare, tmp_path / "bare-run", progress=False)


def test_bad_settings_give_one_line_naming_them(tmp_path):
    from gatelearn.training import load_config
    for file, text, message in (
            ("a.toml", 'preset = "monk1"\nmomentum = 0.9\n',
             r"a.toml: unknown training setting\(s\) momentum; known: "),
            ("b.toml", 'preset = "monk1"\niterations = "many"\n', "b.toml: iterations must be an integer, got 'many'"),
            ("c.json", '{"preset": "monk1", "keep": "first"}', "c.json: keep must be 'last' or 'best', got 'first'"),
            ("d.json", '{"preset": "monk1",', "d.json is not valid JSON"),
            ("e.toml", 'preset = "monk1"\nlr = true\n', "lr must be a number, got True")):
        (tmp_path / file).write_text(text)
        with pytest.raises(InputError, match=message) as info:
            load_config(tmp_path / file)
        assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="optimizer must be 'adam' or 'adamw', got 'sgd'"):
        make_config("monk1", optimizer="sgd")
    with pytest.raises(InputError, match=r"unknown training setting\(s\) momentum"):
        train({**toy_config().to_dict(), "momentum": 0.9}, tmp_path / "x", progress=False, dataset=toy_dataset())


# ------------------------------------------------------------------------- real data

def test_monk1_preset_reaches_100_percent(tmp_path):
    summary = train(make_config("monk1", threads=1), tmp_path, progress=False)
    assert summary["hard_accuracy"] == 1.0, summary["hard_accuracy"]


def test_monk3_preset_reaches_97_percent(tmp_path):
    summary = train(make_config("monk3", threads=1), tmp_path, progress=False)
    assert summary["hard_accuracy"] >= 0.97, summary["hard_accuracy"]


def test_breast_cancer_short_run_matches_reloaded_model(tmp_path):
    summary = train(make_config("breast-cancer", iterations=100, eval_every=50, threads=1),
                    tmp_path, progress=False)
    ds = load_dataset("breast-cancer")
    model = gatelearn.load(tmp_path)
    acc = float((model.predict(torch.as_tensor(ds.x_test)) == torch.as_tensor(ds.y_test)).double().mean())
    assert acc == pytest.approx(summary["hard_accuracy"])
    assert summary["gates"] == 640 and model.spec["head"]["tau"] == 20.0
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 2
    # --split-seed trains and tests on another hold-out, and the run records it.
    other = train(make_config("breast-cancer", iterations=10, eval_every=10, threads=1, split_seed=2),
                  tmp_path / "split2", progress=False)
    assert other["config"]["split_seed"] == 2
    ds2 = load_dataset("breast-cancer", split_seed=2)
    model2 = gatelearn.load(tmp_path / "split2")
    acc2 = float((model2.predict(torch.as_tensor(ds2.x_test)) == torch.as_tensor(ds2.y_test)).double().mean())
    assert acc2 == pytest.approx(other["hard_accuracy"])


# ------------------------------------------------------------------------- distributed

def _distributed_worker(rank: int, world: int, init_file: str, out: str, config: dict) -> None:
    import torch.distributed as dist
    from safetensors.torch import save_file
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        model, _ = train_model(config, Path(out) / "run", progress=False, dataset=toy_dataset())
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  str(Path(out) / f"rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()
    # As `gatelearn train --distributed` does (cli/train.py): DDP keeps gloo's threads alive past
    # destroy_process_group, and the interpreter's exit under them can abort the process.
    os._exit(0)


def test_distributed_matches_single_process(tmp_path):
    import torch.multiprocessing as mp
    from safetensors.torch import load_file
    cfg = dict(sampling="gumbel", dtype="float64", iterations=12, eval_every=1, batch_size=16,
               checkpoint_every=100)
    mp.spawn(_distributed_worker, args=(2, str(tmp_path / "init"), str(tmp_path),
                                        toy_config(distributed=True, **cfg)), nprocs=2, join=True)
    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    for k in r0:
        assert torch.equal(r0[k], r1[k]), f"ranks disagree on {k}"
    single, _ = train_model(toy_config(**cfg), tmp_path / "single", progress=False, dataset=toy_dataset())
    for k, v in single.state_dict().items():
        torch.testing.assert_close(r0[k], v, rtol=1e-9, atol=1e-12, msg=f"{k}: distributed != single")
    dist_loss = [m["loss"] for m in read_metrics(tmp_path / "run" / "metrics.jsonl")]
    single_loss = [m["loss"] for m in read_metrics(tmp_path / "single" / "metrics.jsonl")]
    assert len(dist_loss) == 12
    np.testing.assert_allclose(dist_loss, single_loss, rtol=1e-10)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["world_size"] == 2
