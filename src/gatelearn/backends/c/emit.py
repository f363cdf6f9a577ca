"""Standalone C99 from a circuit: bit-sliced across samples, with the encoder, the GroupSum
counters and the argmax in C.

The C lives in real files, ``templates/net.c``, ``net.h`` and ``main.c``; this module computes
the numbers (tables, sizes, offsets) and fills the templates' ``${NAME}`` fields, all with
:class:`string.Template`. Layout of the generated code (``NAME.c`` + ``NAME.h``; the API is
documented in the header):

* A *word* holds one bit per sample: ``GL_WORD_BITS`` samples at once (GCC vector extension
  ``uint64_t __attribute__((vector_size(64)))`` for 512, so the compiler emits AVX-512 / AVX2 /
  SSE as the target allows; ``-DGL_PORTABLE`` gives plain ``uint64_t``). Lane l of a word (its
  l-th 64-bit element) holds samples 64*l .. 64*l+63 of the block, sample 64*l+r at bit r.
* Encoding: each input bit is ``lo <= x[feature] <= hi`` (:func:`.layout.encoder_tables`), bits
  grouped in *planes*, so one row of a sample is compared 64 features at a time against constant
  vectors (AVX-512BW / AVX2 compare-to-mask), then 64x64 bit blocks are transposed with word-wide
  operations (all lanes at once).
* Gates: data, not code. The gates are grouped by logic level (gates of one level never read
  each other; levels as soon or as late as possible, whichever keeps fewer values live) and,
  inside a level, by kind; each group is a *run* that writes consecutive
  workspace slots (:class:`.layout.Schedule`). The evaluator is one fixed loop per gate kind,
  ``d[i] = S[a[i]] & ~S[b[i]]`` with the expression text taken from the one gate table, over
  static operand-index tables. The compiler's time does not depend on the network's size (the
  tables are just numbers) and the hot loop is the plain indexed loop. Slots are reused once the
  last level that reads them has run (lowest free slot first), so the live workspace is about two
  levels wide and stays in L2.
* GroupSum: per class a bit-sliced counter. The class's output bits (output gates no other gate
  reads are never stored in the workspace) are evaluated into a small buffer by the same run loop
  as the gates, then summed by Harley-Seal carry-save adders 16 words at a time. The counter
  words of all classes are transposed back (64 x 64 bit blocks) so each sample's class counts are
  a shift and a mask.
* Plain circuits (no head) also get ``NAME_eval_packed`` (``templates/packed.c``): input bits
  in and every output bit out, packed one row of 64-vector words per input and per output, no
  encoder and no transposes. Its values are ``GL_PK`` words each (chosen here, up to 16, while
  the workspace stays within PACKED_WORKSPACE_BYTES), so the table reads and the dispatch of a
  run are shared by all those words: deep circuits, whose levels are a few gates wide, cost
  what their gates cost.
* Blocks of samples are spread over threads with OpenMP when it is available.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

import numpy as np

from ...circuit.ir import USES_A, USES_B, Circuit
from ...errors import InputError
from ...gates import BY_NAME, GATES
from ..base import Artifacts, Emitter
from ..base import check_name as base_check_name
from ..common import num_classes, num_features
from .layout import TABLE_LANES, TILE_SLOTS, EncoderTables, Schedule, encoder_tables

__all__ = ["CEmitter", "generate_c", "DEFAULT_WORD_BITS", "WIDE_WORKSPACE_BYTES", "PACKED_WORKSPACE_BYTES"]

DEFAULT_WORD_BITS = 0      # 0: auto: 512 with AVX-512F if the workspace stays small, else 256
# Largest workspace (at 512-bit words) for which auto picks 512-bit words. Past it the gates'
# operands stream from outside L2 and half-width words win: MNIST 6 x W random-gate networks, one
# core of an AVX-512 Xeon with 2 MB of L2, 512 vs 256-bit M images/s: 1.1 MB workspace 7.24 vs
# 7.06, 1.4 MB 5.23 vs 5.49, 2.1 MB 2.94 vs 3.71, 5.8 MB (6 x 64,000) 0.73 vs 0.85.
WIDE_WORKSPACE_BYTES = 1_280 * 1024
# The packed evaluator (plain circuits) gives each value up to MAX_PACKED_WORDS words while its
# workspace stays within PACKED_WORKSPACE_BYTES (half of a 1-2 MB L2; the rest is the tables and
# the inputs and outputs streaming through).
PACKED_WORKSPACE_BYTES = 512 * 1024
MAX_PACKED_WORDS = 16

PASS_A = BY_NAME["A"].id
FALSE, TRUE = BY_NAME["FALSE"].id, BY_NAME["TRUE"].id


@cache
def template(file_name: str) -> Template:
    """One of the C templates shipped in ``templates/``."""
    return Template(resources.files(__package__).joinpath("templates", file_name).read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- workspace
@dataclass
class Workspace:
    """Word offsets in one thread's workspace ``S`` (C macro names in brackets).

    ``[0, slots)`` input words and gate values; then ``counter_blocks`` 64-word blocks of class
    counters [GL_CNT], ``class_index_bits`` words of the bit-sliced argmax [GL_ARG], and the
    head's buffer of one class's output words [GL_HBUF], padded to Harley-Seal's 16."""
    slots: int
    count_bits: int            # bits of one class count [GL_NBITS]
    classes_per_block: int     # class counters per 64-row block [GL_CPB]
    counter_blocks: int        # [GL_QB]
    class_index_bits: int      # [GL_ABITS]
    head_buffer_words: int

    @property
    def counter_base(self) -> int:
        return self.slots

    @property
    def argmax_base(self) -> int:
        return self.counter_base + self.counter_blocks * 64

    @property
    def head_buffer(self) -> int:
        return self.argmax_base + self.class_index_bits

    @property
    def total_words(self) -> int:
        return self.head_buffer + self.head_buffer_words


