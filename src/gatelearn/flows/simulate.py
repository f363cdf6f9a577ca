"""A Verilog artifact's self-checking testbench run by a simulator (Verilator or Icarus), its
dumped results compared with the golden vectors bit for bit."""
from __future__ import annotations

import time

import numpy as np

from .. import runs
from ..backends.verilog import HwSpec
from ..errors import FileFormatError, ToolError
from ..verification.testbench import parse_results
from .manifest import load_manifest

__all__ = ["simulate_artifact"]


def simulate_artifact(run_dir, top: str, simulator: str = "verilator", timeout: float = 900.0) -> dict:
    """Run the testbench of Verilog artifact ``top`` and compare its dumped results with the
    software model bit for bit (class index and every class count)."""
    from ..tools import sim
    run = runs.run_dir(run_dir)
    art = run / runs.ARTIFACTS_DIR
    manifest = load_manifest(run)
    design = next((e for e in manifest["artifacts"] if e.get("kind") == "verilog" and e["top"] == top), None)
    tb = next((e for e in manifest["artifacts"] if e.get("kind") == "testbench" and e.get("design") == f"{top}.v"),
              None)
    if design is None or tb is None:
        raise FileFormatError(f"no Verilog artifact {top} with a testbench in {art}; run gatelearn export first")
    res = art / f"{top}_results.txt"
    if res.exists():
        res.unlink()
    t0 = time.perf_counter()
    log = sim.simulate([art / design["file"], art / tb["file"]], tb["top"], workdir=art, simulator=simulator,
                       timeout=timeout)
    secs = time.perf_counter() - t0
    line = next((ln for ln in log.splitlines() if ln.startswith("GATELEARN_TB")), None)
    if line is None:
        raise ToolError(f"{simulator} ran the testbench but it printed no GATELEARN_TB line:\n{log[-2000:]}")
    spec = HwSpec(**design["spec"])
    cls, cnt = parse_results(res.read_text(), spec)
    exp_cls = np.array([int(t, 16) for t in (art / f"{top}_class.hex").read_text().split()], np.int64)
    errors = int(line.split("errors=")[1].split()[0])
    return {"top": top, "simulator": simulator, "vectors": int(len(exp_cls)), "testbench_errors": errors,
            "results": int(len(cls)), "class_agree": int((cls == exp_cls[:len(cls)]).sum()) if len(cls) else 0,
            "seconds": secs}
