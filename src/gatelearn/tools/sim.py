"""Verilog simulators: Verilator (compiles to C++, fast on large circuits) and Icarus Verilog
(interprets, starts fast, fine for small ones). Both run the same self-checking testbench.

The testbench is compiled in a :class:`~._run.Workdir` from its sources linked in under safe
names (the make files Verilator writes break on spaces), and run in ``workdir``."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import ToolError
from ._run import Tool, Workdir, check_identifier, run

VERILATOR = Tool("Verilator", ("verilator",), "verilator", "GATELEARN_VERILATOR")
IVERILOG = Tool("Icarus Verilog", ("iverilog",), "iverilog", "GATELEARN_IVERILOG")
VVP = Tool("Icarus Verilog runtime (vvp)", ("vvp",), "iverilog", "GATELEARN_VVP")
DEFAULT_TIMEOUT = 900.0


def available(name: str) -> bool:
    if name == "verilator":
        return VERILATOR.available()
    if name == "iverilog":
        return IVERILOG.available() and VVP.available()
    raise ValueError(f"unknown simulator {name!r}; use 'verilator' or 'iverilog'")


def simulate(sources: list[Path], top: str, workdir: Path | None = None, simulator: str = "verilator",
             timeout: float = DEFAULT_TIMEOUT, jobs: int = 2) -> str:
    """Compile and run testbench ``top``; returns its output. The testbench's files (vectors,
    result dumps) are found relative to ``workdir`` (its $readmemh paths)."""
    check_identifier(top, "testbench module")
    if simulator not in ("verilator", "iverilog"):
        raise ValueError(f"unknown simulator {simulator!r}; use 'verilator' or 'iverilog'")
    with Workdir("gatelearn-sim-", *((VERILATOR,) if simulator == "verilator" else (IVERILOG, VVP))) as wd:
        tmp = wd.path
        cwd = Path(workdir) if workdir is not None else tmp   # where the testbench reads and writes
        srcs = [wd.put(s) for s in sources]
        if simulator == "verilator":
            obj = tmp / "obj"
            # No trace and C++ at -O1: compile time, not simulation speed, dominates one-shot runs.
            # Verilator's own optimiser stays off (-O0, unique X): Verilator 5.006 (Debian 12)
            # with -O1 --x-assign fast simulated one XOR output of a 17K-gate MNIST network
            # inverted on every vector, a design proven equal to the model; -O0 gives 0 errors.
            run(VERILATOR, ["--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "-O0",
                            "--x-assign", "unique", "--x-initial", "unique", "-j", str(jobs),
                            "--top-module", top, "-Mdir", "obj", *srcs, "-CFLAGS", "-O1"],
                tmp, timeout, f"compiling testbench {top}")
            out = run(_exe(obj / f"V{top}"), [], cwd, timeout, f"running testbench {top}")
        elif simulator == "iverilog":
            vvp_file = tmp / wd.name(f"{top}.vvp")
            run(IVERILOG, ["-g2012", "-s", top, "-o", vvp_file.name, *srcs], tmp, timeout,
                f"compiling testbench {top}")
            out = run(VVP, ["-n", str(vvp_file)], cwd, timeout, f"running testbench {top}")
        else:
            raise ValueError(f"unknown simulator {simulator!r}; use 'verilator' or 'iverilog'")
    return out


def _exe(path: Path) -> Tool:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolError(f"Verilator built no executable at {path}")
    return Tool(f"the Verilator-built testbench {path.name}", (str(path),), "verilator", "GATELEARN_UNUSED_ENV")
