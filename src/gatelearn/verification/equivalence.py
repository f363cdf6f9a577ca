"""Equivalence proofs with ABC's ``cec`` (which either proves two combinational functions equal
or returns a counterexample), each result a :class:`Check`.

* :func:`cec_check`: two gate networks (AIGER or BLIF files ABC reads itself, so gatelearn's
  readers are not part of the argument), ports matched by name, or by order (an imported
  circuit against its source file, whose port names gatelearn's writers need not share);
* :func:`abc_readable`: a source file as one ABC's ``cec`` reads (an ASCII ``.aag``, which ABC
  cannot read, through yosys's AIGER reader);
* :func:`prove_verilog`: an emitted Verilog file, synthesized to gates by yosys (proc; flatten;
  techmap): its network-only module ``NAME_net`` gate for gate against the reference network, and
  the whole top (x -> class_idx, counts: encoder, popcount and argmax included) against the
  reference AIG of :mod:`.reference`, built from the model's thresholds and the input format the
  design claims (whose claims, exactness above all, are checked against the model first);
* :func:`prove_netlist`: the plain Verilog module of a circuit without a head (one port per
  input and output, manifest kind ``verilog_netlist``) against the reference network, its ports
  taken in the order the manifest's spec lists them; pipelined, with its registers transparent
  as below;
* :func:`prove_pipelined`: a pipelined top with its flip-flops made transparent (gatelearn's
  BLIF reader): every path from the inputs to class_idx/counts must cross exactly LATENCY
  registers, out_valid must lag in_valid by LATENCY cycles, and the resulting combinational
  function must equal the same reference. So the pipelined design outputs, LATENCY cycles
  later, exactly what the model computes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends.aiger import FALSE, AigBuilder, aiger_bytes, circuit_to_aig
from ..backends.blif import parse_blif
from ..backends.common import yosys_blif_name
from ..backends.verilog import HwSpec, NetSpec
from ..circuit.ir import Circuit
from ..errors import FileFormatError, ToolError
from .reference import format_problems, reference_aig

__all__ = ["Check", "VerifyReport", "PASSED", "cec_check", "abc_readable", "prove_verilog", "prove_netlist",
           "prove_pipelined", "same_interface"]


PASSED = ("proven", "tested")      # statuses that count as checked and equal


@dataclass
class Check:
    """One check: what was checked, and its outcome. ``status``: "proven" (a proof of
    equivalence), "tested" (agreement on a set of inputs, not a proof), "FAILED" (a
    counterexample or a disagreement), "undecided" or "error" (the check could not be done)."""
    item: str
    what: str
    status: str
    detail: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class VerifyReport:
    """The checks of one ``gatelearn verify``; ``ok`` only when there are some and each is proven
    or tested. ``not_checked``: (item, why) for artifacts no check covers. ``against``: what the
    checks compare with, in words (the trained model, or the source file of an imported circuit);
    ``tested_against`` the same for the tests of programs."""
    checks: list[Check] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)
    against: str = "the trained model"
    tested_against: str = "the model"

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.status in PASSED for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status not in PASSED]

    def items(self, status: str) -> list[str]:
        """Items whose checks all passed, by their weakest status: "proven" (every check a proof)
        or "tested" (at least one check a test); "failed" for the rest. In check order."""
        by_item: dict[str, list[str]] = {}
        for c in self.checks:
            by_item.setdefault(c.item, []).append(c.status)

        def kind(sts: list[str]) -> str:
            return "failed" if any(st not in PASSED for st in sts) else "tested" if "tested" in sts else "proven"
        return [item for item, sts in by_item.items() if kind(sts) == status]

    def summary(self) -> str:
        """One line: which items are proven, which tested (not proven), which failed, which
        artifacts were not checked."""
        parts = []
        if self.failed:
            parts.append("NOT verified: " + ", ".join(self.items("failed")))
        for status, label in (("proven", f"proven equivalent to {self.against}"),
                              ("tested", f"tested against {self.tested_against}, not proven")):
            items = self.items(status)
            if items:
                parts.append(f"{label}: {', '.join(items)}")
        if self.not_checked:
            parts.append("not checked: " + ", ".join(f"{item} ({why})" for item, why in self.not_checked))
        if not self.checks:
            parts.insert(0, "nothing verified")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "against": self.against, "proven": self.items("proven"), "tested": self.items("tested"),
                "failed": self.items("failed"),
                "not_checked": [{"item": i, "why": w} for i, w in self.not_checked],
                "checks": [c.to_dict() for c in self.checks]}


def same_interface(c: Circuit, ref: Circuit) -> str | None:
    """None when c has ref's inputs, outputs, head and encoder; else what differs."""
    if c.num_inputs != ref.num_inputs or c.num_outputs != ref.num_outputs:
        return f"{c.num_inputs} inputs / {c.num_outputs} outputs instead of {ref.num_inputs} / {ref.num_outputs}"
    if (c.head is None) != (ref.head is None) or (
            c.head and (c.head.classes, c.head.tau) != (ref.head.classes, ref.head.tau)):
        return "a different GroupSum head"
    if (c.encoder is None) != (ref.encoder is None):
        return "a different input encoder"
    if c.encoder is not None:
        e, r = c.encoder, ref.encoder
        if e.num_features != r.num_features or not (
                np.array_equal(e.feature, r.feature) and np.array_equal(e.op, r.op)
                and np.array_equal(e.value.astype(np.float32), r.value.astype(np.float32))):
            return "a different input encoder"
    return None