def plan_workspace(schedule: Schedule, input_words: int, classes: int, per_class: int) -> Workspace:
    count_bits = max(1, per_class.bit_length())
    per_block = 64 // count_bits
    return Workspace(slots=max(schedule.slots, input_words), count_bits=count_bits,
                     classes_per_block=per_block, counter_blocks=-(-classes // per_block),
                     class_index_bits=max(1, (classes - 1).bit_length()),
                     head_buffer_words=-(-per_class // 16) * 16)


# ----------------------------------------------------------------------------- head
@dataclass
class HeadTables:
    """The class counters' items: per class its output bits as (gate id, operand slots), in runs
    of one gate id, like the gates; ``count_init`` counts the constant-TRUE outputs per class."""
    op: np.ndarray
    a: np.ndarray
    b: np.ndarray
    run_op: np.ndarray
    run_len: np.ndarray
    class_first_run: np.ndarray    # runs of class k: class_first_run[k] .. class_first_run[k+1]
    count_init: np.ndarray


def output_items(c: Circuit, schedule: Schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output, in order, how to get its bit as (gate id, operand slot, operand slot). An
    output the schedule inlines is evaluated from its gate's operands; one that is stored (or an
    input) is read through the pass-through gate A."""
    n, slot = c.num_inputs, schedule.slot
    outs = c.outputs
    inlined = schedule.inline[outs]
    # gate arrays padded with one entry so that outputs that are inputs index something valid
    op_p, a_p, b_p = np.append(c.op, PASS_A), np.append(c.a, 0), np.append(c.b, 0)
    gate_of_out = np.where(outs >= n, outs - n, c.num_gates)
    op = np.where(inlined, op_p[gate_of_out], PASS_A).astype(np.uint8)
    a = np.where(inlined, slot[a_p[gate_of_out]], slot[outs])
    b = np.where(inlined, slot[b_p[gate_of_out]], slot[outs])
    a = np.where(inlined & ~USES_A[op], 0, a)      # operands a gate ignores may be any slot
    b = np.where(inlined & ~USES_B[op], 0, b)
    return op, a, b


def head_tables(c: Circuit, schedule: Schedule, classes: int, per_class: int) -> HeadTables:
    """Per class, the output bits (:func:`output_items`), sorted by kind so the counter loop has
    no branch per item."""
    n = c.num_inputs
    outs = c.outputs
    op, a, b = output_items(c, schedule)
    cls = np.repeat(np.arange(classes), per_class)
    # Constant outputs (common: the passes fold many output gates to FALSE / TRUE) cost nothing
    # per block: a TRUE adds one to its class's starting count, a FALSE is dropped.
    node_op = np.append(c.op, PASS_A)[np.where(outs >= n, outs - n, c.num_gates)]
    const = (outs >= n) & ((node_op == FALSE) | (node_op == TRUE))
    count_init = np.bincount(cls[const & (node_op == TRUE)], minlength=classes)
    op, a, b, cls = op[~const], a[~const], b[~const], cls[~const]
    key = np.lexsort((a, b // TILE_SLOTS, op, cls))      # tiles, as the gates
    op, a, b, cls = op[key], a[key], b[key], cls[key]
    cut = np.flatnonzero((np.diff(op.astype(np.int64)) != 0) | (np.diff(cls) != 0)) + 1
    start = np.r_[0, cut].astype(np.int64) if len(op) else np.zeros(0, np.int64)
    run_len = np.diff(np.r_[start, len(op)])
    return HeadTables(op, a, b, op[start], run_len, np.searchsorted(cls[start], np.arange(classes + 1)),
                      count_init)


@dataclass
class OutputTables:
    """The packed evaluator's outputs: every output's item (:func:`output_items`) in runs of one
    gate id, evaluated into a buffer of one value per output; ``pos[o]`` is output o's place."""
    a: np.ndarray
    b: np.ndarray
    run_op: np.ndarray
    run_len: np.ndarray
    pos: np.ndarray


def output_tables(c: Circuit, schedule: Schedule) -> OutputTables:
    op, a, b = output_items(c, schedule)
    key = np.lexsort((a, b // TILE_SLOTS, op))      # runs of one kind, operands read in tiles
    op, a, b = op[key], a[key], b[key]
    start = np.r_[0, np.flatnonzero(np.diff(op.astype(np.int64))) + 1] if len(op) else np.zeros(0, np.int64)
    pos = np.empty(len(key), np.int64)
    pos[key] = np.arange(len(key))
    return OutputTables(a, b, op[start], np.diff(np.r_[start, len(op)]), pos)


def packed_words(slots: int) -> int:
    """Words per value of the packed evaluator: the most, a power of two up to
    MAX_PACKED_WORDS, whose workspace (``slots`` values of 512-bit words) fits in
    PACKED_WORKSPACE_BYTES. Narrow circuits get many: their runs are short, and the table reads
    and dispatch of a run are shared by all the words of its values."""
    k = 1
    while k < MAX_PACKED_WORDS and slots * 64 * 2 * k <= PACKED_WORKSPACE_BYTES:
        k *= 2
    return k


def zero_counter_rows(ws: Workspace, classes: int) -> list[int]:
    """Rows of the counter blocks no class uses (cleared once per block so the transpose reads
    zeros)."""
    used = {(k // ws.classes_per_block) * 64 + (k % ws.classes_per_block) * ws.count_bits + w
            for k in range(classes) for w in range(ws.count_bits)}
    return [r for r in range(ws.counter_blocks * 64) if r not in used]


# ----------------------------------------------------------------------------- encoder
def u8_chunk_kinds(enc: EncoderTables, features: int) -> np.ndarray:
    """Per (plane, 64-feature chunk) which uint8 test suffices (see gl_mask_u8): 0 the range
    test, 1 ``x >= lo`` only (every hi is 255), 2 the top bit (every range is 128..255). Padding
    features have empty ranges, so a chunk with padding needs the general test unless F is
    short-read (F >= 64, handled in C)."""
    kinds = np.zeros((enc.planes, enc.chunks), np.uint8)
    for j in range(enc.planes):
        for q in range(enc.chunks):
            f0, f1 = q * 64, min(features, q * 64 + 64)
            lo, hi = enc.lo8[j, f0:f1], enc.hi8[j, f0:f1]
            if features >= 64 and (hi == 255).all():
                kinds[j, q] = 2 if (lo == 128).all() else 1
    return kinds


def live_chunks(c: Circuit, enc: EncoderTables) -> np.ndarray:
    """(planes, chunks) bool: the chunks that hold an input bit the circuit reads (the passes
    leave many unused: those chunks are neither compared nor transposed)."""
    n = c.num_inputs
    live = np.zeros(n, bool)
    ua, ub = USES_A[c.op], USES_B[c.op]
    live[c.a[ua][c.a[ua] < n]] = True
    live[c.b[ub][c.b[ub] < n]] = True
    live[c.outputs[c.outputs < n]] = True
    used = np.zeros((enc.planes, enc.chunks), bool)
    used[enc.plane[live], enc.feature[live] // 64] = True
    return used


def encoder_calls(enc: EncoderTables, used: np.ndarray, kinds: np.ndarray, features: int
                  ) -> tuple[list[int], dict[str, list[str]]]:
    """The encoder unrolled over the live (plane, chunk) pairs, each chunk's uint8 test fixed
    here: the chunks' block numbers, and per input type the C lines that compare one sample."""
    blocks, lines = [], {"u8": [], "f32": []}
    for j in range(enc.planes):
        for q in range(enc.chunks):
            if not used[j, q]:
                continue
            k = j * enc.chunks + q
            blocks.append(k)
            valid = min(64, features - q * 64)
            for kind, lo, hi, test in (("u8", "GL_LO8", "GL_HI8", int(kinds[j, q])), ("f32", "GL_LOF", "GL_HIF", 0)):
                lines[kind].append(f"      U[at + (size_t){k * 64} * GL_LANES] = gl_mask_{kind}(row + {q * 64}, "
                                   f"{lo}[{j}] + {q * 64}, {hi}[{j}] + {q * 64}, {valid}, {test});")
    return blocks, lines


# ----------------------------------------------------------------------------- C text
def c_float(v: np.float32) -> str:
    """A float32 constant exactly (hex float), or INFINITY."""
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return float(v).hex() + "f"


def matrix_rows(rows: np.ndarray, fmt=str) -> str:
    """The rows of a 2-D initializer, one ``{...}`` per line."""
    return ",\n".join("  {" + ",".join(fmt(v) for v in row) + "}" for row in rows)


def array_fields(key: str, values) -> dict[str, str]:
    """Template fields ``KEY`` (the values, comma-separated) and ``KEY_LEN`` of a 1-D table."""
    v = np.asarray(values).ravel()
    if len(v) == 0:
        v = np.zeros(1, np.int64)         # C forbids empty arrays
    return {key: ",".join(map(str, v.tolist())), f"{key}_LEN": str(len(v))}


def c_string(text: str) -> str:
    """``text`` as a C string literal that reads back byte for byte: UTF-8, with quotes,
    backslashes, ``?`` (C99 trigraphs: ``??/`` is a backslash) and every byte outside printable
    ASCII written as escapes (three octal digits, so a following digit cannot extend them)."""
    out = []
    for byte in text.encode("utf-8", errors="replace"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def class_names(circuit: Circuit, classes: int) -> list[str]:
    """The class names the circuit carries (``meta["class_names"]``, put there by the lowering
    from the model's spec), or the indices as text when it has none that fit."""
    names = circuit.meta.get("class_names")
    if isinstance(names, list) and len(names) == classes and all(isinstance(n, str) for n in names):
        return list(names)
    return [str(k) for k in range(classes)]


def gate_expressions() -> str:
    """``GL_E<id>(j)``: item j of the current run, one macro per gate, from the gate table."""
    return "\n".join(f"#define GL_E{g.id}(j) {g.c.format(a='GL_W(a[j])', b='GL_W(b[j])')}" for g in GATES)


def gate_cases() -> str:
    """The run loop's ``switch``: one unrolled loop per gate id."""
    return "\n".join(f"  case {g.id}: GL_UNROLL for (i = 0; i < len; i++) d[i] = GL_E{g.id}(i); break;"
                     for g in GATES)


def packed_expressions() -> str:
    """``GL_K<id>(j, k)``: word k of item j of the current run (values of GL_PK words)."""
    return "\n".join(f"#define GL_K{g.id}(j, k) {g.c.format(a='GL_WK(a[j], k)', b='GL_WK(b[j], k)')}" for g in GATES)


def packed_cases() -> str:
    """The packed run loop's ``switch``: per gate id, every item's GL_PK words."""
    return "\n".join(f"  case {g.id}: for (i = 0; i < len; i++) for (k = 0; k < GL_PK; k++) "
                     f"d[i * GL_PK + k] = GL_K{g.id}(i, k); break;" for g in GATES)


PACKED_DOC = """ *
 *   int ${NAME}_eval_packed(const uint64_t *in_bits, size_t n, uint64_t *out_bits,
 *                          const uint32_t *select, size_t nselect, void *workspace, int threads);
 *       The circuit on n input vectors given as bits, every output computed, packed 64 vectors to
 *       a word: with W = (n + 63) / 64, in_bits holds ${UNAME}_NUM_INPUTS = ${INPUTS} rows of W words
 *       (vector s of input i is bit s % 64 of in_bits[i * W + s / 64]) and out_bits gets one row of
 *       W words per output the same way (bits past n are 0). select: NULL for all
 *       ${UNAME}_NUM_OUTPUTS = ${OUTPUTS} outputs in order (nselect is then ignored), or nselect output
 *       indices whose rows out_bits gets, in that order. Rows per output make an output cost
 *       one word store per 64 vectors, as a gate does, so a wide circuit costs what its gates
 *       cost; no transposes. workspace must hold ${NAME}_packed_workspace_bytes(threads)
 *       bytes, 64-byte aligned. Returns 0, or -1 on a bad argument (a select index out of
 *       range). Any n works, including 0.
 *
 *   size_t ${NAME}_packed_workspace_bytes(int threads);
 *   size_t ${NAME}_packed_block(void);
 *       Its workspace size, and the vectors it evaluates at once per thread (one block: n
 *       rounded up to it costs the same as n).
"""

PACKED_API = """#define ${UNAME}_NUM_INPUTS ${INPUTS}
#define ${UNAME}_NUM_OUTPUTS ${OUTPUTS}
int ${NAME}_eval_packed(const uint64_t *in_bits, size_t n, uint64_t *out_bits, const uint32_t *select,
                        size_t nselect, void *workspace, int threads);
size_t ${NAME}_packed_workspace_bytes(int threads);
size_t ${NAME}_packed_block(void);
"""


def check_name(name: str) -> None:
    """An InputError unless ``name`` is a valid C name (the shared rules of
    :func:`gatelearn.backends.base.check_name`: identifier, not a keyword, not reserved)."""
    base_check_name(name, "c")


# ----------------------------------------------------------------------------- generation
def generate_c(circuit: Circuit, name: str = "gatelearn_net", word_bits: int = DEFAULT_WORD_BITS) -> Artifacts:
    """C for ``circuit``: ``NAME.c``, ``NAME.h`` and the example program ``NAME_main.c``.
    ``word_bits`` is the default word width of the native build (0: auto; the compile-time macro
    GL_WORD_BITS overrides it). ``info`` holds the workspace layout (gates stored, slots, ...)."""
    c = circuit.validate()
    check_name(name)
    if c.num_outputs == 0:
        raise InputError("the circuit has no outputs; nothing to compute")
    if word_bits not in (0, 64, 128, 256, 512):
        raise InputError(f"word_bits must be 0 (auto), 64, 128, 256 or 512, got {word_bits}")
    classes, features = num_classes(c), num_features(c)
    per_class = c.num_outputs // classes

    enc = encoder_tables(c)
    input_words = enc.planes * enc.padded_features
    schedule = Schedule(c, enc.plane * enc.padded_features + enc.feature, input_words)
    ws = plan_workspace(schedule, input_words, classes, per_class)
    head = head_tables(c, schedule, classes, per_class)

    seq, slot = schedule.order, schedule.slot
    ga = np.where(USES_A[c.op[seq]], slot[c.a[seq]], 0) if len(seq) else np.zeros(0, np.int64)
    gb = np.where(USES_B[c.op[seq]], slot[c.b[seq]], 0) if len(seq) else np.zeros(0, np.int64)
    # Operand tables hold offsets in 64-bit units for TABLE_LANES lanes per word (slot *
    # TABLE_LANES), so the load is one scaled address, no shift; other word widths rescale
    # (GL_OFF, a constant factor). The narrowest index type that holds them halves table traffic.
    ga, gb, ha, hb = (v * TABLE_LANES for v in (ga, gb, head.a, head.b))
    # the tables never index the head's buffer
    index_type = "uint16_t" if ws.head_buffer * TABLE_LANES <= 0xFFFF else "uint32_t"

    blocks, encode_lines = encoder_calls(enc, live_chunks(c, enc), u8_chunk_kinds(enc, features), features)
    zero_rows = zero_counter_rows(ws, classes)
    info = {"gates": c.num_gates, "stored_gates": int(schedule.stored),
            "inline_output_gates": int(schedule.inline.sum()), "slots": int(ws.slots),
            "workspace_words": int(ws.total_words), "planes": enc.planes, "classes": int(classes),
            "counter_bits": int(ws.count_bits), "gate_runs": int(len(schedule.run_op)),
            "encoded_chunks": len(blocks), "chunks": enc.planes * enc.chunks}

    fields = {
        "NAME": name, "UNAME": name.upper(), "WORD_BITS": word_bits,
        "WIDE": int(ws.total_words * 64 <= WIDE_WORKSPACE_BYTES),
        "INPUTS": c.num_inputs, "FEATURES": features, "GATES": c.num_gates, "OUTPUTS": c.num_outputs,
        "CLASSES": classes, "CHUNKS": enc.chunks, "PADDED_FEATURES": enc.padded_features,
        "PLANES": enc.planes, "INPUT_WORDS": input_words, "COUNTER_BASE": ws.counter_base,
        "COUNTER_BLOCKS": ws.counter_blocks, "COUNT_BITS": ws.count_bits,
        "CLASSES_PER_BLOCK": ws.classes_per_block, "TOTAL_WORDS": ws.total_words,
        "ARGMAX_BASE": ws.argmax_base, "CLASS_INDEX_BITS": ws.class_index_bits,
        "HEAD_BUFFER": ws.head_buffer, "GATE_RUNS": len(schedule.run_op), "INDEX_TYPE": index_type,
        "TABLE_LANES": TABLE_LANES,
        "LO8": matrix_rows(enc.lo8), "HI8": matrix_rows(enc.hi8),
        "LOF": matrix_rows(enc.lof, c_float), "HIF": matrix_rows(enc.hif, c_float),
        **array_fields("ENC_BLOCKS", blocks), "ENC_BLOCKS_COUNT": len(blocks),
        **array_fields("GA", ga), **array_fields("GB", gb),
        **array_fields("RUN_OP", schedule.run_op), **array_fields("RUN_LEN", schedule.run_len),
        **array_fields("RUN_OUT", schedule.run_out),
        **array_fields("HA", ha), **array_fields("HB", hb),
        **array_fields("HRUN_OP", head.run_op), **array_fields("HRUN_LEN", head.run_len),
        **array_fields("CLS_RUN", head.class_first_run), **array_fields("CNT_INIT", head.count_init),
        **array_fields("ZERO_ROWS", zero_rows), "ZERO_ROWS_COUNT": len(zero_rows),
        # one encoder per input type, from the same template
        "ENCODERS": "\n\n".join(template("encode.c").substitute(SUFFIX=kind, CTYPE=ctype,
                                                                 BODY="\n".join(encode_lines[kind])).rstrip("\n")
                                 for kind, ctype in (("u8", "uint8_t"), ("f32", "float"))),
        "GATE_EXPRESSIONS": gate_expressions(), "GATE_CASES": gate_cases(),
        # an initializer list, so that a program can index the names without calling anything
        "CLASS_NAMES": "{" + ", ".join(c_string(n) for n in class_names(c, classes)) + "}",
        "PACKED": "", "PACKED_DOC": "", "PACKED_API": "",
    }
    if c.head is None:
        # A plain circuit also gets the packed evaluator (bits in, bits out): its outputs go to
        # a buffer after the workspace's slots, one value each.
        out = output_tables(c, schedule)
        words = packed_words(ws.slots + c.num_outputs)
        info["packed_words"] = words
        fields.update({"PACKED_WORDS": words, "PACKED_OUT_BASE": ws.slots, "PACKED_SLOTS": ws.slots + c.num_outputs,
                       "ORUNS": len(out.run_op), "PACKED_EXPRESSIONS": packed_expressions(),
                       "PACKED_CASES": packed_cases(),
                       **array_fields("OA", out.a * TABLE_LANES), **array_fields("OB", out.b * TABLE_LANES),
                       **array_fields("ORUN_OP", out.run_op), **array_fields("ORUN_LEN", out.run_len),
                       **array_fields("OPOS", out.pos)})
        fields["PACKED"] = template("packed.c").substitute(fields)
        fields["PACKED_DOC"] = Template(PACKED_DOC).substitute(fields)
        fields["PACKED_API"] = Template(PACKED_API).substitute(fields)
    files = {f"{name}.c": template("net.c").substitute(fields),
             f"{name}.h": template("net.h").substitute(fields),
             f"{name}_main.c": template("main.c").substitute(fields)}
    return Artifacts(name, files, info)


class CEmitter(Emitter):
    """Target ``c``: NAME.c, NAME.h (the API) and NAME_main.c (an example program).
    Option: ``word_bits`` (0 auto, 64, 128, 256 or 512), the default word width."""
    target = "c"
    default_name = "gatelearn_net"

    def emit(self, circuit: Circuit, name: str | None = None, word_bits: int = DEFAULT_WORD_BITS) -> Artifacts:
        return generate_c(circuit, self.checked_name(name), word_bits)
