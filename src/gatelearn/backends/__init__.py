"""Backends by role, all torch-free: emitters that turn a circuit into files, and runners that
execute a circuit.

Emitters (one interface, :class:`Emitter`: ``emit(circuit, name=..., **options) -> Artifacts``;
look one up with :func:`emitter` or call :func:`emit`):

* ``c`` (:mod:`.c`): bit-sliced C99, NAME.c / NAME.h / NAME_main.c, from real C templates;
* ``numpy`` (:mod:`.np`): a standalone NumPy module NAME.py with its tables NAME.npz;
* ``verilog`` (:mod:`.verilog`): synthesizable Verilog, combinational or pipelined;
* ``aiger`` (:mod:`.aiger`) and ``blif`` (:mod:`.blif`): the gate network in the formats ABC and
  yosys read (these two modules are codecs: they read the formats back too).

Runners (``run(x, threads=1) -> Prediction`` on raw features; :func:`compile_circuit`):
``c`` builds the C with the system compiler and calls it through ctypes (:class:`.c.CProgram`),
``numpy`` runs the software simulator (:class:`.np.NumpyProgram`).

What every backend shares (the raw-input contract, :class:`.common.Prediction`) is in
:mod:`.common`. Checking backends against the model or against each other is
:mod:`gatelearn.verification`'s job, not theirs.
"""
from __future__ import annotations

from ..errors import InputError
from .base import EMITTERS, Artifacts, Emitter, emit, emitter

TARGETS = ("c", "numpy")       # targets with a runner

__all__ = ["Artifacts", "Emitter", "EMITTERS", "emitter", "emit", "TARGETS", "compile_circuit"]


def compile_circuit(circuit, target: str = "c", **kw):
    """A program for ``circuit`` with ``run(x, threads=1) -> Prediction`` (raw features in):
    ``c`` -> :class:`.c.CProgram` (``kw``: name, portable, word_bits, opt), ``numpy`` ->
    :class:`.np.NumpyProgram`."""
    if target == "c":
        from .c.run import CProgram
        return CProgram(circuit.validate(), **kw)
    if target == "numpy":
        from .np.run import NumpyProgram
        return NumpyProgram(circuit.validate(), **kw)
    raise InputError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
