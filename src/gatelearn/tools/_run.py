"""Locating and running external programs (ABC, yosys, Verilator, Icarus Verilog).

Every failure becomes a :class:`gatelearn.errors.ToolError` that names the tool, what went
wrong and what to do about it; a timeout kills the whole process group so no stray tool keeps
running after gatelearn gave up.

No path of the user's ever goes into a tool's command: ABC's command line and yosys's scripts
split on spaces and ';' (ABC's has no reliable quoting), and the make files Verilator writes
break on spaces. Each tool runs in a private :class:`Workdir`, its input files linked in under
fixed safe names and its outputs written there under such names and then copied into place; the
commands name only those relative names, so a run directory may be called anything.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import progress
from ..errors import InputError, ToolError
from ..fileio import atomic_path

# A name a tool's command language takes as one plain word: no space, ';', quote, '$', '!', '#'
# or leading '-' (an option).
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
# A Verilog module name as gatelearn writes them (a simple identifier, not an escaped one).
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*\Z")

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Tool:
    name: str              # for messages: "ABC"
    binaries: tuple        # names tried on PATH, in order
    package: str           # Debian package that provides it
    env: str               # environment variable that overrides the path

    def find(self) -> str | None:
        override = os.environ.get(self.env)
        if override:
            return override if (Path(override).is_file() and os.access(override, os.X_OK)) else None
        for b in self.binaries:
            path = shutil.which(b)
            if path:
                return path
        return None

    def path(self) -> str:
        found = self.find()
        if found is None:
            where = os.environ.get(self.env)
            hint = (f"{self.env}={where} is not an executable file" if where else
                    f"none of {', '.join(self.binaries)} is on PATH")
            raise ToolError(f"{self.name} is not installed ({hint}); install it with "
                            f"`apt-get install {self.package}` or point {self.env} at the binary")
        return found

    def available(self) -> bool:
        return self.find() is not None


def run(tool: Tool, args: list[str], cwd: str | os.PathLike, timeout: float, what: str) -> str:
    """Run ``tool`` with ``args`` in ``cwd``; return stdout+stderr (ANSI colours removed).

    A run longer than a couple of seconds shows as a progress line ("ABC: mapping net.aig to
    6-LUTs...", :mod:`gatelearn.progress`). A tool run in a :class:`Workdir` gets that folder as
    TMPDIR too: tools that make temporary files of their own then use a safe path (yosys's
    ``abc`` pass names its temporary folder in a script it hands ABC) and leave nothing behind."""
    cmd = [tool.path(), *args]
    env = {**os.environ, "TMPDIR": str(cwd)} if str(cwd) in _live_workdirs else None
    with progress.step(f"{tool.name}: {what}"):
        try:
            # its own session: a timeout kills the tool's whole process group (make, compilers)
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise ToolError(f"{tool.name} could not be started ({cmd[0]}): {exc}") from exc
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise ToolError(f"{tool.name} timed out after {timeout:.0f} s while {what}; give it more time "
                            f"(--timeout) or use a smaller circuit") from None
        except BaseException:
            # Ctrl-C: in its own session the tool did not get the terminal's SIGINT, so it would
            # run on, orphaned, after gatelearn stopped
            _kill(proc)
            raise
    text = ANSI.sub("", out.decode("utf-8", "replace"))
    if proc.returncode != 0:
        raise ToolError(f"{tool.name} failed (exit {proc.returncode}) while {what}:\n{tail(text)}")
    return text


def _kill(proc: subprocess.Popen) -> None:
    """Kill the tool and everything it started (Verilator runs make and a C++ compiler), and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def check_identifier(name: str, what: str = "module name") -> str:
    """``name`` if it is a simple Verilog identifier (what a tool's script may name), else InputError."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise InputError(f"{what} {name!r} is not a simple Verilog identifier (letters, digits, '_', '$', not "
                         f"starting with a digit); re-export with such a --name")
    return name


_live_workdirs: set[str] = set()
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./-]+\Z")


def _temp_root() -> str | None:
    """Where Workdirs go: the usual temporary folder, unless its path holds characters a tool's
    scripts or make files would split on (a TMPDIR with a space: make cannot build there at all);
    then /tmp or /var/tmp."""
    for d in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        if _SAFE_PATH.match(os.path.realpath(d)) and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            return d
    return None


class Workdir:
    """A private temporary folder an external tool runs in (see the module docstring).

    ``put(path)`` links (or copies) an input file in and returns the safe relative name to give
    the tool; ``name(want)`` reserves a safe name for an output; ``get(name, dest)`` copies an
    output into place atomically. ``path`` is the folder, the tool's working directory.
    Entering it first checks that ``tools`` are installed (that error comes before any other)."""

    def __init__(self, prefix: str = "gatelearn-", *tools: Tool):
        self.prefix = prefix
        self.tools = tools
        self.path = Path()
        self._used: set[str] = {"abc.rc", "obj"}     # ABC's start-up script, Verilator's build folder

    def __enter__(self) -> Workdir:
        for tool in self.tools:
            tool.path()
        self.path = Path(tempfile.mkdtemp(prefix=self.prefix, dir=_temp_root()))
        _live_workdirs.add(str(self.path))
        return self

    def __exit__(self, *exc) -> bool:
        _live_workdirs.discard(str(self.path))
        shutil.rmtree(self.path, ignore_errors=True)
        return False

    def name(self, want: str) -> str:
        """A free safe name: ``want`` itself if it is safe, else ``fileN`` with ``want``'s suffix."""
        suffix = "".join(Path(want).suffixes[-1:]).lower()
        if not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
            suffix = ""
        candidate = want if SAFE_NAME.match(want) else f"file0{suffix}"
        i = 0
        while candidate in self._used:
            i += 1
            candidate = f"file{i}{suffix}"
        self._used.add(candidate)
        return candidate

    def put(self, src: str | os.PathLike) -> str:
        """Make the file ``src`` available in the folder under a safe name; returns the name."""
        src = Path(src)
        if not src.is_file():
            raise ToolError(f"{src} does not exist or is not a file, so no tool can read it")
        name = self.name(src.name)
        try:
            os.symlink(src.resolve(), self.path / name)
        except OSError:
            shutil.copyfile(src, self.path / name)
        return name

    def get(self, name: str, dest: str | os.PathLike) -> Path:
        """Copy the output ``name`` to ``dest`` (atomically); ToolError if the tool wrote none."""
        out = self.path / name
        if not out.is_file():
            raise ToolError(f"the tool wrote no {name} (expected for {dest})")
        with atomic_path(dest) as tmp:
            shutil.copyfile(out, tmp)
        return Path(dest)

    def run(self, tool: Tool, args: list[str], timeout: float, what: str) -> str:
        """:func:`run` with this folder as the working directory."""
        return run(tool, args, self.path, timeout, what)
