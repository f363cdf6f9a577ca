"""Synthesizable Verilog for a circuit: encoder, gate network, per-class popcount, argmax; or,
for a circuit without a GroupSum head, the gate network alone behind one port per input and
output (see *Plain circuits* at the end).

Interface of the top module ``NAME`` (combinational) ::

    input  [F*W-1:0] x           feature f is x[f*W +: W], unsigned fixed point (see below)
                                 (with no encoder: x is the input bit vector, W = 1)
    output [K-1:0]   class_idx   argmax of the class counts, lowest index on ties (as torch/NumPy)
    output [C*B-1:0] counts      ones per class; class k is counts[k*B +: B]

With ``pipeline=N`` (N >= 1) the top also has ``clk``, ``rst`` (synchronous, clears the valid
pipe only), ``in_valid`` and ``out_valid``: registers follow every N logic levels of the gate
network, one more stage holds the network outputs' popcounts and one the argmax, so the latency
is ``ceil(depth / N) + 2`` cycles (written into the module header). Every path from ``x`` to an
output crosses the same number of registers, which ``gatelearn verify`` checks.

Input format (:func:`input_format`; recorded in :class:`HwSpec` and the module header): the model
compares float32 features, the hardware compares integers, so every feature f has ``k_f``
fractional bits and the field holds ``x_hw = min(2^W - 1, ceil(x * 2^k_f))`` for ``x >= 0``. The
hardware value m stands for the number ``m / 2^k_f``, and an encoder bit becomes the comparator
``m > floor(t * 2^k_f)`` (``m == v * 2^k_f`` for a one-hot code), which is what the model computes
on ``m / 2^k_f``. By default ``k_f`` is the smallest that puts every threshold of the feature on
the grid of multiples of ``2^-k_f``: then ``ceil(x * 2^k) > t * 2^k`` exactly when ``x > t``, so the
hardware bits equal the model's for *every* input ``x >= 0`` (integer thresholds, such as MNIST's
127, keep ``k = 0``: the raw uint8 pixel; 0.25 / 0.5 / 0.75 get ``k = 2``; category codes are
integers and keep ``k = 0``). A coarser grid may be asked for (``frac_bits``); the hardware is
then exact only for inputs on the grid (``HwSpec.grid_only`` lists those features), and a grid
too coarse to tell two thresholds apart is refused. W is the smallest width (at least 8, at most
:data:`MAX_FEATURE_BITS`) in which every constant is below ``2^W - 1``: a larger value saturated
to ``2^W - 1`` then gives the same bits.

The gate network is also emitted alone as ``NAME_net`` (``in_bits`` -> ``out_bits``), which the
combinational top instantiates; each gate is the gate table's Verilog expression.

The popcount is a compressor tree (groups of up to six bits -> their count, see
:func:`compressor_plan`), the argmax a balanced comparison tree (:func:`tree_plan`) in which the
right operand wins only when strictly larger; :func:`gatelearn.verification.reference.reference_aig`
builds the same function as an AIG straight from the IR, in the same shape (from the same two
plans), for the equivalence proof.

Plain circuits (no GroupSum head, e.g. one read by ``gatelearn import``; :class:`NetSpec`): the
module ``NAME`` (gatelearn export names it after the circuit, :func:`module_name`) has one 1-bit
``input`` per primary input and one 1-bit ``output`` per output, in the circuit's order and under
its names (``Circuit.input_names`` / ``output_names``): a simple identifier where the name is one,
else an escaped identifier (``\\b[0] ``, ``\\carry.out ``, ``\\1st ``), so yosys and the
simulators see the name itself; a name with spaces, control characters or non-ASCII text is
mangled (:mod:`.common`) and listed in the header. Like AIGER and BLIF it is the gate network
alone: a circuit with an input encoder but no head has its encoded bits as ports. With
``pipeline=N`` the gate network is pipelined exactly as the classifier's (the same
:func:`_pipelined_net`) and the outputs are registered at the end of the last stage: LATENCY =
``max(1, ceil(depth / N))`` cycles, with the same ``clk``, ``rst``, ``in_valid`` and
``out_valid``. The internal names (``g<k>``, ``r<v>_<s>``, ``net_q``, ``valid_pipe``, LATENCY)
get the prefix ``gl_`` (``gl1_``, ...) when a port of the circuit would otherwise share a name
with one of them, and so do those four ports (each group on its own: an output ``g0`` leaves
``clk`` alone); :class:`NetSpec` records the control ports' names.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import numpy as np

from ..circuit.ir import USES_A, USES_B, Circuit
from ..errors import InputError
from ..fileio import atomic_write_text
from ..gates import GATES
from .base import MAX_NAME_LENGTH, VERILOG_KEYWORDS, Artifacts, Emitter, check_name
from .common import PortNames, internal_prefix, name_comments, port_names, verilog_identifier, verilog_text

__all__ = ["VerilogEmitter", "HwSpec", "NetSpec", "hw_spec", "net_spec", "module_name", "emit_verilog",
           "write_verilog", "tree_plan",
           "compressor_plan", "feature_width", "encoder_constants", "input_format", "exact_frac_bits",
           "MIN_FEATURE_BITS", "MAX_FEATURE_BITS"]

MIN_FEATURE_BITS = 8
MAX_FEATURE_BITS = 32      # widest feature field: 32-bit comparators, hex vectors, uint64 arithmetic


@dataclass
class HwSpec:
    """The interface of an emitted Verilog top (widths of its ports, input format, latency)."""
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
    # Input format: feature f's field holds min(2^W - 1, ceil(x_f * 2^frac_bits[f])); empty (a
    # spec written before formats were recorded, or bit inputs) means 0 for every feature.
    frac_bits: list[int] = field(default_factory=list)
    # Features whose bits equal the model's only for inputs on their grid (multiples of
    # 2^-frac_bits[f]); for every other feature they are equal for every input >= 0.
    grid_only: list[int] = field(default_factory=list)

    @property
    def x_bits(self) -> int:
        return self.features * self.width

    @property
    def exact(self) -> bool:
        """True when the hardware bits equal the model's for every input >= 0."""
        return not self.grid_only

    def scale_bits(self) -> list[int]:
        """Fractional bits of every feature (0 when none were recorded)."""
        return list(self.frac_bits) if self.frac_bits else [0] * (0 if self.bits_input else self.features)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------ encoder
