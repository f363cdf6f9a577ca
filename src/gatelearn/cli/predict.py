"""gatelearn predict RUN_DIR --input FILE [--target c|numpy|torch]: class indices of raw inputs
(.npy, .csv or IDX such as t10k-images-idx3-ubyte.gz), one per line or into --out."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .. import runs
from ..backends import compile_circuit
from ..data.feature_files import read_features
from ..errors import InputError
from ..fileio import atomic_path, atomic_write_text
from ._args import MAX_THREADS, int_in
from ._lock import out_inside_run_dir, writes_run_dir


def predict(run_dir, x: np.ndarray, target: str, threads: int = 1):
    """(scores, classes) for raw features x. torch: the model itself (scores = model output)."""
    rd = runs.run_dir(run_dir)
    if target == "torch":
        import torch
        model = runs.load_model(rd)
        # the contract every target checks (same rule, same message), before the float32 copy
        x = model.input_contract.check(x)
        with torch.no_grad():
            try:
                # a float32 copy: the input may be a read-only view (e.g. of an IDX file)
                scores = model(torch.from_numpy(np.array(x, dtype=np.float32))).numpy()
            except InputError:
                raise
            except (RuntimeError, ValueError) as exc:
                raise InputError(f"the model cannot read this input: {exc}") from exc
        return scores, scores.argmax(1).astype(np.int32)
    prog = compile_circuit(runs.best_circuit(rd), target)
    pred = prog.run(x, threads=threads)
    return pred.scores, pred.classes


def run(args: argparse.Namespace) -> int:
    x = read_features(args.input)
    scores, classes = predict(args.run_dir, x, args.target, args.threads)
    lines = (f"{c}" + ("\t" + " ".join(str(v) for v in scores[i].tolist()) if args.scores else "") + "\n"
             for i, c in enumerate(classes.tolist()))
    if args.out:
        out = Path(args.out)
        if out.suffix == ".npy":
            # .npy holds one array: the (N, classes) scores with --scores, else the N class indices.
            with atomic_path(out) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, scores if args.scores else classes)
        else:
            atomic_write_text(out, "".join(lines))
    else:
        sys.stdout.writelines(lines)
    return 0


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify raw inputs with the compiled circuit", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help=".npy (N, features), .csv, or IDX (MNIST) file")
    p.add_argument("--target", choices=("c", "numpy", "torch"), default="c")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=1, help="threads of the c target (default 1)")
    p.add_argument("--out", help="write the output here instead of printing (.npy: an array, else text lines)")
    p.add_argument("--scores", action="store_true",
                   help="the class scores too (c, numpy: GroupSum counts; torch: counts / tau), after each index "
                        "or as the (N, classes) array of an .npy --out")
    p.set_defaults(func=writes_run_dir(run, where=out_inside_run_dir))
