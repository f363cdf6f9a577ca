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
* Gates: straight-line code ``S[d] = S[a] & ~S[b];``, the expression text taken from the one gate
  table. ``S`` is the per-thread workspace; a node's slot is reused once its last reader has run
  (a last-in-first-out free list, so a new value lands in a line that is still in cache). The code
  is split into functions of a few thousand statements so the compiler's time stays linear.
* GroupSum: per class a bit-sliced counter built from full adders (carry-save: every 3 words of
  one weight become a sum word and a carry word of the next weight), fed directly by the output
  gates (which are computed inline and never stored). The counter words of all classes are
  transposed back (64 x 64 bit blocks) so each sample's class counts are a shift and a mask.
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

DEFAULT_WORD_BITS = 0      # 0: the widest the target has (512 with AVX-512F, else 256)
STATEMENTS_PER_FUNCTION = 3000
HEAD_OUTPUTS_PER_FUNCTION = 1024


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


# ----------------------------------------------------------------------------- gate order
def dfs_order(c: Circuit, gates: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """Depth-first post-order of ``gates`` from ``roots``: a value is computed just before its
    first reader, so half of all operand reads hit a line written moments ago."""
    n = c.num_inputs
    want = np.zeros(c.num_gates, bool)
    want[gates] = True
    seen = np.zeros(c.num_gates, bool)
    ua, ub = USES_A[c.op], USES_B[c.op]
    A, B = c.a.tolist(), c.b.tolist()
    ua_l, ub_l, want_l, seen_l = ua.tolist(), ub.tolist(), want.tolist(), seen.tolist()
    out: list[int] = []
    for r in roots.tolist():
        if r < n or not want_l[r - n] or seen_l[r - n]:
            continue
        stack = [(r - n, 0)]
        while stack:
            g, state = stack.pop()
            if state == 0:
                if seen_l[g]:
                    continue
                seen_l[g] = True
                stack.append((g, 1))
                # push b then a so a is visited first
                for use, x in ((ub_l[g], B[g]), (ua_l[g], A[g])):
                    if use and x >= n and want_l[x - n] and not seen_l[x - n]:
                        stack.append((x - n, 0))
            else:
                out.append(g)
    rest = np.flatnonzero(want & ~np.array(seen_l, bool))
    order = np.array(out, np.int64)
    if len(rest):   # gates no root reaches: keep them (topological order is preserved)
        order = np.concatenate([rest, order])
    return order


# ----------------------------------------------------------------------------- generation
def _expr(op: int, a: str, b: str) -> str:
    return GATES[op].c.format(a=a, b=b)


def generate_c(circuit: Circuit, name: str = "gatelearn_net", order: str = "dfs",
               word_bits: int = DEFAULT_WORD_BITS) -> CSource:
    """Generate C for ``circuit``. ``order``: 'dfs' (depth-first from the outputs, better cache
    locality) or 'topo' (the circuit's own order). ``word_bits`` is the default word width of the
    native build (a compile-time macro, GL_WORD_BITS, can override it)."""
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

    # Which output gates are computed inline inside the counters: gates read by no other gate
    # and appearing exactly once among the outputs.
    ua, ub = USES_A[c.op], USES_B[c.op]
    readers = np.zeros(c.num_nodes, np.int64)
    np.add.at(readers, c.a[ua], 1)
    np.add.at(readers, c.b[ub], 1)
    out_times = np.bincount(c.outputs, minlength=c.num_nodes)
    is_gate_out = c.outputs >= n
    inline = np.zeros(c.num_nodes, bool)
    cand = c.outputs[is_gate_out]
    inline[cand] = (readers[cand] == 0) & (out_times[cand] == 1)
    stored = np.flatnonzero(~inline[n:])       # gates evaluated by the gate functions

    if order == "dfs":
        roots = c.outputs.copy()
        # the operands of inline gates are what the counters read
        il = c.outputs[inline[c.outputs]]
        roots = np.concatenate([[x for pair in zip(c.a[il - n], c.b[il - n]) for x in pair]
                                if len(il) else np.zeros(0, np.int64), roots]).astype(np.int64)
        seq = dfs_order(c, stored, _first_occurrence(roots))
    elif order == "topo":
        seq = stored
    else:
        raise InputError(f"order must be 'dfs' or 'topo', got {order!r}")

    # Reads in evaluation order: gate functions first, then the head in output order.
    Gs = len(seq)
    head_reads = []          # per output position: nodes read (inline gate: its operands)
    for o in c.outputs.tolist():
        if inline[o]:
            g = o - n
            head_reads.append([x for x, u in ((int(c.a[g]), ua[g]), (int(c.b[g]), ub[g])) if u])
        else:
            head_reads.append([o])
    last = np.full(c.num_nodes, -1, np.int64)
    sa, sb = c.a[seq], c.b[seq]
    pos = np.arange(Gs)
    # last use by gates (positions 0..Gs-1); np.maximum.at handles repeats
    np.maximum.at(last, sa[ua[seq]], pos[ua[seq]])
    np.maximum.at(last, sb[ub[seq]], pos[ub[seq]])
    for k, reads in enumerate(head_reads):
        for x in reads:
            last[x] = max(last[x], Gs + k)

    # Slot allocation: inputs are fixed; a gate takes the most recently freed slot.
    slot = np.full(c.num_nodes, -1, np.int64)
    slot[:n] = in_slot_of
    free: list[int] = []
    next_slot = IN_WORDS
    frees_at: dict[int, list[int]] = {}
    for x in range(n):
        if last[x] >= 0:
            frees_at.setdefault(int(last[x]), []).append(int(in_slot_of[x]))
    # inputs read by nobody: their slots are free from the start (input words are rewritten per block)
    used_in = set(in_slot_of[last[:n] >= 0].tolist())
    free.extend(s for s in range(IN_WORDS - 1, -1, -1) if s not in used_in)
    last_l = last.tolist()
    seq_l = seq.tolist()
    slot_l = slot.tolist()
    for p, g in enumerate(seq_l):
        for s in frees_at.pop(p, ()):
            free.append(s)
        if free:
            s = free.pop()
        else:
            s = next_slot
            next_slot += 1
        slot_l[n + g] = s
        lu = last_l[n + g]
        if lu < 0:
            free.append(s)                       # nobody reads it (cannot happen after remove_dead)
        elif lu < Gs:
            frees_at.setdefault(lu, []).append(s)
    slot = np.array(slot_l, np.int64)
    NSLOTS = next_slot
    cpb = 64 // nbits                              # classes per 64-row counter block
    QB = -(-C // cpb)
    CNT = NSLOTS
    parts_needed = -(-per // HEAD_OUTPUTS_PER_FUNCTION)
    PART = CNT + QB * 64                           # partial counters of long groups

    def S(node: int) -> str:
        return f"S[{slot_l[node]}]"

    # ---- gate functions
    funcs: list[str] = []
    calls: list[str] = []
    body: list[str] = []
    op_l, a_l, b_l = c.op.tolist(), c.a.tolist(), c.b.tolist()

    def flush(prefix: str):
        if body:
            fname = f"{name}_{prefix}{len(funcs)}"
            funcs.append(f"static GL_NOINLINE void {fname}(word_t *restrict S)\n{{\n" + "\n".join(body) + "\n}\n")
            calls.append(f"  {fname}(S);")
            body.clear()

    for g in seq_l:
        body.append(f"  S[{slot_l[n + g]}] = {_expr(op_l[g], S(a_l[g]), S(b_l[g]))}; GL_BARRIER;")
        if len(body) >= STATEMENTS_PER_FUNCTION:
            flush("g")
    flush("g")
    gate_calls = list(calls)
    calls.clear()

    # ---- head functions: counters
    head_funcs_start = len(funcs)

    CT = PART + (parts_needed * nbits if parts_needed > 1 else 0)   # counter scratch slots
    ct_size = 3 * nbits + 8
    total_words = CT + ct_size

    def counter(items, tmp_prefix):
        """Bit-sliced count of items (C expression, weight) -> expressions of the counter bits
        0..nbits-1. Pending words live in a few scratch slots (hot in L1); a gate expression is
        evaluated only inside the adder that consumes it. Each adder is one block followed by a
        barrier, which keeps the compiler's work linear (see GL_BARRIER)."""
        pending: list[list[str]] = [[] for _ in range(nbits)]
        pool = [f"S[{CT + i}]" for i in range(ct_size - 1, -1, -1)]
        owned: set[str] = set()

        def take() -> str:
            t = pool.pop()
            owned.add(t)
            return t

        def release(*xs):
            for x in xs:
                if x in owned:
                    owned.discard(x)
                    pool.append(x)

        def add(t: str, w: int):
            while w < nbits:
                pending[w].append(t)
                if len(pending[w]) < 3:
                    return
                x, y, z = pending[w]
                release(x, y, z)
                s_, t = take(), take()
                body.append(f"  {{ const word_t x = {x}, y = {y}, z = {z}, u = x ^ y; {s_} = u ^ z; "
                            f"{t} = (x & y) | (u & z); }} GL_BARRIER;")
                pending[w] = [s_]
                w += 1
            release(t)          # a carry out of the top bit is zero: the count fits nbits

        for expr, w in items:
            add(expr, w)
        for w in range(nbits):
            while len(pending[w]) >= 2:
                x, y = pending[w][:2]
                release(x, y)
                s_, cy = take(), take()
                body.append(f"  {{ const word_t x = {x}, y = {y}; {s_} = x ^ y; {cy} = x & y; }} GL_BARRIER;")
                pending[w] = [s_] + pending[w][2:]
                add(cy, w + 1)
        del tmp_prefix
        return [pending[w][0] if pending[w] else "ZERO" for w in range(nbits)]

    out_l = c.outputs.tolist()
    for k in range(C):
        group = out_l[k * per:(k + 1) * per]

        def item(o):
            if inline[o]:
                g = o - n
                return _expr(op_l[g], S(a_l[g]), S(b_l[g]))
            return S(o)
        q, r0 = divmod(k, cpb)
        rows = [f"S[{CNT + q * 64 + (r0 * nbits) + w}]" for w in range(nbits)]
        if parts_needed <= 1:
            bits = counter([(item(o), 0) for o in group], "t")
            body.extend(f"  {rows[w]} = {bits[w]}; GL_BARRIER;" for w in range(nbits))
            flush(f"c{k}_")
        else:
            partial = []
            for p in range(parts_needed):
                sub = group[p * HEAD_OUTPUTS_PER_FUNCTION:(p + 1) * HEAD_OUTPUTS_PER_FUNCTION]
                bits = counter([(item(o), 0) for o in sub], "t")
                dst = [f"S[{PART + p * nbits + w}]" for w in range(nbits)]
                body.extend(f"  {dst[w]} = {bits[w]}; GL_BARRIER;" for w in range(nbits))
                partial.extend((dst[w], w) for w in range(nbits))
                flush(f"c{k}_")
            bits = counter(partial, "t")
            body.extend(f"  {rows[w]} = {bits[w]}; GL_BARRIER;" for w in range(nbits))
            flush(f"c{k}_")
    # rows of the counter blocks that no class uses must be zero before the transpose
    used_rows = {(k // cpb) * 64 + (k % cpb) * nbits + w for k in range(C) for w in range(nbits)}
    zero_rows = [r for r in range(QB * 64) if r not in used_rows]
    head_calls = list(calls)
    del head_funcs_start

    info = {"gates": G, "stored_gates": int(Gs), "inline_output_gates": int(inline.sum()),
            "slots": int(NSLOTS), "workspace_words": int(total_words), "planes": int(P),
            "classes": int(C), "counter_bits": int(nbits), "order": order, "functions": len(funcs)}

    h = _HEADER.format(NAME=name, UNAME=name.upper(), F=F, C=C, G=G, I=n, O=c.num_outputs)
    src = _SOURCE_TOP.format(NAME=name, WB=word_bits)
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
    src += _c_table("GL_KIND8", "unsigned char", kind8, str)
    src += _c_table("GL_KINDF", "unsigned char", np.zeros((P, NC), np.uint8), str)
    src += _SOURCE_HELPERS
    src += "\n".join(funcs)
    src += "\nstatic void gl_network(word_t *restrict S)\n{\n" + "\n".join(gate_calls) + "\n"
    src += "\n".join(head_calls) + "\n"
    src += "".join(f"  S[{CNT + r}] = ZERO;\n" for r in zero_rows)
    src += "}\n"
    src += _SOURCE_API.replace("{NAME}", name)
    main = _fmt_main(name)
    return CSource(name, src, h, main, info)


def _first_occurrence(x: np.ndarray) -> np.ndarray:
    _, idx = np.unique(x, return_index=True)
    return x[np.sort(idx)]


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
 *       or NULL. threads: 1 or more (OpenMP); workspace must hold
 *       {NAME}_workspace_bytes(threads) bytes. Returns 0, or -1 on a bad argument.
 *       Any n works, including 0 and 1.
 *
 * Build: cc -O2 -march=native -fopenmp -c {NAME}.c   (-DGL_PORTABLE: 64-bit words, no vector
 * extensions; -DGL_WORD_BITS=256 picks the word width).
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
#define GL_NOINLINE __attribute__((noinline))
/* An empty asm with a memory clobber after every gate: the compiler then treats each gate as
   load-operate-store on its own (which is what runs fastest anyway: values live in the
   workspace, not in registers) instead of analysing thousands of memory accesses against each
   other, which made GCC's time grow quadratically with the function size. */
#define GL_BARRIER __asm__ __volatile__("" ::: "memory")
#else
#define GL_BARRIER ((void)0)
#define GL_ALIGN
#define GL_NOINLINE
#endif

/* Word width: one bit per sample. Vector extensions let the compiler use the widest registers. */
#ifndef GL_WORD_BITS
#if defined(GL_PORTABLE) || !defined(__GNUC__)
#define GL_WORD_BITS 64
#elif {WB} > 0
#define GL_WORD_BITS {WB}
#elif defined(__AVX512F__)
#define GL_WORD_BITS 512
#else
#define GL_WORD_BITS 256
#endif
#endif
#define GL_LANES (GL_WORD_BITS / 64)
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
static inline uint64_t gl_mask_u8(const uint8_t *x, const uint8_t *lo, const uint8_t *hi, int valid, int kind)
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

static inline uint64_t gl_mask_f32(const float *x, const float *lo, const float *hi, int valid, int kind)
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
/* One block: encode + transpose the inputs, run the network, transpose the counters back,
   write scores and argmax. `nb` <= GL_BLOCK samples; lanes past nb hold zeros and are ignored. */
#define GL_BLOCK_BODY(T, MASK, LO, HI, KIND)                                                       \
  do {                                                                                    \
    uint64_t *U = (uint64_t *)S;                                                          \
    size_t s; int j, c, k;                                                                \
    if (nb < GL_BLOCK) memset(S, 0, sizeof(word_t) * GL_IN_WORDS);                        \
    for (s = 0; s < nb; s++) {                                                            \
      const T *row = x + s * (size_t)GL_F;                                                \
      size_t lane = s / 64, r = s % 64;                                                   \
      for (j = 0; j < GL_PLANES; j++)                                                     \
        for (c = 0; c < GL_NC; c++)                                                       \
          U[((size_t)j * GL_FP + (size_t)c * 64 + r) * GL_LANES + lane] =                 \
            MASK(row + c * 64, LO[j] + c * 64, HI[j] + c * 64, GL_F - c * 64, KIND[j][c]);  \
    }                                                                                     \
    for (k = 0; k < GL_PLANES * GL_NC; k++) gl_transpose64(S + (size_t)k * 64);           \
    gl_network(S);                                                                        \
    for (k = 0; k < GL_QB; k++) gl_transpose64(S + GL_CNT + (size_t)k * 64);              \
    for (s = 0; s < nb; s++) {                                                            \
      size_t lane = s / 64, r = s % 64;                                                   \
      int32_t best = -1, arg = 0;                                                         \
      for (k = 0; k < GL_C; k++) {                                                        \
        uint64_t v = U[((size_t)GL_CNT + (size_t)(k / GL_CPB) * 64 + r) * GL_LANES + lane]; \
        int32_t cnt = (int32_t)((v >> ((k % GL_CPB) * GL_NBITS)) & ((1ULL << GL_NBITS) - 1)); \
        if (scores) scores[s * GL_C + k] = cnt;                                           \
        if (cnt > best) { best = cnt; arg = k; }                                          \
      }                                                                                   \
      if (classes) classes[s] = arg;                                                      \
    }                                                                                     \
  } while (0)

static void gl_block_u8(const uint8_t *x, size_t nb, word_t *S, int32_t *scores, int32_t *classes)
{
  GL_BLOCK_BODY(uint8_t, gl_mask_u8, GL_LO8, GL_HI8, GL_KIND8);
}

static void gl_block_f32(const float *x, size_t nb, word_t *S, int32_t *scores, int32_t *classes)
{
  GL_BLOCK_BODY(float, gl_mask_f32, GL_LOF, GL_HIF, GL_KINDF);
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
  void *work;
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
  ws = ({NAME}_workspace_bytes(threads) + 63) / 64 * 64;
  work = aligned_alloc(64, ws);
  if (!x || !cls || !work || fread(x, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 1;
  }
  fclose(f);
  if ({NAME}_predict_u8(x, n, NULL, cls, work, threads)) return 1;
  for (i = 0; i < n; i++) printf("%d\n", cls[i]);
  free(x); free(cls); free(work);
  return 0;
}
"""
_MAIN = _MAIN.replace("{UNAME}", "{NAME_UPPER}")


def _fmt_main(name: str) -> str:
    return _MAIN.replace("{NAME_UPPER}", name.upper()).replace("{NAME}", name)