def cec_check(item: str, what: str, a: Path, b: Path, timeout: float, by_order: bool = False) -> Check:
    """ABC's ``cec`` of files a and b as a Check (a tool failure is status "error"); ports
    matched by name, or by their order in the files with ``by_order``."""
    from ..tools import abc
    t0 = time.perf_counter()
    try:
        r = abc.cec(a, b, timeout, by_order=by_order)
    except ToolError as exc:
        return Check(item, what, "error", str(exc), time.perf_counter() - t0)
    status = {True: "proven", False: "FAILED", None: "undecided"}[r.equivalent]
    detail = "" if r.equivalent else _counterexample(r.log)
    return Check(item, what, status, detail, time.perf_counter() - t0)


def _counterexample(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and "ABC command line" not in ln]
    return " | ".join(lines[:4])[:600]


def abc_readable(source: Path, tmp: Path, timeout: float) -> Path:
    """``source`` (.aig, .aag or .blif) as a file ABC's ``cec`` reads, its inputs and outputs in
    the source's order, made in the scratch folder ``tmp`` when needed. ABC reads binary AIGER and
    BLIF itself (by a lower-case suffix). It cannot read ASCII AIGER, so an .aag goes through
    yosys's AIGER reader to BLIF, the symbol table stripped first: with symbols yosys orders the
    ports by name, without them in the file's order, which is the order gatelearn's reader (and so
    every circuit imported from the file) has. Either way gatelearn's own reader is not part of
    the proof. A ToolError when yosys is needed and fails or is missing."""
    suffix = source.suffix.lower()
    if suffix != ".aag":
        if source.suffix == suffix:
            return source
        copy = tmp / f"source{suffix}"
        copy.write_bytes(source.read_bytes())
        return copy
    from ..tools import yosys
    from ..tools._run import Workdir
    data = source.read_bytes()
    lines = data.split(b"\n")
    try:
        M, I, L, O, A = (int(v) for v in lines[0].split()[1:6])
    except ValueError:
        raise ToolError(f"{source}: not an ASCII AIGER file (header {lines[0][:40]!r})") from None
    plain = tmp / "source_nosymbols.aag"
    plain.write_bytes(b"\n".join(lines[:1 + I + L + O + A]) + b"\n")
    out = tmp / "source_from_aag.blif"
    with Workdir("gatelearn-yosys-", yosys.YOSYS) as wd:
        src, blif = wd.put(plain), wd.name("source.blif")
        yosys.run_script(f"read_aiger {src}; write_blif {blif}", wd.path, timeout,
                         f"reading {source.name} (ASCII AIGER) for ABC")
        wd.get(blif, out)
    return out


