"""Where the generated C keeps every value: the encoder's range tables and the gate schedule.

Both are plain data computed from the circuit; :mod:`.emit` writes them into the C template.

* :func:`encoder_tables`: input bit i is ``lo <= x[feature] <= hi`` (a ``gt``/``eq`` comparison
  of the IR rewritten as a range, exactly as the model compares in float32). Bits are grouped in
  *planes* (plane j holds the j-th bit of every feature), so one row of a sample is compared 64
  features at a time against constant vectors.
* :class:`Schedule`: the order the gates run in and the workspace slot each value lives in
  (:func:`node_heights` gives the levels as late as possible).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...circuit.ir import USES_A, USES_B, Circuit
from ..common import encoding

__all__ = ["EncoderTables", "encoder_tables", "Schedule", "node_heights", "MIN_RUN", "TABLE_LANES", "TILE_SLOTS"]

MIN_RUN = 16      # shortest run of gates the slot allocator makes, unless fewer gates are left
TABLE_LANES = 4    # operand tables are scaled for 4 x 64-bit lanes per word (256-bit, the AVX2 width)
TILE_SLOTS = 4096  # window of second-operand slots a run works in at a time (128 KB of 256-bit words)


@dataclass
class EncoderTables:
    """Per input bit its (plane, feature); per plane and (padded) feature the accepted range,
    for uint8 inputs (``lo8``, ``hi8``) and float32 inputs (``lof``, ``hif``). A feature absent
    from a plane has an empty range (lo > hi), so padding never sets a bit."""
    plane: np.ndarray      # int64 (inputs,)
    feature: np.ndarray    # int64 (inputs,)
    lo8: np.ndarray        # uint8 (planes, padded_features)
    hi8: np.ndarray
    lof: np.ndarray        # float32 (planes, padded_features)
    hif: np.ndarray

    @property
    def planes(self) -> int:
        return int(self.lo8.shape[0])

    @property
    def padded_features(self) -> int:
        """Features rounded up to whole 64-feature chunks (at least one chunk)."""
        return int(self.lo8.shape[1])

    @property
    def chunks(self) -> int:
        """64-feature chunks per plane."""
        return self.padded_features // 64


def encoder_tables(c: Circuit) -> EncoderTables:
    """The range tables of ``c``'s encoder (a circuit without one reads bits: x > 0.5)."""
    enc = encoding(c)
    n = c.num_inputs
    F = enc.num_features
    feat = enc.feature.astype(np.int64)
    # plane of a bit = its rank among the bits of its feature
    order = np.argsort(feat, kind="stable")
    fs = feat[order]
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - np.searchsorted(fs, fs, side="left")
    planes = int(rank.max()) + 1 if n else 1
    padded = max(64, -(-F // 64) * 64)
    lo8 = np.ones((planes, padded), np.uint8)       # empty range: lo 1 > hi 0
    hi8 = np.zeros((planes, padded), np.uint8)
    lof = np.full((planes, padded), np.inf, np.float32)
    hif = np.full((planes, padded), -np.inf, np.float32)
    inf = np.float32(np.inf)
    for i in range(n):
        j, f = int(rank[i]), int(feat[i])
        t = np.float32(enc.value[i])      # the model compares in float32
        if enc.op[i] == 0:                # x > t
            if t != inf:
                lof[j, f], hif[j, f] = np.nextafter(t, inf), inf
            lo = np.floor(t) + 1          # integer x > t  <=>  x >= floor(t) + 1
            if lo <= 255:
                lo8[j, f], hi8[j, f] = max(0, int(lo)), 255
        else:                             # x == t
            lof[j, f] = hif[j, f] = t
            if t == np.floor(t) and 0 <= t <= 255:
                lo8[j, f] = hi8[j, f] = int(t)
    return EncoderTables(rank, feat, lo8, hi8, lof, hif)


def node_heights(c: Circuit) -> np.ndarray:
    """Per node, the most gates on a path from it to a node no gate reads (0 for those): the
    mirror of :meth:`Circuit.node_levels`, with its chunks (:meth:`Circuit.independent_chunks`)
    visited from the last one. A chunk's gates have all their readers in later chunks, so their
    heights are final when it is reached; linear in the gates."""
    n = c.num_inputs
    ua, ub = USES_A[c.op], USES_B[c.op]
    height = np.zeros(c.num_nodes, np.int64)
    for start, end in reversed(c.independent_chunks()):
        up = height[n + start:n + end] + 1
        sa, sb = ua[start:end], ub[start:end]
        np.maximum.at(height, c.a[start:end][sa], up[sa])
        np.maximum.at(height, c.b[start:end][sb], up[sb])
    return height


class Schedule:
    """Where every value lives and in which order the gates run.

    Gates are grouped by logic level (gates of one level never read each other) and, inside a
    level, by kind; each group ("run") writes consecutive workspace slots, so the C side is one
    branch-free indexed loop per run. Slots are reused once the last level reading them has run
    (lowest free slot first), which keeps the live workspace to about two levels.

    The levels are the usual ones (as soon as possible: 1 + the deepest operand) or, when that
    keeps fewer values live at once, as late as possible (depth - the longest path to an
    unread gate): in deep arithmetic circuits many values are computed early and read far
    later (EPFL ``hyp``: 21,676 values live at once as soon as possible, 1,434 as late as
    possible; ``multiplier`` 4,285 and 508), and a workspace that fits in cache is faster.

    ``in_slot_of[i]`` is the slot input bit i is encoded into; the first ``in_words`` slots hold
    the inputs. Results: ``order`` (stored gates in run order), ``run_op`` / ``run_len`` /
    ``run_out`` (per run: gate id, length, first slot written), ``slot`` (node -> slot, -1 for
    values never stored), ``slots`` (workspace slots used), ``inline`` (output gates evaluated
    inside the class counters instead of stored), ``stored`` (how many gates are stored) and
    ``late`` (whether the levels are the late ones; ``levels`` "early" or "late" forces them).
    """

    def __init__(self, c: Circuit, in_slot_of: np.ndarray, in_words: int, levels: str = "auto"):
        n = c.num_inputs
        ua, ub = USES_A[c.op], USES_B[c.op]
        readers = np.zeros(c.num_nodes, np.int64)
        np.add.at(readers, c.a[ua], 1)
        np.add.at(readers, c.b[ub], 1)
        out_times = np.bincount(c.outputs, minlength=c.num_nodes)
        # Output gates read by no other gate and listed once are evaluated inside the class
        # counters and never stored (saves a store and a load per output).
        inline = np.zeros(c.num_nodes, bool)
        cand = c.outputs[c.outputs >= n]
        inline[cand] = (readers[cand] == 0) & (out_times[cand] == 1)
        stored = np.flatnonzero(~inline[n:])
        outs = c.outputs
        il = outs[inline[outs]] - n
        head_read = np.concatenate([outs[~inline[outs]], c.a[il][ua[il]], c.b[il][ub[il]]])

        level = c.node_levels()
        last = self.last_read(c, level, stored, head_read)
        self.late = False
        if levels not in ("auto", "early", "late"):
            raise ValueError(f"levels must be 'auto', 'early' or 'late', got {levels!r}")
        if levels != "early" and len(stored):
            late = level.copy()
            late[n:] = level[n:].max() - node_heights(c)[n:]
            late_last = self.last_read(c, late, stored, head_read)
            if levels == "late" or self.peak(late, late_last, stored, n) < self.peak(level, last, stored, n):
                self.late, level, last = True, late, late_last
        glev = level[n + stored]

        slot = np.full(c.num_nodes, -1, np.int64)
        slot[:n] = in_slot_of
        cap = max(in_words, 64)
        busy = np.zeros(cap, bool)
        live_in = last[:n] >= 0
        busy[in_slot_of[live_in]] = True
        # Values are freed after the last level that reads them: nodes sorted by that level,
        # a pointer moving up as the levels do (values never read are never freed).
        nodes_by_last = np.argsort(last, kind="stable")
        lasts_sorted = last[nodes_by_last]
        freed = int(np.searchsorted(lasts_sorted, 0))
        run_op, run_len, run_out, order = [], [], [], []
        # the stored gates level by level, each level in gate order
        by_level = np.argsort(glev, kind="stable")
        sorted_levels = glev[by_level]
        by_level = stored[by_level]
        levels = np.unique(sorted_levels)
        bounds = np.r_[np.searchsorted(sorted_levels, levels), len(sorted_levels)]
        for i, L in enumerate(levels.tolist()):
            # free the values no gate at level >= L reads
            upto = int(np.searchsorted(lasts_sorted, L, side="left"))
            done = nodes_by_last[freed:upto]
            freed = max(freed, upto)
            done = done[slot[done] >= 0]
            busy[slot[done]] = False
            gs = by_level[bounds[i]:bounds[i + 1]]
            # By kind (runs), then in tiles: second operands within one window of TILE_SLOTS
            # slots (which stays cached while the run passes over it), first operands in
            # increasing order inside a tile (read forwards, so the prefetcher follows).
            sb = np.where(USES_B[c.op[gs]], slot[c.b[gs]], 0)
            key = np.lexsort((slot[c.a[gs]], sb // TILE_SLOTS, c.op[gs]))
            gs = gs[key]
            ops = c.op[gs]
            cuts = np.flatnonzero(np.diff(ops.astype(np.int64))) + 1
            for grp in np.split(gs, cuts):
                pieces = self.pieces(busy, len(grp))
                need = max(s0 + m for s0, m in pieces)
                if need > cap:
                    busy = np.concatenate([busy, np.zeros(need - cap, bool)])
                    cap = need
                take = (np.arange(pieces[0][0], pieces[0][0] + pieces[0][1]) if len(pieces) == 1 else
                        np.concatenate([np.arange(s0, s0 + m) for s0, m in pieces]))
                busy[take] = True
                slot[n + grp] = take
                for s0, m in pieces:
                    run_op.append(int(c.op[grp[0]]))
                    run_len.append(int(m))
                    run_out.append(int(s0))
                order.append(grp)
        self.order = np.concatenate(order) if order else np.zeros(0, np.int64)
        self.run_op = np.array(run_op, np.int64)
        self.run_len = np.array(run_len, np.int64)
        self.run_out = np.array(run_out, np.int64)
        self.slot = slot
        self.slots = int(cap)
        self.inline = inline
        self.stored = len(stored)

    @staticmethod
    def pieces(busy: np.ndarray, k: int) -> list[tuple[int, int]]:
        """Where a run of ``k`` gates goes: (first slot, length) pieces, lowest free slots first.
        A piece is at least MIN_RUN long, or all that is left, since each run costs a table read
        and an indirect jump: holes shorter are skipped, and the end of the workspace (past
        ``busy``) grows freely. Greedy in address order: whole free intervals of MIN_RUN or more
        while MIN_RUN or more are left, then the first interval that holds the rest."""
        cap = len(busy)
        free = ~busy
        if k <= MIN_RUN:
            # The first interval that holds all k: the first k free slots in a row; failing
            # that, the free slots that end the workspace, where it grows.
            if k == 1:
                at = int(np.argmax(free))
                return [(at if cap and free[at] else cap, 1)]
            count = np.zeros(cap + 1, np.int64)
            np.cumsum(free, out=count[1:])
            fits = np.flatnonzero(count[k:] - count[:-k] == k)
            if len(fits):
                return [(int(fits[0]), k)]
            tail = int(np.argmax(busy[::-1])) if busy.any() else cap      # free slots at the end
            return [(cap - tail, k)]
        edge = np.diff(np.concatenate(([0], free.view(np.int8), [0])))
        starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
        # the open end holds anything; past the end (when the last slot is busy) too
        length = np.append(np.where(ends == cap, k, ends - starts), k)
        starts = np.append(starts, cap)
        big = np.flatnonzero(length >= MIN_RUN)
        taken = np.cumsum(length[big])
        # whole intervals up to the first after which fewer than MIN_RUN are left
        j = int(np.searchsorted(taken, k - MIN_RUN, side="right"))
        done = big[:j + 1]
        pieces = list(zip(starts[done].tolist(), length[done].tolist()))
        over = int(taken[j]) - k
        if over >= 0:                                   # the last one holds the rest
            pieces[-1] = (pieces[-1][0], pieces[-1][1] - over)
            return pieces
        left, after = -over, int(done[-1]) + 1
        at = after + int(np.argmax(length[after:] >= left))     # the first that holds the rest
        return pieces + [(int(starts[at]), left)]

    @staticmethod
    def last_read(c: Circuit, level: np.ndarray, stored: np.ndarray, head_read: np.ndarray) -> np.ndarray:
        """Per node the last level of a stored gate that reads it (-1: none; the head's reads
        count as the end of time)."""
        ua, ub = USES_A[c.op[stored]], USES_B[c.op[stored]]
        glev = level[c.num_inputs + stored]
        last = np.full(c.num_nodes, -1, np.int64)
        np.maximum.at(last, c.a[stored][ua], glev[ua])
        np.maximum.at(last, c.b[stored][ub], glev[ub])
        last[head_read] = np.iinfo(np.int64).max
        return last

    @staticmethod
    def peak(level: np.ndarray, last: np.ndarray, stored: np.ndarray, n: int) -> int:
        """The most gate values live at one level: a value is live from its level through the
        last level that reads it (for ever if none does, as the allocator keeps it)."""
        born = level[n + stored]
        end = np.where(last[n + stored] < 0, np.iinfo(np.int64).max, last[n + stored])
        top = int(born.max()) + 2 if len(born) else 1
        change = np.bincount(born, minlength=top)
        gone = end[end < top - 1] + 1
        change[:len(np.bincount(gone))] -= np.bincount(gone)
        return int(np.cumsum(change).max()) if len(change) else 0
