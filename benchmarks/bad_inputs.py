"""Malformed inputs against every entry point of gatelearn, each in its own subprocess.

    python benchmarks/bad_inputs.py [--jobs 2] [--timeout 120] [--only TEXT] [--keep DIR]
                                    [--json FILE] [--list]

Builds a tiny trained run directory (the bundled MONK-1 preset, 60 iterations, compiled to C and
exported), then tries several hundred malformed inputs: every ``gatelearn`` subcommand with bad
flags; bad config files; bad feature files (.npy, .csv, IDX); bad AIGER and BLIF files; damaged
run directories (truncated, bit-flipped or hand-edited model.safetensors, checkpoint.safetensors,
circuit.npz, artifacts, manifest.json, summary.json, config.json); read-only run directories;
paths with spaces and shell characters; a stdout closed early; two writers on one run directory;
and the Python API (gatelearn.load, build_model, Circuit.load, parse_aiger / parse_blif, model(x),
the backends' run()) with bad arguments. Each case runs in a subprocess of its own, with a timeout
and a memory limit, in a folder of its own (with its own copy of the run directory when it needs
one), and ends in one of these outcomes:

  ok             exit 0 where success is right (or where either answer is)
  clear          refused with one line on stderr and the expected exit code (API: a GatelearnError)
  wrong_code     refused with one line, but with exit 1 for bad input (2 expected) or the reverse
  multi_line     refused, but stderr holds more than one line
  refused_valid  a valid input refused
  silent         exit 0 (API: a value returned) where the right answer is an error
  internal       the CLI's last resort caught an unexpected exception ("internal error ... please
                 report this bug"): a bug, though not a traceback
  traceback      a Python traceback (API: an exception other than GatelearnError)
  crash          killed by a signal (segfault, abort) or an exit code gatelearn never uses
  hang           still running at the timeout

``ok`` and ``clear`` are clean. A case whose right answer is known says so: a category code out
of range must be refused, so must a NaN weight in model.safetensors, a checkpoint tensor of the
wrong shape, an edited artifact (verify: exit 1); a case without one (a bit flipped inside tensor
data) must only end neither in a traceback nor a crash nor a hang. Each case names the area of
gatelearn it exercises (``--list`` prints them), so a failure points at the code to fix.

Prints one JSON object on stdout (also written to --json): the counts, the counts per area and
every case that was not clean with its command and the tail of its stderr. Progress goes to
stderr. Takes a few minutes: each case starts a Python process (most import torch).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PY = sys.executable
CLEAN = ("ok", "clear")
OUTCOMES = ("ok", "clear", "wrong_code", "multi_line", "refused_valid", "silent", "internal", "traceback",
            "crash", "hang")
MEMORY_LIMIT = 6 << 30          # address space per case: a runaway allocation fails instead of swapping the box
NOBODY = 65534
CATEGORIES = (3, 3, 2, 3, 4, 2)  # MONK-1's features: category codes 0 .. n-1
GATELEARN_EXIT_CODES = (0, 1, 2, 130, 141)


# ------------------------------------------------------------------------------------ cases

@dataclass
class Case:
    """One malformed input. Exactly one of ``argv`` (the CLI: folder -> arguments after
    ``gatelearn``), ``api`` (Python statements; ``D`` is the case's folder, ``BASE`` the shared
    trained run, read only) or ``runner`` (a special procedure) says what runs."""
    id: str
    area: str
    argv: Callable[[Path], list] | None = None
    api: str | None = None
    runner: Callable | None = None
    expect: str = "error"                 # error | ok | any
    codes: tuple[int, ...] = (2,)         # exit codes a clear refusal may have
    prepare: Callable[[Path], None] | None = None
    timeout: float | None = None
    user: str | None = None               # "nobody": run unprivileged (read-only folders as root)
    allow: tuple[str, ...] = ()           # API: exception types that count as a clear refusal too
    needs_artifacts: bool = False


CASES: list[Case] = []


def case(id: str, area: str, **kw) -> None:
    CASES.append(Case(id=id, area=area, **kw))


# --------------------------------------------------------------------------- file helpers

def valid_x(n: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, c, n) for c in CATEGORIES], 1).astype(np.uint8)


def copy_run(d: Path, name: str = "run") -> Path:
    """A private copy of the shared trained run for a case that writes or damages it."""
    dst = d / name
    shutil.copytree(CTX.base, dst, symlinks=False)
    return dst


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def npy_bytes(arr: np.ndarray, **kw) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, arr, **kw)
    return buf.getvalue()


def npy_header(shape, descr: str = "<f8") -> bytes:
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def idx_bytes(dims: list[int], data: bytes = b"", code: int = 0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + data


# File damage: name -> (function of the file's bytes, or a special action; whether the right
# answer is known to be an error). A flipped bit may land where it changes nothing that is
# checked (a timestamp in a zip header, a tensor value), so flips may go either way.
def _flip(at: float):
    def f(b: bytes) -> bytes:
        if not b:
            return b
        i = min(len(b) - 1, int(len(b) * at)) if isinstance(at, float) else at % len(b)
        return b[:i] + bytes([b[i] ^ 0x5A]) + b[i + 1:]
    return f


DAMAGE = {
    "empty": (lambda b: b"", "error"),
    "truncated-10": (lambda b: b[:10], "error"),
    "truncated-half": (lambda b: b[:len(b) // 2], "error"),
    "cut-last-byte": (lambda b: b[:-1], "any"),
    "garbage": (lambda b: random.Random(len(b)).randbytes(max(len(b), 64)), "error"),
    "flip-start": (_flip(9), "any"),
    "flip-middle": (_flip(0.5), "any"),
    "folder": ("folder", "error"),
    "missing": ("missing", "error"),
}


def damage(path: Path, how: str) -> None:
    fn, _ = DAMAGE[how]
    if fn == "folder":
        path.unlink()
        path.mkdir()
        (path / "x").write_text("x")
    elif fn == "missing":
        path.unlink()
    else:
        path.write_bytes(fn(path.read_bytes()))


def edit_safetensors(path: Path, tensors: Callable | None = None, meta: Callable | None = None) -> None:
    """Rewrite a safetensors file with its tensors and/or metadata changed (a hand-edited file)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(path), "pt") as f:
        metadata = dict(f.metadata() or {})
    ts = load_file(str(path))
    if tensors is not None:   # a change in place returns None
        changed = tensors(ts)
        ts = ts if changed is None else changed
    if meta is not None:
        changed = meta(metadata)
        metadata = metadata if changed is None else changed
    save_file(ts, str(path), metadata=metadata)


def edit_json_meta(key: str, change: Callable[[dict], dict | None]) -> Callable[[dict], dict]:
    def f(metadata: dict) -> dict:
        value = json.loads(metadata[key])
        value = change(value) or value
        metadata[key] = json.dumps(value)
        return metadata
    return f


def edit_npz(path: Path, change: Callable[[dict], dict | None]) -> None:
    with np.load(path) as z:
        arrs = {k: z[k] for k in z.files}
    arrs = change(arrs) or arrs
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrs)


