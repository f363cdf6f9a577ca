"""Run directories: one writer at a time (an advisory lock that names its holder), no temporary
files left by a killed writer, files written with the user's umask, paths with spaces and ';'
through every external tool, and a kernel cache keyed by everything that changes the build."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import runs
from gatelearn.cli.main import main
from gatelearn.errors import InputError
from gatelearn.fileio import LOCK_FILE, atomic_path, atomic_write_text, exclusive_lock
from gatelearn.tools import abc, sim, yosys
from gatelearn.training import train

SRC = str(Path(gatelearn.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}

HOLD_LOCK = """
import sys, time
from gatelearn.fileio import exclusive_lock
with exclusive_lock(sys.argv[1]):
    print("LOCKED", flush=True)
    time.sleep(120)
"""


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def wait_for_lock_holder(directory: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Until ``proc`` holds the lock of ``directory`` (it writes its pid into the lock file)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()
        try:
            if (directory / LOCK_FILE).read_text().split() == [str(proc.pid)]:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"process {proc.pid} did not lock {directory} within {timeout} s")


def small_run(path: Path, seed: int = 0) -> Path:
    spec = {"encoder": {"kind": "thresholds", "features": 6, "per_feature": 2},
            "layers": [{"kind": "logic", "out": 60, "init": "gaussian"},
                       {"kind": "logic", "out": 30, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 1.0}, "seed": seed}
    m = gatelearn.build_model(spec)
    with torch.no_grad():
        m.encoder.thresholds.copy_(torch.tensor(np.random.default_rng(seed).uniform(0, 255, (6, 2)),
                                                dtype=torch.float32))
    gatelearn.save(m, path)
    return path


# ------------------------------------------------------------------------------ the lock

def test_second_writer_is_refused_naming_the_holder_and_kill_9_frees_the_lock(tmp_path):
    holder = spawn(HOLD_LOCK, str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        with pytest.raises(InputError) as err:
            with exclusive_lock(tmp_path, error=InputError):
                pass
        msg = str(err.value)
        assert f"pid {holder.pid}" in msg and str(tmp_path) in msg and "\n" not in msg
    finally:
        kill(holder)          # kill -9: the kernel drops the lock with the process
    with exclusive_lock(tmp_path, error=InputError):
        assert (tmp_path / LOCK_FILE).read_text().split() == [str(os.getpid())]


def test_lock_is_reentrant_within_a_process(tmp_path):
    with runs.lock(tmp_path):
        with runs.lock(tmp_path):             # e.g. the demo holding it around each step
            pass
        # still held by this process: another process cannot take it
        r = subprocess.run([sys.executable, "-c", HOLD_LOCK, str(tmp_path)], env=ENV, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode != 0 and f"pid {os.getpid()}" in r.stderr


def test_two_trainings_into_one_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "gatelearn.cli.main", "train", "--preset", "monk1", "--out",
                              str(out), "--iterations", "1000000", "--threads", "1", "--no-progress"],
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_lock_holder(out, first)
        # A second training into the same --out, and --resume of the run still training: both refused.
        for argv in (["train", "--preset", "monk1", "--out", str(out), "--iterations", "5", "--no-progress"],
                     ["train", "--out", str(out), "--resume", "--no-progress"]):
            assert main(argv) == 2
            err = capsys.readouterr().err.strip()
            assert len(err.splitlines()) == 1 and f"pid {first.pid}" in err, err
    finally:
        kill(first)
    with runs.lock(out):       # freed by the kill
        pass


@pytest.fixture(scope="module")
def locked_run(tmp_path_factory):
    """A run directory whose lock another process holds."""
    run = small_run(tmp_path_factory.mktemp("locked"))
    holder = spawn(HOLD_LOCK, str(run))
    assert holder.stdout.readline().strip() == "LOCKED"
    yield run, holder.pid
    kill(holder)


@pytest.mark.parametrize("argv", [
    ["compile", "{run}", "--check", "0"], ["optimize", "{run}"], ["export", "{run}"], ["verify", "{run}"],
    ["predict", "{run}", "--input", "{x}", "--target", "numpy", "--out", "{run}/pred.txt"],
    ["demo", "--out", "{run}", "--no-fresh", "--iterations", "1"],
])
def test_every_writing_command_takes_the_lock(locked_run, tmp_path, capsys, argv):
    run, pid = locked_run
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 6), np.float32))
    before = sorted(p.name for p in run.iterdir())
    assert main([a.format(run=run, x=x) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"pid {pid}" in err, err
    assert sorted(p.name for p in run.iterdir()) == before


def test_readers_do_not_wait_for_the_lock(locked_run, tmp_path, capsys):
    run, _ = locked_run
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 6), np.float32))
    assert main(["predict", str(run), "--input", str(x), "--target", "numpy"]) == 0
    assert main(["predict", str(run), "--input", str(x), "--target", "numpy", "--out", str(tmp_path / "p.txt")]) == 0
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 2


# ------------------------------------------------------------------------------ stale temp files

KILLED_WRITER = """
import sys, time
from gatelearn.fileio import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half a checkpoint")
    print("WRITING", flush=True)
    time.sleep(120)
