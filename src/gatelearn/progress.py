"""Progress lines on stderr: what gatelearn is doing while a step takes a while.

    with progress.step("mapping the gate network to 6-LUTs (ABC)"):
        ...     # after DELAY seconds: "gatelearn report: mapping the gate network to 6-LUTs (ABC)..."
                # at the end, if shown: "gatelearn report: mapping the gate network ...: done in 12.3 s"
    progress.say("ABC not found: skipping optimize")

Rules every line follows, so that progress never gets in the way of results:

* stderr only (stdout is for results: tables, JSON, class indices), one whole line per write,
  flushed at once, so a log shows each step as it happens, not all at the end;
* plain lines, never carriage returns or cursor codes: a log file or CI output reads the same as
  the terminal;
* a step announces itself only once it has run for :data:`DELAY` seconds (2 s), and then says how
  long it took; quick steps print nothing. ``step(..., delay=0)`` announces at once (the kernel
  build, which is known to be slow);
* nested steps are indented under the step they belong to (an outer step is announced before an
  inner one, whichever of them has waited long enough first);
* quiet: ``GATELEARN_QUIET=1`` (read at every line, so it may be set at any time) turns every
  line off;
* a closed or broken stderr (``2>&1 | head``) ends progress silently; it never raises.

Each line starts with :func:`label`: ``gatelearn COMMAND`` while the CLI runs a command
(:func:`command`), else ``gatelearn``.

:func:`interrupted_steps` tells a command which steps a Ctrl-C stopped, for its one-line
message about what was interrupted.

No gatelearn imports: this module is on the lowest layer so that every other one may use it.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

__all__ = ["DELAY", "QUIET_ENV", "quiet", "say", "step", "command", "label", "interrupted_steps",
           "format_seconds"]

QUIET_ENV = "GATELEARN_QUIET"
DELAY = 2.0     # seconds a step runs before it is announced ("steps longer than a couple of seconds")
INDENT = "  "

_lock = threading.RLock()        # one line at a time, and the step tree's flags
_local = threading.local()       # the innermost active step of each thread
_label = "gatelearn"
_broken = False                  # stderr failed once: stay silent from then on
_STEPS_ATTR = "gatelearn_steps"  # on a KeyboardInterrupt: the steps it stopped (interrupted_steps)


def quiet() -> bool:
    """True when progress is off (``GATELEARN_QUIET`` set to anything but '', 0, false, no)."""
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no")


def label() -> str:
    """What each line starts with: ``gatelearn COMMAND`` inside :func:`command`, else ``gatelearn``."""
    return _label


@contextlib.contextmanager
def command(name: str) -> Iterator[None]:
    """Within the block, lines start with ``name`` (``gatelearn report``). Nests (the demo runs
    other commands): the outer label comes back afterwards."""
    global _label
    with _lock:
        previous, _label = _label, name
    try:
        yield
    finally:
        with _lock:
            _label = previous


def format_seconds(seconds: float) -> str:
    """12.3 s, 4 min 05 s, 1 h 02 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _write(text: str, depth: int = 0) -> None:
    """One line on stderr, whole and flushed, unless quiet or stderr is gone."""
    global _broken
    if _broken or quiet():
        return
    line = f"{_label}: {INDENT * depth}{text}\n"
    with _lock:
        try:
            # sys.stderr looked up now, not at import: a test's capture or a redirect applies
            sys.stderr.write(line)
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            # EPIPE (the reader went away), a closed file, no stderr at all (pythonw): progress is
            # a courtesy, so the command goes on without it
            _broken = True


def say(text: str) -> None:
    """One progress line (indented under the step that is running, which is announced first)."""
    parent = getattr(_local, "current", None)
    with _lock:
        if parent is not None:
            parent._announce()
        _write(text, parent.depth + 1 if parent is not None else 0)


class _Step:
    def __init__(self, what: str, done: str | None, delay: float, parent: _Step | None):
        self.what, self.done, self.delay, self.parent = what, done, delay, parent
        self.depth = parent.depth + 1 if parent is not None else 0
        self.shown = False       # its start line was written
        self.active = True
        self.t0 = time.perf_counter()
        self.timer: threading.Timer | None = None

    def _announce(self) -> None:
        """Write the start line of this step and of every ancestor not shown yet, outermost first
        (called with _lock held, from the step's thread or its timer)."""
        if self.shown or not self.active:
            return
        if self.parent is not None:
            self.parent._announce()
        self.shown = True
        _write(f"{self.what}...", self.depth)

    def _fire(self) -> None:
        with _lock:
            self._announce()

    def start(self) -> None:
        if self.delay <= 0:
            with _lock:
                self._announce()
        elif not quiet():
            self.timer = threading.Timer(self.delay, self._fire)
            self.timer.daemon = True      # never keeps the interpreter alive
            self.timer.start()

    def finish(self, ok: bool) -> float:
        seconds = time.perf_counter() - self.t0
        if self.timer is not None:
            self.timer.cancel()
        with _lock:
            shown, self.active = self.shown, False
            # a step that failed says nothing more: the error line that follows says what happened
            if shown and ok:
                text = self.done.format(seconds=format_seconds(seconds)) if self.done else \
                    f"{self.what}: done in {format_seconds(seconds)}"
                _write(text, self.depth)
        return seconds


@contextlib.contextmanager
def step(what: str, *, done: str | None = None, delay: float | None = None) -> Iterator[None]:
    """Announce ``what`` ("mapping the design to 6-LUTs (yosys)") on stderr if the block runs for
    ``delay`` seconds (default :data:`DELAY`; 0: at once), then say when it finished: ``done``
    with ``{seconds}`` in it, or "WHAT: done in 12.3 s". A KeyboardInterrupt that ends the block
    carries the steps it went through (:func:`interrupted_steps`)."""
    parent = getattr(_local, "current", None)
    s = _Step(what, done, DELAY if delay is None else delay, parent)
    s.start()
    _local.current = s
    ok = False
    try:
        yield
        ok = True
    except KeyboardInterrupt as exc:
        # the innermost step sees it first: each one out puts itself in front
        steps = exc.__dict__.setdefault(_STEPS_ATTR, [])
        steps.insert(0, what)
        raise
    finally:
        _local.current = parent
        s.finish(ok)


def interrupted_steps(exc: BaseException) -> list[str]:
    """The steps, outermost first, that the KeyboardInterrupt ``exc`` stopped (``[]``: it came
    between steps), so that a command can say what was interrupted."""
    return list(getattr(exc, _STEPS_ATTR, []))