def _set(d: dict, path: list, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value
    return None


def _put(arrays: dict, name: str, index: int, value: int) -> None:
    """arrays[name][index] = value, widened to int64 first so the value is stored as given."""
    arr = arrays[name].astype(np.int64)
    arr[index] = value
    arrays[name] = arr


def _delete(d: dict, path: list):
    for k in path[:-1]:
        d = d[k]
    del d[path[-1]]
    return None


# ------------------------------------------------------------------------ the generators

TRAIN_DEFAULTS = {"--iterations": "2", "--eval-every": "1", "--threads": "1"}


def train_argv(d: Path, *extra: str, preset: str | None = "monk1") -> list[str]:
    extra = list(extra)
    argv = ["train", "--out", str(d / "run"), "--no-progress"]
    if preset is not None and "--preset" not in extra and "--config" not in extra:
        argv += ["--preset", preset]
    for flag, value in TRAIN_DEFAULTS.items():
        if flag not in extra:
            argv += [flag, value]
    return argv + extra


def gen_train_flags() -> None:
    bad = {
        "--lr": ["nan", "inf", "-inf", "-1", "0", "1e400", "abc", ""],
        "--tau": ["nan", "0", "-3", "inf", "abc"],
        "--weight-decay": ["-0.1", "nan", "inf"],
        "--lr-decay-at": ["0", "-0.5", "1.5", "nan"],
        "--lr-decay": ["0", "-1", "nan", "inf"],
        "--batch-size": ["0", "-5", "1.5", "abc"],
        "--iterations": ["-1", "-100", "1.5", "abc", "nan"],
        "--relaxed-inputs": ["-1", "nan", "inf"],
        "--augment-shift": ["-1", "1.5", "2"],            # 2: MONK-1 has no images
        "--discreteness": ["-1", "nan", "inf"],
        "--discreteness-layers": ["-1", "abc"],
        "--harden-at": ["2", "-0.1", "nan", "0.5,abc", "0.1,0.2,0.3,0.4,0.5"],   # 5 > MONK-1's 4 layers
        "--validation": ["1", "1.5", "-0.1", "nan"],
        "--seed": ["-1", str(2 ** 40), "abc", "1.5"],
        "--split-seed": ["-1", "paper", "3"],             # 3: MONK-1 has an official split
        "--eval-every": ["0", "-1", "abc"],
        "--checkpoint-every": ["0", "-3"],
        "--threads": ["0", "-1", "100000", "abc"],
        "--time-limit": ["-1", "nan", "-inf", "inf"],
        "--input-levels": ["nan", "1,inf", "abc", ""],
        "--widths": ["0", "32,0", "-8", "abc", "33", "1000000000000"],
        "--parametrization": ["nope"], "--sampling": ["nope"], "--init": ["nope"], "--optimizer": ["sgd"],
        "--keep": ["nope"], "--dtype": ["float16"], "--preset": ["nope", ""],
    }
    for flag, values in bad.items():
        for v in values:
            case(f"train {flag} {v!r}", "config", argv=lambda d, f=flag, v=v: train_argv(d, f, v))
    for size in ("100000000", "1000000000000"):   # memory: refused, or one line saying so (exit 1)
        case(f"train --batch-size {size}", "config", argv=lambda d, v=size: train_argv(d, "--batch-size", v),
             codes=(1, 2))
    for extra in (["--lr", "0.05"], ["--time-limit", "0"], ["--validation", "0.2", "--keep", "best"],
                  ["--harden-at", "none"], ["--checkpoint-every", "1"]):
        case(f"train {' '.join(extra)} (valid)", "config", argv=lambda d, e=extra: train_argv(d, *e), expect="ok")
    case("train --keep best without validation", "config", argv=lambda d: train_argv(d, "--keep", "best"))
    case("train without --preset", "config", argv=lambda d: train_argv(d, preset=None))
    case("train --resume on a fresh folder", "config", argv=lambda d: train_argv(d, "--resume"))
    case("train --resume, --out missing", "config",
         argv=lambda d: ["train", "--resume", "--out", str(d / "nope"), "--no-progress"])
    case("train --out is a file", "cli", prepare=lambda d: write(d / "file", "x"),
         argv=lambda d: ["train", "--preset", "monk1", "--out", str(d / "file"), "--iterations", "2", "--no-progress"])
    case("train --out under a file", "cli", prepare=lambda d: write(d / "file", "x"),
         argv=lambda d: ["train", "--preset", "monk1", "--out", str(d / "file" / "run"), "--iterations", "2",
                         "--no-progress"])
    case("train --out in an existing non-run folder with files (any)", "cli", expect="any",
         prepare=lambda d: write(d / "run" / "notes.txt", "mine"), argv=lambda d: train_argv(d))
    case("train --config missing", "config", argv=lambda d: train_argv(d, "--config", str(d / "nope.json")))
    case("train --config is a folder", "config", prepare=lambda d: (d / "c.json").mkdir(),
         argv=lambda d: train_argv(d, "--config", str(d / "c.json")))
    case("train --init-from missing", "config", argv=lambda d: train_argv(d, "--init-from", str(d / "nope")))
    case("train --init-from a file", "config", prepare=lambda d: write(d / "f", "x"),
         argv=lambda d: train_argv(d, "--init-from", str(d / "f")))
    case("train --init-from an empty folder", "config", prepare=lambda d: (d / "e").mkdir(),
         argv=lambda d: train_argv(d, "--init-from", str(d / "e")))
    case("train --init-from a damaged run", "model-files",
         prepare=lambda d: damage(copy_run(d, "src") / "model.safetensors", "garbage"),
         argv=lambda d: train_argv(d, "--init-from", str(d / "src")))
    case("train --data-dir missing (bundled data: any)", "config", expect="any",
         argv=lambda d: train_argv(d, "--data-dir", str(d / "nope")))
    case("train --bogus-flag", "cli", argv=lambda d: train_argv(d, "--bogus-flag"))


def gen_config_files() -> None:
    files = {
        "not-json.json": "this is not json",
        "garbage.json": b"\xff\xfe\x00garbage\x80",
        "empty.json": "",
        "list.json": "[]",
        "text.json": '"monk1"',
        "unknown-key.json": '{"preset": "monk1", "momentum": 0.9}',
        "lr-text.json": '{"preset": "monk1", "lr": "fast"}',
        "lr-nan.json": '{"preset": "monk1", "lr": NaN}',
        "lr-inf.json": '{"preset": "monk1", "lr": Infinity}',
        "lr-neg.json": '{"preset": "monk1", "lr": -1}',
        "iterations-float.json": '{"preset": "monk1", "iterations": 1e3}',
        "iterations-bool.json": '{"preset": "monk1", "iterations": true}',
        "tau-zero.json": '{"preset": "monk1", "tau": 0}',
        "threads-zero.json": '{"preset": "monk1", "threads": 0}',
        "eval-every-zero.json": '{"preset": "monk1", "eval_every": 0}',
        "widths-zero.json": '{"preset": "monk1", "widths": [0]}',
        "harden-at-2.json": '{"preset": "monk1", "harden_at": [2]}',
        "split-seed-text.json": '{"preset": "monk1", "split_seed": "paper"}',
        "layers-text.json": '{"preset": "monk1", "layers": "abc"}',
        "layers-empty.json": '{"preset": "monk1", "layers": []}',
        "layer-out-0.json": '{"preset": "monk1", "layers": [{"kind": "logic", "out": 0}]}',
        "layer-out-huge.json": '{"preset": "monk1", "layers": [{"kind": "logic", "out": 1000000000000}]}',
        "layer-out-text.json": '{"preset": "monk1", "layers": [{"kind": "logic", "out": "x"}]}',
        "layer-kind-unknown.json": '{"preset": "monk1", "layers": [{"kind": "nope", "out": 4}]}',
        "layer-no-kind.json": '{"preset": "monk1", "layers": [{"out": 4}]}',
        "layer-unknown-option.json": '{"preset": "monk1", "layers": [{"kind": "logic", "out": 4, "bogus": 1}]}',
        "layer-defaults-bad-init.json": '{"preset": "monk1", "layer_defaults": {"logic": {"init": "zz"}}}',
        "encoder-kind.json": '{"preset": "monk1", "encoder": {"kind": "zz"}}',
        "dataset-unknown.json": '{"preset": "monk1", "dataset": "zz"}',
        "preset-unknown.json": '{"preset": "zz"}',
        "preset-null.json": '{"preset": null}',
        "no-preset.json": '{"dataset": "monk1"}',
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "settings.yaml": "preset: monk1\n",
        "bad.toml": 'preset = \n',
        "lr-nan.toml": 'preset = "monk1"\nlr = nan\n',
        "lr-inf.toml": 'preset = "monk1"\nlr = inf\n',
        "garbage.toml": b"\x00\x01\x02\xff",
        "layers-text.toml": 'preset = "monk1"\nlayers = "abc"\n',
        "layer-out-neg.toml": 'preset = "monk1"\n[[layers]]\nkind = "logic"\nout = -1\n',
    }
    for name, text in files.items():
        area = "model-spec" if name.startswith(("layer", "encoder")) else "config"
        case(f"train --config {name}", area, prepare=lambda d, n=name, t=text: write(d / n, t),
             argv=lambda d, n=name: train_argv(d, "--config", str(d / n), preset=None))
    case("train --config (a valid TOML file)", "config", expect="ok",
         prepare=lambda d: write(d / "ok.toml", 'preset = "monk1"\nseed = 3\n'),
         argv=lambda d: train_argv(d, "--config", str(d / "ok.toml"), preset=None))
    for how, (_, expect) in DAMAGE.items():
        if how == "missing":
            continue
        case(f"train --config RUN/config.json, {how}", "config", expect=expect,
             prepare=lambda d, h=how: damage(copy_run(d, "src") / "config.json", h),
             argv=lambda d: train_argv(d, "--config", str(d / "src" / "config.json"), preset=None))


def gen_predict() -> None:
    def pred(name: str, target: str = "numpy", *extra: str):
        return lambda d: ["predict", str(CTX.base), "--input", str(d / name), "--target", target, *extra]

    rng = np.random.default_rng(1)
    x = valid_x()
    obj = np.empty((2, 6), object)
    obj[:] = 1
    files = [
        # name, contents, expect, area
        ("zero.npy", npy_bytes(np.zeros((0, 6), np.uint8)), "error", "feature-files"),
        ("scalar.npy", npy_bytes(np.array(3.0)), "error", "feature-files"),
        ("row.npy", npy_bytes(x[0]), "ok", "feature-files"),
        ("images.npy", npy_bytes(x[:4].reshape(4, 2, 3)), "any", "feature-files"),
        ("width5.npy", npy_bytes(x[:, :5]), "error", "input-contract"),
        ("width7.npy", npy_bytes(np.concatenate([x, x[:, :1]], 1)), "error", "input-contract"),
        ("complex.npy", npy_bytes(x.astype(np.complex64)), "error", "feature-files"),
        ("text.npy", npy_bytes(x.astype(str)), "error", "feature-files"),
        ("object.npy", npy_bytes(obj, allow_pickle=True), "error", "feature-files"),
        ("record.npy", npy_bytes(np.zeros(3, dtype=[("a", "i4"), ("b", "f4")])), "error", "feature-files"),
        ("datetime.npy", npy_bytes(np.zeros((2, 6), "datetime64[s]")), "error", "feature-files"),
        ("bool.npy", npy_bytes(x.astype(bool)), "any", "feature-files"),
        ("float16.npy", npy_bytes(x.astype(np.float16)), "ok", "feature-files"),
        ("uint64.npy", npy_bytes(x.astype(np.uint64)), "ok", "feature-files"),
        ("int8.npy", npy_bytes(x.astype(np.int8)), "ok", "feature-files"),
        ("fortran.npy", npy_bytes(np.asfortranarray(x)), "ok", "feature-files"),
        ("bigendian.npy", npy_bytes(x.astype(">f8")), "ok", "feature-files"),
        ("huge-header.npy", npy_header((10 ** 6, 10 ** 6)) + b"\0" * 64, "error", "feature-files"),
        ("negative-shape.npy", npy_header((-1, 6)) + b"\0" * 64, "error", "feature-files"),
        ("truncated.npy", npy_bytes(x.astype(np.float64))[:-7], "error", "feature-files"),
        ("archive.npy", None, "error", "feature-files"),
        ("garbage.npy", rng.bytes(300), "error", "feature-files"),
        ("empty.npy", b"", "error", "feature-files"),
        ("magic-only.npy", b"\x93NUMPY\x01\x00", "error", "feature-files"),
        ("empty.csv", b"", "error", "feature-files"),
        ("blank.csv", b"\n \n\n", "error", "feature-files"),
        ("header.csv", b"a,b,c,d,e,f\n1,1,1,1,1,1\n", "error", "feature-files"),
        ("ragged.csv", b"1,1,1,1,1,1\n1,1,1\n", "error", "feature-files"),
        ("nan.csv", b"nan,0,0,0,0,0\n", "error", "input-contract"),
        ("code999.csv", b"999,0,0,0,0,0\n", "error", "input-contract"),
        ("fraction.csv", b"2.5,0,0,0,0,0\n", "error", "input-contract"),
        ("semicolons.csv", b"1;1;1;1;1;1\n", "error", "feature-files"),
        ("binary.csv", rng.bytes(200), "error", "feature-files"),
        ("bom.csv", b"\xef\xbb\xbf1,1,1,1,1,1\n", "any", "feature-files"),
        ("trailing-comma.csv", b"1,1,1,1,1,1,\n", "error", "feature-files"),
        ("spaces.csv", b"1, 1, 1, 1, 1, 1\n", "any", "feature-files"),
        ("wide.csv", (",".join(["1"] * 200_000) + "\n").encode(), "error", "input-contract"),
        ("valid.csv", ("\n".join(",".join(map(str, r)) for r in x) + "\n").encode(), "ok", "feature-files"),
        ("valid.txt", ("\n".join(",".join(map(str, r)) for r in x) + "\n").encode(), "ok", "feature-files"),
        ("zero-idx1-ubyte", idx_bytes([], b"\x01"), "error", "feature-files"),
        ("huge-idx3-ubyte", idx_bytes([2 ** 32 - 1] * 3, b"\0" * 10), "error", "feature-files"),
        ("overflow-idx4-ubyte", idx_bytes([2 ** 16, 2 ** 16, 2 ** 16, 2 ** 16], b""), "error", "feature-files"),
        ("short-header-idx3-ubyte", idx_bytes([2, 3])[:9], "error", "feature-files"),
        ("bad-magic-idx3-ubyte", b"\x01\x02\x08\x02" + b"\0" * 20, "error", "feature-files"),
        ("bad-type-idx2-ubyte", idx_bytes([2, 6], bytes(12), code=0x07), "error", "feature-files"),
        ("short-data-idx2-ubyte", idx_bytes([2, 6], bytes(11)), "error", "feature-files"),
        ("long-data-idx2-ubyte", idx_bytes([2, 6], bytes(13)), "error", "feature-files"),
        ("nan-idx2-ubyte", idx_bytes([1, 6], np.array([np.nan, 0, 0, 0, 0, 0], ">f4").tobytes(), code=0x0D),
         "error", "input-contract"),
        ("valid-idx2-ubyte", idx_bytes([8, 6], x.tobytes()), "ok", "feature-files"),
        ("valid-idx3-ubyte.gz", None, "ok", "feature-files"),
        ("bad-idx2-ubyte.gz", None, "error", "feature-files"),
        ("features.bin", x.tobytes(), "error", "feature-files"),
    ]
    import gzip
    for name, data, expect, area in files:
        def prep(d: Path, n=name, data=data) -> None:
            if n == "archive.npy":
                with open(d / n, "wb") as fh:
                    np.savez(fh, x=valid_x())
            elif n == "valid-idx3-ubyte.gz":
                write(d / n, gzip.compress(idx_bytes([8, 2, 3], valid_x().tobytes())))
            elif n == "bad-idx2-ubyte.gz":
                write(d / n, gzip.compress(idx_bytes([8, 6], valid_x().tobytes()))[:-9])
            else:
                write(d / n, data)
        case(f"predict --input {name}", area, prepare=prep, argv=pred(name), expect=expect)
    case("predict --input is a folder", "feature-files", prepare=lambda d: (d / "x.npy").mkdir(), argv=pred("x.npy"))
    case("predict --input missing", "feature-files", argv=pred("nope.npy"))
    # values every backend must refuse alike (the input contract), on every target
    values = {"nan": np.nan, "inf": np.inf, "minus1": -1.0, "code999": 999.0, "fraction2.5": 2.5, "1e300": 1e300}
    for vname, v in values.items():
        for target in ("c", "numpy", "torch"):
            def prep(d: Path, v=v) -> None:
                arr = valid_x().astype(np.float64)
                arr[3, 1] = v
                write(d / "x.npy", npy_bytes(arr))
            case(f"predict --target {target} with a value {vname}", "input-contract", prepare=prep,
                 argv=pred("x.npy", target))
    for target in ("c", "numpy", "torch"):
        case(f"predict --target {target} (valid, -0.0 in it)", "input-contract", expect="ok",
             prepare=lambda d: write(d / "x.npy", npy_bytes(np.where(valid_x() == 0, -0.0, valid_x()).astype(float))),
             argv=pred("x.npy", target))
    prep_x = lambda d: write(d / "x.npy", npy_bytes(valid_x()))   # noqa: E731
    for threads in ("0", "-1", "abc", "100000"):
        case(f"predict --threads {threads}", "cli-args", prepare=prep_x, argv=pred("x.npy", "c", "--threads", threads))
    case("predict --target nope", "cli-args", prepare=prep_x, argv=pred("x.npy", "nope"))
    case("predict --out under a file", "cli", prepare=prep_x,
         argv=lambda d: ["predict", str(CTX.base), "--input", str(d / "x.npy"), "--target", "numpy",
                         "--out", str(d / "x.npy" / "y.txt")])
    case("predict --out is a folder", "cli", prepare=lambda d: (prep_x(d), (d / "y.txt").mkdir()),
         argv=lambda d: ["predict", str(CTX.base), "--input", str(d / "x.npy"), "--target", "numpy",
                         "--out", str(d / "y.txt")])
    case("predict --out RUN/y.npy (valid)", "cli", expect="ok",
         prepare=lambda d: (prep_x(d), copy_run(d)),
         argv=lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"), "--out", str(d / "run" / "y.npy")])
    case("predict on a missing run", "cli", prepare=prep_x,
         argv=lambda d: ["predict", str(d / "nope"), "--input", str(d / "x.npy")])


def gen_cli_args() -> None:
    def on_run(*args: str, copy: bool = True):
        return lambda d: [args[0], str(d / "run" if copy else CTX.base), *args[1:]]
    prep_run = copy_run
    for v in ("-5", "0", "abc", "1e3", "nan"):
        case(f"bench --samples {v}", "cli-args", argv=on_run("bench", "--samples", v, copy=False))
    case("bench --samples 10**12", "cli-args", argv=on_run("bench", "--samples", str(10 ** 12), copy=False),
         codes=(1, 2))
    for v in ("0", "-1", "nan", "inf", "abc"):
        case(f"bench --seconds {v}", "cli-args", argv=on_run("bench", "--seconds", v, copy=False))
    for v in ("-1", "100000", "abc"):
        case(f"bench --threads {v}", "cli-args", argv=on_run("bench", "--threads", v, copy=False))
    case("bench --input missing", "cli-args", argv=lambda d: ["bench", str(CTX.base), "--input", str(d / "x.npy")])
    case("bench --input zero rows", "feature-files", prepare=lambda d: write(d / "x.npy", npy_bytes(np.zeros((0, 6)))),
         argv=lambda d: ["bench", str(CTX.base), "--input", str(d / "x.npy"), "--seconds", "0.05"])
    for v in ("-1", "abc", "nan"):
        case(f"compile --check {v}", "cli-args", argv=on_run("compile", "--check", v, copy=False))
    case("compile --check 10**12", "cli-args", prepare=prep_run, argv=on_run("compile", "--check", str(10 ** 12)),
         codes=(1, 2))
    case("compile --target nope", "cli-args", argv=on_run("compile", "--target", "nope", copy=False))
    for name in ("bad name", "int", "", "1abc", "é"):
        case(f"compile --name {name!r}", "names", prepare=prep_run, argv=on_run("compile", "--name", name))
    case("compile --name my_net (valid)", "names", expect="ok", prepare=prep_run,
         argv=on_run("compile", "--name", "my_net", "--check", "16"))
    case("compile --out under a file", "cli", prepare=lambda d: (prep_run(d), write(d / "f", "x")),
         argv=lambda d: ["compile", str(d / "run"), "--out", str(d / "f" / "c")])
    for v in ("0", "-1", "nan"):
        case(f"optimize --timeout {v}", "cli-args", argv=on_run("optimize", "--timeout", v, copy=False))
    case("optimize --script 'no_such_abc_command'", "tools", prepare=prep_run,
         argv=on_run("optimize", "--script", "no_such_abc_command"), codes=(1,))
    for v in ("-1", "nan"):
        case(f"report --timeout {v}", "cli-args", argv=on_run("report", "--timeout", v, copy=False))
    for v in ("-1", "0", "nan"):
        case(f"verify --timeout {v}", "cli-args", argv=on_run("verify", "--timeout", v, copy=False))
    for flag, values in {"--pipeline": ("-1", "abc"), "--vectors": ("-1", "abc"), "--frac-bits": ("-1", "abc"),
                         "--formats": ("nope", "verilog,nope")}.items():
        for v in values:
            case(f"export {flag} {v}", "cli-args", prepare=prep_run, argv=on_run("export", flag, v))
    case("export --vectors 10**9", "cli-args", prepare=prep_run, argv=on_run("export", "--vectors", str(10 ** 9)),
         codes=(1, 2))
    case("export --dataset nope", "cli-args", prepare=prep_run, argv=on_run("export", "--dataset", "nope"))
    for name in ("é", "module", "1abc", "a b", "", "wire"):
        case(f"export --name {name!r}", "names", prepare=prep_run, argv=on_run("export", "--name", name))
    for v in ("-1", "abc"):
        case(f"demo --iterations {v}", "cli-args", argv=lambda d, v=v: ["demo", "--out", str(d / "demo"),
                                                                         "--iterations", v])
    case("demo --threads -1", "cli-args", argv=lambda d: ["demo", "--out", str(d / "demo"), "--threads", "-1"])
    case("demo --out is a user's folder", "cli", prepare=lambda d: write(d / "mine" / "thesis.tex", "x"),
         argv=lambda d: ["demo", "--out", str(d / "mine"), "--iterations", "2"])
    case("demo --preset nope", "cli", argv=lambda d: ["demo", "--out", str(d / "demo"), "--preset", "nope",
                                                       "--iterations", "2"], codes=(1, 2))
    case("inspect a missing path", "cli", argv=lambda d: ["inspect", str(d / "nope")])
    case("inspect an empty folder", "cli", prepare=lambda d: (d / "e").mkdir(),
         argv=lambda d: ["inspect", str(d / "e")])
    case("inspect a text file", "circuit-npz", prepare=lambda d: write(d / "c.npz", "hello"),
         argv=lambda d: ["inspect", str(d / "c.npz")])
    case("inspect model.safetensors as a circuit", "circuit-npz",
         argv=lambda d: ["inspect", str(CTX.base / "model.safetensors")])
    case("gatelearn (no command)", "cli", argv=lambda d: [])
    case("gatelearn nosuchcommand", "cli", argv=lambda d: ["nosuchcommand"])
    case("gatelearn inspect (missing argument)", "cli", argv=lambda d: ["inspect"])


def gen_import() -> None:
    aag = {
        "empty.aag": b"",
        "hello.aag": b"hello\n",
        "short-header.aag": b"aag\n",
        "three-numbers.aag": b"aag 1 2 3\n",
        "negative.aag": b"aag -1 0 0 0 0\n",
        "letters.aag": b"aag a b c d e\n",
        "huge-M.aag": b"aag 1000000000000 0 0 0 0\n",
        "huge-I.aag": b"aag 1000000000 1000000000 0 0 0\n",
        "huge-A.aag": b"aag 10 0 0 0 5\n",
        "huge-I.aig": b"aig 2000000000 2000000000 0 1 0\n2\n",
        "huge-O.aig": b"aig 1000000000 0 0 1000000000 0\n2\n",
        "latch.aag": b"aag 3 2 1 1 0\n2\n4\n6 2\n6\n",
        "aiger19.aig": b"aig 2 1 0 1 1 1\n",
        "M-too-small.aag": b"aag 1 2 0 0 0\n2\n4\n",
        "duplicate-input.aag": b"aag 2 2 0 1 0\n2\n2\n2\n",
        "odd-input.aag": b"aag 2 1 0 1 0\n3\n2\n",
        "literal-out-of-range.aag": b"aag 3 2 0 1 1\n2\n4\n6\n6 2 8\n",
        "undefined-variable.aag": b"aag 5 2 0 1 1\n2\n4\n6\n6 2 8\n",
        "cycle.aag": b"aag 3 2 0 1 1\n2\n4\n6\n6 6 2\n",
        "bad-symbol-index.aag": b"aag 1 1 0 1 0\n2\n2\ni5 x\n",
        "bad-symbol.aag": b"aag 1 1 0 1 0\n2\n2\nix x\n",
        "trailing-junk.aag": b"aag 1 1 0 1 0\n2\n2\ngarbage\n",
        "huge-literal.aag": b"aag 4 1 0 1 1\n2\n4\n4 2 99999999999999999999999\n",
        "bad-delta.aig": b"aig 3 2 0 1 1\n6\n\x00\x00",
        "truncated-delta.aig": b"aig 3 2 0 1 1\n6\n\x02",
        "huge-varint.aig": b"aig 3 2 0 1 1\n6\n" + b"\xff" * 100 + b"\x01\x00",
    }
    for name, data in aag.items():
        case(f"import {name}", "aiger-blif", prepare=lambda d, n=name, b=data: write(d / n, b),
             argv=lambda d, n=name: ["import", str(d / n), str(d / "out.npz")])
    for name, data, expect in (("valid.aag", b"aag 3 2 0 1 1\n2\n4\n6\n6 2 4\n", "ok"),
                               ("sparse-M.aag", b"aag 2000000000 2 0 1 1\n2\n3000000000\n3999999998\n"
                                                b"3999999998 2 3000000000\n", "ok"),
                               ("utf8-symbols.aag", b"aag 1 1 0 1 0\n2\n2\ni0 \xff\xfe\no0 f\n", "any"),
                               ("crlf.aag", b"aag 3 2 0 1 1\r\n2\r\n4\r\n6\r\n6 2 4\r\n", "any")):
        case(f"import {name}", "aiger-blif", expect=expect, prepare=lambda d, n=name, b=data: write(d / n, b),
             argv=lambda d, n=name: ["import", str(d / n), str(d / "out.npz")])
    blif = {
        "no-model.blif": ".inputs a\n.outputs f\n.names a f\n1 1\n",
        "latch.blif": ".model m\n.inputs a\n.outputs f\n.latch a f re clk 0\n.end\n",
        "subckt.blif": ".model m\n.inputs a\n.outputs f\n.subckt x a=a f=f\n.end\n",
        "undefined.blif": ".model m\n.inputs a\n.outputs f\n.names a g f\n11 1\n.end\n",
        "cycle.blif": ".model m\n.inputs a\n.outputs f\n.names a g f\n11 1\n.names f g\n1 1\n.end\n",
        "bad-cover.blif": ".model m\n.inputs a\n.outputs f\n.names a f\n12 1\n.end\n",
        "twice.blif": ".model m\n.inputs a\n.outputs f\n.names a f\n1 1\n.names a f\n0 1\n.end\n",
        "mixed.blif": ".model m\n.inputs a\n.outputs f\n.names a f\n1 1\n0 0\n.end\n",
        "two-models.blif": ".model m\n.inputs a\n.outputs a\n.end\n.model n\n.end\n",
        "cover-length.blif": ".model m\n.inputs a b\n.outputs f\n.names a b f\n1 1\n.end\n",
        "duplicate-input.blif": ".model m\n.inputs a a\n.outputs a\n.end\n",
        "unknown-directive.blif": ".model m\n.inputs a\n.outputs a\n.frobnicate\n.end\n",
        "constant-row.blif": ".model m\n.inputs a\n.outputs f\n.names f\n2\n.end\n",
        "continuation-at-eof.blif": ".model m\n.inputs a\n.outputs a \\",
        "empty.blif": "",
        "comments.blif": "# nothing\n# here\n",
        "input-driven.blif": ".model m\n.inputs a\n.outputs a\n.names a\n1\n.end\n",
        "binary.blif": random.Random(3).randbytes(500),
    }
    for name, data in blif.items():
        case(f"import {name}", "aiger-blif", prepare=lambda d, n=name, b=data: write(d / n, b),
             argv=lambda d, n=name: ["import", str(d / n), str(d / "out.npz")])
    wide = ".model m\n.inputs " + " ".join(f"x{i}" for i in range(1000)) + "\n.outputs f\n.names " + \
        " ".join(f"x{i}" for i in range(1000)) + " f\n" + "1" * 1000 + " 1\n.end\n"
    chain = ".model m\n.inputs a\n.outputs n20000\n.names a n0\n1 1\n" + \
        "".join(f".names n{i} n{i + 1}\n0 1\n" for i in range(20000)) + ".end\n"
    for name, text in (("wide-and.blif", wide), ("deep-chain.blif", chain),
                       ("valid.blif", ".model m\n.inputs a b\n.outputs f\n.names a b f\n11 1\n.end\n")):
        case(f"import {name}", "aiger-blif", expect="ok", prepare=lambda d, n=name, t=text: write(d / n, t),
             argv=lambda d, n=name: ["import", str(d / n), str(d / "out.npz")])
    # the exported files of the trained run, damaged
    for src in ("net.aig", "net.blif"):
        for how, (_, expect) in DAMAGE.items():
            if how in ("folder", "missing"):
                continue
            exp = "any" if how.startswith(("flip", "cut")) or (src == "net.blif" and how.startswith("trunc")) \
                else expect
            def prep(d: Path, s=src, h=how) -> None:
                shutil.copy(CTX.base / "artifacts" / s, d / s)
                damage(d / s, h)
            case(f"import {src}, {how}", "aiger-blif", expect=exp, prepare=prep, needs_artifacts=True,
                 argv=lambda d, s=src: ["import", str(d / s), str(d / "out.npz")])
    valid = lambda d: write(d / "v.aag", b"aag 3 2 0 1 1\n2\n4\n6\n6 2 4\n")   # noqa: E731
    case("import: input missing", "cli", argv=lambda d: ["import", str(d / "nope.aag"), str(d / "out.npz")])
    case("import: input is a folder", "aiger-blif", prepare=lambda d: (d / "x.aag").mkdir(),
         argv=lambda d: ["import", str(d / "x.aag"), str(d / "out.npz")])
    case("import: unknown suffix", "cli", prepare=lambda d: write(d / "x.v", "module m; endmodule"),
         argv=lambda d: ["import", str(d / "x.v"), str(d / "out.npz")])
    case("import: output under a file", "cli", prepare=valid,
         argv=lambda d: ["import", str(d / "v.aag"), str(d / "v.aag" / "out.npz")])
    case("import: output is a folder", "cli", prepare=lambda d: (valid(d), (d / "out.npz").mkdir()),
         argv=lambda d: ["import", str(d / "v.aag"), str(d / "out.npz")])
    case("import: paths with spaces (valid)", "cli", expect="ok",
         prepare=lambda d: write(d / "my files" / "v 1.aag", b"aag 3 2 0 1 1\n2\n4\n6\n6 2 4\n"),
         argv=lambda d: ["import", str(d / "my files" / "v 1.aag"), str(d / "my files" / "out 1.npz")])


def gen_run_dirs() -> None:
    x_prep = lambda d: write(d / "x.npy", npy_bytes(valid_x()))   # noqa: E731
    readers = {
        # file -> [(command name, argv(d) on d/run)], area
        "model.safetensors": ([("inspect", lambda d: ["inspect", str(d / "run"), "--json"]),
                               ("predict torch", lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"),
                                                            "--target", "torch"]),
                               ("verify", lambda d: ["verify", str(d / "run")])], "model-files"),
        "checkpoint.safetensors": ([("train --resume", lambda d: ["train", "--out", str(d / "run"), "--resume",
                                                                  "--iterations", "70", "--no-progress"])],
                                   "checkpoint"),
        "circuit.npz": ([("predict numpy", lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"),
                                                      "--target", "numpy"]),
                         ("inspect file", lambda d: ["inspect", str(d / "run" / "circuit.npz")]),
                         ("export", lambda d: ["export", str(d / "run")])], "circuit-npz"),
        "artifacts/manifest.json": ([("verify", lambda d: ["verify", str(d / "run")]),
                                     ("report", lambda d: ["report", str(d / "run"), "--no-luts"])], "manifest"),
        "summary.json": ([("report", lambda d: ["report", str(d / "run"), "--no-luts"])], "run-dirs"),
        "metrics.jsonl": ([("train --resume", lambda d: ["train", "--out", str(d / "run"), "--resume",
                                                         "--iterations", "70", "--no-progress"])], "run-dirs"),
    }
    for file, (commands, area) in readers.items():
        for how, (_, expect) in DAMAGE.items():
            for cname, argv in commands:
                exp = expect
                if how == "missing" and file in ("circuit.npz", "summary.json", "metrics.jsonl"):
                    exp = "any"          # optional files: the command may do without them
                if how == "missing" and file == "artifacts/manifest.json":
                    exp = "any"
                if file in ("summary.json", "metrics.jsonl") and exp == "error":
                    exp = "any"          # read for figures only: an error or a report without them
                codes = (1, 2) if cname == "verify" else (2,)
                def prep(d: Path, f=file, h=how) -> None:
                    x_prep(d)
                    damage(copy_run(d) / f, h)
                case(f"{cname} with {file} {how}", area, prepare=prep, argv=argv, expect=exp, codes=codes,
                     needs_artifacts=file.startswith("artifacts") or cname in ("verify",))
    # hand-edited model files: the right answer is known (refuse)
    def model_edit(tensors=None, spec=None, meta=None):
        def prep(d: Path) -> None:
            x_prep(d)
            m = copy_run(d) / "model.safetensors"
            if spec is not None:
                edit_safetensors(m, tensors, edit_json_meta("gatelearn_spec", spec))
            else:
                edit_safetensors(m, tensors, meta)
        return prep

    import torch
    edits = {
        "a NaN weight": dict(tensors=lambda t: t["layers.1.weight"].__setitem__((0, 0), float("nan"))),
        "an infinite weight": dict(tensors=lambda t: t["layers.2.weight"].__setitem__((3, 5), float("inf"))),
        "wiring index -1": dict(tensors=lambda t: t["layers.1.idx_a"].__setitem__(0, -1)),
        "wiring index past the inputs": dict(tensors=lambda t: t["layers.1.idx_b"].__setitem__(0, 9999)),
        "wiring as float": dict(tensors=lambda t: t.__setitem__("layers.0.idx_a", t["layers.0.idx_a"].float())),
        "a tensor missing": dict(tensors=lambda t: _delete(t, ["layers.2.weight"])),
        "an extra tensor": dict(tensors=lambda t: t.__setitem__("layers.9.weight", torch.zeros(3))),
        "a weight of the wrong shape": dict(tensors=lambda t: t.__setitem__("layers.1.weight", torch.zeros(64, 15))),
        "spec classes 0": dict(spec=lambda s: _set(s, ["head", "classes"], 0)),
        "spec tau 0": dict(spec=lambda s: _set(s, ["head", "tau"], 0)),
        "spec layers text": dict(spec=lambda s: _set(s, ["layers"], "abc")),
        "spec out 10**12": dict(spec=lambda s: _set(s, ["layers", 0, "out"], 10 ** 12)),
        "spec categories [0]": dict(spec=lambda s: _set(s, ["encoder", "categories"], [0, 3, 2, 3, 4, 2])),
        "spec kind unknown": dict(spec=lambda s: _set(s, ["layers", 1, "kind"], "nope")),
        "spec not JSON": dict(meta=lambda m: m.__setitem__("gatelearn_spec", "{not json") or m),
        "no metadata": dict(meta=lambda m: {}),
    }
    for what, kw in edits.items():
        for cname, argv in (("predict numpy", lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"),
                                                         "--target", "numpy"]),
                            ("predict torch", lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"),
                                                         "--target", "torch"])):
            def prep(d: Path, kw=kw) -> None:
                model_edit(**kw)(d)
                (d / "run" / "circuit.npz").unlink()        # so the commands lower the edited model
                shutil.rmtree(d / "run" / "artifacts", ignore_errors=True)
            case(f"{cname} with model.safetensors: {what}", "model-files", prepare=prep, argv=argv)
    # hand-edited checkpoints
    ck = "gatelearn_checkpoint"
    ck_edits = {
        "info missing": dict(meta=edit_json_meta(ck, lambda c: _delete(c, ["info"]))),
        "iteration not a number": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["info", "iteration"], "abc"))),
        "iteration -5": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["info", "iteration"], -5))),
        "iteration 10**12": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["info", "iteration"], 10 ** 12))),
        "config lr NaN": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["info", "config", "lr"], float("nan")))),
        "format wrong": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["format"], "other"))),
        "version 99": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["version"], 99))),
        "optimizer lr text": dict(meta=edit_json_meta(ck, lambda c: _set(c, ["optimizer", "param_groups", 0, "lr"],
                                                                          "x"))),
        "metadata not JSON": dict(meta=lambda m: m.__setitem__(ck, "{oops") or m),
        "RNG state of 3 bytes": dict(tensors=lambda t: t.__setitem__("rng/torch", torch.zeros(3, dtype=torch.uint8))),
        "batch permutation of 3": dict(tensors=lambda t: t.__setitem__("rng/batch_perm", torch.arange(3))),
        "exp_avg of 3 elements": dict(tensors=lambda t: t.__setitem__("optim/0/exp_avg", torch.zeros(3))),
        "exp_avg float64": dict(tensors=lambda t: t.__setitem__("optim/0/exp_avg",
                                                               t["optim/0/exp_avg"].double())),
        "exp_avg_sq missing": dict(tensors=lambda t: _delete(t, ["optim/1/exp_avg_sq"])),
        "a NaN weight": dict(tensors=lambda t: t["model/layers.0.weight"].__setitem__((0, 0), float("nan"))),
        "wiring index -1": dict(tensors=lambda t: t["model/layers.2.idx_a"].__setitem__(0, -1)),
    }
    for what, kw in ck_edits.items():
        def prep(d: Path, kw=kw) -> None:
            edit_safetensors(copy_run(d) / "checkpoint.safetensors", **kw)
        case(f"train --resume with checkpoint: {what}", "checkpoint", prepare=prep,
             argv=lambda d: ["train", "--out", str(d / "run"), "--resume", "--iterations", "70", "--no-progress"])
    # hand-edited circuit files
    def first_output_complemented(a: dict) -> None:
        from gatelearn.gates import truth_rows
        n_in = int(a["enc_feature"].shape[0]) if "enc_feature" in a else 0
        g = next(int(o) for o in a["outputs"] if o >= n_in) - n_in
        op = int(a["op"][g])
        rows = [1 - r for r in truth_rows(op)]
        a["op"] = a["op"].copy()
        a["op"][g] = next(k for k in range(16) if list(truth_rows(k)) == rows)
    npz_edits = {
        "op 270": lambda a: _put(a, "op", 0, 270),
        "op -1": lambda a: _put(a, "op", 0, -1),
        "op as floats 1.5": lambda a: a.__setitem__("op", a["op"].astype(np.float64) + 0.5),
        "enc_op 257": lambda a: _put(a, "enc_op", 0, 257),
        "operand 10**6": lambda a: a["a"].__setitem__(5, 10 ** 6),
        "operand -3": lambda a: a["b"].__setitem__(5, -3),
        "operand reads itself": lambda a: a["a"].__setitem__(5, 17 + 5),
        "output 10**6": lambda a: a["outputs"].__setitem__(0, 10 ** 6),
        "op missing": lambda a: _delete(a, ["op"]),
        "meta not JSON": lambda a: a.__setitem__("meta", np.frombuffer(b"\xff{oops", np.uint8)),
        "layer of the wrong length": lambda a: a.__setitem__("layer", a["layer"][:3]),
        "enc_feature 99": lambda a: a["enc_feature"].__setitem__(0, 99),
        "enc_value NaN": lambda a: a["enc_value"].__setitem__(0, np.nan),
        "enc_categories 0": lambda a: a["enc_categories"].__setitem__(0, 0),
    }
    for what, change in npz_edits.items():
        commands = [("predict numpy", lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"),
                                                 "--target", "numpy"])]
        if what in ("op 270", "enc_op 257", "operand -3", "meta not JSON"):
            commands.append(("inspect file", lambda d: ["inspect", str(d / "run" / "circuit.npz")]))
        for cname, argv in commands:
            def prep(d: Path, change=change) -> None:
                x_prep(d)
                edit_npz(copy_run(d) / "circuit.npz", change)
            case(f"{cname} with circuit.npz: {what}", "circuit-npz", prepare=prep, argv=argv)
    # hand-edited manifests
    man_edits = {
        "a list": lambda m: [m],
        "artifacts text": lambda m: _set(m, ["artifacts"], "x"),
        "an entry without file": lambda m: _delete(m, ["artifacts", 0, "file"]),
        "a file outside the run": lambda m: _set(m, ["artifacts", 0, "file"], "../../../../etc/passwd"),
        "a file missing": lambda m: _set(m, ["artifacts", 0, "file"], "nope.v"),
        "a kind unknown": lambda m: _set(m, ["artifacts", 0, "kind"], "nope"),
        "a spec emptied": lambda m: _set(m, ["artifacts", 0, "spec"], {}),
        "format wrong": lambda m: _set(m, ["format"], "other"),
    }
    for what, change in man_edits.items():
        def prep(d: Path, change=change) -> None:
            p = copy_run(d) / "artifacts" / "manifest.json"
            m = json.loads(p.read_text())
            m2 = change(m)
            p.write_text(json.dumps(m if m2 is None else m2))
        case(f"verify with manifest.json: {what}", "manifest", prepare=prep, needs_artifacts=True,
             argv=lambda d: ["verify", str(d / "run")], codes=(1, 2))
    # hand-edited artifacts and circuit: verify must not say "proven" (exit 1)
    def edit_text(rel: str, old: str, new: str, count: int = 1):
        def prep(d: Path) -> None:
            p = copy_run(d) / rel
            text = p.read_text()
            if old not in text:
                raise RuntimeError(f"{rel} has no {old!r} to edit")
            p.write_text(text.replace(old, new, count))
        return prep

    def edit_c(d: Path) -> None:
        # the C's XOR gate computes OR instead (the trained network has XOR gates)
        p = copy_run(d) / "artifacts" / "c" / "gatelearn_net.c"
        text = p.read_text()
        old = "#define GL_E6(j) (GL_W(a[j]) ^ GL_W(b[j]))"
        if old not in text:
            raise RuntimeError("the generated C has no XOR gate macro to edit")
        p.write_text(text.replace(old, old.replace("^", "|")))

    def edit_v(d: Path) -> None:
        # the first gate of the network: its operator swapped
        p = copy_run(d) / "artifacts" / "gatelearn_model.v"
        lines = p.read_text().split("\n")
        for k, line in enumerate(lines):
            if line.strip().startswith("wire g") and "=" in line:
                for old, new in ((" ^ ", " & "), (" & ", " | "), (" | ", " & ")):
                    if old in line:
                        lines[k] = line.replace(old, new, 1)
                        p.write_text("\n".join(lines))
                        return
        raise RuntimeError("no gate expression found in the Verilog")

    def edit_blif(d: Path) -> None:
        p = copy_run(d) / "artifacts" / "net.blif"
        lines = p.read_text().splitlines()
        for k, line in enumerate(lines):
            if line in ("11 1", "01 1", "10 1", "00 1"):
                lines[k] = {"11 1": "10 1", "01 1": "11 1", "10 1": "00 1", "00 1": "01 1"}[line]
                break
        p.write_text("\n".join(lines) + "\n")

    def edit_aig(d: Path) -> None:
        p = copy_run(d) / "artifacts" / "net.aig"
        data = bytearray(p.read_bytes())
        header_end = data.index(b"\n")
        # the first output inverted (the AND section's deltas are fragile to edit)
        out_line_start = header_end + 1
        end = data.index(b"\n", out_line_start)
        lit = int(data[out_line_start:end]) ^ 1
        data[out_line_start:end] = str(lit).encode()
        p.write_bytes(bytes(data))

    def edit_circuit(d: Path) -> None:
        edit_npz(copy_run(d) / "circuit.npz", first_output_complemented)

    for what, prep in (("the C source edited", edit_c), ("the Verilog edited", edit_v),
                       ("net.blif edited", edit_blif), ("net.aig edited", edit_aig),
                       ("circuit.npz: an output gate complemented", edit_circuit)):
        case(f"verify with {what}", "verify-coverage", prepare=prep, needs_artifacts=True,
             argv=lambda d: ["verify", str(d / "run")], codes=(1,))
    # read-only run directories (as an unprivileged user when this runs as root)
    ro = {
        "compile": (lambda d: ["compile", str(d / "run"), "--check", "16"], "error"),
        "export": (lambda d: ["export", str(d / "run")], "error"),
        "optimize": (lambda d: ["optimize", str(d / "run")], "error"),
        "verify": (lambda d: ["verify", str(d / "run")], "error"),
        "train --resume": (lambda d: ["train", "--out", str(d / "run"), "--resume", "--iterations", "70",
                                      "--no-progress"], "error"),
        "predict --out RUN/y.txt": (lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"),
                                               "--out", str(d / "run" / "y.txt")], "error"),
        "predict to stdout": (lambda d: ["predict", str(d / "run"), "--input", str(d / "x.npy"), "--target", "numpy"],
                              "ok"),
        "inspect": (lambda d: ["inspect", str(d / "run")], "ok"),
        "bench": (lambda d: ["bench", str(d / "run"), "--samples", "1000", "--seconds", "0.05"], "ok"),
        "report": (lambda d: ["report", str(d / "run"), "--no-luts"], "any"),
    }
    for cname, (argv, expect) in ro.items():
        def prep(d: Path) -> None:
            x_prep(d)
            run = copy_run(d)
            if os.geteuid() != 0:
                for p in [run, *run.rglob("*")]:
                    p.chmod(0o555 if p.is_dir() else 0o444)
        case(f"{cname} on a read-only run directory", "run-dirs", prepare=prep, argv=argv, expect=expect,
             user="nobody", needs_artifacts=True, codes=(1, 2) if cname == "verify" else (2,))
    # paths with spaces and shell characters
    for name in ("run with space", "run;semi", "run'quote", "run$(touch pwned)"):
        for cname, argv in (("verify", lambda d, n=name: ["verify", str(d / n)]),
                            ("optimize", lambda d, n=name: ["optimize", str(d / n)]),
                            ("report", lambda d, n=name: ["report", str(d / n)])):
            if name != "run with space" and cname != "verify":
                continue
            case(f"{cname} on '{name}'", "tool-paths", expect="ok", prepare=lambda d, n=name: copy_run(d, n),
                 argv=argv, needs_artifacts=True)
    case("predict c on 'run with space'", "tool-paths", expect="ok",
         prepare=lambda d: (copy_run(d, "run with space"), x_prep(d)),
         argv=lambda d: ["predict", str(d / "run with space"), "--input", str(d / "x.npy"), "--target", "c"])
    case("compile on 'run with space'", "tool-paths", expect="ok",
         prepare=lambda d: copy_run(d, "run with space"),
         argv=lambda d: ["compile", str(d / "run with space"), "--check", "16"])


