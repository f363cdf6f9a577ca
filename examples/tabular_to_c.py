"""Your own table -> a trained logic gate network -> plain C -> a small program that classifies.

    python examples/tabular_to_c.py --out runs/tabular                # writes its own small CSV
    python examples/tabular_to_c.py --out runs/mine --csv data.csv --target label --iterations 2000

Steps: ``gl.Dataset.from_csv`` infers how each column becomes bits (numbers: thresholds at the
training quantiles; text: one-hot; missing values: the median or a category of their own);
``gl.train`` trains a network of about ``--budget-gates`` gates; ``gl.lower`` turns the hard
network into a circuit, gatelearn's passes shrink it and the C emitter writes ``gatelearn_net.c``
/ ``.h``; ``cc`` builds them with ``examples/mcu/classify.c`` (no OpenMP, no SIMD, as for a
microcontroller). Records are encoded by the run's schema (``gatelearn encode`` does the same on
the command line), fed to the program, and its answers compared with the model's: the script
exits with 1 unless they are the same for every record.

Files in --out: data.csv (unless --csv), new_records.csv (raw records the model has not seen,
written with data.csv), run/ (the run directory), c/ (the C and the program).
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

import gatelearn as gl
from gatelearn.backends import emit
from gatelearn.circuit.passes import optimize
from gatelearn.data.own import Schema, read_csv

HERE = Path(__file__).resolve().parent
SITES = ["north", "south", "east"]


def sensor_rows(n: int, seed: int) -> list[list[str]]:
    """Made-up sensor readings with a label that depends on numbers and a category: "alarm" when
    it is hot and the site is not shaded (east), or very humid; 5% of the labels flipped (noise);
    about 5% of the temperatures, humidities and sites missing (empty, "NA")."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        temp, humidity = rng.normal(21.0, 5.0), rng.uniform(10.0, 100.0)
        site, shift = SITES[rng.integers(3)], ("day", "night")[rng.integers(2)]
        alarm = (temp > 23.0 and site != "east") or humidity > 85.0
        if rng.random() < 0.05:
            alarm = not alarm
        rows.append(["" if rng.random() < 0.05 else f"{temp:.1f}",
                     "NA" if rng.random() < 0.05 else f"{humidity:.0f}",
                     "" if rng.random() < 0.05 else site, shift, "alarm" if alarm else "ok"])
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["temperature", "humidity", "site", "shift", "label"])
        w.writerows(rows)
    return path


def fresh(run: Path) -> Path:
    """The run directory, emptied if an earlier run of this script left one there (training
    refuses to overwrite a finished run); a folder that is not a gatelearn run is left alone."""
    if (run / "checkpoint.safetensors").exists() or (run / "model.safetensors").exists():
        shutil.rmtree(run)
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the data, the run and the C")
    p.add_argument("--csv", type=Path, help="your CSV file with a header line (default: write a small one)")
    p.add_argument("--target", default="label", help="the column to predict (default: label)")
    p.add_argument("--iterations", type=int, default=300, help="training steps (default 300: seconds)")
    p.add_argument("--budget-gates", type=int, default=400, help="about this many gates (default 400)")
    args = p.parse_args(argv)
    # torch only now, after gatelearn: gatelearn sets OpenMP's wait policy before torch loads
    # (passive threads; spinning ones slow training a lot on cores shared with other work)
    import torch
    args.out.mkdir(parents=True, exist_ok=True)
    if args.csv is None:
        args.csv = write_csv(args.out / "data.csv", sensor_rows(500, seed=0))
        records = write_csv(args.out / "new_records.csv", sensor_rows(200, seed=1))
    else:
        records = args.csv          # your own file: classify its rows (the training rows among them)

    # 1. Data: the schema (column kinds, categories, medians for missing numbers) is inferred
    #    here and travels with the model, so predict / encode read new records the same way.
    ds = gl.Dataset.from_csv(args.csv, target=args.target)
    schema = Schema.from_dict(ds.schema)
    print(f"{ds}\n{schema.describe()}")

    # 2. Train: no preset; make_config sizes dense layers for the gate budget and the classes.
    run = fresh(args.out / "run")
    summary = gl.train(gl.make_config(budget_gates=args.budget_gates, iterations=args.iterations), run,
                       dataset=ds, progress=False)
    print(f"trained {args.iterations} steps: hard test accuracy {100 * summary['hard_accuracy']:.2f}%, "
          f"{summary['gates']} gates")

    # 3. To C: the hard network as a circuit (eval-mode gates), shrunk by the passes that
    #    `gatelearn compile` runs (constants, dead and duplicate gates), then the C emitter.
    model = gl.load(run).eval()
    circuit, _ = optimize(gl.lower(model))
    c_dir = args.out / "c"
    files = emit(circuit, "c").write(c_dir)
    print(f"C: {', '.join(str(f) for f in files.values())} ({circuit.num_gates} gates after the passes)")
    # the header names the classes, so the program prints names, not indices
    print(next(ln for ln in (c_dir / "gatelearn_net.h").read_text().splitlines()
               if ln.startswith("#define") and "_CLASS_NAMES " in ln))

    # 4. Build the microcontroller example against it: plain C99, one static workspace.
    program = c_dir / "classify"
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-DGL_PORTABLE", "-I", str(c_dir),
                    str(HERE / "mcu" / "classify.c"), str(c_dir / "gatelearn_net.c"), "-o", str(program)], check=True)

    # 5. Classify records: raw text -> the numbers the circuit reads (categories as codes, missing
    #    values filled), one comma-separated line each, as a device would send them. str() of a
    #    float32 is its shortest exact text, so the C program's strtof reads back the same value.
    header, rows = read_csv(records)
    x = schema.encode_table(header, rows, str(records))
    lines = "".join(",".join(str(v) for v in row) + "\n" for row in x)
    c_names = subprocess.run([str(program)], input=lines, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    with torch.no_grad():
        want = [model.class_names[k] for k in model(torch.from_numpy(x)).argmax(1).tolist()]
    for raw, name in list(zip(rows, c_names))[:5]:
        print(f"   {','.join(raw)} -> {name}")
    same = c_names == want
    print(f"C program and model agree on {sum(a == b for a, b in zip(c_names, want))} of {len(want)} records"
          + ("" if same else "  <-- MISMATCH"))
    if args.target in header:
        truth = [r[header.index(args.target)].strip() for r in rows]
        right = np.mean([a == b for a, b in zip(c_names, truth)])
        print(f"accuracy of the C program on {records.name}: {100 * right:.2f}%")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
