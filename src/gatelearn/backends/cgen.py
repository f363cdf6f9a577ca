"""Standalone C99 from a circuit: bit-sliced across samples, with the encoder, the GroupSum
counters and the argmax in C.

Layout of the generated code (``NAME.c`` + ``NAME.h``; the API is documented in the header):

* A *word* holds one bit per sample: ``GL_WORD_BITS`` samples at once (GCC vector extension
  ``uint64_t __attribute__((vector_size(64)))`` for 512, so the compiler emits AVX-512 / AVX2 /
  SSE as the target allows; ``-DGL_PORTABLE`` gives plain ``uint64_t``). Lane l of a word (its
  l-th 64-bit element) holds samples 64*l .. 64*l+63 of the block, sample 64*l+r at bit r.
* Encoding: each input bit is ``lo <= x[feature] <= hi`` (a ``gt``/``eq`` comparison of the IR
  rewritten as a range, exactly as the model compares in float32). Bits are grouped in *planes*
  (plane j holds the j-th bit of every feature), so one row of a sample is compared 64 features
  at a time against constant vectors (AVX-512BW / AVX2 compare-to-mask), then 64x64 bit blocks are
  transposed with word-wide operations (all lanes at once).
* Gates: data, not code. The gates are grouped by logic level (gates of one level never read
  each other) and, inside a level, by kind; each group is a *run* that writes consecutive
  workspace slots. The evaluator is one fixed loop per gate kind,
  ``d[i] = S[a[i]] & ~S[b[i]]`` with the expression text taken from the one gate table, over
  static operand-index tables. The compiler's time no longer depends on the network's size (the
  tables are just numbers) and the hot loop is the plain indexed loop. Slots are reused once the
  last level that reads them has run (lowest free slot first), so the live workspace is about two
  levels wide and stays in L2.
* GroupSum: per class a bit-sliced counter. The class's output bits (output gates no other gate
  reads are never stored in the workspace) are evaluated into a small buffer by the same run loop
  as the gates, then summed by Harley-Seal carry-save adders 16 words at a time. The counter
  words of all classes are transposed back (64 x 64 bit blocks) so each sample's class counts are
  a shift and a mask.
* Blocks of samples are spread over threads with OpenMP when it is available.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from ..circuit.ir import USES_A, USES_B, Circuit
from ..errors import InputError
from ..gates import GATES
from .common import encoding, num_classes, num_features

__all__ = ["generate_c", "CSource", "encoder_planes", "DEFAULT_WORD_BITS"]

MIN_RUN = 16      # shortest run of gates the slot allocator makes, unless fewer gates are left
TABLE_LANES = 4    # operand tables are scaled for 4 x 64-bit lanes per word (256-bit, the AVX2 width)
TILE_SLOTS = 4096  # window of second-operand slots a run works in at a time (128 KB of 256-bit words)

DEFAULT_WORD_BITS = 0      # 0: auto: 512 with AVX-512F if the workspace stays small, else 256
# Largest workspace (at 512-bit words) for which auto picks 512-bit words. Past it the gates'
# operands stream from outside L2 and half-width words win: MNIST 6 x W random-gate networks, one
# core of an AVX-512 Xeon with 2 MB of L2, 512 vs 256-bit M images/s: 1.1 MB workspace 7.24 vs
# 7.06, 1.4 MB 5.23 vs 5.49, 2.1 MB 2.94 vs 3.71, 5.8 MB (6 x 64,000) 0.73 vs 0.85.
WIDE_WORKSPACE_BYTES = 1_280 * 1024


class CSource:
    """Generated sources: ``c`` (NAME.c), ``h`` (NAME.h), ``main`` (an example program)."""

    def __init__(self, name: str, c: str, h: str, main: str, info: dict):
        self.name, self.c, self.h, self.main, self.info = name, c, h, main, info

    @property
    def digest(self) -> str:
        return hashlib.sha256((self.c + "\0" + self.h).encode()).hexdigest()


# ----------------------------------------------------------------------------- encoder
def encoder_planes(c: Circuit):
    """Input bit i -> (plane, feature) and per-plane range tables.

    Returns (plane (I,), feature (I,), lo8, hi8, lof, hif) with the tables shaped
    (planes, padded_features); a feature absent from a plane has an empty range.
    """
    enc = encoding(c)
    n = c.num_inputs
    F = enc.num_features
    feat = enc.feature.astype(np.int64)
    order = np.argsort(feat, kind="stable")
    fs = feat[order]
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - np.searchsorted(fs, fs, side="left")
    planes = int(rank.max()) + 1 if n else 1
    padded = max(64, -(-F // 64) * 64)
    lo8 = np.ones((planes, padded), np.uint8)       # empty range: lo 1 > hi 0
    hi8 = np.zeros((planes, padded), np.uint8)
    lof = np.full((planes, padded), np.inf, np.float32)
    hif = np.full((planes, padded), -np.inf, np.float32)
    inf = np.float32(np.inf)
    for i in range(n):
        j, f = int(rank[i]), int(feat[i])
        t = np.float32(enc.value[i])      # the model compares in float32
        if enc.op[i] == 0:                # x > t
            if t != inf:
                lof[j, f], hif[j, f] = np.nextafter(t, inf), inf
            lo = np.floor(t) + 1          # integer x > t  <=>  x >= floor(t) + 1
            if lo <= 255:
                lo8[j, f], hi8[j, f] = max(0, int(lo)), 255
        else:                             # x == t
            lof[j, f] = hif[j, f] = t
            if t == np.floor(t) and 0 <= t <= 255:
                lo8[j, f] = hi8[j, f] = int(t)
    return rank, feat, lo8, hi8, lof, hif


def _c_float(v: np.float32) -> str:
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return float(v).hex() + "f"


def _c_table(name: str, ctype: str, rows: np.ndarray, fmt) -> str:
    body = ",\n".join("  {" + ",".join(fmt(v) for v in row) + "}" for row in rows)
    return f"static const GL_ALIGN {ctype} {name}[{rows.shape[0]}][{rows.shape[1]}] = {{\n{body}\n}};\n"


# ----------------------------------------------------------------------------- schedule
class Schedule:
    """Where every value lives and in which order the gates run.

    Gates are grouped by logic level (gates of one level never read each other) and, inside a
    level, by kind; each group ("run") writes consecutive workspace slots, so the C side is one
    branch-free indexed loop per run. Slots are reused once the last level reading them has run
    (lowest free slot first), which keeps the live workspace to about two levels.
    """

    def __init__(self, c: Circuit, in_slot_of: np.ndarray, in_words: int):
        n = c.num_inputs
        ua, ub = USES_A[c.op], USES_B[c.op]
        readers = np.zeros(c.num_nodes, np.int64)
        np.add.at(readers, c.a[ua], 1)
        np.add.at(readers, c.b[ub], 1)
        out_times = np.bincount(c.outputs, minlength=c.num_nodes)
        # Output gates read by no other gate and listed once are evaluated inside the class
        # counters and never stored (saves a store and a load per output).
        inline = np.zeros(c.num_nodes, bool)
        cand = c.outputs[c.outputs >= n]
        inline[cand] = (readers[cand] == 0) & (out_times[cand] == 1)
        stored = np.flatnonzero(~inline[n:])
        level = c.node_levels()
        glev = level[n + stored]
        INF = np.iinfo(np.int64).max
        # last level that reads each node (INF: the head reads it)
        last = np.full(c.num_nodes, -1, np.int64)
        sa, sb = c.a[stored], c.b[stored]
        np.maximum.at(last, sa[ua[stored]], glev[ua[stored]])
        np.maximum.at(last, sb[ub[stored]], glev[ub[stored]])
        outs = c.outputs
        il = outs[inline[outs]] - n
        head_read = np.concatenate([outs[~inline[outs]], c.a[il][ua[il]], c.b[il][ub[il]]])
        last[head_read] = INF

        slot = np.full(c.num_nodes, -1, np.int64)
        slot[:n] = in_slot_of
        cap = max(in_words, 64)
        busy = np.zeros(cap, bool)
        live_in = last[:n] >= 0
        busy[in_slot_of[live_in]] = True
        # frees[L]: slots whose last reader is at level L (free from level L + 1 on)
        nodes_by_last = np.argsort(last, kind="stable")
        lasts_sorted = last[nodes_by_last]
        run_op, run_len, run_out, order = [], [], [], []
        levels = np.unique(glev) if len(glev) else np.zeros(0, np.int64)
        for L in levels.tolist():
            # free the values no gate at level >= L reads
            lo_ = np.searchsorted(lasts_sorted, 0)
            hi_ = np.searchsorted(lasts_sorted, L, side="left")
            done = nodes_by_last[lo_:hi_]
            done = done[slot[done] >= 0]
            busy[slot[done]] = False
            last[done] = -1                               # freed once
            nodes_by_last = np.concatenate([nodes_by_last[:lo_], nodes_by_last[hi_:]])
            lasts_sorted = np.concatenate([lasts_sorted[:lo_], lasts_sorted[hi_:]])
            gs = stored[glev == L]
            # By kind (runs), then in tiles: second operands within one window of TILE_SLOTS
            # slots (which stays cached while the run passes over it), first operands in
            # increasing order inside a tile (read forwards, so the prefetcher follows).
            sb = np.where(USES_B[c.op[gs]], slot[c.b[gs]], 0)
            key = np.lexsort((slot[c.a[gs]], sb // TILE_SLOTS, c.op[gs]))
            gs = gs[key]
            ops = c.op[gs]
            bounds = np.flatnonzero(np.diff(ops.astype(np.int64))) + 1
            for grp in np.split(gs, bounds):
                k = len(grp)
                # Free intervals in address order; a run must be at least MIN_RUN long (or
                # all that is left), since each run costs a table read and an indirect jump.
                # Holes shorter than that are skipped; the end of the workspace grows freely.
                edge = np.diff(np.r_[0, (~busy).astype(np.int8), 0])
                starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
                pieces, left = [], k
                for s0, s1 in zip(starts.tolist(), ends.tolist()):
                    if s1 == cap:                      # the open end: take all that is left
                        s1 = s0 + left
                    m = min(s1 - s0, left)
                    if m >= min(MIN_RUN, left):
                        pieces.append((s0, m))
                        left -= m
                        if not left:
                            break
                if left:
                    pieces.append((cap, left))
                need = max(s0 + m for s0, m in pieces)
                if need > cap:
                    busy = np.concatenate([busy, np.zeros(need - cap, bool)])
                    cap = need
                take = np.concatenate([np.arange(s0, s0 + m) for s0, m in pieces])
                busy[take] = True
                slot[n + grp] = take
                for s0, m in pieces:
                    run_op.append(int(c.op[grp[0]]))
                    run_len.append(int(m))
                    run_out.append(int(s0))
                order.append(grp)
        self.order = np.concatenate(order) if order else np.zeros(0, np.int64)
        self.run_op = np.array(run_op, np.int64)
        self.run_len = np.array(run_len, np.int64)
        self.run_out = np.array(run_out, np.int64)
        self.slot = slot
        self.slots = int(cap)
        self.inline = inline
        self.stored = len(stored)


# ----------------------------------------------------------------------------- generation
def _expr(op: int, a: str, b: str) -> str:
    return GATES[op].c.format(a=a, b=b)


def _c_array(name: str, ctype: str, v: np.ndarray) -> str:
    v = np.asarray(v).ravel()
    if len(v) == 0:
        v = np.zeros(1, np.int64)         # C forbids empty arrays
    lines = ",".join(map(str, v.tolist()))
    return f"static const {ctype} {name}[{len(v)}] = {{{lines}}};\n"


def generate_c(circuit: Circuit, name: str = "gatelearn_net",
               word_bits: int = DEFAULT_WORD_BITS) -> CSource:
    """Generate C for ``circuit``. ``word_bits`` is the default word width of the native build
    (a compile-time macro, GL_WORD_BITS, can override it)."""
    c = circuit.validate()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise InputError(f"C name {name!r} is not a C identifier")
    if c.num_outputs == 0:
        raise InputError("the circuit has no outputs; nothing to compute")
    if word_bits not in (0, 64, 128, 256, 512):
        raise InputError(f"word_bits must be 0 (auto), 64, 128, 256 or 512, got {word_bits}")
    n, G = c.num_inputs, c.num_gates
    C = num_classes(c)
    per = c.num_outputs // C
    nbits = max(1, per.bit_length())
    F = num_features(c)

    plane, feat, lo8, hi8, lof, hif = encoder_planes(c)
    P, FP = lo8.shape
    NC = FP // 64
    in_slot_of = plane * FP + feat             # input i lives in S[plane*FP + feature]
    IN_WORDS = P * FP

    sch = Schedule(c, in_slot_of, IN_WORDS)
    slot = sch.slot
    seq = sch.order
    NSLOTS = max(sch.slots, IN_WORDS)
    cpb = 64 // nbits                              # classes per 64-row counter block
    QB = -(-C // cpb)
    CNT = NSLOTS
    ABITS = max(1, (C - 1).bit_length())           # bits of a class index
    ARG = CNT + QB * 64                            # bit-sliced argmax words
    HBUF = ARG + ABITS                             # the head's per-class buffer of output words
    hbuf_words = -(-per // 16) * 16                # a class's items, padded to Harley-Seal's 16
    total_words = HBUF + hbuf_words

    # Head items: per class, the output bits as (kind, operand slot, operand slot); an output
    # that is stored (or an input) is read through the pass-through gate A. Sorted by kind so
    # that the counter loop has no branch per item.
    A_ID = 3
    out_l = c.outputs
    is_in = sch.inline[out_l]
    # gate arrays padded with one entry so that outputs that are inputs index something valid
    op_p, a_p, b_p = np.append(c.op, A_ID), np.append(c.a, 0), np.append(c.b, 0)
    g_out = np.where(out_l >= n, out_l - n, G)
    h_op = np.where(is_in, op_p[g_out], A_ID)
    h_a = np.where(is_in, slot[a_p[g_out]], slot[out_l])
    h_b = np.where(is_in, slot[b_p[g_out]], slot[out_l])
    h_a = np.where(is_in & ~USES_A[h_op], 0, h_a)      # operands a gate ignores may be any slot
    h_b = np.where(is_in & ~USES_B[h_op], 0, h_b)
    cls = np.repeat(np.arange(C), per)
    # Constant outputs (common: the passes fold many output gates to FALSE / TRUE) cost nothing
    # per block: a TRUE adds one to its class's starting count, a FALSE is dropped.
    node_op = op_p[g_out]
    const = (out_l >= n) & ((node_op == 0) | (node_op == 15))
    cnt_init = np.bincount(cls[const & (node_op == 15)], minlength=C)
    h_op, h_a, h_b, cls = h_op[~const], h_a[~const], h_b[~const], cls[~const]
    key = np.lexsort((h_a, h_b // TILE_SLOTS, h_op, cls))      # tiles, as the gates
    h_op, h_a, h_b, cls = h_op[key], h_a[key], h_b[key], cls[key]
    hb = np.flatnonzero((np.diff(h_op.astype(np.int64)) != 0) | (np.diff(cls) != 0)) + 1
    hstart = np.r_[0, hb].astype(np.int64) if len(h_op) else np.zeros(0, np.int64)
    hrun_len = np.diff(np.r_[hstart, len(h_op)])
    hrun_op, hrun_cls = h_op[hstart], cls[hstart]
    cls_first_run = np.searchsorted(hrun_cls, np.arange(C + 1))

    ga = np.where(USES_A[c.op[seq]], slot[c.a[seq]], 0) if len(seq) else np.zeros(0, np.int64)
    gb = np.where(USES_B[c.op[seq]], slot[c.b[seq]], 0) if len(seq) else np.zeros(0, np.int64)
    # Operand tables hold offsets in 64-bit units for TABLE_LANES lanes per word (slot *
    # TABLE_LANES), so the load is one scaled address, no shift; other word widths rescale
    # (GL_OFF, a constant factor). The narrowest index type that holds them halves table traffic.
    ga, gb, h_a, h_b = (v * TABLE_LANES for v in (ga, gb, h_a, h_b))
    idx_t = "uint16_t" if HBUF * TABLE_LANES <= 0xFFFF else "uint32_t"     # the tables never index the buffer
    len_t = "uint32_t"

    info = {"gates": G, "stored_gates": int(sch.stored), "inline_output_gates": int(sch.inline.sum()),
            "slots": int(NSLOTS), "workspace_words": int(total_words), "planes": int(P),
            "classes": int(C), "counter_bits": int(nbits), "gate_runs": int(len(sch.run_op))}

    h = _HEADER.format(NAME=name, UNAME=name.upper(), F=F, C=C, G=G, I=n, O=c.num_outputs)
    src = _SOURCE_TOP.format(NAME=name, WB=word_bits, WIDE=int(total_words * 64 <= WIDE_WORKSPACE_BYTES))
    src += f"""