def exact_frac_bits(value: float) -> int:
    """The fewest fractional bits k with ``value * 2^k`` an integer (0 for integers and
    infinities): on a grid of multiples of 2^-k the value is a grid point."""
    if not math.isfinite(value):
        return 0
    return Fraction(value).denominator.bit_length() - 1


def _values32(circuit: Circuit) -> list[float]:
    """The encoder's thresholds as the model holds them: float32 (as exact Python floats)."""
    return circuit.encoder.value.astype(np.float32).astype(np.float64).tolist()


def input_format(circuit: Circuit, frac_bits: int | Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """Fractional bits per feature and the features exact only on their grid: ``(k, grid_only)``.

    ``frac_bits`` None: per feature the fewest bits that put each of its thresholds on the grid
    (exact for every input >= 0). An int: at most that many (a coarser grid for features that
    would need more). A sequence: exactly these, one per feature. Category-code features are
    integers, exact with 0 bits (and with any given k); a real feature compared for equality
    (``eq``) is exact only on its grid, as ``ceil`` maps a whole step onto one grid point."""
    enc = circuit.encoder
    if enc is None:
        return [], []
    F = enc.num_features
    cats = enc.categories.tolist()
    need, eq_real = [0] * F, [False] * F
    for f, op, v in zip(enc.feature.tolist(), enc.op.tolist(), _values32(circuit)):
        if cats[f]:
            continue
        if op == 1:
            eq_real[f] = True
        if v >= 0:                     # below 0: a constant for inputs >= 0, on any grid
            need[f] = max(need[f], exact_frac_bits(v))
    if frac_bits is None:
        ks = need
    elif isinstance(frac_bits, (int, np.integer)) and not isinstance(frac_bits, bool):
        if not 0 <= frac_bits <= 64:
            raise InputError(f"--frac-bits must be in 0..64, got {frac_bits}")
        ks = [0 if cats[f] else min(need[f], int(frac_bits)) for f in range(F)]
    else:
        ks = list(frac_bits)
        if len(ks) != F or not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 0 <= k <= 64
                                   for k in ks):
            raise InputError(f"frac_bits must be {F} integers in 0..64 (one per feature), got {frac_bits!r}")
        ks = [int(k) for k in ks]
    grid_only = [f for f in range(F) if not cats[f] and (ks[f] < need[f] or eq_real[f])]
    return ks, grid_only


