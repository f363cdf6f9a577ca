"""AIGER files (and-inverter graphs) to and from the circuit IR.

An AIG has variables 0 (the constant), 1..I (inputs) and I+1..I+A (AND nodes); a literal is
``2 * var + negated``. :class:`AigBuilder` builds one with structural hashing; the writer
emits binary AIGER 1.0 (``aig``) with a symbol table, the form ABC's ``cec`` matches by name.

Names: the symbol table holds the circuit's own port names (``Circuit.input_names`` /
``output_names``: a file's names survive an import and a re-export, so ABC's ``cec`` matches the
two by name), verbatim unless one holds a newline or a NUL (then mangled, see
:mod:`.common`). The comment section starts with the circuit's name, if it has one, ended by a NUL
(the convention ABC's writer follows), and lists any mangled names; the reader takes both back.

Mapping of 2-input gates onto ANDs is derived from each gate's truth table (never a second
gate table): a gate with one true row is one AND of (possibly negated) operands, with three
true rows it is the negation of one, XOR/XNOR take three ANDs, the rest are wires or constants.

Reading (``aig`` binary and ``aag`` ASCII, combinational only) gives an IR circuit of AND-type
gates; an AND whose two fanins are the complements of ``x & y`` and ``~x & ~y`` (or of
``x & ~y`` and ``~x & y``), neither used elsewhere, is read back as one XOR / XNOR gate, so a
circuit that went through ABC does not triple its XORs in the IR.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..circuit.ir import Circuit, canonical_operands
from ..errors import FileFormatError
from ..fileio import atomic_write_bytes
from ..gates import BY_NAME, GATES, gate_id_from_truth, truth_rows
from .base import Artifacts, Emitter
from .common import aiger_symbol, name_comments, port_names, read_name_comments

__all__ = ["AigerEmitter", "AigBuilder", "circuit_to_aig", "write_aiger", "read_aiger", "aiger_bytes",
           "parse_aiger", "naive_and_count"]

FALSE, TRUE = 0, 1


class AigBuilder:
    """An AIG under construction: inputs first, then AND nodes in topological order."""

    def __init__(self, num_inputs: int):
        self.num_inputs = int(num_inputs)
        self.rhs0: list[int] = []
        self.rhs1: list[int] = []
        self._hash: dict[tuple[int, int], int] = {}

    def input(self, i: int) -> int:
        return 2 * (i + 1)

    @property
    def num_ands(self) -> int:
        return len(self.rhs0)

    def and_(self, x: int, y: int) -> int:
        # Trivial cases first so constants and duplicates never become nodes.
        if x == FALSE or y == FALSE or x == (y ^ 1):
            return FALSE
        if x == TRUE or x == y:
            return y
        if y == TRUE:
            return x
        if x < y:
            x, y = y, x
        key = (x, y)
        lit = self._hash.get(key)
        if lit is None:
            lit = 2 * (self.num_inputs + 1 + len(self.rhs0))
            self.rhs0.append(x)
            self.rhs1.append(y)
            self._hash[key] = lit
        return lit

    def or_(self, x: int, y: int) -> int:
        return self.and_(x ^ 1, y ^ 1) ^ 1

    def xor_(self, x: int, y: int) -> int:
        return self.and_(self.and_(x, y) ^ 1, self.and_(x ^ 1, y ^ 1) ^ 1)

    def mux(self, sel: int, t: int, f: int) -> int:
        return self.or_(self.and_(sel, t), self.and_(sel ^ 1, f))

    def gate(self, op: int, x: int, y: int) -> int:
        """Literal of 2-input gate ``op`` (a gate id) applied to literals x (a) and y (b)."""
        rows = truth_rows(int(op))      # outputs for (a, b) = 00, 01, 10, 11
        ones = [i for i, t in enumerate(rows) if t]
        lit = lambda r: self.and_(x if r >> 1 else x ^ 1, y if r & 1 else y ^ 1)  # noqa: E731
        if len(ones) == 0:
            return FALSE
        if len(ones) == 4:
            return TRUE
        if len(ones) == 1:
            return lit(ones[0])
        if len(ones) == 3:
            return lit(rows.index(0)) ^ 1
        # Two true rows: a, b, their negations, XOR or XNOR.
        if rows[0] == rows[1] and rows[2] == rows[3]:
            return x ^ (rows[0])          # depends on a only
        if rows[0] == rows[2] and rows[1] == rows[3]:
            return y ^ (rows[0])          # depends on b only
        return self.xor_(x, y) ^ rows[0]  # rows[0] = 1: XNOR

    def to_bytes(self, outputs, input_names=None, output_names=None, comment: str = "") -> bytes:
        """Binary AIGER 1.0 with a symbol table."""
        I, A, O = self.num_inputs, self.num_ands, len(outputs)
        M = I + A
        out = bytearray(f"aig {M} {I} 0 {O} {A}\n".encode())
        out += "".join(f"{int(o)}\n" for o in outputs).encode()
        enc = bytearray()
        for k in range(A):
            lhs = 2 * (I + 1 + k)
            for delta in (lhs - self.rhs0[k], self.rhs0[k] - self.rhs1[k]):
                while delta >= 0x80:
                    enc.append((delta & 0x7F) | 0x80)
                    delta >>= 7
                enc.append(delta)
        out += enc
        names_i = input_names if input_names is not None else [f"i{i}" for i in range(I)]
        names_o = output_names if output_names is not None else [f"o{i}" for i in range(O)]
        for kind, names in (("i", names_i), ("o", names_o)):
            for i, name in enumerate(names):
                if "\n" in name:
                    raise ValueError(f"AIGER symbol {name!r} contains a newline")
                out += f"{kind}{i} {name}\n".encode()
        if comment:
            out += b"c\n" + comment.encode() + b"\n"
        return bytes(out)


def circuit_to_aig(circuit: Circuit, builder: AigBuilder | None = None,
                   inputs: list[int] | None = None) -> tuple[AigBuilder, list[int]]:
    """Gate network of ``circuit`` as AIG literals of its outputs (head and encoder not included).

    With ``builder``/``inputs`` given, the network is added to an existing AIG on the given input
    literals (used to build full-design references).
    """
    if builder is None:
        builder = AigBuilder(circuit.num_inputs)
        inputs = [builder.input(i) for i in range(circuit.num_inputs)]
    lit = list(inputs) + [0] * circuit.num_gates
    n = circuit.num_inputs
    op, a, b = circuit.op.tolist(), circuit.a.tolist(), circuit.b.tolist()
    for g in range(circuit.num_gates):
        lit[n + g] = builder.gate(op[g], lit[a[g]], lit[b[g]])
    return builder, [lit[o] for o in circuit.outputs.tolist()]


def naive_and_count(circuit: Circuit) -> int:
    """ANDs of the gate-by-gate translation (no hashing, no dead-logic removal): 1 per AND-like
    gate, 3 per XOR/XNOR, 0 for wires and constants. The baseline ABC's savings are measured from."""
    ones = np.array([sum(g.truth) for g in GATES])
    xor_like = np.array([sum(g.truth) == 2 and g.truth[0] == g.truth[3] for g in GATES])
    cost = np.where(xor_like, 3, np.where((ones == 1) | (ones == 3), 1, 0))
    return int(cost[circuit.op].sum())