#define GL_F {F}
#define GL_NC {NC}
#define GL_FP {FP}
#define GL_PLANES {P}
#define GL_IN_WORDS {IN_WORDS}
#define GL_CNT {CNT}
#define GL_QB {QB}
#define GL_C {C}
#define GL_NBITS {nbits}
#define GL_CPB {cpb}
#define GL_TOTAL_WORDS {total_words}
#define GL_ARG {ARG}
#define GL_ABITS {ABITS}
#define GL_HBUF {HBUF}
#define GL_NRUNS {len(sch.run_op)}
typedef {idx_t} gl_idx_t;
#define GL_TABLE_LANES {TABLE_LANES}
/* word at table offset o (o = slot * GL_TABLE_LANES) */
#define GL_W(o) (*(const word_t *)((const uint64_t *)S + (size_t)(o) * GL_LANES / GL_TABLE_LANES))
"""
    src += _c_table("GL_LO8", "uint8_t", lo8, str) + _c_table("GL_HI8", "uint8_t", hi8, str)
    src += _c_table("GL_LOF", "float", lof, _c_float) + _c_table("GL_HIF", "float", hif, _c_float)
    # Per 64-feature chunk: which u8 test suffices (see gl_mask_u8). Padding features have empty
    # ranges, so a chunk with padding needs the general test unless F is short-read (handled).
    kind8 = np.zeros((P, NC), np.uint8)
    for j in range(P):
        for q in range(NC):
            f0, f1 = q * 64, min(F, q * 64 + 64)
            lo_, hi_ = lo8[j, f0:f1], hi8[j, f0:f1]
            if F >= 64 and (hi_ == 255).all():
                kind8[j, q] = 2 if (lo_ == 128).all() else 1
    # The encoder, unrolled over the (plane, 64-feature chunk) pairs that hold an input the
    # circuit reads (the passes leave many unused: those chunks are neither compared nor
    # transposed), with each chunk's u8 test fixed here (see gl_mask_u8).
    used = np.zeros((P, NC), bool)
    live_inputs = np.zeros(n, bool)
    live_inputs[c.a[USES_A[c.op]][c.a[USES_A[c.op]] < n]] = True
    live_inputs[c.b[USES_B[c.op]][c.b[USES_B[c.op]] < n]] = True
    live_inputs[c.outputs[c.outputs < n]] = True
    used[plane[live_inputs], feat[live_inputs] // 64] = True
    enc = {"u8": [], "f32": []}
    blocks = []
    for j in range(P):
        for q in range(NC):
            if not used[j, q]:
                continue
            k = j * NC + q
            blocks.append(k)
            valid = min(64, F - q * 64)
            for T, lo_t, hi_t, kind in (("u8", "GL_LO8", "GL_HI8", int(kind8[j, q])), ("f32", "GL_LOF", "GL_HIF", 0)):
                enc[T].append(f"      U[at + (size_t){k * 64} * GL_LANES] = gl_mask_{T}(row + {q * 64}, "
                              f"{lo_t}[{j}] + {q * 64}, {hi_t}[{j}] + {q * 64}, {valid}, {kind});")
    info["encoded_chunks"] = len(blocks)
    info["chunks"] = int(P * NC)
    src += _c_array("GL_ENC_BLOCKS", "uint32_t", np.array(blocks, np.int64))
    src += f"#define GL_NENC_BLOCKS {len(blocks)}\n"
    # gate tables
    src += _c_array("GL_GA", "gl_idx_t", ga) + _c_array("GL_GB", "gl_idx_t", gb)
    src += _c_array("GL_RUN_OP", "uint8_t", sch.run_op) + _c_array("GL_RUN_LEN", len_t, sch.run_len)
    src += _c_array("GL_RUN_OUT", len_t, sch.run_out)
    # head tables
    src += _c_array("GL_HA", "gl_idx_t", h_a) + _c_array("GL_HB", "gl_idx_t", h_b)
    src += _c_array("GL_HRUN_OP", "uint8_t", hrun_op) + _c_array("GL_HRUN_LEN", len_t, hrun_len)
    src += _c_array("GL_CLS_RUN", len_t, cls_first_run)
    src += _c_array("GL_CNT_INIT", len_t, cnt_init)
    used_rows = {(k // cpb) * 64 + (k % cpb) * nbits + w for k in range(C) for w in range(nbits)}
    zero_rows = [r for r in range(QB * 64) if r not in used_rows]
    src += _c_array("GL_ZERO_ROWS", "uint32_t", np.array(zero_rows, np.int64))
    src += f"#define GL_NZERO_ROWS {len(zero_rows)}\n"
    src += _SOURCE_HELPERS
    for T, ctype in (("u8", "uint8_t"), ("f32", "float")):
        src += (f"\n/* Compare each sample's features against the thresholds, 64 at a time, into row (sample %"
                f" 64) of each chunk's 64 x 64 block; then transpose the blocks into input words. */\n"
                f"static void gl_encode_{T}(const {ctype} *x, size_t nb, word_t *S)\n{{\n"
                f"  uint64_t *U = (uint64_t *)S;\n  size_t s, k;\n"
                f"  if (nb < GL_BLOCK) memset(S, 0, sizeof(word_t) * GL_IN_WORDS);\n"
                f"  for (s = 0; s < nb; s++) {{\n"
                f"      const {ctype} *row = x + s * (size_t)GL_F;\n"
                f"      const size_t at = (s % 64) * GL_LANES + s / 64;\n"
                f"      int l;\n"
                f"      /* the rows stream from memory: ask for a later row's lines ahead of use, into\n"
                f"         every cache level (a non-temporal hint, locality 0, halved the throughput of\n"
                f"         the whole network on an AVX-512 Xeon: 5.0 against 9.5 M MNIST images/s) */\n"
                f"      for (l = 0; s + GL_PREFETCH_ROWS < nb && l < GL_F * (int)sizeof({ctype}); l += 64)\n"
                f"        __builtin_prefetch((const char *)(row + GL_PREFETCH_ROWS * GL_F) + l, 0, 3);\n"
                + "\n".join(enc[T]) + "\n  }\n"
                f"  for (k = 0; k < GL_NENC_BLOCKS; k++) gl_transpose64(S + (size_t)GL_ENC_BLOCKS[k] * 64);\n}}\n")
    # one expression per gate kind, from the gate table: item j of the current run
    src += "".join(f"#define GL_E{k}(j) {_expr(k, 'GL_W(a[j])', 'GL_W(b[j])')}\n" for k in range(16))
    gate_cases = "\n".join(f"  case {k}: GL_UNROLL for (i = 0; i < len; i++) d[i] = GL_E{k}(i); break;"
                           for k in range(16))
    src += _SOURCE_NET.replace("{GATE_CASES}", gate_cases)
    src += _SOURCE_API.replace("{NAME}", name)
    main = _fmt_main(name)
    return CSource(name, src, h, main, info)


_SOURCE_NET = r"""
/* One run: gates of one kind writing consecutive words d[0..len), operands read through the
   tables a, b. Gates of a run never read each other, so the loop is branch-free and its loads
   are independent; the tables are read sequentially. */
