"""Models built from a small declarative spec, and saving / loading them without pickle.

A spec is a JSON-able dict::

    {"encoder": {"kind": "thresholds", "features": 784, "per_feature": 1},
     "layers": [{"kind": "logic", "out": 8000, "parametrization": "softmax16", ...}, ...],
     "head": {"kind": "groupsum", "classes": 10, "tau": 10.0},   # or {"kind": "binary", "tau": 4.0}
     "seed": 0,
     "class_names": ["0", "1", ...],          # optional: what predict prints
     "schema": {...}}                          # optional: own data's columns (gatelearn.data.own)

Layer kinds are declared in :mod:`gatelearn.layers.kinds` (spec name, module class, builder,
lowering, defaults); the model builds each layer of the spec through its kind's builder. Head
kinds (``groupsum``, ``binary``) are declared the same way in :mod:`gatelearn.layers.heads`.

A saved model is one ``.safetensors`` file: the state dict (weights, wiring, encoder
thresholds) with the spec as JSON in its metadata, plus a readable ``model.json`` copy when a
directory is given. Loading rebuilds the model from the spec, never from pickled objects, and
checks what it reads: the spec's structure and sizes (before anything is allocated), every
tensor's name, shape and dtype, and the values (:func:`check_state`: wiring indices in range,
finite weights, thresholds that are numbers). A file that fails is a FileFormatError naming the
tensor, never a model that answers wrongly.
"""
from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import torch
from torch import nn

from .errors import FileFormatError, InputError
from .fileio import atomic_path, atomic_write_text
from .layers.encoders import encoder_from_spec
from .layers.heads import check_head_spec, head_from_spec
from .layers.kinds import KINDS, check_finite, check_size
from .layers.wiring import order_gates_for_locality

SPEC_FORMAT = "gatelearn.model"
SPEC_VERSION = 1
MODEL_FILE = "model.safetensors"
SPEC_FILE = "model.json"


class LogicNet(nn.Module):
    """encoder -> layers -> head (GroupSum, or the binary head). ``eval()`` gives the hard
    circuit's class scores."""

    def __init__(self, spec: dict):
        super().__init__()
        self.spec = normalize_spec(spec)
        try:
            self.encoder = encoder_from_spec(self.spec["encoder"])
        except KeyError as exc:
            raise InputError(f"encoder spec {self.spec['encoder']} needs {exc}") from exc
        shape: tuple = tuple(getattr(self.encoder, "out_shape", (self.encoder.out_features,)))
        seed = self.spec.get("seed")
        layers = []
        for i, lspec in enumerate(self.spec["layers"]):
            kind = lspec.get("kind")
            if kind not in KINDS:
                raise InputError(f"layer {i}: unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")
            unknown = KINDS[kind].unknown_options(lspec)
            if unknown:
                accepted = ", ".join(KINDS[kind].options) or "none"
                raise InputError(f"layer {i} ({kind}): unknown option{'s' if len(unknown) > 1 else ''} "
                                 f"{', '.join(map(repr, unknown))}; a {kind!r} layer accepts: {accepted}")
            try:
                module, shape = KINDS[kind].build(lspec, shape, None if seed is None else seed * 1009 + i)
                # a layer's output is the next one's input: its size is checked before that is built
                check_size(f"the values per sample after layer {i}", math.prod(shape))
            except KeyError as exc:
                raise InputError(f"layer {i} ({kind}): its spec needs {exc}") from exc
            except (ValueError, TypeError) as exc:
                # InputError (a ValueError) from the builder's own checks, and a plain ValueError /
                # TypeError from a module constructor given a bad value (an unknown init, a text
                # gumbel_tau): either way a bad spec, reported naming the layer
                raise InputError(f"layer {i} ({kind}): {exc}") from exc
            layers.append(module)
        self.layers = nn.ModuleList(layers)
        self.head = head_from_spec(self.spec["head"], shape)
        # Same network, gates numbered for the kernels' memory access (a loaded model's wiring
        # then replaces this one as it was saved); the head's sums do not depend on the order of
        # the bits within each of its groups.
        order_gates_for_locality(self.layers, self.head.groups)

    @property
    def classes(self) -> int:
        return self.head.classes

    @property
    def class_names(self) -> list[str]:
        """The classes' names (the dataset's), or their indices as text for a spec without them."""
        return list(self.spec.get("class_names") or [str(k) for k in range(self.classes)])

    @property
    def input_contract(self):
        """The raw rows the model accepts (:class:`gatelearn.circuit.inputs.InputContract`), the
        same contract every circuit lowered from it checks."""
        return self.encoder.contract

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
    """A copy of ``spec`` with its format and version filled in, after checking its structure:
    an encoder object, a list of layer objects, a head of a declared kind with valid options
    (:func:`gatelearn.layers.heads.check_head_spec`: GroupSum ``classes`` an integer >= 2, ``tau``
    a finite number > 0), ``seed`` an integer or null. Sizes inside the encoder and the layers
    are checked by their builders, before anything is allocated."""
    if not isinstance(spec, dict):
        raise InputError(f"a model spec must be a JSON object, got {type(spec).__name__}")
    spec = copy.deepcopy(spec)
    for key in ("encoder", "layers", "head"):
        if key not in spec:
            raise InputError(f"model spec is missing {key!r}")
    spec.setdefault("format", SPEC_FORMAT)
    spec.setdefault("version", SPEC_VERSION)
    if spec["format"] != SPEC_FORMAT or spec["version"] != SPEC_VERSION:
        raise InputError(f"model spec has format {spec['format']!r} version {spec['version']}; "
                         f"this gatelearn reads {SPEC_FORMAT!r} version {SPEC_VERSION}")
    if not isinstance(spec["encoder"], dict) or not isinstance(spec["encoder"].get("kind"), str):
        raise InputError(f"model spec 'encoder' must be an object with a 'kind', got {spec['encoder']!r}")
    layers = spec["layers"]
    if not isinstance(layers, list) or not all(isinstance(la, dict) and isinstance(la.get("kind"), str)
                                               for la in layers):
        raise InputError(f"model spec 'layers' must be a list of objects with a 'kind', got {_short(layers)}")
    check_size("the number of layers", len(layers), low=0, high=10_000)
    classes = check_head_spec(spec["head"])
    names = spec.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != classes
                              or not all(isinstance(n, str) for n in names)):
        raise InputError(f"model spec 'class_names' must be a list of {classes} texts, got {_short(names)}")
    if spec.get("schema") is not None and not isinstance(spec["schema"], dict):
        raise InputError(f"model spec 'schema' must be an object, got {_short(spec['schema'])}")
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63 // 1009):
        raise InputError(f"model spec 'seed' must be an integer >= 0 or null, got {seed!r}")
    try:
        json.dumps(spec, allow_nan=False)  # a spec must be plain data
    except (TypeError, ValueError) as exc:
        raise InputError(f"a model spec must be plain JSON data: {exc}") from exc
    return spec


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def build_model(spec: dict) -> LogicNet:
    """The model ``spec`` describes (an InputError naming the problem for a bad spec)."""
    try:
        return LogicNet(spec)
    except MemoryError as exc:
        raise InputError("the model spec asks for more memory than this machine has; "
                         "make its layers smaller") from exc


