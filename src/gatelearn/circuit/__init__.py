"""Circuit IR, lowering from models, optimisation passes."""
from .ir import Circuit, Head, InputEncoding
from .lower import CircuitBuilder, lower_model, register_lowering

__all__ = ["Circuit", "Head", "InputEncoding", "CircuitBuilder", "lower_model", "register_lowering"]
