"""The training loop: ``train(config, out_dir)``.

Reading order: set up (data -> bits, model, optimizer, maybe resume) -> loop (sample batch,
step, every ``eval_every`` evaluate and log, every ``checkpoint_every`` checkpoint) -> finish
(final evaluation, model, summary, plots).

What it writes into ``out_dir`` (rank 0 only when distributed):

    metrics.jsonl            one JSON line per evaluation, flushed as written
    checkpoint.safetensors   model + optimizer + RNG state + metrics, for --resume
    model.safetensors        the trained model (gatelearn.save), model.json beside it
    summary.json             final numbers and the full config
    accuracy.png, gates.png  plots

Determinism: the initial weights come from the model spec's seed, the batches from a
``torch.Generator`` seeded with the run's seed, and Gumbel noise (drawn inside the layers from
torch's global generator) from ``torch.manual_seed(seed)``. Evaluation draws no random numbers,
so how often one evaluates never changes the trained parameters, and a resumed run restores both
generators and ends bit-identical to an uninterrupted one.

Distributed (``distributed: True`` under torchrun, or with a process group already set up):
every rank draws the same global batch from the same generator and trains on its contiguous
slice; DistributedDataParallel averages the gradients, which equals the gradient of the global
batch's mean loss because the slices are equal. Every rank seeds the global generator the same
way, so the Gumbel samples (one per gate, shared by the batch) are the same on every rank, as
they would be in one process. Rank 0 alone evaluates and writes files. All ranks meet at a
barrier before ``train`` returns, so the files are complete on every rank. torch keeps a gloo
group that DDP has used alive past ``destroy_process_group``, with its threads running; a script
that ends after ``train`` may leave with ``os._exit`` as ``gatelearn train --distributed`` does,
since an ordinary interpreter exit under those threads can abort.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.augment import check_shift, draw_shifts, shift_images, step_generator
from ..errors import FileFormatError, InputError
from ..fileio import atomic_write_text
from ..kernels.allocator import keep_freed_memory
from ..layers.encoders import apply_encoder_override
from ..model import LogicNet, build_model, load, save
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from .presets import RUN_DEFAULTS, layer_specs
from .usage import gate_usage

METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
ACCURACY_PLOT = "accuracy.png"
GATES_PLOT = "gates.png"

# Settings that may differ between a run and its resumption: they do not change the numbers
# computed so far.
RESUMABLE_CHANGES = ("iterations", "threads", "data_dir", "eval_every", "checkpoint_every", "distributed",
                     "time_limit", "lr_decay_at", "lr_decay", "harden_at", "keep")
# (iterations, the lr schedule and the hardening schedule do change the numbers, but only from the
# resumption on: they are how one extends a run or settles it with a lower learning rate or with
# discrete early layers. Which model is kept changes nothing before the end: the best one is
# tracked whenever there is a validation split.)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


# ------------------------------------------------------------------------------ helpers

class BitsToScores(nn.Module):
    """Encoded bits -> class scores (the model minus its encoder). Training feeds bits encoded
    once up front, so the encoder does not run every step; this is also what DDP wraps."""

    def __init__(self, model: LogicNet):
        super().__init__()
        self.model = model

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        h = bits
        for layer in self.model.layers:
            h = layer(h)
        return self.model.head(h)


class BatchSampler:
    """Epochs of seeded random permutations; a batch may straddle two epochs.

    Its whole state (generator, current permutation, position) goes into the checkpoint.
    """

    def __init__(self, n: int, seed: int):
        self.n = int(n)
        self.gen = torch.Generator().manual_seed(int(seed))
        self.perm = torch.randperm(self.n, generator=self.gen)
        self.pos = 0

    def next(self, size: int) -> torch.Tensor:
        parts, need = [], size
        while need:
            if self.pos == self.n:
                self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
            take = min(need, self.n - self.pos)
            parts.append(self.perm[self.pos:self.pos + take])
            self.pos += take
            need -= take
        return torch.cat(parts)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return {"batch_generator": self.gen.get_state(), "batch_perm": self.perm}, {"batch_pos": self.pos}

    def load(self, tensors: dict[str, torch.Tensor], info: dict) -> None:
        self.gen.set_state(tensors["batch_generator"])
        self.perm = tensors["batch_perm"].clone()
        self.pos = int(info["batch_pos"])


@contextlib.contextmanager
def soft_relaxation(model: nn.Module):
    """Evaluate the relaxation without sampling.

    With Gumbel straight-through sampling a train-mode forward is one randomly drawn discrete
    network, not the relaxation, and drawing it would consume the training RNG. The relaxed
    accuracy is therefore measured on the noise-free soft mixture (``sampling="soft"``): the
    deterministic relaxed network whose distance to the hard network is the discretization gap.
    """
    changed = [m for m in model.modules() if getattr(m, "sampling", "soft") != "soft"]
    saved = [m.sampling for m in changed]
    for m in changed:
        m.sampling = "soft"
    try:
        yield
    finally:
        for m, s in zip(changed, saved):
            m.sampling = s


@torch.no_grad()
def encode(encoder: nn.Module, x, chunk: int = 8192) -> torch.Tensor:
    """Raw features -> bits as a uint8 tensor (4x smaller than float; cast per batch)."""
    x = torch.as_tensor(x)
    parts = [encoder(x[i:i + chunk]).to(torch.uint8) for i in range(0, len(x), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, getattr(encoder, "out_features", 0), dtype=torch.uint8)


@torch.no_grad()
def _eval_chunk(scores: "BitsToScores", bits: torch.Tensor, dtype) -> int:
    """Samples per evaluation chunk: bound the largest activation (measured on one sample, so
    any layer kind and shape works) to about 32 M values per chunk."""
    if len(bits) == 0:
        return 1
    model = scores.model
    was = model.training
    model.train()
    largest = bits[0].numel()
    try:
        with soft_relaxation(model):
            h = bits[:1].to(dtype)
            for layer in model.layers:
                h = layer(h)
                largest = max(largest, h.numel())
    finally:
        model.train(was)
    return max(16, min(8192, (32 << 20) // largest))


@torch.no_grad()
def accuracy(scores: nn.Module, bits: torch.Tensor, y: torch.Tensor, dtype, *, hard: bool,
             chunk: int | None = None) -> float:
    """Accuracy of the hard (eval-mode) network, or of the soft relaxation (train mode, no noise)."""
    model = scores.model
    chunk = chunk or _eval_chunk(scores, bits, dtype)
    was = model.training
    model.train(not hard)
    correct = 0
    try:
        with soft_relaxation(model):
            for i in range(0, len(bits), chunk):
                pred = scores(bits[i:i + chunk].to(dtype)).argmax(1)
                correct += int((pred == y[i:i + chunk]).sum())
    finally:
        model.train(was)
    return correct / max(1, len(bits))


@torch.no_grad()
def raw_accuracy(model: LogicNet, x, y, chunk: int = 4096) -> float:
    """Accuracy of the complete saved model (encoder included) on raw inputs, in eval mode."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    correct = sum(int((model.predict(x[i:i + chunk]) == y[i:i + chunk]).sum()) for i in range(0, len(x), chunk))
    return correct / max(1, len(x))


