"""The one emitter interface every target implements, and the registry of targets.

An emitter turns a circuit into files: ``emit(circuit, name=..., **options) -> Artifacts``.
:class:`Artifacts` maps file names to their contents (``bytes`` or ``str``) and carries an
``info`` dict of facts the caller may want without parsing the files (Verilog's ``HwSpec``, the C
workspace layout, ...). Nothing is written until :meth:`Artifacts.write`, which writes every file
atomically, so an emitter is a pure function of the circuit and the options.

Targets (see :data:`EMITTERS`): ``c`` (bit-sliced C99: NAME.c, NAME.h, NAME_main.c), ``numpy``
(a standalone NumPy module NAME.py + its tables NAME.npz), ``verilog`` (NAME.v), ``aiger``
(NAME.aig) and ``blif`` (NAME.blif). The emitter classes are imported on first use, so the
registry costs nothing to import.

Names: every emitter checks its ``name`` with :func:`check_name` before it makes anything, against
the rules of the language the name lands in (a Verilog module, a C prefix, a Python module, a
file stem), so a bad name is refused before a file is written.
"""
from __future__ import annotations

import hashlib
import importlib
import keyword
import os
import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..circuit.ir import Circuit
from ..errors import InputError
from ..fileio import atomic_write_bytes

__all__ = ["Artifacts", "Emitter", "EMITTERS", "emitter", "emit", "check_name", "VERILOG_KEYWORDS", "C_KEYWORDS"]

# ------------------------------------------------------------------------------ names
# The name is a file stem everywhere and an identifier of the target's language: ASCII letters,
# digits and '_' (what every language and file system here accepts alike; Python would take 'é'
# but a module file name is not always encoded the way its import is spelled).
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 100      # leaves room for suffixes (NAME_pipe12_tb.v) within file-name limits

# IEEE 1364-2005 (Verilog) and IEEE 1800-2017 (SystemVerilog) reserved words: a module named
# after one is a syntax error in one tool or another, so both lists are refused.
VERILOG_KEYWORDS = frozenset("""
always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config deassign default
defparam design disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive
endspecify endtable endtask event for force forever fork function generate genvar highz0 highz1 if ifnone
incdir include initial inout input instance integer join large liblist library localparam macromodule
medium module nand negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge
primitive pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent rcmos real realtime reg
release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled signed small specify specparam
strong0 strong1 supply0 supply1 table task time tran tranif0 tranif1 tri tri0 tri1 triand trior trireg
unsigned use uwire vectored wait wand weak0 weak1 while wire wor xnor xor
accept_on alias always_comb always_ff always_latch assert assume before bind bins binsof bit break byte
chandle checker class clocking const constraint context continue cover covergroup coverpoint cross dist
do endchecker endclass endclocking endgroup endinterface endpackage endprogram endproperty endsequence
enum eventually expect export extends extern final first_match foreach forkjoin global iff ignore_bins
illegal_bins implements implies import inside int interconnect interface intersect join_any join_none
let local logic longint matches modport nettype new nexttime null package packed priority program
property protected pure rand randc randcase randsequence ref reject_on restrict return s_always
s_eventually s_nexttime s_until s_until_with sequence shortint shortreal soft solve static string strong
struct super sync_accept_on sync_reject_on tagged this throughout timeprecision timeunit type typedef
union unique unique0 until until_with untyped var virtual void wait_order weak wildcard with within
""".split())

# C99 / C11 / C23 keywords. The C name prefixes the API (NAME_predict_u8) and, upper-cased, the
# header's macros; refusing keywords and reserved spellings keeps it a name in its own right.
C_KEYWORDS = frozenset("""
auto break case char const continue default do double else enum extern float for goto if inline int
long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert
_Thread_local alignas alignof bool constexpr false nullptr static_assert thread_local true typeof
typeof_unqual _BitInt _Decimal32 _Decimal64 _Decimal128
""".split())

# What the name becomes in each target, for the messages.
_ROLE = {"verilog": "Verilog module name", "c": "C name (prefix of the API)",
         "numpy": "Python module name", "aiger": "file name", "blif": "file name"}


def _python_problem(name: str) -> str | None:
    if keyword.iskeyword(name):
        return "is a Python keyword"
    # NAME.py beside its caller would be imported instead of the standard module (or NumPy,
    # which the module itself imports), breaking both.
    if name in sys.stdlib_module_names or name in ("numpy", "gatelearn"):
        return "would shadow the Python module of that name"
    return None