def gen_pipes_and_writers() -> None:
    def big_x(d: Path) -> None:
        write(d / "x.npy", npy_bytes(valid_x(100_000, seed=4)))
    case("predict --scores | head -c 100", "cli", expect="any", prepare=big_x,
         runner=pipe_runner(lambda d: ["predict", str(CTX.base), "--input", str(d / "x.npy"), "--target", "numpy",
                                       "--scores"], 100))
    case("predict (c) | head -c 10", "cli", expect="any", prepare=big_x,
         runner=pipe_runner(lambda d: ["predict", str(CTX.base), "--input", str(d / "x.npy"), "--target", "c"], 10))
    case("report --json | head -c 100", "cli", expect="any",
         runner=pipe_runner(lambda d: ["report", str(CTX.base), "--json", "--no-luts"], 100), needs_artifacts=True)
    case("inspect --json | head -c 1", "cli", expect="any",
         runner=pipe_runner(lambda d: ["inspect", str(CTX.base), "--json"], 1))
    case("two train into one --out", "run-dirs", runner=two_writers)
    case("train --resume while the run trains", "run-dirs", runner=resume_while_training)


def gen_api() -> None:
    load = "import gatelearn\n"
    case("api load: missing", "model-files", api=load + "gatelearn.load(D / 'nope')")
    case("api load: empty folder", "model-files", api=load + "(D / 'e').mkdir()\ngatelearn.load(D / 'e')")
    case("api load: a text file", "model-files",
         api=load + "(D / 'f.txt').write_text('x')\ngatelearn.load(D / 'f.txt')")
    for how in ("empty", "truncated-half", "garbage", "folder"):
        case(f"api load: model.safetensors {how}", "model-files",
             prepare=lambda d, h=how: damage(copy_run(d) / "model.safetensors", h),
             api=load + "gatelearn.load(D / 'run')")
    case("api load: NaN weight", "model-files", api=load + "gatelearn.load(D / 'run')",
         prepare=lambda d: edit_safetensors(copy_run(d) / "model.safetensors",
                                            lambda t: t["layers.0.weight"].__setitem__((1, 1), float("nan"))))
    case("api load + lower: wiring -1", "model-files", api=load + "gatelearn.lower(gatelearn.load(D / 'run'))",
         prepare=lambda d: edit_safetensors(copy_run(d) / "model.safetensors",
                                            lambda t: t["layers.0.idx_a"].__setitem__(0, -1)))
    case("api load: valid", "model-files", api=load + "gatelearn.load(BASE)", expect="ok")
    specs = {
        "classes 0": "{'encoder': {'kind': 'bits', 'features': 8}, 'layers': [{'kind': 'logic', 'out': 8}], "
                     "'head': {'kind': 'groupsum', 'classes': 0, 'tau': 1.0}}",
        "tau 0": "{'encoder': {'kind': 'bits', 'features': 8}, 'layers': [{'kind': 'logic', 'out': 8}], "
                 "'head': {'kind': 'groupsum', 'classes': 2, 'tau': 0.0}}",
        "layers text": "{'encoder': {'kind': 'bits', 'features': 8}, 'layers': 'abc', "
                       "'head': {'kind': 'groupsum', 'classes': 2, 'tau': 1.0}}",
        "out 10**12": "{'encoder': {'kind': 'bits', 'features': 8}, 'layers': [{'kind': 'logic', 'out': 10**12}], "
                      "'head': {'kind': 'groupsum', 'classes': 2, 'tau': 1.0}}",
        "out 7 for 2 classes": "{'encoder': {'kind': 'bits', 'features': 8}, 'layers': [{'kind': 'logic', 'out': 7}], "
                               "'head': {'kind': 'groupsum', 'classes': 2, 'tau': 1.0}}",
        "no encoder": "{'layers': [{'kind': 'logic', 'out': 8}], 'head': {'kind': 'groupsum', 'classes': 2, 'tau': 1}}",
        "a list": "[1, 2, 3]",
        "features -1": "{'encoder': {'kind': 'bits', 'features': -1}, 'layers': [{'kind': 'logic', 'out': 8}], "
                       "'head': {'kind': 'groupsum', 'classes': 2, 'tau': 1.0}}",
    }
    for what, spec in specs.items():
        case(f"api build_model: {what}", "model-spec", api=load + f"gatelearn.build_model({spec})")
    circ = "from gatelearn.circuit.ir import Circuit\n"
    case("api Circuit.load: missing", "circuit-npz", api=circ + "Circuit.load(D / 'nope.npz')")
    for how in ("empty", "truncated-half", "garbage", "flip-middle", "folder"):
        case(f"api Circuit.load: {how}", "circuit-npz", expect=DAMAGE[how][1],
             prepare=lambda d, h=how: (shutil.copy(CTX.base / "circuit.npz", d / "c.npz"), damage(d / "c.npz", h)),
             api=circ + "Circuit.load(D / 'c.npz')")
    case("api Circuit.load: op 270", "circuit-npz", api=circ + "Circuit.load(D / 'c.npz')",
         prepare=lambda d: (shutil.copy(CTX.base / "circuit.npz", d / "c.npz"),
                            edit_npz(d / "c.npz", lambda a: _put(a, "op", 0, 270))))
    case("api Circuit.load: an .npy", "circuit-npz", api=circ + "Circuit.load(D / 'x.npy')",
         prepare=lambda d: write(d / "x.npy", npy_bytes(np.zeros(3))))
    aig = "from gatelearn.backends.aiger import parse_aiger\n"
    for what, arg, allow, expect in (("text, not bytes", "'aag 0 0 0 0 0\\n'", ("TypeError",), "error"),
                                     ("None", "None", ("TypeError",), "error"),
                                     ("a bytearray (valid)", "bytearray(b'aag 0 0 0 0 0\\n')", (), "ok"),
                                     ("huge M", "b'aag 1000000000000 0 0 0 0\\n'", (), "error"),
                                     ("huge A", "b'aag 10 0 0 0 5\\n'", (), "error"),
                                     ("valid", "b'aag 3 2 0 1 1\\n2\\n4\\n6\\n6 2 4\\n'", (), "ok")):
        case(f"api parse_aiger: {what}", "aiger-blif", api=aig + f"parse_aiger({arg})", allow=allow, expect=expect)
    blif = "from gatelearn.backends.blif import parse_blif\n"
    for what, arg, allow, expect in (("bytes, not text", "b'.model m\\n.end\\n'", ("TypeError",), "error"),
                                     ("None", "None", ("TypeError",), "error"),
                                     ("cycle", "'.model m\\n.inputs a\\n.outputs f\\n.names a g f\\n11 1\\n"
                                               ".names f g\\n1 1\\n.end\\n'", (), "error"),
                                     ("bad latches option", "'.model m\\n.end\\n', latches='maybe'", (), "error"),
                                     ("valid", "'.model m\\n.inputs a b\\n.outputs f\\n.names a b f\\n11 1\\n.end\\n'",
                                      (), "ok")):
        case(f"api parse_blif: {what}", "aiger-blif", api=blif + f"parse_blif({arg})", allow=allow, expect=expect)
    # model(x) and the backends' run(x) with bad arrays
    model = ("import torch, numpy as np, gatelearn\nm = gatelearn.load(BASE)\nm.eval()\n"
             "with torch.no_grad():\n    m(@X@)\n")
    bad_x = {
        "shape (2, 5)": ("torch.zeros(2, 5)", "error", ()),
        "shape (2, 7)": ("torch.zeros(2, 7)", "error", ()),
        "1-d": ("torch.zeros(6)", "error", ()),
        "3-d": ("torch.zeros(2, 2, 3)", "error", ()),
        "0 rows": ("torch.zeros(0, 6)", "any", ()),
        "NaN": ("torch.tensor([[float('nan'), 0, 0, 0, 0, 0]])", "error", ()),
        "inf": ("torch.tensor([[float('inf'), 0, 0, 0, 0, 0]])", "error", ()),
        "-1": ("torch.tensor([[-1.0, 0, 0, 0, 0, 0]])", "error", ()),
        "code 999 (int64)": ("torch.full((2, 6), 999, dtype=torch.int64)", "error", ()),
        "fraction 2.5": ("torch.tensor([[2.5, 0, 0, 0, 0, 0]])", "error", ()),
        "complex": ("torch.zeros(2, 6, dtype=torch.complex64)", "error", ()),
        "text": ("'abc'", "error", ("TypeError",)),
        "None": ("None", "error", ("TypeError",)),
        "valid float32": ("torch.zeros(2, 6)", "ok", ()),
        "valid uint8": ("torch.zeros(2, 6, dtype=torch.uint8)", "ok", ()),
    }
    for what, (expr, expect, allow) in bad_x.items():
        case(f"api model(x): {what}", "input-contract", api=model.replace("@X@", expr), expect=expect,
             allow=allow)
    run = ("import numpy as np\nfrom gatelearn import runs\nfrom gatelearn.backends import compile_circuit\n"
           "prog = compile_circuit(runs.best_circuit(BASE), @T@)\nprog.run(@X@)\n")
    obj = "np.array([[1, 'a', None, 0, 0, 0]], dtype=object)"
    bad_np = {
        "NaN": ("np.array([[np.nan, 0, 0, 0, 0, 0]])", "error"),
        "inf": ("np.array([[np.inf, 0, 0, 0, 0, 0]])", "error"),
        "-1": ("np.array([[-1.0, 0, 0, 0, 0, 0]])", "error"),
        "code 999": ("np.array([[999, 0, 0, 0, 0, 0]])", "error"),
        "fraction 2.5": ("np.array([[2.5, 0, 0, 0, 0, 0]])", "error"),
        "1e300": ("np.array([[1e300, 0, 0, 0, 0, 0]])", "error"),
        "shape (2, 5)": ("np.zeros((2, 5))", "error"),
        "3-d": ("np.zeros((2, 2, 3))", "error"),
        "0 rows": ("np.zeros((0, 6))", "any"),
        "complex": ("np.zeros((2, 6), complex)", "error"),
        "object": (obj, "error"),
        "text": ("np.array([['1'] * 6])", "error"),
        "valid uint8": ("np.zeros((2, 6), np.uint8)", "ok"),
    }
    for target in ("c", "numpy"):
        for what, (expr, expect) in bad_np.items():
            case(f"api {target} run(x): {what}", "input-contract", expect=expect,
                 api=run.replace("@T@", repr(target)).replace("@X@", expr))


