"""Synthesizable Verilog for a circuit: encoder, gate network, per-class popcount, argmax.

Interface of the top module ``NAME`` (combinational) ::

    input  [F*W-1:0] x           feature f is x[f*W +: W], an unsigned W-bit integer
                                 (with no encoder: x is the input bit vector, W = 1)
    output [K-1:0]   class_idx   argmax of the class counts, lowest index on ties (as torch/NumPy)
    output [C*B-1:0] counts      ones per class; class k is counts[k*B +: B]

With ``pipeline=N`` (N >= 1) the top also has ``clk``, ``rst`` (synchronous, clears the valid
pipe only), ``in_valid`` and ``out_valid``: registers follow every N logic levels of the gate
network, one more stage holds the network outputs' popcounts and one the argmax, so the latency
is ``ceil(depth / N) + 2`` cycles (written into the module header). Every path from ``x`` to an
output crosses the same number of registers, which ``gatelearn verify`` checks.

Encoder: the model compares float32 features; hardware compares integers. For an integer x,
``x > t`` equals ``x > floor(float32(t))`` and ``x == v`` needs v integral, so a bit becomes a
comparator with an integer constant, or a constant when the threshold lies outside 0..2^W-1.
W is the smallest width (at least 8, so images stay uint8) in which every constant is below
2^W - 1: feeding a larger value saturated to 2^W - 1 then gives the same bits.

The gate network is also emitted alone as ``NAME_net`` (``in_bits`` -> ``out_bits``), which the
combinational top instantiates; each gate is the gate table's Verilog expression.

The popcount is a compressor tree (groups of up to six bits -> their count, see
:func:`compressor_plan`), the argmax a balanced comparison tree (:func:`tree_plan`) in which the
right operand wins only when strictly larger; :func:`gatelearn.verification.reference.reference_aig`
builds the same function as an AIG straight from the IR, in the same shape (from the same two
plans), for the equivalence proof.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from ..circuit.ir import USES_A, USES_B, Circuit
from ..errors import InputError
from ..fileio import atomic_write_text
from ..gates import GATES
from .base import Artifacts, Emitter

__all__ = ["VerilogEmitter", "HwSpec", "hw_spec", "emit_verilog", "write_verilog", "tree_plan",
           "compressor_plan", "feature_width", "encoder_constants"]

MIN_FEATURE_BITS = 8


@dataclass
class HwSpec:
    """The interface of an emitted Verilog top (widths of its ports, latency)."""
    name: str
    features: int          # F: number of x fields
    width: int             # W: bits per field
    bits_input: bool       # True: x is the input bit vector
    classes: int           # C
    group: int             # outputs per class
    count_bits: int        # B
    class_bits: int        # K
    pipeline: int          # 0: combinational
    net_depth: int
    latency: int           # cycles (0 when combinational)

    @property
    def x_bits(self) -> int:
        return self.features * self.width

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------ encoder
def encoder_constants(circuit: Circuit, width: int | None = None) -> list[tuple[str, int]]:
    """Per input bit: ('gt', T) for x > T, ('eq', V) for x == V, or ('const', 0/1)."""
    enc = circuit.encoder
    if enc is None:
        return [("bit", i) for i in range(circuit.num_inputs)]
    val32 = enc.value.astype(np.float32).astype(np.float64)
    out = []
    top = None if width is None else (1 << width) - 1
    for op, v in zip(enc.op.tolist(), val32.tolist()):
        if op == 0:                     # gt: x > v  <=>  x > floor(v) for integer x
            t = math.floor(v)
            if t < 0:
                out.append(("const", 1))
            elif top is not None and t >= top:
                out.append(("const", 0))
            else:
                out.append(("gt", t))
        else:                           # eq
            if v != math.floor(v) or v < 0 or (top is not None and v > top):
                out.append(("const", 0))
            else:
                out.append(("eq", int(v)))
    return out


def feature_width(circuit: Circuit) -> int:
    """Bits per feature field: at least 8, and enough that every constant is below 2^W - 1."""
    if circuit.encoder is None:
        return 1
    consts = [c for k, c in encoder_constants(circuit) if k in ("gt", "eq")]
    need = max(consts, default=0) + 1
    return max(MIN_FEATURE_BITS, int(need).bit_length())


def hw_spec(circuit: Circuit, name: str = "gatelearn_model", pipeline: int = 0, width: int | None = None) -> HwSpec:
    """The :class:`HwSpec` of ``circuit``'s Verilog top; an InputError when it cannot be emitted
    (no GroupSum head, a bad module name, a width too small for the thresholds)."""
    if circuit.head is None:
        raise InputError("Verilog export needs a circuit with a GroupSum head (class outputs)")
    if not name.isidentifier():
        raise InputError(f"module name {name!r} is not a Verilog identifier")
    if pipeline < 0:
        raise InputError(f"--pipeline must be >= 0, got {pipeline}")
    need = feature_width(circuit)
    if width is None:
        width = need
    elif circuit.encoder is not None and width < need:
        raise InputError(f"feature width {width} cannot hold the encoder's thresholds; need at least {need} bits")
    C = circuit.head.classes
    group = circuit.num_outputs // C
    depth = circuit.depth()
    stages = max(1, math.ceil(depth / pipeline)) if pipeline else 0
    features = circuit.encoder.num_features if circuit.encoder is not None else circuit.num_inputs
    return HwSpec(name=name, features=features,
                  width=width if circuit.encoder is not None else 1, bits_input=circuit.encoder is None,
                  classes=C, group=group, count_bits=max(1, group.bit_length()),
                  class_bits=max(1, (C - 1).bit_length()), pipeline=pipeline, net_depth=depth,
                  latency=stages + 2 if pipeline else 0)


def tree_plan(n: int) -> list[list[tuple[int, ...]]]:
    """Balanced reduction of n leaves: per level, tuples of indices into the previous level
    (pairs are combined, a single is passed up). Shared by the Verilog and the reference AIG."""
    levels = []
    while n > 1:
        lvl = [(i, i + 1) for i in range(0, n - 1, 2)]
        if n % 2:
            lvl.append((n - 1,))
        levels.append(lvl)
        n = len(lvl)
    return levels


# ------------------------------------------------------------------------------ Verilog text
def _gate_expr(op: int, a: str, b: str) -> str:
    return GATES[op].verilog.format(a=a, b=b)


def _net_lines(circuit: Circuit, src, dst) -> list[str]:
    """Gate wires ``g<k>``; src(node) names an input bit."""
    n = circuit.num_inputs
    name = lambda v: src(v) if v < n else f"g{v - n}"  # noqa: E731
    op, a, b = circuit.op.tolist(), circuit.a.tolist(), circuit.b.tolist()
    lines = [f"  wire g{g} = {_gate_expr(op[g], name(a[g]), name(b[g]))};" for g in range(circuit.num_gates)]
    lines += [f"  assign {dst}[{k}] = {name(o)};" for k, o in enumerate(circuit.outputs.tolist())]
    return lines


def _encoder_lines(circuit: Circuit, spec: HwSpec, dst: str) -> list[str]:
    W = spec.width
    lines = []
    for i, (kind, c) in enumerate(encoder_constants(circuit, W if not spec.bits_input else None)):
        if kind == "bit":
            rhs = f"x[{c}]"
        elif kind == "const":
            rhs = f"1'b{c}"
        else:
            f = int(circuit.encoder.feature[i])
            rhs = f"(x[{f * W} +: {W}] {'>' if kind == 'gt' else '=='} {W}'d{c})"
        lines.append(f"  assign {dst}[{i}] = {rhs};")
    return lines


def compressor_plan(n: int) -> tuple[list[list[tuple]], list[list[tuple | None]]]:
    """The popcount of n bits as a compressor tree, shared by the Verilog and the reference AIG
    (an equivalence checker proves two differently shaped adder trees equal only with great
    effort; with one shape ``cec`` matches them node for node).

    Bits of equal weight form a column; while a column holds three or more bits, groups of up to
    six become their 2- or 3-bit count (bit j goes to the column j places up); one adder then sums
    the last two rows. A count bit depends on at most six bits, so it is one 6-LUT and 6:3
    compression costs about one LUT per input bit: for 800 bits yosys maps this to 815 6-LUTs,
    against 1,286 for a balanced tree of two-operand adders.

    A bit reference is ``("in", i)`` or ``("g", k, j)`` (bit j of group k). Returns ``groups``
    (group k = its 3 to 6 input references, in creation order) and ``rows``: two lists over the
    columns of the final adder, each entry a reference or None for 0.
    """
    cols: dict[int, list[tuple]] = {0: [("in", i) for i in range(n)]}
    groups: list[list[tuple]] = []
    while any(len(col) > 2 for col in cols.values()):
        nxt: dict[int, list[tuple]] = {}
        for w in sorted(cols):
            col, i = cols[w], 0
            while len(col) - i >= 3:
                group = col[i:i + 6]
                i += len(group)
                for j in range(2 if len(group) == 3 else 3):   # bits of a count of 3 / of 4-6 bits
                    nxt.setdefault(w + j, []).append(("g", len(groups), j))
                groups.append(group)
            nxt.setdefault(w, []).extend(col[i:])
        cols = nxt
    width = max(cols, default=0) + 1
    rows = [[cols[w][r] if len(cols.get(w, [])) > r else None for w in range(width)] for r in (0, 1)]
    return groups, rows


def _popcount_lines(spec: HwSpec, bits: str, counts: str) -> list[str]:
    """Per class, the compressor tree of :func:`compressor_plan`. A group's count is written as
    full adders, not ``+``, so yosys keeps each count bit a function of the group's bits."""
    lines = []
    G, B = spec.group, spec.count_bits
    groups, rows = compressor_plan(G)
    for k in range(spec.classes):
        def ref(r, k=k):
            if r is None:
                return "1'b0"
            return f"{bits}[{k * G + r[1]}]" if r[0] == "in" else f"pc{k}_{r[1]}[{r[2]}]"
        for gi, group in enumerate(groups):
            lines += _count_lines(f"pc{k}_{gi}", [ref(r) for r in group])
        width = max(B, len(rows[0]))
        pad = [None] * (width - len(rows[0]))
        a, b = (", ".join(ref(r) for r in reversed(row + pad)) for row in rows)
        # the sum is at most G < 2^B, so its low B bits are the count
        lines.append(f"  wire [{width - 1}:0] pc{k}_sum = {{{a}}} + {{{b}}};")
        lines.append(f"  assign {counts}[{k * B} +: {B}] = pc{k}_sum[{B - 1}:0];")
    return lines