def _constants(circuit: Circuit, ks: Sequence[int]) -> list[tuple[str, int]]:
    """Per input bit, unsaturated: ('gt', T) for m > T, ('eq', V) for m == V, or ('const', 0/1),
    m being the feature's hardware value (the number m / 2^k)."""
    enc = circuit.encoder
    out = []
    for f, op, v in zip(enc.feature.tolist(), enc.op.tolist(), _values32(circuit)):
        k = ks[f]
        if op == 0:                     # m / 2^k > v  <=>  m > floor(v * 2^k) for integer m
            if math.isinf(v):
                out.append(("const", int(v < 0)))
                continue
            t = math.floor(math.ldexp(v, k))      # exact: scaling by a power of two
            out.append(("const", 1) if t < 0 else ("gt", t))
        else:                           # m / 2^k == v  <=>  m == v * 2^k, an integer >= 0
            t = math.ldexp(v, k) if math.isfinite(v) else -1.0
            out.append(("eq", int(t)) if t >= 0 and t == math.floor(t) else ("const", 0))
    return out


def encoder_constants(circuit: Circuit, width: int | None = None,
                      frac_bits: Sequence[int] | None = None) -> list[tuple[str, int]]:
    """Per input bit: ('gt', T) for x_hw > T, ('eq', V) for x_hw == V, ('const', 0/1), or ('bit',
    i) without an encoder; ``frac_bits`` per feature (default: :func:`input_format`'s exact
    format), constants past ``2^width - 1`` saturated."""
    if circuit.encoder is None:
        return [("bit", i) for i in range(circuit.num_inputs)]
    ks = input_format(circuit)[0] if frac_bits is None else list(frac_bits)
    top = None if width is None else (1 << width) - 1
    out = []
    for kind, c in _constants(circuit, ks):
        if top is not None and ((kind == "gt" and c >= top) or (kind == "eq" and c > top)):
            out.append(("const", 0))
        else:
            out.append((kind, c))
    return out


def _check_distinct(circuit: Circuit, ks: Sequence[int], consts: list[tuple[str, int]]) -> None:
    """Refuse a grid so coarse that two thresholds of a feature become one comparator, or a
    one-hot value of a real feature falls between grid points: the hardware could not compute
    what the model does on inputs between them."""
    enc = circuit.encoder
    seen: dict[tuple[int, int], float] = {}
    for f, op, v, (kind, c) in zip(enc.feature.tolist(), enc.op.tolist(), _values32(circuit), consts):
        k = ks[f]
        if kind == "gt" and not enc.categories[f]:     # category codes are integers: no input between
            other = seen.setdefault((f, c), v)
            if other != v:
                a, b = sorted((other, v))
                k_min = max(exact_frac_bits(x) for x in (a, b))
                k_min = next(j for j in range(k, k_min + 1)
                             if math.floor(math.ldexp(a, j)) != math.floor(math.ldexp(b, j)))
                raise InputError(f"feature {f}: thresholds {a!r} and {b!r} fall between the same two hardware "
                                 f"values with {k} fractional bits (x_hw = ceil(x * 2^{k})), so the hardware "
                                 f"cannot tell them apart; use at least {k_min} fractional bits (--frac-bits "
                                 f"{k_min}), or leave --frac-bits unset for the exact format")
        elif op == 1 and not enc.categories[f] and kind == "const" and math.isfinite(v) and v >= 0:
            raise InputError(f"feature {f}: one-hot value {v!r} is not a multiple of 2^-{k}, so no hardware value "
                             f"stands for it; use at least {exact_frac_bits(v)} fractional bits (--frac-bits)")