class _StopOnSigint:
    """First Ctrl-C: finish the current step, checkpoint, then raise KeyboardInterrupt (so the
    checkpoint always holds a completed step). A second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _setup_distributed(config: dict) -> tuple[int, int, bool]:
    """(rank, world size, whether we created the process group)."""
    if not config.get("distributed"):
        return 0, 1, False
    import torch.distributed as dist
    created = False
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise InputError("distributed training needs a launcher that sets RANK / WORLD_SIZE: "
                             "run it as `torchrun --nproc_per_node N -m gatelearn.cli.main train --distributed ...`")
        dist.init_process_group("gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), created


def _check_resume_config(saved: dict, given: dict, file: Path) -> dict:
    """The checkpoint's config, with the harmless changes from ``given``; other changes are errors."""
    # A run setting missing from an older checkpoint had its default value then.
    saved = {**{k: v for k, v in RUN_DEFAULTS.items() if k in given}, **saved}
    conflicts = [k for k, v in given.items()
                 if k not in RESUMABLE_CHANGES and k in saved and v is not None and saved[k] != v]
    if conflicts:
        detail = ", ".join(f"{k}: checkpoint {saved[k]!r} vs now {given[k]!r}" for k in conflicts)
        raise InputError(f"cannot resume {file} with different settings ({detail}); "
                         f"only {', '.join(RESUMABLE_CHANGES)} may change")
    config = dict(saved)
    config.update({k: given[k] for k in RESUMABLE_CHANGES if given.get(k) is not None})
    config["time_limit"] = given.get("time_limit")   # a limit belongs to one session, not to the run
    return config