def aiger_bytes(circuit: Circuit, comment: str = "", input_names: list[str] | None = None,
                output_names: list[str] | None = None) -> bytes:
    """The gate network as binary AIGER with a symbol table: the given names, else the circuit's
    own (``Circuit.input_names`` / ``output_names``: i<k> and o<k> unless it has names), each
    verbatim unless AIGER cannot hold it (see :mod:`.common`). The comment section holds the
    circuit's name (NUL-ended) when it has one, then ``comment`` (default: what the file holds),
    then the mangled names. The head and the encoder are not part of it."""
    names = port_names(circuit, aiger_symbol, "AIGER", shared="any", input_names=input_names,
                       output_names=output_names)
    lines = [comment or "gatelearn gate network (GroupSum head and encoder not included)"]
    name = circuit.name
    if name is not None:
        # ABC's writer puts the network's name first, ended by a NUL; the reader takes it back
        lines.insert(0, aiger_symbol(name) + "\0")
    lines += name_comments(names, None if name is None else aiger_symbol(name), name)
    builder, outs = circuit_to_aig(circuit)
    return builder.to_bytes(outs, names.inputs, names.outputs, "\n".join(lines))


class AigerEmitter(Emitter):
    """Target ``aiger``: NAME.aig, the gate network (no head, no encoder). Options: ``comment``,
    ``input_names``, ``output_names`` (the symbol table, default the circuit's own names; ABC's
    ``cec`` matches ports by name)."""
    target = "aiger"
    default_name = "net"

    def emit(self, circuit: Circuit, name: str | None = None, comment: str = "",
             input_names: list[str] | None = None, output_names: list[str] | None = None) -> Artifacts:
        name = name or self.default_name
        data = aiger_bytes(circuit.validate(), comment, input_names, output_names)
        return Artifacts(name, {f"{name}.aig": data}, {"gates": circuit.num_gates})


