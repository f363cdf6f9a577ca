"""gatelearn predict RUN_DIR --input FILE [--target c|numpy|torch]: the class of each raw input,
one name per line (or into --out).

Inputs: for a run trained on a table of your own (``--data FILE.csv``), a CSV file of raw records
with a header, read by the run's schema (columns by name, text categories, missing values as in
training; a target column, if present, is skipped and the accuracy on it printed to stderr).
For any run: .npy (N, features), a CSV of numbers, or IDX (MNIST's t10k-images-idx3-ubyte.gz)."""
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
from ._output import print_json


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


def read_inputs(run_dir, path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(raw features, labels or None): records by the run's schema when it has one and the file is
    a CSV, else a numeric feature file."""
    schema = runs.table_schema(runs.run_dir(run_dir))
    name = Path(path).name.lower()
    if schema is None or name.endswith((".npy", ".npy.gz")) or "idx" in name:
        return read_features(path), None
    from ..data.own import read_csv
    header, rows = read_csv(path)
    # labelled records: `run` says how many the model gets right
    return schema.encode_table(header, rows, str(path)), schema.labels(header, rows)


def run(args: argparse.Namespace) -> int:
    x, labels = read_inputs(args.run_dir, args.input)
    scores, classes = predict(args.run_dir, x, args.target, args.threads)
    names = runs.class_names(args.run_dir, scores.shape[1])
    if labels is not None:
        known = labels >= 0
        print(f"accuracy on the {int(known.sum())} labelled records of {args.input}: "
              f"{100 * float((classes[known] == labels[known]).mean() if known.any() else 0):.2f}%",
              file=sys.stderr)
    if args.json and not args.out:
        # one document: per input its class (name and index), and its scores with --scores
        print_json([{"class": names[c], "index": c, **({"scores": scores[i].tolist()} if args.scores else {})}
                    for i, c in enumerate(classes.tolist())])
        return 0
    label = (lambda c: str(c)) if args.indices else (lambda c: names[c])
    lines = (label(c) + ("\t" + " ".join(str(v) for v in scores[i].tolist()) if args.scores else "") + "\n"
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
    p = sub.add_parser("predict", help="classify raw inputs or records with the compiled circuit",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--input", required=True,
                   help="raw records (.csv with a header, for runs trained on your own table), or .npy (N, features), "
                        "a .csv of numbers, or IDX (MNIST) file")
    p.add_argument("--indices", action="store_true", help="print class indices instead of class names")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document: a list of {class, index, scores (with --scores)}")
    p.add_argument("--target", choices=("c", "numpy", "torch"), default="c")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=1, help="threads of the c target (default 1)")
    p.add_argument("--out", help="write the output here instead of printing (.npy: an array, else text lines)")
    p.add_argument("--scores", action="store_true",
                   help="the class scores too (c, numpy: GroupSum counts; torch: counts / tau), after each index "
                        "or as the (N, classes) array of an .npy --out")
    p.set_defaults(func=writes_run_dir(run, where=out_inside_run_dir))