# ------------------------------------------------------------------------ special runners

def pipe_runner(argv: Callable[[Path], list], nbytes: int) -> Callable:
    """`gatelearn ... | head -c NBYTES`: read that much of stdout, close it, and see how the
    command ends (quietly: exit 141 or 0, nothing on stderr)."""
    def run(c: Case, d: Path) -> dict:
        cmd = [PY, "-m", "gatelearn.cli.main", *map(str, argv(d))]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=d, env=CTX.env(None), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, preexec_fn=_limits, start_new_session=True)
        err: list[bytes] = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        reader.start()
        head = proc.stdout.read(nbytes)
        proc.stdout.close()
        timed_out = False
        try:
            proc.wait(timeout=c.timeout or CTX.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
        reader.join(10)
        return {"rc": proc.returncode, "stdout": head.decode(errors="replace"),
                "stderr": b"".join(err).decode(errors="replace"), "timed_out": timed_out,
                "seconds": time.perf_counter() - t0}
    return run


def two_writers(c: Case, d: Path) -> dict:
    """Two `gatelearn train` into one --out at once: one must be refused (the lock), or the
    second must find the first's finished run; both exiting 0 means a model silently lost."""
    argv = ["train", "--preset", "monk1", "--out", str(d / "run"), "--iterations", "3000", "--eval-every", "1000",
            "--threads", "1", "--no-progress"]
    procs = [_start(argv, d) for _ in range(2)]
    results = [_finish(p, c.timeout or CTX.timeout) for p in procs]
    failed = [r for r in results if r["rc"] != 0 or r["timed_out"]]
    if not failed:
        return {**results[0], "stdout": results[0]["stdout"] + results[1]["stdout"]}
    return failed[0]


def resume_while_training(c: Case, d: Path) -> dict:
    """`train --resume` on a run whose training is still going on must be refused."""
    first = _start(["train", "--preset", "monk1", "--out", str(d / "run"), "--iterations", "200000",
                    "--eval-every", "1000", "--checkpoint-every", "200", "--threads", "1", "--no-progress"], d)
    try:
        deadline = time.time() + 90
        while not (d / "run" / "checkpoint.safetensors").exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.2)
        second = _start(["train", "--out", str(d / "run"), "--resume", "--iterations", "200000", "--no-progress"], d)
        return _finish(second, min(c.timeout or CTX.timeout, 60))
    finally:
        _kill(first)


