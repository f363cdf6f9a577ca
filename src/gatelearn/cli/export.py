"""``gatelearn export RUN_DIR``: Verilog (+ testbench), AIGER and BLIF of the best circuit."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="write Verilog, AIGER and BLIF of a run's circuit into RUN_DIR/artifacts",
                       description="Write RUN_DIR/artifacts/: NAME.v (combinational top + NAME_net), "
                                   "NAME_pipeN.v with --pipeline N, self-checking testbenches NAME*_tb.v with "
                                   "golden vectors from the software model, net.aig and net.blif (gate network "
                                   "only), manifest.json. The circuit is runs.best_circuit (ABC's when smaller).")
    p.add_argument("run_dir")
    p.add_argument("--formats", default="verilog,aiger,blif", help="comma-separated subset of verilog,aiger,blif")
    p.add_argument("--pipeline", type=int, default=0, metavar="N",
                   help="also emit a pipelined top with registers every N logic levels (0: only combinational)")
    p.add_argument("--name", default="gatelearn_model", help="Verilog module name")
    p.add_argument("--vectors", type=int, default=256, help="random golden vectors in the testbench")
    p.add_argument("--dataset", default=None,
                   help="use the first --vectors test samples of this dataset (gatelearn.data) as golden vectors")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..flows.export import export
    x = None
    if args.dataset:
        from ..data.datasets import load_dataset
        x = load_dataset(args.dataset).x_test[:args.vectors]
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    m = export(args.run_dir, formats, args.pipeline, args.name, args.vectors, x)
    for e in m["artifacts"]:
        extra = f"latency {e['spec']['latency']}" if e["kind"] == "verilog" else ""
        print(f"{e['kind']:10s} artifacts/{e['file']} {extra}")
    return 0