static GL_INLINE void gl_run(word_t *restrict d, const word_t *S, const gl_idx_t *a, const gl_idx_t *b,
                             size_t len, int op)
{
  size_t i;
  switch (op) {
{GATE_CASES}
  }
}

/* The stored gates: run after run into their workspace slots. */
static void gl_gates(word_t *restrict S)
{
  const gl_idx_t *a = GL_GA, *b = GL_GB;
  size_t r;
  for (r = 0; r < GL_NRUNS; r++) {
    const size_t len = GL_RUN_LEN[r];
    gl_run(S + GL_RUN_OUT[r], S, a, b, len, GL_RUN_OP[r]);
    a += len; b += len;
  }
}

/* Bit-sliced counter: add word x at weight 2^w (ripple; the count fits GL_NBITS bits). */
static inline void gl_add(word_t *cnt, word_t x, int w)
{
  for (; w < GL_NBITS; w++) {
    word_t t = cnt[w] & x;
    cnt[w] ^= x;
    x = t;
  }
}

/* Carry-save adder: (h, l) = a + b + c as a two-bit number per lane. */
#define GL_CSA(h, l, a_, b_, c_) do { const word_t u_ = (a_) ^ (b_), c2_ = (c_); \
    h = ((a_) & (b_)) | (u_ & c2_); l = u_ ^ c2_; } while (0)

