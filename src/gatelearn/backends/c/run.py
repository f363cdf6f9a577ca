"""The C runner: build the generated C (:mod:`.emit`) with the system compiler and call it
through ctypes.

Builds are cached by content: the key hashes the C source, the compiler's identity and the
flags, so a second build of the same circuit is a file lookup. The cache lives in
``$GATELEARN_CACHE`` (default ``~/.cache/gatelearn``), under ``c/``.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

import numpy as np

from ...circuit.ir import Circuit
from ...errors import InputError, ToolError
from ..base import Artifacts
from ..common import Prediction, input_contract, num_classes, num_features
from .emit import DEFAULT_WORD_BITS, generate_c

__all__ = ["CProgram", "compile_c", "build_shared", "cache_dir", "compiler", "flags", "throughput"]


def cache_dir() -> Path:
    """Where built libraries are kept: ``$GATELEARN_CACHE/c`` (default ``~/.cache/gatelearn/c``)."""
    return Path(os.environ.get("GATELEARN_CACHE", Path.home() / ".cache" / "gatelearn")) / "c"


def compiler() -> str:
    """The C compiler to use (``$CC``, default ``cc``); a ToolError when it is not installed."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise ToolError(f"C compiler {cc!r} not found; install gcc (e.g. apt-get install gcc) or set CC "
                        "to a C99 compiler")
    return cc


@cache
def _compiler_id(cc: str) -> str:
    try:
        out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
        return out.stdout.splitlines()[0] if out.stdout else cc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"C compiler {cc!r} cannot be run: {exc}") from exc


@cache
def _has_openmp(cc: str) -> bool:
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "omp.c"
        src.write_text("#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n")
        r = subprocess.run([cc, "-fopenmp", str(src), "-o", str(Path(d) / "omp")], capture_output=True)
        return r.returncode == 0


def flags(portable: bool = False, word_bits: int | None = None, opt: str = "-O2") -> list[str]:
    """Compiler flags of a shared-library build (OpenMP when the compiler has it)."""
    cc = compiler()
    f = [opt, "-std=gnu99", "-fPIC", "-shared"]
    f += ["-DGL_PORTABLE"] if portable else ["-march=native"]
    if word_bits is not None and not portable:
        f.append(f"-DGL_WORD_BITS={int(word_bits)}")
    if _has_openmp(cc):
        f.append("-fopenmp")
    return f


