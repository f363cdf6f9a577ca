"""Training-time augmentation of raw image rows.

Only training batches are augmented; evaluation, the saved model and every circuit see the
images as they are. The shifts of a step come from a generator seeded by (seed, step), so a
resumed run draws the same shifts as an uninterrupted one without any extra RNG state.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError


def step_generator(seed: int, step: int) -> torch.Generator:
    """A generator for one training step: deterministic in (seed, step), independent of how the
    run got there (resumed or not)."""
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(step)) % (2 ** 63))


def check_shift(image: tuple[int, int, int], max_shift: int, features: int) -> tuple[int, int, int]:
    """Check that rows of ``features`` raw values are (C, H, W) images that a shift of up to
    ``max_shift`` pixels leaves partly in view; returns (C, H, W)."""
    c, h, w = (int(d) for d in image)
    if not 0 <= int(max_shift) < min(h, w):
        raise InputError(f"augment_shift must be in [0, {min(h, w) - 1}] pixels for {h}x{w} images, "
                         f"got {max_shift}")
    if features != c * h * w:
        raise InputError(f"shift_images expects rows of {c}*{h}*{w} = {c * h * w} pixels, got {features}")
    return c, h, w


def draw_shifts(count: int, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random (dy, dx) offsets, each in [-max_shift, max_shift] pixels."""
    return torch.randint(-int(max_shift), int(max_shift) + 1, (int(count), 2), generator=generator)


def shift_images(x: torch.Tensor, image: tuple[int, int, int], shifts: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate image ``i`` of a batch by ``shifts[i] = (dy, dx)`` pixels (|dy|, |dx| <=
    ``max_shift``), filling with 0, the background of MNIST-like data.

    ``x`` holds raw rows (B, C*H*W) in channel-major pixel order, the layout the threshold
    encoder takes; the result has the same shape and dtype.
    """
    if x.dim() != 2:
        raise InputError(f"shift_images expects a batch of rows (B, C*H*W), got shape {tuple(x.shape)}")
    c, h, w = check_shift(image, max_shift, x.shape[1])
    max_shift = int(max_shift)
    if tuple(shifts.shape) != (len(x), 2) or (len(x) and int(shifts.abs().max()) > max_shift):
        raise InputError(f"shift_images expects ({len(x)}, 2) offsets within +-{max_shift}, "
                         f"got shape {tuple(shifts.shape)}")
    if max_shift == 0 or len(x) == 0:
        return x
    batch = len(x)
    padded = F.pad(x.view(batch, c, h, w), (max_shift,) * 4)
    # output pixel (y, x) reads input pixel (y - dy, x - dx), i.e. padded (y - dy + m, x - dx + m)
    rows = (max_shift - shifts[:, 0:1] + torch.arange(h))[:, None, :, None]       # (B, 1, H, 1)
    cols = (max_shift - shifts[:, 1:2] + torch.arange(w))[:, None, None, :]       # (B, 1, 1, W)
    out = padded[torch.arange(batch)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    return out.reshape(batch, c * h * w)