/* Eight words p[0..8) into the pending `ones`, `twos`, `fours`; e gets their weight-8 carry. */
#define GL_CSA8(e, p) do { word_t tA_, tB_, fA_, fB_;                                       \
    GL_CSA(tA_, ones, ones, (p)[0], (p)[1]); GL_CSA(tB_, ones, ones, (p)[2], (p)[3]);       \
    GL_CSA(fA_, twos, twos, tA_, tB_);                                                      \
    GL_CSA(tA_, ones, ones, (p)[4], (p)[5]); GL_CSA(tB_, ones, ones, (p)[6], (p)[7]);       \
    GL_CSA(fB_, twos, twos, tA_, tB_);                                                      \
    GL_CSA(e, fours, fours, fA_, fB_); } while (0)

/* The class counters. Per class, its output bits are evaluated into a buffer (runs of one kind,
   as the gates; the buffer stays in L1), zero-padded to a multiple of 16, and counted by
   Harley-Seal: 16 words cost 15 carry-save adders and one ripple at weight 16 (`ones` ..
   `eights` carry the pending bits), about 5.8 operations a word against 30 for a ripple each.
   Counter bits go to rows of the 64 x 64 blocks that are transposed back (class k, bit w at
   row (k / GL_CPB) * 64 + (k % GL_CPB) * GL_NBITS + w). */