def start_from_trained(model: LogicNet, source: str | os.PathLike) -> None:
    """Copy the weights and wiring of the model saved in ``source`` (a run directory or model
    file) into ``model``: fine-tuning, e.g. a soft-trained network with Gumbel sampling to close
    its discretization gap. The architecture and parametrization must be the same; the options
    that hold no state (sampling, init, tau, learning rate) may differ. The optimizer starts
    fresh. The source must encode its inputs exactly as this run does, since the training bits
    come from this run's encoder."""
    try:
        trained = load(source)
    except FileFormatError as exc:
        raise InputError(f"--init-from: {exc}") from exc
    mine, theirs = model.encoder.state_dict(), trained.encoder.state_dict()
    if (model.spec["encoder"] != trained.spec["encoder"] or mine.keys() != theirs.keys()
            or any(mine[k].shape != theirs[k].shape or not torch.equal(mine[k], theirs[k]) for k in mine)):
        raise InputError(f"--init-from {source}: its input encoder differs from this run's "
                         f"(another dataset or encoding)")
    if len(model.spec["layers"]) != len(trained.spec["layers"]):
        raise InputError(f"--init-from {source}: it has {len(trained.spec['layers'])} layers, "
                         f"this run {len(model.spec['layers'])}")
    for i, (a, b) in enumerate(zip(_stateful(model.spec), _stateful(trained.spec))):
        if a != b:
            raise InputError(f"--init-from {source}: its layer {i} is {b}, this run's is {a}")
    model.load_state_dict(trained.state_dict(), strict=True)


def _stateful(spec: dict) -> list[dict]:
    """A model spec's layers without the options that hold no state (may change on fine-tuning)."""
    return [{k: v for k, v in layer.items() if k not in ("sampling", "init", "gumbel_tau", "grad_factor")}
            for layer in spec["layers"]]


def learning_rate(config: dict, iteration: int) -> float:
    """The learning rate of the step that follows ``iteration`` steps: ``lr``, or ``lr * lr_decay``
    from ``lr_decay_at * iterations`` on. A function of the iteration only, so resuming keeps it."""
    lr = float(config["lr"])
    at = config.get("lr_decay_at")
    if at is None:
        return lr
    at = float(at)
    if not 0.0 < at <= 1.0:
        raise InputError(f"lr_decay_at must be a fraction of the iterations in (0, 1], got {at}")
    decay = float(config.get("lr_decay", 0.1))
    if not decay > 0.0:
        raise InputError(f"lr_decay must be > 0, got {decay}")
    return lr * decay if iteration >= round(at * int(config["iterations"])) else lr


def learned_layers(model: nn.Module, first: int | None = None) -> list[nn.Module]:
    """The layers with learned gates (dense and convolutional), in order; the first ``first`` only
    when given."""
    layers = [m for m in model.layers if hasattr(m, "weight") and hasattr(m, "parametrization")]
    return layers if first is None else layers[:int(first)]


