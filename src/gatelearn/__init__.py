"""gatelearn: train logic gate networks and compile them into verified circuits.

The package has two halves: the torch half (:mod:`gatelearn.layers`, :mod:`gatelearn.model`,
:mod:`gatelearn.training`) and the torch-free circuit half (:mod:`gatelearn.circuit`,
:mod:`gatelearn.backends`); :mod:`gatelearn.lowering` turns a trained model into a circuit.
The names below are imported on first use, so ``import gatelearn.circuit`` works without torch.
"""
from __future__ import annotations

import importlib
import os
import sys

from .errors import FileFormatError, GatelearnError, InputError, ToolError

__version__ = "0.1.0"

# OpenMP threads that spin while they wait lose whole scheduler slices whenever another busy
# process shares the cores: on 2 cores beside one CPU-bound process, a 6 x 8,000 training step
# took 430 ms with spinning threads and 23 ms with passive ones (10 ms alone, 1 thread). The
# runtime reads the policy once, when torch loads, so it is set here, before gatelearn imports
# torch; a program that imported torch first keeps its own (TORCH_LOADED_FIRST says so).
TORCH_LOADED_FIRST = "torch" in sys.modules and "OMP_WAIT_POLICY" not in os.environ
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# public name -> the module that defines it (imported when the name is first used)
_LAZY = {
    "LogicLayer": "layers", "LogicConv2d": "layers", "OrPool2d": "layers", "GroupSum": "layers",
    "BinaryHead": "layers", "BitInput": "layers", "ThresholdEncoder": "layers", "OneHotEncoder": "layers",
    "TabularEncoder": "layers",
    "LogicNet": "model", "build_model": "model", "load": "model", "save": "model",
    "lower": "lowering",
    "Circuit": "circuit",
    "Dataset": "data", "load_dataset": "data",
    "TrainConfig": "training", "make_config": "training", "load_config": "training", "train": "training",
}

__all__ = [*_LAZY, "GatelearnError", "InputError", "FileFormatError", "ToolError", "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gatelearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