def feature_width(circuit: Circuit, frac_bits: Sequence[int] | None = None) -> int:
    """Bits per feature field: at least 8, and enough that every constant is below 2^W - 1
    (``frac_bits`` per feature; default the exact format of :func:`input_format`)."""
    if circuit.encoder is None:
        return 1
    consts = [c for k, c in encoder_constants(circuit, None, frac_bits) if k in ("gt", "eq")]
    need = max(consts, default=0) + 1
    return max(MIN_FEATURE_BITS, int(need).bit_length())


def _too_wide(circuit: Circuit, ks: Sequence[int], consts: list[tuple[str, int]], bits: int) -> InputError:
    """The error for a format wider than MAX_FEATURE_BITS, naming the feature and thresholds."""
    i = max((j for j, (kind, _) in enumerate(consts) if kind in ("gt", "eq")), key=lambda j: consts[j][1])
    enc = circuit.encoder
    f = int(enc.feature[i])
    values = _values32(circuit)
    v, k = values[i], ks[f]
    # the threshold that asks for the fractional bits, when it is not the largest one
    fine = max((values[j] for j in np.flatnonzero(enc.feature == f) if values[j] >= 0),
               key=exact_frac_bits, default=v)
    why = (f"threshold {fine!r} needs {k} fractional bits to be exact (x_hw = ceil(x * 2^{k})), and with them "
           f"threshold {v!r} needs a {bits}-bit hardware input" if k and fine != v else
           f"threshold {v!r} needs a {bits}-bit hardware input (x_hw = ceil(x * 2^{k}))")
    hint = (f"export with --frac-bits K, K < {k} (a coarser grid; the hardware is then exact only for inputs on it)"
            if k else "thresholds this large cannot be compared in fixed-point hardware inputs")
    return InputError(f"feature {f}: {why}; at most {MAX_FEATURE_BITS} bits are supported: {hint}")


def hw_spec(circuit: Circuit, name: str = "gatelearn_model", pipeline: int = 0, width: int | None = None,
            frac_bits: int | Sequence[int] | None = None) -> HwSpec:
    """The :class:`HwSpec` of ``circuit``'s Verilog top; an InputError when it cannot be emitted
    (no GroupSum head, a bad module name, a width too small for the thresholds, an input format
    that cannot tell two thresholds apart or needs more than :data:`MAX_FEATURE_BITS` bits).
    ``frac_bits``: see :func:`input_format` (default: exact for every input >= 0)."""
    if circuit.head is None:
        raise InputError("Verilog export needs a circuit with a GroupSum head (class outputs)")
    check_name(name, "verilog")
    if isinstance(pipeline, bool) or not isinstance(pipeline, (int, np.integer)) or pipeline < 0:
        raise InputError(f"--pipeline must be an integer >= 0, got {pipeline}")
    ks, grid_only = input_format(circuit, frac_bits)
    if circuit.encoder is not None:
        consts = _constants(circuit, ks)
        _check_distinct(circuit, ks, consts)
        need = feature_width(circuit, ks)
        if need > MAX_FEATURE_BITS:
            raise _too_wide(circuit, ks, consts, need)
        if width is None:
            width = need
        elif not need <= width <= MAX_FEATURE_BITS:
            raise InputError(f"feature width {width} cannot hold the encoder's thresholds; need {need}.."
                             f"{MAX_FEATURE_BITS} bits")
    C = circuit.head.classes
    group = circuit.num_outputs // C
    depth = circuit.depth()
    stages = max(1, math.ceil(depth / pipeline)) if pipeline else 0
    features = circuit.encoder.num_features if circuit.encoder is not None else circuit.num_inputs
    return HwSpec(name=name, features=features,
                  width=width if circuit.encoder is not None else 1, bits_input=circuit.encoder is None,
                  classes=C, group=group, count_bits=max(1, group.bit_length()),
                  class_bits=max(1, (C - 1).bit_length()), pipeline=int(pipeline), net_depth=depth,
                  latency=stages + 2 if pipeline else 0, frac_bits=ks, grid_only=grid_only)


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


