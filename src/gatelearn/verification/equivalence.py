"""Equivalence proofs with ABC's ``cec`` (which either proves two combinational functions equal
or returns a counterexample), each result a :class:`Check`.

* :func:`cec_check`: two gate networks (AIGER or BLIF files ABC reads itself, so gatelearn's
  readers are not part of the argument);
* :func:`prove_verilog`: an emitted Verilog file, synthesized to gates by yosys (proc; flatten;
  techmap): its network-only module ``NAME_net`` gate for gate against the reference network, and
  the whole top (x -> class_idx, counts: encoder, popcount and argmax included) against the
  reference AIG of :mod:`.reference`, built from the model's thresholds and the input format the
  design claims (whose claims, exactness above all, are checked against the model first);
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

from ..backends.aiger import aiger_bytes, circuit_to_aig
from ..backends.blif import parse_blif
from ..backends.verilog import HwSpec
from ..circuit.ir import Circuit
from ..errors import FileFormatError, ToolError
from .reference import format_problems, reference_aig

__all__ = ["Check", "VerifyReport", "PASSED", "cec_check", "prove_verilog", "prove_pipelined", "same_interface"]


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
    or tested. ``not_checked``: (item, why) for artifacts no check covers."""
    checks: list[Check] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)

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
        for status, label in (("proven", "proven equivalent to the trained model"),
                              ("tested", "tested against the model, not proven")):
            items = self.items(status)
            if items:
                parts.append(f"{label}: {', '.join(items)}")
        if self.not_checked:
            parts.append("not checked: " + ", ".join(f"{item} ({why})" for item, why in self.not_checked))
        if not self.checks:
            parts.insert(0, "nothing verified")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "proven": self.items("proven"), "tested": self.items("tested"),
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


def cec_check(item: str, what: str, a: Path, b: Path, timeout: float) -> Check:
    """ABC's ``cec`` of files a and b as a Check (a tool failure is status "error")."""
    from ..tools import abc
    t0 = time.perf_counter()
    try:
        r = abc.cec(a, b, timeout)
    except ToolError as exc:
        return Check(item, what, "error", str(exc), time.perf_counter() - t0)
    status = {True: "proven", False: "FAILED", None: "undecided"}[r.equivalent]
    detail = "" if r.equivalent else _counterexample(r.log)
    return Check(item, what, status, detail, time.perf_counter() - t0)


def _counterexample(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip() and "ABC command line" not in ln]
    return " | ".join(lines[:4])[:600]


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
