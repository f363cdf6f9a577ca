"""How the subcommands print their results: an aligned table for people by default, ``--json``
for programs. stdout carries only results (a table, or exactly one JSON document); what a
command is doing goes to stderr through :mod:`gatelearn.progress`.

* :func:`add_json_flag` adds the one ``--json`` flag every command has;
* :func:`show` prints ``data`` as JSON with ``--json``, else the table text made from it;
* :func:`key_value_table` (label, value rows) and :func:`column_table` (a header and rows) make
  the tables; :func:`fmt` writes a value the way every table does (1,234 / 0.9871 / yes / -);
* :func:`on_interrupt` turns a Ctrl-C into the command's one line: what was interrupted (the
  steps :mod:`gatelearn.progress` saw) and what is left on disk.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence

from .. import progress

__all__ = ["add_json_flag", "print_json", "show", "fmt", "percent", "key_value_table", "column_table",
           "on_interrupt", "interrupted_where"]


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the results as one JSON document (for programs) instead of a table")


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value):
    """numpy scalars and arrays, paths: what results hold that json does not know."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def show(args: argparse.Namespace, data, table: str | Callable[[], str]) -> None:
    """``data`` as JSON with ``--json``, else ``table`` (text, or a function making it)."""
    if getattr(args, "json", False):
        print_json(data)
        return
    text = table() if callable(table) else table
    sys.stdout.write(text.rstrip("\n") + "\n")
    sys.stdout.flush()


def fmt(value) -> str:
    """A value as a table cell: None '-', booleans yes / no, integers with thousands separators,
    other numbers to 4 significant digits, lists and dicts as comma-separated items."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and abs(value) >= 10_000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) or "-"
    if hasattr(value, "item"):          # a numpy scalar
        return fmt(value.item())
    return str(value)


def percent(fraction: float | None, digits: int = 2) -> str | None:
    """0.98123 -> '98.12%' (None stays None, so that the row is left out)."""
    return None if fraction is None else f"{100 * fraction:.{digits}f}%"


def key_value_table(rows: Iterable[tuple[str, object]], title: str | None = None) -> str:
    """Label and value per line, the values in one column; rows whose value is None are left
    out. A list of strings (paths) or a text of several lines continues under its first line."""
    rows = [(str(k), v) for k, v in rows if v is not None]
    width = max((len(k) for k, _ in rows), default=0)
    lines = [title] if title else []
    for k, v in rows:
        many = isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v)
        first, *rest = ("\n".join(v) if many else fmt(v)).split("\n")
        lines.append(f"{k:<{width}}  {first}".rstrip())
        lines += [f"{'':<{width}}  {r}".rstrip() for r in rest]
    return "\n".join(lines)


def column_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns under a header and a rule; a column of numbers is right-aligned."""
    raw = [list(row) for row in rows]
    cells = [[fmt(v) for v in row] for row in raw]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    numeric = [bool(raw) and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                 for v in (r[i] for r in raw)) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w)
                         for v, w, num in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(list(header)), line(["-" * w for w in widths])] + [line(r) for r in cells])


def interrupted_where(exc: BaseException) -> str:
    """' while STEP' (' while STEP, in: INNERMOST STEP') for the steps a Ctrl-C stopped, '' between
    steps."""
    steps = progress.interrupted_steps(exc)
    if not steps:
        return ""
    return f" while {steps[0]}" + (f", in: {steps[-1]}" if len(steps) > 1 else "")


@contextlib.contextmanager
def on_interrupt(left: str | Callable[[], str]) -> Iterator[None]:
    """A Ctrl-C in the block ends the command with one line (``gatelearn COMMAND: interrupted
    while mapping ...; LEFT``): ``left`` says what is on disk now (a function: asked then)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        what = left() if callable(left) else left
        raise KeyboardInterrupt(f"interrupted{interrupted_where(exc)}; {what}") from None