def _start(argv: list, d: Path) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "gatelearn.cli.main", *map(str, argv)], cwd=d, env=CTX.env(None),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            preexec_fn=_limits, start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        timed_out = True
    return {"rc": proc.returncode, "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace"),
            "timed_out": timed_out, "seconds": time.perf_counter() - t0}


def _kill(proc: subprocess.Popen) -> None:
    """End a case's process and what it started (a compiler, ABC): its own process group."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


# --------------------------------------------------------------------------------- running

API_TEMPLATE = '''\
import json, sys
from pathlib import Path
D, BASE = Path(sys.argv[1]), Path(sys.argv[2])
def _result(outcome, exc=None):
    print("@@RESULT@@" + json.dumps({"outcome": outcome, "type": None if exc is None else type(exc).__name__,
                                     "message": None if exc is None else str(exc)}), flush=True)
from gatelearn.errors import GatelearnError
try:
@BODY@
except GatelearnError as exc:
    _result("gatelearn_error", exc)
except BaseException as exc:
    _result("exception", exc)
else:
    _result("returned")
'''


class Context:
    def __init__(self, work: Path, timeout: float):
        self.work, self.timeout = work, timeout
        self.base = work / "base"
        self.artifacts = False
        self.nobody_home = work / "nobody"

    def env(self, user: str | None) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "GATELEARN_DEBUG"}
        env.update({"PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"})
        if user == "nobody":
            env.update({"HOME": str(self.nobody_home), "GATELEARN_CACHE": str(self.nobody_home / "cache"),
                        "GATELEARN_NO_EXTENSION": "1", "TMPDIR": str(self.nobody_home)})
        return env


CTX: Context


def run_case(c: Case, d: Path) -> dict:
    if c.runner is not None:
        return c.runner(c, d)
    if c.argv is not None:
        cmd = [PY, "-m", "gatelearn.cli.main", *map(str, c.argv(d))]
    else:
        body = textwrap.indent(textwrap.dedent(c.api).strip() + "\n", "    ")
        cmd = [PY, "-c", API_TEMPLATE.replace("@BODY@\n", body), str(d), str(CTX.base)]
    if c.user == "nobody" and os.geteuid() == 0:
        cmd = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
    proc = subprocess.Popen(cmd, cwd=d, env=CTX.env(c.user), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, preexec_fn=_limits, start_new_session=True)
    return _finish(proc, c.timeout or CTX.timeout)


def classify(c: Case, r: dict) -> tuple[str, str]:
    """(outcome, note) of a case's result."""
    rc, out, err = r["rc"], r["stdout"], r["stderr"]
    if r["timed_out"]:
        return "hang", f"no answer in {c.timeout or CTX.timeout:.0f} s"
    if c.api is not None:
        marker = [line for line in out.splitlines() if line.startswith("@@RESULT@@")]
        if not marker:
            if rc is not None and rc < 0:
                return "crash", f"killed by signal {-rc}"
            return ("traceback" if "Traceback" in err else "crash"), f"exit {rc} without a result"
        res = json.loads(marker[-1][len("@@RESULT@@"):])
        if res["outcome"] == "returned":
            return ("silent", "returned a value") if c.expect == "error" else ("ok", "")
        if c.expect == "ok":
            return "refused_valid", f"{res['type']}: {res['message']}"
        if res["outcome"] == "exception" and res["type"] not in c.allow:
            return "traceback", f"{res['type']}: {res['message']}"
        if "\n" in (res["message"] or "").strip():
            return "multi_line", f"{res['type']}: {res['message']}"
        return "clear", f"{res['type']}: {res['message']}"
    if rc < 0:
        return "crash", f"killed by signal {-rc}"
    if rc == 141 and not err.strip():
        return "ok", "stopped quietly (exit 141)"
    if "Traceback (most recent call last)" in err:
        return "traceback", _last_line(err)
    if "internal error" in err:
        return "internal", _last_line(err)
    if rc not in GATELEARN_EXIT_CODES:
        return "crash", f"exit code {rc}: {_last_line(err)}"
    if rc == 0:
        return ("silent", "exit 0") if c.expect == "error" else ("ok", "")
    if c.expect == "ok":
        return "refused_valid", f"exit {rc}: {_last_line(err)}"
    lines = [line for line in err.splitlines() if line.strip()]
    if not lines and rc in c.codes and out.strip():
        # a command whose failure is its report (verify: "NOT verified: ...", exit 1)
        return "clear", f"exit {rc}, reported on stdout: {_last_line(out)}"
    if len(lines) != 1:
        return "multi_line", f"exit {rc}, {len(lines)} lines: {_last_line(err)}"
    if rc not in c.codes:
        return "wrong_code", f"exit {rc} (expected {'/'.join(map(str, c.codes))}): {lines[0]}"
    return "clear", lines[0]


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


