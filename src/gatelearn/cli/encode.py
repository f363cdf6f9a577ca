"""gatelearn encode RUN_DIR --input records.csv [--out rows.csv]: the numbers the compiled circuit
reads for each raw record: one row per record, one value per feature (numbers as they are, missing
ones as the training median, categories as their code), in the order of the run's schema. This is
the input of the generated C (``NAME_predict_f32``) and of the Verilog's feature ports."""
from __future__ import annotations

import argparse
import sys

from .. import runs
from ..errors import InputError
from ..fileio import atomic_write_text
from ._output import print_json


def run(args: argparse.Namespace) -> int:
    from ..data.own import read_csv
    rd = runs.run_dir(args.run_dir)
    schema = runs.table_schema(rd)
    if schema is None:
        raise InputError(f"{rd} was not trained on a table of your own (--data FILE.csv), so it has no schema to "
                         f"encode records with; its inputs are already numbers")
    header, rows = read_csv(args.input)
    x = schema.encode_table(header, rows, args.input)
    if args.json and not args.out:
        print_json({"features": schema.feature_names, "rows": x})
        return 0
    lines = [",".join(schema.feature_names) + "\n"] if args.header else []
    # float32 values written shortest-exact, so the file reads back to the very numbers the model reads
    lines += [",".join(str(v) for v in row) + "\n" for row in x]
    if args.out:
        atomic_write_text(args.out, "".join(lines))
    else:
        sys.stdout.writelines(lines)
    return 0


def register(sub) -> None:
    p = sub.add_parser("encode", help="turn raw records (CSV) into the numbers the compiled circuit reads",
                       description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help="raw records: a CSV file with a header, as in training")
    p.add_argument("--out", help="write the rows here (CSV) instead of printing them")
    p.add_argument("--header", action="store_true", help="start with a line of the feature names")
    p.add_argument("--json", action="store_true", help="print one JSON document: {features, rows}")
    p.set_defaults(func=run)
