"""Exceptions with messages that name the problem (shape, dtype, file, value, tool)."""


class GatelearnError(Exception):
    """Base class of every error gatelearn raises on purpose."""


class InputError(GatelearnError, ValueError):
    """Bad data handed to a model or function: wrong shape, dtype, NaN, non-binary bits, labels."""


class FileFormatError(GatelearnError, ValueError):
    """A file that is missing, truncated, corrupted or not in the expected format."""


class ToolError(GatelearnError, RuntimeError):
    """An external program (ABC, yosys, a C compiler, Verilator) is missing, failed or timed out."""
