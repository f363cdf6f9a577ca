"""Argument types shared by the subcommands: numbers with their allowed range, checked by argparse
so a bad value is one line naming the flag (``argument --samples: must be an integer >= 1, got
'-5'``) before any work starts, instead of a traceback or a value quietly replaced later.

Use them as ``type=`` of ``add_argument``: ``positive_int``, ``non_negative_int``,
``positive_float`` (finite), or ``int_in(low, high)`` for another range."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def int_in(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high] (an open end: None)."""
    if low is not None and high is not None:
        allowed = f"an integer in [{low}, {high}]"
    elif low is not None:
        allowed = f"an integer >= {low}"
    elif high is not None:
        allowed = f"an integer <= {high}"
    else:
        allowed = "an integer"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value
    parse.__name__ = allowed
    return parse


def float_above(low: float = 0.0) -> Callable[[str], float]:
    """An argparse type: a finite number > low."""
    allowed = f"a finite number > {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}") from None
        if not math.isfinite(value) or value <= low:
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text!r}")
        return value
    parse.__name__ = allowed
    return parse


positive_int = int_in(1)
non_negative_int = int_in(0)
positive_float = float_above(0.0)

# More threads than any machine gatelearn runs on has cores: a larger number is a typo, and each
# thread gets its own workspace, so 10**9 of them would be an out-of-memory error, not a run.
MAX_THREADS = 1024
