"""The training loop: ``train(config, out_dir)``.

:func:`train_model` reads top to bottom: set up a :class:`Trainer` (data -> bits, model,
optimizer, maybe resume), loop (step; every ``eval_every`` evaluate and log; every
``checkpoint_every`` checkpoint), finish (final evaluation, model, summary, plots). The trainer's
methods are those stages.

What it writes into ``out_dir`` (rank 0 only when distributed):

    config.json              the run's settings: `gatelearn train --config` on it trains it again
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
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

import gatelearn

from ..errors import FileFormatError, InputError
from ..fileio import LOCK_FILE, atomic_write_text, exclusive_lock
from ..kernels.allocator import keep_freed_memory
from ..model import LogicNet, build_model, load, save
from .batches import BatchSampler, BitsToScores, TrainingData, encode, prepare_data
from .checkpoint import CHECKPOINT_FILE, check_resumable, load_checkpoint, save_checkpoint
from .config import TrainConfig, resume_config
from .evaluation import accuracy, eval_chunk, raw_accuracy, soft_relaxation
from .presets import layer_specs
from .schedule import discreteness_loss, discreteness_weight, harden, harden_points, learned_layers, learning_rate
from .sizing import resolve
from .usage import gate_usage

if TYPE_CHECKING:
    from ..data import Dataset

__all__ = ["train", "train_model", "Trainer", "start_from_trained", "CONFIG_FILE", "METRICS_FILE",
           "SUMMARY_FILE", "BitsToScores", "encode", "accuracy", "soft_relaxation", "learned_layers",
           "learning_rate", "discreteness_loss", "discreteness_weight"]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
SCHEMA_FILE = "schema.json"     # your own data: the columns and classes (gatelearn.data.own)
ACCURACY_PLOT = "accuracy.png"
GATES_PLOT = "gates.png"
DTYPES = {"float32": torch.float32, "float64": torch.float64}
# A step of at most this many gate evaluations (gates x batch) runs on one thread by default.
# Measured on 2 cores (benchmarks/train_step.py): 5 x 256 gates, batch 100 (128K) took 1.2 ms per
# step on 1 thread and 1.9 ms on 2; 6 x 8,000, batch 100 (4.8M) gains from a second core when
# the machine is otherwise idle.
SMALL_STEP_GATE_EVALS = 1_000_000


# ------------------------------------------------------------------------------ train

def train(config: TrainConfig | Mapping[str, Any], out_dir: str | os.PathLike, *, resume: bool = False,
          progress: bool | str = True, dataset: Dataset | None = None) -> dict:
    """Train as ``config`` says (see :func:`gatelearn.training.make_config`); returns the summary
    (also written to ``out_dir/summary.json``). ``progress``: True prints what is trained on what
    (stderr) and a progress bar, ``"lines"`` the same without the bar, False nothing. A dict
    ``config`` is checked into a :class:`TrainConfig`; with ``resume`` it may hold only the
    settings to change (``{"iterations": N}``), the rest coming from the checkpoint. ``dataset``
    (a :class:`gatelearn.data.Dataset`, e.g. ``Dataset.from_csv(...)``) replaces loading the
    config's ``dataset`` or ``data``."""
    return train_model(config, out_dir, resume=resume, progress=progress, dataset=dataset)[1]


def train_model(config: TrainConfig | Mapping[str, Any], out_dir: str | os.PathLike, *, resume: bool = False,
                progress: bool | str = True, dataset: Dataset | None = None) -> tuple[LogicNet, dict]:
    """Like :func:`train`, returning ``(model, summary)`` (the summary is empty on ranks other than 0)."""
    with _lock_run_dir(config, out_dir, resume):
        return _train_locked(config, out_dir, resume, progress, dataset)