def _net_lines(circuit: Circuit, src, dst, p: str = "") -> list[str]:
    """Gate wires ``{p}g<k>`` and the outputs' assignments; src(node) names an input bit, dst is
    the output vector (output k is ``dst[k]``) or a function naming output k."""
    n = circuit.num_inputs
    name = lambda v: src(v) if v < n else f"{p}g{v - n}"  # noqa: E731
    out = (lambda k: f"{dst}[{k}]") if isinstance(dst, str) else dst  # noqa: E731
    op, a, b = circuit.op.tolist(), circuit.a.tolist(), circuit.b.tolist()
    lines = [f"  wire {p}g{g} = {_gate_expr(op[g], name(a[g]), name(b[g]))};" for g in range(circuit.num_gates)]
    lines += [f"  assign {out(k)} = {name(o)};" for k, o in enumerate(circuit.outputs.tolist())]
    return lines


def _encoder_lines(circuit: Circuit, spec: HwSpec, dst: str) -> list[str]:
    W = spec.width
    lines = []
    consts = encoder_constants(circuit, None if spec.bits_input else W, None if spec.bits_input else spec.scale_bits())
    for i, (kind, c) in enumerate(consts):
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
        lines += format_lines(spec)
    if spec.pipeline:
        lines.append(f"//   pipelined: registers every {spec.pipeline} gate levels "
                     f"({spec.latency - 2} network stages), then popcount and argmax stages.")
        lines.append(f"//   LATENCY = {spec.latency} clock cycles: inputs taken with in_valid at a rising edge "
                     f"appear at class_idx/counts with out_valid {spec.latency} edges later; one input per cycle.")
        lines.append("//   rst (synchronous, active high) clears only the valid pipe.")
    else:
        lines.append("//   combinational (LATENCY = 0 cycles)")
    return lines


def _runs(features: Sequence[int]) -> str:
    """0-3, 7, 9-10: consecutive feature indices as ranges."""
    out, i = [], 0
    f = list(features)
    while i < len(f):
        j = i
        while j + 1 < len(f) and f[j + 1] == f[j] + 1:
            j += 1
        out.append(str(f[i]) if i == j else f"{f[i]}-{f[j]}")
        i = j + 1
    return ", ".join(out)


def format_lines(spec: HwSpec) -> list[str]:
    """The header's description of the input format (comment lines)."""
    W = spec.width
    ks = spec.scale_bits()
    lines = [f"//   x: {spec.features} features of {W} bits, feature f = x[f*{W} +: {W}], unsigned fixed point with "
             "k_f fractional bits:",
             f"//      feed x_hw = min({(1 << W) - 1}, ceil(x_f * 2^k_f)) for x_f >= 0 (x_f as float32, the model's "
             "precision); x_hw stands for x_hw / 2^k_f"]
    by_k: dict[int, list[int]] = {}
    for f, k in enumerate(ks):
        by_k.setdefault(k, []).append(f)
    for k, fs in sorted(by_k.items()):
        what = "every feature" if len(fs) == spec.features else f"features {_runs(fs)}"
        lines.append(f"//      k = {k} for {what}")
    if spec.exact:
        lines.append("//      exact: for every input >= 0 the encoder bits equal the model's float32 comparisons")
    else:
        lines.append(f"//      exact only on the grid (inputs that are multiples of 2^-k_f) for features "
                     f"{_runs(spec.grid_only)}; elsewhere exact for every input >= 0")
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
            *_pipelined_net(circuit, spec.pipeline, max(1, spec.latency - 2), lambda v: f"bits[{v}]"),
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


