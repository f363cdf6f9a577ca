"""Training: the settings (one typed list), presets (plain data), the loop, checkpoints, metrics
and plots.

    from gatelearn.training import make_config, train
    summary = train(make_config("monk1", iterations=500), "runs/monk1")

    config = load_config("runs/monk1/config.json")     # a run's settings: train it again
"""
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, read_checkpoint_info
from .config import TrainConfig, settings
from .loop import CONFIG_FILE, Trainer, train, train_model
from .presets import PRESETS, get_preset, layer_specs, load_config, make_config, preset_names
from .usage import gate_usage

__all__ = ["train", "train_model", "Trainer", "TrainConfig", "settings", "PRESETS", "get_preset", "make_config",
           "load_config", "preset_names", "layer_specs", "gate_usage", "load_checkpoint", "read_checkpoint_info",
           "CHECKPOINT_FILE", "CONFIG_FILE"]
