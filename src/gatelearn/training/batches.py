"""What the training steps feed on: the dataset encoded to bits once, the seeded batch sampler,
and the network from bits to scores.

Training feeds bits encoded once up front (uint8, 4x smaller than float), so the encoder does
not run every step; only relaxed input bits (``relaxed_inputs``) and shifted images
(``augment_shift``) encode each batch from its raw rows. Evaluation always uses the hard bits the
circuit will see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..data.augment import check_shift, draw_shifts, shift_images, step_generator
from ..errors import InputError
from ..layers.encoders import apply_encoder_override
from ..model import LogicNet
from .config import TrainConfig

if TYPE_CHECKING:
    from ..data import Dataset


class BitsToScores(nn.Module):
    """Encoded bits -> class scores (the model minus its encoder): what the training steps and
    the evaluations run, and what DDP wraps."""

    def __init__(self, model: LogicNet):
        super().__init__()
        self.model = model

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        h = bits
        for layer in self.model.layers:
            h = layer(h)
        return self.model.head(h)


@torch.no_grad()
def encode(encoder: nn.Module, x, chunk: int = 8192) -> torch.Tensor:
    """Raw features -> bits as a uint8 tensor (4x smaller than float; cast per batch)."""
    x = torch.as_tensor(x)
    parts = [encoder(x[i:i + chunk]).to(torch.uint8) for i in range(0, len(x), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, getattr(encoder, "out_features", 0), dtype=torch.uint8)


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


@dataclass
class TrainingData:
    """A run's data, encoded: bits (uint8) and labels of the training, test and validation parts,
    and what drawing a training batch from raw rows needs."""
    encoder: nn.Module
    bits_train: torch.Tensor
    y_train: torch.Tensor
    bits_test: torch.Tensor
    y_test: torch.Tensor
    val: tuple[torch.Tensor, torch.Tensor] | None
    raw_train: torch.Tensor | None       # set when each batch is encoded from its raw rows
    relax_width: float | None
    shift: int
    image: tuple | None
    seed: int
    global_batch: int

    def inputs(self, idx: torch.Tensor, step: int, share: slice, dtype: torch.dtype) -> torch.Tensor:
        """The training inputs of rows ``idx`` (this process's ``share`` of the global batch) at
        step ``step``."""
        if self.raw_train is None:
            return self.bits_train[idx].to(dtype)
        raw = self.raw_train[idx]
        if self.shift:
            # shifts drawn for the whole global batch, so every rank takes its own share of one draw
            shifts = draw_shifts(self.global_batch, self.shift, step_generator(self.seed, step))[share]
            raw = shift_images(raw, self.image, shifts, self.shift)
        if self.relax_width is None:
            return self.encoder(raw).to(dtype)
        return self.encoder.relaxed(raw, self.relax_width).to(dtype)


def prepare_data(config: TrainConfig, dataset: Dataset) -> TrainingData:
    """Split off the validation part, fit the encoder (the dataset's, with the preset's
    ``encoder`` options and ``input_levels`` over it) and encode every part once."""
    x_train, y_train = dataset.x_train, dataset.y_train
    if config.validation:
        x_train, y_train, x_val, y_val = dataset.validation_split(config.validation, config.seed)
    # A preset's "encoder" options (e.g. image-shaped bits for convolutional layers) go over the
    # dataset's fitted encoder; the thresholds stay the dataset's.
    override = dict(config.encoder or {})
    if config.input_levels is not None:
        override["levels"] = list(config.input_levels)
    encoder = apply_encoder_override(dataset.make_encoder(), override or None)
    bits_train, y_train = encode(encoder, x_train), torch.as_tensor(y_train)
    bits_test, y_test = encode(encoder, dataset.x_test), torch.as_tensor(dataset.y_test)
    val = (encode(encoder, x_val), torch.as_tensor(y_val)) if config.validation else None
    if len(bits_train) == 0:
        raise InputError(f"dataset {config.dataset!r} has no training rows")
    relax_width = config.relaxed_inputs or None     # 0 / None: the hard bits
    shift = int(config.augment_shift or 0)
    if relax_width is not None and not hasattr(encoder, "relaxed"):
        raise InputError(f"relaxed_inputs needs a threshold encoder; dataset {config.dataset!r} "
                         f"uses a {encoder.spec().get('kind')!r} encoder")
    image = dataset.image_shape
    if shift and image is None:
        raise InputError(f"augment_shift needs image data; dataset {dataset.name!r} has no image shape")
    raw_train = torch.as_tensor(x_train) if (relax_width is not None or shift) else None
    if relax_width is not None:
        encoder.relaxed(raw_train[:1], relax_width)   # a bad width fails here, before any training
    if shift:
        check_shift(image, shift, raw_train.shape[1])                   # so does a bad shift
    return TrainingData(encoder, bits_train, y_train, bits_test, y_test, val, raw_train, relax_width, shift,
                        image, config.seed, config.batch_size)
