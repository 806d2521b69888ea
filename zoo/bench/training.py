"""One supervised training loop for the probe and the experts.

AdamW with a cosine schedule over a fixed number of optimiser steps (a budget
in steps, not epochs, so an expert on a 5-class task costs as much as one on a
union of tasks), augmentation on top of the rendered one, seeded so a rerun
gives the same weights: ``shift`` (a random shift of up to 3 px, the experts'
and the bundled probe's) or ``strong`` (random resized crop with rotation and
shift, brightness/contrast/saturation jitter and random erasing), each drawn
per image from the loop's generator, in torch on the batch.
"""

from __future__ import annotations

import math

import numpy as np

from registry.errors import InvalidInput, arg
from zoo.bench.arrays import IMAGENET_MEAN, IMAGENET_STD, to_tensor

#: the augmentations :func:`train_classifier` knows; ``shift`` is the default
AUGMENTATIONS = ("shift", "strong")
#: what each augmentation does, as recorded in a probe's probe.json
AUGMENTATION_NOTES = {
    "shift": "random shift 3 px",
    "strong": "random resized crop (area 0.6-1, aspect 0.8-1.25), rotation +-12 degrees, shift +-12%, "
    "brightness/contrast +-30%, saturation +-40%, random erasing p 0.3 (area 2-15%)",
}


def random_shift(x, generator, pad: int = 3):
    """Shift each image of [B, 3, H, W] by up to ``pad`` pixels (reflect-padded)."""
    import torch
    import torch.nn.functional as F

    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    rows = dy.view(b, 1) + torch.arange(h).view(1, h)  # [B, H]
    cols = dx.view(b, 1) + torch.arange(w).view(1, w)  # [B, W]
    idx_b = torch.arange(b).view(b, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_b, rows.view(b, h, 1), cols.view(b, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous()


def strong_augment(x, generator, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Strong augmentation of a normalised batch [B, 3, H, W] (float32), seeded by ``generator``.

    A random resized crop with rotation and shift (one bilinear affine resample,
    reflect-padded), colour jitter in pixel space (clamped to [0, 1], so the
    output stays in the range of real images), then random erasing to the mean
    colour. Same shape and dtype as ``x``.
    """
    import torch

    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    pixels = _random_affine(x * s + m, generator)
    pixels = _colour_jitter(pixels, generator)
    return _random_erase((pixels - m) / s, generator)


def _uniform(generator, n: int, low: float, high: float):
    """[n] float32 uniform in [low, high) from ``generator``."""
    import torch

    return low + (high - low) * torch.rand(n, generator=generator)


def _random_affine(pixels, generator):
    """Random resized crop + rotation + shift of [B, 3, H, W] pixels in [0, 1]: one affine grid_sample."""
    import torch
    import torch.nn.functional as F

    b = pixels.shape[0]
    area = _uniform(generator, b, 0.6, 1.0)
    log_ratio = _uniform(generator, b, -0.223, 0.223)  # aspect 0.8-1.25
    angle = _uniform(generator, b, -12.0, 12.0) * (torch.pi / 180)
    shift = _uniform(generator, 2 * b, -0.24, 0.24).view(b, 2)  # +-12% of the side, in [-1, 1] units
    sx = torch.sqrt(area * torch.exp(log_ratio))  # the crop's width / the image's, so the output zooms in
    sy = torch.sqrt(area / torch.exp(log_ratio))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([sx * cos, -sy * sin, shift[:, 0]], 1), torch.stack([sx * sin, sy * cos, shift[:, 1]], 1)], 1
    )  # [B, 2, 3]: output grid -> input coordinates
    grid = F.affine_grid(theta.to(pixels.dtype), list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _colour_jitter(pixels, generator):
    """Brightness, contrast (about each image's grey mean) and saturation jitter; clamped to [0, 1]."""
    b = pixels.shape[0]
    brightness = _uniform(generator, b, 0.7, 1.3).view(b, 1, 1, 1)
    contrast = _uniform(generator, b, 0.7, 1.3).view(b, 1, 1, 1)
    saturation = _uniform(generator, b, 0.6, 1.4).view(b, 1, 1, 1)
    pixels = pixels * brightness
    grey = (0.299 * pixels[:, 0] + 0.587 * pixels[:, 1] + 0.114 * pixels[:, 2]).unsqueeze(1)  # [B, 1, H, W]
    pixels = (pixels - grey.mean(dim=(2, 3), keepdim=True)) * contrast + grey.mean(dim=(2, 3), keepdim=True)
    grey = (0.299 * pixels[:, 0] + 0.587 * pixels[:, 1] + 0.114 * pixels[:, 2]).unsqueeze(1)
    return ((pixels - grey) * saturation + grey).clamp(0.0, 1.0)


def _random_erase(x, generator, p: float = 0.3):
    """Set one random rectangle (2-15% of the area) of a fraction ``p`` of the images [B, 3, H, W] to 0."""
    import torch

    b, _, h, w = x.shape
    chosen = torch.rand(b, generator=generator) < p
    area = _uniform(generator, b, 0.02, 0.15) * h * w
    log_ratio = _uniform(generator, b, -1.1, 1.1)
    eh = torch.sqrt(area * torch.exp(log_ratio)).round().clamp(1, h).long()
    ew = torch.sqrt(area / torch.exp(log_ratio)).round().clamp(1, w).long()
    top = (torch.rand(b, generator=generator) * (h - eh + 1)).long()
    left = (torch.rand(b, generator=generator) * (w - ew + 1)).long()
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(b, 1, 1))
        & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1))
        & (cols < (left + ew).view(b, 1, 1))
    )  # [B, H, W]
    mask = (inside & chosen.view(b, 1, 1)).unsqueeze(1)
    return x.masked_fill(mask, 0.0)


def train_classifier(
    model,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
    augment: str = "shift",
) -> dict:
    """Train ``model`` in place on uint8 images [N, H, W, 3]; returns {steps, final_loss}.

    ``augment``: one of :data:`AUGMENTATIONS` (``shift``: :func:`random_shift`,
    ``strong``: :func:`strong_augment`).
    """
    import torch
    from tqdm import tqdm

    if augment not in AUGMENTATIONS:
        raise InvalidInput(f"unknown augmentation {augment!r}; pass {arg('augment', '|'.join(AUGMENTATIONS))}")
    transform = random_shift if augment == "shift" else strong_augment

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_all = to_tensor(images, IMAGENET_MEAN, IMAGENET_STD)
    y_all = torch.from_numpy(labels)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    )
    losses = []
    order = torch.randperm(len(y_all), generator=generator)
    cursor = 0
    for _ in tqdm(range(steps), desc=desc, unit="step", disable=not progress, leave=False):
        if cursor + batch_size > len(order):
            order = torch.randperm(len(y_all), generator=generator)
            cursor = 0
        idx = order[cursor : cursor + batch_size]
        cursor += batch_size
        x = transform(x_all[idx], generator)
        loss = torch.nn.functional.cross_entropy(model(x), y_all[idx], label_smoothing=0.1)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    model.eval()
    return {"steps": steps, "final_loss": float(np.mean(losses[-20:])) if losses else None}


def accuracy(model, images: np.ndarray, labels: np.ndarray, *, allowed=None, batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model``; ``allowed`` [N, C] bool restricts each row's classes."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            logits = model(to_tensor(images[start : start + batch_size]))
            if allowed is not None:
                mask = torch.from_numpy(allowed[start : start + batch_size])
                logits = logits.masked_fill(~mask, float("-inf"))
            correct += int((logits.argmax(1).numpy() == labels[start : start + batch_size]).sum())
    return correct / max(1, len(labels))
