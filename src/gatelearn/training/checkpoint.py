"""Training checkpoints without pickle: one safetensors file.

Tensors (model state, the optimizer's per-parameter state such as Adam's ``exp_avg``, RNG
states as uint8 tensors) are stored by name; everything else (iteration, optimizer
hyper-parameters, non-tensor optimizer state, metrics so far, config, model spec) is one JSON
document in the file's metadata. Loading never executes code from the file, and a truncated or
corrupted file raises :class:`FileFormatError` naming it.

Tensor names: ``model/<state key>``, ``optim/<param index>/<state key>``, ``rng/<name>``, and
``best/<state key>`` for the model state with the best validation accuracy so far (runs with a
validation split).

Nothing read is trusted: :func:`load_checkpoint` checks the JSON part (every field the resume
reads, with its type) and the RNG states' sizes, and :func:`check_resumable` checks every tensor
against the model, the optimizer and the batch sampler it is about to be loaded into (names,
shapes, dtypes, finite values, wiring in range, a permutation that is one). A file that fails is
one FileFormatError line naming the file and the tensor or field, never a resumed run that reads
out of bounds or trains into NaN.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from ..errors import FileFormatError, InputError
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
    ``tensors``; ``best_state`` is None when the checkpoint holds none). The JSON part and the
    tensors' names are checked here; :func:`check_resumable` checks the tensors against a model."""
    from safetensors import SafetensorError, safe_open
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            data = {k: fh.get_tensor(k) for k in fh.keys()} if tensors else {}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise FileFormatError(f"{path} is not a readable checkpoint (truncated or corrupted?): {exc}") from exc
    try:
        doc = json.loads(meta["gatelearn_checkpoint"])
    except (KeyError, json.JSONDecodeError, RecursionError) as exc:
        raise FileFormatError(f"{path} holds no gatelearn checkpoint metadata "
                              f"(not written by gatelearn train?)") from exc
    if not isinstance(doc, dict):
        raise FileFormatError(f"{path}: the checkpoint metadata is not a JSON object (corrupted?)")
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise FileFormatError(f"{path}: checkpoint format {doc.get('format')!r} version "
                              f"{doc.get('version')}; this gatelearn reads {FORMAT!r} version {VERSION}")
    _check_doc(doc, path)
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
            opt_state.setdefault(_param_index(idx, name, path), {})[key] = t
        else:
            raise FileFormatError(f"{path}: unexpected tensor {name!r} in checkpoint")
    for idx, scalars in doc["optimizer"]["scalars"].items():
        opt_state.setdefault(_param_index(idx, f"optimizer scalars {idx!r}", path), {}).update(scalars)
    _check_rng(rng, path)
    out.update(model_state=model_state, rng=rng, best_state=best_state or None,
               optimizer_state={"state": opt_state, "param_groups": doc["optimizer"]["param_groups"]})
    return out


# ------------------------------------------------------------------------------ checks
def _bad(path, what: str) -> FileFormatError:
    return FileFormatError(f"{path}: {what}; the checkpoint is damaged or was edited "
                           "(train again, or restore it from a copy)")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# The JSON fields a resume reads, and what each must be.
_INFO_FIELDS = {
    "iteration": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "config": ("an object (the training settings)", lambda v: isinstance(v, dict)),
    "spec": ("an object (the model spec)", lambda v: isinstance(v, dict)),
    "metrics": ("a list of objects", lambda v: isinstance(v, list) and all(isinstance(m, dict) for m in v)),
    "train_seconds": ("a finite number >= 0", lambda v: _is_number(v) and v >= 0),
    "loss_sum": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    "loss_count": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
    "batch_pos": ("an integer >= 0", lambda v: _is_int(v) and v >= 0),
}


def _check_doc(doc: dict, path) -> None:
    info = doc.get("info")
    if not isinstance(info, dict):
        raise _bad(path, f"its metadata has no 'info' object (got {type(info).__name__})")
    for key, (want, ok) in _INFO_FIELDS.items():
        if key not in info:
            raise _bad(path, f"info field {key!r} is missing")
        if not ok(info[key]):
            raise _bad(path, f"info field {key!r} must be {want}, got {_short(info[key])}")
    if info.get("best") is not None and not isinstance(info["best"], dict):
        raise _bad(path, f"info field 'best' must be an object or null, got {_short(info['best'])}")
    opt = doc.get("optimizer")
    if not (isinstance(opt, dict) and isinstance(opt.get("param_groups"), list)
            and all(isinstance(g, dict) for g in opt["param_groups"]) and isinstance(opt.get("scalars"), dict)
            and all(isinstance(v, dict) for v in opt["scalars"].values())):
        raise _bad(path, "its 'optimizer' metadata must hold a list of 'param_groups' objects and a 'scalars' object")


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _param_index(idx: str, name: str, path) -> int:
    if not idx.isdigit():
        raise _bad(path, f"{name!r} does not name a parameter index")
    return int(idx)


# RNG states written by this torch: the global generator's and a torch.Generator's (same size).
_RNG_KEYS = ("torch", "batch_generator", "batch_perm")


def _check_rng(rng: dict, path) -> None:
    extra = sorted(set(rng) - set(_RNG_KEYS))
    if extra:
        raise _bad(path, f"unexpected RNG state rng/{extra[0]}")
    size = torch.get_rng_state().numel()
    for key in ("torch", "batch_generator"):
        t = rng.get(key)
        if t is None:
            raise _bad(path, f"RNG state rng/{key} is missing")
        if t.dtype != torch.uint8 or t.dim() != 1 or t.numel() != size:
            raise _bad(path, f"RNG state rng/{key} is {t.dtype} of shape {tuple(t.shape)}; a generator state "
                             f"is {size} bytes (uint8)")
    perm = rng.get("batch_perm")
    if perm is None or perm.dtype != torch.int64 or perm.dim() != 1:
        raise _bad(path, "rng/batch_perm must be a 1-D int64 tensor (the current epoch's order)")


