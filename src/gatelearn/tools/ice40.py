"""Lattice iCE40 with the open tools: yosys ``synth_ice40``, nextpnr-ice40 (place and route), and
from fpga-icestorm ``icetime`` (a second timing figure) and ``icepack`` (the bitstream).

:func:`flow` takes a pipelined Verilog top to a routed iCE40 design and returns what it costs:
SB_LUT4 cells after synthesis, logic cells after placement, whether it fits the device, the
maximum clock frequency, and how long each step took.

I/O: the design's ports go straight to package pins and nextpnr places them itself (no PCF: it
warns and picks free pins). A classifier with many input features has more port bits than any
package has pins; then place and route is skipped (it could only fail) and the result says so
with both numbers, next to the synthesis figures and the logic cells nextpnr's packer counts.
Wrapping the ports in shift registers would make it fit, but would add one flip-flop per input
bit (on MNIST more than the network itself) and report a design that is not the exported one.

Everything runs in a :class:`~._run.Workdir` under safe names, like the other tool wrappers.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import InputError, ToolError
from ._run import Tool, Workdir, check_identifier
from .yosys import YOSYS, run_script

__all__ = ["Device", "DEVICES", "NEXTPNR", "ICETIME", "ICEPACK", "Ice40Result", "device", "flow", "available",
           "require"]

NEXTPNR = Tool("nextpnr-ice40", ("nextpnr-ice40",), "nextpnr-ice40", "GATELEARN_NEXTPNR_ICE40")
ICETIME = Tool("icetime", ("icetime",), "fpga-icestorm", "GATELEARN_ICETIME")
ICEPACK = Tool("icepack", ("icepack",), "fpga-icestorm", "GATELEARN_ICEPACK")
DEFAULT_TIMEOUT = 900.0


@dataclass(frozen=True)
class Device:
    name: str          # what --fpga takes: "ice40-hx8k"
    flag: str          # nextpnr-ice40's device option
    icetime: str       # icetime's -d value
    package: str       # the package with the most I/O pins, so that the most designs can be placed
    lut4s: int         # logic cells (one LUT4 + one flip-flop each), from Lattice's data sheet
    pins: int          # user I/O pins of that package, as nextpnr places them (checked with nextpnr 0.4)


# One row per device. Pin counts are the package's I/O pins in icestorm's chip database; each was
# checked by placing a design with that many ports (and one more, which fails) with nextpnr 0.4.
# The HX4K is the HX8K die: nextpnr offers all 7,680 cells, Lattice rates it at 3,520, and fits
# is judged by the rated figure.
DEVICES: dict[str, Device] = {d.name: d for d in (
    Device("ice40-hx1k", "--hx1k", "hx1k", "tq144", 1_280, 96),
    Device("ice40-lp1k", "--lp1k", "lp1k", "cm121", 1_280, 95),
    Device("ice40-hx4k", "--hx4k", "hx4k", "tq144", 3_520, 107),
    Device("ice40-up5k", "--up5k", "up5k", "sg48", 5_280, 39),
    Device("ice40-hx8k", "--hx8k", "hx8k", "ct256", 7_680, 206),
    Device("ice40-lp8k", "--lp8k", "lp8k", "cm225", 7_680, 178),
)}


def device(name: str) -> Device:
    """The table's row for ``name`` ("ice40-hx8k"); InputError listing the known ones."""
    if name not in DEVICES:
        raise InputError(f"unknown FPGA {name!r}; known: {', '.join(DEVICES)}")
    return DEVICES[name]


def available() -> bool:
    """yosys and nextpnr-ice40 are installed (icetime and icepack are optional)."""
    return YOSYS.available() and NEXTPNR.available()


def require() -> None:
    """ToolError naming the Debian package of yosys or nextpnr-ice40 when one is missing."""
    YOSYS.path()
    NEXTPNR.path()