"""


def test_temp_files_of_a_killed_writer_are_removed_at_the_next_start(tmp_path):
    (tmp_path / "artifacts" / "c").mkdir(parents=True)
    writer = spawn(KILLED_WRITER, str(tmp_path / "checkpoint.safetensors"))
    assert writer.stdout.readline().strip() == "WRITING"
    kill(writer)
    left = list(tmp_path.glob(".checkpoint.safetensors.*.tmp"))
    assert len(left) == 1
    # older names (mkstemp's) and temp files deeper in the artifacts are cleaned too; files that
    # only look a bit like them are not
    old = tmp_path / "artifacts" / "c" / ".gatelearn_net.c.k2_x9q0a.tmp"
    inner = tmp_path / ".tmpGuMDD3"      # safetensors' own temporary file inside our write
    keep = [tmp_path / "notes.tmp", tmp_path / ".hidden", tmp_path / "artifacts" / "x.tmp", tmp_path / ".tmp"]
    for f in [old, inner, *keep]:
        f.write_text("x")
    with runs.lock(tmp_path):
        assert not left[0].exists() and not old.exists() and not inner.exists()
        assert all(f.exists() for f in keep)


def test_a_held_lock_protects_the_holders_temp_files(tmp_path):
    holder = spawn(HOLD_LOCK, str(tmp_path))
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        live = tmp_path / ".model.safetensors.0123abcd.tmp"
        live.write_text("being written")
        with pytest.raises(InputError):
            with runs.lock(tmp_path):
                pass
        assert live.exists()
    finally:
        kill(holder)


def test_training_start_removes_a_killed_checkpoint_write(tmp_path):
    from test_training import toy_config, toy_dataset
    stale = tmp_path / ".checkpoint.safetensors.abcd1234.tmp"
    stale.write_bytes(b"\0" * 100)
    train(toy_config(iterations=2, eval_every=1), tmp_path, progress=False, dataset=toy_dataset())
    assert not stale.exists() and not list(tmp_path.glob(".*.tmp"))


def test_a_training_that_fails_at_setup_leaves_no_folder(tmp_path, monkeypatch):
    from gatelearn.training import loop
    from test_training import toy_config, toy_dataset

    def bad_data(*a, **k):
        raise InputError("bad data")

    monkeypatch.setattr(loop, "prepare_data", bad_data)
    with pytest.raises(InputError, match="bad data"):
        train(toy_config(iterations=2), tmp_path / "new" / "run", progress=False, dataset=toy_dataset())
    assert list(tmp_path.iterdir()) == [tmp_path / "new"] and not list((tmp_path / "new").iterdir())
    (tmp_path / "old").mkdir()
    with pytest.raises(InputError, match="bad data"):
        train(toy_config(iterations=2), tmp_path / "old", progress=False, dataset=toy_dataset())
    assert (tmp_path / "old").is_dir()      # a folder that was there stays


# ------------------------------------------------------------------------------ file modes

@pytest.mark.parametrize("umask, mode, exe", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750), (0o077, 0o600, 0o700)])
def test_written_files_follow_the_umask(tmp_path, umask, mode, exe):
    from safetensors.torch import save_file
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
        with atomic_path(tmp_path / "c.safetensors") as tmp:
            save_file({"w": torch.zeros(2)}, str(tmp))       # safetensors writes its files 0600
        with atomic_path(tmp_path / "d.sh") as tmp:
            tmp.write_text("#!/bin/sh\n")
            tmp.chmod(0o700)                                  # a writer that makes it executable
        small_run(tmp_path / "run")
    finally:
        os.umask(old)
    for f in ("a.json", "b.bin", "c.safetensors", "run/model.safetensors", "run/model.json"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == mode, f
    assert stat.S_IMODE((tmp_path / "d.sh").stat().st_mode) == exe


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ paths and tools

@pytest.mark.skipif(not (abc.available() and yosys.available()), reason="ABC and yosys are needed")
def test_paths_with_space_and_semicolon_go_through_every_tool(tmp_path, monkeypatch):
    from gatelearn.flows.export import export
    from gatelearn.flows.optimize import optimize
    from gatelearn.flows.report import report
    from gatelearn.flows.simulate import simulate_artifact
    from gatelearn.flows.verify import verify
    # the run directory and the temporary folders the tools run in
    run = tmp_path / "my runs; rm -rf x" / "a b;c"
    run.mkdir(parents=True)
    scratch = tmp_path / "t m;p"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))        # what the tools would inherit
    small_run(run)
    assert optimize(run).proven is True
    export(run, pipeline=2, vectors=16)
    rep = verify(run)
    assert rep.ok, [(c.item, c.status, c.detail) for c in rep.failed]
    assert len(rep.checks) >= 6
    r = report(run, full_luts=True)
    assert r["abc_ands"] > 0 and r["luts_network"] > 0 and r["luts_full"] >= r["luts_network"]
    if sim.available("iverilog"):
        s = simulate_artifact(run, "gatelearn_model", simulator="iverilog")
        assert s["testbench_errors"] == 0 and s["class_agree"] == s["vectors"] == 16
    assert not (run / "x").exists() and list(scratch.iterdir()) == []
    # the tools themselves, on files whose names hold a space and a ';'
    net = run / "artifacts" / "net.aig"
    odd = run / "n e;t.aig"
    odd.write_bytes(net.read_bytes())
    assert abc.cec(odd, net).equivalent is True
    assert abc.stats(odd).ands == abc.stats(net).ands
    assert abc.lut_map(odd).luts > 0
    dst = run / "o u;t.aig"
    abc.optimize(odd, dst)
    assert abc.cec(dst, net).equivalent is True


@pytest.mark.skipif(not yosys.available(), reason="yosys is needed")
def test_yosys_refuses_a_top_that_is_not_an_identifier(tmp_path):
    v = tmp_path / "m.v"
    v.write_text("module m(input a, output y); assign y = a; endmodule\n")
    with pytest.raises(InputError, match="identifier"):
        yosys.to_blif([v], "m; !touch pwned", tmp_path / "m.blif")
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------------------ kernel cache

def test_kernel_cache_key_covers_everything_that_changes_the_build(monkeypatch):
    from gatelearn.kernels import build
    src = build.Extension("gatelearn_logic", "logic_fused.cpp", "x").source
    key = build.build_key(src)
    assert key == build.build_key(src)
    sig = build.build_signature(src)
    for part in ("torch", "include_paths", "compiler", "flags", "sources", "python_abi", "cpu"):
        assert part in sig, part
    monkeypatch.setattr(build, "_include_paths", lambda: ["/other/venv/include"])
    assert build.build_key(src) != key
    monkeypatch.undo()
    monkeypatch.setenv("CXX", "/bin/false")
    assert build.build_key(src) != key
    monkeypatch.delenv("CXX")
    monkeypatch.setattr(build, "FLAGS", [*build.FLAGS, "-DX"])
    assert build.build_key(src) != key
    monkeypatch.undo()
    monkeypatch.setattr(build, "_python_abi", lambda: "cpython-399-x")
    assert build.build_key(src) != key


def test_kernel_build_says_so_only_when_it_builds(tmp_path, monkeypatch, capsys):
    from torch.utils import cpp_extension

    from gatelearn.kernels import build
    builds = []

    def fake_load(name, sources, build_directory, **kw):
        builds.append(name)
        (Path(build_directory) / f"{name}.so").write_bytes(b"")
        return object()

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.delenv("GATELEARN_NO_EXTENSION", raising=False)
    assert build.Extension("gatelearn_logic", "logic_fused.cpp", "x").get() is not None
    assert "building the CPU kernels (first run" in capsys.readouterr().err
    assert build.Extension("gatelearn_logic", "logic_fused.cpp", "x").get() is not None
    assert "building" not in capsys.readouterr().err
    assert len(builds) == 2 and builds[0] == builds[1]
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 1


def test_training_time_leaves_out_the_kernel_build(tmp_path, monkeypatch):
    from gatelearn import kernels
    from test_training import toy_config, toy_dataset
    if not kernels.fused_available():
        pytest.skip(f"fused kernel unavailable: {kernels.fused_unavailable_reason()}")
    ext = kernels._EXTENSION
    module = ext.module

    def slow_build():
        time.sleep(2.0)
        return module

    monkeypatch.setattr(ext, "module", None)
    monkeypatch.setattr(ext, "_build", slow_build)
    summary = train(toy_config(iterations=3, eval_every=3), tmp_path, progress=False,
                              dataset=toy_dataset())
    assert ext.module is module
    assert summary["train_seconds"] < 1.5, summary["train_seconds"]
    assert json.loads((tmp_path / "summary.json").read_text())["train_seconds"] < 1.5
