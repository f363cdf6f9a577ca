"""The circuit half of gatelearn, without torch: the IR (:mod:`.ir`), the builder lowerings write
with (:mod:`.builder`), the software simulator (:mod:`.simulate`), optimisation passes
(:mod:`.passes`) and reports (:mod:`.report`). Lowering a trained model into it lives above both
halves, in :mod:`gatelearn.lowering`."""
from .builder import CircuitBuilder
from .ir import Circuit, Head, InputEncoding
from .passes import optimize
from .simulate import Simulator, simulate

__all__ = ["Circuit", "Head", "InputEncoding", "CircuitBuilder", "Simulator", "simulate", "optimize"]