static void gl_head(word_t *restrict S)
{
  const gl_idx_t *a = GL_HA, *b = GL_HB;
  word_t *restrict v = S + GL_HBUF;
  size_t r, i, n;
  int k, w;
  for (k = 0; k < GL_C; k++) {
    word_t cnt[GL_NBITS], ones = ZERO, twos = ZERO, fours = ZERO, eights = ZERO;
    for (n = 0, r = GL_CLS_RUN[k]; r < GL_CLS_RUN[k + 1]; r++) {
      const size_t len = GL_HRUN_LEN[r];
      gl_run(v + n, S, a, b, len, GL_HRUN_OP[r]);
      a += len; b += len; n += len;
    }
    for (; n % 16; n++) v[n] = ZERO;
    for (w = 0; w < GL_NBITS; w++) cnt[w] = ((GL_CNT_INIT[k] >> w) & 1) ? ONES : ZERO;
    for (i = 0; i < n; i += 16) {
      word_t eA, eB, sixteens;
      GL_CSA8(eA, v + i);
      GL_CSA8(eB, v + i + 8);
      GL_CSA(sixteens, eights, eights, eA, eB);
      gl_add(cnt, sixteens, 4);
    }
    gl_add(cnt, ones, 0);
    gl_add(cnt, twos, 1);
    gl_add(cnt, fours, 2);
    gl_add(cnt, eights, 3);
    for (w = 0; w < GL_NBITS; w++)
      S[GL_CNT + (k / GL_CPB) * 64 + (k % GL_CPB) * GL_NBITS + w] = cnt[w];
  }
  for (i = 0; i < GL_NZERO_ROWS; i++) S[GL_CNT + GL_ZERO_ROWS[i]] = ZERO;
}

