"""gatelearn's compiled C against ABC's own simulator, on public benchmark circuits. Prints JSON.

    .venv/bin/python benchmarks/circuits_vs_abc.py FOLDER [--circuits dec sqrt ...] [--seconds 1]
        [--abc-words 16 64 256 1024]

FOLDER holds combinational AIGER (.aig, .aag) or BLIF files, for instance the EPFL suite
(github.com/lsils/benchmarks, ``arithmetic/*.aig`` and ``random_control/*.aig``), kept outside
this repository. Per circuit, one core each:

* ``import_seconds``: reading the file (:func:`gatelearn.backends.aiger.read_aiger` / ``read_blif``);
  ``pass_seconds``: :func:`gatelearn.circuit.passes.optimize`, all passes until nothing changes;
  ``compile_seconds``: generating and building the C (a fresh build, no cache).
* ``gatelearn``: vectors per second of ``CProgram.run_bits`` (``NAME_eval_packed``) on one
  thread, every output computed and written packed (one bit per vector), from packed inputs made
  beforehand; repeated calls on the same N vectors (N chosen so that inputs and outputs take
  about 8 MB, as ABC also reuses its buffers), the best call of at least ``--seconds``. Its
  outputs are checked bit for bit against ``circuit.simulate`` on 2,000 random vectors first.
* ``abc``: ABC's ``sim -n -m -F F -W W`` (``berkeley-abc``, run as :mod:`gatelearn.tools.abc`
  runs it) on the same file after ``strash``. That is ABC's simulator of the & package
  (``Gia_ManSimSimulate``): F rounds, each of fresh random values for W 32-bit words per input,
  so 32 W vectors a round, every AND node and every output computed (``-m``: no stop at the first
  output that is 1). vectors/s = rounds x 32 x W / the seconds ABC prints for the simulation
  (its own clock around the simulator, so the process start and reading the file do not count;
  printed to 0.01 s, so F is set for about ``--seconds`` per run). Each W of ``--abc-words`` is
  measured and the best counts (more words per node share ABC's per-node work, fewer stay in
  cache).
* ``ratio``: gatelearn's vectors/s over ABC's best.
* ``reexports``: the circuit after the passes written as AIGER and BLIF, each proven equal to the
  source file by ABC's default ``cec`` (ports matched by name), and ``name_mismatches``: ports
  whose name in the re-export (read back) differs from the source's.

The machine may be shared: the two numbers of a circuit are measured in the same run, minutes
apart at most, and the load average is recorded.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gatelearn.backends.c import CProgram, pack_inputs
from gatelearn.circuit.ir import Circuit
from gatelearn.circuit.passes import optimize
from gatelearn.circuit.simulate import pack_bits
from gatelearn.tools._run import Workdir
from gatelearn.tools.abc import ABC, parse_stats, run_abc

SUFFIXES = (".aig", ".aag", ".blif")
_SIM = re.compile(r"simulating\s+(\d+)\s+frames with\s+(\d+)\s+words\.\s+Time\s*=\s*([\d.]+)\s*sec")


def read(path: Path) -> Circuit:
    if path.suffix == ".blif":
        from gatelearn.backends.blif import read_blif
        return read_blif(path)
    from gatelearn.backends.aiger import read_aiger
    return read_aiger(path)


def abc_sim(path: Path, words: int, rounds: int) -> tuple[int, float, str]:
    """ABC's ``sim -n -m`` of ``rounds`` rounds of ``words`` words: (rounds done, seconds, log)."""
    with Workdir("gatelearn-abc-", ABC) as wd:
        src = wd.put(path)
        out = run_abc(f"read {src}; strash; print_stats; sim -n -m -T 3600 -F {rounds} -W {words}", wd.path,
                      timeout=3600, what=f"simulating {path.name}")
    m = _SIM.search(out)
    if not m:
        raise RuntimeError(f"no simulation report from ABC for {path}:\n{out[-2000:]}")
    return int(m.group(1)), float(m.group(3)), out


def abc_throughput(path: Path, words: int, seconds: float) -> dict:
    """Vectors per second of ABC's simulator with ``words`` words: a short run sizes one of about
    ``seconds``."""
    rounds = 1
    while True:                              # calibrate on a run long enough for 0.01 s ticks
        done, spent, _ = abc_sim(path, words, rounds)
        if spent >= 0.05:
            break
        rounds *= 10
    rounds = max(1, int(done * seconds / spent))
    done, spent, log = abc_sim(path, words, rounds)
    return {"words": words, "rounds": done, "seconds": spent, "vectors_per_s": round(done * 32 * words / spent),
            "_log": log}


