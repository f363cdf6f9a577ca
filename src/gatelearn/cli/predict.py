"""gatelearn predict RUN_DIR --input FILE [--target c|numpy|torch]: the class of each raw input,
one name per line (or into --out).

Inputs: for a run trained on a table of your own (``--data FILE.csv``), a CSV file of raw records
with a header, read by the run's schema (columns by name, text categories, missing values as in
training; a target column, if present, is skipped and the accuracy on it printed to stderr).
For any run: .npy (N, features), a CSV of numbers, or IDX (MNIST's t10k-images-idx3-ubyte.gz).

Any other circuit (a folder made by ``gatelearn import``, a circuit .npz, an .aig / .aag / .blif
file): without a class head (an imported circuit), the input is rows of 0/1 input bits (.npy or a
CSV of numbers) and each output vector is printed as a bit string, output 0 first, one line per
row (--json: a list of {bits}; --out X.npy: the (N, outputs) array of bits); with a head (a
circuit file of a trained run), class indices as for a run."""
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
    if runs.is_trained_run(args.run_dir):
        x, labels = read_inputs(args.run_dir, args.input)
        scores, classes = predict(args.run_dir, x, args.target, args.threads)
        names = runs.class_names(args.run_dir, scores.shape[1])
    else:
        circuit, _ = runs.load_any_circuit(args.run_dir)
        if args.target == "torch":
            raise InputError(f"--target torch runs a trained model; {args.run_dir} is a circuit without one "
                             "(use --target c or numpy)")
        if circuit.head is None:
            return _print_bits(args, circuit)
        # a circuit file with a GroupSum head (e.g. a trained run's circuit.npz): its classes have
        # no names outside the run, so they are shown by index
        x, labels = read_features(args.input), None
        pred = compile_circuit(circuit, args.target).run(x, threads=args.threads)
        scores, classes = pred.scores, pred.classes
        names = [str(k) for k in range(scores.shape[1])]
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


def read_bits(path: str, inputs: int) -> np.ndarray:
    """The rows of 0/1 input bits in ``path`` (.npy, or a CSV of numbers) as uint8 (N, inputs),
    or an InputError naming the file and the first row and column that is not a bit."""
    x = read_features(path)
    if x.shape[1] != inputs:
        raise InputError(f"{path}: the circuit has {inputs} input bits, so each row must hold {inputs} values (0 or "
                         f"1); got rows of {x.shape[1]}")
    bad = np.argwhere(~np.isin(x, (0, 1)))
    if len(bad):
        r, c = (int(v) for v in bad[0])
        raise InputError(f"{path}, row {r}, column {c}: {x[r, c].item()!r} is not an input bit (0 or 1)"
                         + (f"; {len(bad)} values are not bits" if len(bad) > 1 else ""))
    return x.astype(np.uint8)


def _print_bits(args: argparse.Namespace, circuit) -> int:
    """A circuit without a head: each row's output bits as a string, output 0 first; for a
    model's head lowered into gates (``gatelearn.lower(model, head="gates")``), the class index
    those bits hold."""
    gates_head = (circuit.meta.get("head") or {}).get("lowered") == "gates"
    if args.scores or (args.indices and not gates_head):
        raise InputError(f"--scores and --indices are about class scores; {args.run_dir} has no class head, so "
                         "predict prints its output bits")
    # raw features when the circuit has an input encoder (it encodes them, as the model did), else bits
    x = read_features(args.input) if circuit.encoder is not None else read_bits(args.input, circuit.num_inputs)
    # a circuit without a head reports its output bits as the "scores" (backends.common.Prediction)
    bits = compile_circuit(circuit, args.target).run(x, threads=args.threads).scores.astype(np.uint8)
    if gates_head:   # the class index, least significant bit first
        index = (bits.astype(np.int64) << np.arange(bits.shape[1], dtype=np.int64)).sum(1)
        lines = [f"{k}\n" for k in index.tolist()]
    else:
        lines = ["".join("01"[v] for v in row) + "\n" for row in bits.tolist()]
    if args.out:
        out = Path(args.out)
        if out.suffix == ".npy":
            with atomic_path(out) as tmp:
                with open(tmp, "wb") as fh:
                    np.save(fh, bits)
        else:
            atomic_write_text(out, "".join(lines))
    elif args.json:
        key = "index" if gates_head else "bits"
        print_json([{key: int(line) if gates_head else line.rstrip("\n")} for line in lines])
    else:
        sys.stdout.writelines(lines)
    return 0


def register(sub) -> None:
    p = sub.add_parser("predict", help="classify raw inputs or records with the compiled circuit",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", metavar="path", help="a run directory, or a circuit: a folder made by gatelearn import, "
                                                   "a circuit .npz, an .aig / .aag / .blif file")
    p.add_argument("--input", required=True,
                   help="raw records (.csv with a header, for runs trained on your own table), or .npy (N, features), "
                        "a .csv of numbers, or IDX (MNIST) file; for a circuit without a head, rows of 0/1 input bits "
                        "(.npy or .csv)")
    p.add_argument("--indices", action="store_true", help="print class indices instead of class names")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document: a list of {class, index, scores (with --scores)}; for a circuit "
                        "without a head, a list of {bits}")
    p.add_argument("--target", choices=("c", "numpy", "torch"), default="c")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=1, help="threads of the c target (default 1)")
    p.add_argument("--out", help="write the output here instead of printing (.npy: an array, else text lines)")
    p.add_argument("--scores", action="store_true",
                   help="the class scores too (c, numpy: GroupSum counts; torch: counts / tau), after each index "
                        "or as the (N, classes) array of an .npy --out")
    p.set_defaults(func=writes_run_dir(run, where=out_inside_run_dir))
