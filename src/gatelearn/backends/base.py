"""The one emitter interface every target implements, and the registry of targets.

An emitter turns a circuit into files: ``emit(circuit, name=..., **options) -> Artifacts``.
:class:`Artifacts` maps file names to their contents (``bytes`` or ``str``) and carries an
``info`` dict of facts the caller may want without parsing the files (Verilog's ``HwSpec``, the C
workspace layout, ...). Nothing is written until :meth:`Artifacts.write`, which writes every file
atomically, so an emitter is a pure function of the circuit and the options.

Targets (see :data:`EMITTERS`): ``c`` (bit-sliced C99: NAME.c, NAME.h, NAME_main.c), ``numpy``
(a standalone NumPy module NAME.py + its tables NAME.npz), ``verilog`` (NAME.v), ``aiger``
(NAME.aig) and ``blif`` (NAME.blif). The emitter classes are imported on first use, so the
registry costs nothing to import.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..circuit.ir import Circuit
from ..errors import InputError
from ..fileio import atomic_write_bytes

__all__ = ["Artifacts", "Emitter", "EMITTERS", "emitter", "emit"]


@dataclass
class Artifacts:
    """What an emitter made: ``files`` (file name -> contents) and ``info`` (facts about them)."""
    name: str
    files: dict[str, bytes | str]
    info: dict = field(default_factory=dict)

    def __getitem__(self, file_name: str) -> bytes | str:
        return self.files[file_name]

    def data(self, file_name: str) -> bytes:
        """A file's contents as bytes (text is UTF-8)."""
        v = self.files[file_name]
        return v.encode("utf-8") if isinstance(v, str) else v

    @property
    def digest(self) -> str:
        """SHA-256 over every file's name and contents (in name order): a content key."""
        h = hashlib.sha256()
        for fname in sorted(self.files):
            h.update(fname.encode() + b"\0" + self.data(fname) + b"\0")
        return h.hexdigest()

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write every file into ``out_dir`` (created if needed), each atomically; returns
        file name -> path."""
        out = Path(out_dir)
        paths = {}
        for fname in self.files:
            paths[fname] = out / fname
            atomic_write_bytes(paths[fname], self.data(fname))
        return paths


class Emitter(ABC):
    """A target: ``emit(circuit, name=..., **options) -> Artifacts``."""
    target: ClassVar[str]          # registry key, e.g. "verilog"
    default_name: ClassVar[str]    # name used when none is given (file stem / module / C prefix)

    @abstractmethod
    def emit(self, circuit: Circuit, name: str | None = None, **options) -> Artifacts:
        """The target's files for ``circuit``; ``options`` are the target's own (documented on
        each emitter). Raises :class:`gatelearn.errors.InputError` for a circuit or an option the
        target cannot express."""


# target -> "module:class", imported on first use
EMITTERS: dict[str, str] = {
    "c": "gatelearn.backends.c.emit:CEmitter",
    "numpy": "gatelearn.backends.np.emit:NumpyEmitter",
    "verilog": "gatelearn.backends.verilog:VerilogEmitter",
    "aiger": "gatelearn.backends.aiger:AigerEmitter",
    "blif": "gatelearn.backends.blif:BlifEmitter",
}


def emitter(target: str) -> Emitter:
    """The emitter of ``target`` (one of :data:`EMITTERS`)."""
    if target not in EMITTERS:
        raise InputError(f"unknown target {target!r}; choose one of {', '.join(EMITTERS)}")
    module, cls = EMITTERS[target].split(":")
    return getattr(importlib.import_module(module), cls)()


def emit(circuit: Circuit, target: str, name: str | None = None, **options) -> Artifacts:
    """Shorthand for ``emitter(target).emit(circuit, name, **options)``."""
    return emitter(target).emit(circuit, name, **options)
