"""What every backend shares: the raw-input contract of the runners
(:class:`gatelearn.circuit.inputs.InputContract`: shape, dtype, NaN, category codes, bits; the same
one the torch encoders check), their result type, :class:`Prediction`, and how the writers spell a
circuit's port names in each format (:func:`port_names`, the mangling of names a format cannot
hold)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np

from ..circuit.inputs import InputContract
from ..circuit.ir import Circuit, InputEncoding
from ..errors import InputError
from .base import VERILOG_KEYWORDS


@dataclass
class Prediction:
    """Class scores as integer counts (ones per GroupSum group; without a head, the output bits)
    and the class indices (argmax, the first maximum on ties, as torch.argmax)."""
    scores: np.ndarray     # int32 (N, classes)
    classes: np.ndarray    # int32 (N,)


def num_features(c: Circuit) -> int:
    """Raw features a sample has: the encoder's feature count, or the input bits themselves."""
    return c.encoder.num_features if c.encoder is not None else c.num_inputs


def num_classes(c: Circuit) -> int:
    """Classes of the GroupSum head; without a head, each output bit is a score."""
    return c.head.classes if c.head is not None else c.num_outputs


def encoding(c: Circuit) -> InputEncoding:
    """The circuit's encoder; a circuit without one reads bits, i.e. bit i = x[i] > 0.5."""
    if c.encoder is not None:
        return c.encoder
    n = c.num_inputs
    return InputEncoding(n, np.arange(n, dtype=np.int64), np.zeros(n, np.uint8), np.full(n, 0.5),
                         InputContract.bits(n).categories)


def input_contract(c: Circuit) -> InputContract:
    """The rows ``c`` accepts: its encoder's contract (the model's), or bits without an encoder.
    Runners compute it once and call its ``check`` on every input."""
    return InputContract.of(c)


def check_raw(c: Circuit, x, where: str = "") -> np.ndarray:
    """Raw features checked against the circuit's input contract (``where`` is kept for callers of
    the old signature; the message is the contract's, the same in every runner and the model)."""
    return InputContract.of(c).check(x)


def argmax_first(scores: np.ndarray) -> np.ndarray:
    """Class indices int32 (N,): the first maximum of each row, as torch.argmax."""
    return np.argmax(scores, axis=1).astype(np.int32) if scores.shape[1] else np.zeros(len(scores), np.int32)


# ------------------------------------------------------------------------------ port names
# A circuit's port names (Circuit.input_names / output_names, its own when it was read from a
# file) are written verbatim wherever the target format allows, so that ABC's ``cec`` matches a
# re-export with its source port by port. A name a format cannot hold is *mangled*: each UTF-8
# byte of an offending character, and of every '%', becomes %XX (upper-case hex), so that
# ``unmangle`` (percent-decoding) gives the name back. Each writer lists the names it mangled in
# its file's comments (``name_comments``: "gatelearn names: {written: original}" and "gatelearn
# circuit name: original", JSON), which the AIGER and BLIF readers take back
# (``read_name_comments``): a name that needed no mangling is written verbatim even when it
# happens to hold a '%', so the list, not the look of a name, says which were mangled.
#
# What each format cannot hold:
#   AIGER    a symbol is the rest of its line: a newline, or a NUL (C readers stop there);
#   BLIF     a name is a whitespace-free token: whitespace, control characters, '#' (a comment) and
#            a final '\' (a line continuation);
#   Verilog  any printable non-space ASCII character goes into an escaped identifier (``\a[3] ``),
#            so only spaces, control characters and non-ASCII text are mangled.

NAMES_COMMENT = "gatelearn names: "                   # the comment listing mangled port names
CIRCUIT_NAME_COMMENT = "gatelearn circuit name: "     # the comment giving a mangled circuit name


def mangle(name: str, bad) -> str:
    """``name`` with every character ``bad(ch)`` says a format cannot hold, and every '%',
    percent-encoded (its UTF-8 bytes as %XX)."""
    return "".join("".join(f"%{b:02X}" for b in ch.encode("utf-8")) if bad(ch) or ch == "%" else ch
                   for ch in name)


def unmangle(text: str) -> str:
    """The name a mangled ``text`` stands for (percent-decoding; the inverse of :func:`mangle`)."""
    return unquote(text, errors="strict")


def _aiger_bad(ch: str) -> bool:
    return ch in "\n\0"


def _blif_bad(ch: str) -> bool:
    return ch.isspace() or not ch.isprintable() or ch == "#"


def _verilog_bad(ch: str) -> bool:
    return not "!" <= ch <= "~"          # printable ASCII without the space


def aiger_symbol(name: str) -> str:
    """``name`` as an AIGER symbol: verbatim unless it holds a newline or a NUL."""
    return mangle(name, _aiger_bad) if any(map(_aiger_bad, name)) else name


def blif_name(name: str) -> str:
    """``name`` as a BLIF net name: verbatim unless it holds whitespace, a control character, a
    '#' or ends with a '\\'."""
    if any(map(_blif_bad, name)) or name.endswith("\\"):
        return mangle(name, lambda ch: _blif_bad(ch) or ch == "\\")
    return name


def verilog_text(name: str) -> str:
    """The identifier text ``name`` has in Verilog (what yosys and the simulators call the port):
    verbatim when it is printable ASCII without spaces, else mangled. :func:`verilog_identifier`
    writes it as an identifier."""
    return mangle(name, _verilog_bad) if any(map(_verilog_bad, name)) else name


