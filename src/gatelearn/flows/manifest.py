"""RUN_DIR/artifacts/manifest.json (or OUT/manifest.json for ``gatelearn export FILE --out OUT``):
what ``gatelearn export`` wrote, so that ``verify`` knows what each artifact must compute and
``report`` / ``simulate`` find the Verilog tops."""
from __future__ import annotations

import json
from pathlib import Path

from .. import runs
from ..circuit.ir import Circuit
from ..errors import FileFormatError
from ..fileio import atomic_write_text

__all__ = ["MANIFEST", "MANIFEST_FORMAT", "MANIFEST_VERSION", "NET_AIG", "NET_BLIF", "FORMATS", "KINDS",
           "VERILOG_NETLIST", "load_manifest", "load_manifest_at", "write_manifest", "write_manifest_at",
           "source_name"]

MANIFEST = "manifest.json"
NET_AIG = "net.aig"
NET_BLIF = "net.blif"
FORMATS = ("verilog", "aiger", "blif")
MANIFEST_FORMAT, MANIFEST_VERSION = "gatelearn.artifacts", 1
# The Verilog of a circuit without a GroupSum head: one port per input and output, its "spec" a
# backends.verilog.NetSpec (a classifier's "verilog" entry has a HwSpec).
VERILOG_NETLIST = "verilog_netlist"
KINDS = ("aiger", "blif", "verilog", VERILOG_NETLIST, "testbench")     # the kinds of artifact an entry may name


def load_manifest(run: Path) -> dict:
    """The run's manifest (``{"artifacts": []}`` when nothing was exported), or a
    :class:`FileFormatError` naming the file when it is not one gatelearn export writes (not JSON,
    another ``format`` or ``version``, no ``artifacts`` list). Its entries are checked by their
    readers (verify reports a malformed one, or an unknown ``kind``, as a failed check)."""
    return load_manifest_at(Path(run) / runs.ARTIFACTS_DIR)


def load_manifest_at(art: Path) -> dict:
    """The manifest of the artifact folder ``art`` (see :func:`load_manifest`)."""
    file = Path(art) / MANIFEST
    if not file.exists():
        return {"artifacts": []}
    try:
        data = json.loads(file.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"a JSON {type(data).__name__}, not an object")
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"its format is {_short(data.get('format'))}, not {MANIFEST_FORMAT!r}")
        if data.get("version") != MANIFEST_VERSION or isinstance(data.get("version"), bool):
            raise ValueError(f"its version is {_short(data.get('version'))}; this gatelearn reads version "
                             f"{MANIFEST_VERSION}")
        if not isinstance(data.get("artifacts"), list):
            raise ValueError("no 'artifacts' list")
        return data
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"{file} is not a readable artifact manifest ({exc}); remove it and re-run "
                              "gatelearn export") from exc


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def write_manifest(run: Path, entries: list[dict]) -> dict:
    """Write the run's manifest listing ``entries`` (sorted by file), atomically; returns it."""
    return write_manifest_at(Path(run) / runs.ARTIFACTS_DIR, entries)


def write_manifest_at(art: Path, entries: list[dict]) -> dict:
    """Write the manifest of the artifact folder ``art`` listing ``entries`` (sorted by file),
    atomically; returns it."""
    manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION,
                "artifacts": sorted(entries, key=lambda e: e["file"])}
    atomic_write_text(Path(art) / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def source_name(run: Path, c: Circuit) -> str:
    """Which file runs.best_circuit picked."""
    if c.meta.get("file") == runs.ABC_CIRCUIT_FILE:
        return runs.ABC_CIRCUIT_FILE
    return runs.CIRCUIT_FILE if (run / runs.CIRCUIT_FILE).exists() else "model.safetensors (lowered, passes run)"
