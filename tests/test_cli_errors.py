"""Bad input at the command line ends in one line on stderr and exit code 2 (1 for a failed tool,
the system or a bug), never in a traceback. A sample of what benchmarks/bad_inputs.py tries."""
from __future__ import annotations

import errno
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gatelearn.cli.main import main

PYTHON = sys.executable


def cli(*argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gatelearn ARGV`` run in this process (argparse's
    SystemExit included)."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_one_line(code: int, err: str, expected_code: int = 2, *words: str) -> None:
    assert code == expected_code, err
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    for w in words:
        assert w in err, (w, err)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cli_errors") / "run"
    code, _, err = cli("train", "--preset", "monk1", "--out", d, "--iterations", "50", "--eval-every", "25",
                       "--threads", "1", "--no-progress")
    assert code == 0, err
    return d


# ------------------------------------------------------------------ training settings

@pytest.mark.parametrize("flag, value, words", [
    ("--lr", "nan", ("lr", "nan", "> 0")),
    ("--lr", "-1", ("lr", "-1", "> 0")),
    ("--lr", "inf", ("lr", "finite")),
    ("--tau", "0", ("tau", "> 0")),
    ("--eval-every", "0", ("eval_every", ">= 1")),
    ("--checkpoint-every", "-3", ("checkpoint_every", "-3", ">= 1")),
    ("--threads", "0", ("threads", "[1, 1024]")),
    ("--time-limit", "-1", ("time_limit", ">= 0")),
    ("--batch-size", "0", ("batch_size", "[1, 16777216]")),
    ("--iterations", "-1", ("iterations", ">= 0")),
    ("--validation", "1", ("validation", "[0, 1)")),
    ("--lr-decay-at", "0", ("lr_decay_at", "(0, 1]")),
    ("--harden-at", "0.5,2", ("harden_at", "[0, 1]", "2.0")),
    ("--widths", "32,0", ("widths", ">= 1")),
    ("--seed", "-1", ("seed", "[0, 4294967295]")),
    ("--weight-decay", "-0.1", ("weight_decay", ">= 0")),
    ("--discreteness-layers", "-1", ("discreteness_layers",)),
    ("--input-levels", "1,nan", ("input_levels", "finite")),
])
def test_bad_training_setting_is_one_line(tmp_path, flag, value, words):
    code, _, err = cli("train", "--preset", "monk1", flag, value, "--out", tmp_path / "run", "--no-progress")
    assert_one_line(code, err, 2, "gatelearn train: error:", *words)
    assert not (tmp_path / "run").exists()


def test_bad_setting_in_a_config_file_names_the_file(tmp_path):
    (tmp_path / "c.json").write_text('{"preset": "monk1", "lr": NaN}')
    code, _, err = cli("train", "--config", tmp_path / "c.json", "--out", tmp_path / "run")
    assert_one_line(code, err, 2, "c.json", "lr")
    (tmp_path / "c.toml").write_text('preset = "monk1"\nsplit_seed = "paper"\n')
    code, _, err = cli("train", "--config", tmp_path / "c.toml", "--out", tmp_path / "run")
    assert_one_line(code, err, 2, "c.toml", "split_seed", "reference")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = cli("train", "--config", tmp_path / "binary.json", "--out", tmp_path / "run")
    assert_one_line(code, err, 2, "binary.json", "not a text file")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    code, _, err = cli("train", "--config", tmp_path / "deep.json", "--out", tmp_path / "run")
    assert_one_line(code, err, 2, "deep.json", "nested too deeply")


def test_config_checks_every_setting_when_made():
    from gatelearn.errors import InputError
    from gatelearn.training import make_config
    with pytest.raises(InputError, match=r"^lr must be a finite number > 0, got nan$"):
        make_config("monk1", lr=float("nan"))
    with pytest.raises(InputError, match=r"eval_every must be an integer >= 1, got 0"):
        make_config("monk1").replace(eval_every=0)
    assert make_config("monk1", checkpoint_every=None, threads=None).threads is None   # none: the default


def test_resume_with_a_bad_setting(run_dir):
    code, _, err = cli("train", "--out", run_dir, "--resume", "--eval-every", "0", "--no-progress")
    assert_one_line(code, err, 2, "eval_every")


def test_argparse_errors_are_one_line():
    code, _, err = cli("train", "--preset", "monk1", "--lr", "abc")
    assert_one_line(code, err, 2, "--lr", "expected a number")
    code, _, err = cli("bench", "x", "--samples", "-5")
    assert_one_line(code, err, 2, "--samples", "-5", ">= 1")
    code, _, err = cli("compile", "x", "--check", "-1")
    assert_one_line(code, err, 2, "--check", ">= 0")
    code, _, err = cli("bench", "x", "--seconds", "nan")
    assert_one_line(code, err, 2, "--seconds", "finite")
    code, _, err = cli("nosuchcommand")
    assert_one_line(code, err, 2, "nosuchcommand")


# ------------------------------------------------------------------ predict inputs

def _idx(dims: list[int], data: bytes = b"", code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + data


@pytest.mark.parametrize("name, write, words", [
    ("zero.npy", lambda p: np.save(p, np.zeros((0, 6), np.uint8)), ("no samples",)),
    ("scalar.npy", lambda p: np.save(p, np.array(3.0)), ("0-d", "(N, features)")),
    ("complex.npy", lambda p: np.save(p, np.zeros((2, 6), np.complex64)), ("complex64",)),
    ("text.npy", lambda p: np.save(p, np.array([["1"] * 6])), ("<U1",)),
    ("archive.npy", lambda p: np.savez(open(p, "wb"), x=np.zeros(3)), ("not a .npy array",)),
    ("huge.npy", lambda p: p.write_bytes(_npy_header((10**6, 10**6)) + b"\0" * 64), ("bytes",)),
    ("empty.csv", lambda p: p.write_text(""), ("no samples",)),
    ("blank.csv", lambda p: p.write_text("\n\n"), ("no samples",)),
    ("header.csv", lambda p: p.write_text("a,b,c,d,e,f\n1,1,1,1,1,1\n"), ("numeric CSV",)),
    ("zero-idx1-ubyte", lambda p: p.write_bytes(_idx([], b"\x01")), ("0 dimensions",)),
    ("big-idx3-ubyte", lambda p: p.write_bytes(_idx([2**32 - 1] * 3, b"\0" * 10)), ("4294967295",)),
    ("short-idx3-ubyte", lambda p: p.write_bytes(_idx([2, 3])[:9]), ("header",)),
    ("bad-idx1-ubyte.gz", lambda p: p.write_bytes(gzip.compress(_idx([2], b"\1\2"))[:-6]), ("gzip",)),
])
def test_bad_feature_files(run_dir, tmp_path, name, write, words):
    p = tmp_path / name
    write(p)
    code, _, err = cli("predict", run_dir, "--input", p, "--target", "numpy")
    assert_one_line(code, err, 2, "gatelearn predict: error:", name, *words)


def _npy_header(shape) -> bytes:
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_read_features_shapes(tmp_path):
    from gatelearn.data.feature_files import read_features
    np.save(tmp_path / "row.npy", np.arange(6))
    assert read_features(str(tmp_path / "row.npy")).shape == (1, 6)
    np.save(tmp_path / "img.npy", np.zeros((4, 2, 3), np.uint8))
    assert read_features(str(tmp_path / "img.npy")).shape == (4, 6)
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n")
    assert read_features(str(tmp_path / "x.csv")).tolist() == [[1, 2, 3], [4, 5, 6]]
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx([2, 1, 2], b"\1\2\3\4"))
    assert read_features(str(tmp_path / "t10k-images-idx3-ubyte")).tolist() == [[1, 2], [3, 4]]


# ------------------------------------------------------------------ import

@pytest.mark.parametrize("text, words", [
    (b"aag 1000000000000 0 0 0 0\n", ("M=1000000000000",)),
    (b"aag 1000000000 1000000000 0 0 0\n", ("1000000000 inputs", "bytes")),
    (b"aag 10 0 0 0 5\n", ("5 AND gates", "bytes")),
    (b"aig 1000000000 0 0 1000000000 0\n2\n", ("1000000000 outputs", "bytes")),
    (b"aig 2000000000 2000000000 0 1 0\n2\n", ("2000000000 inputs", "at most")),
    (b"aag 4 1 0 1 1\n2\n4\n4 2 99999999999999999999999\n", ("out of range",)),
])
def test_import_huge_aiger_header(tmp_path, text, words):
    (tmp_path / "x.aag").write_bytes(text)
    code, _, err = cli("import", tmp_path / "x.aag", tmp_path / "x.npz")
    assert_one_line(code, err, 2, "x.aag", *words)


# ------------------------------------------------------------------ what main() maps

def test_output_path_through_a_file_is_a_bad_path(run_dir, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 6), np.uint8))
    code, _, err = cli("predict", run_dir, "--input", tmp_path / "x.npy", "--target", "numpy",
                       "--out", tmp_path / "x.npy" / "y.txt")
    assert_one_line(code, err, 2, str(tmp_path / "x.npy"), "in the way")


