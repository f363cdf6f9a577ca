"""Building and loading gatelearn's C++ kernels (torch.utils.cpp_extension), once per machine.

Every kernel goes through :class:`Extension`, so all of them share the same rules:
- built on first use with ``-O3 -march=native -fopenmp`` and cached on disk; while it builds,
  a progress line on stderr says so (a first run waits about a minute) and another one how long
  it took (:mod:`gatelearn.progress`: ``GATELEARN_QUIET=1`` silences them). Whoever calls
  :meth:`Extension.get` gets these lines for free; :func:`ensure_built` builds every kernel (or the
  named ones) up front, e.g. before a training clock starts;
- the cache folder and the extension name carry a hash of everything that changes the build
  (:func:`build_signature`): torch's version, ABI and include paths (which differ between
  virtual environments), the compiler and its version, the flags, the sources, the Python ABI
  and the CPU's feature flags (``-march=native`` code is only valid on a CPU with the same
  features: a shared folder could otherwise hand out a binary that dies with SIGILL). torch
  keys its own cache on sources and flags only, so virtual environments sharing a folder
  rebuilt it in turn, each time the other one had built;
- the build runs under an fcntl lock of our own (released by the OS when its holder dies).
  torch guards its build folder with a plain lock file that a killed build leaves behind, after
  which every later load waits forever; while we hold our lock no gatelearn process is
  building, so a leftover torch lock file is stale and is removed;
- if the build fails (no compiler, headers or OpenMP) one warning says why and callers fall
  back to their PyTorch path; ``GATELEARN_NO_EXTENSION=1`` skips every build silently.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from .. import progress

NO_EXTENSION_ENV = "GATELEARN_NO_EXTENSION"
# -fno-math-errno / -fno-trapping-math: the kernels never read errno or FP traps, and without
# these GCC keeps math calls and clamps scalar, unvectorized.
FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math"]
LDFLAGS = ["-fopenmp"]
BUILDING_MESSAGE = "building the CPU kernels (first run only, about a minute): {what}"
BUILT_MESSAGE = "built the {what} in {seconds}"
_REGISTRY: dict[str, Extension] = {}     # name -> the package's Extension of that kernel (ensure_built)


def disabled_by_env() -> bool:
    return os.environ.get(NO_EXTENSION_ENV, "").strip().lower() not in ("", "0", "false", "no")


def cpu_tag() -> str:
    """Short hash of the CPU's feature flags (see the module docstring)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    except OSError:
        import platform
        flags = platform.processor() + platform.machine()
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def _include_paths() -> list[str]:
    """The include folders torch compiles an extension with (torch's own and Python's)."""
    from torch.utils.cpp_extension import include_paths
    return [*include_paths(), sysconfig.get_paths().get("include", "")]


@lru_cache(maxsize=8)
def _compiler(cxx: str) -> str:
    """The compiler torch will call (``$CXX``, else ``c++``): its resolved path and version line."""
    path = shutil.which(cxx)
    if path is None:
        return f"{cxx} (not found)"
    path = os.path.realpath(path)
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        version = (out.stdout or out.stderr).strip().splitlines()[:1]
    except (OSError, subprocess.SubprocessError) as exc:
        version = [f"--version failed: {type(exc).__name__}"]
    return f"{path} {' '.join(version)}"


def _python_abi() -> str:
    return f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')} {getattr(sys, 'abiflags', '')}"


def build_signature(source: str | os.PathLike) -> dict:
    """Everything that changes the binary built from ``source``: two builds with the same
    signature are interchangeable, so the cache is keyed by it (:func:`build_key`)."""
    return {"torch": [torch.__version__, str(torch.compiled_with_cxx11_abi())],
            "include_paths": _include_paths(),
            "compiler": _compiler(os.environ.get("CXX", "c++")),
            "flags": [*FLAGS, "|", *LDFLAGS],
            "sources": hashlib.sha256(Path(source).read_bytes()).hexdigest(),
            "python_abi": _python_abi(),
            "cpu": cpu_tag()}


