"""Testing the executable artifacts, the C library and the standalone NumPy module, against the
model's circuit. These are programs, not netlists: nothing here proves them, so each result is
labelled "tested", never "proven".

What is tested is the files on disk (a hand edit is what runs): ``NAME.c`` + ``NAME.h`` compiled
by the system compiler, ``NAME.py`` imported with its ``NAME.npz``. Each runs in a child process
(a crash or a hang of an edited file is a failed check, not a crash of ``verify``) on

* every combination of per-feature *region representatives* when there are at most
  :data:`EXHAUSTIVE_LIMIT` of them: each threshold t and the next float32 above it (one-hot
  values: the value and its two neighbours; category codes: every code), so every region of the
  input encoding, and so every reachable pattern of input bits, is met ("exhaustive");
* otherwise corner cases (all features at their smallest / largest candidate, zeros, the
  largest finite floats and infinities) and :data:`RANDOM_ROWS` random rows drawn from the
  candidates, plus random values between them ("random + corner cases");

once as float32 and once as uint8 rows (the C library has an entry point for each). The class
scores and class indices (the C library's fast bit-sliced argmax too) must equal the software
simulator's (:func:`gatelearn.verification.agreement.reference_outputs`) on the model's circuit.
"""
from __future__ import annotations

import importlib.util
import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..backends.base import Artifacts
from ..circuit.ir import Circuit
from ..errors import GatelearnError
from .agreement import reference_outputs
from .equivalence import Check

__all__ = ["EXHAUSTIVE_LIMIT", "RANDOM_ROWS", "c_artifacts", "numpy_artifacts", "candidates", "test_inputs",
           "check_c_artifact", "check_numpy_artifact"]

EXHAUSTIVE_LIMIT = 1 << 16
RANDOM_ROWS = 1 << 14
_F32_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------------------------------------ finding them
def c_artifacts(folder: Path) -> list[str]:
    """Names of the C libraries in ``folder``: NAME.h with NAME.c beside it."""
    if not folder.is_dir():
        return []
    return sorted(h.stem for h in folder.glob("*.h") if (folder / f"{h.stem}.c").is_file())


def numpy_artifacts(folder: Path) -> list[str]:
    """Names of the standalone NumPy modules in ``folder``: NAME.py with NAME.npz beside it."""
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.py") if (folder / f"{p.stem}.npz").is_file())


# ------------------------------------------------------------------------------ inputs
def _next32(v: float, toward: float) -> float:
    return float(np.nextafter(np.float32(v), np.float32(toward)))


def candidates(circuit: Circuit, dtype: str) -> list[np.ndarray]:
    """Per raw feature, values that meet every region of its encoding (``dtype`` "f32" or "u8",
    the latter clipped to 0..255), all valid for the model's input contract."""
    F = circuit.encoder.num_features if circuit.encoder is not None else circuit.num_inputs
    if circuit.encoder is None:
        return [np.array([0.0, 1.0]) for _ in range(F)]
    enc = circuit.encoder
    vals: list[set[float]] = [set() for _ in range(F)]
    for f, op, v in zip(enc.feature.tolist(), enc.op.tolist(), enc.value.astype(np.float32).tolist()):
        if not np.isfinite(v):
            continue
        if dtype == "u8":
            base = float(np.floor(v))
            vals[f].update((base - 1, base, base + 1) if op == 1 else (base, base + 1))
        else:
            vals[f].update((_next32(v, -np.inf), v, _next32(v, np.inf)) if op == 1 else (v, _next32(v, np.inf)))
    out = []
    for f in range(F):
        n = int(enc.categories[f])
        hi = 255.0 if dtype == "u8" else np.inf
        if n:
            hi = min(hi, n - 1.0)
            s = set(range(int(hi) + 1)) if hi < 256 else {0.0, hi} | {float(np.floor(v)) for v in vals[f]}
        else:
            s = vals[f] or {0.0}
        lo = 0.0 if (n or dtype == "u8") else -np.inf
        out.append(np.array(sorted(v for v in s if lo <= v <= hi), np.float64))
    return out