def discreteness_loss(layers: list[nn.Module]) -> torch.Tensor:
    """Sum over ``layers`` of each layer's mean discreteness penalty (see
    :func:`gatelearn.layers.parametrization.discreteness_penalty`): every layer weighs the same,
    whatever its width, so a narrow first layer is not drowned by wide dense ones."""
    from ..layers.parametrization import discreteness_penalty
    return sum(discreteness_penalty(m.parametrization, m.weight) for m in layers)


def discreteness_weight(config: dict, iteration: int) -> float:
    """Weight of the discreteness penalty at ``iteration``: ``discreteness``, ramped linearly from
    0 at the first step to its full value at the last, so the gates first learn freely and are
    pulled toward discrete ones as training ends."""
    weight = float(config.get("discreteness") or 0.0)
    if weight < 0.0 or not math.isfinite(weight):
        raise InputError(f"discreteness must be a finite weight >= 0, got {weight}")
    return weight * min(1.0, iteration / max(1, int(config["iterations"])))


def harden_points(config: dict, layers: list[nn.Module]) -> list[int]:
    """Iterations at which the first learned layers become discrete and stop learning
    (``harden_at``: one fraction of ``iterations`` per layer, in layer order)."""
    fractions = list(config.get("harden_at") or [])
    if len(fractions) > len(layers):
        raise InputError(f"harden_at has {len(fractions)} fractions but the model has only {len(layers)} "
                         f"learned layers")
    for f in fractions:
        if not 0.0 <= float(f) <= 1.0:
            raise InputError(f"harden_at takes fractions of the iterations in [0, 1], got {f}")
    return [round(float(f) * int(config["iterations"])) for f in fractions]


def harden(layer: nn.Module) -> None:
    """Make ``layer`` its discrete gates in training too and freeze it: the layers after it then
    learn on exactly the values the circuit will give them. Idempotent (a resumed run calls it
    again on the saved, already hard, weights)."""
    from ..layers.parametrization import hard_weights
    with torch.no_grad():
        layer.weight.copy_(hard_weights(layer.parametrization, layer.gate_ids().reshape(-1), layer.weight.dtype))
    layer.weight.requires_grad_(False)
    layer.weight.grad = None


def _write_metrics_file(path: Path, metrics: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(m) + "\n" for m in metrics))


# ------------------------------------------------------------------------------ train

def train(config: dict, out_dir: str | os.PathLike, *, resume: bool = False, progress: bool = True,
          dataset=None) -> dict:
    """Train as ``config`` says (see :func:`gatelearn.training.presets.make_config`); returns the
    summary (also written to ``out_dir/summary.json``). ``dataset`` overrides loading
    ``config["dataset"]`` (a :class:`gatelearn.data.Dataset`-like object; tests use synthetic ones)."""
    return train_model(config, out_dir, resume=resume, progress=progress, dataset=dataset)[1]


