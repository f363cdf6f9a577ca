"""Training checkpoints without pickle: one safetensors file.

Tensors (model state, the optimizer's per-parameter state such as Adam's ``exp_avg``, RNG
states as uint8 tensors) are stored by name; everything else (iteration, optimizer
hyper-parameters, non-tensor optimizer state, metrics so far, config, model spec) is one JSON
document in the file's metadata. Loading never executes code from the file, and a truncated or
corrupted file raises :class:`FileFormatError` naming it.

Tensor names: ``model/<state key>``, ``optim/<param index>/<state key>``, ``rng/<name>``, and
``best/<state key>`` for the model state with the best validation accuracy so far (runs with a
validation split).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import FileFormatError
from ..fileio import atomic_path

CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "gatelearn.checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, *, model_state: dict, optimizer_state: dict,
                    rng: dict[str, torch.Tensor], info: dict, best_state: dict | None = None) -> Path:
    """Write atomically. ``info`` must be JSON-able; ``optimizer_state`` is ``optimizer.state_dict()``;
    ``best_state`` optionally a second model state (the best one so far)."""
    from safetensors.torch import save_file
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model_state.items():
        tensors[f"model/{k}"] = v
    scalars: dict[str, dict] = {}
    for idx, state in optimizer_state["state"].items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim/{idx}/{k}"] = v
            else:
                scalars.setdefault(str(idx), {})[k] = v
    for k, v in rng.items():
        tensors[f"rng/{k}"] = v
    for k, v in (best_state or {}).items():
        tensors[f"best/{k}"] = v
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    doc = {"format": FORMAT, "version": VERSION, "info": info,
           "optimizer": {"param_groups": optimizer_state["param_groups"], "scalars": scalars}}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"gatelearn_checkpoint": json.dumps(doc)})
    return path


def read_checkpoint_info(path: str | os.PathLike) -> dict:
    """Only the JSON part (config, iteration, metrics) of a checkpoint."""
    return load_checkpoint(path, tensors=False)["info"]


def load_checkpoint(path: str | os.PathLike, *, tensors: bool = True) -> dict:
    """Returns {"info", "model_state", "optimizer_state", "rng", "best_state"} (tensor parts only if
    ``tensors``; ``best_state`` is None when the checkpoint holds none)."""
    from safetensors import SafetensorError, safe_open
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            data = {k: fh.get_tensor(k) for k in fh.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise FileFormatError(f"{path} is not a readable checkpoint (truncated or corrupted?): {exc}") from exc
    try:
        doc = json.loads(meta["gatelearn_checkpoint"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path} holds no gatelearn checkpoint metadata "
                              f"(not written by gatelearn train?)") from exc
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise FileFormatError(f"{path}: checkpoint format {doc.get('format')!r} version "
                              f"{doc.get('version')}; this gatelearn reads {FORMAT!r} version {VERSION}")
    out = {"info": doc["info"]}
    if not tensors:
        return out
    model_state, rng, opt_state, best_state = {}, {}, {}, {}
    for name, t in data.items():
        section, _, rest = name.partition("/")
        if section == "model":
            model_state[rest] = t
        elif section == "rng":
            rng[rest] = t
        elif section == "best":
            best_state[rest] = t
        elif section == "optim":
            idx, _, key = rest.partition("/")
            opt_state.setdefault(int(idx), {})[key] = t
        else:
            raise FileFormatError(f"{path}: unexpected tensor {name!r} in checkpoint")
    for idx, scalars in doc["optimizer"]["scalars"].items():
        opt_state.setdefault(int(idx), {}).update(scalars)
    out.update(model_state=model_state, rng=rng, best_state=best_state or None,
               optimizer_state={"state": opt_state, "param_groups": doc["optimizer"]["param_groups"]})
    return out