def _corners(circuit: Circuit, cands: list[np.ndarray], dtype: str) -> np.ndarray:
    """All features at their smallest candidate, at their largest, all zeros, and (float rows)
    real-valued features at -inf, the most negative and largest finite float32, and +inf."""
    rows = [[c[0] for c in cands], [c[-1] for c in cands], [0.0] * len(cands)]
    if dtype == "f32" and circuit.encoder is not None:
        real = circuit.encoder.categories == 0
        for v in (-np.inf, -_F32_MAX, _F32_MAX, np.inf):
            rows.append(np.where(real, v, 0.0).tolist())
    return np.array(rows, np.float64).reshape(-1, len(cands))


def test_inputs(circuit: Circuit, dtype: str, seed: int = 0) -> tuple[np.ndarray, bool]:
    """Raw rows to test an artifact on and whether they are exhaustive (every combination of the
    features' :func:`candidates`); ``dtype`` "f32" or "u8" sets the array's type."""
    cands = candidates(circuit, dtype)
    total = 1
    for c in cands:
        total *= len(c)
        if total > EXHAUSTIVE_LIMIT:
            break
    corners = _corners(circuit, cands, dtype)
    if total <= EXHAUSTIVE_LIMIT:
        grid = np.array(list(itertools.product(*cands)), np.float64).reshape(-1, len(cands))
        x, exhaustive = np.concatenate([grid, corners]), True
    else:
        rng = np.random.default_rng(seed)
        picked = np.stack([c[rng.integers(0, len(c), RANDOM_ROWS)] for c in cands], 1)
        parts = [corners, picked]
        if dtype == "f32" and circuit.encoder is not None:
            # values between the candidates too, for real-valued features
            lo = np.array([c[0] for c in cands])
            hi = np.array([c[-1] for c in cands])
            between = lo + rng.random((RANDOM_ROWS // 4, len(cands))) * (hi - lo)
            between = np.where(np.isfinite(between), between, lo)       # an infinite candidate
            parts.append(np.where(circuit.encoder.categories == 0, between, picked[:RANDOM_ROWS // 4]))
        x, exhaustive = np.concatenate(parts), False
    return (x.astype(np.uint8) if dtype == "u8" else x.astype(np.float32)), exhaustive


# ------------------------------------------------------------------------------ checks
def _header_value(text: str, key: str) -> int | None:
    m = re.search(rf"#define\s+\w+_{key}\s+(\d+)", text)
    return int(m.group(1)) if m else None


def check_c_artifact(ref: Circuit, folder: Path, name: str, item: str, tmp: Path, timeout: float) -> Check:
    """Compile ``folder/NAME.c`` (+ NAME.h) and test it against ``ref`` (the model's circuit)."""
    what = f"C library {name}.c + {name}.h, compiled and run"
    try:
        header = (folder / f"{name}.h").read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return Check(item, what, "FAILED", f"cannot read {name}.h: {exc}")
    F = ref.encoder.num_features if ref.encoder is not None else ref.num_inputs
    C = ref.head.classes if ref.head is not None else ref.num_outputs
    got = (_header_value(header, "NUM_FEATURES"), _header_value(header, "NUM_CLASSES"))
    if got != (F, C):
        return Check(item, what, "FAILED", f"{name}.h declares {got[0]} features / {got[1]} classes; the model has "
                     f"{F} / {C}: it was made for another model (re-run gatelearn compile --target c)")
    return _run_and_compare("c", ref, folder, name, item, what, tmp, timeout)


def check_numpy_artifact(ref: Circuit, folder: Path, name: str, item: str, tmp: Path, timeout: float) -> Check:
    """Import ``folder/NAME.py`` (with NAME.npz) and test its ``predict`` against ``ref``."""
    return _run_and_compare("numpy", ref, folder, name, item, f"NumPy module {name}.py + {name}.npz, imported and "
                            "run", tmp, timeout)


def _run_and_compare(kind: str, ref: Circuit, folder: Path, name: str, item: str, what: str, tmp: Path,
                     timeout: float) -> Check:
    t0 = time.perf_counter()
    inputs = {dt: test_inputs(ref, dt) for dt in ("f32", "u8")}
    sizes = ", ".join(f"{len(x):,} {dt} rows" for dt, (x, _) in inputs.items())
    how = "exhaustive over every input region" if all(e for _, e in inputs.values()) else "random + corner cases"
    what = f"{what}, vs the model's circuit (software simulator): {how}, {sizes}"
    work = tmp / f"{kind}-{name}"
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "inputs.npz", **{dt: x for dt, (x, _) in inputs.items()})
    ref.save(work / "ref.npz")
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])          # the folder holding the gatelearn package
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"         # importing NAME.py must not write into the run
    cmd = [sys.executable, "-m", "gatelearn.verification.artifacts", kind, str(folder), name,
           str(work / "ref.npz"), str(work / "inputs.npz"), str(work / "out.npz")]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Check(item, what, "FAILED", f"did not finish within {timeout:g} s", time.perf_counter() - t0)
    if r.returncode != 0:
        lines = [ln for ln in (r.stderr or "").strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {r.returncode}"
        if r.returncode < 0:
            why = f"crashed (signal {-r.returncode})"
        return Check(item, what, "FAILED", f"could not be run: {why}"[:800], time.perf_counter() - t0)
    with np.load(work / "out.npz", allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    for dt, (x, _) in inputs.items():
        cls, cnt = reference_outputs(ref, x)
        results = [("class scores", out[f"{dt}_scores"], cnt), ("class indices", out[f"{dt}_classes"], cls)]
        if f"{dt}_fast" in out:
            results.append(("class indices (bit-sliced argmax)", out[f"{dt}_fast"], cls))
        for label, have, want in results:
            have = np.asarray(have).astype(np.int64)
            if have.shape != want.shape:
                return Check(item, what, "FAILED", f"{dt} rows: {label} of shape {have.shape}, expected {want.shape}",
                             time.perf_counter() - t0)
            bad = np.flatnonzero((have != want).reshape(len(want), -1).any(1))
            if len(bad):
                r0 = int(bad[0])
                return Check(item, what, "FAILED",
                             f"{dt} rows: {label} differ on {len(bad)} of {len(x)} rows, e.g. row {r0} "
                             f"(features {x[r0][:8].tolist()}{'...' if x.shape[1] > 8 else ''}): got "
                             f"{have[r0].tolist()}, the model {want[r0].tolist()}", time.perf_counter() - t0)
    return Check(item, what, "tested", "", time.perf_counter() - t0)


# ------------------------------------------------------------------------------ the child process
def _load_module(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"_gatelearn_artifact_{name}", folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _child(argv: list[str]) -> int:
    """Run one artifact on the inputs and save its outputs: ``KIND FOLDER NAME REF INPUTS OUT``."""
    kind, folder, name, ref_file, inputs_file, out_file = argv
    folder = Path(folder)
    try:
        with np.load(inputs_file, allow_pickle=False) as z:
            inputs = {k: z[k] for k in z.files}
        out = {}
        if kind == "c":
            from ..backends.c.run import CProgram
            src = Artifacts(name, {f"{name}.{ext}": (folder / f"{name}.{ext}").read_text(encoding="utf-8")
                                   for ext in ("c", "h")})
            prog = CProgram(Circuit.load(ref_file), name=name, source=src)
            for dt, x in inputs.items():
                p = prog.run(x)
                out[f"{dt}_scores"], out[f"{dt}_classes"] = p.scores, p.classes
                out[f"{dt}_fast"] = prog.run_prepared(prog.prepare(x), threads=2, scores=False).classes
        else:
            module = _load_module(folder, name)
            for dt, x in inputs.items():
                out[f"{dt}_scores"], out[f"{dt}_classes"] = module.predict(x)
        np.savez(out_file, **out)
    except GatelearnError as exc:
        print(str(exc).replace("\n", " ")[:2000], file=sys.stderr)
        return 2
    except Exception as exc:            # an edited artifact may raise anything: report it, one line
        print(f"{type(exc).__name__}: {exc}".replace("\n", " ")[:2000], file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
