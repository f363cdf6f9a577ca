"""Models built from a small declarative spec, and saving / loading them without pickle.

A spec is a JSON-able dict::

    {"encoder": {"kind": "thresholds", "features": 784, "per_feature": 1},
     "layers": [{"kind": "logic", "out": 8000, "parametrization": "softmax16", ...}, ...],
     "head": {"kind": "groupsum", "classes": 10, "tau": 10.0},
     "seed": 0}

Layer kinds are declared in :mod:`gatelearn.layers.kinds` (spec name, module class, builder,
lowering, defaults); the model builds each layer of the spec through its kind's builder.

A saved model is one ``.safetensors`` file: the state dict (weights, wiring, encoder
thresholds) with the spec as JSON in its metadata, plus a readable ``model.json`` copy when a
directory is given. Loading rebuilds the model from the spec, never from pickled objects.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import torch
from torch import nn

from .errors import FileFormatError, InputError
from .fileio import atomic_path, atomic_write_text
from .layers.encoders import encoder_from_spec
from .layers.groupsum import GroupSum
from .layers.kinds import KINDS
from .layers.wiring import order_gates_for_locality

SPEC_FORMAT = "gatelearn.model"
SPEC_VERSION = 1
MODEL_FILE = "model.safetensors"
SPEC_FILE = "model.json"


class LogicNet(nn.Module):
    """encoder -> layers -> GroupSum head. ``eval()`` gives the hard circuit's class scores."""

    def __init__(self, spec: dict):
        super().__init__()
        self.spec = normalize_spec(spec)
        self.encoder = encoder_from_spec(self.spec["encoder"])
        shape: tuple = tuple(getattr(self.encoder, "out_shape", (self.encoder.out_features,)))
        seed = self.spec.get("seed")
        layers = []
        for i, lspec in enumerate(self.spec["layers"]):
            kind = lspec.get("kind")
            if kind not in KINDS:
                raise InputError(f"layer {i}: unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")
            module, shape = KINDS[kind].build(lspec, shape, None if seed is None else seed * 1009 + i)
            layers.append(module)
        self.layers = nn.ModuleList(layers)
        head = self.spec["head"]
        if head.get("kind", "groupsum") != "groupsum":
            raise InputError(f"unknown head kind {head.get('kind')!r}; only 'groupsum' exists")
        if len(shape) != 1 or shape[0] % head["classes"]:
            raise InputError(f"the last layer gives {shape} outputs, not divisible into {head['classes']} classes")
        self.head = GroupSum(head["classes"], head.get("tau", 1.0))
        # Same network, gates numbered for the kernels' memory access (a loaded model's wiring
        # then replaces this one as it was saved).
        order_gates_for_locality(self.layers, self.head.classes)

    @property
    def classes(self) -> int:
        return self.head.classes

    def num_gates(self) -> int:
        """Gates of the discrete network (before any circuit optimisation); every layer kind
        with learned gates defines ``gate_count()``."""
        return sum(m.gate_count() for m in self.layers if hasattr(m, "gate_count"))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoded bits -> output of the last logic layer (before the head)."""
        h = self.encoder(x)
        for layer in self.layers:
            h = layer(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class indices of the hard circuit (switches to eval mode for the call)."""
        was = self.training
        self.eval()
        try:
            return self(x).argmax(dim=1)
        finally:
            self.train(was)


def normalize_spec(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    for key in ("encoder", "layers", "head"):
        if key not in spec:
            raise InputError(f"model spec is missing {key!r}")
    spec.setdefault("format", SPEC_FORMAT)
    spec.setdefault("version", SPEC_VERSION)
    if spec["format"] != SPEC_FORMAT or spec["version"] != SPEC_VERSION:
        raise InputError(f"model spec has format {spec['format']!r} version {spec['version']}; "
                         f"this gatelearn reads {SPEC_FORMAT!r} version {SPEC_VERSION}")
    json.dumps(spec)  # a spec must be plain data
    return spec


def build_model(spec: dict) -> LogicNet:
    return LogicNet(spec)


def _model_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / MODEL_FILE if path.suffix != ".safetensors" else path


def save(model: LogicNet, path: str | os.PathLike) -> Path:
    """Save to ``path`` (a directory, or a ``.safetensors`` file). Written atomically."""
    from safetensors.torch import save_file
    file = _model_file(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(file) as tmp:
        save_file(state, str(tmp), metadata={"gatelearn_spec": json.dumps(model.spec)})
    if Path(path).suffix != ".safetensors":
        atomic_write_text(Path(path) / SPEC_FILE, json.dumps(model.spec, indent=2) + "\n")
    return file


def load(path: str | os.PathLike, map_location: str = "cpu") -> LogicNet:
    """Load a model saved by :func:`save` (a run directory, or the ``.safetensors`` file)."""
    from safetensors import SafetensorError, safe_open
    file = _model_file(path)
    if not file.exists():
        raise FileFormatError(f"no saved model at {file}")
    try:
        with safe_open(str(file), framework="pt", device=map_location) as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise FileFormatError(f"{file} is not a readable safetensors model file "
                              f"(truncated or corrupted?): {exc}") from exc
    if "gatelearn_spec" not in meta:
        raise FileFormatError(f"{file} holds no gatelearn model spec in its metadata")
    try:
        spec = json.loads(meta["gatelearn_spec"])
        model = build_model(spec)
    except (ValueError, KeyError, TypeError) as exc:
        raise FileFormatError(f"{file}: invalid model spec: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise FileFormatError(f"{file}: tensors do not match the model spec: {exc}") from exc
    return model.eval()