def prove_verilog(ref: Circuit, spec: HwSpec, file: Path, net_module: str, tmp: Path, timeout: float,
                  item: str) -> list[Check]:
    """Two checks of Verilog ``file`` against the reference circuit ``ref``: the network module
    ``net_module`` against ref's gate network, and the top ``spec.name`` (pipelined when
    ``spec.pipeline``, with ``spec.latency`` the latency it claims) against the reference AIG.
    ``tmp`` is a scratch folder."""
    from ..tools import yosys
    checks = []
    # 1. The network-only module, gate for gate.
    t0 = time.perf_counter()
    try:
        net_blif = yosys.to_blif([file], net_module, tmp / f"{net_module}.blif", timeout)
        ref_named = tmp / f"{net_module}_ref.aig"
        ref_named.write_bytes(aiger_bytes(ref, input_names=[f"in_bits[{i}]" for i in range(ref.num_inputs)],
                                          output_names=[f"out_bits[{k}]" for k in range(ref.num_outputs)]))
        c = cec_check(item, f"module {net_module} (gate network) vs model", ref_named, net_blif, timeout)
        c.seconds = time.perf_counter() - t0
        checks.append(c)
    except ToolError as exc:
        checks.append(Check(item, f"module {net_module}", "error", str(exc), time.perf_counter() - t0))
    # 2. The whole top: x -> class_idx, counts.
    t0 = time.perf_counter()
    what = (f"module {spec.name} (encoder + network + popcount + argmax) vs reference from the model, "
            f"{_format_words(spec)}")
    problems = format_problems(ref, spec)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        checks.append(Check(item, what, "FAILED", f"input format: {problems[0]}{more}; re-export"))
        return checks
    try:
        top_blif = yosys.to_blif([file], spec.name, tmp / f"{spec.name}.blif", timeout)
        ref_top = tmp / f"{spec.name}_ref.aig"
        if not spec.pipeline:
            ref_top.write_bytes(reference_aig(ref, spec))
            c = cec_check(item, what, ref_top, top_blif, timeout)
        else:
            ref_top.write_bytes(reference_aig(ref, spec, ("clk", "rst", "in_valid")))
            c = prove_pipelined(item, what, spec, top_blif, ref_top, tmp, timeout)
        c.seconds = time.perf_counter() - t0
        checks.append(c)
    except (ToolError, FileFormatError) as exc:
        checks.append(Check(item, what, "error", str(exc), time.perf_counter() - t0))
    return checks


def prove_netlist(spec: NetSpec, file: Path, ref_net: Path, tmp: Path, timeout: float, item: str,
                  against: str) -> Check:
    """The plain module ``spec.name`` of Verilog ``file`` (a circuit without a head: one 1-bit
    port per input and output) against the network ``ref_net``, port k of the proof being
    ``spec.inputs[k]`` / ``spec.outputs[k]``: the order the manifest claims is the circuit's,
    whatever order yosys writes the ports in. Combinational: ABC reads yosys's netlist itself,
    its port lists rewritten in that order. Pipelined: its registers made transparent (as
    :func:`prove_pipelined`), every output exactly ``spec.latency`` registers behind the inputs,
    out_valid as far behind in_valid, and the function, clock, reset and in_valid held at 0
    (reset clears only the valid pipe), equal to the reference."""
    from ..tools import yosys
    t0 = time.perf_counter()
    what = f"module {spec.name} (one port per input and output) vs {against}, ports in the manifest's order"
    ins, outs = [yosys_blif_name(n) for n in spec.inputs], [yosys_blif_name(n) for n in spec.outputs]
    try:
        blif = yosys.to_blif([file], spec.name, tmp / f"{spec.name}.blif", timeout)
        if not spec.pipeline:
            text, problem = _ports_in_order(blif.read_text(), ins, outs)
            if problem:
                return Check(item, what, "FAILED", problem, time.perf_counter() - t0)
            ordered = tmp / f"{spec.name}_ordered.blif"
            ordered.write_text(text)
            c = cec_check(item, what, ref_net, ordered, timeout, by_order=True)
        else:
            c = _prove_pipelined_netlist(spec, blif, ins, outs, ref_net, tmp, timeout, item, what)
    except (ToolError, FileFormatError) as exc:
        return Check(item, what, "error", str(exc), time.perf_counter() - t0)
    c.seconds = time.perf_counter() - t0
    return c


def _ports_in_order(text: str, ins: list[str], outs: list[str]) -> tuple[str, str | None]:
    """BLIF ``text`` with its ``.inputs`` / ``.outputs`` statements replaced by one each listing
    ``ins`` / ``outs`` in that order, right after ``.model``; or a problem when the netlist's ports
    are not exactly those names."""
    kept, found = [], {".inputs": [], ".outputs": []}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stmt = [lines[i]]
        while stmt[-1].rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            stmt.append(lines[i])
        i += 1
        tokens = " ".join(ln.rstrip().removesuffix("\\") for ln in stmt).split("#", 1)[0].split()
        if tokens and tokens[0] in found:
            found[tokens[0]] += tokens[1:]
            continue
        kept += stmt
        if tokens and tokens[0] == ".model":
            kept += [".inputs " + " ".join(ins), ".outputs " + " ".join(outs)]
    for key, want in ((".inputs", ins), (".outputs", outs)):
        if sorted(found[key]) != sorted(want):
            extra, missing = sorted(set(found[key]) - set(want)), sorted(set(want) - set(found[key]))
            return "", (f"its {key[1:]} are not the ports the manifest lists (the module has {extra[:4]} it does not "
                        f"list, lacks {missing[:4]}); re-export")
    return "\n".join(kept) + "\n", None


