"""Reference AIGs: the whole function of an emitted Verilog top (x -> class_idx, counts), built
as an AIG straight from the IR, for ABC's ``cec`` against the synthesized Verilog.

An equivalence checker proves two differently shaped adder trees equal only with great effort;
with one shape ``cec`` matches them node for node. So the reference is built in the Verilog's
shape, from the same plans: the popcount's compressor tree (:func:`~gatelearn.backends.verilog.compressor_plan`,
each group's count from two full adders and their sum, as the Verilog's ``_count_lines``) with a
ripple-carry adder at the end, and the argmax's comparison tree
(:func:`~gatelearn.backends.verilog.tree_plan`).

The encoder is not taken from the emitter: :func:`hardware_rules` states, from the *model's*
float32 thresholds and the input format the design claims (fractional bits per feature, width),
what the model computes for each hardware input value m, the number ``m / 2^k`` (exact rational
arithmetic, no floating-point rounding). So a wrong comparator constant in the emitter, or a
format that cannot represent the model, fails the proof. :func:`format_problems` checks the
format's claims (exactness on every input, thresholds told apart) against the model too.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..backends.aiger import AigBuilder, circuit_to_aig
from ..backends.verilog import HwSpec, compressor_plan, tree_plan
from ..circuit.ir import Circuit

__all__ = ["reference_aig", "hardware_rules", "hardware_bits", "format_problems"]


def _model_value(v: float) -> Fraction | float:
    """A threshold as the model holds it (float32), as an exact rational (infinities as floats)."""
    v32 = float(np.float32(v))
    return Fraction(v32) if math.isfinite(v32) else v32


def hardware_rules(circuit: Circuit, spec: HwSpec) -> list[tuple[str, int]]:
    """What the model computes for each input bit, as a function of the hardware value m of its
    feature (0 <= m < 2^W, standing for m / 2^k with k the feature's fractional bits):
    ('ge', M): 1 exactly when m >= M; ('eq', V): when m == V; ('const', b): always b; ('bit', i):
    x bit i (no encoder). Derived from the model's float32 thresholds alone (not from the
    emitter's constants): ``m / 2^k > t`` holds for m >= M = the smallest integer above t * 2^k."""
    if spec.bits_input or circuit.encoder is None:
        return [("bit", i) for i in range(circuit.num_inputs)]
    enc = circuit.encoder
    ks = spec.scale_bits()
    top = (1 << spec.width) - 1
    rules = []
    for f, op, v in zip(enc.feature.tolist(), enc.op.tolist(), enc.value.tolist()):
        t = _model_value(v)
        scale = Fraction(2) ** ks[f]
        if op == 0:                                   # model: x > t
            if isinstance(t, float):                  # +inf: never; -inf: always
                rules.append(("const", int(t < 0)))
                continue
            lo = math.floor(t * scale) + 1            # smallest m with m / 2^k > t
            rules.append(("const", 1) if lo <= 0 else ("const", 0) if lo > top else ("ge", lo))
        else:                                         # model: x == t
            target = None if isinstance(t, float) else t * scale
            ok = target is not None and target.denominator == 1 and 0 <= target <= top
            rules.append(("eq", int(target)) if ok else ("const", 0))
    return rules


def hardware_bits(circuit: Circuit, spec: HwSpec, hx: np.ndarray) -> np.ndarray:
    """The model's encoder bits (N, num_inputs) for hardware values ``hx`` (N, features), by
    :func:`hardware_rules`: the golden bits of testbenches."""
    hx = np.asarray(hx, np.uint64)
    bits = np.zeros((len(hx), circuit.num_inputs), bool)
    feature = circuit.encoder.feature if circuit.encoder is not None and not spec.bits_input else None
    for i, (kind, c) in enumerate(hardware_rules(circuit, spec)):
        if kind == "bit":
            bits[:, i] = hx[:, c] != 0
            continue
        col = hx[:, int(feature[i])]
        bits[:, i] = bool(c) if kind == "const" else (col >= np.uint64(c)) if kind == "ge" else (col == np.uint64(c))
    return bits


def format_problems(circuit: Circuit, spec: HwSpec) -> list[str]:
    """What is wrong with the input format ``spec`` claims for the model ``circuit``, checked
    against the model's float32 thresholds: a feature claimed exact (not in ``grid_only``) whose
    threshold is off its grid (an input between grid points would be rounded across it) or whose
    largest constant does not stay below the saturation value; two distinct thresholds of a
    real-valued feature that no hardware value tells apart. Empty when the claims hold."""
    if spec.bits_input or circuit.encoder is None:
        return []
    enc = circuit.encoder
    F = enc.num_features
    if spec.frac_bits and len(spec.frac_bits) != F:
        return [f"the format lists {len(spec.frac_bits)} features' fractional bits; the model has {F} features"]
    ks = spec.scale_bits()
    top = (1 << spec.width) - 1
    grid_only = set(spec.grid_only)
    problems: list[str] = []
    first_m: dict[tuple[int, int], Fraction] = {}
    cats = enc.categories.tolist()
    for f, op, v, rule in zip(enc.feature.tolist(), enc.op.tolist(), enc.value.tolist(), hardware_rules(circuit, spec)):
        t = _model_value(v)
        if isinstance(t, float):
            continue
        scaled = t * Fraction(2) ** ks[f]
        exact_claimed = f not in grid_only
        if cats[f]:
            # category codes 0..n-1 must keep their own hardware values
            if exact_claimed and (cats[f] - 1) * 2 ** ks[f] > top:
                problems.append(f"feature {f}: category code {cats[f] - 1} does not fit {spec.width} bits with "
                                f"{ks[f]} fractional bits")
            continue
        if t < 0:
            continue                      # constant for every input >= 0
        if exact_claimed and op == 1:
            problems.append(f"feature {f}: a real-valued feature compared for equality (with {v!r}) is exact only on "
                            "its grid, but the format claims every input")
        elif exact_claimed and scaled.denominator != 1:
            problems.append(f"feature {f}: threshold {float(t)!r} is not a multiple of 2^-{ks[f]}, so an input "
                            "between grid points is rounded across it, but the format claims every input")
        elif exact_claimed and scaled >= top:
            problems.append(f"feature {f}: threshold {float(t)!r} is not below the saturation value {top} / 2^{ks[f]}")
        if op == 0 and rule[0] == "ge":
            other = first_m.setdefault((f, rule[1]), t)
            if other != t:
                problems.append(f"feature {f}: thresholds {float(other)!r} and {float(t)!r} are the same comparator "
                                f"with {ks[f]} fractional bits; the hardware cannot tell them apart")
    return problems


def _ripple_add(g: AigBuilder, x: list[int], y: list[int], width: int) -> list[int]:
    x = x + [0] * (width - len(x))
    y = y + [0] * (width - len(y))
    out, carry = [], 0
    for i in range(width):
        s = g.xor_(g.xor_(x[i], y[i]), carry)
        carry = g.or_(g.and_(x[i], y[i]), g.and_(carry, g.xor_(x[i], y[i])))
        out.append(s)
    return out


def _count_aig(g: AigBuilder, bits: list[int]) -> list[int]:
    """The count of 3 to 6 literals, little-endian: two full adders and their sum, as in the
    Verilog's ``_count_lines``."""
    def full_adder(x, y, z):
        return g.xor_(g.xor_(x, y), z), g.or_(g.and_(x, y), g.and_(z, g.xor_(x, y)))
    if len(bits) == 3:
        return list(full_adder(*bits))
    b = bits + [0] * (6 - len(bits))
    (sa, ca), (sb, cb) = full_adder(*b[:3]), full_adder(*b[3:])
    k = g.and_(sa, sb)
    return [g.xor_(sa, sb), g.xor_(g.xor_(ca, cb), k), g.or_(g.and_(ca, cb), g.and_(k, g.xor_(ca, cb)))]


def _greater(g: AigBuilder, x: list[int], y: list[int]) -> int:
    """x > y for unsigned little-endian literal vectors of equal length."""
    gt = 0
    for xi, yi in zip(x, y):
        # gt over bits [i:0]: x_i & ~y_i, or equal bit i and gt below.
        eq = g.xor_(xi, yi) ^ 1
        gt = g.or_(g.and_(xi, yi ^ 1), g.and_(eq, gt))
    return gt


def reference_aig(circuit: Circuit, spec: HwSpec, extra_inputs: tuple[str, ...] = ()) -> bytes:
    """The whole design's function (x -> class_idx, counts) as binary AIGER, built from the IR
    alone: comparators from the model's thresholds (:func:`hardware_rules`), the IR's gates, the
    popcounts' compressor trees (:func:`compressor_plan`) with a ripple-carry adder at the end,
    the argmax tree. Port bit
    names follow yosys' BLIF naming (``x[3]``, ``counts[7]``), so ABC's ``cec`` matches the
    synthesized Verilog by name."""
    W = spec.width
    n_x = spec.x_bits
    g = AigBuilder(n_x + len(extra_inputs))
    xl = [g.input(i) for i in range(n_x)]
    if spec.bits_input:
        bits = xl[:circuit.num_inputs]
    else:
        bits = []
        for i, (kind, c) in enumerate(hardware_rules(circuit, spec)):
            f = int(circuit.encoder.feature[i])
            field = xl[f * W:(f + 1) * W]
            if kind == "const":
                bits.append(c)
            elif kind == "ge":
                # m >= c: the carry out of m + ~c + 1, rippled from the LSB up
                carry = 1
                for j in range(W):
                    carry = g.and_(field[j], carry) if (c >> j) & 1 else g.or_(field[j], carry)
                bits.append(carry)
            else:
                acc = 1
                for j in range(W):
                    acc = g.and_(acc, field[j] if (c >> j) & 1 else field[j] ^ 1)
                bits.append(acc)
    _, outs = circuit_to_aig(circuit, g, bits)
    G, B = spec.group, spec.count_bits
    counts = []
    groups, rows = compressor_plan(G)
    for k in range(spec.classes):
        made: list[list[int]] = []

        def lit(r, k=k, made=made):
            return 0 if r is None else outs[k * G + r[1]] if r[0] == "in" else made[r[1]][r[2]]
        for group in groups:
            made.append(_count_aig(g, [lit(r) for r in group]))
        width = max(B, len(rows[0]))
        total = _ripple_add(g, [lit(r) for r in rows[0]], [lit(r) for r in rows[1]], width)
        counts.append(total[:B])
    K = spec.class_bits
    cur = [(counts[k], [(k >> j) & 1 for j in range(K)]) for k in range(spec.classes)]
    for plan in tree_plan(spec.classes):
        nxt = []
        for pair in plan:
            if len(pair) == 1:
                nxt.append(cur[pair[0]])
                continue
            (lv, li), (rv, ri) = cur[pair[0]], cur[pair[1]]
            s = _greater(g, rv, lv)
            nxt.append(([g.mux(s, r, l) for r, l in zip(rv, lv)], [g.mux(s, r, l) for r, l in zip(ri, li)]))
        cur = nxt
    out_lits = list(cur[0][1]) + [lit for v in counts for lit in v]
    out_names = [f"class_idx[{j}]" if K > 1 else "class_idx" for j in range(K)] + \
                [f"counts[{j}]" for j in range(spec.classes * B)]
    in_names = [f"x[{i}]" if n_x > 1 else "x" for i in range(n_x)] + list(extra_inputs)
    return g.to_bytes(out_lits, in_names, out_names, f"gatelearn reference for {spec.name}")