def check_state(model: nn.Module) -> None:
    """Raise InputError naming the first bad tensor of ``model``: a wiring index outside its
    layer's inputs, a non-finite weight, a NaN threshold (each module with state checks its own
    through ``check_state``), or any other non-finite parameter. A model that passes computes
    the same in torch and in every circuit made from it."""
    for name, module in model.named_modules():
        check = getattr(module, "check_state", None)
        if callable(check) and module is not model:
            check(f"{name}." if name else "")
    for name, p in model.named_parameters():
        if p.is_floating_point():
            check_finite("", name, p)


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
    """Load a model saved by :func:`save` (a run directory, or the ``.safetensors`` file). Every
    tensor is checked (name, shape, dtype, values: :func:`check_state`); a file that fails is a
    FileFormatError naming it and the tensor."""
    from safetensors import SafetensorError, safe_open
    file = _model_file(path)
    if not file.exists():
        raise FileFormatError(f"no saved model at {file}")
    try:
        with safe_open(str(file), framework="pt", device=map_location) as fh:
            meta = fh.metadata() or {}
            state = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise FileFormatError(f"{file} is not a readable safetensors model file "
                              f"(truncated or corrupted?): {exc}") from exc
    if "gatelearn_spec" not in meta:
        raise FileFormatError(f"{file} holds no gatelearn model spec in its metadata")
    try:
        spec = json.loads(meta["gatelearn_spec"])
        model = build_model(spec)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise FileFormatError(f"{file}: invalid model spec: {exc}") from exc
    try:
        load_state(model, state)
    except InputError as exc:
        raise FileFormatError(f"{file}: {exc}") from exc
    return model.eval()


def load_state(model: nn.Module, state: dict) -> None:
    """Copy ``state`` into ``model`` after checking it tensor by tensor: the same names, shapes
    and kinds of dtype (integer wiring stays integer: a float index would be truncated), then
    the values (:func:`check_state`). An InputError names the first bad tensor; on error the
    model may hold part of the state."""
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    check_state(model)


def check_state_dict(model: nn.Module, state: dict, what: str = "") -> None:
    """Raise InputError unless ``state`` has exactly ``model``'s state-dict names, each tensor of
    the model's shape and of the same kind of dtype (floating, integer, bool)."""
    mine = model.state_dict()
    missing = [k for k in mine if k not in state]
    extra = [k for k in state if k not in mine]
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:5])}"] if missing else []) + \
                ([f"unexpected {', '.join(extra[:5])}"] if extra else [])
        raise InputError(f"{what}tensors do not match the model spec: {'; '.join(parts)}")
    for k, ref in mine.items():
        t = state[k]
        if not isinstance(t, torch.Tensor):
            raise InputError(f"{what}{k} is not a tensor")
        if tuple(t.shape) != tuple(ref.shape):
            raise InputError(f"{what}{k} has shape {tuple(t.shape)}, the model spec needs {tuple(ref.shape)}")
        if _dtype_kind(t) != _dtype_kind(ref):
            raise InputError(f"{what}{k} has dtype {t.dtype}, the model needs {_dtype_kind(ref)} values ({ref.dtype})")


def _dtype_kind(t: torch.Tensor) -> str:
    if t.dtype == torch.bool:
        return "bool"
    if t.is_complex():
        return "complex"
    return "floating-point" if t.is_floating_point() else "integer"
