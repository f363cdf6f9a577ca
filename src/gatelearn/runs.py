"""The run directory: what ``gatelearn train`` writes and every later command reads.

    RUN_DIR/model.safetensors   trained model (state dict + spec in metadata), model.json beside it
    RUN_DIR/summary.json        training summary; metrics.jsonl, accuracy.png, gates.png
    RUN_DIR/circuit.npz         the lowered circuit after gatelearn's own passes (gatelearn compile)
    RUN_DIR/circuit.abc.npz     the circuit after ABC (gatelearn optimize), kept only if smaller
    RUN_DIR/artifacts/          emitted C, Verilog, AIGER, BLIF

Commands pick a circuit with :func:`best_circuit`: the smallest verified one available.
Every command that writes into a run directory holds its :func:`lock` meanwhile (training takes
the same lock in :mod:`gatelearn.training.loop`).
"""
from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager
from pathlib import Path

from .circuit.inputs import InputContract
from .circuit.ir import Circuit
from .errors import FileFormatError, InputError
from .fileio import exclusive_lock
from .layers.encoders import encoder_from_spec
from .lowering import lower
from .model import MODEL_FILE, LogicNet, load

CIRCUIT_FILE = "circuit.npz"
ABC_CIRCUIT_FILE = "circuit.abc.npz"
ARTIFACTS_DIR = "artifacts"


def run_dir(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileFormatError(f"{path} is not a run directory (expected the --out folder of gatelearn train)")
    return path


def lock(path: str | os.PathLike) -> AbstractContextManager[Path]:
    """Hold the run directory's exclusive lock while a command writes there: a second writer
    (another compile, optimize, export, verify, predict --out, demo or train in the same
    directory) fails at once with an InputError naming this process's pid. Released on exit,
    kill -9 included; the same process may nest it. Taking it removes the temporary files of a
    writer that was killed (in the run directory and under artifacts/)."""
    return exclusive_lock(run_dir(path), error=InputError, subdirs=(ARTIFACTS_DIR,))


def load_model(path: str | os.PathLike) -> LogicNet:
    path = run_dir(path)
    if not (path / MODEL_FILE).exists():
        from .training.checkpoint import CHECKPOINT_FILE, read_checkpoint_info
        if (path / CHECKPOINT_FILE).exists():
            # A run still training, or stopped before its end: its checkpoint can be made a model.
            it = read_checkpoint_info(path / CHECKPOINT_FILE)["iteration"]
            raise FileFormatError(
                f"{path} holds a checkpoint (iteration {it}) but no {MODEL_FILE} yet: the run has not reached "
                f"its end. Once it is stopped, `gatelearn train --out {path} --resume --iterations {it}` "
                f"saves the model there (a later --resume with more iterations still continues the run)")
        raise FileFormatError(f"{path} holds no {MODEL_FILE}; "
                              f"train a model into it first (gatelearn train --out {path})")
    return load(path)


def model_circuit(path: str | os.PathLike) -> Circuit:
    """The circuit of the trained model, lowered as is (no optimisation)."""
    return lower(load_model(path))


def model_spec(path: str | os.PathLike) -> dict | None:
    """The spec of the run's model, from its file's metadata alone (no tensors are read); None
    when there is no readable model (load_model reports that itself)."""
    file = Path(path) / MODEL_FILE
    if not file.exists():
        return None
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(file), framework="numpy") as fh:
            spec = json.loads((fh.metadata() or {})["gatelearn_spec"])
    except (SafetensorError, OSError, ValueError, KeyError, TypeError):
        return None
    return spec if isinstance(spec, dict) else None


def _model_contract(path: Path) -> InputContract | None:
    """The input contract of the run's model (see :func:`model_spec`), or None."""
    spec = model_spec(path)
    try:
        return None if spec is None else encoder_from_spec(spec["encoder"]).contract
    except (ValueError, KeyError, TypeError, InputError):
        return None


def class_names(path: str | os.PathLike, classes: int) -> list[str]:
    """The names of the run's classes (its dataset's), else the indices as text."""
    names = (model_spec(path) or {}).get("class_names")
    if isinstance(names, list) and len(names) == classes and all(isinstance(n, str) for n in names):
        return names
    return [str(k) for k in range(classes)]


def table_schema(path: str | os.PathLike):
    """The :class:`gatelearn.data.own.Schema` of a run trained on a table of your own (how raw
    records become the model's features), or None for other runs."""
    from .data.own import Schema
    spec = (model_spec(path) or {}).get("schema")
    if not isinstance(spec, dict) or "columns" not in spec:
        return None
    return Schema.from_dict(spec, where=f"{Path(path) / MODEL_FILE} (its schema)")


def load_circuit(file: Path, path: str | os.PathLike) -> Circuit:
    """A circuit file of the run, refused when it reads its inputs differently from the run's model
    (another encoder, or category columns taken for numbers: a circuit file from an older gatelearn,
    or an edited one), since every backend checks raw inputs by the circuit's contract."""
    c = Circuit.load(file)
    want = _model_contract(Path(path))
    if want is not None and InputContract.of(c) != want:
        raise FileFormatError(f"{file} reads its inputs differently from the run's model (its input contract "
                              f"differs); re-run `gatelearn compile {path}` to make it again from the model")
    return c


def base_circuit(path: str | os.PathLike) -> Circuit:
    """RUN_DIR/circuit.npz if it exists, else the lowered model after gatelearn's passes (computed
    here, not saved: ``gatelearn compile`` saves it). Without the passes a command on a run not
    compiled yet would time or emit the raw lowering, e.g. every pass-through gate of a conv tree."""
    file = run_dir(path) / CIRCUIT_FILE
    if file.exists():
        return load_circuit(file, path)
    from .circuit.passes import optimize
    return optimize(model_circuit(path))[0]


def best_circuit(path: str | os.PathLike) -> Circuit:
    """The smallest circuit available: ABC's result when present and smaller, else base_circuit."""
    base = base_circuit(path)
    abc_file = run_dir(path) / ABC_CIRCUIT_FILE
    if abc_file.exists():
        abc = load_circuit(abc_file, path)
        if abc.num_gates < base.num_gates:
            return abc
    return base
