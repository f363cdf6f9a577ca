"""The NumPy target: :mod:`.emit` writes a standalone NumPy module with the circuit's tables
(:mod:`.standalone` is that module's source), :mod:`.run` runs a circuit in-process with the
software simulator (:class:`NumpyProgram`)."""
from .emit import NumpyEmitter
from .run import NumpyProgram, compile_numpy

__all__ = ["NumpyEmitter", "NumpyProgram", "compile_numpy"]