def test_os_error_memory_error_and_bugs_are_one_line(run_dir, tmp_path, monkeypatch):
    import gatelearn.backends.aiger as aiger
    from gatelearn.errors import ToolError
    (tmp_path / "x.aag").write_bytes(b"aag 0 0 0 0 0\n")

    def fail(exc):
        def raiser(*a, **k):
            raise exc
        monkeypatch.setattr(aiger, "read_aiger", raiser)
        return cli("import", tmp_path / "x.aag", tmp_path / "x.npz")

    # disk full: the system, not the input (exit 1), naming the path and the reason
    code, _, err = fail(OSError(errno.ENOSPC, "No space left on device", "/data/x.npz"))
    assert_one_line(code, err, 1, "/data/x.npz", "No space left on device")
    # permission denied / read-only file system: a path the user gave (exit 2)
    code, _, err = fail(PermissionError(errno.EACCES, "Permission denied", "/runs/r/circuit.npz"))
    assert_one_line(code, err, 2, "/runs/r/circuit.npz", "Permission denied")
    code, _, err = fail(OSError(errno.EROFS, "Read-only file system", "/ro/x"))
    assert_one_line(code, err, 2, "/ro/x", "Read-only file system")
    code, _, err = fail(MemoryError("Unable to allocate 7.28 TiB"))
    assert_one_line(code, err, 1, "out of memory", "7.28 TiB")
    code, _, err = fail(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 25600000000 "
                                     "bytes"))   # torch's way of saying it
    assert_one_line(code, err, 1, "out of memory", "25600000000 bytes")
    code, _, err = fail(ToolError("ABC failed: unknown command 'x'\nABC output line 1\nline 2"))
    assert_one_line(code, err, 1, "ABC failed: unknown command 'x'", "GATELEARN_DEBUG=1")
    code, _, err = fail(KeyError("boom\nsecond line"))
    assert_one_line(code, err, 1, "gatelearn import: internal error: KeyError", "please report this bug",
                    "GATELEARN_DEBUG=1")
    code, _, err = fail(ToolError("ABC is not installed"))
    assert_one_line(code, err, 1, "ABC is not installed")
    monkeypatch.setenv("GATELEARN_DEBUG", "1")
    code, _, err = fail(KeyError("boom"))
    assert code == 1 and "Traceback" in err and "internal error" in err.splitlines()[-1]


def test_broken_pipe_exits_quietly(run_dir, tmp_path):
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(0, c, 50_000) for c in (3, 3, 2, 3, 4, 2)], 1).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    proc = subprocess.Popen([PYTHON, "-m", "gatelearn.cli.main", "predict", str(run_dir), "--input",
                             str(tmp_path / "x.npy"), "--target", "numpy", "--scores"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "GATELEARN_DEBUG": ""})
    head = proc.stdout.read(100)
    proc.stdout.close()   # `| head -c 100`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and len(head) == 100
    assert err == "", err


def test_cli_subprocess_has_no_traceback(tmp_path):
    r = subprocess.run([PYTHON, "-m", "gatelearn.cli.main", "train", "--preset", "monk1", "--lr", "nan",
                        "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert json.dumps(r.stdout) == '""'