def build_key(source: str | os.PathLike) -> str:
    """Short hash of :func:`build_signature`."""
    text = json.dumps(build_signature(source), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _ensure_ninja_on_path() -> None:
    # torch's builder runs the `ninja` executable; with a virtualenv used without activation,
    # the one pip installed is in the environment's bin folder but not on PATH.
    try:
        import ninja  # type: ignore[import-not-found]
    except ImportError:
        return
    bin_dir = getattr(ninja, "BIN_DIR", None)
    if bin_dir and bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def cache_root() -> Path:
    if os.environ.get("TORCH_EXTENSIONS_DIR"):
        return Path(os.environ["TORCH_EXTENSIONS_DIR"])
    return Path(os.environ.get("GATELEARN_CACHE", Path.home() / ".cache" / "gatelearn")) / "torch_extensions"


class Extension:
    """One C++ kernel source file, built and imported on the first :meth:`get`."""

    def __init__(self, name: str, source: str, what: str):
        self.name = name
        self.source = Path(__file__).with_name(source)
        self.what = what
        self.module = None
        self.error: str | None = None
        self._lock = threading.Lock()
        _REGISTRY.setdefault(name, self)   # the first one made (the package's own) is the one to build

    def get(self):
        """The compiled module, or None (after one warning) when it cannot be built."""
        if disabled_by_env():
            return None
        if self.module is not None or self.error is not None:
            return self.module
        with self._lock:
            if self.module is None and self.error is None:
                try:
                    self.module = self._build()
                except Exception as exc:   # no compiler, no headers, no OpenMP, build error
                    msg = " ".join(f"{type(exc).__name__}: {exc}".split())
                    self.error = msg if len(msg) <= 400 else msg[:400] + " ..."
                    warnings.warn(f"gatelearn: the {self.what} could not be built; using the (slower) PyTorch "
                                  f"path instead. Reason: {self.error}. Set {NO_EXTENSION_ENV}=1 to skip the "
                                  "build attempt.", RuntimeWarning, stacklevel=4)
        return self.module

    def unavailable_reason(self) -> str | None:
        if disabled_by_env():
            return f"disabled by {NO_EXTENSION_ENV}=1"
        return None if self.get() is not None else self.error

    def _build(self):
        import fcntl

        from torch.utils.cpp_extension import load
        _ensure_ninja_on_path()
        # The module name is the folder's: torch names the built library after it, and one
        # process cannot import two different modules of the same name.
        name = f"{self.name}_{build_key(self.source)}"
        build_dir = cache_root() / name
        build_dir.mkdir(parents=True, exist_ok=True)
        with open(build_dir / ".gatelearn.lock", "w") as guard:
            try:
                fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # another gatelearn process is building this kernel: say why nothing happens
                with progress.step(f"waiting for another gatelearn process to build the {self.what}", delay=0):
                    fcntl.flock(guard, fcntl.LOCK_EX)
            try:
                (build_dir / "lock").unlink(missing_ok=True)
                if (build_dir / f"{name}.so").exists():
                    # Everything that changes the build is in the folder's name, so a folder
                    # holding the library needs no build: loading it takes a moment, say nothing.
                    return self._load(load, name, build_dir)
                # Announced at once (no delay): the user is about to wait a minute for it.
                with progress.step(BUILDING_MESSAGE.format(what=self.what), delay=0,
                                   done=BUILT_MESSAGE.replace("{what}", self.what)):
                    return self._load(load, name, build_dir)
            finally:
                fcntl.flock(guard, fcntl.LOCK_UN)

    def _load(self, load, name: str, build_dir: Path):
        return load(name=name, sources=[str(self.source)], build_directory=str(build_dir),
                    extra_cflags=FLAGS, extra_ldflags=LDFLAGS, verbose=False)


def ensure_built(*names: str) -> dict[str, str | None]:
    """Build (on a machine's first use, saying so on stderr with how long it took) or load the
    CPU kernels now: all of gatelearn's, or the ones named (``"gatelearn_logic"``,
    ``"gatelearn_conv_tree"``). Returns name -> None when the kernel is ready, else why it is
    not (the caller then uses the PyTorch path, as :meth:`Extension.get` does).

    For callers that want the build out of the way before something is timed (a training clock,
    a benchmark); :meth:`Extension.get` builds on first use anyway, with the same messages."""
    # The package's __init__ (imported before this module) made the logic kernel's Extension;
    # conv_tree makes its own when imported.
    from . import conv_tree  # noqa: F401
    unknown = sorted(set(names) - set(_REGISTRY))
    if unknown:
        raise ValueError(f"unknown kernel(s) {unknown}; gatelearn has {sorted(_REGISTRY)}")
    return {name: _REGISTRY[name].unavailable_reason() for name in (names or sorted(_REGISTRY))}