def _count_lines(name: str, group: list[str]) -> list[str]:
    """Wire ``name`` = the number of ones among 3 to 6 bits, from two full adders and their sum
    (the same construction as the reference AIG's, :mod:`gatelearn.verification.reference`)."""
    def full_adder(nm, x, y, z):
        return [f"  wire {nm}_s = {x} ^ {y} ^ {z};", f"  wire {nm}_c = ({x} & {y}) | ({z} & ({x} ^ {y}));"]
    if len(group) == 3:
        return full_adder(f"{name}a", *group) + [f"  wire [1:0] {name} = {{{name}a_c, {name}a_s}};"]
    g = group + ["1'b0"] * (6 - len(group))
    a, b = f"{name}a", f"{name}b"
    return full_adder(a, *g[:3]) + full_adder(b, *g[3:]) + [
        f"  wire {name}_k = {a}_s & {b}_s;",
        f"  wire [2:0] {name} = {{({a}_c & {b}_c) | ({name}_k & ({a}_c ^ {b}_c)), "
        f"{a}_c ^ {b}_c ^ {name}_k, {a}_s ^ {b}_s}};"]


def _argmax_lines(spec: HwSpec, counts: str, out: str) -> list[str]:
    B, K = spec.count_bits, spec.class_bits
    lines = []
    cur = []
    for k in range(spec.classes):
        lines.append(f"  wire [{B - 1}:0] am_v_l_{k} = {counts}[{k * B} +: {B}];")
        lines.append(f"  wire [{K - 1}:0] am_i_l_{k} = {K}'d{k};")
        cur.append(f"l_{k}")
    for lvl, plan in enumerate(tree_plan(spec.classes)):
        nxt = []
        for j, pair in enumerate(plan):
            if len(pair) == 1:
                nxt.append(cur[pair[0]])
                continue
            L, R = cur[pair[0]], cur[pair[1]]
            nm = f"{lvl}_{j}"
            # Right wins only when strictly larger: the lowest index wins ties.
            lines.append(f"  wire am_s_{nm} = am_v_{R} > am_v_{L};")
            lines.append(f"  wire [{B - 1}:0] am_v_{nm} = am_s_{nm} ? am_v_{R} : am_v_{L};")
            lines.append(f"  wire [{K - 1}:0] am_i_{nm} = am_s_{nm} ? am_i_{R} : am_i_{L};")
            nxt.append(nm)
        cur = nxt
    lines.append(f"  assign {out} = am_i_{cur[0]};")
    return lines


