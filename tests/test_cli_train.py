"""``gatelearn train`` end to end on the bundled MONK-1 data: files, the summary line, resume,
errors with exit code 2, Ctrl-C leaving a resumable checkpoint, and torchrun --distributed."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gatelearn.cli.main import main
from gatelearn.training import CHECKPOINT_FILE, read_checkpoint_info

BIN = Path(sys.executable).parent


def test_train_cli_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--preset", "monk1", "--out", str(out), "--iterations", "30", "--eval-every", "10",
               "--threads", "1", "--no-progress", "--seed", "3"])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads((out / "summary.json").read_text())
    # the run's summary: what was trained, its accuracy and gap, gates, files, the next command
    assert lines[0].startswith("monk1: 30 iterations in ")
    assert f"hard test accuracy  {100 * summary['hard_accuracy']:.2f}%" in lines[1]
    assert f"gap {100 * summary['gap']:+.2f} points" in lines[1]
    assert f"{summary['gates']:,} learned" in lines[2] and str(out) in lines[3]
    assert lines[-1] == f"next: gatelearn compile {out}   then   gatelearn verify {out}   and   gatelearn report {out}"
    assert summary["config"]["seed"] == 3 and summary["iterations"] == 30
    for name in ("metrics.jsonl", "model.safetensors", "model.json", "accuracy.png", "gates.png", CHECKPOINT_FILE):
        assert (out / name).is_file(), name
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3

    # --resume with only --out continues the same run (seed 3 kept) to more iterations.
    assert main(["train", "--out", str(out), "--resume", "--iterations", "40", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 40 and summary["resumed_from"] == 30 and summary["config"]["seed"] == 3

    # Changing a setting that alters the numbers is refused, naming it.
    assert main(["train", "--out", str(out), "--resume", "--lr", "0.5", "--no-progress"]) == 2
    assert "lr" in capsys.readouterr().err
    # Starting over into a directory with a checkpoint is refused too.
    assert main(["train", "--preset", "monk1", "--out", str(out), "--iterations", "5", "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err

    # The run's config.json (the resumed session's settings: 40 iterations) trains it again, bit for
    # bit: a straight 40-iteration run equals the 30 + 10 one.
    again = tmp_path / "again"
    assert main(["train", "--config", str(out / "config.json"), "--out", str(again), "--no-progress"]) == 0
    assert_same_run(out, again)
    assert json.loads((again / "config.json").read_text()) == json.loads((out / "config.json").read_text())


def assert_same_run(a: Path, b: Path) -> None:
    from gatelearn.model import load
    sa, sb = load(a).state_dict(), load(b).state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    lines = [[{k: v for k, v in json.loads(line).items() if k != "elapsed"}
              for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (a, b)]
    assert lines[0] == lines[1]


def test_config_file_and_flags_over_it(tmp_path, capsys):
    # a TOML file naming a preset; flags given override the file
    (tmp_path / "run.toml").write_text('preset = "monk1"\niterations = 50\nseed = 3\nwidths = [16, 8]\n'
                                       'eval_every = 10\nthreads = 1\n')
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--iterations", "12", "--out", str(out),
                 "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("monk1: 12 iterations in ")
    config = json.loads((out / "config.json").read_text())
    assert config["iterations"] == 12 and config["seed"] == 3 and config["layers"][1] == {"kind": "logic", "out": 8}
    assert json.loads((out / "summary.json").read_text())["config"] == config
    # One clear line for an unknown or ill-typed setting in a file, exit code 2.
    (tmp_path / "bad.toml").write_text('preset = "monk1"\nmomentum = 0.9\n')
    assert main(["train", "--config", str(tmp_path / "bad.toml"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml: unknown training setting(s) momentum; known: preset," in err
    (tmp_path / "bad.json").write_text('{"preset": "monk1", "batch_size": 2.5}')
    assert main(["train", "--config", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")]) == 2
    assert "bad.json: batch_size must be an integer, got 2.5" in capsys.readouterr().err


def test_help_lists_every_setting_with_its_help(capsys):
    from gatelearn.training.config import settings
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = "".join(capsys.readouterr().out.split())   # argparse wraps lines (also at hyphens)
    for s in settings():
        assert "".join(s.help.split()) in text, s.name
        assert (s.flag if s.cli else f"{s.name}:") in text, s.name


def test_harden_and_discreteness_flags(tmp_path, capsys):
    out = tmp_path / "hard"
    assert main(["train", "--preset", "monk1", "--out", str(out), "--iterations", "20", "--threads", "1",
                 "--no-progress", "--harden-at", "0.5,0.75", "--discreteness", "0.5",
                 "--discreteness-layers", "2"]) == 0
    config = json.loads((out / "summary.json").read_text())["config"]
    assert config["harden_at"] == [0.5, 0.75] and config["discreteness"] == 0.5 and config["discreteness_layers"] == 2
    # 'none' turns off a preset's hardening; a malformed list is refused by argparse
    out = tmp_path / "none"
    assert main(["train", "--preset", "monk1", "--out", str(out), "--iterations", "5", "--threads", "1",
                 "--no-progress", "--harden-at", "none"]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["harden_at"] == []
    with pytest.raises(SystemExit):
        main(["train", "--preset", "monk1", "--harden-at", "half"])
    assert "e.g. 0.5,0.7, got 'half'" in capsys.readouterr().err


def test_validation_and_keep_flags(tmp_path, capsys):
    out = tmp_path / "best"
    assert main(["train", "--preset", "monk1", "--out", str(out), "--iterations", "40", "--eval-every", "10",
                 "--threads", "1", "--no-progress", "--validation", "0.2", "--keep", "best"]) == 0
    assert "(best validation)" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["validation"] == 0.2 and summary["kept"] == "best"
    assert summary["kept_iteration"] in (10, 20, 30, 40)
    assert main(["train", "--preset", "monk1", "--out", str(tmp_path / "x"), "--iterations", "5",
                 "--no-progress", "--keep", "best"]) == 2
    assert "--validation" in capsys.readouterr().err


def test_widths_flag(tmp_path, capsys):
    out = tmp_path / "w"
    assert main(["train", "--preset", "monk1", "--out", str(out), "--iterations", "5", "--threads", "1",
                 "--no-progress", "--widths", "32,16"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["gates"] == 48 and [layer["out"] for layer in summary["config"]["layers"]] == [32, 16]
    # the architecture cannot change on a resume; the same widths are accepted
    assert main(["train", "--out", str(out), "--resume", "--widths", "32,8", "--no-progress"]) == 2
    assert "cannot resume" in (err := capsys.readouterr().err) and "layers: checkpoint" in err
    assert main(["train", "--out", str(out), "--resume", "--widths", "32,16", "--iterations", "6",
                 "--no-progress"]) == 0
    capsys.readouterr()
    for bad, msg in ((["--preset", "mnist-conv-s", "--widths", "64"], "has conv, flatten, orpool layers"),
                     (["--preset", "monk1", "--widths", "32,0"], "widths must be a list of integers >= 1, got 0"),
                     (["--preset", "monk1", "--widths", "32,33"], "not divisible into 2 classes")):
        assert main(["train", *bad, "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
        assert msg in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--preset", "monk1", "--widths", "wide"])
    assert "comma-separated integers" in capsys.readouterr().err


def test_unknown_preset_exits_2(tmp_path, capsys):
    assert main(["train", "--preset", "nope", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and "monk1" in err and "mnist-small" in err
    assert main(["train", "--no-progress"]) == 2
    assert "give your data (--data FILE.csv or an image folder) or a --preset" in capsys.readouterr().err
    # MONK has an official test split: --split-seed is refused with the reason.
    assert main(["train", "--preset", "monk1", "--split-seed", "3", "--out", str(tmp_path / "y")]) == 2
    assert "split_seed applies only to datasets without an official test split" in capsys.readouterr().err
    assert main(["train", "--preset", "monk1", "--split-seed", "reference", "--out", str(tmp_path / "z")]) == 2
    assert "split_seed applies only" in capsys.readouterr().err
    out = tmp_path / "bc"
    assert main(["train", "--preset", "breast-cancer", "--split-seed", "reference", "--iterations", "5",
                 "--threads", "1", "--no-progress", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_samples"] == 70 and summary["config"]["split_seed"] == "reference"
    with pytest.raises(SystemExit):
        main(["train", "--preset", "breast-cancer", "--split-seed", "paper"])
    assert "expected an integer or 'reference'" in capsys.readouterr().err


def test_ctrl_c_checkpoints_then_resume(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([str(BIN / "gatelearn"), "train", "--preset", "monk1", "--out", str(out),
                             "--iterations", "1000000", "--eval-every", "5", "--checkpoint-every", "1000000",
                             "--threads", "1", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    info = read_checkpoint_info(out / CHECKPOINT_FILE)
    assert info["iteration"] >= 10 and f"interrupted at iteration {info['iteration']}" in err
    assert f"continue with `gatelearn train --out {out} --resume`" in err
    target = info["iteration"] + 3
    assert main(["train", "--out", str(out), "--resume", "--iterations", str(target), "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["iterations"] == target


@pytest.mark.skipif(shutil.which("torchrun", path=str(BIN)) is None, reason="torchrun not installed")
def test_torchrun_distributed_cli(tmp_path):
    out = tmp_path / "run"
    # faulthandler: should a rank ever abort, its Python stack is in the failure message.
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")
    res = subprocess.run([str(BIN / "torchrun"), "--standalone", "--nproc_per_node", "2",
                          "-m", "gatelearn.cli.main", "train", "--preset", "monk1", "--out", str(out),
                          "--iterations", "20", "--eval-every", "10", "--distributed", "--no-progress"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, f"stdout:\n{res.stdout[-2000:]}\nstderr:\n{res.stderr[-8000:]}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["iterations"] == 20
    assert res.stdout.count("hard test accuracy") == 1   # only rank 0 reports
