"""``gatelearn optimize``: ABC on the run's gate network; the result is kept (circuit.abc.npz)
only when it is smaller and ABC's ``cec`` proves it equal to its input.

:func:`optimize` works in a run folder (trained, or made by ``gatelearn import``);
:func:`optimize_to` takes any circuit :func:`gatelearn.runs.load_any_circuit` reads (a folder, a
circuit .npz, an .aig / .aag / .blif file) and writes the result to a file of its own."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import progress, runs
from ..backends import aiger
from ..circuit.ir import Circuit
from ..errors import FileFormatError, InputError

__all__ = ["OptimizeResult", "optimize", "optimize_to", "attach"]


@dataclass
class OptimizeResult:
    script: str
    ands_naive: int        # gate-by-gate translation of the input circuit, all gates
    ands_before: int       # after ABC's strash (hashing, dead logic removed)
    levels_before: int
    ands_after: int
    levels_after: int
    gates_before: int
    gates_after: int
    depth_before: int
    depth_after: int
    kept: bool
    proven: bool | None
    seconds: float
    file: str | None = None
    out: str | None = None     # optimize_to: the file written (ABC's result when kept, else the input)

    def to_dict(self) -> dict:
        return dict(vars(self))


def attach(net: Circuit, like: Circuit, meta: dict | None = None) -> Circuit:
    """``net``'s gates with ``like``'s encoder and head (ABC only sees the gate network)."""
    if net.num_inputs != like.num_inputs or net.num_outputs != like.num_outputs:
        raise FileFormatError(f"optimised network has {net.num_inputs} inputs / {net.num_outputs} outputs; "
                              f"expected {like.num_inputs} / {like.num_outputs}")
    out = Circuit(net.num_inputs, net.op, net.a, net.b, net.outputs, like.copy().head, like.copy().encoder,
                  None, meta if meta is not None else dict(like.meta))
    return out.validate()


def optimize(run_dir, script: str | None = None, timeout: float = 600.0,
             from_model: bool = False) -> OptimizeResult:
    """ABC on the gate network of RUN_DIR's base circuit; keep the result if it is smaller (in IR
    gates, the measure runs.best_circuit uses) and ABC's cec proves it equal to the input.

    ``from_model=True`` starts from the model as lowered, before gatelearn's own passes, which
    measures what ABC alone does with the trained network."""
    t0 = time.perf_counter()
    run = runs.run_dir(run_dir)
    if from_model and not runs.is_trained_run(run):
        raise InputError(f"--from-model needs a trained run; {run} was made by gatelearn import (it has no model)")
    with progress.step("lowering the trained model" if from_model else "reading the run's circuit"):
        base = runs.model_circuit(run) if from_model else runs.base_circuit(run)
    opt, before, after, proven, script = _abc(base, script, timeout)
    opt.meta["file"] = runs.ABC_CIRCUIT_FILE
    abc_file = run / runs.ABC_CIRCUIT_FILE
    old = Circuit.load(abc_file).num_gates if abc_file.exists() else None
    # Kept only when smaller than what the run already has (with --from-model: smaller than the
    # circuit of gatelearn's passes, else that one stays the run's best).
    current = runs.base_circuit(run).num_gates if from_model else base.num_gates
    kept = bool(proven) and opt.num_gates < current and (old is None or opt.num_gates <= old)
    if kept:
        opt.save(abc_file)
    return OptimizeResult(script, aiger.naive_and_count(base), before.ands, before.levels, after.ands, after.levels,
                          base.num_gates, opt.num_gates, base.depth(), opt.depth(), kept, proven,
                          time.perf_counter() - t0, str(abc_file) if kept else None)


def optimize_to(path, out, script: str | None = None, timeout: float = 600.0) -> OptimizeResult:
    """ABC on the gate network of the circuit at ``path`` (see :func:`gatelearn.runs.load_any_circuit`),
    written to the circuit file ``out`` (.npz): ABC's result when cec proves it equal and it is
    smaller, else the input circuit unchanged, so ``out`` always holds the smaller proven circuit.
    The record of where an imported circuit came from is kept, so ``gatelearn verify OUT`` still
    proves it against its source."""
    t0 = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise InputError(f"--out {out}: the optimised circuit is written as a circuit file; give a name ending in "
                         f".npz (gatelearn export writes AIGER, BLIF and Verilog)")
    with progress.step(f"reading {path}"):
        base, source = runs.load_any_circuit(path)
    if source is not None:
        # the source load_any_circuit names (an import folder's copy, not the file it was copied
        # from), so that verify OUT proves the result against what the input was proven against
        base.meta[runs.IMPORTED_META] = {"file": str(source.resolve()), "format": runs.source_format(source)}
    opt, before, after, proven, script = _abc(base, script, timeout)
    kept = bool(proven) and opt.num_gates < base.num_gates
    result = opt if kept else base
    # the file written is no run's circuit.abc.npz, whatever the input was
    result.meta.pop("file", None)
    result.save(out)
    return OptimizeResult(script, aiger.naive_and_count(base), before.ands, before.levels, after.ands, after.levels,
                          base.num_gates, opt.num_gates, base.depth(), opt.depth(), kept, proven,
                          time.perf_counter() - t0, str(out) if kept else None, str(out))


def _abc(base: Circuit, script: str | None, timeout: float):
    """(ABC's result with base's encoder, head and meta plus the ABC record; AIG statistics before
    and after the script; whether cec proved the result equal to base's network; the script)."""
    from ..tools import abc
    script = script or abc.DEFAULT_SCRIPT
    with tempfile.TemporaryDirectory(prefix="gatelearn-opt-") as tmp:
        src, dst = Path(tmp) / "in.aig", Path(tmp) / "out.aig"
        aiger.write_aiger(base, src)          # the gate network only
        before, after, _ = abc.optimize(src, dst, script, timeout)
        proven = abc.cec(src, dst, timeout).equivalent
        net = aiger.read_aiger(dst)
    meta = dict(base.meta)
    meta["abc"] = {"script": script, "ands_before": before.ands, "ands_after": after.ands}
    return attach(net, base, meta), before, after, proven, script
