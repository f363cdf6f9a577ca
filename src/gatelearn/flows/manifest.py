"""RUN_DIR/artifacts/manifest.json: what ``gatelearn export`` wrote, so that ``verify`` knows what
each artifact must compute and ``report`` / ``simulate`` find the Verilog tops."""
from __future__ import annotations

import json
from pathlib import Path

from .. import runs
from ..circuit.ir import Circuit
from ..errors import FileFormatError
from ..fileio import atomic_write_text

__all__ = ["MANIFEST", "NET_AIG", "NET_BLIF", "FORMATS", "load_manifest", "write_manifest", "source_name"]

MANIFEST = "manifest.json"
NET_AIG = "net.aig"
NET_BLIF = "net.blif"
FORMATS = ("verilog", "aiger", "blif")


def load_manifest(run: Path) -> dict:
    """The run's manifest (``{"artifacts": []}`` when nothing was exported)."""
    file = run / runs.ARTIFACTS_DIR / MANIFEST
    if not file.exists():
        return {"artifacts": []}
    try:
        data = json.loads(file.read_text())
        if not isinstance(data.get("artifacts"), list):
            raise ValueError("no 'artifacts' list")
        return data
    except (OSError, ValueError, AttributeError) as exc:
        raise FileFormatError(f"{file} is not a readable artifact manifest ({exc}); re-run gatelearn export") from exc


def write_manifest(run: Path, entries: list[dict]) -> dict:
    """Write the manifest listing ``entries`` (sorted by file), atomically; returns it."""
    manifest = {"format": "gatelearn.artifacts", "version": 1,
                "artifacts": sorted(entries, key=lambda e: e["file"])}
    atomic_write_text(run / runs.ARTIFACTS_DIR / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def source_name(run: Path, c: Circuit) -> str:
    """Which file runs.best_circuit picked."""
    if c.meta.get("file") == runs.ABC_CIRCUIT_FILE:
        return runs.ABC_CIRCUIT_FILE
    return runs.CIRCUIT_FILE if (run / runs.CIRCUIT_FILE).exists() else "model.safetensors (lowered, passes run)"
