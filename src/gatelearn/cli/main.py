"""The ``gatelearn`` command. Each subcommand lives in its own module of this package and
defines ``register(subparsers)``, which adds its parser and sets ``func`` (args -> exit code)."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import GatelearnError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatelearn", description=(
        "Train logic gate networks and compile them into verified circuits."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    package = importlib.import_module(__package__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__package__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GatelearnError as exc:
        print(f"gatelearn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # `gatelearn train` says where it stopped and how to continue; a plain Ctrl-C says nothing
        print(f"gatelearn {args.command}: {exc or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