def _pipelined_net(circuit: Circuit, pipeline: int, last: int, src, p: str = "", clock: str = "clk") -> list[str]:
    """Gate network with a register boundary after every ``pipeline`` levels: the one pipeline
    of both kinds of top (the classifier's and a plain circuit's).

    Stage of an input bit: 1; of a gate at level L: max(1, ceil(L / N)). An operand from an
    earlier stage is read through a chain of registers ``{p}r<node>_<s>`` (value of the node
    registered at the end of stage s), so every operand arrives after the same number of edges.
    The network outputs are registered at the end of stage ``last`` (the last one) into
    ``{p}net_q``: every output is ``last`` clock edges behind the inputs. ``src(v)`` names input
    bit v; gates are wires ``{p}g<k>``; ``clock`` is the clock's name.
    """
    N = pipeline
    n = circuit.num_inputs
    level = circuit.node_levels()
    stage = np.maximum(1, -(-level // N))
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
        return src(v) if v < n else f"{p}g{v - n}"

    def at(v: int, s: int) -> str:
        """Name of node v's value as seen in stage s."""
        sv = int(stage[v])
        return base(v) if s <= sv else f"{p}r{v}_{s - 1}"

    lines = []
    for g in range(circuit.num_gates):
        s = int(stage[n + g])
        lines.append(f"  wire {p}g{g} = {_gate_expr(op[g], at(a[g], s), at(b[g], s))};")
    regs = []
    for v, s_max in sorted(need.items()):
        sv = int(stage[v])
        for s in range(sv, s_max):
            lines.append(f"  reg {p}r{v}_{s};")
            regs.append(f"{p}r{v}_{s} <= {base(v) if s == sv else f'{p}r{v}_{s - 1}'};")
    if outs:
        lines.append(f"  reg [{len(outs) - 1}:0] {p}net_q;")
        regs += [f"{p}net_q[{k}] <= {at(o, last)};" for k, o in enumerate(outs)]
    if regs:
        lines.append(f"  always @(posedge {clock}) begin")
        lines += [f"    {r}" for r in regs]
        lines.append("  end")
    return lines


# ------------------------------------------------------------------------------ plain circuits
@dataclass
class NetSpec:
    """The interface of the Verilog module of a circuit without a GroupSum head: one 1-bit port
    per input and output, named ``inputs`` / ``outputs`` (Verilog identifier texts, see
    :func:`gatelearn.backends.common.verilog_text`; ``mangled`` maps those that differ from the
    circuit's names back to them). Pipelined (``pipeline`` N >= 1): ports ``clock``, ``reset``,
    ``in_valid``, ``out_valid`` too, every output ``latency`` cycles behind the inputs."""
    name: str
    inputs: list[str]
    outputs: list[str]
    pipeline: int          # 0: combinational
    net_depth: int
    latency: int           # cycles (0 when combinational)
    clock: str = "clk"
    reset: str = "rst"
    in_valid: str = "in_valid"
    out_valid: str = "out_valid"
    mangled: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# The names the plain module declares besides the circuit's ports: its wires and registers, and its
# control ports. A port of the circuit called like one of a group moves that group to a prefix
# (internal_prefix); the two groups cannot meet, whatever their prefixes.
_INTERNAL_NAMES = r"g\d+|r\d+_\d+|net_q|valid_pipe|LATENCY"
_CONTROL_NAMES = r"clk|rst|in_valid|out_valid"


MODULE_NAME_LENGTH = MAX_NAME_LENGTH - 36      # a module name made from a circuit's name


def module_name(circuit: Circuit, default: str = "gatelearn_model") -> str:
    """A Verilog module name for ``circuit``: its own name (``Circuit.name``) made a valid one
    (:func:`gatelearn.backends.base.check_name`): every character other than an ASCII letter,
    digit or '_' becomes '_', a leading digit gets a '_' before it, a keyword a '_' after it, and
    it is cut to :data:`MODULE_NAME_LENGTH` characters (room for the suffixes export adds,
    ``_pipe12``, ``_tb``). ``default`` when the circuit has no name."""
    if circuit.name is None:
        return default
    name = re.sub(r"[^A-Za-z0-9_]", "_", circuit.name)
    if name[0].isdigit():
        name = "_" + name
    name = name[:MODULE_NAME_LENGTH]
    if name in VERILOG_KEYWORDS:
        name += "_"
    return name


def net_spec(circuit: Circuit, name: str = "gatelearn_model", pipeline: int = 0) -> NetSpec:
    """The :class:`NetSpec` of the plain Verilog module of ``circuit`` (which has no GroupSum
    head); an InputError for a bad module name or pipeline, or port names Verilog cannot tell
    apart (two ports of one name)."""
    if circuit.head is not None:
        raise InputError("this circuit has a GroupSum head: its Verilog is the classifier (hw_spec)")
    check_name(name, "verilog")
    if isinstance(pipeline, bool) or not isinstance(pipeline, (int, np.integer)) or pipeline < 0:
        raise InputError(f"--pipeline must be an integer >= 0, got {pipeline}")
    names = port_names(circuit, verilog_text, "Verilog", shared="never")
    p = internal_prefix(names.inputs + names.outputs, _CONTROL_NAMES)
    depth = circuit.depth()
    latency = max(1, math.ceil(depth / pipeline)) if pipeline else 0
    return NetSpec(name=name, inputs=names.inputs, outputs=names.outputs, pipeline=int(pipeline), net_depth=depth,
                   latency=latency, clock=f"{p}clk", reset=f"{p}rst", in_valid=f"{p}in_valid",
                   out_valid=f"{p}out_valid", mangled=names.mangled)


def _netlist_text(circuit: Circuit, spec: NetSpec) -> str:
    """The plain module of :class:`NetSpec` ``spec`` (see the module docstring)."""
    p = internal_prefix(spec.inputs + spec.outputs, _INTERNAL_NAMES)
    ins = [verilog_identifier(t) for t in spec.inputs]
    outs = [verilog_identifier(t) for t in spec.outputs]
    what = f"{circuit.num_inputs} inputs, {circuit.num_gates} gates, {circuit.num_outputs} outputs, depth " \
           f"{spec.net_depth}"
    lines = ["`default_nettype none",
             f"// {spec.name}: generated by gatelearn. A logic circuit without a classifier head: {what}.",
             "//   one 1-bit port per input and output, in the circuit's order and under its names"]
    if circuit.encoder is not None:
        lines.append("//   the inputs are the encoder's bits: the input encoder is not part of this module")
    if circuit.name is not None:
        lines.append(f"//   circuit name: {json.dumps(circuit.name, ensure_ascii=True)}")
    if spec.mangled:
        lines.append("//   ports whose names Verilog cannot hold are percent-encoded (written name: the circuit's):")
        lines += ["//   " + line for line in name_comments(PortNames(spec.inputs, spec.outputs, spec.mangled))]
    ports = [f"  input wire {i}" for i in ins] + [f"  output wire {o}" for o in outs]
    L = spec.latency
    if not spec.pipeline:
        lines.append("//   combinational (LATENCY = 0 cycles)")
        lines += [f"module {spec.name}(", ",\n".join(ports), ");", f"  localparam {p}LATENCY = 0;",
                  *_net_lines(circuit, lambda v: ins[v], lambda k: outs[k], p), "endmodule", ""]
        return "\n".join(lines)
    lines += [f"//   pipelined: registers every {spec.pipeline} gate levels, the outputs registered at the end of the "
              f"last stage.",
              f"//   LATENCY = {L} clock cycles: inputs taken with {spec.in_valid} at a rising edge of {spec.clock} "
              f"appear at the outputs with {spec.out_valid} {L} edges later; one input per cycle.",
              f"//   {spec.reset} (synchronous, active high) clears only the valid pipe."]
    control = [f"  input wire {spec.clock}", f"  input wire {spec.reset}", f"  input wire {spec.in_valid}",
               f"  output wire {spec.out_valid}"]
    shift = f"{spec.in_valid}" if L == 1 else f"{{{p}valid_pipe[{L - 2}:0], {spec.in_valid}}}"
    lines += [f"module {spec.name}(", ",\n".join(control + ports), ");", f"  localparam {p}LATENCY = {L};",
              *_pipelined_net(circuit, spec.pipeline, L, lambda v: ins[v], p, spec.clock),
              *[f"  assign {o} = {p}net_q[{k}];" for k, o in enumerate(outs)],
              f"  reg [{L - 1}:0] {p}valid_pipe;",
              f"  always @(posedge {spec.clock}) {p}valid_pipe <= {spec.reset} ? {L}'d0 : {shift};",
              f"  assign {spec.out_valid} = {p}valid_pipe[{L - 1}];",
              "endmodule", ""]
    return "\n".join(lines)


class VerilogEmitter(Emitter):
    """Target ``verilog``: NAME.v. For a circuit with a GroupSum head, the network module
    ``NAME_net`` and the classifier top ``NAME``, ``info["spec"]`` its :class:`HwSpec`; without a
    head, the plain module ``NAME`` (one port per input and output), ``info["spec"]`` its
    :class:`NetSpec`. Options: ``pipeline`` (0: combinational; N: registers every N logic
    levels), and for a classifier ``width`` (bits per feature; default the smallest that holds
    every threshold) and ``frac_bits`` (the input format, see :func:`input_format`; default
    exact)."""
    target = "verilog"
    default_name = "gatelearn_model"

    def emit(self, circuit: Circuit, name: str | None = None, pipeline: int = 0,
             width: int | None = None, frac_bits: int | Sequence[int] | None = None) -> Artifacts:
        name = self.checked_name(name)
        circuit.validate()
        if circuit.head is None:
            if width is not None or frac_bits is not None:
                raise InputError("--frac-bits and the feature width set the input format of a classifier's encoder; "
                                 "this circuit has no GroupSum head, its Verilog ports are its input bits")
            net = net_spec(circuit, name, pipeline)
            return Artifacts(net.name, {f"{net.name}.v": _netlist_text(circuit, net)}, {"spec": net})
        spec = hw_spec(circuit, name, pipeline, width, frac_bits)
        return Artifacts(spec.name, {f"{spec.name}.v": _verilog_text(circuit, spec)}, {"spec": spec})


def emit_verilog(circuit: Circuit, name: str = "gatelearn_model", pipeline: int = 0, width: int | None = None,
                 frac_bits: int | Sequence[int] | None = None) -> tuple[str, HwSpec | NetSpec]:
    """Verilog text of the network module ``NAME_net`` and the top ``NAME``, and the HwSpec; for a
    circuit without a head the plain module ``NAME`` and its NetSpec."""
    art = VerilogEmitter().emit(circuit, name, pipeline, width, frac_bits)
    return art[f"{name}.v"], art.info["spec"]


def write_verilog(circuit: Circuit, path: str | os.PathLike, name: str = "gatelearn_model", pipeline: int = 0,
                  width: int | None = None, frac_bits: int | Sequence[int] | None = None) -> HwSpec | NetSpec:
    """Write the Verilog of :func:`emit_verilog` to ``path`` (atomically); returns its spec."""
    text, spec = emit_verilog(circuit, name, pipeline, width, frac_bits)
    atomic_write_text(path, text)
    return spec
