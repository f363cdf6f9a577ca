"""``gatelearn train``: train a preset (or a config file) into a run directory.

    gatelearn train --preset monk1 --out runs/monk1
    gatelearn train --data train.csv --target label --budget-gates 2000 --out runs/mine
    gatelearn train --data images/ --out runs/images          # one sub-folder per class
    gatelearn train --preset mnist-small --iterations 2000 --threads 2
    gatelearn train --out runs/monk1 --resume                  # continue from the checkpoint
    gatelearn train --config runs/monk1/config.json --out runs/monk1-again   # the same run again
    gatelearn train --preset monk1 --init-from runs/monk1 --sampling gumbel --out runs/monk1-ft
    torchrun --nproc_per_node 2 -m gatelearn.cli.main train --preset adult --distributed

The setting flags are made from :class:`gatelearn.training.config.TrainConfig`, one per setting
that has a command-line form, with its help text; the other settings are keys of a config file.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._output import add_json_flag, show


def register(subparsers) -> None:
    from ..training.config import settings
    from ..training.presets import PRESETS, preset_names
    p = subparsers.add_parser(
        "train", help="train a logic gate network from a preset or a config file",
        description=textwrap.fill("Train a logic gate network. Writes config.json, metrics.jsonl, "
                                  "checkpoint.safetensors, model.safetensors, summary.json, accuracy.png and "
                                  "gates.png into --out.", width=100),
        epilog=_file_only_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    run_group = p.add_argument_group("the run")
    run_group.add_argument("--config", metavar="FILE",
                           help="settings from a JSON or TOML file (e.g. a run's config.json, which trains that "
                                "run again); the file may name a preset for the settings it leaves out, and the "
                                "flags given here override it")
    run_group.add_argument("--out", metavar="DIR", help="run directory (default: runs/PRESET)")
    run_group.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    run_group.add_argument("--no-progress", action="store_true",
                           help="no progress bar (the lines on the data and the network still print)")
    add_json_flag(run_group)
    group = p.add_argument_group("training settings", textwrap.fill(
        "each is also a key of a --config file; a flag not given keeps the file's or the preset's value",
        width=100))
    set_by_presets = set().union(*PRESETS.values())
    for s in settings():
        if not s.cli:
            continue
        help_text = s.help
        shown = not (s.default is None or s.default is False or s.default in ([], {}))
        if s.name == "preset":
            help_text += f": {', '.join(preset_names())} (optional with --resume, or a --config file)"
        elif s.required:
            help_text += " (default: the preset's)"
        elif shown:
            help_text += f" (default: the preset's, else {s.default})" if s.name in set_by_presets \
                else f" (default: {s.default})"
        kwargs: dict[str, Any] = {"dest": s.name, "default": argparse.SUPPRESS, "help": help_text}
        if s.type is bool:
            group.add_argument(s.flag, action="store_true", **kwargs)
        else:
            group.add_argument(s.flag, type=_flag_parser(s), metavar=s.metavar, choices=s.choices, **kwargs)
    p.set_defaults(func=run)


def run_summary(summary: dict, out: Path) -> str:
    """The few lines that end a run: accuracy, gap, gates, where the files are, what to run next."""
    name = summary["preset"] or summary["dataset"]
    kept = (f", kept iteration {summary['kept_iteration']} (best validation)" if summary["kept"] == "best" else "")
    lines = [
        f"{name}: {summary['iterations']} iterations in {summary['train_seconds']:.1f} s{kept}",
        f"  hard test accuracy  {100 * summary['hard_accuracy']:.2f}%   (the circuit's; relaxed "
        f"{100 * summary['relaxed_accuracy']:.2f}%, gap {100 * summary['gap']:+.2f} points)",
        f"  gates               {summary['gates_used']:,} used of {summary['gates']:,} learned",
        f"  files               {out}/ (model.safetensors, config.json, metrics.jsonl, summary.json, plots)",
        f"next: gatelearn compile {out}   then   gatelearn verify {out}   and   gatelearn report {out}",
    ]
    return "\n".join(lines)


def _flag_parser(s):
    """A setting's text -> value, with the setting's own message for a bad value."""
    def parse(text: str):
        try:
            return s.from_text(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = s.name   # argparse names it in its messages
    return parse


def _file_only_help() -> str:
    from ..training.config import settings
    lines = ["settings only in a --config file (or a preset):"]
    for s in settings():
        if not s.cli:
            lines += textwrap.wrap(f"{s.name}: {s.help}", width=100, initial_indent="  ", subsequent_indent="      ")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..training import TrainConfig, make_config, train
    from ..training.config import read_settings, settings
    given = {s.name: getattr(args, s.name) for s in settings() if hasattr(args, s.name)}
    from_file = read_settings(args.config) if args.config else {}
    preset = given.get("preset", from_file.get("preset"))
    if args.resume:
        if not (args.out or preset):
            raise InputError("--resume needs --out: the run directory to continue")
        # Only the settings given (in the file, then as flags) are compared with / applied to the
        # checkpoint's, so `--resume` alone continues exactly the run that was started.
        out = Path(args.out) if args.out else Path("runs") / preset
        config: TrainConfig | dict = {**from_file, **given}
    else:
        if preset is None and not args.config and "data" not in given:
            raise InputError("give your data (--data FILE.csv or an image folder) or a --preset (or --config FILE, "
                             "or --resume with --out to continue a run)")
        config = make_config(given.pop("preset", None), from_file, **given)
        out = Path(args.out) if args.out else Path("runs") / (config.preset or config.dataset
                                                              or Path(config.data or "run").stem)
    summary = train(config, out, resume=args.resume, progress="lines" if args.no_progress else True)
    if summary:   # rank 0 (the only rank with a summary when distributed)
        show(args, summary, lambda: run_summary(summary, out))
    if config.get("distributed"):
        # DDP keeps the gloo process group referenced from C++ past destroy_process_group, so its
        # threads still run while the interpreter's exit tears down C++ statics, which now and then
        # aborts the process (SIGABRT, "terminate called without an active exception"). Every rank
        # has passed the final barrier and every file is written: leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