def build_base(timeout: float) -> None:
    steps = [["train", "--preset", "monk1", "--out", str(CTX.base), "--iterations", "60", "--eval-every", "30",
              "--threads", "1", "--no-progress", "--seed", "1"],
             ["compile", str(CTX.base), "--target", "c"],
             ["export", str(CTX.base)]]
    for argv in steps:
        r = _finish(_start(argv, CTX.work), max(timeout, 300))
        if r["rc"] != 0:
            if argv[0] == "export":
                print(f"bad_inputs: setup: gatelearn export failed ({_last_line(r['stderr'])}); the cases that need "
                      f"artifacts are skipped", file=sys.stderr)
                return
            raise SystemExit(f"bad_inputs: setup failed: gatelearn {' '.join(argv)}\n{r['stderr'][-3000:]}")
    CTX.artifacts = (CTX.base / "artifacts" / "manifest.json").exists()


def generate() -> list[Case]:
    for gen in (gen_train_flags, gen_config_files, gen_predict, gen_cli_args, gen_import, gen_run_dirs,
                gen_pipes_and_writers, gen_api):
        gen()
    ids = Counter(c.id for c in CASES)
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise SystemExit(f"bad_inputs: duplicate case ids: {dup}")
    return CASES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per case (default 120)")
    ap.add_argument("--only", default=None, help="run only the cases whose id or area contains this text")
    ap.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    ap.add_argument("--json", default=None, metavar="FILE",
                    help="also write the summary here, with every case's outcome and message")
    ap.add_argument("--list", action="store_true", help="list the cases (area, expected answer, id) and stop")
    args = ap.parse_args()

    global CTX
    cases = generate()
    if args.only:
        cases = [c for c in cases if args.only in c.id or args.only == c.area]
    if args.list:
        for c in cases:
            print(f"{c.area:16s} {c.expect:5s} {c.id}")
        print(f"{len(cases)} cases", file=sys.stderr)
        return 0
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="gatelearn-bad-inputs-"))
    work.mkdir(parents=True, exist_ok=True)
    for old in ("base", "cases"):   # a --keep folder of an earlier run: start afresh
        shutil.rmtree(work / old, ignore_errors=True)
    CTX = Context(work, args.timeout)

    t0 = time.perf_counter()
    work.chmod(0o755)    # an unprivileged case must reach its folder
    CTX.nobody_home.mkdir(exist_ok=True)
    CTX.nobody_home.chmod(0o777)
    print(f"bad_inputs: {len(cases)} cases in {work}; building the trained run ...", file=sys.stderr, flush=True)
    build_base(args.timeout)
    results = []
    folders = {}
    for i, c in enumerate(cases):
        d = work / "cases" / f"{i:04d}"
        d.mkdir(parents=True, exist_ok=True)
        folders[c.id] = d
    skipped = [c for c in cases if c.needs_artifacts and not CTX.artifacts]
    todo = [c for c in cases if c not in skipped]

    def one(c: Case) -> dict:
        d = folders[c.id]
        try:
            if c.prepare is not None:
                c.prepare(d)
        except Exception as exc:   # a generator bug (or a file layout it did not expect): say so, go on
            return {"id": c.id, "area": c.area, "outcome": "setup_failed", "message": f"{type(exc).__name__}: {exc}"}
        r = run_case(c, d)
        outcome, note = classify(c, r)
        return {"id": c.id, "area": c.area, "outcome": outcome, "message": note, "expected": c.expect,
                "exit_code": r["rc"], "seconds": round(r["seconds"], 1),
                "command": (["gatelearn", *map(str, c.argv(d))] if c.argv else None),
                "stderr_tail": r["stderr"][-600:] if outcome not in CLEAN else None}

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(one, c): c for c in todo}
        for n, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            res = fut.result()
            results.append(res)
            mark = "." if res["outcome"] in CLEAN else "!"
            print(f"[{n}/{len(todo)}] {mark} {res['outcome']:13s} {res['area']:15s} {res['id']}",
                  file=sys.stderr, flush=True)

    order = {c.id: i for i, c in enumerate(cases)}
    results.sort(key=lambda r: order[r["id"]])
    counts = Counter(r["outcome"] for r in results)
    by_area: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_area[r["area"]][r["outcome"]] += 1
    summary = {
        "cases": len(results),
        "clean": sum(counts[o] for o in CLEAN),
        "counts": {o: counts[o] for o in (*OUTCOMES, "setup_failed") if counts[o]},
        "headline": {"clear_errors": counts["clear"], "ok": counts["ok"],
                     "tracebacks": counts["traceback"] + counts["internal"],
                     "silent_acceptances": counts["silent"], "hangs": counts["hang"],
                     "other_not_clean": sum(counts[o] for o in ("wrong_code", "multi_line", "refused_valid", "crash",
                                                                "setup_failed"))},
        "by_area": {a: dict(sorted(c.items())) for a, c in sorted(by_area.items())},
        "not_clean": [r for r in results if r["outcome"] not in CLEAN],
        "skipped": [c.id for c in skipped],
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {"python": platform.python_version(), "cores": os.cpu_count(), "user": os.geteuid(),
                    "jobs": args.jobs},
    }
    print(json.dumps(summary, indent=2))
    if args.json:   # the file also holds every case's outcome and message, clean or not
        Path(args.json).write_text(json.dumps({**summary, "results": results}, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
