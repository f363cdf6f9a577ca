"""``gatelearn export RUN_DIR``: Verilog (+ testbench), AIGER and BLIF of the best circuit."""
from __future__ import annotations

from ._args import int_in, non_negative_int, positive_int
from ._lock import writes_run_dir


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
    p.set_defaults(func=writes_run_dir(run))


def run(args) -> int:
    from ..flows.export import export
    x = None
    if args.dataset:
        from ..data.datasets import load_dataset
        x = load_dataset(args.dataset).x_test[:args.vectors]
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    m = export(args.run_dir, formats, args.pipeline, args.name, args.vectors, x, frac_bits=args.frac_bits)
    for e in m["artifacts"]:
        extra = ""
        if e["kind"] == "verilog":
            s = e["spec"]
            fmt = "bits" if s["bits_input"] else (
                f"{s['width']}-bit inputs, {'/'.join(map(str, sorted(set(s.get('frac_bits') or [0]))))} "
                f"fractional bits, {'exact' if not s.get('grid_only') else 'exact only on the grid'}")
            extra = f"latency {s['latency']}, {fmt}"
        print(f"{e['kind']:10s} artifacts/{e['file']} {extra}")
    return 0