def write_aiger(circuit: Circuit, path: str | os.PathLike, comment: str = "") -> Path:
    """Write the gate network as binary AIGER (the circuit's port names, see :func:`aiger_bytes`),
    atomically."""
    path = Path(path)
    atomic_write_bytes(path, aiger_bytes(circuit, comment))
    return path


# ---------------------------------------------------------------------------------- reading
def read_aiger(path: str | os.PathLike) -> Circuit:
    """Read a combinational AIGER file (binary ``aig`` or ASCII ``aag``) into an IR circuit.

    Symbol names go to ``meta['input_names']`` / ``meta['output_names']`` when present, the
    circuit's name (a NUL-ended first comment line, as ABC and gatelearn write it) to
    ``meta['name']``. Raises :class:`FileFormatError` naming the file and the problem.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FileFormatError(f"cannot read AIGER file {path}: {exc}") from exc
    try:
        return parse_aiger(data, source=str(path))
    except FileFormatError as exc:
        raise FileFormatError(f"{path}: {exc}") from exc


# Reader limits. AIGER literals are unsigned 32-bit numbers (the reference library's), so a
# variable index is below 2^31. Binary inputs take no bytes in the file, so their count is the one
# number a file's size does not bound: a million times MNIST's 784 pixels is far beyond any network.
MAX_VARIABLE = 2 ** 31 - 1
MAX_BINARY_INPUTS = 2 ** 24


def _fail(msg: str):
    raise FileFormatError(msg)


def parse_aiger(data: bytes, source: str = "<bytes>") -> Circuit:
    """Parse the bytes of an AIGER file (see :func:`read_aiger`). Header counts are checked
    against the data's size before anything is allocated for them."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_aiger takes the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    pos = data.find(b"\n")
    if pos < 0:
        _fail("not an AIGER file (no header line)")
    header = data[:pos].split()
    if not header or header[0] not in (b"aig", b"aag"):
        _fail(f"not an AIGER file (header {data[:40]!r}; expected 'aig M I L O A' or 'aag ...')")
    binary = header[0] == b"aig"
    try:
        nums = [int(x) for x in header[1:]]
    except ValueError:
        _fail(f"malformed AIGER header {data[:pos]!r}")
    if len(nums) < 5 or any(x < 0 for x in nums):
        _fail(f"malformed AIGER header {data[:pos]!r}: need M I L O A")
    M, I, L, O, A = nums[:5]
    extra = nums[5:]
    if L:
        _fail(f"has {L} latches; only combinational AIGER circuits can be read")
    if any(extra[:1]) or any(extra[1:]):
        _fail("uses AIGER 1.9 bad-state/constraint/justice/fairness sections; only plain combinational "
              "outputs are supported")
    if M > MAX_VARIABLE:
        _fail(f"header says M={M}; AIGER literals are 32-bit numbers, so M is at most {MAX_VARIABLE}")
    if M < I + A:
        _fail(f"header says M={M} but I+A={I + A}")
    # What the header promises must fit in the file before anything is allocated for it: each
    # ASCII input line takes at least 2 bytes ("2\n"), each output line 2, each AND line 6
    # ("2 0 0\n"); a binary AND takes at least 2 bytes (two deltas), a binary input none.
    follow = len(data) - (pos + 1)
    need = 2 * O + (2 * I + 6 * A if not binary else 2 * A)
    if need > follow + 1:   # + 1: the last line may lack its newline
        _fail(f"header declares {I} inputs, {O} outputs and {A} AND gates, which need at least {need} bytes, "
              f"but {follow} bytes follow the header (a truncated file or a wrong header)")
    if binary and I > MAX_BINARY_INPUTS:
        _fail(f"header declares {I} inputs; gatelearn reads binary AIGER files of at most {MAX_BINARY_INPUTS} "
              f"inputs")
    lines_at = pos + 1

    def next_line():
        nonlocal lines_at
        end = data.find(b"\n", lines_at)
        if end < 0:
            end = len(data)
            if lines_at >= end:
                _fail("file ends early (truncated?)")
        line = data[lines_at:end]
        lines_at = end + 1
        return line

    def ints(line, count, what):
        try:
            vals = [int(x) for x in line.split()]
        except ValueError:
            vals = []
        if len(vals) != count:
            _fail(f"malformed {what} line {line[:60]!r}")
        for v in vals:   # before they go into int64 arrays
            if not 0 <= v <= maxlit:
                _fail(f"{what} literal {v} out of range (M={M})")
        return vals

    maxlit = 2 * M + 1
    if binary:
        in_lits = [2 * (i + 1) for i in range(I)]
    else:
        in_lits = [ints(next_line(), 1, "input")[0] for _ in range(I)]
    out_lits = [ints(next_line(), 1, "output")[0] for _ in range(O)]
    lhs = np.zeros(A, np.int64)
    r0 = np.zeros(A, np.int64)
    r1 = np.zeros(A, np.int64)
    if binary:
        buf = data
        p = lines_at
        n = len(buf)
        for k in range(A):
            l = 2 * (I + 1 + k)
            vals = []
            for _ in range(2):
                x, shift = 0, 0
                while True:
                    if p >= n:
                        _fail(f"file ends inside AND node {k} of {A} (truncated?)")
                    c = buf[p]
                    p += 1
                    x |= (c & 0x7F) << shift
                    if not c & 0x80:
                        break
                    shift += 7
                vals.append(x)
            a0 = l - vals[0]
            a1 = a0 - vals[1]
            if a0 < 0 or a1 < 0 or a0 >= l:
                _fail(f"AND node {k} has an invalid delta encoding")
            lhs[k], r0[k], r1[k] = l, a0, a1
        lines_at = p
    else:
        for k in range(A):
            lhs[k], r0[k], r1[k] = ints(next_line(), 3, "AND")
    # Symbols and comments.
    in_names: dict[int, str] = {}
    out_names: dict[int, str] = {}
    comment = b""
    while lines_at < len(data):
        line = next_line()
        if line == b"c":
            comment = data[lines_at:]
            break
        if not line:
            continue
        kind = line[:1]
        if kind in (b"i", b"o", b"l", b"b", b"c", b"j", b"f"):
            sp = line.find(b" ")
            try:
                idx = int(line[1:sp])
            except ValueError:
                _fail(f"malformed symbol line {line[:60]!r}")
            name = line[sp + 1:].decode("utf-8", "replace")
            if kind == b"i" and 0 <= idx < I:
                in_names[idx] = name
            elif kind == b"o" and 0 <= idx < O:
                out_names[idx] = name
            else:
                _fail(f"symbol line {line[:60]!r} refers to a nonexistent {kind.decode()}{idx}")
        else:
            _fail(f"unexpected line {line[:60]!r} after the AND section")
    # Variable -> AND index, checking every literal.
    for name, lits in (("input", in_lits), ("output", out_lits)):
        for x in lits:
            if not 0 <= x <= maxlit:
                _fail(f"{name} literal {x} out of range (M={M})")
    in_vars = [x >> 1 for x in in_lits]
    if any(x & 1 or x < 2 for x in in_lits) or len(set(in_vars)) != I:
        _fail("input literals must be distinct, positive, even")
    if A and (lhs.min() < 2 or lhs.max() > maxlit or (lhs & 1).any()):
        _fail("AND left-hand sides must be even literals in range")
    if A and (max(r0.max(), r1.max()) > maxlit or min(r0.min(), r1.min()) < 0):
        _fail("AND operand literal out of range")
    # Variables are renumbered densely (0, then the defined ones in increasing order), so memory
    # follows what the file defines, not M: an ASCII file may leave gaps up to any M.
    defined = np.concatenate([np.zeros(1, np.int64), np.array(in_vars, np.int64), lhs >> 1])
    var_ids, counts = np.unique(defined, return_counts=True)
    if (counts > 1).any():
        _fail(f"variable {int(var_ids[np.argmax(counts > 1)])} is defined twice")

    def renumber(lits: np.ndarray) -> np.ndarray:
        v = lits >> 1
        at = np.minimum(np.searchsorted(var_ids, v), len(var_ids) - 1)
        undefined = var_ids[at] != v
        if undefined.any():
            _fail(f"literal of variable {int(v[np.argmax(undefined)])} is used but never defined")
        return 2 * at + (lits & 1)

    used = renumber(np.concatenate([r0, r1, np.array(out_lits, np.int64)]))
    r0, r1, out_lits = used[:A], used[A:2 * A], used[2 * A:].tolist()
    lhs = renumber(lhs)
    in_vars = (renumber(np.array(in_lits, np.int64)) >> 1).tolist()
    var_kind = np.full(len(var_ids), -1, np.int64)      # -1 undefined, -2 input, k >= 0 AND index
    var_kind[0] = -3
    var_kind[in_vars] = -2
    var_kind[lhs >> 1] = np.arange(A)
    # Topological order of ANDs (binary files are ordered by construction; ASCII need not be).
    order = _topo_order(var_kind, r0, r1) if not binary else np.arange(A)
    circuit = _aig_to_circuit(I, in_vars, var_kind, lhs, r0, r1, order, out_lits)
    name, mangled = _read_comment(comment)
    if in_names:
        circuit.meta["input_names"] = [mangled.get(n, n) for n in (in_names.get(i, f"i{i}") for i in range(I))]
        if len(set(circuit.meta["input_names"])) != I:
            _fail("two inputs have the same symbol name")
    if out_names:
        circuit.meta["output_names"] = [mangled.get(n, n) for n in (out_names.get(i, f"o{i}") for i in range(O))]
    if name:
        circuit.meta["name"] = name
    circuit.meta["source"] = source
    return circuit