def _header(circuit: Circuit, spec: HwSpec) -> list[str]:
    G = circuit.num_gates
    lines = [
        f"// {spec.name}: generated by gatelearn. Logic gate network with GroupSum head.",
        f"//   gate network: {circuit.num_inputs} input bits, {G} gates, {circuit.num_outputs} outputs, "
        f"depth {spec.net_depth}",
        f"//   classes: {spec.classes}, {spec.group} outputs each; counts[k*{spec.count_bits} +: {spec.count_bits}]"
        f" = ones of class k; class_idx = argmax (lowest index on ties)",
    ]
    if spec.bits_input:
        lines.append(f"//   x[{spec.x_bits - 1}:0]: the encoded input bits")
    else:
        lines.append(f"//   x: {spec.features} unsigned {spec.width}-bit features, feature f = x[f*{spec.width} +: "
                     f"{spec.width}]; saturate larger values to {(1 << spec.width) - 1} (exact: every "
                     "threshold is below it)")
    if spec.pipeline:
        lines.append(f"//   pipelined: registers every {spec.pipeline} gate levels "
                     f"({spec.latency - 2} network stages), then popcount and argmax stages.")
        lines.append(f"//   LATENCY = {spec.latency} clock cycles: inputs taken with in_valid at a rising edge "
                     f"appear at class_idx/counts with out_valid {spec.latency} edges later; one input per cycle.")
        lines.append("//   rst (synchronous, active high) clears only the valid pipe.")
    else:
        lines.append("//   combinational (LATENCY = 0 cycles)")
    return lines


