"""``gatelearn export RUN_DIR``: Verilog (+ testbench), AIGER and BLIF of the best circuit."""
from __future__ import annotations

from ._args import int_in, non_negative_int, positive_int
from ._lock import writes_run_dir
from ._output import add_json_flag, column_table, on_interrupt, show


def register(sub) -> None:
    p = sub.add_parser("export", help="write Verilog, AIGER and BLIF of a run's circuit into RUN_DIR/artifacts",
                       description="Write RUN_DIR/artifacts/: NAME.v (combinational top + NAME_net), "
                                   "NAME_pipeN.v with --pipeline N, self-checking testbenches NAME*_tb.v with "
                                   "golden vectors from the software model, net.aig and net.blif (gate network "
                                   "only), manifest.json. The circuit is runs.best_circuit (ABC's when smaller).")
    p.add_argument("run_dir")
    p.add_argument("--formats", default="verilog,aiger,blif", help="comma-separated subset of verilog,aiger,blif")
    p.add_argument("--pipeline", type=non_negative_int, default=0, metavar="N",
                   help="also emit a pipelined top with registers every N logic levels (0: only combinational)")
    p.add_argument("--name", default="gatelearn_model",
                   help="Verilog module name: an ASCII identifier, not a Verilog/SystemVerilog keyword")
    p.add_argument("--frac-bits", type=int_in(0, 64), default=None, metavar="K",
                   help="at most K fractional bits per feature in the hardware input format (feature field = "
                        "ceil(x * 2^k)); default: as many as make the hardware exact for every input >= 0. "
                        "Fewer bits: exact only for inputs on the grid (recorded in the header and manifest)")
    p.add_argument("--vectors", type=positive_int, default=256, help="random golden vectors in the testbench")
    p.add_argument("--dataset", default=None,
                   help="use the first --vectors test samples of this dataset (gatelearn.data) as golden vectors")
    add_json_flag(p)
    p.set_defaults(func=writes_run_dir(run))


def run(args) -> int:
    from ..flows.export import export
    written = []

    def left() -> str:
        if not written:
            return "nothing was written (artifacts/ and its manifest are as they were)"
        return (f"written before the stop, each complete: {', '.join(p.name for p in written)}; "
                "artifacts/manifest.json was not updated: run gatelearn export again")

    with on_interrupt(left):
        x = None
        if args.dataset:
            from .. import progress
            from ..data.datasets import load_dataset
            with progress.step(f"loading the {args.dataset} test set for the golden vectors"):
                x = load_dataset(args.dataset).x_test[:args.vectors]
        formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
        m = export(args.run_dir, formats, args.pipeline, args.name, args.vectors, x, frac_bits=args.frac_bits,
                   written=written)
    show(args, m, lambda: _table(m))
    return 0


def _table(m: dict) -> str:
    rows = []
    for e in m["artifacts"]:
        note = ""
        if e["kind"] == "verilog":
            s = e["spec"]
            fmt = "bits" if s["bits_input"] else (
                f"{s['width']}-bit inputs, {'/'.join(map(str, sorted(set(s.get('frac_bits') or [0]))))} "
                f"fractional bits, {'exact' if not s.get('grid_only') else 'exact only on the grid'}")
            note = f"latency {s['latency']}, {fmt}"
        elif e["kind"] == "testbench":
            note = f"{e.get('vectors', 0):,} golden vectors for {e.get('design')}"
        elif e["kind"] in ("aiger", "blif"):
            note = "gate network only"
        rows.append([e["kind"], f"artifacts/{e['file']}", e.get("gates"), e.get("depth"), note])
    return column_table(["kind", "file", "gates", "depth", "notes"], rows)