@dataclass
class Ice40Result:
    device: str
    package: str
    device_lut4s: int
    package_pins: int
    top: str
    io_bits: int                       # bits of the top's ports, each one package pin
    lut4s_synthesis: int               # SB_LUT4 cells after synth_ice40
    flip_flops_synthesis: int          # SB_DFF* cells
    carries_synthesis: int             # SB_CARRY cells (popcount adders)
    logic_cells: int | None            # ICESTORM_LC after nextpnr's packing (placed, when it was)
    fits: bool
    placed_and_routed: bool
    not_fitted: str | None = None      # why not, with the numbers
    fmax_mhz: float | None = None      # nextpnr, register to register, after routing
    input_to_register_ns: float | None = None    # longest path from an input pin to a flip-flop
    register_to_output_ns: float | None = None   # longest path from a flip-flop to an output pin
    icetime_fmax_mhz: float | None = None        # icetime -i (interior paths, as fmax_mhz)
    icetime_note: str | None = None
    bitstream_bytes: int | None = None           # icepack's output
    bitstream_note: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


_UTIL = re.compile(r"^Info:\s+(ICESTORM_LC|SB_IO):\s*(\d+)\s*/\s*(\d+)", re.M)
_PLACE_FAIL = re.compile(r"Unable to (place cell|find a placement location)")
_ICETIME_DELAY = re.compile(r"Total path delay:\s*([0-9.]+)\s*ns\s*\(([0-9.]+)\s*MHz\)")


def flow(sources: list[Path], top: str, dev: Device | str, timeout: float = DEFAULT_TIMEOUT) -> Ice40Result:
    """Synthesise ``top`` from the Verilog ``sources`` for ``dev`` and pack it into logic cells;
    when its ports fit the package's pins and its cells the device, place and route it, time it
    with icetime and pack the bitstream with icepack (these two when installed; a note otherwise).
    A design that does not fit is a result (``fits`` False, ``not_fitted`` says why), not an
    error; a tool that fails otherwise raises ToolError."""
    dev = device(dev) if isinstance(dev, str) else dev
    check_identifier(top, "top module")
    t_all = time.perf_counter()
    seconds: dict[str, float] = {}
    # both required tools checked before the synthesis, which may take minutes
    with Workdir("gatelearn-ice40-", YOSYS, NEXTPNR) as wd:
        reads = "; ".join(f"read_verilog {wd.put(s)}" for s in sources)
        netlist = wd.name("synth.json")
        t = time.perf_counter()
        run_script(f"{reads}; synth_ice40 -top {top} -json {netlist}", wd.path, timeout,
                   f"synthesising {top} for {dev.name} (synth_ice40)")
        seconds["synthesis"] = time.perf_counter() - t
        syn = _synthesis_figures(wd.path / netlist, top)
        result = Ice40Result(dev.name, dev.package, dev.lut4s, dev.pins, top, syn["io_bits"], syn["lut4s"],
                             syn["flip_flops"], syn["carries"], None, False, False)
        base = [dev.flag, "--package", dev.package, "--json", netlist]
        # packing first (seconds, where placement of a large design takes minutes): its count of
        # logic cells, which includes a cell for each flip-flop no LUT could take, decides whether
        # placement is worth starting, and is the figure a design that does not fit is told by
        log = wd.name("pack.log")
        t = time.perf_counter()
        wd.run(NEXTPNR, [*base, "--pack-only", "-q", "-l", log], timeout, f"packing {top} for {dev.name}")
        seconds["packing"] = time.perf_counter() - t
        result.logic_cells = _utilisation(wd.path / log).get("ICESTORM_LC", (None, None))[0]
        reasons = _too_big(result)
        if reasons:
            result.not_fitted = "; ".join(reasons) + ": place and route skipped"
        else:
            _place_and_route(wd, base, top, dev, result, seconds, timeout)
        result.tools = _versions(wd)
    seconds["total"] = time.perf_counter() - t_all
    result.seconds = {k: round(v, 2) for k, v in seconds.items()}
    return result


