"""``gatelearn optimize PATH``: ABC on the gate network. In a run folder (trained, or made by
``gatelearn import``) it keeps circuit.abc.npz there if smaller; any other circuit (a .npz, an
.aig / .aag / .blif file) needs ``--out FILE.npz`` for the result."""
from __future__ import annotations

from pathlib import Path

from ._args import positive_float
from ._lock import out_inside_run_dir, writes_run_dir
from ._output import add_json_flag, key_value_table, on_interrupt, show


def register(sub) -> None:
    p = sub.add_parser("optimize", help="optimise a run's gate network with ABC (writes circuit.abc.npz if smaller)",
                       description="Run ABC (strash + script, with gatelearn's abc.rc) on the gate network of "
                                   "RUN_DIR/circuit.npz (or the lowered model), read the result back, prove it "
                                   "equal with cec, and keep it as RUN_DIR/circuit.abc.npz when it has fewer gates. "
                                   "Encoder and GroupSum head are kept as they are. PATH may also be a folder made "
                                   "by gatelearn import, or a circuit file (.npz, .aig, .aag, .blif): then --out "
                                   "names the file to write (.npz), which holds ABC's result when it is proven and "
                                   "smaller, else the input circuit unchanged.")
    p.add_argument("run_dir", metavar="path", help="a run folder (trained or imported), or a circuit file with --out")
    p.add_argument("--out", help="write the optimised circuit to this .npz instead of RUN_DIR/circuit.abc.npz "
                                 "(required for a circuit file)")
    p.add_argument("--script", default=None, help="ABC commands after strash (default: "
                                                  "'strash; dc2; resyn2; dc2; resyn2')")
    p.add_argument("--timeout", type=positive_float, default=600.0, help="seconds per ABC call")
    p.add_argument("--from-model", action="store_true",
                   help="start from the model as lowered, before gatelearn's passes (what ABC alone achieves)")
    add_json_flag(p)
    p.set_defaults(func=writes_run_dir(run, where=_writes_into))


def _writes_into(args) -> str | None:
    """The run folder the command writes into (its lock is held meanwhile): the input folder
    without --out, a run folder --out lies in, else none."""
    if not args.out:
        return args.run_dir if Path(args.run_dir).is_dir() else None
    return out_inside_run_dir(args) if Path(args.run_dir).is_dir() else None


def run(args) -> int:
    from .. import runs
    from ..errors import InputError
    from ..flows.optimize import optimize, optimize_to
    if args.out or not Path(args.run_dir).is_dir():
        if not args.out:
            raise InputError(f"{args.run_dir} is not a run folder: give --out FILE.npz for the optimised circuit "
                             "(optimize writes circuit.abc.npz only into a run folder)")
        if args.from_model:
            raise InputError("--from-model needs a trained run folder and no --out")
        with on_interrupt(f"{args.out} was not changed (it is written in one step, at the end)"):
            r = optimize_to(args.run_dir, args.out, args.script, args.timeout)
        show(args, r.to_dict(), lambda: _table(r))
        return 0
    abc_file = runs.run_dir(args.run_dir) / runs.ABC_CIRCUIT_FILE
    before = _stamp(abc_file)

    def left() -> str:
        # circuit.abc.npz is written last, in one atomic step, and only when ABC's result is kept
        if _stamp(abc_file) != before:
            return f"{abc_file} was already written, complete (ABC's result, proven and smaller)"
        return f"{runs.ABC_CIRCUIT_FILE} was not changed"

    with on_interrupt(left):
        r = optimize(args.run_dir, args.script, args.timeout, from_model=args.from_model)
    show(args, r.to_dict(), lambda: _table(r))
    return 0


def _stamp(f) -> tuple | None:
    try:
        st = f.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _table(r) -> str:
    return key_value_table([
        ("ABC script", r.script),
        ("AND nodes", f"{r.ands_naive:,} gate by gate, {r.ands_before:,} after strash -> {r.ands_after:,} after the "
                      f"script ({r.ands_naive / max(r.ands_after, 1):.2f}x / "
                      f"{r.ands_before / max(r.ands_after, 1):.2f}x)"),
        ("AIG levels", f"{r.levels_before} -> {r.levels_after}"),
        ("IR gates", f"{r.gates_before:,} -> {r.gates_after:,}"),
        ("depth", f"{r.depth_before} -> {r.depth_after}"),
        ("cec", "proven equivalent" if r.proven else "NOT proven"),
        ("kept", r.file if r.kept else "no (not smaller or not proven)" + (
            f"; {r.out} holds the input circuit unchanged" if r.out else "; circuit.abc.npz unchanged")),
        ("time", f"{r.seconds:.1f} s"),
    ])