def _read_comment(comment: bytes) -> tuple[str | None, dict[str, str]]:
    """The circuit's name (a first comment line ended by a NUL, or the name a gatelearn writer
    had to mangle) and the port names it mangled, from an AIGER comment section."""
    lines = comment.split(b"\n")
    name = None
    if lines and b"\0" in lines[0]:
        name = lines[0].split(b"\0", 1)[0].decode("utf-8", "replace") or None
    mangled, original = read_name_comments(line.decode("utf-8", "replace") for line in lines)
    return original or name, mangled


def _topo_order(var_kind, r0, r1) -> np.ndarray:
    A = len(r0)
    state = np.zeros(A, np.int8)  # 0 new, 1 on stack, 2 done
    order: list[int] = []
    for root in range(A):
        if state[root]:
            continue
        stack = [(root, 0)]
        while stack:
            k, i = stack.pop()
            if i == 0:
                if state[k] == 2:
                    continue
                state[k] = 1
            fan = (r0[k] >> 1, r1[k] >> 1)
            if i < 2:
                stack.append((k, i + 1))
                c = var_kind[fan[i]]
                if c >= 0:
                    if state[c] == 1:
                        raise FileFormatError("the AND graph has a cycle")
                    if state[c] == 0:
                        stack.append((int(c), 0))
            else:
                state[k] = 2
                order.append(k)
    return np.array(order, np.int64)