def _place_and_route(wd: Workdir, base: list[str], top: str, dev: Device, result: Ice40Result,
                     seconds: dict[str, float], timeout: float) -> None:
    asc, report, log = wd.name("routed.asc"), wd.name("report.json"), wd.name("nextpnr.log")
    t = time.perf_counter()
    try:
        # no --pcf: nextpnr places the I/O itself. Its default clock target (12 MHz) is kept: a
        # 250 MHz target gave the same fmax on the runs measured (monk1, adult)
        wd.run(NEXTPNR, [*base, "--asc", asc, "--report", report, "-q", "-l", log], timeout,
               f"placing and routing {top} on {dev.name}")
    except ToolError:
        text = _read(wd.path / log)
        if not _PLACE_FAIL.search(text):
            raise
        # ran out of cells or pins despite the checks (placement legalisation, pins the package
        # reserves): a result with nextpnr's own numbers
        seconds["place_and_route"] = time.perf_counter() - t
        result.logic_cells = _utilisation(wd.path / log).get("ICESTORM_LC", (None, None))[0]
        line = next((m.group(0) for m in re.finditer(r"ERROR: .*", text)), "ERROR: placement failed")
        result.not_fitted = "; ".join(_too_big(result) or [f"nextpnr could not place it on {dev.name}: {line}"])
        return
    seconds["place_and_route"] = time.perf_counter() - t
    try:
        rep = json.loads((wd.path / report).read_text())
    except (OSError, ValueError) as exc:
        raise ToolError(f"nextpnr-ice40 wrote no readable report for {top}: {exc}") from exc
    lc = (rep.get("utilization") or {}).get("ICESTORM_LC") or {}
    result.logic_cells = lc.get("used")
    result.placed_and_routed = True
    # one clock (clk); nextpnr names it after the global buffer it put it on
    clocks = [c.get("achieved") for c in (rep.get("fmax") or {}).values() if c.get("achieved")]
    result.fmax_mhz = round(min(clocks), 2) if clocks else None
    for path in rep.get("critical_paths") or []:
        delay = round(sum(step.get("delay", 0.0) for step in path.get("path", [])), 2)
        if path.get("from") == "<async>" and path.get("to") != "<async>":
            result.input_to_register_ns = delay
        elif path.get("to") == "<async>" and path.get("from") != "<async>":
            result.register_to_output_ns = delay
    reasons = _too_big(result)
    result.fits = not reasons
    result.not_fitted = "; ".join(reasons) if reasons else None
    _icetime(wd, asc, dev, result, seconds, timeout)
    _icepack(wd, asc, result, seconds, timeout)


def _too_big(r: Ice40Result) -> list[str]:
    """Why ``r`` does not fit its device, with the numbers (empty: it fits as far as is known)."""
    out = []
    if r.io_bits > r.package_pins:
        out.append(f"the design has {r.io_bits:,} I/O port bits and {r.device}'s largest package ({r.package}) has "
                   f"{r.package_pins} pins")
    cells = r.logic_cells
    if r.lut4s_synthesis > r.device_lut4s:
        out.append(f"the design needs {r.lut4s_synthesis:,} LUT4s after synthesis"
                   + (f" ({cells:,} logic cells after packing)" if cells else "")
                   + f" and {r.device} has {r.device_lut4s:,}")
    elif cells is not None and cells > r.device_lut4s:
        # packing puts a flip-flop without a LUT in a cell of its own: cells can exceed LUT4s
        out.append(f"the design needs {cells:,} logic cells after packing ({r.lut4s_synthesis:,} LUT4s, "
                   f"{r.flip_flops_synthesis:,} flip-flops) and {r.device} has {r.device_lut4s:,}")
    return out