static void gl_network(word_t *restrict S)
{
  gl_gates(S);
  gl_head(S);
}
"""


_HEADER = """\
/* {NAME}.h -- a logic gate network compiled by gatelearn (bit-sliced C99).
 *
 * {I} input bits from {F} raw features, {G} gates, {O} outputs, {C} classes.
 *
 * API (all functions are thread-safe; none allocates memory):
 *
 *   size_t {NAME}_workspace_bytes(int threads);
 *       Bytes of scratch memory that a call with `threads` threads needs. Allocate it once
 *       (64-byte aligned, e.g. aligned_alloc(64, ...)) and reuse it for every call.
 *
 *   int {NAME}_predict_u8(const uint8_t *x, size_t n, int32_t *scores, int32_t *classes,
 *                         void *workspace, int threads);
 *   int {NAME}_predict_f32(const float *x, size_t n, int32_t *scores, int32_t *classes,
 *                          void *workspace, int threads);
 *       x: n samples, row-major, {NAME_UPPER_F} = {F} raw features per sample (uint8, e.g. pixels,
 *       or float32). The input encoding of the trained model (thresholds / one-hot) is applied
 *       in C, exactly as the model applies it (comparisons in float32; NaN encodes as 0).
 *       scores: n x {C} int32, the GroupSum counts (ones per class group; the model's score is
 *       count / tau), or NULL. classes: n int32 class indices (argmax, first maximum on ties),
 *       or NULL. With scores NULL the class indices come from a bit-sliced argmax over the
 *       counters (all samples of a block at once), the fastest way to classify. threads: 1 or more (OpenMP); workspace must hold
 *       {NAME}_workspace_bytes(threads) bytes. Returns 0, or -1 on a bad argument.
 *       Any n works, including 0 and 1.
 *
 * Build: cc -O2 -march=native -fopenmp -c {NAME}.c   (-DGL_PORTABLE: 64-bit words, no vector
 * extensions; -DGL_WORD_BITS=256 picks the word width). The network is stored as tables (gate
 * operands as workspace slot indices, one run per logic level and gate kind) read by a fixed
 * evaluation loop, so the build takes about the same few seconds for any network size.
 */
#ifndef {UNAME}_H
#define {UNAME}_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {{
#endif

#define {UNAME}_NUM_FEATURES {F}
#define {UNAME}_NUM_CLASSES {C}
#define {UNAME}_NUM_GATES {G}

size_t {NAME}_workspace_bytes(int threads);
size_t {NAME}_block_samples(void);
int {NAME}_predict_u8(const uint8_t *x, size_t n, int32_t *scores, int32_t *classes,
                      void *workspace, int threads);
int {NAME}_predict_f32(const float *x, size_t n, int32_t *scores, int32_t *classes,
                       void *workspace, int threads);

#ifdef __cplusplus
}}
#endif
#endif
""".replace("{NAME_UPPER_F}", "{UNAME}_NUM_FEATURES")

_SOURCE_TOP = """\
/* {NAME}.c -- generated by gatelearn; see {NAME}.h for the API. */
#include "{NAME}.h"
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if !defined(GL_PORTABLE) && (defined(__AVX512BW__) || defined(__AVX2__))
#include <immintrin.h>
#endif

#ifdef __GNUC__
#define GL_ALIGN __attribute__((aligned(64)))
/* the encoder's chunk kinds and lengths are constants only once the mask function is inlined */
#define GL_INLINE inline __attribute__((always_inline))
#if !defined(__clang__)
/* the gate loops are a few instructions per gate: unrolling removes most of the loop overhead */
#define GL_UNROLL _Pragma("GCC unroll 4")
#endif
#else
#define __builtin_prefetch(p, rw, loc) ((void)(p))
#define GL_ALIGN
#define GL_INLINE inline
#endif

#ifndef GL_UNROLL
#define GL_UNROLL
#endif

/* Word width: one bit per sample. Vector extensions let the compiler use wide registers; 512-bit
   words only while the workspace is small enough to stay in L2 (decided at generation). */
#ifndef GL_WORD_BITS
#if defined(GL_PORTABLE) || !defined(__GNUC__)
#define GL_WORD_BITS 64
#elif {WB} > 0
#define GL_WORD_BITS {WB}
#elif defined(__AVX512F__) && {WIDE}
#define GL_WORD_BITS 512
#else
#define GL_WORD_BITS 256
#endif
#endif
#define GL_LANES (GL_WORD_BITS / 64)
#define GL_PREFETCH_ROWS 16
#define GL_BLOCK (64 * GL_LANES)
#if GL_WORD_BITS == 64
typedef uint64_t word_t;
#define ZERO ((word_t)0)
#define ONES (~(word_t)0)
#else
typedef uint64_t word_t __attribute__((vector_size(GL_WORD_BITS / 8)));
#define ZERO ((word_t){{0}})
#define ONES (~ZERO)
#endif
"""

_SOURCE_HELPERS = r"""
/* Bit j of row f of a 64 x 64 block (per lane) <- bit f of row j. Each of the 6 rounds swaps
   off-diagonal sub-blocks; word-wide, so all lanes transpose at once. */
static void gl_transpose64(word_t *a)
{
  uint64_t m = 0x00000000FFFFFFFFULL;
  int j, k;
  for (j = 32; j != 0; j >>= 1, m ^= m << j) {
    for (k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      word_t t = ((a[k] >> j) ^ a[k | j]) & m;
      a[k | j] ^= t;
      a[k] ^= t << j;
    }
  }
}