def train_model(config: dict, out_dir: str | os.PathLike, *, resume: bool = False, progress: bool = True,
                dataset=None) -> tuple[LogicNet, dict]:
    """Like :func:`train`, returning ``(model, summary)``."""
    out_dir = Path(out_dir)
    ckpt_file = out_dir / CHECKPOINT_FILE
    ckpt = None
    if resume:
        ckpt = load_checkpoint(ckpt_file)
        config = _check_resume_config(ckpt["info"]["config"], config, ckpt_file)
    elif ckpt_file.exists():
        raise InputError(f"{out_dir} already holds a checkpoint of an earlier run; pass --resume to "
                         f"continue it, or choose another --out (or delete {ckpt_file})")
    config = dict(config)
    if config.get("init_from") is not None:
        config["init_from"] = os.fspath(config["init_from"])   # the config is saved as JSON

    rank, world, created_group = _setup_distributed(config)
    master = rank == 0
    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    keep_freed_memory()     # no page faults on every step's big tensors (see kernels.allocator)
    if config.get("dtype", "float32") not in DTYPES:
        raise InputError(f"unknown dtype {config['dtype']!r}; choose one of {', '.join(DTYPES)}")
    dtype = DTYPES[config.get("dtype", "float32")]
    batch_size, iterations = int(config["batch_size"]), int(config["iterations"])
    eval_every = max(1, int(config["eval_every"]))
    # --time-limit: stop after that many minutes of training (this session's, not counting
    # earlier sessions of a resumed run) and finish as if `iterations` had been reached there.
    time_limit = config.get("time_limit")
    if time_limit is not None and world > 1:
        raise InputError("--time-limit is not supported with --distributed (ranks would stop at different steps)")
    checkpoint_every = max(1, int(config.get("checkpoint_every") or iterations))
    if batch_size < 1 or iterations < 0:
        raise InputError(f"batch_size must be >= 1 and iterations >= 0, got {batch_size}, {iterations}")
    if batch_size % world:
        raise InputError(f"the global batch ({batch_size}) must split evenly over {world} processes")
    seed = int(config["seed"])
    keep = config.get("keep") or "last"
    if keep not in ("last", "best"):
        raise InputError(f"keep must be 'last' or 'best', got {keep!r}")
    if keep == "best" and not config.get("validation"):
        raise InputError("keep='best' chooses by validation accuracy and needs a validation split "
                         "(--validation F, e.g. 0.2)")
    lo, hi = rank * (batch_size // world), (rank + 1) * (batch_size // world)   # this rank's share of a batch

    # --- data: encode to bits once ------------------------------------------------------
    if dataset is None:
        from ..data import load_dataset
        dataset = load_dataset(config["dataset"], data_dir=config.get("data_dir"),
                               split_seed=config.get("split_seed"))
    x_train, y_train = dataset.x_train, dataset.y_train
    val = None
    if config.get("validation"):
        x_train, y_train, x_val, y_val = dataset.validation_split(config["validation"], seed)
    # A preset's "encoder" options (e.g. image-shaped bits for convolutional layers) go over the
    # dataset's fitted encoder; the thresholds stay the dataset's.
    # --input-levels: thermometer thresholds for every raw feature instead of the dataset's.
    override = dict(config.get("encoder") or {})
    if config.get("input_levels") is not None:
        override["levels"] = [float(t) for t in config["input_levels"]]
    encoder = apply_encoder_override(dataset.make_encoder(), override or None)
    bits_train, y_train = encode(encoder, x_train), torch.as_tensor(y_train)
    bits_test, y_test = encode(encoder, dataset.x_test), torch.as_tensor(dataset.y_test)
    if config.get("validation"):
        val = (encode(encoder, x_val), torch.as_tensor(y_val))
    if len(bits_train) == 0:
        raise InputError(f"dataset {config.get('dataset')!r} has no training rows")
    # Training on relaxed input bits (e.g. MNIST's grey values) and on shifted images draws each
    # batch's inputs from the raw rows through the encoder; evaluation keeps the test images and
    # the hard bits the circuit will see.
    relax_width = config.get("relaxed_inputs") or None     # 0 / None: the hard bits
    shift = int(config.get("augment_shift") or 0)
    if relax_width is not None and not hasattr(encoder, "relaxed"):
        raise InputError(f"relaxed_inputs needs a threshold encoder; dataset {config.get('dataset')!r} "
                         f"uses a {encoder.spec().get('kind')!r} encoder")
    image = dataset.image_shape
    if shift and image is None:
        raise InputError(f"augment_shift needs image data; dataset {dataset.name!r} has no image shape")
    raw_train = torch.as_tensor(x_train) if (relax_width is not None or shift) else None
    if relax_width is not None:
        encoder.relaxed(raw_train[:1], relax_width)   # a bad width fails here
    if shift:
        check_shift(image, shift, raw_train.shape[1])                   # so does a bad shift

    def train_inputs(idx: torch.Tensor, step: int) -> torch.Tensor:
        if raw_train is None:
            return bits_train[idx].to(dtype)
        raw = raw_train[idx]
        if shift:
            # shifts drawn for the whole global batch, so every rank takes its own share of one draw
            shifts = draw_shifts(batch_size, shift, step_generator(seed, step))[lo:hi]
            raw = shift_images(raw, image, shifts, shift)
        if relax_width is None:
            return encoder(raw).to(dtype)
        return encoder.relaxed(raw, relax_width).to(dtype)

    # --- model and optimizer ----------------------------------------------------------------
    spec = {"encoder": encoder.spec(), "layers": layer_specs(config),
            "head": {"kind": "groupsum", "classes": int(dataset.classes), "tau": float(config["tau"])},
            "seed": seed}
    torch.manual_seed(seed)   # the global generator draws the Gumbel noise (same on every rank)
    model = build_model(spec)
    model.encoder.load_state_dict(encoder.state_dict())
    if config.get("init_from") and ckpt is None:   # a resumed run restores its own weights below
        start_from_trained(model, config["init_from"])
    model.to(dtype)
    scores = BitsToScores(model)
    if config["optimizer"] not in ("adam", "adamw"):
        raise InputError(f"unknown optimizer {config['optimizer']!r}; choose adam or adamw")
    opt_cls = torch.optim.Adam if config["optimizer"] == "adam" else torch.optim.AdamW
    # The fused (single-kernel) Adam is about 3x faster than the default for-each one on the
    # CPU and gives the same update; it needs floating-point parameters on a supported device.
    params = list(model.parameters())
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    optimizer = opt_cls(params, lr=float(config["lr"]), weight_decay=float(config.get("weight_decay", 0.0)),
                        fused=fused or None)
    sampler = BatchSampler(len(bits_train), seed)
    # The schedule counts in the iterations asked for, not where a time limit stops the run.
    lr_at = functools.partial(learning_rate, dict(config))
    lr_at(0)   # a bad schedule fails before any training
    penalized = learned_layers(model, config.get("discreteness_layers"))
    discreteness_weight(config, 0)   # so does a bad weight
    learned = learned_layers(model)
    hardening = list(zip(learned, harden_points(config, learned)))   # (layer, iteration) pairs
    if hardening and world > 1:
        raise InputError("harden_at is not supported with --distributed (frozen layers would leave DDP "
                         "waiting for their gradients)")

    start, metrics, seconds_before = 0, [], 0.0
    # The best evaluation on the validation split so far and the model state it was made with.
    best, best_state = None, None
    if ckpt is not None:
        info = ckpt["info"]
        if info["spec"] != model.spec:
            raise InputError(f"{ckpt_file} was trained with a different model spec; cannot resume")
        model.load_state_dict(ckpt["model_state"])
        optimizer.load_state_dict(ckpt["optimizer_state"])
        sampler.load(ckpt["rng"], info)
        torch.set_rng_state(ckpt["rng"]["torch"])
        start, metrics, seconds_before = int(info["iteration"]), list(info["metrics"]), float(info["train_seconds"])
        best, best_state = info.get("best"), ckpt.get("best_state")
        if start > iterations:
            raise InputError(f"{ckpt_file} is at iteration {start}, past the requested {iterations} iterations")
    net: nn.Module = scores
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP
        # Wiring buffers never change, so there is nothing to broadcast each step (the keyword
        # was renamed in recent torch).
        import inspect
        no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
                   else "broadcast_buffers")
        net = DDP(scores, **{no_sync: False})

    metrics_path = out_dir / METRICS_FILE
    if master:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Drop lines logged after the checkpoint by an interrupted run: they will be redone.
        _write_metrics_file(metrics_path, metrics)
    t0 = time.perf_counter()

    def elapsed() -> float:
        return seconds_before + time.perf_counter() - t0

    chunk = _eval_chunk(scores, bits_test if len(bits_test) else bits_train, dtype)

    def evaluate(it: int, loss: float | None) -> dict:
        relaxed = accuracy(scores, bits_test, y_test, dtype, hard=False, chunk=chunk)
        hard = accuracy(scores, bits_test, y_test, dtype, hard=True, chunk=chunk)
        line = {"iteration": it, "loss": loss, "relaxed_accuracy": relaxed, "hard_accuracy": hard,
                "gap": relaxed - hard, "gates_used": gate_usage(model)["gates_used"]}
        if val is not None:
            line["val_relaxed_accuracy"] = accuracy(scores, *val, dtype, hard=False, chunk=chunk)
            line["val_hard_accuracy"] = accuracy(scores, *val, dtype, hard=True, chunk=chunk)
        line["elapsed"] = round(elapsed(), 3)
        return line

    def checkpoint(it: int) -> None:
        rng_tensors, rng_info = sampler.state()
        rng_tensors["torch"] = torch.get_rng_state()
        save_checkpoint(ckpt_file, model_state=model.state_dict(), optimizer_state=optimizer.state_dict(),
                        rng=rng_tensors, best_state=best_state,
                        info={"iteration": it, "config": config, "spec": model.spec, "metrics": metrics,
                              "train_seconds": elapsed(), "loss_sum": loss_sum, "loss_count": loss_count,
                              "best": best, **rng_info})

    def remember_if_best(line: dict) -> None:
        nonlocal best, best_state
        if "val_hard_accuracy" not in line:
            return
        score = (line["val_hard_accuracy"], line["val_relaxed_accuracy"])
        if best is None or score > (best["val_hard_accuracy"], best["val_relaxed_accuracy"]):
            best = {"iteration": line["iteration"], "val_hard_accuracy": score[0], "val_relaxed_accuracy": score[1]}
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    # --- the loop -------------------------------------------------------------------------
    from tqdm import tqdm
    bar = tqdm(total=iterations, initial=min(start, iterations), disable=not (progress and master),
               desc=str(config.get("preset") or config.get("dataset")), dynamic_ncols=True, leave=True)
    # The running loss since the last metrics line is part of the checkpoint, so a resumed run
    # logs the same numbers as an uninterrupted one.
    loss_sum, loss_count = (0.0, 0) if ckpt is None else (ckpt["info"]["loss_sum"], ckpt["info"]["loss_count"])
    model.train()
    with _StopOnSigint() as stop, (open(metrics_path, "a") if master else contextlib.nullcontext()) as log:
        it = start
        while it < iterations:
            for layer, point in hardening:
                if it >= point and layer.weight.requires_grad:
                    harden(layer)
            idx = sampler.next(batch_size)[lo:hi]   # every rank draws the whole global batch
            loss = F.cross_entropy(net(train_inputs(idx, it)), y_train[idx])
            objective = loss
            if (weight := discreteness_weight(config, it)) > 0.0:
                objective = loss + weight * discreteness_loss(penalized)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            for group in optimizer.param_groups:
                group["lr"] = lr_at(it)
            optimizer.step()
            it += 1
            if time_limit is not None and time.perf_counter() - t0 >= 60.0 * float(time_limit):
                iterations = it   # the end-of-run evaluation and checkpoint below happen now
            step_loss = loss.detach()
            if world > 1:
                import torch.distributed as dist
                dist.all_reduce(step_loss)
                step_loss /= world
            loss_sum += float(step_loss)
            loss_count += 1
            if not math.isfinite(loss_sum):
                raise InputError(f"training diverged at iteration {it} (loss {float(step_loss)}); lower --lr")
            bar.update(1)
            if master and (it % eval_every == 0 or it == iterations):
                line = evaluate(it, loss_sum / loss_count)
                remember_if_best(line)
                if it % eval_every == 0:
                    # Not after the extra line at the end of a run that stops off the eval grid: a
                    # run resumed from there then logs the same losses as an uninterrupted one.
                    loss_sum, loss_count = 0.0, 0
                metrics.append(line)
                log.write(json.dumps(line) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{line['loss']:.4f}", acc=f"{100 * line['hard_accuracy']:.2f}%",
                                gap=f"{100 * line['gap']:+.2f}")
            if master and (it % checkpoint_every == 0 or it == iterations or stop.requested):
                checkpoint(it)
            if stop.requested:
                bar.close()
                raise KeyboardInterrupt(f"training interrupted at iteration {it}; checkpoint in {ckpt_file}")
    bar.close()
    train_seconds = elapsed()

    summary: dict = {}
    if master:
        kept = (best, best_state) if keep == "best" and best_state is not None else None
        summary = _finish(model, scores, config, dataset, out_dir, metrics, bits_test, y_test, dtype,
                          train_seconds, iterations, start, world, checkpoint, kept)
    if world > 1:
        import torch.distributed as dist
        dist.barrier()   # files are complete before any rank returns
        if created_group:
            dist.destroy_process_group()
    return model, summary


