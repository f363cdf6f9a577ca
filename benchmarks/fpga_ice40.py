"""Place and route a run's pipelined Verilog on iCE40 devices with the open tools and print the
figures as JSON (what ``gatelearn report RUN --fpga DEVICE --json`` puts under "fpga", one entry
per device).

    python benchmarks/fpga_ice40.py RUN_DIR [--device ice40-hx8k ...] [--pipeline N] [--export N]

--export N first writes the run's Verilog with a pipeline of N levels (gatelearn export RUN_DIR
--pipeline N), for a run that has none yet. A design that does not fit a device is a result here
(fits false, not_fitted says why), so the exit code is 0 whenever the tools ran. Needs yosys and
nextpnr-ice40 (icetime and icepack from fpga-icestorm add a second timing figure and the bitstream).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from gatelearn.flows.export import export
from gatelearn.flows.report import fpga_report, pipelined_top
from gatelearn.runs import run_dir
from gatelearn.tools.ice40 import DEVICES


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--device", action="append", choices=list(DEVICES),
                    help="an iCE40 of gatelearn.tools.ice40.DEVICES (repeat for several; default ice40-hx8k)")
    ap.add_argument("--pipeline", type=int, default=None,
                    help="the exported pipelined top to use (default: the smallest N exported)")
    ap.add_argument("--export", type=int, default=None, metavar="N",
                    help="export the run's Verilog with --pipeline N first")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool call")
    args = ap.parse_args()
    run = run_dir(args.run_dir)
    out: dict = {"run": str(run)}
    if args.export is not None:
        t = time.perf_counter()
        export(run, pipeline=args.export)
        out["export_seconds"] = round(time.perf_counter() - t, 2)
    entry = pipelined_top(run, args.pipeline if args.pipeline is not None else args.export)
    out["design"] = {"file": entry["file"], "gates": entry.get("gates"), "depth": entry.get("depth"),
                     "pipeline": entry["spec"]["pipeline"], "latency": entry["spec"]["latency"]}
    out["fpga"] = []
    for device in args.device or ["ice40-hx8k"]:
        out["fpga"].append(fpga_report(run, device, args.timeout, entry["spec"]["pipeline"]))
        # each device's figures as soon as they exist, so that a run stopped early shows them
        print(json.dumps({"device": device, "figures": out["fpga"][-1]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
