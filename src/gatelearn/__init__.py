"""gatelearn: train logic gate networks and compile them into verified circuits."""
from .errors import FileFormatError, GatelearnError, InputError, ToolError
from .layers import (BitInput, GroupSum, LogicLayer, OneHotEncoder, TabularEncoder,
                     ThresholdEncoder)
from .model import LogicNet, build_model, load, save

__version__ = "0.1.0"

__all__ = ["LogicLayer", "GroupSum", "BitInput", "ThresholdEncoder", "OneHotEncoder",
           "TabularEncoder", "LogicNet", "build_model", "load", "save", "GatelearnError",
           "InputError", "FileFormatError", "ToolError", "__version__"]
