"""``gatelearn train``: train a preset into a run directory.

    gatelearn train --preset monk1 --out runs/monk1
    gatelearn train --preset mnist-small --iterations 2000 --threads 2
    gatelearn train --out runs/monk1 --resume                  # continue from the checkpoint
    gatelearn train --preset monk1 --init-from runs/monk1 --sampling gumbel --out runs/monk1-ft
    torchrun --nproc_per_node 2 -m gatelearn.cli.main train --preset adult --distributed
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import InputError


def register(subparsers) -> None:
    from ..layers.parametrization import INITS, PARAMETRIZATIONS, SAMPLINGS
    from ..training.presets import preset_names
    p = subparsers.add_parser("train", help="train a logic gate network from a preset",
                              description="Train a logic gate network. Writes metrics.jsonl, "
                                          "checkpoint.safetensors, model.safetensors, summary.json, "
                                          "accuracy.png and gates.png into --out.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", metavar="NAME",
                   help=f"training preset: {', '.join(preset_names())} (optional with --resume)")
    p.add_argument("--out", metavar="DIR", help="run directory (default: runs/PRESET)")
    p.add_argument("--data-dir", metavar="DIR", help="where to look for dataset files")
    p.add_argument("--iterations", type=int, metavar="N", help="optimizer steps (preset's by default)")
    p.add_argument("--batch-size", type=int, metavar="B", help="global batch size")
    p.add_argument("--lr", type=float, metavar="X", help="learning rate")
    p.add_argument("--lr-decay-at", type=float, metavar="F",
                   help="fraction of the iterations from which the learning rate is multiplied by --lr-decay")
    p.add_argument("--lr-decay", type=float, metavar="X", help="factor of that step (preset's, else 0.1)")
    p.add_argument("--tau", type=float, metavar="T", help="GroupSum temperature")
    p.add_argument("--parametrization", choices=PARAMETRIZATIONS, help="gate parametrization of every layer")
    p.add_argument("--sampling", choices=SAMPLINGS, help="soft relaxation or Gumbel straight-through")
    p.add_argument("--init", choices=INITS, help="gate initialisation of every layer")
    p.add_argument("--relaxed-inputs", type=float, metavar="WIDTH",
                   help="train on relaxed input bits: a ramp WIDTH raw units wide around each threshold "
                        "(255 on MNIST = grey values; 0 = the hard bits); evaluation and the model use the hard bits")
    p.add_argument("--augment-shift", type=int, metavar="PIXELS",
                   help="train on images shifted by up to PIXELS in each direction (image datasets; 0 = off)")
    p.add_argument("--input-levels", type=_levels, metavar="T1,T2,...",
                   help="thermometer thresholds for every raw feature instead of the dataset's encoding "
                        "(e.g. 63,127,191: three grey levels per MNIST pixel, 3 input channels for conv presets)")
    p.add_argument("--discreteness", type=float, metavar="W",
                   help="weight of a penalty pulling relaxed gates toward discrete ones (ramped from 0 over the run)")
    p.add_argument("--discreteness-layers", type=int, metavar="N",
                   help="apply --discreteness to the first N learned layers only (default: all)")
    p.add_argument("--harden-at", type=_fractions, metavar="F1,F2,...",
                   help="fractions of the iterations at which the first, second, ... learned layer becomes "
                        "its discrete gates (in training too) and stops learning; 'none': no layer")
    p.add_argument("--widths", type=_widths, metavar="W1,W2,...",
                   help="dense logic layers of these widths instead of the preset's (dense presets), "
                        "e.g. 512,512,256; the last width must be a multiple of the classes")
    p.add_argument("--validation", type=float, metavar="F",
                   help="hold out this fraction of the training set; its accuracy is logged with the test's")
    p.add_argument("--keep", choices=("last", "best"),
                   help="which model the run saves: the last (default) or the one with the best hard "
                        "validation accuracy (needs --validation)")
    p.add_argument("--seed", type=int, metavar="S", help="seed for weights, wiring, batches and noise (default 0)")
    p.add_argument("--split-seed", type=_split_seed, metavar="S",
                   help="another seeded train/test split, for datasets without an official one (breast-cancer); "
                        "'reference': the split of the paper's reference code")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (torch.set_num_threads)")
    p.add_argument("--eval-every", type=int, metavar="N", help="iterations between evaluations")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="iterations between checkpoints")
    p.add_argument("--init-from", metavar="RUN_DIR",
                   help="start from the weights and wiring of a trained model (a run directory) with a fresh "
                        "optimizer, e.g. to fine-tune a soft-trained network with --sampling gumbel")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the processes started by torchrun (gloo, CPU)")
    p.add_argument("--time-limit", type=float, metavar="MINUTES",
                   help="stop after this many minutes of training and finish the run there")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _split_seed(text: str) -> int | str:
    from ..data.datasets import REFERENCE_SPLIT
    if text.strip().lower() == REFERENCE_SPLIT:
        return REFERENCE_SPLIT
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or {REFERENCE_SPLIT!r}, got {text!r}") from None


def _fractions(text: str) -> list[float]:
    if text.strip().lower() == "none":   # no layer hardens (overrides a preset that hardens)
        return []
    return _numbers(text, "0.5,0.7")


def _widths(text: str) -> list[int]:
    return _numbers(text, "512,512,256", int)


def _levels(text: str) -> list[float]:
    return _numbers(text, "63,127,191")


def _numbers(text: str, example: str, kind=float) -> list:
    try:
        return [kind(t) for t in text.split(",")]
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, e.g. {example}, got {text!r}") from None


def run(args) -> int:
    from ..training import make_config, read_checkpoint_info, train, CHECKPOINT_FILE
    overrides = {"iterations": args.iterations, "batch_size": args.batch_size, "lr": args.lr,
                 "lr_decay_at": args.lr_decay_at, "lr_decay": args.lr_decay,
                 "tau": args.tau, "parametrization": args.parametrization, "sampling": args.sampling,
                 "init": args.init, "relaxed_inputs": args.relaxed_inputs,
                 "augment_shift": args.augment_shift, "input_levels": args.input_levels,
                 "seed": args.seed, "split_seed": args.split_seed, "threads": args.threads, "data_dir": args.data_dir,
                 "eval_every": args.eval_every, "checkpoint_every": args.checkpoint_every,
                 "distributed": args.distributed, "time_limit": args.time_limit,
                 "init_from": args.init_from, "discreteness": args.discreteness,
                 "discreteness_layers": args.discreteness_layers, "harden_at": args.harden_at,
                 "validation": args.validation, "keep": args.keep, "widths": args.widths}
    if args.preset is None and not (args.resume and args.out):
        raise InputError("--preset is required (or --resume with --out to continue a run)")
    out = Path(args.out) if args.out else Path("runs") / args.preset
    if args.resume:
        # Only what was given on the command line is compared with / applied to the checkpoint's
        # settings, so `--resume` alone continues exactly the run that was started.
        saved = read_checkpoint_info(out / CHECKPOINT_FILE)["config"]
        if args.preset is not None and args.preset != saved.get("preset"):
            raise InputError(f"{out} holds a run of preset {saved.get('preset')!r}, not {args.preset!r}")
        config = {k: v for k, v in overrides.items() if v is not None and k != "widths"}
        saved_widths = [layer.get("out") for layer in saved["layers"]]
        if args.widths is not None and args.widths != saved_widths:
            raise InputError(f"{out} holds a run with layers {saved_widths}; --widths cannot change them on --resume")
    else:
        config = make_config(args.preset, **overrides)
    summary = train(config, out, resume=args.resume, progress=not args.no_progress)
    if summary:   # rank 0 (the only rank with a summary when distributed)
        gap = summary["gap"]
        print(f"{summary['preset']}: hard accuracy {100 * summary['hard_accuracy']:.2f}% "
              f"(relaxed {100 * summary['relaxed_accuracy']:.2f}%, gap {100 * gap:+.2f} pts), "
              f"{summary['gates_used']}/{summary['gates']} gates used, {summary['iterations']} iterations "
              f"in {summary['train_seconds']:.1f} s"
              + (f", kept iteration {summary['kept_iteration']} (best validation)" if summary["kept"] == "best" else "")
              + f" -> {out}")
    if args.distributed:
        # DDP keeps the gloo process group referenced from C++ past destroy_process_group, so its
        # threads still run while the interpreter's exit tears down C++ statics, which now and then
        # aborts the process (SIGABRT, "terminate called without an active exception"). Every rank
        # has passed the final barrier and every file is written: leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
