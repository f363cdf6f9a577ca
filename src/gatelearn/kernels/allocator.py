"""Keep freed memory in the process for the next training step, instead of handing it back.

A training step allocates and frees the same large tensors every time (each layer's output, its
gradient, the head's gradient: about 3 MB each for 8,000 gates at batch 100). glibc's malloc
serves blocks of that size with fresh ``mmap`` pages, or trims them off the heap when freed, so
every step faults the pages in again and the kernel zeroes them: about 3,000 page faults and
15 ms of system time per step of the 6 x 8,000 network, as much as its fused kernels take.
Raising malloc's mmap and trim thresholds keeps those blocks on the heap for reuse.

This is a setting of the whole process and of glibc only (elsewhere, or on a libc without
``mallopt``, nothing happens); the memory kept is what a training step needs at its peak anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc refuses mmap thresholds above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit); blocks larger than
# this still come from mmap, which costs little next to the work done on them.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30
ENV = "GATELEARN_KEEP_FREED_MEMORY"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Set malloc's thresholds once per process; True when they are in force.
    ``GATELEARN_KEEP_FREED_MEMORY=0`` turns it off."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get(ENV, "").strip().lower() in ("0", "false", "no") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):     # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # Both are needed: a trim threshold alone switches off glibc's adaptive mmap threshold, after
    # which every block over 128 KB is mmapped and the faults get worse.
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
