"""The run directory: what ``gatelearn train`` writes and every later command reads.

    RUN_DIR/model.safetensors   trained model (state dict + spec in metadata), model.json beside it
    RUN_DIR/summary.json        training summary; metrics.jsonl, accuracy.png, gates.png
    RUN_DIR/circuit.npz         the lowered circuit after gatelearn's own passes (gatelearn compile)
    RUN_DIR/circuit.abc.npz     the circuit after ABC (gatelearn optimize), kept only if smaller
    RUN_DIR/artifacts/          emitted C, Verilog, AIGER, BLIF

A folder made by ``gatelearn import FILE FOLDER`` has the same layout without the model: circuit.npz
(the circuit read from FILE), a byte copy of FILE (source.aig / source.aag / source.blif) and
import.json naming it (:func:`import_info`); optimize, export and verify write there as in a run.

Commands pick a circuit with :func:`best_circuit`: the smallest verified one available.
:func:`load_any_circuit` takes any path a command accepts (a trained run, an import folder, a
circuit .npz, an .aig / .aag / .blif file) and returns its circuit and the file it was imported
from.
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


# ------------------------------------------------------------------ any circuit: imported, plain files
# ``gatelearn import FILE FOLDER`` makes a run folder of an external circuit: circuit.npz (what
# gatelearn read), a byte copy of the file, and IMPORT_FILE naming that copy, its format and its
# digest, so that ``gatelearn verify FOLDER`` can later prove every circuit there against the file.
IMPORT_FILE = "import.json"
IMPORT_FORMAT, IMPORT_VERSION = "gatelearn.import", 1
SOURCE_FORMATS = {".aig": "aiger", ".aag": "aiger", ".blif": "blif"}     # suffix -> format
# meta key of a circuit made by ``gatelearn import FILE OUT.npz``: {"file": absolute path, "format"}
IMPORTED_META = "imported"


def source_format(path: str | os.PathLike) -> str:
    """'aiger' (.aig, .aag) or 'blif' (.blif) by the file's suffix; an InputError for any other."""
    fmt = SOURCE_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown circuit format; expected .aig, .aag or .blif")
    return fmt


def read_source(path: str | os.PathLike) -> Circuit:
    """Read a combinational .aig / .aag / .blif file with gatelearn's readers (a FileFormatError
    naming the file when it is missing or not a circuit)."""
    from .backends import aiger, blif
    read = aiger.read_aiger if source_format(path) == "aiger" else blif.read_blif
    if Path(path).is_dir():
        raise FileFormatError(f"{path} is a folder; expected a circuit file (.aig, .aag or .blif)")
    return read(path)


def import_info(path: str | os.PathLike) -> dict | None:
    """What ``gatelearn import`` recorded in the folder ``path`` (IMPORT_FILE: ``file``, the copy
    of the source beside it; ``source_format``; ``sha256`` of that copy; ``original``, where it was
    read from), or None when the folder was not made by import (a trained run). A FileFormatError
    naming the file when it is there but not one import writes."""
    file = Path(path) / IMPORT_FILE
    if not file.is_file():
        return None
    try:
        info = json.loads(file.read_text())
        if not isinstance(info, dict) or info.get("format") != IMPORT_FORMAT:
            raise ValueError(f"its format is not {IMPORT_FORMAT!r}")
        if info.get("version") != IMPORT_VERSION:
            raise ValueError(f"its version is {info.get('version')!r}; this gatelearn reads version {IMPORT_VERSION}")
        name = info.get("file")
        # a plain file name: the copy must lie in the folder itself, not anywhere the JSON points
        if not (isinstance(name, str) and name and Path(name).name == name and name not in (".", "..")):
            raise ValueError(f"its 'file' is {name!r}, not the name of a file in the folder")
        if info.get("source_format") != SOURCE_FORMATS.get(Path(name).suffix.lower()):
            raise ValueError(f"its 'source_format' {info.get('source_format')!r} does not fit {name}")
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{file} is not a readable import record ({exc}); import the circuit again "
                              f"(gatelearn import FILE {path})") from exc
    return info


def load_any_circuit(path: str | os.PathLike) -> tuple[Circuit, Path | None]:
    """The circuit a command works on, and the source file it was imported from (None when there
    is none), for any of:

    * a trained run directory: its :func:`best_circuit` (circuit.abc.npz when smaller, else
      circuit.npz, else the lowered model after the passes); source None;
    * a folder made by ``gatelearn import FILE FOLDER``: its :func:`best_circuit` the same way
      (circuit.abc.npz after ``gatelearn optimize``, else circuit.npz); source: the copy of FILE in
      the folder (the path is returned even if the copy was removed since: callers that read it,
      such as verify, say so);
    * a circuit ``.npz``: the file itself; source: the file ``gatelearn import FILE OUT.npz``
      read, as recorded in its meta (None for other circuit files);
    * an ``.aig`` / ``.aag`` / ``.blif`` file: read with gatelearn's readers; source: the file.

    Anything else is a FileFormatError or InputError with one line naming the path and what was
    expected. The circuit of an imported or plain file has no head and no encoder: its inputs
    are bits and its outputs plain bits."""
    p = Path(path)
    if p.is_dir():
        info = import_info(p)
        if info is None and not (p / CIRCUIT_FILE).exists() and not (p / MODEL_FILE).exists():
            raise FileFormatError(f"{p} holds no {CIRCUIT_FILE} and no {MODEL_FILE}: not a run directory (expected "
                                  f"the --out folder of gatelearn train, or a folder made by gatelearn import)")
        if info is not None and not (p / CIRCUIT_FILE).exists():
            raise FileFormatError(f"{p} was made by gatelearn import but its {CIRCUIT_FILE} is missing; import the "
                                  f"circuit again into a new folder")
        return best_circuit(p), (None if info is None else p / info["file"])
    suffix = p.suffix.lower()
    if suffix == ".npz":
        if not p.exists():
            raise FileFormatError(f"no circuit file at {p}")
        c = Circuit.load(p)
        rec = c.meta.get(IMPORTED_META)
        src = rec.get("file") if isinstance(rec, dict) else None
        return c, (Path(src) if isinstance(src, str) and src else None)
    if suffix in SOURCE_FORMATS:
        c = read_source(p)
        # recorded as import records it, so that a circuit saved from this one (optimize --out)
        # still names the file it computes, and verify can prove it against that file
        c.meta[IMPORTED_META] = {"file": str(p.resolve()), "format": SOURCE_FORMATS[suffix]}
        return c, p
    if not p.exists():
        raise FileFormatError(f"{p} does not exist (expected a run directory, a circuit .npz, or an .aig, .aag or "
                              f".blif file)")
    raise InputError(f"{p}: not a circuit; expected a run directory, a circuit .npz, or an .aig, .aag or .blif file")


def is_trained_run(path: str | os.PathLike) -> bool:
    """True for a folder that is not one made by ``gatelearn import`` (so: a training run, whose
    commands keep their model-based behaviour); False for import folders and for files."""
    p = Path(path)
    return p.is_dir() and import_info(p) is None
