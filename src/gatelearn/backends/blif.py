"""BLIF (Berkeley Logic Interchange Format) to and from the circuit IR.

Writing: one ``.names`` per gate with its on-set cover taken from the gate table's truth rows;
constant nodes are ``.names n`` (constant 0, the form ABC reads) or ``.names n`` + ``1``.
Inputs and outputs have the circuit's own names (``Circuit.input_names`` / ``output_names``:
i<k> and o<k> unless it has names; a file's names survive an import and a re-export, so ABC's
``cec`` matches the two by name), verbatim unless a name holds whitespace, a control character,
a '#' or ends with a '\\' (then mangled and listed in a comment, see :mod:`.common`); the
``.model`` is the circuit's name (default ``gatelearn_net``). Gates are nets ``g<k>`` (with a
prefix when a port name has that shape); an output that repeats a node, or is an input of another
name, gets a buffer so every output name is its own net.

Reading: combinational single-model BLIF (``.model .inputs .outputs .names .end``, ``\\``
continuations, ``#`` comments). A ``.names`` of any fanin with an on-set (``1``) or off-set
(``0``) cover becomes 2-input gates: each cube an AND tree of literals, the cubes an OR tree.
Nets may be defined in any order; a cycle, an undefined net, ``.latch``, ``.subckt`` or
``.gate`` is a :class:`FileFormatError` naming the file and line. The port names go to
``meta['input_names']`` / ``meta['output_names']`` (names a gatelearn writer mangled restored),
the ``.model`` name to ``meta['name']``.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..circuit.ir import Circuit, canonical_operands
from ..errors import FileFormatError, InputError
from ..fileio import atomic_write_text
from ..gates import BY_NAME, gate_id_from_truth, truth_rows
from .base import Artifacts, Emitter
from .common import NAMES_COMMENT, blif_name, internal_prefix, name_comments, port_names, read_name_comments

__all__ = ["BlifEmitter", "blif_text", "write_blif", "read_blif", "parse_blif"]


DEFAULT_MODEL = "gatelearn_net"


def blif_text(circuit: Circuit, model: str | None = None) -> str:
    """The gate network as BLIF text: ``.model`` named ``model`` (default: the circuit's name, else
    gatelearn_net), the circuit's port names (see the module docstring)."""
    n = circuit.num_inputs
    names = port_names(circuit, blif_name, "BLIF", shared="same_node")
    outs = names.outputs
    # gate nets g<k> must not take a port's name: a prefix when a port is called like one
    p = internal_prefix(names.inputs + outs, r"g\d+")
    name = names.inputs + [f"{p}g{g}" for g in range(circuit.num_gates)]
    model = model if model is not None else circuit.name or DEFAULT_MODEL
    lines = [f"# gatelearn gate network: {n} inputs, {circuit.num_gates} gates, "
             f"{circuit.num_outputs} outputs (GroupSum head and encoder not included)"]
    lines += ["# " + line for line in name_comments(names, blif_name(model), model)]
    model = blif_name(model)
    lines += [f".model {model}", ".inputs " + " ".join(name[:n]), ".outputs " + " ".join(outs)]
    # Gates whose output feeds exactly one output port take the port's name directly.
    out_list = circuit.outputs.tolist()
    counts: dict[int, int] = {}
    for o in out_list:
        counts[o] = counts.get(o, 0) + 1
    for k, o in enumerate(out_list):
        if o >= n and counts[o] == 1:
            name[o] = outs[k]
    op, a, b = circuit.op.tolist(), circuit.a.tolist(), circuit.b.tolist()
    for g in range(circuit.num_gates):
        rows = truth_rows(op[g])
        node = n + g
        if not any(rows):
            lines.append(f".names {name[node]}")
        elif all(rows):
            lines += [f".names {name[node]}", "1"]
        else:
            lines.append(f".names {name[a[g]]} {name[b[g]]} {name[node]}")
            lines += [f"{r >> 1}{r & 1} 1" for r in range(4) if rows[r]]
    # the rest are buffers: an output that repeats a node, or an input under another name (an
    # output named like the input it is needs none: port_names allows only that sharing)
    for k, o in enumerate(out_list):
        if name[o] != outs[k]:
            lines += [f".names {name[o]} {outs[k]}", "1 1"]
    lines.append(".end")
    return "\n".join(lines) + "\n"


class BlifEmitter(Emitter):
    """Target ``blif``: NAME.blif, the gate network (no head, no encoder), with the circuit's port
    names. Option: ``model``, the ``.model`` name (default: the circuit's name, else
    gatelearn_net)."""
    target = "blif"
    default_name = "net"

    def emit(self, circuit: Circuit, name: str | None = None, model: str | None = None) -> Artifacts:
        name = name or self.default_name
        return Artifacts(name, {f"{name}.blif": blif_text(circuit.validate(), model)}, {"gates": circuit.num_gates})


