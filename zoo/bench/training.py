"""One supervised training loop for the probe and the experts.

AdamW with a cosine schedule over a fixed number of optimiser steps (a budget
in steps, not epochs, so an expert on a 5-class task costs as much as one on a
union of tasks), random-shift augmentation on top of the rendered one, seeded
so a rerun gives the same weights.
"""

from __future__ import annotations

import math

import numpy as np

from zoo.bench.arrays import IMAGENET_MEAN, IMAGENET_STD, to_tensor


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
) -> dict:
    """Train ``model`` in place on uint8 images [N, H, W, 3]; returns {steps, final_loss}."""
    import torch
    from tqdm import tqdm

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
        x = random_shift(x_all[idx], generator)
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