def check_name(name: str | None, target: str) -> str:
    """``name`` if it is a valid name for ``target`` (see :data:`EMITTERS`), else an InputError
    that names the rule broken: an ASCII identifier (letters, digits, '_', not starting with a
    digit) of at most :data:`MAX_NAME_LENGTH` characters, and not a keyword of the target's
    language (Verilog-2005 and SystemVerilog for ``verilog``, C for ``c``, Python for
    ``numpy``, where standard-library module names are refused too)."""
    role = _ROLE.get(target, "name")
    if not isinstance(name, str) or not name:
        raise InputError(f"the {role} must be a non-empty identifier, got {name!r}")
    if not _IDENTIFIER.fullmatch(name):
        raise InputError(f"{role} {name!r} is not an ASCII identifier: use letters A-Z a-z, digits and '_' "
                         "only, not starting with a digit (e.g. gatelearn_model)")
    if len(name) > MAX_NAME_LENGTH:
        raise InputError(f"{role} {name[:20]!r}... is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
    problem = None
    if target == "verilog" and name in VERILOG_KEYWORDS:
        problem = "is a Verilog / SystemVerilog keyword"
    elif target == "c":
        if name in C_KEYWORDS:
            problem = "is a C keyword"
        elif name.startswith("_"):
            problem = "starts with '_' (C reserves such names: the header guard would be _NAME_H)"
    elif target == "numpy":
        problem = _python_problem(name)
    if problem:
        raise InputError(f"{role} {name!r} {problem}; choose another name (e.g. {name}_model)")
    return name


@dataclass
class Artifacts:
    """What an emitter made: ``files`` (file name -> contents) and ``info`` (facts about them)."""
    name: str
    files: dict[str, bytes | str]
    info: dict = field(default_factory=dict)

    def __getitem__(self, file_name: str) -> bytes | str:
        return self.files[file_name]

    def data(self, file_name: str) -> bytes:
        """A file's contents as bytes (text is UTF-8)."""
        v = self.files[file_name]
        return v.encode("utf-8") if isinstance(v, str) else v

    @property
    def digest(self) -> str:
        """SHA-256 over every file's name and contents (in name order): a content key."""
        h = hashlib.sha256()
        for fname in sorted(self.files):
            h.update(fname.encode() + b"\0" + self.data(fname) + b"\0")
        return h.hexdigest()

    def write(self, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write every file into ``out_dir`` (created if needed), each atomically; returns
        file name -> path."""
        out = Path(out_dir)
        paths = {}
        for fname in self.files:
            paths[fname] = out / fname
            atomic_write_bytes(paths[fname], self.data(fname))
        return paths


class Emitter(ABC):
    """A target: ``emit(circuit, name=..., **options) -> Artifacts``."""
    target: ClassVar[str]          # registry key, e.g. "verilog"
    default_name: ClassVar[str]    # name used when none is given (file stem / module / C prefix)

    def checked_name(self, name: str | None) -> str:
        """``name`` (``default_name`` when None) checked against this target's rules
        (:func:`check_name`); every emitter calls it before it makes anything."""
        return check_name(self.default_name if name is None else name, self.target)

    @abstractmethod
    def emit(self, circuit: Circuit, name: str | None = None, **options) -> Artifacts:
        """The target's files for ``circuit``; ``options`` are the target's own (documented on
        each emitter). Raises :class:`gatelearn.errors.InputError` for a circuit or an option the
        target cannot express."""


# target -> "module:class", imported on first use
EMITTERS: dict[str, str] = {
    "c": "gatelearn.backends.c.emit:CEmitter",
    "numpy": "gatelearn.backends.np.emit:NumpyEmitter",
    "verilog": "gatelearn.backends.verilog:VerilogEmitter",
    "aiger": "gatelearn.backends.aiger:AigerEmitter",
    "blif": "gatelearn.backends.blif:BlifEmitter",
}


def emitter(target: str) -> Emitter:
    """The emitter of ``target`` (one of :data:`EMITTERS`)."""
    if target not in EMITTERS:
        raise InputError(f"unknown target {target!r}; choose one of {', '.join(EMITTERS)}")
    module, cls = EMITTERS[target].split(":")
    return getattr(importlib.import_module(module), cls)()


def emit(circuit: Circuit, target: str, name: str | None = None, **options) -> Artifacts:
    """Shorthand for ``emitter(target).emit(circuit, name, **options)``; ``name`` is checked
    (:func:`check_name`) before the emitter runs."""
    em = emitter(target)
    return em.emit(circuit, em.checked_name(name), **options)
