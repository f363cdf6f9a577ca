"""The README and docs/ say what the package does: the Python example runs as written, every
``gatelearn`` command line in a shell block names a real subcommand and real flags, the other code
blocks parse, and no text points outside the repository."""
from __future__ import annotations

import ast
import os
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = ("bash", "sh", "console")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)


def _data_folder() -> Path:
    """MNIST for the Python example: $GATELEARN_DATA, else the data folder beside this checkout."""
    env = os.environ.get("GATELEARN_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "datasets"


def _blocks(path: Path, langs: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(line number of the block's first line, language, text) of every fenced block in one of
    ``langs``, indented ones (inside a list item) included, with the indentation removed."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        if m.group("lang").lower() in langs:
            indent = len(m.group("indent"))
            body = "".join(line[indent:] if line[:indent].strip() == "" else line
                           for line in m.group("body").splitlines(keepends=True))
            out.append((text.count("\n", 0, m.start()) + 2, m.group("lang").lower(), body))
    return out


# ------------------------------------------------------------------------------ Python example

def test_readme_python_example(tmp_path, monkeypatch):
    data = _data_folder()
    if not (data / "mnist").is_dir() and not (data / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"no MNIST in {data} (set GATELEARN_DATA to a folder that holds it)")
    code = _blocks(ROOT / "README.md", ("python",))[0][2]
    assert "assert torch.equal" in code      # the example checks C against the model itself
    monkeypatch.setenv("GATELEARN_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "readme" / "model.safetensors").exists()


def _code_blocks(langs: tuple[str, ...]) -> list:
    return [pytest.param(path, body, id=f"{path.relative_to(ROOT)}:{line}")
            for path in DOCS for line, _, body in _blocks(path, langs)]


@pytest.mark.parametrize("path, code", _code_blocks(("python",)))
def test_python_blocks_parse(path, code):
    ast.parse(code, filename=str(path))


@pytest.mark.parametrize("path, text", _code_blocks(("toml",)))
def test_toml_blocks_are_settings(path, text, tmp_path):
    """Every TOML block is a config file ``gatelearn train --config`` reads (known settings, valid values)."""
    from gatelearn.training.config import read_settings
    tomllib.loads(text)
    file = tmp_path / "run.toml"
    file.write_text(text, encoding="utf-8")
    read_settings(file)


# ------------------------------------------------------------------------------ command lines

def _command_lines(body: str, lang: str) -> list[list[str]]:
    """The argument lists after ``gatelearn`` (or ``python -m gatelearn.cli.main``) of every
    command in a shell block: continuation lines joined, comments and ``$`` prompts dropped, commands
    split at ``&&``, ``||``, ``;`` and ``|``; in a console block only the lines after a prompt."""
    lines = body.splitlines()
    if lang == "console":     # the commands follow a prompt; other lines are their output
        lines = [ln.split("$ ", 1)[1] for ln in lines if ln.lstrip().startswith("$ ")]
    else:
        lines = [ln.lstrip()[2:] if ln.lstrip().startswith("$ ") else ln for ln in lines]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        try:
            tokens = list(lexer)
        except ValueError as exc:     # an unbalanced quote: say which line
            raise AssertionError(f"cannot split {line!r}: {exc}") from None
        command: list[str] = []
        for tok in [*tokens, ";"]:
            if tok and set(tok) <= set(";&|"):
                args = _gatelearn_args(command)
                if args is not None:
                    found.append(args)
                command = []
            else:
                command.append(tok)
    return found


def _gatelearn_args(command: list[str]) -> list[str] | None:
    for i, tok in enumerate(command):
        if Path(tok).name == "gatelearn" and i == 0:
            return command[1:]
        if tok == "-m" and i + 1 < len(command) and command[i + 1] == "gatelearn.cli.main":
            return command[i + 2:]
    return None


def _commands() -> list:
    params = []
    for path in DOCS:
        for line, lang, body in _blocks(path, SHELL_BLOCKS):
            for args in _command_lines(body, lang):
                shown = " ".join(["gatelearn", *args])
                params.append(pytest.param(args, id=f"{path.relative_to(ROOT)}:{line}: {shown[:100]}"))
    return params


COMMANDS = _commands()


@cache
def _parsers():
    """(top-level parser, {subcommand: its parser}) of the real command line, built in-process."""
    import argparse

    from gatelearn.cli.main import build_parser
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, dict(subs.choices)


def _flags(args: list[str]) -> list[str]:
    """The long options among ``args`` (``--out=DIR`` -> ``--out``; ``[--scores]`` -> ``--scores``)."""
    flags = []
    for tok in args:
        tok = tok.strip("[]")
        if tok.startswith("--") and len(tok) > 2:
            flags.append(tok.split("=", 1)[0])
    return flags


def _in_help(flag: str, help_text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


def test_docs_have_commands():
    """The extraction finds the README's commands (a change of fences would silence the test below)."""
    readme = [p for p in COMMANDS if p.id.startswith("README.md:")]
    assert len(readme) >= 15, [p.id for p in readme]
    subcommands = {p.values[0][0] for p in readme if p.values[0]}
    assert {"train", "compile", "verify", "report", "predict"} <= subcommands


@pytest.mark.parametrize("args", COMMANDS)
def test_command_line_is_real(args):
    """The subcommand exists and every --flag appears in ``gatelearn SUBCOMMAND --help``."""
    parser, subs = _parsers()
    assert args, "a bare `gatelearn` runs nothing"
    if args[0].startswith("-"):     # a top-level option (gatelearn --version)
        help_text, where = parser.format_help(), "gatelearn --help"
        flags = _flags(args)
    else:
        assert args[0] in subs, f"no subcommand {args[0]!r}; gatelearn has {', '.join(sorted(subs))}"
        help_text, where = subs[args[0]].format_help(), f"gatelearn {args[0]} --help"
        flags = _flags(args[1:])
    unknown = [f for f in flags if not _in_help(f, help_text)]
    assert not unknown, f"{', '.join(unknown)} not in `{where}`"


# ------------------------------------------------------------------------------ paths

OUTSIDE = [(re.compile(r"/work\b"), "a machine path"), (re.compile(r"FIELD\.md"), "a file outside the repository"),
           (re.compile(r"(?:\.\./)+shared\b"), "a folder outside the repository")]
RELATIVE = re.compile(r"(?:\.\./)+[^\s)\]`'\"<>|,;]*")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_paths_outside_the_repository(path):
    """README.md and docs/*.md name only files of the repository: no machine paths, no ``../``
    that leaves the checkout (``../README.md`` from docs/ is fine)."""
    text = path.read_text(encoding="utf-8")
    problems = []
    for pattern, what in OUTSIDE:
        problems += [f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group()!r} ({what})"
                     for m in pattern.finditer(text)]
    for m in RELATIVE.finditer(text):
        target = (path.parent / m.group()).resolve()
        if target != ROOT and ROOT not in target.parents:
            problems.append(f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group()!r} leaves the repository")
    assert not problems, "\n".join(problems)
