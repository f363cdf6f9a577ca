"""Training: presets (plain data), the loop, checkpoints, metrics and plots.

    from gatelearn.training import make_config, train
    summary = train(make_config("monk1", iterations=500), "runs/monk1")
"""
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, read_checkpoint_info
from .loop import train, train_model
from .presets import PRESETS, get_preset, layer_specs, make_config, preset_names
from .usage import gate_usage

__all__ = ["train", "train_model", "PRESETS", "get_preset", "make_config", "preset_names",
           "layer_specs", "gate_usage", "load_checkpoint", "read_checkpoint_info", "CHECKPOINT_FILE"]
