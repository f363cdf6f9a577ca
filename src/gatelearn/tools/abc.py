"""ABC (berkeley-abc): AIG optimisation, statistics and combinational equivalence checking.

ABC exits 0 even when a command fails, so every call checks the output for ABC's error
messages. It runs in a fresh temporary directory (a :class:`~._run.Workdir`: files go in and out
under safe names, since ABC's command line splits on spaces and ';' and cannot quote) holding the
``abc.rc`` shipped with gatelearn (script aliases such as ``resyn2``; Debian ships no abc.rc).
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ToolError
from ._run import Tool, Workdir, run, tail

ABC = Tool("ABC", ("berkeley-abc", "abc"), "berkeley-abc", "GATELEARN_ABC")
DEFAULT_SCRIPT = "strash; dc2; resyn2; dc2; resyn2"
DEFAULT_TIMEOUT = 600.0

# Messages ABC prints (with exit code 0) when a command fails.
_ERRORS = re.compile(r"(Cannot open|has failed|Error:|is not defined|Unknown command|"
                     r"cannot be|Cannot find|does not match|Reading .* failed)", re.I)
_STATS = re.compile(r"i/o\s*=\s*(\d+)\s*/\s*(\d+).*?lat\s*=\s*(\d+).*?and\s*=\s*(\d+).*?lev\s*=\s*(\d+)", re.S)


@dataclass
class AigStats:
    inputs: int
    outputs: int
    latches: int
    ands: int
    levels: int


def available() -> bool:
    return ABC.available()


def abc_rc() -> Path:
    return Path(str(resources.files("gatelearn.tools").joinpath("abc.rc")))


def run_abc(commands: str, cwd: str | Path, timeout: float = DEFAULT_TIMEOUT, what: str = "running a script",
            check: bool = True) -> str:
    """Run ABC commands (``;``-separated) in ``cwd`` (which gets our abc.rc); check for errors.
    File names in ``commands`` must be plain words (see :class:`~._run.Workdir`)."""
    shutil.copyfile(abc_rc(), Path(cwd) / "abc.rc")
    out = run(ABC, ["-c", commands], cwd, timeout, what)
    bad = [line for line in out.splitlines() if _ERRORS.search(line) and "ABC command line" not in line]
    if bad and not check:
        return out
    if bad:
        raise ToolError(f"ABC failed while {what}: {bad[0].strip()}\n{tail(out)}")
    return out


def parse_stats(text: str) -> list[AigStats]:
    return [AigStats(*map(int, m.groups())) for m in _STATS.finditer(text)]


def optimize(src: Path, dst: Path, script: str = DEFAULT_SCRIPT, timeout: float = DEFAULT_TIMEOUT
             ) -> tuple[AigStats, AigStats, str]:
    """Optimise AIGER ``src`` with ``script``; write binary AIGER with symbols to ``dst``.

    Returns (stats before, stats after, ABC's log). Statistics are ABC's own (after ``strash``).
    """
    src, dst = Path(src), Path(dst)
    with Workdir("gatelearn-abc-", ABC) as wd:
        a, b = wd.put(src), wd.name("optimised.aig")
        out = run_abc(f"read {a}; strash; print_stats; {script}; strash; print_stats; write_aiger -s {b}",
                      wd.path, timeout, f"optimising {src.name} with '{script}'")
        stats = parse_stats(out)
        if len(stats) < 2 or not (wd.path / b).is_file():
            raise ToolError(f"ABC produced no result for {src} (script '{script}'):\n{tail(out)}")
        wd.get(b, dst)
    return stats[0], stats[-1], out


def stats(path: Path, timeout: float = 120.0) -> AigStats:
    """ABC's statistics of the AIGER or BLIF file (after ``strash``)."""
    path = Path(path)
    with Workdir("gatelearn-abc-", ABC) as wd:
        out = run_abc(f"read {wd.put(path)}; strash; print_stats", wd.path, timeout,
                      f"counting the AND nodes of {path.name}")
    found = parse_stats(out)
    if not found:
        raise ToolError(f"ABC printed no statistics for {path}:\n{tail(out)}")
    return found[-1]


_LUT_STATS = re.compile(r"i/o\s*=\s*(\d+)\s*/\s*(\d+).*?nd\s*=\s*(\d+).*?lev\s*=\s*(\d+)", re.S)


@dataclass
class LutStats:
    luts: int
    levels: int


def lut_map(path: Path, k: int = 6, timeout: float = DEFAULT_TIMEOUT) -> LutStats:
    """Map the AIGER file to ``k``-input LUTs with ABC's mapper (``strash; if -K k``: depth-optimal,
    then area recovery) and return the LUT count and LUT depth.

    This is the mapper yosys's ``abc -lut`` calls, without yosys's generic synthesis in front:
    on a 17K-gate MNIST network this takes 1 s, where ``synth`` had not finished after 15 min.

    The count is of the LUTs a device needs, read from the mapped netlist: ABC's own node count
    (``print_stats``) gives every output its own node, so an output that is an input, a constant
    or a copy of another output counted as a LUT (256 "LUTs" for a 91-LUT Adult network).
    """
    if not 2 <= int(k) <= 12:
        raise ToolError(f"LUT size must be between 2 and 12 inputs, got {k}")
    path = Path(path)
    with Workdir("gatelearn-abc-", ABC) as wd:
        src, name = wd.put(path), wd.name("mapped.blif")
        mapped = wd.path / name
        out = run_abc(f"read {src}; strash; if -K {int(k)}; print_stats; write_blif {name}", wd.path, timeout,
                      f"mapping {path.name} to {k}-LUTs")
        found = [int(m.group(4)) for m in _LUT_STATS.finditer(out)]
        if not found or not mapped.exists():
            raise ToolError(f"ABC printed no LUT statistics for {path}:\n{tail(out)}")
        return LutStats(count_luts(mapped.read_text()), found[-1])


def count_luts(blif: str) -> int:
    """LUTs in a mapped BLIF netlist: its ``.names`` nodes of two or more inputs, a node counted
    once however many outputs it drives under other names (ABC writes one node per output).
    Nodes of one input (a buffer or an inverter, which the LUT that reads the signal absorbs) and
    constants need no LUT."""
    nodes: set[tuple] = set()
    current: list | None = None

    def close():
        if current is not None and len(current[0]) >= 2:
            nodes.add((tuple(current[0]), tuple(sorted(current[1]))))

    for raw in blif.replace("\\\n", " ").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("."):
            close()
            current = None
            if line.startswith(".names"):
                signals = line.split()[1:]
                current = [signals[:-1], []]     # the inputs; the last signal is the node's name
        elif current is not None:
            current[1].append(" ".join(line.split()))
    close()
    return len(nodes)


@dataclass
class CecResult:
    equivalent: bool | None    # None: undecided (resource limit)
    log: str


def cec(a: Path, b: Path, timeout: float = DEFAULT_TIMEOUT, by_order: bool = False) -> CecResult:
    """Combinational equivalence of two files (AIGER or BLIF), inputs/outputs matched by name
    (by order with ``by_order``). Raises ToolError when ABC cannot read a file or times out."""
    a, b = Path(a), Path(b)
    flags = "-n " if by_order else ""
    limit = max(20, int(timeout) - 5)
    with Workdir("gatelearn-cec-", ABC) as wd:
        out = run_abc(f"cec -T {limit} -C 1000000 {flags}{wd.put(a)} {wd.put(b)}", wd.path, timeout,
                      f"proving {a.name} equivalent to {b.name} (cec)", check=False)
    if re.search(r"Cannot open|Reading .* failed|has failed\.\s*$", out.split("Miter")[0], re.I | re.M):
        raise ToolError(f"ABC could not read {a} or {b}:\n{tail(out)}")
    if re.search(r"non-driven nets", out):
        # ABC ties undriven nets to 0; the real design leaves them undefined, so no proof.
        raise ToolError(f"ABC found undriven nets in {a} or {b}; the equivalence would hold only with them tied "
                        f"to 0, so nothing is proven:\n{tail(out)}")
    if "Networks are equivalent" in out:
        return CecResult(True, out)
    if re.search(r"NOT EQUIVALENT|are not equivalent|output .* differ", out, re.I):
        return CecResult(False, out)
    if re.search(r"UNDECIDED|timed out|resource limit", out, re.I):
        return CecResult(None, out)
    if re.search(r"different number of|Miter computation has failed|cannot match|is not found", out, re.I):
        # Interfaces differ (input/output counts or names): not equivalent, and the log says why.
        return CecResult(False, out)
    raise ToolError(f"ABC cec gave no verdict for {a} vs {b}:\n{tail(out)}")