def build_shared(src: Artifacts, portable: bool = False, word_bits: int | None = None,
                 opt: str = "-O2") -> tuple[Path, float]:
    """Compile the C emitter's artifacts (NAME.c, NAME.h) to a shared library, cached by content.
    Returns (path, seconds spent compiling; 0 when the cache had it)."""
    cc = compiler()
    fl = flags(portable, word_bits, opt)
    key = hashlib.sha256("\0".join([src.digest, _compiler_id(cc), *fl]).encode()).hexdigest()[:24]
    d = cache_dir() / key
    lib = d / f"lib{src.name}.so"
    if lib.exists():
        return lib, 0.0
    d.mkdir(parents=True, exist_ok=True)
    src.write(d)
    tmp = d / f".lib{src.name}.{os.getpid()}.so"
    t0 = time.perf_counter()
    try:
        r = subprocess.run([cc, *fl, str(d / f"{src.name}.c"), "-o", str(tmp)], capture_output=True,
                           text=True, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{cc} did not finish compiling {d / src.name}.c within 30 minutes") from exc
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ToolError(f"{cc} failed to compile the generated C ({d / src.name}.c), exit code "
                        f"{r.returncode}:\n{r.stderr[-4000:]}\nCheck that {cc} is a working C99 compiler "
                        "(set CC to another one), or report this as a gatelearn bug.")
    os.replace(tmp, lib)
    return lib, seconds


class CProgram:
    """A circuit compiled to a shared library. ``run(x, threads)`` takes raw features: uint8
    arrays use the uint8 entry point, everything else is converted to float32 (exact for the
    model, which compares in float32)."""

    def __init__(self, circuit: Circuit, name: str = "gatelearn_net", portable: bool = False,
                 word_bits: int | None = None, opt: str = "-O2", source: Artifacts | None = None):
        self.circuit = circuit
        t0 = time.perf_counter()
        # ``source``: C files to build instead of generating them (verify tests written artifacts)
        self.source = source if source is not None else generate_c(circuit, name=name,
                                                                     word_bits=word_bits or DEFAULT_WORD_BITS)
        self.generate_seconds = time.perf_counter() - t0
        self.path, self.compile_seconds = build_shared(self.source, portable, word_bits, opt)
        self.lib = ctypes.CDLL(str(self.path))
        n = name
        self._ws_bytes = getattr(self.lib, f"{n}_workspace_bytes")
        self._ws_bytes.restype = ctypes.c_size_t
        self._ws_bytes.argtypes = [ctypes.c_int]
        self.block_samples = int(self._call0(f"{n}_block_samples"))
        self._fns = {}
        for kind in ("u8", "f32"):
            fn = getattr(self.lib, f"{n}_predict_{kind}")
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_int]
            self._fns[kind] = fn
        self._workspaces: dict[int, tuple[np.ndarray, int]] = {}
        self.classes = num_classes(circuit)
        self.features = num_features(circuit)
        self.contract = input_contract(circuit)

    def _call0(self, fname):
        fn = getattr(self.lib, fname)
        fn.restype = ctypes.c_size_t
        fn.argtypes = []
        return fn()

    def workspace(self, threads: int) -> int:
        """Address of a 64-byte aligned workspace for ``threads`` threads (allocated once)."""
        if threads not in self._workspaces:
            nbytes = int(self._ws_bytes(threads))
            buf = np.zeros(nbytes + 64, np.uint8)
            addr = buf.ctypes.data
            off = (-addr) % 64
            self._workspaces[threads] = (buf, addr + off)
        return self._workspaces[threads][1]

    def prepare(self, x) -> np.ndarray:
        """Check and convert raw features once (so timing loops measure only the C call)."""
        x = self.contract.check(x)      # the model's contract: shape, dtype, NaN, category codes, bits
        if x.dtype != np.uint8:
            x = x.astype(np.float32)
        return np.ascontiguousarray(x)

    def run_prepared(self, x: np.ndarray, threads: int = 1, scores: bool = True,
                     out: tuple[np.ndarray, np.ndarray] | None = None) -> Prediction:
        """Run on features from :meth:`prepare`. ``scores=False`` asks only for the classes (the
        bit-sliced argmax path); ``out`` may give the (scores, classes) arrays to fill."""
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        n = len(x)
        if out is None:
            sc = np.empty((n, self.classes), np.int32) if scores else None
            cl = np.empty(n, np.int32)
        else:
            sc, cl = out
        fn = self._fns["u8" if x.dtype == np.uint8 else "f32"]
        rc = fn(x.ctypes.data if n else None, n, sc.ctypes.data if sc is not None else None,
                cl.ctypes.data, self.workspace(threads), threads)
        if rc != 0:
            raise ToolError(f"the compiled network refused its arguments (return code {rc})")
        return Prediction(sc if sc is not None else np.zeros((n, 0), np.int32), cl)

    def run(self, x, threads: int = 1) -> Prediction:
        """Raw features -> class scores (GroupSum counts) and class indices."""
        return self.run_prepared(self.prepare(x), threads)


def compile_c(circuit: Circuit, **kw) -> CProgram:
    """``circuit`` generated, built and loaded (options as :class:`CProgram`)."""
    return CProgram(circuit.validate(), **kw)


def throughput(prog: CProgram, x, threads: int = 1, min_seconds: float = 1.0) -> float:
    """Samples per second, end to end from raw features to class indices (inside C: encoding,
    transpose, gates, counters, argmax). Best of repeated runs of at least ``min_seconds`` total."""
    xp = prog.prepare(x)
    out = (None, np.empty(len(xp), np.int32))
    prog.run_prepared(xp, threads, scores=False, out=out)       # warm up (workspace, caches)
    best, spent = 0.0, 0.0
    while spent < min_seconds:
        t0 = time.perf_counter()
        prog.run_prepared(xp, threads, scores=False, out=out)
        dt = time.perf_counter() - t0
        spent += dt
        best = max(best, len(xp) / dt)
    return best
