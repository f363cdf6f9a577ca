"""Reference AIGs: the whole function of an emitted Verilog top (x -> class_idx, counts), built
as an AIG straight from the IR, for ABC's ``cec`` against the synthesized Verilog.

An equivalence checker proves two differently shaped adder trees equal only with great effort;
with one shape ``cec`` matches them node for node. So the reference is built in the Verilog's
shape, from the same plans: the popcount's compressor tree (:func:`~gatelearn.backends.verilog.compressor_plan`,
each group's count from two full adders and their sum, as the Verilog's ``_count_lines``) with a
ripple-carry adder at the end, and the argmax's comparison tree
(:func:`~gatelearn.backends.verilog.tree_plan`).
"""
from __future__ import annotations

from ..backends.aiger import AigBuilder, circuit_to_aig
from ..backends.verilog import HwSpec, compressor_plan, encoder_constants, tree_plan
from ..circuit.ir import Circuit

__all__ = ["reference_aig"]


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
    alone: comparators from the encoder table, the IR's gates, the popcounts' compressor trees
    (:func:`compressor_plan`) with a ripple-carry adder at the end, the argmax tree. Port bit
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
        for i, (kind, c) in enumerate(encoder_constants(circuit, W)):
            f = int(circuit.encoder.feature[i])
            field = xl[f * W:(f + 1) * W]
            if kind == "const":
                bits.append(c)
            elif kind == "gt":
                acc = 0                       # x[j:0] > c[j:0], built from the LSB up
                for j in range(W):
                    acc = g.and_(field[j], acc) if (c >> j) & 1 else g.or_(field[j], acc)
                bits.append(acc)
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