def _verilog_text(circuit: Circuit, spec: HwSpec) -> str:
    """The network module and the top, as :class:`VerilogEmitter` emits them."""
    name, pipeline = spec.name, spec.pipeline
    N, O, C, B, K = circuit.num_inputs, circuit.num_outputs, spec.classes, spec.count_bits, spec.class_bits
    out = ["`default_nettype none", *_header(circuit, spec), ""]
    # Network-only module: proven gate for gate against the IR by `gatelearn verify`.
    out += [f"module {name}_net(input wire [{max(N, 1) - 1}:0] in_bits, output wire [{O - 1}:0] out_bits);",
            *_net_lines(circuit, lambda v: f"in_bits[{v}]", "out_bits"), "endmodule", ""]
    ports = [f"input wire [{spec.x_bits - 1}:0] x", f"output wire [{K - 1}:0] class_idx",
             f"output wire [{C * B - 1}:0] counts"]
    if not pipeline:
        out += [f"module {name}(" + ", ".join(ports) + ");",
                "  localparam LATENCY = 0;",
                f"  wire [{max(N, 1) - 1}:0] bits;",
                *_encoder_lines(circuit, spec, "bits"),
                f"  wire [{O - 1}:0] out_bits;",
                f"  {name}_net net(.in_bits(bits), .out_bits(out_bits));",
                *_popcount_lines(spec, "out_bits", "counts"),
                *_argmax_lines(spec, "counts", "class_idx"),
                "endmodule", ""]
        return "\n".join(out)
    out += [f"module {name}(input wire clk, input wire rst, input wire in_valid, output wire out_valid, "
            + ", ".join(ports) + ");",
            f"  localparam LATENCY = {spec.latency};",
            f"  wire [{max(N, 1) - 1}:0] bits;",
            *_encoder_lines(circuit, spec, "bits"),
            *_pipelined_net(circuit, spec),
            f"  wire [{C * B - 1}:0] counts_c;",
            *_popcount_lines(spec, "net_q", "counts_c"),
            f"  reg [{C * B - 1}:0] counts_q;",
            "  always @(posedge clk) counts_q <= counts_c;",
            f"  wire [{K - 1}:0] class_c;",
            *_argmax_lines(spec, "counts_q", "class_c"),
            f"  reg [{K - 1}:0] class_q;",
            f"  reg [{C * B - 1}:0] counts_q2;",
            "  always @(posedge clk) begin class_q <= class_c; counts_q2 <= counts_q; end",
            "  assign class_idx = class_q;",
            "  assign counts = counts_q2;",
            f"  reg [{spec.latency - 1}:0] valid_pipe;",
            f"  always @(posedge clk) valid_pipe <= rst ? {spec.latency}'d0 : "
            f"{{valid_pipe[{spec.latency - 2}:0], in_valid}};",
            f"  assign out_valid = valid_pipe[{spec.latency - 1}];",
            "endmodule", ""]
    return "\n".join(out)