def _finish(model, scores, config, dataset, out_dir, metrics, bits_test, y_test, dtype,
            train_seconds, iterations, start, world, checkpoint, kept=None) -> dict:
    """Final evaluation, model, summary and plots (rank 0). ``kept``: (best, its model state) when
    the run keeps its best model instead of the last one; the checkpoint keeps the last."""
    from .plots import plot_accuracy, plot_gates
    if not metrics or metrics[-1]["iteration"] != iterations:
        # Resumed after the end, or zero iterations: evaluate what there is.
        last = {"iteration": iterations, "loss": None,
                "relaxed_accuracy": accuracy(scores, bits_test, y_test, dtype, hard=False),
                "hard_accuracy": accuracy(scores, bits_test, y_test, dtype, hard=True)}
        last["gap"] = last["relaxed_accuracy"] - last["hard_accuracy"]
        last["gates_used"] = gate_usage(model)["gates_used"]
        last["elapsed"] = round(train_seconds, 3)
        metrics.append(last)
        with open(out_dir / METRICS_FILE, "a") as fh:
            fh.write(json.dumps(last) + "\n")
        checkpoint(iterations)
    last = metrics[-1]
    relaxed = last["relaxed_accuracy"]
    if kept is not None:
        best, state = kept
        model.load_state_dict(state)
        last = next((m for m in metrics if m["iteration"] == best["iteration"]), best)
        relaxed = accuracy(scores, bits_test, y_test, dtype, hard=False)
    # The hard accuracy reported is that of the complete model on raw test inputs, i.e. exactly
    # what `gatelearn.load(out_dir)` will compute, encoder included.
    model.eval()
    hard = raw_accuracy(model, dataset.x_test, dataset.y_test)
    model.train()
    usage = gate_usage(model)
    save(model, out_dir)
    summary = {
        "preset": config.get("preset"),
        "dataset": config.get("dataset"),
        "hard_accuracy": hard,
        "relaxed_accuracy": relaxed,
        "gap": relaxed - hard,
        "gates": model.num_gates(),
        "gates_used": usage["gates_used"],
        "layers": usage["layers"],
        "final_loss": next((m["loss"] for m in reversed(metrics) if m.get("loss") is not None), None),
        "train_seconds": round(train_seconds, 3),
        "seconds_per_iteration": round(train_seconds / max(1, iterations), 6),
        "iterations": iterations,
        "kept": "best" if kept is not None else "last",
        "kept_iteration": last["iteration"],
        "resumed_from": start or None,
        "world_size": world,
        "test_samples": int(len(dataset.y_test)),
        "reference": config.get("reference"),
        "config": config,
    }
    if "val_hard_accuracy" in last:
        summary["val_hard_accuracy"] = last["val_hard_accuracy"]
        summary["val_relaxed_accuracy"] = last["val_relaxed_accuracy"]
    atomic_write_text(out_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    title = str(config.get("preset") or config.get("dataset") or "")
    plot_accuracy(metrics, out_dir / ACCURACY_PLOT, title,
                  kept_at=summary["kept_iteration"] if kept is not None else None)
    plot_gates(usage, out_dir / GATES_PLOT, title)
    return summary