def write_blif(circuit: Circuit, path: str | os.PathLike, model: str | None = None) -> Path:
    """Write the gate network as BLIF, atomically."""
    path = Path(path)
    atomic_write_text(path, blif_text(circuit, model))
    return path


def read_blif(path: str | os.PathLike) -> Circuit:
    """Read a combinational BLIF file into an IR circuit (see :func:`parse_blif`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FileFormatError(f"cannot read BLIF file {path}: {exc}") from exc
    return parse_blif(text, source=str(path))


def _logical_lines(text: str, source: str = "<text>"):
    """(line number, tokens) with comments stripped and continuations joined."""
    buf: list[str] = []
    start = 0
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not buf:
            start = no
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(buf).split()
        buf = []
        if joined:
            yield start, joined
    if buf:   # the last line ends with '\\': the statement it continues was cut off
        raise FileFormatError(f"{source}, line {start}: the file ends inside a continued line (truncated?)")


def parse_blif(text: str, source: str = "<text>", latches: str = "reject") -> Circuit:
    """Parse BLIF text. ``latches="transparent"`` reads a feed-forward pipelined netlist: each
    ``.latch`` becomes a wire, every net must be reached from the inputs through one number of
    latches, and ``meta['output_latency']`` lists, per output, the numbers of latches on the paths
    that reach it from the inputs. An output with exactly one number L (a balanced pipeline)
    computes what the circuit says, L cycles after its inputs were applied."""
    if not isinstance(text, str):
        raise TypeError(f"parse_blif takes the file's text (str), got {type(text).__name__}")
    if latches not in ("reject", "transparent"):
        raise InputError(f"latches must be 'reject' or 'transparent', got {latches!r}")
    if "\x00" in text:
        raise FileFormatError(f"{source}: not a BLIF file (binary data: a NUL byte at character {text.index(chr(0))})")

    def fail(no, msg):
        raise FileFormatError(f"{source}, line {no}: {msg}")

    inputs: list[str] = []
    outputs: list[str] = []
    model_name = None
    tables: dict[str, tuple[int, list[str], list[tuple[str, str]]]] = {}
    current = None
    latch_nets: set[str] = set()
    models = 0
    ended = False
    for no, tok in _logical_lines(text, source):
        kw = tok[0]
        if kw.startswith("."):
            current = None
            if ended:
                if kw == ".model":
                    fail(no, "more than one .model; only single-model (flat) BLIF is supported")
                fail(no, f"{kw} after .end")
            if kw == ".model":
                models += 1
                if models > 1:
                    fail(no, "more than one .model; only single-model (flat) BLIF is supported")
                model_name = " ".join(tok[1:]) or None
            elif kw == ".inputs":
                inputs += tok[1:]
            elif kw == ".outputs":
                outputs += tok[1:]
            elif kw == ".names":
                if len(tok) < 2:
                    fail(no, ".names needs at least an output net")
                out = tok[-1]
                if out in tables:
                    fail(no, f"net {out!r} is defined twice")
                current = (no, tok[1:-1], [])
                tables[out] = current
            elif kw == ".end":
                ended = True
            elif kw == ".latch" and latches == "transparent":
                if len(tok) < 3:
                    fail(no, ".latch needs an input and an output net")
                if tok[2] in tables:
                    fail(no, f"net {tok[2]!r} is defined twice")
                tables[tok[2]] = (no, [tok[1]], [("1", "1")])
                latch_nets.add(tok[2])
            elif kw in (".latch", ".mlatch"):
                fail(no, "latches are not supported; only combinational BLIF can be read")
            elif kw in (".subckt", ".gate", ".search", ".exdc"):
                fail(no, f"{kw} is not supported; flatten the design first (e.g. abc: read; strash; write_blif)")
            elif kw in (".default_input_arrival", ".default_output_required", ".input_arrival",
                        ".output_required", ".default_input_drive", ".default_output_load",
                        ".wire_load_slope", ".clock", ".area", ".delay"):
                continue  # timing / physical annotations do not change the logic
            else:
                fail(no, f"unknown directive {kw}")
        else:
            if current is None:
                fail(no, f"cover line {' '.join(tok)[:60]!r} outside a .names table")
            fanin = current[1]
            if len(fanin) == 0:
                if len(tok) != 1 or tok[0] not in ("0", "1"):
                    fail(no, f"constant table row must be '0' or '1', got {' '.join(tok)!r}")
                current[2].append(("", tok[0]))
            else:
                if len(tok) != 2 or len(tok[0]) != len(fanin) or set(tok[0]) - set("01-") \
                        or tok[1] not in ("0", "1"):
                    fail(no, f"malformed cover row {' '.join(tok)!r} for {len(fanin)} inputs")
                current[2].append((tok[0], tok[1]))
    if not models:
        raise FileFormatError(f"{source}: not a BLIF file (no .model line)")
    if len(set(inputs)) != len(inputs):
        raise FileFormatError(f"{source}: an input is listed twice")
    for inp in inputs:
        if inp in tables:
            raise FileFormatError(f"{source}: input {inp!r} is also driven by a .names table")
    for out, (no, _, rows) in tables.items():
        if len({r[1] for r in rows}) > 1:
            fail(no, f"table for {out!r} mixes on-set and off-set rows")

    ops: list[int] = []
    aa: list[int] = []
    bb: list[int] = []
    n_in = len(inputs)
    node_of: dict[str, int] = {name: i for i, name in enumerate(inputs)}
    # Numbers of latches on the paths from the inputs to each net (empty: a constant).
    regs: dict[str, frozenset] = {name: frozenset((0,)) for name in inputs}
    consts: dict[int, int] = {}

    def gate(op, a, b) -> int:
        ops.append(op)
        aa.append(a)
        bb.append(b)
        return n_in + len(ops) - 1

    def const(v: int) -> int:
        if v not in consts:
            consts[v] = gate(BY_NAME["TRUE" if v else "FALSE"].id, 0, 0)
        return consts[v]

    def tree(nodes: list[int], op_name: str) -> int:
        op = BY_NAME[op_name].id
        while len(nodes) > 1:
            nxt = [gate(op, nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
            if len(nodes) % 2:
                nxt.append(nodes[-1])
            nodes = nxt
        return nodes[0]

    def build(out: str, fanin_nodes: list[int], rows) -> int:
        if not rows:
            return const(0)                       # empty cover: constant 0
        polarity = rows[0][1]
        if not fanin_nodes:
            return const(int(polarity == "1"))
        if len(fanin_nodes) <= 2:
            # One gate: evaluate the cover on the four rows (a 1-input table ignores b).
            pad = fanin_nodes + [fanin_nodes[0]] * (2 - len(fanin_nodes))
            truth = []
            for va, vb in ((0, 0), (0, 1), (1, 0), (1, 1)):
                vals = (str(va), str(vb))[:len(fanin_nodes)]
                hit = any(all(c in ("-", v) for c, v in zip(pattern, vals)) for pattern, _ in rows)
                truth.append(int(hit == (polarity == "1")))
            return gate(gate_id_from_truth(*truth), pad[0], pad[1] if len(fanin_nodes) == 2 else 0)
        cubes = []
        for pattern, _ in rows:
            lits = []
            for ch, nd in zip(pattern, fanin_nodes):
                if ch == "1":
                    lits.append(nd)
                elif ch == "0":
                    lits.append(gate(BY_NAME["NOT_A"].id, nd, 0))
            cubes.append(tree(lits, "AND") if lits else const(1))
        f = tree(cubes, "OR")
        if polarity == "0":
            f = gate(BY_NAME["NOT_A"].id, f, 0)
        return f

    # Depth-first over the nets the outputs need; iterative so deep netlists do not recurse.
    state: dict[str, int] = {}
    for root in outputs:
        if root in node_of:
            continue
        stack = [(root, False)]
        while stack:
            net, expanded = stack.pop()
            if net in node_of:
                continue
            if net not in tables:
                raise FileFormatError(f"{source}: net {net!r} is used but never defined "
                                      "(not an input and no .names drives it)")
            no, fanin, rows = tables[net]
            if not expanded:
                if state.get(net) == 1:
                    fail(no, f"combinational cycle through net {net!r}")
                state[net] = 1
                stack.append((net, True))
                for f in fanin:
                    if f not in node_of:
                        if state.get(f) == 1:
                            fail(no, f"combinational cycle through net {f!r}")
                        stack.append((f, False))
            else:
                found = frozenset().union(*(regs[f] for f in fanin))
                if net in latch_nets:
                    node_of[net] = node_of[fanin[0]]
                    found = frozenset(r + 1 for r in found)
                else:
                    node_of[net] = build(net, [node_of[f] for f in fanin], rows)
                regs[net] = found
                state[net] = 2
    outs = [node_of[o] for o in outputs]
    op = np.array(ops, np.uint8)
    a, b = canonical_operands(op, np.array(aa, np.int64), np.array(bb, np.int64))
    mangled, original = read_name_comments(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
    meta = {"source": source, "input_names": [mangled.get(x, x) for x in inputs],
            "output_names": [mangled.get(x, x) for x in outputs]}
    if len(set(meta["input_names"])) != n_in:
        raise FileFormatError(f"{source}: its '{NAMES_COMMENT.strip()}' comment gives two inputs one name")
    if original or model_name:
        meta["name"] = original or model_name
    if latches == "transparent":
        meta["output_latency"] = [sorted(regs[o]) for o in outputs]
    try:
        return Circuit(n_in, op, a, b, np.array(outs, np.int64), meta=meta).validate()
    except ValueError as exc:
        raise FileFormatError(f"{source}: BLIF netlist does not form a valid circuit: {exc}") from exc