/* 64 features of one sample -> 64 bits: bit f = lo[f] <= x[f] <= hi[f]. `valid` features are
   read (the rest of the row may not exist); table padding has empty ranges. */
static GL_INLINE uint64_t gl_mask_u8(const uint8_t *x, const uint8_t *lo, const uint8_t *hi, int valid, int kind)
{
#if !defined(GL_PORTABLE) && defined(__AVX512BW__)
  __mmask64 k = valid >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << valid) - 1);
  __m512i v = _mm512_maskz_loadu_epi8(k, x);
  __m512i l = _mm512_load_si512((const void *)lo), h = _mm512_load_si512((const void *)hi);
  (void)kind;
  return (uint64_t)(_mm512_cmpge_epu8_mask(v, l) & _mm512_cmple_epu8_mask(v, h));
#elif !defined(GL_PORTABLE) && defined(__AVX2__)
  /* kind (per 64-feature chunk, known when the code was generated): 0 range test, 1 x >= lo
     only (hi = 255), 2 the top bit (x > 127 for every feature). A short last chunk re-reads the
     64 bytes that end the row and shifts the surplus bits out, so nothing past the row is read. */
  int shift = 0, f;
  uint64_t m = 0;
  uint8_t tmp[64];
  if (valid < 64 && GL_F >= 64) {
    shift = 64 - valid;
    x -= shift; lo -= shift; hi -= shift;
  } else if (valid < 64) {      /* rows shorter than 64 bytes: copy (table padding never matches) */
    memset(tmp, 0, sizeof tmp);
    memcpy(tmp, x, (size_t)valid);
    x = tmp;
  }
  for (f = 0; f < 64; f += 32) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(x + f));
    uint32_t bits;
    if (kind == 2) {
      bits = (uint32_t)_mm256_movemask_epi8(v);
    } else {
      __m256i l = _mm256_loadu_si256((const __m256i *)(lo + f));
      __m256i ge = _mm256_cmpeq_epi8(_mm256_max_epu8(v, l), v);
      if (kind == 0) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(hi + f));
        ge = _mm256_and_si256(ge, _mm256_cmpeq_epi8(_mm256_min_epu8(v, h), v));
      }
      bits = (uint32_t)_mm256_movemask_epi8(ge);
    }
    m |= (uint64_t)bits << f;
  }
  return m >> shift;
#else
  uint64_t m = 0;
  int f;
  (void)kind;
  for (f = 0; f < valid && f < 64; f++)
    m |= (uint64_t)((x[f] >= lo[f]) & (x[f] <= hi[f])) << f;
  return m;
#endif
}

static GL_INLINE uint64_t gl_mask_f32(const float *x, const float *lo, const float *hi, int valid, int kind)
{
#if !defined(GL_PORTABLE) && defined(__AVX512F__)
  uint64_t m = 0;
  int q;
  (void)kind;
  for (q = 0; q < 4; q++) {
    int v = valid - 16 * q;
    __mmask16 k = v >= 16 ? (__mmask16)0xFFFF : (v <= 0 ? (__mmask16)0 : (__mmask16)((1u << v) - 1));
    __m512 xv = _mm512_maskz_loadu_ps(k, x + 16 * q);
    __mmask16 r = _mm512_mask_cmp_ps_mask(k, xv, _mm512_load_ps(lo + 16 * q), _CMP_GE_OQ)
                & _mm512_cmp_ps_mask(xv, _mm512_load_ps(hi + 16 * q), _CMP_LE_OQ);
    m |= (uint64_t)r << (16 * q);
  }
  return m;
#else
  uint64_t m = 0;
  int f;
  (void)kind;
  for (f = 0; f < valid && f < 64; f++)
    m |= (uint64_t)((x[f] >= lo[f]) & (x[f] <= hi[f])) << f;
  return m;
#endif
}
"""

_SOURCE_API = r"""
/* Class indices without the counts: a bit-sliced running maximum over the classes (strictly
   greater replaces, so ties keep the first maximum, as torch.argmax), all samples of the block at
   once; each sample then reads GL_ABITS bits instead of comparing GL_C counts. */
static void gl_argmax(word_t *restrict S)
{
  word_t M[GL_NBITS], A[GL_ABITS];
  int k, w;
  for (w = 0; w < GL_NBITS; w++) M[w] = S[GL_CNT + w];          /* class 0 */
  for (w = 0; w < GL_ABITS; w++) A[w] = ZERO;
  for (k = 1; k < GL_C; k++) {
    const word_t *cnt = S + GL_CNT + (k / GL_CPB) * 64 + (k % GL_CPB) * GL_NBITS;
    word_t gt = ZERO, eq = ONES;
    for (w = GL_NBITS - 1; w >= 0; w--) {               /* compare from the top bit down */
      gt |= eq & cnt[w] & ~M[w];
      eq &= ~(cnt[w] ^ M[w]);
    }
    for (w = 0; w < GL_NBITS; w++) M[w] = (cnt[w] & gt) | (M[w] & ~gt);
    for (w = 0; w < GL_ABITS; w++) A[w] = ((k >> w) & 1) ? (A[w] | gt) : (A[w] & ~gt);
  }
  for (w = 0; w < GL_ABITS; w++) S[GL_ARG + w] = A[w];
}

/* One block: encode + transpose the inputs, run the network, then either the class indices alone
   (bit-sliced argmax) or the counts too (transpose the counters back). `nb` <= GL_BLOCK samples;
   lanes past nb hold garbage and are ignored. */
