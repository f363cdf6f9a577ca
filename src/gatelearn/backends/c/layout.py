"""Where the generated C keeps every value: the encoder's range tables and the gate schedule.

Both are plain data computed from the circuit; :mod:`.emit` writes them into the C template.

* :func:`encoder_tables`: input bit i is ``lo <= x[feature] <= hi`` (a ``gt``/``eq`` comparison
  of the IR rewritten as a range, exactly as the model compares in float32). Bits are grouped in
  *planes* (plane j holds the j-th bit of every feature), so one row of a sample is compared 64
  features at a time against constant vectors.
* :class:`Schedule`: the order the gates run in and the workspace slot each value lives in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...circuit.ir import USES_A, USES_B, Circuit
from ..common import encoding

__all__ = ["EncoderTables", "encoder_tables", "Schedule", "MIN_RUN", "TABLE_LANES", "TILE_SLOTS"]

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


class Schedule:
    """Where every value lives and in which order the gates run.

    Gates are grouped by logic level (gates of one level never read each other) and, inside a
    level, by kind; each group ("run") writes consecutive workspace slots, so the C side is one
    branch-free indexed loop per run. Slots are reused once the last level reading them has run
    (lowest free slot first), which keeps the live workspace to about two levels.

    ``in_slot_of[i]`` is the slot input bit i is encoded into; the first ``in_words`` slots hold
    the inputs. Results: ``order`` (stored gates in run order), ``run_op`` / ``run_len`` /
    ``run_out`` (per run: gate id, length, first slot written), ``slot`` (node -> slot, -1 for
    values never stored), ``slots`` (workspace slots used), ``inline`` (output gates evaluated
    inside the class counters instead of stored) and ``stored`` (how many gates are stored).
    """

    def __init__(self, c: Circuit, in_slot_of: np.ndarray, in_words: int):
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
        level = c.node_levels()
        glev = level[n + stored]
        INF = np.iinfo(np.int64).max
        # last level that reads each node (INF: the head reads it)
        last = np.full(c.num_nodes, -1, np.int64)
        sa, sb = c.a[stored], c.b[stored]
        np.maximum.at(last, sa[ua[stored]], glev[ua[stored]])
        np.maximum.at(last, sb[ub[stored]], glev[ub[stored]])
        outs = c.outputs
        il = outs[inline[outs]] - n
        head_read = np.concatenate([outs[~inline[outs]], c.a[il][ua[il]], c.b[il][ub[il]]])
        last[head_read] = INF

        slot = np.full(c.num_nodes, -1, np.int64)
        slot[:n] = in_slot_of
        cap = max(in_words, 64)
        busy = np.zeros(cap, bool)
        live_in = last[:n] >= 0
        busy[in_slot_of[live_in]] = True
        # frees[L]: slots whose last reader is at level L (free from level L + 1 on)
        nodes_by_last = np.argsort(last, kind="stable")
        lasts_sorted = last[nodes_by_last]
        run_op, run_len, run_out, order = [], [], [], []
        levels = np.unique(glev) if len(glev) else np.zeros(0, np.int64)
        for L in levels.tolist():
            # free the values no gate at level >= L reads
            lo_ = np.searchsorted(lasts_sorted, 0)
            hi_ = np.searchsorted(lasts_sorted, L, side="left")
            done = nodes_by_last[lo_:hi_]
            done = done[slot[done] >= 0]
            busy[slot[done]] = False
            last[done] = -1                               # freed once
            nodes_by_last = np.concatenate([nodes_by_last[:lo_], nodes_by_last[hi_:]])
            lasts_sorted = np.concatenate([lasts_sorted[:lo_], lasts_sorted[hi_:]])
            gs = stored[glev == L]
            # By kind (runs), then in tiles: second operands within one window of TILE_SLOTS
            # slots (which stays cached while the run passes over it), first operands in
            # increasing order inside a tile (read forwards, so the prefetcher follows).
            sb = np.where(USES_B[c.op[gs]], slot[c.b[gs]], 0)
            key = np.lexsort((slot[c.a[gs]], sb // TILE_SLOTS, c.op[gs]))
            gs = gs[key]
            ops = c.op[gs]
            bounds = np.flatnonzero(np.diff(ops.astype(np.int64))) + 1
            for grp in np.split(gs, bounds):
                k = len(grp)
                # Free intervals in address order; a run must be at least MIN_RUN long (or
                # all that is left), since each run costs a table read and an indirect jump.
                # Holes shorter than that are skipped; the end of the workspace grows freely.
                edge = np.diff(np.r_[0, (~busy).astype(np.int8), 0])
                starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
                pieces, left = [], k
                for s0, s1 in zip(starts.tolist(), ends.tolist()):
                    if s1 == cap:                      # the open end: take all that is left
                        s1 = s0 + left
                    m = min(s1 - s0, left)
                    if m >= min(MIN_RUN, left):
                        pieces.append((s0, m))
                        left -= m
                        if not left:
                            break
                if left:
                    pieces.append((cap, left))
                need = max(s0 + m for s0, m in pieces)
                if need > cap:
                    busy = np.concatenate([busy, np.zeros(need - cap, bool)])
                    cap = need
                take = np.concatenate([np.arange(s0, s0 + m) for s0, m in pieces])
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
