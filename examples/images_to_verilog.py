"""Your own images -> a trained logic gate network -> Verilog, proven equal to the model.

    python examples/images_to_verilog.py --out runs/lines                  # draws its own images
    python examples/images_to_verilog.py --out runs/mine --images photos/ --iterations 2000

Steps: ``gl.Dataset.from_image_folder`` reads one sub-folder per class (greyscale here; each
pixel becomes the bit ``pixel > 127.5``); ``gl.train`` trains a small network; ``export`` (what
``gatelearn export`` runs) writes the Verilog, a combinational top and a pipelined one, each
with a self-checking testbench that replays the test images; ``verify`` (what ``gatelearn
verify`` runs) proves with yosys and ABC that each Verilog top computes exactly the trained
model's classes and counts from raw pixels. Needs Pillow, yosys and ABC (berkeley-abc). Exits
with 1 unless every proof succeeds.

Files in --out: images/ (unless --images: 8x8 PNGs of horizontal and vertical lines) and run/
(the run directory; the Verilog is in run/artifacts/).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

import gatelearn as gl
from gatelearn.flows.export import export
from gatelearn.flows.verify import verify

SIZE = 8


def draw_lines(folder: Path, per_class: int, seed: int = 0) -> Path:
    """``per_class`` 8x8 greyscale PNGs of each class: ``horizontal/`` and ``vertical/``, a dark
    line of 4 to 8 pixels at a random place on a light background, with grey noise (which the
    threshold at 127.5 removes: dark pixels stay below it, light ones above)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for shape in ("horizontal", "vertical"):
        (folder / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            line = np.zeros((SIZE, SIZE), bool)
            k = int(rng.integers(4, SIZE + 1))                          # length
            r, c = int(rng.integers(0, SIZE)), int(rng.integers(0, SIZE - k + 1))
            line[r, c:c + k] = True
            if shape == "vertical":
                line = line.T
            noise = rng.integers(0, 90, (SIZE, SIZE))
            pixels = np.where(line, 30 + noise, 225 - noise).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / shape / f"{i:03d}.png")
    return folder


def fresh(run: Path) -> Path:
    """The run directory, emptied if an earlier run of this script left one there (training
    refuses to overwrite a finished run); a folder that is not a gatelearn run is left alone."""
    if (run / "checkpoint.safetensors").exists() or (run / "model.safetensors").exists():
        shutil.rmtree(run)
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the images and the run")
    p.add_argument("--images", type=Path, help="your image folder, one sub-folder per class (default: draw some)")
    p.add_argument("--iterations", type=int, default=1000, help="training steps (default 1000: seconds)")
    p.add_argument("--budget-gates", type=int, default=400, help="about this many gates (default 400)")
    p.add_argument("--pipeline", type=int, default=2, help="registers every N logic levels in the pipelined top")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    folder = args.images or draw_lines(args.out / "images", per_class=300)

    # 1. Data: the pixel bytes are the raw features (channel-major), thresholds at 127.5.
    ds = gl.Dataset.from_image_folder(folder)
    print(ds, "classes:", ", ".join(ds.class_names))

    # 2. Train a small dense network (no preset: sized for the gate budget and the classes; a
    #    learning rate above the default 0.01, since the run is short).
    run = fresh(args.out / "run")
    config = gl.make_config(budget_gates=args.budget_gates, iterations=args.iterations, lr=0.05)
    summary = gl.train(config, run, dataset=ds, progress=False)
    print(f"trained {args.iterations} steps: hard test accuracy {100 * summary['hard_accuracy']:.2f}%, "
          f"{summary['gates']} gates")

    # 3. Verilog. The input port takes each feature as an unsigned fixed-point field; frac_bits=0
    #    makes the field the pixel byte itself (comparator pixel > 127). That is exact for every
    #    integer pixel, which is all an image holds; the default would add a fractional bit so
    #    that even non-integer inputs compare exactly (threshold 127.5), i.e. 9-bit fields.
    #    The testbenches replay the test images (x=) with the model's answers as golden values.
    manifest = export(run, formats=("verilog",), pipeline=args.pipeline, frac_bits=0, x=ds.x_test)
    for e in manifest["artifacts"]:
        if e["kind"] == "verilog":
            s = e["spec"]
            print(f"{run / 'artifacts' / e['file']}: x = {s['features']} features x {s['width']} bits "
                  f"(feature f = x[f*{s['width']} +: {s['width']}]), latency {s['latency']} cycles, "
                  f"class_idx {s['class_bits']} bits")

    # 4. Prove it: yosys turns each top into gates, ABC's cec proves them equal to a reference
    #    built from the trained model (encoder, gate network, popcount, argmax); the report also
    #    goes to run/verify.json.
    report = verify(run)
    for check in report.checks:
        print(f"{check.status:8}  {check.item}: {check.what}")
    print(report.summary())
    print(json.dumps({"ok": report.ok, "proven": report.items("proven")}))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
