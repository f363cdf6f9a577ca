"""gatelearn compile RUN_DIR --target c|numpy [--out DIR] [--json]: lower the trained model, run
the passes, write RUN_DIR/circuit.npz, emit the artifact (c: NAME.c, NAME.h, NAME_main.c and the
built library; numpy: the standalone module NAME.py with its tables NAME.npz, and circuit.npz)
and check it against the model. Prints a table of what it made (--json: the same as JSON)."""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from .. import progress, runs
from ..backends import TARGETS, compile_circuit, emit
from ..backends.base import check_name
from ..circuit.passes import optimize
from ..errors import GatelearnError
from ..flows.bench import random_inputs
from ..lowering import lower
from ..verification.agreement import agree_with_model
from ._args import non_negative_int
from ._lock import writes_run_dir
from ._output import add_json_flag, key_value_table, on_interrupt, show

# the quick agreement check's random inputs (bench and tests import it from here)
check_inputs = random_inputs


def run(args: argparse.Namespace) -> int:
    written: list[str] = []     # files in place, each complete (every write is atomic)
    done: list[bool] = []       # set once the whole artifact is written

    def left() -> str:
        if done:
            return f"every file was written ({', '.join(written)}); only the check against the model was cut short"
        if not written:
            return "nothing was written"
        return (f"written so far: {', '.join(written)} (each complete); the rest of the artifact is missing: "
                f"run gatelearn compile again")

    with on_interrupt(left):
        return _compile(args, written, done)


def _compile(args: argparse.Namespace, written: list[str], done: list[bool]) -> int:
    rd = runs.run_dir(args.run_dir)
    check_name(args.name, args.target)     # a bad name writes nothing, not even circuit.npz
    with progress.step("loading the trained model"):
        model = runs.load_model(rd)
    t0 = time.perf_counter()
    with progress.step("lowering the model to a circuit"):
        lowered = lower(model)      # what runs.model_circuit does, without loading the model twice
    with progress.step(f"running gatelearn's passes on {lowered.num_gates:,} gates"):
        optimized, log = optimize(lowered)
    optimized.save(rd / runs.CIRCUIT_FILE)
    written.append(str(rd / runs.CIRCUIT_FILE))
    pass_seconds = time.perf_counter() - t0
    circuit = runs.best_circuit(rd)
    out = Path(args.out) if args.out else rd / runs.ARTIFACTS_DIR / args.target
    out.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    if args.target == "c":
        with progress.step(f"compiling {circuit.num_gates:,} gates to C"):
            prog = compile_circuit(circuit, "c", name=args.name, portable=args.portable)
        paths = prog.source.write(out)
        written.extend(str(p) for p in paths.values())
        shutil.copyfile(prog.path, out / prog.path.name)
        artifact = [str(p) for p in paths.values()] + [str(out / prog.path.name)]
    else:
        with progress.step(f"writing {circuit.num_gates:,} gates as a NumPy module"):
            prog = compile_circuit(circuit, "numpy")
            paths = emit(circuit, "numpy", args.name).write(out)
        written.extend(str(p) for p in paths.values())
        circuit.save(out / "circuit.npz")
        artifact = [str(out / "circuit.npz")] + [str(p) for p in paths.values()]
    written[:] = [str(rd / runs.CIRCUIT_FILE)] + artifact
    done.append(True)
    build_seconds = time.perf_counter() - t1
    report = {"run_dir": str(rd), "target": args.target, "gates_lowered": lowered.num_gates,
              "gates_after_passes": optimized.num_gates, "gates_used": circuit.num_gates,
              "circuit": str(rd / runs.CIRCUIT_FILE), "artifact": artifact,
              "pass_seconds": round(pass_seconds, 3), "build_seconds": round(build_seconds, 3)}
    if args.check:
        x = check_inputs(circuit, args.check)
        with progress.step(f"checking the {args.target} artifact against the model on {args.check:,} inputs"):
            report["check"] = agree_with_model(model, prog, x)
        if not report["check"]["agree"]:
            show(args, report, lambda: _table(report))
            raise GatelearnError(f"the compiled circuit disagrees with the model on {report['check']['mismatches']} "
                                 f"of {args.check} random inputs; please report this as a bug")
    show(args, report, lambda: _table(report))
    return 0


def _table(r: dict) -> str:
    check = r.get("check")
    if check is None:
        agreement = "not checked (--check 0)"
    elif check["agree"]:
        agreement = f"agrees on all {check['samples']:,} random inputs (class scores and classes)"
    else:
        agreement = f"DISAGREES on {check['mismatches']:,} of {check['samples']:,} random inputs"
    gates = f"{r['gates_lowered']:,} lowered -> {r['gates_after_passes']:,} after passes"
    if r["gates_used"] != r["gates_after_passes"]:
        gates += f" -> {r['gates_used']:,} used (ABC's circuit.abc.npz)"
    return key_value_table([
        ("run directory", r["run_dir"]), ("target", r["target"]), ("gates", gates),
        ("circuit", r["circuit"]), ("artifact", r["artifact"]),
        ("passes", f"{r['pass_seconds']:.2f} s"), ("build", f"{r['build_seconds']:.2f} s"),
        ("check against the model", agreement)])


def register(sub) -> None:
    p = sub.add_parser("compile", help="optimize the trained network and emit C or a NumPy circuit",
                       description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--target", choices=TARGETS, default="c")
    p.add_argument("--out", help="artifact folder (default RUN_DIR/artifacts/TARGET)")
    p.add_argument("--name", default="gatelearn_net",
                   help="C identifier prefix of the API (target c), the module name (target numpy)")
    p.add_argument("--portable", action="store_true", help="build with 64-bit words, no SIMD (target c)")
    p.add_argument("--check", type=non_negative_int, default=512, metavar="N",
                   help="compare with model.eval() on N random inputs (0: skip; default 512)")
    add_json_flag(p)
    p.set_defaults(func=writes_run_dir(run))