def _synthesis_figures(netlist: Path, top: str) -> dict:
    """SB_LUT4, flip-flop and carry cells and the port bits of ``top`` in synth_ice40's JSON."""
    try:
        data = json.loads(netlist.read_text())
    except (OSError, ValueError) as exc:
        raise ToolError(f"yosys wrote no readable iCE40 netlist for {top}: {exc}") from exc
    mod = (data.get("modules") or {}).get(top)
    if mod is None:
        raise ToolError(f"the iCE40 netlist has no module {top}")
    types = [c.get("type", "") for c in (mod.get("cells") or {}).values()]
    return {"lut4s": types.count("SB_LUT4"),
            "flip_flops": sum(t.startswith("SB_DFF") for t in types),
            "carries": types.count("SB_CARRY"),
            "io_bits": sum(len(p.get("bits", [])) for p in (mod.get("ports") or {}).values())}


def _utilisation(log: Path) -> dict[str, tuple[int, int]]:
    """{'ICESTORM_LC': (used, available), 'SB_IO': ...} from nextpnr's log (printed after packing)."""
    return {m.group(1): (int(m.group(2)), int(m.group(3))) for m in _UTIL.finditer(_read(log))}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _icetime(wd: Workdir, asc: str, dev: Device, result: Ice40Result, seconds: dict, timeout: float) -> None:
    """icetime's estimate of the interior paths (-i: flip-flop to flip-flop, as nextpnr's fmax),
    or a note saying why there is none. It is optional: the figure that counts is nextpnr's."""
    if not ICETIME.available():
        result.icetime_note = "icetime not installed (apt-get install fpga-icestorm)"
        return
    t = time.perf_counter()
    try:
        out = wd.run(ICETIME, ["-d", dev.icetime, "-P", dev.package, "-i", "-t", asc], timeout,
                     f"timing the routed design (icetime, {dev.name})")
    except ToolError as exc:
        # Debian ships icetime's chip database in its own package, only recommended by fpga-icestorm
        result.icetime_note = ("icetime found no chip database (apt-get install fpga-icestorm-chipdb)"
                               if "chipdb" in str(exc) else f"icetime failed: {str(exc).splitlines()[0]}")
        return
    seconds["icetime"] = time.perf_counter() - t
    m = _ICETIME_DELAY.search(out)
    if m is None:
        result.icetime_note = "icetime printed no path delay"
    else:
        result.icetime_fmax_mhz = float(m.group(2))


def _icepack(wd: Workdir, asc: str, result: Ice40Result, seconds: dict, timeout: float) -> None:
    """Pack the routed design into a bitstream: a design that packs is one that could be loaded."""
    if not ICEPACK.available():
        result.bitstream_note = "icepack not installed (apt-get install fpga-icestorm)"
        return
    t = time.perf_counter()
    binary = wd.name("bitstream.bin")
    try:
        wd.run(ICEPACK, [asc, binary], timeout, "packing the bitstream (icepack)")
        result.bitstream_bytes = (wd.path / binary).stat().st_size
    except (ToolError, OSError) as exc:
        result.bitstream_note = f"icepack failed: {str(exc).splitlines()[0]}"
    seconds["icepack"] = time.perf_counter() - t


def _versions(wd: Workdir) -> dict[str, str]:
    """yosys's and nextpnr's versions, for the record: placement and timing change between them.
    (icetime and icepack print none.)"""
    out = {}
    for tool, arg in ((YOSYS, "-V"), (NEXTPNR, "--version")):
        text = wd.run(tool, [arg], 60.0, "reading its version").strip()
        # "Yosys 0.23 (git sha1 7ce5011c24b)"; "nextpnr-ice40 -- Next Generation ... (Version 0.4-1+b1)"
        m = re.search(r"\(Version ([^)]+)\)", text)
        out[tool.name] = f"{tool.name} {m.group(1)}" if m else (text.splitlines()[-1] if text else "unknown")
    return out