_SIMPLE_VERILOG = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def verilog_identifier(text: str) -> str:
    """Verilog source for the identifier ``text`` (a :func:`verilog_text`): itself when it is a
    simple identifier and no keyword, else an escaped identifier, ``\\`` + text + a space (the
    space ends it, so the next token may follow directly)."""
    if _SIMPLE_VERILOG.fullmatch(text) and text not in VERILOG_KEYWORDS:
        return text
    return "\\" + text + " "


def yosys_blif_name(text: str) -> str:
    """The name yosys's ``write_blif`` gives the Verilog port ``text``: yosys drops the escape
    backslash except before a digit or a '$' (``\\1st``), and writes '#', '=', '<' and '>' as '?'.
    For matching a synthesised netlist's ports with the circuit's."""
    if text[:1].isdigit() or text[:1] == "$":
        text = "\\" + text
    return re.sub(r"[#=<>]", "?", text)


@dataclass
class PortNames:
    """A circuit's port names as one format writes them: ``inputs`` and ``outputs`` (the
    written texts, in port order) and ``mangled`` (written text -> the circuit's name, for the
    names that had to change)."""
    inputs: list[str]
    outputs: list[str]
    mangled: dict[str, str]


def name_comments(ports: PortNames, written_name: str | None = None, name: str | None = None) -> list[str]:
    """The comment lines (without the format's comment mark) that list what a writer mangled:
    the ports' names, and the circuit's ``name`` when it was written as ``written_name``."""
    lines = []
    if ports.mangled:
        lines.append(NAMES_COMMENT + json.dumps(ports.mangled, ensure_ascii=True))
    if name is not None and written_name != name:
        lines.append(CIRCUIT_NAME_COMMENT + json.dumps(name, ensure_ascii=True))
    return lines


def read_name_comments(lines) -> tuple[dict[str, str], str | None]:
    """From a file's comment lines (their comment marks removed), what :func:`name_comments`
    wrote: written port name -> the circuit's, and the circuit's name (None when not there). A
    comment is free text: a line that only looks like one of these is ignored."""
    ports: dict[str, str] = {}
    name = None
    for line in lines:
        line = line.strip()
        for prefix in (NAMES_COMMENT, CIRCUIT_NAME_COMMENT):
            if not line.startswith(prefix):
                continue
            try:
                value = json.loads(line[len(prefix):])
            except ValueError:
                continue
            if prefix == CIRCUIT_NAME_COMMENT and isinstance(value, str) and value:
                name = value
            elif prefix == NAMES_COMMENT and isinstance(value, dict) and \
                    all(isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()):
                ports.update(value)
    return ports, name


def port_names(c: Circuit, how, fmt: str, shared: str = "never", input_names: list[str] | None = None,
               output_names: list[str] | None = None) -> PortNames:
    """``c``'s port names (or the given ones) as written by ``how`` (:func:`aiger_symbol`,
    :func:`blif_name`, :func:`verilog_text`), checked for what format ``fmt`` needs, else an
    InputError naming the ports: written input names distinct, and per ``shared``:

    * ``"any"`` (AIGER: inputs and outputs are separate symbol tables): outputs may repeat each
      other's and the inputs' names;
    * ``"same_node"`` (BLIF: a name is a net): outputs distinct, and an output may have an input's
      name only when it is that input;
    * ``"never"`` (Verilog ports): every port name distinct."""
    if shared not in ("any", "same_node", "never"):
        raise ValueError(f"shared must be 'any', 'same_node' or 'never', got {shared!r}")
    ins = list(c.input_names if input_names is None else input_names)
    outs = list(c.output_names if output_names is None else output_names)
    if len(ins) != c.num_inputs or len(outs) != c.num_outputs:
        raise InputError(f"{len(ins)} input / {len(outs)} output names given for a circuit with {c.num_inputs} "
                         f"inputs and {c.num_outputs} outputs")
    w_in, w_out = [how(n) for n in ins], [how(n) for n in outs]
    # a written name must stand for one name, or the file could not say which it is
    meaning: dict[str, str] = {}
    for w, n in zip(w_in + w_out, ins + outs):
        if meaning.setdefault(w, n) != n:
            raise InputError(f"ports named {meaning[w]!r} and {n!r} would both be written {w!r} in {fmt}; rename one")
    mangled = {w: n for w, n in meaning.items() if w != n}
    first: dict[str, int] = {}
    for i, w in enumerate(w_in):
        if w in first:
            raise InputError(f"inputs {first[w]} and {i} are both named {w!r}; {fmt} needs distinct input names")
        first[w] = i
    if shared == "any":
        return PortNames(w_in, w_out, mangled)
    seen: dict[str, int] = {}
    outputs = c.outputs.tolist()
    for k, w in enumerate(w_out):
        if w in seen:
            raise InputError(f"outputs {seen[w]} and {k} are both named {w!r}; {fmt} needs distinct output names")
        seen[w] = k
        if w in first and not (shared == "same_node" and outputs[k] == first[w]):
            rule = ("an output may only have the name of the input it is" if shared == "same_node" else
                    "an input and an output cannot have one name")
            raise InputError(f"output {k} and input {first[w]} are both named {w!r}; in {fmt} {rule}")
    return PortNames(w_in, w_out, mangled)


def internal_prefix(ports: list[str], shapes: str) -> str:
    """A prefix for a writer's internal names (regex ``shapes``, e.g. ``g\\d+``) with which none
    of them equals a port name: '' when the ports allow it, else the first of gl_, gl1_, gl2_, ..."""
    k = 0
    while True:
        p = "" if k == 0 else "gl_" if k == 1 else f"gl{k - 1}_"
        pattern = re.compile(re.escape(p) + f"(?:{shapes})")
        if not any(pattern.fullmatch(t) for t in ports):
            return p
        k += 1