def _prove_pipelined_netlist(spec: NetSpec, blif: Path, ins: list[str], outs: list[str], ref_net: Path, tmp: Path,
                             timeout: float, item: str, what: str) -> Check:
    c = parse_blif(blif.read_text(), str(blif), latches="transparent")
    names, lat, L = c.meta["output_names"], c.meta["output_latency"], spec.latency
    controls = {yosys_blif_name(n) for n in (spec.clock, spec.reset, spec.in_valid)}
    valid = yosys_blif_name(spec.out_valid)
    if sorted(c.meta["input_names"]) != sorted(ins + list(controls)) or sorted(names) != sorted(outs + [valid]):
        return Check(item, what, "FAILED", "its ports are not the ones the manifest lists; re-export")
    bad = [n for n, k in zip(names, lat) if n != valid and k not in ([L], [])]
    if bad:
        return Check(item, what, "FAILED", f"outputs {bad[:4]} are not exactly {L} registers behind the inputs; the "
                     "header's LATENCY is wrong or the pipeline unbalanced")
    if max(lat[names.index(valid)], default=-1) != L:
        return Check(item, what, "FAILED", f"{spec.out_valid} does not lag {spec.in_valid} by LATENCY={L} cycles")
    b = AigBuilder(len(ins))
    pos = {n: k for k, n in enumerate(ins)}
    # the controls held at 0: with the registers transparent, the clock does nothing, and reset
    # clears only the valid pipe, so the outputs' function does not depend on them
    lits = [b.input(pos[n]) if n in pos else FALSE for n in c.meta["input_names"]]
    _, out_lits = circuit_to_aig(c, b, lits)
    by_name = dict(zip(names, out_lits))
    impl = tmp / f"{spec.name}_transparent.aig"
    impl.write_bytes(b.to_bytes([by_name[n] for n in outs], list(ins), list(outs)))
    return cec_check(item, what + f" (registers transparent; every path crosses {L})", ref_net, impl, timeout,
                     by_order=True)


def _format_words(spec: HwSpec) -> str:
    """The input format a proof covers, in words."""
    if spec.bits_input:
        return "inputs: the encoded bits"
    ks = sorted(set(spec.scale_bits()))
    exact = ("exact for every input >= 0" if spec.exact
             else f"exact on the input grid only for features {spec.grid_only[:8]}")
    return f"inputs: {spec.width}-bit fixed point with {'/'.join(map(str, ks))} fractional bits, {exact}"


def prove_pipelined(item: str, what: str, spec: HwSpec, top_blif: Path, ref_top: Path, tmp: Path,
                    timeout: float) -> Check:
    """The pipelined top (yosys's BLIF) with its registers transparent: balanced at exactly
    ``spec.latency`` registers, out_valid lagging in_valid as much, and equal to ``ref_top``."""
    c = parse_blif(top_blif.read_text(), str(top_blif), latches="transparent")
    names = c.meta["output_names"]
    lat = c.meta["output_latency"]
    L = spec.latency
    data = [i for i, n in enumerate(names) if n != "out_valid"]
    bad = [names[i] for i in data if lat[i] not in ([L], [])]
    if bad:
        return Check(item, what, "FAILED", f"outputs {bad[:4]} are not exactly {L} registers behind the inputs "
                     f"(paths with {lat[data[0]]} registers); the header's LATENCY is wrong or the pipeline unbalanced")
    if "out_valid" not in names or max(lat[names.index("out_valid")], default=-1) != L:
        return Check(item, what, "FAILED", f"out_valid does not lag in_valid by LATENCY={L} cycles")
    c.outputs = c.outputs[data]
    b, outs = circuit_to_aig(c)
    impl = tmp / f"{spec.name}_transparent.aig"
    impl.write_bytes(b.to_bytes(outs, c.meta["input_names"], [names[i] for i in data]))
    return cec_check(item, what + f" (registers transparent; every path crosses {L})", ref_top, impl, timeout)
