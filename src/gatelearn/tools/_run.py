"""Locating and running external programs (ABC, yosys, Verilator, Icarus Verilog).

Every failure becomes a :class:`gatelearn.errors.ToolError` that names the tool, what went
wrong and what to do about it; a timeout kills the whole process group so no stray tool keeps
running after gatelearn gave up.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolError

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
    """Run ``tool`` with ``args`` in ``cwd``; return stdout+stderr (ANSI colours removed)."""
    cmd = [tool.path(), *args]
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        raise ToolError(f"{tool.name} could not be started ({cmd[0]}): {exc}") from exc
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The tool may have children (Verilator runs make and a C++ compiler): kill the group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise ToolError(f"{tool.name} timed out after {timeout:.0f} s while {what}; give it more time "
                        f"(--timeout) or use a smaller circuit") from None
    text = ANSI.sub("", out.decode("utf-8", "replace"))
    if proc.returncode != 0:
        raise ToolError(f"{tool.name} failed (exit {proc.returncode}) while {what}:\n{tail(text)}")
    return text


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
