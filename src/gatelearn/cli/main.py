"""The ``gatelearn`` command. Each subcommand lives in its own module of this package and
defines ``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit code).

Results go to stdout (a table, or JSON with ``--json``: :mod:`._output`), what a command is doing
to stderr (:mod:`gatelearn.progress`; ``GATELEARN_QUIET=1`` silences it). ``gatelearn --version``
prints the installed version.

Whatever goes wrong ends in one line on stderr, ``gatelearn COMMAND: error: ...`` (with
``GATELEARN_DEBUG=1`` the traceback comes first), and one of these exit codes:

====  ==========================================================================================
0     success
1     a failed tool or proof (:class:`ToolError`, a check that found a disagreement), the system
      (disk full, an I/O error, out of memory), or a bug in gatelearn ("internal error: ...;
      please report this bug")
2     bad input: a flag, a setting, a file (:class:`InputError`, :class:`FileFormatError`,
      argparse), or a path the user named that the system refuses: missing, not a folder,
      permission denied, read-only file system
130   interrupted (Ctrl-C)
141   the reader of stdout went away (``gatelearn report --json | head -c 100``): the command
      stops quietly, as Unix tools do when SIGPIPE ends them (128 + 13)
====  ==========================================================================================
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys
import traceback

from .. import progress
from ..errors import FileFormatError, GatelearnError, InputError

EXIT_CODES = """exit codes: 0 success; 1 a failed tool or proof, the system (disk full, out of memory) or a bug in
gatelearn; 2 bad input (a flag, a setting, a file, a path); 130 interrupted; 141 stdout closed early (| head).
GATELEARN_DEBUG=1 prints the traceback of an error too; GATELEARN_QUIET=1 turns off the progress lines (stderr)."""

# OS errors about a path the user named (a bad --out, a read-only run directory): bad input, exit
# code 2. Any other OS error (disk full, I/O error, too many open files) is the system's: 1.
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS,
                errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST, errno.ENOTEMPTY}
_OS_HINTS = {
    errno.EACCES: "check the permissions, or use another folder (e.g. another --out)",
    errno.EPERM: "check the permissions, or use another folder (e.g. another --out)",
    errno.EROFS: "the file system is read-only: copy the run directory to a writable place",
    errno.ENOTDIR: "a part of that path is a file, not a folder",
    errno.EEXIST: "a file of that name is in the way",
    errno.EISDIR: "that is a folder; give a file name",
    errno.ENOSPC: "free some space and run the command again",
    errno.EDQUOT: "free some space (disk quota) and run the command again",
}


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (argparse prints the whole usage block first, which
    for ``train`` is two dozen lines in front of the one that matters)."""

    def error(self, message: str) -> None:   # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gatelearn", description=(
        "Train logic gate networks and compile them into verified circuits."), epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"gatelearn {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    package = importlib.import_module(__package__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def version() -> str:
    """The installed distribution's version (what pip sees), else the package's own ``__version__``
    (a source tree on PYTHONPATH that was never installed)."""
    from importlib import metadata
    try:
        return metadata.version("gatelearn")
    except metadata.PackageNotFoundError:
        import gatelearn
        return getattr(gatelearn, "__version__", "unknown")


def main(argv: list[str] | None = None) -> int:
    """Run ``gatelearn ARGV``; returns the exit code (see the module's docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv == ["--version"]:
        # without building the parser, which imports every subcommand (and torch): 2 s for one line
        print(f"gatelearn {version()}")
        return 0
    return _run(argv, reraise_interrupt=False)


def run_nested(argv: list[str]) -> int:
    """``main(argv)`` for a command that runs other commands (the demo): the same one-line errors
    and exit codes, but a Ctrl-C propagates (KeyboardInterrupt, with the inner command's message)
    so that the outer command says what it had done, in the one line a Ctrl-C ends with."""
    return _run(argv, reraise_interrupt=True)


def _run(argv: list[str], reraise_interrupt: bool) -> int:
    args = build_parser().parse_args(argv)
    prefix = f"gatelearn {args.command}"
    try:
        with progress.command(prefix):
            code = int(args.func(args) or 0)
        sys.stdout.flush()   # a closed pipe shows here, not as a traceback at interpreter exit
        return code
    except KeyboardInterrupt as exc:
        if reraise_interrupt:
            raise KeyboardInterrupt(str(exc) or "interrupted") from None
        # each command says what it interrupted and what is left on disk (cli._output.on_interrupt)
        _say(f"{prefix}: {exc or 'interrupted'}")
        return 130
    except BrokenPipeError:
        return _stdout_closed()
    except Exception as exc:   # the last resort: one line, never a traceback
        code, line = describe_error(exc)
        if _debug():
            traceback.print_exc()
        _say(f"{prefix}: {line}")
        return code


def describe_error(exc: Exception) -> tuple[int, str]:
    """(exit code, the one line after ``gatelearn COMMAND: ``) for an exception a command raised."""
    if isinstance(exc, GatelearnError):
        # InputError, FileFormatError: bad input. ToolError, a failed check: the input was fine.
        code = 2 if isinstance(exc, (InputError, FileFormatError)) else 1
        first, _, rest = str(exc).strip().partition("\n")
        if rest.strip() and not _debug():   # e.g. a tool's output after the reason: on request only
            first += " (GATELEARN_DEBUG=1 shows the details)"
        elif rest.strip():
            first += "\n" + rest
        return code, f"error: {first}"
    if isinstance(exc, OSError):
        return (2 if exc.errno in _PATH_ERRNOS else 1), f"error: {_os_error_text(exc)}"
    if isinstance(exc, MemoryError) or _torch_out_of_memory(exc):
        detail = _one_line(str(exc))
        return 1, (f"error: out of memory{f' ({detail})' if detail else ''}; the input or the settings "
                   f"(batch size, layer widths, samples) need more memory than this machine has")
    hint = "" if _debug() else " (GATELEARN_DEBUG=1 shows the traceback)"
    return 1, (f"internal error: {type(exc).__name__}: {_one_line(str(exc)) or '(no message)'}; "
               f"please report this bug{hint}")


def _torch_out_of_memory(exc: Exception) -> bool:
    """torch reports a failed CPU allocation as a RuntimeError, not a MemoryError."""
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in str(exc) or "out of memory" in str(exc))


def _os_error_text(exc: OSError) -> str:
    """'PATH: reason; what to do' from an OSError (which names the path, when it has one)."""
    # a failed rename (an atomic write's temporary file -> the file asked for) names its target
    path = exc.filename2 if exc.filename2 is not None else exc.filename
    reason = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fsdecode(path)
    text = f"{path}: {reason}" if path is not None else reason
    hint = _OS_HINTS.get(exc.errno)
    return f"{text}; {hint}" if hint else text


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _debug() -> bool:
    return os.environ.get("GATELEARN_DEBUG", "") not in ("", "0")


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):   # stderr itself closed: nothing left to tell
        pass


def _stdout_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly, with the exit code a process
    ended by SIGPIPE has. stdout then points at /dev/null, so that the interpreter's final flush of
    what is still buffered does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):   # stdout is not a file descriptor (a test's capture): nothing to do
        pass
    return 128 + 13


if __name__ == "__main__":
    sys.exit(main())
