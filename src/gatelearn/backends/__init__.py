"""Backends that run a circuit: ``numpy`` (bit-packed reference) and ``c`` (generated C99,
bit-sliced, SIMD, OpenMP). Verilog / AIGER / BLIF emitters live beside them."""
from __future__ import annotations

TARGETS = ("c", "numpy")


def compile_circuit(circuit, target: str = "c", **kw):
    """A program for ``circuit`` with ``run(x, threads=1) -> Prediction`` (raw features in)."""
    if target == "c":
        from .crun import CProgram
        return CProgram(circuit.validate(), **kw)
    if target == "numpy":
        from .np_backend import NumpyProgram
        prog = NumpyProgram(circuit.validate())
        return prog
    from ..errors import InputError
    raise InputError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