static void gl_finish(word_t *S, size_t nb, int32_t *scores, int32_t *classes)
{
  const uint64_t *U = (const uint64_t *)S;
  size_t s;
  int k, j;
  if (!scores) {
    gl_argmax(S);
    for (s = 0; s < nb; s++) {
      const size_t lane = s / 64, r = s % 64;
      int32_t arg = 0;
      for (j = 0; j < GL_ABITS; j++)
        arg |= (int32_t)((U[((size_t)GL_ARG + j) * GL_LANES + lane] >> r) & 1) << j;
      if (classes) classes[s] = arg;
    }
    return;
  }
  for (k = 0; k < GL_QB; k++) gl_transpose64(S + GL_CNT + (size_t)k * 64);
  for (s = 0; s < nb; s++) {
    const size_t lane = s / 64, r = s % 64;
    int32_t best = -1, arg = 0;
    for (k = 0; k < GL_C; k++) {
      uint64_t v = U[((size_t)GL_CNT + (size_t)(k / GL_CPB) * 64 + r) * GL_LANES + lane];
      int32_t cnt = (int32_t)((v >> ((k % GL_CPB) * GL_NBITS)) & ((1ULL << GL_NBITS) - 1));
      scores[s * GL_C + k] = cnt;
      if (cnt > best) { best = cnt; arg = k; }
    }
    if (classes) classes[s] = arg;
  }
}

static void gl_block_u8(const uint8_t *x, size_t nb, word_t *S, int32_t *scores, int32_t *classes)
{
  gl_encode_u8(x, nb, S);
  gl_network(S);
  gl_finish(S, nb, scores, classes);
}

static void gl_block_f32(const float *x, size_t nb, word_t *S, int32_t *scores, int32_t *classes)
{
  gl_encode_f32(x, nb, S);
  gl_network(S);
  gl_finish(S, nb, scores, classes);
}

static size_t gl_ws_words(void) { return ((size_t)GL_TOTAL_WORDS + 7) & ~(size_t)7; }

size_t {NAME}_workspace_bytes(int threads)
{
  return (threads < 1 ? 1 : (size_t)threads) * gl_ws_words() * sizeof(word_t);
}

size_t {NAME}_block_samples(void) { return GL_BLOCK; }

#define GL_RUN(BLOCKFN)                                                                    \
  do {                                                                                    \
    long nblocks = (long)((n + GL_BLOCK - 1) / GL_BLOCK), i;                              \
    if (!workspace || ((uintptr_t)workspace % 64) || (n && !x)) return -1;                \
    if (threads < 1) threads = 1;                                                         \
    _Pragma("omp parallel for num_threads(threads) schedule(dynamic, 1) if(threads > 1 && nblocks > 1)") \
    for (i = 0; i < nblocks; i++) {                                                       \
      int t = 0;                                                                          \
      size_t s0 = (size_t)i * GL_BLOCK;                                                   \
      size_t nb = n - s0 < GL_BLOCK ? n - s0 : GL_BLOCK;                                  \
      GL_THREAD_ID(t);                                                                    \
      BLOCKFN(x + s0 * GL_F, nb, (word_t *)workspace + (size_t)t * gl_ws_words(),         \
              scores ? scores + s0 * GL_C : NULL, classes ? classes + s0 : NULL);         \
    }                                                                                     \
    return 0;                                                                             \
  } while (0)

#ifdef _OPENMP
#define GL_THREAD_ID(t) (t) = omp_get_thread_num()
#else
#define GL_THREAD_ID(t) (void)(t)
#endif

int {NAME}_predict_u8(const uint8_t *x, size_t n, int32_t *scores, int32_t *classes, void *workspace, int threads)
{
  GL_RUN(gl_block_u8);
}

int {NAME}_predict_f32(const float *x, size_t n, int32_t *scores, int32_t *classes, void *workspace, int threads)
{
  GL_RUN(gl_block_f32);
}
"""

_MAIN = r"""/* Example: classify raw uint8 samples.  Usage: {NAME}_main FILE [THREADS]
 * FILE holds n * {UNAME}_NUM_FEATURES bytes (e.g. MNIST pixels, row-major); prints one class per line.
 * Build: cc -O2 -march=native -fopenmp {NAME}.c {NAME}_main.c -o {NAME}_main */
#include <stdio.h>
#include <stdlib.h>
#include "{NAME}.h"

int main(int argc, char **argv)
{
  FILE *f;
  long size;
  size_t n, i, ws;
  uint8_t *x;
  int32_t *cls;
  void *work, *raw;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  if (argc < 2 || !(f = fopen(argv[1], "rb"))) {
    fprintf(stderr, "usage: %s FILE [THREADS]  (FILE: n x %d raw uint8 features)\n", argv[0], {UNAME}_NUM_FEATURES);
    return 2;
  }
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size % {UNAME}_NUM_FEATURES) {
    fprintf(stderr, "%s: %ld bytes is not a multiple of %d features\n", argv[1], size, {UNAME}_NUM_FEATURES);
    return 2;
  }
  n = (size_t)size / {UNAME}_NUM_FEATURES;
  x = malloc((size_t)size + 1);
  cls = malloc(sizeof(int32_t) * (n + 1));
  /* the workspace must be 64-byte aligned; C99 has no aligned_alloc, so over-allocate */
  ws = {NAME}_workspace_bytes(threads) + 64;
  raw = malloc(ws);
  work = raw ? (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
  if (!x || !cls || !work || fread(x, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);
  if ({NAME}_predict_u8(x, n, NULL, cls, work, threads)) return 1;
  for (i = 0; i < n; i++) printf("%d\n", cls[i]);
  free(x); free(cls); free(raw);
  return 0;
}
"""
_MAIN = _MAIN.replace("{UNAME}", "{NAME_UPPER}")


def _fmt_main(name: str) -> str:
    return _MAIN.replace("{NAME_UPPER}", name.upper()).replace("{NAME}", name)