def _aig_to_circuit(I, in_vars, var_kind, lhs, r0, r1, order, out_lits) -> Circuit:
    A = len(lhs)
    # Fanout counts decide whether an XOR pattern's inner ANDs can be absorbed.
    refs = np.zeros(A, np.int64)
    for arr in (r0, r1, np.array(out_lits, np.int64)):
        k = var_kind[arr >> 1]
        np.add.at(refs, k[k >= 0], 1)
    r0l, r1l = r0.tolist(), r1.tolist()
    vk = var_kind.tolist()

    def and_of(lit):
        """AND index of a negated literal, else None."""
        if lit & 1:
            k = vk[lit >> 1]
            if k >= 0:
                return k
        return None

    xor_of: dict[int, tuple[int, int, int]] = {}   # AND index -> (x, y, invert)
    for k in range(A):
        p, q = and_of(r0l[k]), and_of(r1l[k])
        if p is None or q is None or refs[p] != 1 or refs[q] != 1:
            continue
        x, y = r0l[p], r1l[p]
        s = {r0l[q], r1l[q]}
        if s != {x ^ 1, y ^ 1}:
            continue
        # ~(x & y) & ~(~x & ~y) = x XOR y. p and q become dead unless reached another way;
        # every node is built from its own definition, so correctness never depends on this.
        xor_of[k] = (x, y, 0)
    # Liveness from the outputs.
    live = np.zeros(A, bool)
    stack = [vk[l >> 1] for l in out_lits if vk[l >> 1] >= 0]
    while stack:
        k = stack.pop()
        if live[k]:
            continue
        live[k] = True
        fan = (xor_of[k][0], xor_of[k][1]) if k in xor_of else (r0l[k], r1l[k])
        for f in fan:
            c = vk[f >> 1]
            if c >= 0 and not live[c]:
                stack.append(c)
    ops: list[int] = []
    aa: list[int] = []
    bb: list[int] = []
    node_of_and = np.full(A, -1, np.int64)
    node_of_var: dict[int, int] = {v: i for i, v in enumerate(in_vars)}
    const_node = [-1]

    def new_gate(op, a, b) -> int:
        ops.append(op)
        aa.append(a)
        bb.append(b)
        return I + len(ops) - 1

    def node(lit) -> tuple[int, int]:
        v = lit >> 1
        if v == 0:
            if const_node[0] < 0:
                const_node[0] = new_gate(BY_NAME["FALSE"].id, 0, 0)
            return const_node[0], lit & 1
        k = vk[v]
        return (int(node_of_and[k]) if k >= 0 else node_of_var[v]), lit & 1

    for k in order.tolist():
        if not live[k]:
            continue
        if k in xor_of:
            x, y, inv = xor_of[k]
            (na, ia), (nb, ib) = node(x), node(y)
            inv ^= ia ^ ib
            op = BY_NAME["XNOR" if inv else "XOR"].id
        else:
            (na, ia), (nb, ib) = node(r0l[k]), node(r1l[k])
            # f(a, b) = (a ^ ia) & (b ^ ib): one true row, at (a, b) = (1 ^ ia, 1 ^ ib).
            rows = [int((ra ^ ia) & (rb ^ ib)) for ra, rb in ((0, 0), (0, 1), (1, 0), (1, 1))]
            op = gate_id_from_truth(*rows)
        node_of_and[k] = new_gate(op, na, nb)
    outs = []
    negated: dict[int, int] = {}
    for l in out_lits:
        nd, inv = node(l)
        if inv:
            if nd not in negated:
                negated[nd] = new_gate(BY_NAME["NOT_A"].id, nd, 0)
            nd = negated[nd]
        outs.append(nd)
    op = np.array(ops, np.uint8)
    a, b = canonical_operands(op, np.array(aa, np.int64), np.array(bb, np.int64))
    try:
        return Circuit(I, op, a, b, np.array(outs, np.int64), meta={}).validate()
    except ValueError as exc:
        raise FileFormatError(f"AIGER graph does not form a valid circuit: {exc}") from exc
