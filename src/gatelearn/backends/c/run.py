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
from ...circuit.simulate import pack_bits, unpack_bits
from ...errors import InputError, ToolError
from ..base import Artifacts
from ..common import Prediction, input_contract, num_classes, num_features
from .emit import DEFAULT_WORD_BITS, generate_c

__all__ = ["CProgram", "compile_c", "build_shared", "cache_dir", "compiler", "flags", "throughput", "pack_inputs",
           "unpack_outputs"]


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


def pack_inputs(bits) -> np.ndarray:
    """Input bits (N, inputs), bool or 0/1 integers -> packed (inputs, ceil(N/64)) uint64, the
    layout of :meth:`CProgram.run_bits`: vector s of input i is bit s % 64 of word [i, s // 64]."""
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise InputError(f"expected input bits of shape (N, inputs), got shape {bits.shape}")
    if bits.dtype != bool:
        if bits.dtype.kind not in "biu" or (bits.size and ((bits != 0) & (bits != 1)).any()):
            raise InputError("input bits must be booleans or the integers 0 and 1")
        bits = bits.astype(bool)
    return pack_bits(bits)


def unpack_outputs(words: np.ndarray, n: int) -> np.ndarray:
    """Packed output rows (k, ceil(n/64)) uint64 from :meth:`CProgram.run_bits` -> bits (n, k) bool."""
    words = np.asarray(words)
    if words.ndim != 2 or words.shape[1] != -(-int(n) // 64):
        raise InputError(f"expected packed rows of {-(-int(n) // 64)} words for {n} vectors, got shape {words.shape}")
    return unpack_bits(words, int(n))


class CProgram:
    """A circuit compiled to a shared library. ``run(x, threads)`` takes raw features: uint8
    arrays use the uint8 entry point, everything else is converted to float32 (exact for the
    model, which compares in float32). A plain circuit (no head) also has :meth:`run_bits`:
    packed input bits to packed output bits."""

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
        self._workspaces: dict[tuple[str, int], tuple[np.ndarray, int]] = {}
        # the packed evaluator: generated for plain circuits (C files of an older gatelearn lack it)
        self._packed = getattr(self.lib, f"{n}_eval_packed", None) if circuit.head is None else None
        if self._packed is not None:
            self._packed.restype = ctypes.c_int
            self._packed.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_size_t, ctypes.c_void_p, ctypes.c_int]
            self._packed_ws_bytes = getattr(self.lib, f"{n}_packed_workspace_bytes")
            self._packed_ws_bytes.restype = ctypes.c_size_t
            self._packed_ws_bytes.argtypes = [ctypes.c_int]
            self.packed_block = int(self._call0(f"{n}_packed_block"))
        self.classes = num_classes(circuit)
        self.features = num_features(circuit)
        self.contract = input_contract(circuit)

    def _call0(self, fname):
        fn = getattr(self.lib, fname)
        fn.restype = ctypes.c_size_t
        fn.argtypes = []
        return fn()

    def workspace(self, threads: int, kind: str = "predict") -> int:
        """Address of a 64-byte aligned workspace for ``threads`` threads (allocated once), for
        the predict entry points or (``kind="packed"``) the packed evaluator."""
        if (kind, threads) not in self._workspaces:
            nbytes = int((self._ws_bytes if kind == "predict" else self._packed_ws_bytes)(threads))
            buf = np.zeros(nbytes + 64, np.uint8)
            addr = buf.ctypes.data
            off = (-addr) % 64
            self._workspaces[kind, threads] = (buf, addr + off)
        return self._workspaces[kind, threads][1]

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

    def run_bits(self, bits, n: int | None = None, outputs=None, threads: int = 1,
                 out: np.ndarray | None = None) -> np.ndarray:
        """A plain circuit on input vectors given as bits, every output computed: the C packed
        evaluator (``NAME_eval_packed``).

        ``bits``: (N, inputs) bool or 0/1 integers, or, with ``n`` given, already packed: (inputs,
        ceil(n/64)) uint64, vector s of input i at bit s % 64 of word [i, s // 64] (:func:`pack_inputs`).
        ``outputs``: indices of the outputs wanted, in the order wanted (default all). Returns
        packed output rows (len(outputs), ceil(N/64)) uint64 in the same layout, bits past N zero
        (:func:`unpack_outputs` gives (N, k) bool); ``out`` may give that array."""
        c = self.circuit
        if self._packed is None:
            raise InputError("run_bits evaluates plain circuits (no GroupSum head) compiled by this gatelearn; "
                             + ("this one has a head: use run()" if c.head is not None else
                                "these C files have no packed entry point (generated by an older gatelearn)"))
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        if n is None:
            bits = np.asarray(bits)
            if bits.ndim != 2 or bits.shape[1] != c.num_inputs:
                raise InputError(f"expected input bits of shape (N, {c.num_inputs}), got shape {bits.shape}")
            n = len(bits)
            words = pack_inputs(bits)
        else:
            n = int(n)
            words = np.asarray(bits)
            if n < 0 or words.dtype != np.uint64 or words.shape != (c.num_inputs, -(-n // 64)):
                raise InputError(f"packed input bits for {n} vectors must be uint64 of shape "
                                 f"({c.num_inputs}, {-(-n // 64)}), got {words.dtype} {words.shape}")
            words = np.ascontiguousarray(words)
        if outputs is None:
            select, k = None, c.num_outputs
        else:
            select = np.asarray(outputs)
            if select.ndim != 1 or (select.size and (select.dtype.kind not in "iu" or select.min() < 0
                                                     or select.max() >= c.num_outputs)):
                raise InputError(f"outputs must be a list of output indices 0..{c.num_outputs - 1}")
            select = np.ascontiguousarray(select, np.uint32)
            k = len(select)
        shape = (k, -(-n // 64))
        if out is None:
            out = np.empty(shape, np.uint64)
        elif out.shape != shape or out.dtype != np.uint64 or not out.flags.c_contiguous:
            raise InputError(f"out must be a C-contiguous uint64 array of shape {shape}")
        rc = self._packed(words.ctypes.data if words.size else None, n, out.ctypes.data if out.size else None,
                          None if select is None else select.ctypes.data, k, self.workspace(threads, "packed"),
                          threads)
        if rc != 0:
            raise ToolError(f"the compiled circuit refused its arguments (return code {rc})")
        return out


def compile_c(circuit: Circuit, **kw) -> CProgram:
    """``circuit`` generated, built and loaded (options as :class:`CProgram`)."""
    return CProgram(circuit.validate(), **kw)


def throughput(prog: CProgram, x, threads: int = 1, min_seconds: float = 1.0) -> float:
    """Samples per second, end to end from raw features to class indices (inside C: encoding,
    transpose, gates, counters, argmax). A plain circuit (no head) is timed from packed input
    bits to every output bit, packed (:meth:`CProgram.run_bits`; x are its 0/1 inputs), in
    vectors per second. Best of repeated runs of at least ``min_seconds`` total."""
    # a circuit with an encoder reads raw features, so it is timed through them even without a head
    if prog.circuit.head is None and prog.circuit.encoder is None and prog._packed is not None:
        words = pack_inputs(prog.contract.check(x))
        rows = np.empty((prog.circuit.num_outputs, words.shape[1]), np.uint64)

        def call():
            prog.run_bits(words, len(x), threads=threads, out=rows)
    else:
        xp = prog.prepare(x)
        classes = (None, np.empty(len(xp), np.int32))

        def call():
            prog.run_prepared(xp, threads, scores=False, out=classes)
    call()       # warm up (workspace, caches)
    best, spent = 0.0, 0.0
    while spent < min_seconds:
        t0 = time.perf_counter()
        call()
        dt = time.perf_counter() - t0
        spent += dt
        best = max(best, len(x) / dt)
    return best
