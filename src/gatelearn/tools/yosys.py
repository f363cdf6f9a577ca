"""yosys: synthesis to gate-level BLIF (for equivalence proofs) and 6-LUT mapping (for reports).

yosys runs in a :class:`~._run.Workdir`: its scripts name only the safe names of the files linked
in there (a script splits on spaces and ';'), and module names must be plain identifiers (a
script line could otherwise run a shell command with ``!``)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError
from ._run import Tool, Workdir, check_identifier, run

YOSYS = Tool("yosys", ("yosys",), "yosys", "GATELEARN_YOSYS")
DEFAULT_TIMEOUT = 900.0


def available() -> bool:
    return YOSYS.available()


def run_script(script: str, cwd, timeout: float, what: str) -> str:
    """Run the yosys ``script`` in ``cwd``. File names in it must be plain words (see Workdir)."""
    return run(YOSYS, ["-q", "-p", script], cwd, timeout, what)


def to_blif(sources: list[Path], top: str, out: Path, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Elaborate ``top`` and lower it to single-bit gates; flip-flops stay as BLIF ``.latch`` lines.

    No ``opt``: yosys' optimisations may turn don't-care values into undriven nets, which ABC
    would silently tie to 0 in an equivalence check. ``opt_clean -purge`` only removes unused
    wires (without it write_blif leaves some aliased nets undriven)."""
    check_identifier(top, "top module")
    out = Path(out)
    with Workdir("gatelearn-yosys-", YOSYS) as wd:
        reads = "; ".join(f"read_verilog {wd.put(s)}" for s in sources)
        blif = wd.name("synthesised.blif")
        script = f"{reads}; hierarchy -check -top {top}; proc; flatten; techmap; opt_clean -purge; write_blif {blif}"
        run_script(script, wd.path, timeout,
                   f"synthesising {top} from {', '.join(Path(s).name for s in sources)}")
        if not (wd.path / blif).is_file():
            raise ToolError(f"yosys wrote no BLIF for {top}")
        wd.get(blif, out)
    return out


@dataclass
class LutReport:
    luts: int
    depth: int
    flip_flops: int


def lut_map(sources: list[Path], top: str, k: int = 6, timeout: float = DEFAULT_TIMEOUT,
            blackbox: dict[str, int] | None = None, fast: bool = False) -> LutReport:
    """``synth -flatten; abc -lut k``: number of k-LUTs and the LUT depth (longest path of LUTs
    between inputs / flip-flops and outputs / flip-flops).

    ``blackbox`` maps module names to LUT depths: those modules are left out of the mapping (their
    LUTs are not counted; map them separately) and each instance counts as that many LUT levels
    from its inputs to its outputs in the depth.

    ``fast`` runs yosys's short ABC script (``abc -fast``: no fraiging, choices or mfs). On the
    popcounts of a 10-class, 800-outputs-per-class head the full script runs for over ten minutes
    (it grows faster than the design); the fast one maps one such class to 826 LUTs instead of 815.
    """
    check_identifier(top, "top module")
    boxes = "".join(f"; blackbox {check_identifier(name, 'black-box module')}" for name in (blackbox or {}))
    with Workdir("gatelearn-yosys-", YOSYS) as wd:
        reads = "; ".join(f"read_verilog {wd.put(s)}" for s in sources)
        name = wd.name("mapped.json")
        js = wd.path / name
        abc_cmd = f"abc -lut {int(k)}" + (" -fast" if fast else "")
        run_script(f"{reads}{boxes}; synth -flatten -top {top}; {abc_cmd}; opt_clean; write_json {name}", wd.path,
                   timeout, f"mapping {top} to {k}-LUTs")
        try:
            netlist = json.loads(js.read_text())
        except (OSError, ValueError) as exc:
            raise ToolError(f"yosys wrote no readable netlist for {top}: {exc}") from exc
    mod = netlist.get("modules", {}).get(top)
    if mod is None:
        raise ToolError(f"yosys netlist has no module {top}")
    driver: dict[int, list[int]] = {}
    weight: dict[int, int] = {}      # LUT levels between a net and its driver's inputs
    luts, ffs = [], 0
    for cell in mod.get("cells", {}).values():
        t = cell.get("type", "")
        conn = cell.get("connections", {})
        if t == "$lut":
            ins = [b for b in conn.get("A", []) if isinstance(b, int)]
            for b in conn.get("Y", []):
                driver[b] = ins
            luts.append(ins)
        elif blackbox and t in blackbox:
            outs = set(port for port, d in cell.get("port_directions", {}).items() if d == "output")
            ins = [b for port, bits in conn.items() if port not in outs for b in bits if isinstance(b, int)]
            for port in outs:
                for b in conn.get(port, []):
                    if isinstance(b, int):
                        driver[b], weight[b] = ins, int(blackbox[t])
        elif "DFF" in t.upper():
            ffs += 1
    depth: dict[int, int] = {}

    def level(bit: int) -> int:
        # Iterative longest path: nets not driven by a LUT (inputs, flip-flop outputs) are level 0.
        stack = [bit]
        while stack:
            b = stack[-1]
            if b in depth:
                stack.pop()
                continue
            ins = driver.get(b)
            if ins is None:
                depth[b] = 0
                stack.pop()
                continue
            todo = [i for i in ins if i not in depth]
            if todo:
                stack.extend(todo)
            else:
                depth[b] = weight.get(b, 1) + max((depth[i] for i in ins), default=0)
                stack.pop()
        return depth[bit]

    max_depth = max((level(b) for b in driver), default=0)
    return LutReport(len(luts), max_depth, ffs)