def check_resumable(ckpt: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer, sampler,
                    path: str | os.PathLike) -> None:
    """Raise FileFormatError (naming ``path`` and the tensor) unless every tensor of ``ckpt`` fits
    what it is about to be loaded into: model and best-model states (names, shapes, dtypes,
    values: :func:`gatelearn.model.load_state`, which loads them), the optimizer state (per
    parameter the tensors a step of this optimizer keeps, with the parameter's shape and dtype,
    finite; the same parameter groups and hyper-parameters of the same types), and the batch
    sampler's state (a permutation of the training rows, a position inside it). Called before
    the resume loads anything else; the model holds the checkpoint's state afterwards."""
    from ..model import load_state
    for section, state in (("best/", ckpt.get("best_state")), ("model/", ckpt["model_state"])):
        if state is None:
            continue
        try:
            load_state(model, state)
        except InputError as exc:
            raise _bad(path, f"{section}{exc}") from exc
    _check_optimizer(ckpt["optimizer_state"], optimizer, path)
    n = sampler.n
    perm, pos = ckpt["rng"]["batch_perm"], ckpt["info"]["batch_pos"]
    if perm.numel() != n or not torch.equal(torch.sort(perm).values, torch.arange(n)):
        raise _bad(path, f"rng/batch_perm is not a permutation of the {n} training rows")
    if pos > n:
        raise _bad(path, f"info field 'batch_pos' is {pos}, past the {n} training rows")


def _check_optimizer(saved: dict, optimizer: torch.optim.Optimizer, path) -> None:
    mine = optimizer.state_dict()
    groups = saved["param_groups"]
    if len(groups) != len(mine["param_groups"]):
        raise _bad(path, f"the optimizer has {len(groups)} parameter groups, this run's {len(mine['param_groups'])}")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for gi, (g, ref) in enumerate(zip(groups, mine["param_groups"])):
        if g.get("params") != ref["params"]:
            raise _bad(path, f"optimizer group {gi} holds parameters {_short(g.get('params'))}, this run's "
                             f"{_short(ref['params'])} (another model?)")
        for key, want in ref.items():
            # a setting missing from the file takes this optimizer's default, as torch does
            if key != "params" and key in g and not _same_kind(g[key], want):
                raise _bad(path, f"optimizer setting {key!r} is {_short(g[key])}, "
                                 f"expected a value like {want!r}")
        layout = _state_layout(optimizer, gi)
        for idx in ref["params"]:
            state = saved["state"].get(idx)
            if not state:
                continue       # a parameter that never had a gradient has no state
            p = params[idx]
            if set(state) != set(layout):
                raise _bad(path, f"optimizer state of parameter {idx} holds {sorted(state)}; "
                                 f"this optimizer keeps {sorted(layout)}")
            for key, (like_param, shape, dtype) in layout.items():
                v, name = state[key], f"optim/{idx}/{key}"
                if isinstance(v, torch.Tensor) != (shape is not None):
                    raise _bad(path, f"{name} must {'' if shape is not None else 'not '}be a tensor")
                if shape is None:
                    if not _same_kind(v, dtype):
                        raise _bad(path, f"{name} is {_short(v)}, expected a value like {dtype!r}")
                    continue
                want_shape, want_dtype = (tuple(p.shape), p.dtype) if like_param else (shape, dtype)
                if tuple(v.shape) != want_shape or v.dtype != want_dtype:
                    raise _bad(path, f"{name} is {v.dtype} of shape {tuple(v.shape)}; parameter {idx} needs "
                                     f"{want_dtype} of shape {want_shape}")
                if v.is_floating_point() and not bool(torch.isfinite(v).all()):
                    raise _bad(path, f"{name} holds non-finite values")
    extra = sorted(set(saved["state"]) - {i for g in mine["param_groups"] for i in g["params"]})
    if extra:
        raise _bad(path, f"optimizer state for parameter {extra[0]}, which this model does not have")


def _same_kind(value, like) -> bool:
    """Whether a JSON value read back can stand for ``like`` (a hyper-parameter of this optimizer)."""
    if like is None or isinstance(like, bool):
        return value is like or (isinstance(value, bool) and isinstance(like, bool))
    if isinstance(like, (int, float)):
        return _is_number(value)
    if isinstance(like, (list, tuple)):
        return isinstance(value, (list, tuple)) and len(value) == len(like) and all(
            _same_kind(v, w) for v, w in zip(value, like))
    if isinstance(like, str):
        return isinstance(value, str)
    return True


def _state_layout(optimizer: torch.optim.Optimizer, group: int) -> dict:
    """What one step of ``optimizer``'s class keeps per parameter of group ``group``: key ->
    (shaped like the parameter, shape, dtype) for tensors, (False, None, value) for other values;
    found by stepping a copy of the optimizer over a small probe parameter (generic over Adam,
    AdamW, fused or not, amsgrad)."""
    g = optimizer.param_groups[group]
    settings = {k: g[k] for k in optimizer.defaults if k in g}     # the constructor's own arguments
    p = g["params"][0]
    probe = torch.nn.Parameter(torch.zeros(3, 2, dtype=p.dtype, device=p.device))
    probe.grad = torch.zeros_like(probe)
    opt = type(optimizer)([probe], **settings)
    opt.step()
    layout = {}
    for key, v in opt.state[probe].items():
        if isinstance(v, torch.Tensor):
            like = tuple(v.shape) == (3, 2)
            layout[key] = (like, tuple(v.shape), v.dtype)
        else:
            layout[key] = (False, None, v)
    return layout
