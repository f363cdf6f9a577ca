"""Training settings: :class:`TrainConfig`, the one list of them.

Each field of :class:`TrainConfig` is one setting: its type, its default (none: a preset or a
config file must give it) and, in its metadata (:func:`setting`), its help text, whether a resumed
run may change it, and how the command line spells it. Everything else derives from that list:

* a preset (:mod:`gatelearn.training.presets`) is a dict of field values over these defaults;
* ``gatelearn train`` has one flag per setting with a command-line form, with this help text;
* a config file (JSON or TOML: ``gatelearn train --config FILE``) holds field values;
* a run directory's ``config.json``, and the ``config`` of its ``summary.json`` and checkpoint,
  are :meth:`TrainConfig.to_dict`: ``gatelearn train --config RUN/config.json --out OTHER``
  trains the same run again, to the same numbers;
* :func:`resume_config` decides from each field's ``resume`` policy what a resumed run may change.

So adding a training setting is adding one field here (and reading it where it acts).

Values are checked and normalised when a config is made (an int where a number is expected
becomes a float, a path becomes text, a tuple a list), so a config equals the one read back from
its JSON and a resumed run compares settings like with like. A number must be finite and within
its setting's :class:`Range` (``setting(range=...)``: e.g. ``lr`` > 0, ``validation`` in [0, 1)),
checked in that one place, :func:`normalize`, whichever way the value came (flag, file, preset,
resume): a bad value is one :class:`InputError` line naming the setting, the value and the range,
never a value quietly replaced by another one deep in the loop.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import numbers
import os
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..data.datasets import REFERENCE_SPLIT
from ..errors import InputError
from ..fileio import atomic_write_text
from ..layers.parametrization import INITS, PARAMETRIZATIONS, SAMPLINGS

__all__ = ["TrainConfig", "Setting", "Range", "settings", "setting_names", "check_names", "normalize",
           "read_settings", "resume_config", "dense_layers", "FIXED", "MAY_CHANGE", "SESSION"]

# What a resumed run may do with a setting (its ``resume`` metadata):
FIXED = "fixed"            # it decided the numbers computed so far: the resume keeps the checkpoint's
MAY_CHANGE = "may change"  # only acts from the resumption on (or not on the numbers at all)
SESSION = "session"        # belongs to one invocation, not to the run: never taken from the checkpoint

_REQUIRED = dataclasses.MISSING


@dataclass(frozen=True)
class Range:
    """The numbers a setting allows (each item, for a list setting): between ``low`` and ``high``
    (either may be open: none), each end included or not. Numbers are also always finite."""
    low: float | None = None
    high: float | None = None
    low_included: bool = True
    high_included: bool = True

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_included)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_included)))

    def __str__(self) -> str:
        low, high = _number_text(self.low), _number_text(self.high)
        if self.low is not None and self.high is not None:
            return f"in {'[' if self.low_included else '('}{low}, {high}{']' if self.high_included else ')'}"
        if self.low is not None:
            return f"{'>=' if self.low_included else '>'} {low}"
        if self.high is not None:
            return f"{'<=' if self.high_included else '<'} {high}"
        return ""


def _number_text(x: float | None) -> str:
    return "" if x is None else str(int(x)) if float(x).is_integer() else f"{x:g}"


POSITIVE = Range(0, low_included=False)
AT_LEAST_0 = Range(0)
AT_LEAST_1 = Range(1)
FRACTION = Range(0, 1)                      # [0, 1]
FINITE = Range()
SEED = Range(0, 2 ** 32 - 1)                 # the range every generator used (numpy, torch) accepts


def setting(default: Any = _REQUIRED, help: str = "", *, resume: str = FIXED, cli: bool = True,
            metavar: str | None = None, choices: tuple | None = None, example: str | None = None,
            parse: Callable[[str], Any] | None = None, saved: bool = True, range: Range | None = None) -> Any:
    """A :class:`TrainConfig` field. ``help``: one line for ``--help`` and the docs. ``resume``:
    FIXED, MAY_CHANGE or SESSION. ``cli``: whether ``gatelearn train`` has a flag for it (structured
    settings such as ``layers`` live in presets and config files only). ``metavar`` / ``choices``
    / ``example``: the flag's placeholder, allowed values, and an example of a comma-separated list.
    ``parse``: text -> value for the flag when the type alone does not say it (a text value in a
    file goes through it too). ``saved``: False for a shortcut that writes other settings and is not
    recorded itself. ``range``: the numbers allowed (every number must be finite in any case)."""
    meta = {"help": help, "resume": resume, "cli": cli, "metavar": metavar, "choices": choices,
            "example": example, "parse": parse, "saved": saved, "range": range}
    if default is _REQUIRED:
        return field(metadata=meta)
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


# ------------------------------------------------------------------ command-line forms of values

def _numbers(text: str, example: str, kind: type = float) -> list:
    try:
        return [kind(t) for t in text.split(",")]
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise ValueError(f"expected comma-separated {what}, e.g. {example}, got {text!r}") from None


def _fractions_or_none(text: str) -> list[float]:
    if text.strip().lower() == "none":   # no layer hardens (overrides a preset that hardens)
        return []
    return _numbers(text, "0.5,0.7")


def _tau_text(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number or 'auto', got {text!r}") from None


def _split_seed(text: str) -> int | str:
    if text.strip().lower() == REFERENCE_SPLIT:
        return REFERENCE_SPLIT
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer or {REFERENCE_SPLIT!r}, got {text!r}") from None


# ------------------------------------------------------------------------------- the settings

@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Every setting of a training run. Make one with :func:`gatelearn.training.make_config`
    (a preset plus changes), :func:`gatelearn.training.load_config` (a file) or
    :meth:`from_dict`; change one with :meth:`replace`. Frozen: a run's settings do not change
    under it."""

    # --- what is trained ------------------------------------------------------------------
    preset: str | None = setting(
        None, "training preset the settings start from", metavar="NAME")
    description: str | None = setting(
        None, "one line: what the run is and where its settings come from", cli=False, resume=MAY_CHANGE)
    dataset: str | None = setting(
        None, "benchmark dataset name for gatelearn.data.load_dataset (presets set it; --data replaces it)",
        cli=False)
    # --- your own data (gatelearn.data.own) ---------------------------------------------------
    data: str | None = setting(
        None, "your own data: a CSV file with a header line, or a folder of images with one sub-folder per "
              "class", metavar="PATH")
    target: str | None = setting(None, "the CSV column to predict (default: the last column)", metavar="COLUMN")
    test: str | None = setting(
        None, "test data in the same form as --data (default: a seeded stratified hold-out of --data)",
        metavar="PATH")
    test_fraction: float = setting(0.2, "the fraction of --data held out for testing when there is no --test",
                                   metavar="F", range=Range(0, 1, low_included=False, high_included=False))
    columns: dict | None = setting(
        None, "CSV column kinds instead of the inferred ones: {name = \"numeric\" | \"categorical\" | "
              "\"ignore\"}, or {name = {kind = \"numeric\", bits = 4}}", cli=False)
    numeric_bits: int = setting(8, "thermometer bits (thresholds at the training quantiles) per numeric CSV column",
                                metavar="K", range=Range(1, 1024))
    image_size: list[int] | None = setting(
        None, "resize every image of an image folder to HEIGHT,WIDTH (default: they must all have one size)",
        metavar="H,W", example="28,28", range=Range(1, 4096))
    encoder: dict | None = setting(
        None, "options merged over the dataset's input encoder, e.g. image-shaped bits for convolutional "
              "layers (see gatelearn.layers.encoders.apply_encoder_override)", cli=False)
    input_levels: list[float] | None = setting(
        None, "thermometer thresholds for every raw feature instead of the dataset's encoding (e.g. 63,127,191: "
              "three grey levels per MNIST pixel, 3 input channels for conv presets)",
        metavar="T1,T2,...", example="63,127,191", range=FINITE)
    layers: list[dict] | None = setting(
        None, "the model's layers, a list of layer specs such as {kind = \"logic\", out = 256}, each over its "
              "kind's defaults and layer_defaults (none: dense layers sized for budget_gates)", cli=False)
    budget_gates: int | None = setting(
        None, "dense logic layers sized for about this many gates (depth and width from "
              "gatelearn.training.sizing; replaces a dense preset's layers; default without layers: "
              "4000)", metavar="N", range=Range(1, 10 ** 9))
    widths: list[int] | None = setting(
        None, "dense logic layers of these widths instead of the preset's (dense presets), e.g. 512,512,256; "
              "the last width must be a multiple of the classes (a shortcut that writes layers)",
        metavar="W1,W2,...", example="512,512,256", saved=False, range=AT_LEAST_1)
    layer_defaults: dict = setting(
        {}, "{kind: {option: value}} applied under every layer of that kind", cli=False)
    parametrization: str | None = setting(
        None, "gate parametrization of every layer (default: each layer's)", choices=PARAMETRIZATIONS)
    sampling: str | None = setting(
        None, "soft relaxation or Gumbel straight-through, for every layer", choices=SAMPLINGS)
    init: str | None = setting(None, "gate initialisation of every layer", choices=INITS)
    head: str = setting(
        "groupsum", "the output head: groupsum (a group of outputs per class, its ones / tau), binary (2 classes: "
                    "more ones than zeros), codebook (a binary codeword per class, the nearest wins)",
        choices=("groupsum", "binary", "codebook"))
    tau: float | str | None = setting(
        None, "temperature of the head, a number or 'auto': the square root of the outputs per class (see "
              "gatelearn.training.sizing; none: a preset's number, else 'auto')", metavar="T|auto",
        parse=_tau_text, range=POSITIVE)
    learn_tau: bool = setting(False, "learn tau with the network (from its starting value); the circuit takes the "
                                     "learned value, which never changes the predicted class")
    code: str = setting("random", "codewords of the codebook head (gatelearn.layers.heads.CodebookHead)",
                        choices=("random", "hadamard"))

    # --- optimisation ----------------------------------------------------------------------
    optimizer: str = setting("adam", "the optimizer", choices=("adam", "adamw"))
    lr: float = setting(0.01, "learning rate", metavar="X", range=POSITIVE)
    weight_decay: float = setting(0.0, "weight decay of the optimizer", metavar="X", range=AT_LEAST_0)
    # The lr schedule changes the numbers only from the resumption on: how one settles an
    # extended run with a lower learning rate.
    lr_decay_at: float | None = setting(
        None, "fraction of the iterations from which the learning rate is multiplied by lr_decay (none: constant)",
        resume=MAY_CHANGE, metavar="F", range=Range(0, 1, low_included=False))
    lr_decay: float = setting(0.1, "factor of that step", resume=MAY_CHANGE, metavar="X", range=POSITIVE)
    # Batches may be larger than the training set (they straddle epochs), but not larger than any
    # machine holds: 2^24 samples of even 100 input bits are gigabytes of activations per layer.
    batch_size: int = setting(100, "samples per optimizer step (the global batch when distributed)", metavar="B",
                              range=Range(1, 2 ** 24))
    iterations: int = setting(2_000, "optimizer steps", resume=MAY_CHANGE, metavar="N", range=AT_LEAST_0)
    relaxed_inputs: float | None = setting(
        None, "train on relaxed input bits: a ramp WIDTH raw units wide around each threshold (255 on MNIST = "
              "grey values; 0 = the hard bits); evaluation and the model use the hard bits", metavar="WIDTH",
        range=AT_LEAST_0)
    augment_shift: int | None = setting(
        None, "train on images shifted by up to PIXELS in each direction, a fresh offset per image and step "
              "(image datasets; 0 = off)", metavar="PIXELS", range=AT_LEAST_0)
    discreteness: float = setting(
        0.0, "weight of a penalty pulling relaxed gates toward discrete ones, ramped from 0 over the run (0: off)",
        metavar="W", range=AT_LEAST_0)
    discreteness_layers: int | None = setting(
        None, "apply discreteness to the first N learned layers only (none: all)", metavar="N",
        range=AT_LEAST_0)
    # Hardening later layers from a resumption on is how one settles a run with discrete early layers.
    harden_at: list[float] | None = setting(
        None, "fractions of the iterations at which the first, second, ... learned layer becomes its discrete "
              "gates (in training too) and stops learning; 'none': no layer",
        resume=MAY_CHANGE, metavar="F1,F2,...", example="0.5,0.7", parse=_fractions_or_none, range=FRACTION)

    # --- validation --------------------------------------------------------------------------
    validation: float = setting(
        0.0, "hold out this fraction of the training set; its accuracy is logged with the test's", metavar="F",
        range=Range(0, 1, high_included=False))
    # The best model is tracked whenever there is a validation split, so which one is saved at the
    # end may change on a resume.
    keep: str = setting(
        "last", "which model the run saves: the last, or the one with the best hard validation accuracy "
                "(needs validation)", resume=MAY_CHANGE, choices=("last", "best"))

    # --- seeds and sources ------------------------------------------------------------------
    seed: int = setting(0, "seed for weights, wiring, batches and noise", metavar="S", range=SEED)
    split_seed: int | str | None = setting(
        None, "another seeded train/test split, for data without an official one (breast-cancer, --data without "
              "--test; default 0); 'reference': the split of the paper's reference code (breast-cancer)",
        metavar="S", parse=_split_seed, range=SEED)
    data_dir: str | None = setting(None, "where to look for dataset files", resume=MAY_CHANGE, metavar="DIR")
    init_from: str | None = setting(
        None, "start from the weights and wiring of a trained model (a run directory) with a fresh optimizer, "
              "e.g. to fine-tune a soft-trained network with --sampling gumbel", metavar="RUN_DIR")

    # --- how the run proceeds (none of these changes the trained numbers) ----------------------
    eval_every: int | None = setting(
        None, "iterations between evaluations (metrics line, progress bar; none: a twentieth of the run)",
        resume=MAY_CHANGE, metavar="N", range=AT_LEAST_1)
    checkpoint_every: int | None = setting(
        None, "iterations between checkpoints (none: only at the end)", resume=MAY_CHANGE, metavar="N",
        range=AT_LEAST_1)
    dtype: str = setting("float32", "floating-point type of the training", choices=("float32", "float64"))
    threads: int | None = setting(None, "torch threads (torch.set_num_threads)", resume=MAY_CHANGE, metavar="N",
                                  range=Range(1, 1024))
    distributed: bool = setting(
        False, "data-parallel training over the processes started by torchrun (gloo, CPU)", resume=SESSION)
    time_limit: float | None = setting(
        None, "stop after this many minutes of training (this session's) and finish the run there (0: after "
              "one step)", resume=SESSION, metavar="MINUTES", range=AT_LEAST_0)
    reference: dict | None = setting(
        None, "published hard accuracy (percent), gates and source, for reports", cli=False, resume=MAY_CHANGE)

    def __post_init__(self) -> None:
        for s in settings():
            object.__setattr__(self, s.name, normalize(s.name, getattr(self, s.name)))
        if self.widths is not None:   # the shortcut writes layers; the layers are what is recorded
            object.__setattr__(self, "layers", dense_layers(self.layers or [], self.widths, self.preset))
            object.__setattr__(self, "widths", None)

    # The loop reads settings as attributes; these make a config also read like the plain dict it
    # is saved as (summary["config"]), for code that takes either (e.g. layer_specs).
    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in _by_name() else default

    def __getitem__(self, name: str) -> Any:
        if name not in _by_name():
            raise KeyError(name)
        return getattr(self, name)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` (checked like any setting)."""
        check_names(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data: what summary.json, the checkpoint and config.json hold."""
        return {s.name: copy.deepcopy(getattr(self, s.name)) for s in settings() if s.saved}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write as JSON, atomically (JSON rather than TOML: TOML has no null)."""
        atomic_write_text(path, self.to_json())
        return Path(path)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], *, source: str | os.PathLike | None = None) -> TrainConfig:
        """A config from complete settings (a saved config, or a preset with its changes)."""
        check_names(values, source)
        missing = [s.name for s in settings() if s.required and values.get(s.name) is None]
        if missing:
            where = f"{source}: " if source is not None else ""
            raise InputError(f"{where}missing training setting(s) {', '.join(missing)} "
                             f"(name a preset, or give them)")
        if source is None:
            return cls(**values)
        try:
            return cls(**values)
        except InputError as exc:   # e.g. a checkpoint's settings: say which file holds the bad value
            raise InputError(f"{source}: {exc}") from None


# ------------------------------------------------------------------------ the list, as data

@dataclass(frozen=True)
class Setting:
    """One field of :class:`TrainConfig` as data: what the CLI and the checks read."""
    name: str
    type: Any
    default: Any
    required: bool
    help: str
    resume: str
    cli: bool
    metavar: str | None
    choices: tuple | None
    example: str | None
    parse: Callable[[str], Any] | None
    saved: bool
    range: Range | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def from_text(self, text: str) -> Any:
        """The value a command-line flag's text stands for; ValueError says what was expected."""
        if self.parse is not None:
            return self.parse(text)
        hint = _without_none(self.type)
        if typing.get_origin(hint) is list:
            item = typing.get_args(hint)[0]
            return _numbers(text, self.example or "1,2", item)
        if hint in (int, float):
            try:
                return hint(text)
            except ValueError:
                raise ValueError(f"expected {_describe(hint)}, got {text!r}") from None
        return text


@functools.cache
def settings() -> tuple[Setting, ...]:
    """Every setting, in the order of :class:`TrainConfig`'s fields."""
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in fields(TrainConfig):
        required = f.default is _REQUIRED and f.default_factory is _REQUIRED
        default = None if required else (f.default if f.default_factory is _REQUIRED else f.default_factory())
        out.append(Setting(name=f.name, type=hints[f.name], default=default, required=required, **f.metadata))
    return tuple(out)


@functools.cache
def _by_name() -> dict[str, Setting]:
    return {s.name: s for s in settings()}


def setting_names() -> list[str]:
    return [s.name for s in settings()]


def check_names(names: Iterable[str], source: str | os.PathLike | None = None) -> None:
    """One InputError line naming every unknown setting (and ``source``, a file, when given)."""
    unknown = sorted(set(names) - set(_by_name()))
    if unknown:
        where = f"{source}: " if source is not None else ""
        raise InputError(f"{where}unknown training setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(setting_names())}")


# ------------------------------------------------------------------------------ type checks

class _Mismatch(Exception):
    pass


def _without_none(hint: Any) -> Any:
    """``X`` for ``X | None`` (the type of the value when there is one)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if _is_union(hint) and len(args) == 1:
        return args[0]
    return hint


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _describe(hint: Any) -> str:
    if _is_union(hint):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        return f"a list of {_describe(typing.get_args(hint)[0]).split(' ', 1)[1]}s"
    return {int: "an integer", float: "a number", str: "a text", bool: "true or false", dict: "a table",
            type(None): "none"}.get(hint, str(hint))


def _convert(value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (ints become floats where numbers are expected, tuples lists,
    paths text, mappings fresh dicts); _Mismatch when it is not of that type."""
    if _is_union(hint):
        for arg in typing.get_args(hint):
            try:
                return _convert(value, arg)
            except _Mismatch:
                pass
        raise _Mismatch
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
    elif hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, (str, os.PathLike)):
            return os.fspath(value)
    elif hint is dict or typing.get_origin(hint) is dict:
        if isinstance(value, Mapping):
            return copy.deepcopy(dict(value))
    elif typing.get_origin(hint) is list:
        if isinstance(value, (list, tuple)):
            return [_convert(v, typing.get_args(hint)[0]) for v in value]
    raise _Mismatch


def normalize(name: str, value: Any) -> Any:
    """``value`` checked and normalised as setting ``name``; one InputError line when it cannot be."""
    s = _by_name().get(name)
    if s is None:
        check_names([name])
    if isinstance(value, str) and s.parse is not None:
        try:   # a file's text for a setting with its own spelling (split_seed "reference")
            value = s.parse(value)
        except ValueError as exc:
            raise InputError(f"{name}: {exc}") from None
    try:
        value = _convert(value, s.type)
    except _Mismatch:
        raise InputError(f"{name} must be {_describe(s.type)}, got {value!r}") from None
    if s.choices is not None and value is not None and value not in s.choices:
        options = [repr(c) for c in s.choices]
        listed = options[0] if len(options) == 1 else f"{', '.join(options[:-1])} or {options[-1]}"
        raise InputError(f"{name} must be {listed}, got {value!r}")
    _check_range(s, value)
    return value


def _check_range(s: Setting, value: Any) -> None:
    """One InputError line unless every number in ``value`` is finite and in the setting's range."""
    items = value if isinstance(value, list) else [value]
    bad = [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)
           and v not in (s.range or FINITE)]
    if not bad:
        return
    hint = _without_none(s.type)
    if typing.get_origin(hint) is list:
        hint = typing.get_args(hint)[0]
    elif _is_union(hint):   # int | str (split_seed): the numbers are the int part
        hint = int
    rng = f" {s.range}" if s.range is not None and str(s.range) else ""
    if isinstance(value, list):
        kind = "integers" if hint is int else "finite numbers"
        raise InputError(f"{s.name} must be a list of {kind}{rng}, got {bad[0]!r} in {value!r}")
    kind = "an integer" if hint is int else "a finite number"
    raise InputError(f"{s.name} must be {kind}{rng}, got {value!r}")


def read_settings(path: str | os.PathLike) -> dict[str, Any]:
    """The settings in a JSON or TOML file (by its suffix; JSON for any other), checked one by one.
    A file need not hold every setting: it may name a ``preset`` for the rest."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"config file {path} is not a text file (byte {exc.start} is not UTF-8)") from None
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        if kind == "TOML":
            import tomllib
            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except ValueError as exc:   # tomllib.TOMLDecodeError and json.JSONDecodeError both are
        raise InputError(f"config file {path} is not valid {kind}: {exc}") from None
    except RecursionError:      # the parsers recurse per level: thousands of nested brackets
        raise InputError(f"config file {path} is nested too deeply to be a table of settings") from None
    if not isinstance(values, dict):
        raise InputError(f"config file {path} must hold a table of settings, got {type(values).__name__}")
    check_names(values, path)
    try:
        return {k: normalize(k, v) for k, v in values.items()}
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


# ---------------------------------------------------------------------------------- resume

def resume_config(saved: Mapping[str, Any], given: TrainConfig | Mapping[str, Any],
                  file: str | os.PathLike) -> TrainConfig:
    """The checkpoint's settings ``saved`` with the changes ``given`` may make: MAY_CHANGE ones
    when given (not None), SESSION ones always from ``given`` (their default when absent). A
    FIXED one given with another value is an error naming it; ``given`` may hold only some
    settings (``--resume --iterations N``), or all (a config)."""
    # A setting missing from an older checkpoint had its default then: TrainConfig fills it in.
    old = TrainConfig.from_dict(saved, source=file)
    if isinstance(given, TrainConfig):
        given = given.to_dict()
    check_names(given)
    given = {k: normalize(k, v) for k, v in given.items() if v is not None}
    if "widths" in given:   # the shortcut compares as the layers it writes
        given["layers"] = dense_layers(old.layers, given.pop("widths"), old.preset)
    policy = {s.name: s.resume for s in settings()}
    conflicts = [k for k, v in given.items() if policy[k] == FIXED and getattr(old, k) != v]
    if conflicts:
        detail = ", ".join(f"{k}: checkpoint {getattr(old, k)!r} vs now {given[k]!r}" for k in conflicts)
        may = [s.name for s in settings() if s.resume != FIXED and s.cli]
        raise InputError(f"cannot resume {file} with different settings ({detail}); "
                         f"only {', '.join(may)} may change")
    changes = {k: v for k, v in given.items() if policy[k] == MAY_CHANGE}
    changes.update({s.name: given.get(s.name, s.default) for s in settings() if s.resume == SESSION})
    return old.replace(**changes)


# ---------------------------------------------------------------------------------- layers

def dense_layers(layers: list[dict], widths: Iterable[int], preset: str | None = None) -> list[dict]:
    """Dense logic layers of the given widths in place of ``layers``, which must be dense too (a
    convolutional preset's layers are not a list of widths)."""
    kinds = sorted({str(layer.get("kind")) for layer in layers} - {"logic"})
    if kinds:
        raise InputError(f"widths replaces dense logic layers only; preset {preset!r} has {', '.join(kinds)} layers")
    widths = list(widths)
    if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
        raise InputError(f"widths must be one or more positive integers, got {widths!r}")
    return [{"kind": "logic", "out": w} for w in widths]