def gatelearn_throughput(prog: CProgram, c: Circuit, seconds: float) -> dict:
    # inputs and outputs of about 8 MB: a few calls of at least a block each
    n = int(np.clip(2 ** 26 // max(1, c.num_inputs + c.num_outputs), prog.packed_block, 1 << 20))
    n = -(-n // prog.packed_block) * prog.packed_block
    words = pack_inputs(np.random.default_rng(1).random((n, c.num_inputs)) < 0.5)
    rows = np.empty((c.num_outputs, words.shape[1]), np.uint64)
    prog.run_bits(words, n, out=rows)        # warm up: workspace, caches
    best, spent = 0.0, 0.0
    while spent < seconds:
        t0 = time.perf_counter()
        prog.run_bits(words, n, out=rows)
        dt = time.perf_counter() - t0
        spent += dt
        best = max(best, n / dt)
    per_value = prog.source.info["packed_words"]
    return {"vectors": n, "vectors_per_s": round(best), "packed_words": per_value,
            "word_bits": prog.packed_block // per_value}


def check(prog: CProgram, c: Circuit) -> None:
    bits = np.random.default_rng(2).random((2000, c.num_inputs)) < 0.5
    if not np.array_equal(prog.run_bits(bits), pack_bits(c.simulate(bits))):
        raise AssertionError("the compiled circuit disagrees with circuit.simulate")


def reexports(path: Path, raw: Circuit, c: Circuit) -> dict:
    """Each re-export of ``c`` proven against the source by name, and its name mismatches."""
    from gatelearn.backends.aiger import write_aiger
    from gatelearn.backends.blif import write_blif
    from gatelearn.tools.abc import cec
    out = {}
    with tempfile.TemporaryDirectory(prefix="gatelearn-reexport-") as tmp:
        for kind, write in (("aiger", write_aiger), ("blif", write_blif)):
            dst = Path(tmp) / f"{path.stem}.{'aig' if kind == 'aiger' else 'blif'}"
            write(c, dst)
            back = read(dst)
            mismatches = (sum(a != b for a, b in zip(back.input_names, raw.input_names))
                          + sum(a != b for a, b in zip(back.output_names, raw.output_names)))
            result = cec(path, dst, timeout=600)
            out[kind] = {"cec_by_name": {True: "equivalent", False: "NOT equivalent", None: "undecided"}[
                result.equivalent], "name_mismatches": int(mismatches)}
    return out


def one(path: Path, seconds: float, abc_words: list[int], args_reexport: bool = True) -> dict:
    t0 = time.perf_counter()
    raw = read(path)
    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    c, log = optimize(raw)
    pass_s = time.perf_counter() - t0
    old = os.environ.get("GATELEARN_CACHE")
    with tempfile.TemporaryDirectory(prefix="gatelearn-bench-") as cache:
        os.environ["GATELEARN_CACHE"] = cache          # a fresh build: its time is measured
        try:
            t0 = time.perf_counter()
            prog = CProgram(c, "net")
            compile_s = time.perf_counter() - t0
        finally:
            if old is None:
                os.environ.pop("GATELEARN_CACHE")
            else:
                os.environ["GATELEARN_CACHE"] = old
    check(prog, c)
    ours = gatelearn_throughput(prog, c, seconds)
    abc_runs = [abc_throughput(path, w, seconds) for w in abc_words]
    stats = parse_stats(abc_runs[0].pop("_log"))[0]
    for r in abc_runs:
        r.pop("_log", None)
    abc_best = max(abc_runs, key=lambda r: r["vectors_per_s"])
    return {"inputs": raw.num_inputs, "outputs": raw.num_outputs, "abc_and_nodes": stats.ands,
            "abc_levels": stats.levels, "gates": raw.num_gates, "gates_after_passes": c.num_gates,
            "depth_after_passes": c.depth(), "pass_rounds": log[-1]["round"] + 1 if log else 0,
            "import_seconds": round(import_s, 3), "pass_seconds": round(pass_s, 3),
            "compile_seconds": round(compile_s, 2), "gatelearn": ours,
            "abc": {"vectors_per_s": abc_best["vectors_per_s"], "words": abc_best["words"], "runs": abc_runs},
            "ratio": round(ours["vectors_per_s"] / abc_best["vectors_per_s"], 2),
            "reexports": reexports(path, raw, c) if args_reexport else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="folder of .aig / .aag / .blif circuits (searched recursively)")
    ap.add_argument("--circuits", nargs="*", default=None, help="file names without suffix (default: all)")
    ap.add_argument("--seconds", type=float, default=1.0, help="timing per measurement")
    ap.add_argument("--abc-words", type=int, nargs="+", default=[16, 64, 256, 1024],
                    help="ABC simulation words per round to try; the best counts")
    ap.add_argument("--no-reexport", action="store_true", help="skip the re-exports and their proofs")
    args = ap.parse_args(argv)
    files = sorted(p for p in args.folder.rglob("*") if p.suffix in SUFFIXES)
    if args.circuits is not None:
        files = [p for p in files if p.stem in args.circuits]
    if not files:
        ap.error(f"no circuits found in {args.folder}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load_average": [round(x, 2) for x in os.getloadavg()], "circuits": {}}
    for path in files:
        entry = one(path, args.seconds, args.abc_words, not args.no_reexport)
        result["circuits"][path.stem] = entry
        print(json.dumps({path.stem: {k: entry[k] for k in ("gates_after_passes", "pass_seconds", "ratio",
                                                             "reexports")}}),
              file=sys.stderr, flush=True)
    ratios = [e["ratio"] for e in result["circuits"].values()]
    result["ratio_min"], result["ratio_geomean"] = min(ratios), round(float(np.exp(np.mean(np.log(ratios)))), 2)
    checks = [r for e in result["circuits"].values() for r in (e["reexports"] or {}).values()]
    result["reexports_equivalent"] = sum(r["cec_by_name"] == "equivalent" for r in checks)
    result["reexports"] = len(checks)
    result["name_mismatches"] = sum(r["name_mismatches"] for r in checks)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
