"""``gatelearn optimize``: ABC on the run's gate network; the result is kept (circuit.abc.npz)
only when it is smaller and ABC's ``cec`` proves it equal to its input."""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .. import progress, runs
from ..backends import aiger
from ..circuit.ir import Circuit
from ..errors import FileFormatError

__all__ = ["OptimizeResult", "optimize", "attach"]


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
    from ..tools import abc
    t0 = time.perf_counter()
    run = runs.run_dir(run_dir)
    script = script or abc.DEFAULT_SCRIPT
    with progress.step("lowering the trained model" if from_model else "reading the run's circuit"):
        base = runs.model_circuit(run) if from_model else runs.base_circuit(run)
    with tempfile.TemporaryDirectory(prefix="gatelearn-opt-") as tmp:
        src, dst = Path(tmp) / "in.aig", Path(tmp) / "out.aig"
        aiger.write_aiger(base, src)          # the gate network only
        before, after, _ = abc.optimize(src, dst, script, timeout)
        proven = abc.cec(src, dst, timeout).equivalent
        net = aiger.read_aiger(dst)
    meta = dict(base.meta)
    meta["abc"] = {"script": script, "ands_before": before.ands, "ands_after": after.ands}
    meta["file"] = runs.ABC_CIRCUIT_FILE
    opt = attach(net, base, meta)
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