def _pipelined_net(circuit: Circuit, spec: HwSpec) -> list[str]:
    """Gate network with a register boundary after every ``pipeline`` levels.

    Stage of an input bit: 1; of a gate at level L: max(1, ceil(L / N)). An operand from an
    earlier stage is read through a chain of registers ``r<node>_<s>`` (value of the node
    registered at the end of stage s), so every operand arrives after the same number of edges.
    The network outputs are registered at the end of the last stage into ``net_q``.
    """
    N = spec.pipeline
    n = circuit.num_inputs
    level = circuit.node_levels()
    stage = np.maximum(1, -(-level // N))
    last = max(1, spec.latency - 2)
    need: dict[int, int] = {}          # node -> latest stage that reads it

    def want(v: int, s: int):
        if s > stage[v]:
            need[v] = max(need.get(v, 0), s)

    op, a, b = circuit.op.tolist(), circuit.a.tolist(), circuit.b.tolist()
    ua, ub = USES_A[circuit.op].tolist(), USES_B[circuit.op].tolist()
    for g in range(circuit.num_gates):
        s = int(stage[n + g])
        if ua[g]:
            want(a[g], s)
        if ub[g]:
            want(b[g], s)
    outs = circuit.outputs.tolist()
    for o in outs:
        want(o, last)                 # net_q registers the outputs as seen in the last stage

    def base(v: int) -> str:
        return f"bits[{v}]" if v < n else f"g{v - n}"

    def at(v: int, s: int) -> str:
        """Name of node v's value as seen in stage s."""
        sv = int(stage[v])
        return base(v) if s <= sv else f"r{v}_{s - 1}"

    lines = []
    for g in range(circuit.num_gates):
        s = int(stage[n + g])
        lines.append(f"  wire g{g} = {_gate_expr(op[g], at(a[g], s), at(b[g], s))};")
    regs = []
    for v, s_max in sorted(need.items()):
        sv = int(stage[v])
        for s in range(sv, s_max):
            lines.append(f"  reg r{v}_{s};")
            regs.append(f"r{v}_{s} <= {base(v) if s == sv else f'r{v}_{s - 1}'};")
    lines.append(f"  reg [{len(outs) - 1}:0] net_q;")
    regs += [f"net_q[{k}] <= {at(o, last)};" for k, o in enumerate(outs)]
    lines.append("  always @(posedge clk) begin")
    lines += [f"    {r}" for r in regs]
    lines.append("  end")
    return lines


class VerilogEmitter(Emitter):
    """Target ``verilog``: NAME.v with the network module ``NAME_net`` and the top ``NAME``;
    ``info["spec"]`` is its :class:`HwSpec`. Options: ``pipeline`` (0: combinational; N: registers
    every N logic levels) and ``width`` (bits per feature; default the smallest that holds every
    threshold)."""
    target = "verilog"
    default_name = "gatelearn_model"

    def emit(self, circuit: Circuit, name: str | None = None, pipeline: int = 0,
             width: int | None = None) -> Artifacts:
        circuit.validate()
        spec = hw_spec(circuit, name or self.default_name, pipeline, width)
        return Artifacts(spec.name, {f"{spec.name}.v": _verilog_text(circuit, spec)}, {"spec": spec})


def emit_verilog(circuit: Circuit, name: str = "gatelearn_model", pipeline: int = 0,
                 width: int | None = None) -> tuple[str, HwSpec]:
    """Verilog text of the network module ``NAME_net`` and the top ``NAME``; and the HwSpec."""
    art = VerilogEmitter().emit(circuit, name, pipeline, width)
    return art[f"{name}.v"], art.info["spec"]


def write_verilog(circuit: Circuit, path: str | os.PathLike, name: str = "gatelearn_model", pipeline: int = 0,
                  width: int | None = None) -> HwSpec:
    """Write the Verilog of :func:`emit_verilog` to ``path`` (atomically); returns the HwSpec."""
    text, spec = emit_verilog(circuit, name, pipeline, width)
    atomic_write_text(path, text)
    return spec