def _train_locked(config, out_dir, resume, progress, dataset) -> tuple[LogicNet, dict]:
    run = Trainer(config, out_dir, resume=resume, dataset=dataset, progress=progress)
    with _StopOnSigint() as stop, run:
        while run.it < run.iterations:
            run.step()
            if run.out_of_time():
                run.iterations = run.it    # the run finishes here, as if it were this long
            if run.master and run.due(run.eval_every):
                run.log(run.evaluate())
            if run.master and (run.due(run.checkpoint_every) or stop.requested):
                run.checkpoint()
            if stop.requested:
                raise KeyboardInterrupt(f"interrupted at iteration {run.it}; checkpoint in {run.ckpt_file}; "
                                        f"continue with `gatelearn train --out {run.out_dir} --resume`")
    return run.finish()


class Trainer:
    """One training run. Constructing it sets everything up; then :meth:`step` trains one
    iteration, :meth:`evaluate` / :meth:`log` make and write a metrics line, :meth:`checkpoint`
    saves the state, and :meth:`finish` writes the model, summary and plots. Used as a context
    manager it holds the metrics file and the progress bar open."""

    def __init__(self, config: TrainConfig | Mapping[str, Any], out_dir: str | os.PathLike, *,
                 resume: bool = False, dataset: Dataset | None = None, progress: bool | str = True):
        self.out_dir = Path(out_dir)
        self.ckpt_file = self.out_dir / CHECKPOINT_FILE
        ckpt = self._open(config, resume)
        self.dataset = dataset if dataset is not None else load_data(self.config)
        # layers, tau and eval_every left open are sized for this data; the run saves the result
        self.config = resolve(self.config, int(self.dataset.classes))
        self._setup_process()
        self.data: TrainingData = prepare_data(self.config, self.dataset)
        self._build_model(ckpt is None)
        self.threads = self._choose_threads()
        # The state that moves: the iteration, the running loss since the last metrics line, the
        # metrics so far, and the best evaluation on the validation split with its model state.
        self.start, self.metrics, self.seconds_before = 0, [], 0.0
        self.loss_sum, self.loss_count = 0.0, 0
        self.best: dict | None = None
        self.best_state: dict | None = None
        if ckpt is not None:
            self._restore(ckpt)
        self.it = self.start
        self.net = self._wrap_distributed()
        if self.master:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            # Drop lines logged after the checkpoint by an interrupted run: they will be redone.
            atomic_write_text(self.out_dir / METRICS_FILE, "".join(json.dumps(m) + "\n" for m in self.metrics))
            self.config.save(self.out_dir / CONFIG_FILE)
            schema = getattr(self.dataset, "schema", None)
            if schema is not None:   # how `predict` reads raw records, as training did
                atomic_write_text(self.out_dir / SCHEMA_FILE, json.dumps(schema, indent=1) + "\n")
        if self.master and progress and ckpt is None:   # "lines" (no bar) says this too
            self._announce()
        _prepare_kernels(self.model, self.dtype)   # a first run builds them: not training time
        self.t0 = time.perf_counter()
        d = self.data
        self.chunk = eval_chunk(self.scores, d.bits_test if len(d.bits_test) else d.bits_train, self.dtype)
        self.progress = progress
        self.model.train()

    # --- setup ------------------------------------------------------------------------------

    def _announce(self) -> None:
        """Say on stderr what is trained on what: the data (own data: the inferred columns,
        also saved as schema.json), the network and its size."""
        from ..data.own import Schema
        ds, c = self.dataset, self.config
        lines = [f"data: {ds.name}, {len(ds.y_train)} training / {len(ds.y_test)} test samples, "
                 f"{ds.classes} classes" + (f" ({ds.notes})" if getattr(ds, "notes", "") else "")]
        schema = getattr(ds, "schema", None)
        if schema is not None and "columns" in schema and schema.get("fit", True):
            lines += ["columns (saved in " + str(self.out_dir / SCHEMA_FILE) + "; a config file's columns = {...} "
                      "overrides a kind):", Schema.from_dict(schema).describe()]
        widths = [la.get("out") for la in c.layers if la.get("out") is not None]
        lines.append(f"network: {self.data.encoder.out_features} input bits -> {len(c.layers)} layers "
                     f"({', '.join(map(str, widths[:8]))}{', ...' if len(widths) > 8 else ''}), "
                     f"{self.model.num_gates():,} gates, tau {c.tau:g}; {self.threads} thread"
                     f"{'s' if self.threads != 1 else ''} (--threads N)")
        print("\n".join(lines), file=sys.stderr, flush=True)

    def _open(self, config: TrainConfig | Mapping[str, Any], resume: bool) -> dict | None:
        """The config (the checkpoint's with the allowed changes, when resuming) and the checkpoint."""
        ckpt = None
        if resume:
            ckpt = load_checkpoint(self.ckpt_file)
            self.config = resume_config(ckpt["info"]["config"], config, self.ckpt_file)
        elif self.ckpt_file.exists():
            raise InputError(f"{self.out_dir} already holds a checkpoint of an earlier run; pass --resume to "
                             f"continue it, or choose another --out (or delete {self.ckpt_file})")
        else:
            self.config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
        return ckpt

    def _setup_process(self) -> None:
        """Process group, threads, dtype, and the checks that need no data."""
        c = self.config
        self.rank, self.world, self.created_group = _setup_distributed(c)
        self.master = self.rank == 0
        if c.threads:
            torch.set_num_threads(c.threads)
        if gatelearn.TORCH_LOADED_FIRST and torch.get_num_threads() > 1 and self.master:
            print("gatelearn: torch was imported before gatelearn, so its OpenMP threads spin while they wait; "
                  "beside other busy processes that can slow training many times over. Import gatelearn first "
                  "or set OMP_WAIT_POLICY=PASSIVE (or pass threads=1)", file=sys.stderr)
        keep_freed_memory()     # no page faults on every step's big tensors (see kernels.allocator)
        self.dtype = DTYPES[c.dtype]
        self.batch_size, self.iterations = c.batch_size, c.iterations
        self.eval_every = c.eval_every          # TrainConfig checked the ranges of both
        # time_limit: minutes of this session's training (not counting earlier sessions of a
        # resumed run), after which the run finishes as if `iterations` had been reached.
        if c.time_limit is not None and self.world > 1:
            raise InputError("--time-limit is not supported with --distributed (ranks would stop at different steps)")
        # none: only at the end (a run of 0 iterations still has a grid step of 1)
        self.checkpoint_every = c.checkpoint_every or max(1, self.iterations)
        if self.batch_size % self.world:
            raise InputError(f"the global batch ({self.batch_size}) must split evenly over {self.world} processes")
        if c.keep == "best" and not c.validation:
            raise InputError("keep='best' chooses by validation accuracy and needs a validation split "
                             "(--validation F, e.g. 0.2)")
        share = self.batch_size // self.world
        self.share = slice(self.rank * share, (self.rank + 1) * share)   # this rank's part of a batch

    def _choose_threads(self) -> int:
        """Threads of this run: ``threads`` if set; else one for a small network, whose steps are
        too short to share (splitting a 5 x 256 step over 2 threads made it 1.6x slower), and
        torch's default (one per core) for the rest."""
        if self.config.threads:
            return self.config.threads
        work = self.model.num_gates() * self.batch_size   # gate evaluations per step
        if work <= SMALL_STEP_GATE_EVALS:
            torch.set_num_threads(1)
        return torch.get_num_threads()

    def _build_model(self, fresh: bool) -> None:
        """Model, optimizer, batch sampler, and the checks of the schedules (before any training)."""
        c, d = self.config, self.data
        spec = {"encoder": d.encoder.spec(), "layers": layer_specs(c),
                "head": head_spec(c, int(self.dataset.classes)),
                "seed": c.seed, "class_names": [str(n) for n in self.dataset.class_names]}
        if getattr(self.dataset, "schema", None) is not None:
            spec["schema"] = self.dataset.schema
        torch.manual_seed(c.seed)   # the global generator draws the Gumbel noise (same on every rank)
        self.model = model = build_model(spec)
        model.encoder.load_state_dict(d.encoder.state_dict())
        if c.init_from and fresh:   # a resumed run restores its own weights
            start_from_trained(model, c.init_from)
        model.to(self.dtype)
        self.scores = BitsToScores(model)
        opt_cls = torch.optim.Adam if c.optimizer == "adam" else torch.optim.AdamW
        # The fused (single-kernel) Adam is about 3x faster than the default for-each one on the
        # CPU and gives the same update; it needs floating-point parameters on a supported device.
        params = list(model.parameters())
        fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
        self.optimizer = opt_cls(params, lr=c.lr, weight_decay=c.weight_decay, fused=fused or None)
        self.sampler = BatchSampler(len(d.bits_train), c.seed)
        learning_rate(c, 0)   # a bad schedule fails before any training
        self.penalized = learned_layers(model, c.discreteness_layers)
        discreteness_weight(c, 0)   # so does a bad weight
        learned = learned_layers(model)
        self.hardening = list(zip(learned, harden_points(c, learned)))   # (layer, iteration) pairs
        if self.hardening and self.world > 1:
            raise InputError("harden_at is not supported with --distributed (frozen layers would leave DDP "
                             "waiting for their gradients)")

    def _restore(self, ckpt: dict) -> None:
        info = ckpt["info"]
        # class names and the schema describe the data; a checkpoint written before they were
        # recorded in the spec resumes all the same
        described = ("class_names", "schema")
        if {k: v for k, v in info["spec"].items() if k not in described} != \
                {k: v for k, v in self.model.spec.items() if k not in described}:
            raise InputError(f"{self.ckpt_file} was trained with a different model spec; cannot resume")
        # every tensor checked against the model, optimizer and sampler before the resume uses it
        check_resumable(ckpt, self.model, self.optimizer, self.sampler, self.ckpt_file)
        self.model.load_state_dict(ckpt["model_state"])
        self.optimizer.load_state_dict(ckpt["optimizer_state"])
        self.sampler.load(ckpt["rng"], info)
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.start, self.metrics = int(info["iteration"]), list(info["metrics"])
        self.seconds_before = float(info["train_seconds"])
        # The running loss is part of the checkpoint, so a resumed run logs the same numbers.
        self.loss_sum, self.loss_count = info["loss_sum"], info["loss_count"]
        self.best, self.best_state = info.get("best"), ckpt.get("best_state")
        if self.start > self.iterations:
            raise InputError(f"{self.ckpt_file} is at iteration {self.start}, past the requested "
                             f"{self.iterations} iterations")

    def _wrap_distributed(self) -> nn.Module:
        if self.world == 1:
            return self.scores
        import inspect

        from torch.nn.parallel import DistributedDataParallel as DDP
        # Wiring buffers never change, so there is nothing to broadcast each step (the keyword
        # was renamed in recent torch).
        no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(DDP).parameters
                   else "broadcast_buffers")
        return DDP(self.scores, **{no_sync: False})

    def __enter__(self) -> Trainer:
        from tqdm import tqdm
        c = self.config
        self.bar = tqdm(total=self.iterations, initial=min(self.start, self.iterations),
                        disable=not (self.progress is True and self.master), desc=str(c.preset or self.dataset.name),
                        dynamic_ncols=True, leave=True)
        self._log = open(self.out_dir / METRICS_FILE, "a") if self.master else None
        return self

    def __exit__(self, *exc) -> bool:
        self.bar.close()
        if self._log is not None:
            self._log.close()
        return False

    # --- the stages of an iteration ---------------------------------------------------------

    def step(self) -> None:
        """One optimizer step on the next batch (after hardening the layers due)."""
        c, it = self.config, self.it
        for layer, point in self.hardening:
            if it >= point and layer.weight.requires_grad:
                harden(layer)
        idx = self.sampler.next(self.batch_size)[self.share]   # every rank draws the whole global batch
        loss = F.cross_entropy(self.net(self.data.inputs(idx, it, self.share, self.dtype)), self.data.y_train[idx])
        objective = loss
        if (weight := discreteness_weight(c, it)) > 0.0:
            objective = loss + weight * discreteness_loss(self.penalized)
        self.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(c, it)
        self.optimizer.step()
        self.it = it + 1
        step_loss = loss.detach()
        if self.world > 1:
            import torch.distributed as dist
            dist.all_reduce(step_loss)
            step_loss /= self.world
        self.loss_sum += float(step_loss)
        self.loss_count += 1
        if not math.isfinite(self.loss_sum):
            raise InputError(f"training diverged at iteration {self.it} (loss {float(step_loss)}); lower --lr")
        self.bar.update(1)

    def out_of_time(self) -> bool:
        limit = self.config.time_limit
        return limit is not None and time.perf_counter() - self.t0 >= 60.0 * limit

    def due(self, every: int) -> bool:
        """Whether something done every ``every`` iterations (and at the end) is due now."""
        return self.it % every == 0 or self.it == self.iterations

    def elapsed(self) -> float:
        """Seconds of training, earlier sessions of a resumed run included."""
        return self.seconds_before + time.perf_counter() - self.t0

    def evaluate(self) -> dict:
        """A metrics line for the current model: loss since the last line, test (and validation)
        accuracy of the relaxed and the hard network, gates used."""
        s, d, dtype, chunk = self.scores, self.data, self.dtype, self.chunk
        relaxed = accuracy(s, d.bits_test, d.y_test, dtype, hard=False, chunk=chunk)
        hard = accuracy(s, d.bits_test, d.y_test, dtype, hard=True, chunk=chunk)
        line = {"iteration": self.it, "loss": self.loss_sum / self.loss_count, "relaxed_accuracy": relaxed,
                "hard_accuracy": hard, "gap": relaxed - hard, "gates_used": gate_usage(self.model)["gates_used"]}
        if d.val is not None:
            line["val_relaxed_accuracy"] = accuracy(s, *d.val, dtype, hard=False, chunk=chunk)
            line["val_hard_accuracy"] = accuracy(s, *d.val, dtype, hard=True, chunk=chunk)
        line["elapsed"] = round(self.elapsed(), 3)
        return line

    def log(self, line: dict) -> None:
        """Record a metrics line: remember the model if it is the best so far, start a new running
        loss, append the line to metrics.jsonl, show it on the progress bar."""
        self._remember_if_best(line)
        if self.it % self.eval_every == 0:
            # Not after the extra line at the end of a run that stops off the eval grid: a run
            # resumed from there then logs the same losses as an uninterrupted one.
            self.loss_sum, self.loss_count = 0.0, 0
        self.metrics.append(line)
        self._log.write(json.dumps(line) + "\n")
        self._log.flush()
        self.bar.set_postfix(loss=f"{line['loss']:.4f}", acc=f"{100 * line['hard_accuracy']:.2f}%",
                             gap=f"{100 * line['gap']:+.2f}")

    def _remember_if_best(self, line: dict) -> None:
        """Keep the model state of the best validation evaluation (hard accuracy, then relaxed,
        then the earlier); the test set never chooses."""
        if "val_hard_accuracy" not in line:
            return
        score = (line["val_hard_accuracy"], line["val_relaxed_accuracy"])
        if self.best is None or score > (self.best["val_hard_accuracy"], self.best["val_relaxed_accuracy"]):
            self.best = {"iteration": line["iteration"], "val_hard_accuracy": score[0],
                         "val_relaxed_accuracy": score[1]}
            self.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def checkpoint(self) -> None:
        rng_tensors, rng_info = self.sampler.state()
        rng_tensors["torch"] = torch.get_rng_state()
        save_checkpoint(self.ckpt_file, model_state=self.model.state_dict(),
                        optimizer_state=self.optimizer.state_dict(), rng=rng_tensors, best_state=self.best_state,
                        info={"iteration": self.it, "config": self.config.to_dict(), "spec": self.model.spec,
                              "metrics": self.metrics, "train_seconds": self.elapsed(), "loss_sum": self.loss_sum,
                              "loss_count": self.loss_count, "best": self.best, **rng_info})

    # --- the end ----------------------------------------------------------------------------

    def finish(self) -> tuple[LogicNet, dict]:
        """Rank 0 writes the model, summary and plots; then every rank meets the others."""
        summary: dict = {}
        if self.master:
            summary = self._write_results(self.elapsed())
        if self.world > 1:
            import torch.distributed as dist
            dist.barrier()   # files are complete before any rank returns
            if self.created_group:
                dist.destroy_process_group()
        return self.model, summary

    def _write_results(self, train_seconds: float) -> dict:
        """Final evaluation, model, summary and plots. With keep='best' the saved model is the best
        one on the validation split; the checkpoint keeps the last (to extend the run)."""
        from .plots import plot_accuracy, plot_gates
        c, d, model, metrics, iterations = self.config, self.data, self.model, self.metrics, self.iterations
        if not metrics or metrics[-1]["iteration"] != iterations:
            # Resumed after the end, or zero iterations: evaluate what there is.
            last = {"iteration": iterations, "loss": None,
                    "relaxed_accuracy": accuracy(self.scores, d.bits_test, d.y_test, self.dtype, hard=False),
                    "hard_accuracy": accuracy(self.scores, d.bits_test, d.y_test, self.dtype, hard=True)}
            last["gap"] = last["relaxed_accuracy"] - last["hard_accuracy"]
            last["gates_used"] = gate_usage(model)["gates_used"]
            last["elapsed"] = round(train_seconds, 3)
            metrics.append(last)
            with open(self.out_dir / METRICS_FILE, "a") as fh:
                fh.write(json.dumps(last) + "\n")
            self.checkpoint()
        keep_best = c.keep == "best" and self.best_state is not None
        last = metrics[-1]
        relaxed = last["relaxed_accuracy"]
        if keep_best:
            model.load_state_dict(self.best_state)
            last = next((m for m in metrics if m["iteration"] == self.best["iteration"]), self.best)
            relaxed = accuracy(self.scores, d.bits_test, d.y_test, self.dtype, hard=False)
        # The hard accuracy reported is that of the complete model on raw test inputs, i.e. exactly
        # what `gatelearn.load(out_dir)` will compute, encoder included.
        model.eval()
        hard = raw_accuracy(model, self.dataset.x_test, self.dataset.y_test)
        model.train()
        usage = gate_usage(model)
        save(model, self.out_dir)
        summary = {
            "preset": c.preset,
            "dataset": self.dataset.name,
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
            "kept": "best" if keep_best else "last",
            "kept_iteration": last["iteration"],
            "resumed_from": self.start or None,
            "world_size": self.world,
            "threads": self.threads,
            "test_samples": int(len(self.dataset.y_test)),
            "reference": c.reference,
            "config": c.to_dict(),
        }
        if "val_hard_accuracy" in last:
            summary["val_hard_accuracy"] = last["val_hard_accuracy"]
            summary["val_relaxed_accuracy"] = last["val_relaxed_accuracy"]
        atomic_write_text(self.out_dir / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        title = str(c.preset or self.dataset.name or "")
        plot_accuracy(metrics, self.out_dir / ACCURACY_PLOT, title,
                      kept_at=summary["kept_iteration"] if keep_best else None)
        plot_gates(usage, self.out_dir / GATES_PLOT, title)
        return summary


# ------------------------------------------------------------------------------ helpers

class _StopOnSigint:
    """First Ctrl-C: finish the current step, checkpoint, then raise KeyboardInterrupt (so the
    checkpoint always holds a completed step). A second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self) -> _StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)

    def __exit__(self, *exc) -> bool:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


@contextlib.contextmanager
def _lock_run_dir(config: TrainConfig | Mapping[str, Any], out_dir: str | os.PathLike, resume: bool):
    """The run directory's exclusive lock (see :func:`gatelearn.fileio.exclusive_lock`), held by
    the process that writes it: a second training into it, or a --resume of a run still
    training, is refused naming this process. Ranks other than 0 of a distributed run write
    nothing and take no lock. Taking it removes the temporary files of a killed checkpoint write.
    A run that fails before writing anything leaves no folder behind if it created it."""
    distributed = config.distributed if isinstance(config, TrainConfig) else config.get("distributed")
    if distributed is not False:
        import torch.distributed as dist
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK") or 0)
        if rank != 0:
            yield
            return
    out = Path(out_dir)
    if resume and not out.is_dir():
        yield     # nothing to resume: the Trainer says so, without creating the folder
        return
    created = not out.exists()
    with exclusive_lock(out, error=InputError):
        try:
            yield
        except BaseException:
            # Still holding the lock: a process that opens the lock file now fails to lock it.
            with contextlib.suppress(OSError):
                if created and [p.name for p in out.iterdir()] == [LOCK_FILE]:
                    (out / LOCK_FILE).unlink()
                    out.rmdir()
            raise


def head_spec(config: TrainConfig, classes: int) -> dict:
    """The model spec's head for a run's settings (``head``, ``tau``, ``learn_tau``, ``code``)."""
    spec: dict = {"kind": config.head, "classes": classes, "tau": config.tau}
    if config.learn_tau:
        spec["learn_tau"] = True
    if config.head == "binary":
        if classes != 2:
            raise InputError(f"the binary head decides between 2 classes; this data has {classes} (use --head "
                             f"groupsum or codebook)")
    elif config.head == "codebook":
        spec.update(code=config.code, seed=config.seed)
    return spec


def load_data(config: TrainConfig) -> Dataset:
    """The dataset a config names: a benchmark (``dataset``) or your own (``data``: a CSV file or
    a folder of images, with ``test`` or a seeded split)."""
    from ..data import Dataset, load_dataset
    if config.data is None and config.dataset is None:
        raise InputError("no data to train on: name a preset or a dataset, or give your own with --data FILE.csv "
                         "(or a folder of images), or pass dataset= to train()")
    if config.data is None:
        return load_dataset(config.dataset, data_dir=config.data_dir, split_seed=config.split_seed)
    if config.dataset is not None:
        raise InputError(f"both a dataset ({config.dataset!r}) and --data ({config.data}) are given; keep one")
    if config.split_seed == "reference":
        raise InputError("split_seed 'reference' is breast-cancer's reference split; give an integer seed for --data")
    seed = int(config.split_seed or 0)
    if Path(config.data).is_dir():
        return Dataset.from_image_folder(config.data, test=config.test, test_fraction=config.test_fraction,
                                         seed=seed, size=config.image_size)
    for key in ("image_size",):
        if getattr(config, key) is not None:
            raise InputError(f"{key} applies to a folder of images; {config.data} is a file")
    return Dataset.from_csv(config.data, config.target, test=config.test, test_fraction=config.test_fraction,
                            seed=seed, columns=config.columns, bits=config.numeric_bits)


def _prepare_kernels(model: nn.Module, dtype: torch.dtype) -> None:
    """Build (on a machine's first run) or load the C++ kernels the model's layers will call, so
    that the first step does not do it inside the training time."""
    from ..kernels import fused_available
    from ..kernels.conv_tree import fused_tree_available
    from ..layers.conv import LogicConv2d, OrPool2d
    if dtype in (torch.float32, torch.float64):
        fused_available()
    if dtype == torch.float32 and any(isinstance(m, (LogicConv2d, OrPool2d)) for m in model.modules()):
        fused_tree_available()


def _setup_distributed(config: TrainConfig) -> tuple[int, int, bool]:
    """(rank, world size, whether we created the process group)."""
    if not config.distributed:
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
