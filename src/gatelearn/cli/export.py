"""``gatelearn export RUN_DIR`` (or ``gatelearn export CIRCUIT --out DIR``): Verilog (+ testbench),
AIGER and BLIF of the best circuit, listed in a manifest."""
from __future__ import annotations

from pathlib import Path

from ._args import int_in, non_negative_int, positive_int
from ._lock import writes_run_dir
from ._output import add_json_flag, column_table, on_interrupt, show


def register(sub) -> None:
    p = sub.add_parser("export", help="write Verilog, AIGER and BLIF of a run's circuit into RUN_DIR/artifacts "
                                      "(or of a circuit file into --out DIR)",
                       description="Write RUN_DIR/artifacts/: NAME.v (combinational top + NAME_net), "
                                   "NAME_pipeN.v with --pipeline N, self-checking testbenches NAME*_tb.v with "
                                   "golden vectors from the software model, net.aig and net.blif (gate network "
                                   "only), manifest.json. The circuit is runs.best_circuit (ABC's when smaller). "
                                   "SOURCE may also be a folder made by gatelearn import, or a circuit file (.npz, "
                                   ".aig, .aag, .blif) with --out DIR for its artifacts. A circuit without a GroupSum "
                                   "head (an imported one) becomes a plain Verilog module NAME with one port per "
                                   "input and output under the circuit's names (no testbench); AIGER and BLIF keep "
                                   "the names too, so ABC's cec matches them with the source by name.")
    p.add_argument("run_dir", metavar="SOURCE", help="a run directory, a folder made by gatelearn import, or a "
                                                     "circuit file (.npz, .aig, .aag, .blif; needs --out)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="the folder for the artifacts and manifest.json of a circuit file (a run directory's go to "
                        "RUN_DIR/artifacts)")
    p.add_argument("--formats", default="verilog,aiger,blif", help="comma-separated subset of verilog,aiger,blif")
    p.add_argument("--pipeline", type=non_negative_int, default=0, metavar="N",
                   help="also emit a pipelined top with registers every N logic levels (0: only combinational)")
    p.add_argument("--name", default=None,
                   help="Verilog module name: an ASCII identifier, not a Verilog/SystemVerilog keyword (default: the "
                        "circuit's own name made one, e.g. a BLIF .model, else gatelearn_model)")
    p.add_argument("--frac-bits", type=int_in(0, 64), default=None, metavar="K",
                   help="at most K fractional bits per feature in the hardware input format (feature field = "
                        "ceil(x * 2^k)); default: as many as make the hardware exact for every input >= 0. "
                        "Fewer bits: exact only for inputs on the grid (recorded in the header and manifest)")
    p.add_argument("--vectors", type=positive_int, default=256, help="random golden vectors in the testbench")
    p.add_argument("--dataset", default=None,
                   help="use the first --vectors test samples of this dataset (gatelearn.data) as golden vectors")
    add_json_flag(p)
    # a run directory's lock; a circuit file's --out folder is locked by the export itself
    p.set_defaults(func=writes_run_dir(run, where=lambda args: args.run_dir if Path(args.run_dir).is_dir() else None))


def run(args) -> int:
    from ..flows.export import export
    written = []
    folder = _folder(args)

    def left() -> str:
        if not written:
            return f"nothing was written ({folder}/ and its manifest are as they were)"
        return (f"written before the stop, each complete: {', '.join(p.name for p in written)}; "
                f"{folder}/manifest.json was not updated: run gatelearn export again")

    with on_interrupt(left):
        x = None
        if args.dataset:
            from .. import progress
            from ..data.datasets import load_dataset
            with progress.step(f"loading the {args.dataset} test set for the golden vectors"):
                x = load_dataset(args.dataset).x_test[:args.vectors]
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        m = export(args.run_dir, formats, args.pipeline, args.name, args.vectors, x, frac_bits=args.frac_bits,
                   written=written, out=args.out)
    show(args, m, lambda: _table(m, folder))
    return 0


def _folder(args) -> str:
    """Where the artifacts go, as the table shows it."""
    from ..runs import ARTIFACTS_DIR
    return ARTIFACTS_DIR if args.out is None or Path(args.run_dir).is_dir() else str(Path(args.out))


def _table(m: dict, folder: str = "artifacts") -> str:
    rows = []
    for e in m["artifacts"]:
        note = ""
        if e["kind"] == "verilog":
            s = e["spec"]
            fmt = "bits" if s["bits_input"] else (
                f"{s['width']}-bit inputs, {'/'.join(map(str, sorted(set(s.get('frac_bits') or [0]))))} "
                f"fractional bits, {'exact' if not s.get('grid_only') else 'exact only on the grid'}")
            note = f"latency {s['latency']}, {fmt}"
        elif e["kind"] == "verilog_netlist":
            s = e["spec"]
            note = (f"latency {s['latency']}, {len(s['inputs'])} input / {len(s['outputs'])} output ports named as "
                    "in the circuit")
        elif e["kind"] == "testbench":
            note = f"{e.get('vectors', 0):,} golden vectors for {e.get('design')}"
        elif e["kind"] in ("aiger", "blif"):
            note = "gate network only"
        rows.append([e["kind"], f"{folder}/{e['file']}", e.get("gates"), e.get("depth"), note])
    return column_table(["kind", "file", "gates", "depth", "notes"], rows)
