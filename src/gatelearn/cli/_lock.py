"""The run-directory lock around the subcommands that write into a run directory (compile,
optimize, export, verify, predict --out inside the run). ``gatelearn train`` needs no wrapper:
the training loop takes the same lock itself."""
from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path

Command = Callable[[argparse.Namespace], int]


def writes_run_dir(func: Command | None = None, *,
                   where: Callable[[argparse.Namespace], str | None] = lambda args: args.run_dir):
    """Decorate a subcommand's ``run(args)`` so that it holds :func:`gatelearn.runs.lock` on the
    run directory ``where(args)`` names (None: it writes into none this time)."""
    def wrap(f: Command) -> Command:
        @functools.wraps(f)
        def locked(args: argparse.Namespace) -> int:
            target = where(args)
            if target is None:
                return f(args)
            from .. import runs
            with runs.lock(target):
                return f(args)
        return locked
    return wrap(func) if func is not None else wrap


def out_inside_run_dir(args: argparse.Namespace) -> str | None:
    """``args.run_dir`` when ``args.out`` is a file inside it, else None."""
    if not getattr(args, "out", None):
        return None
    try:
        inside = Path(args.out).resolve().is_relative_to(Path(args.run_dir).resolve())
    except (OSError, RuntimeError):
        inside = False
    return args.run_dir if inside else None
