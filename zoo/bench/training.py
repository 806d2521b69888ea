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

import hashlib
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

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


#: :func:`train_classifier` saves its checkpoint every this many optimiser steps (and after the last). A step
#: of the full probe (batch 128) takes 0.1 s on 2 idle cores to 1.3 s on busy ones (the shipped probe's 450
#: steps took 591 s), and its checkpoint (fp32 weights and AdamW's two moments, 67 MB) 0.07 s to write: at
#: most 1.5% more time, and a kill loses at most 50 steps (5 s to a minute). Steps, not seconds, so where the
#: saves fall does not depend on the machine's load (the weights do not either way).
CHECKPOINT_EVERY = 50
#: the layout of a checkpoint; another one is not read
CHECKPOINT_FORMAT = 1


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
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = CHECKPOINT_EVERY,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train ``model`` in place on uint8 images [N, H, W, 3]; returns {steps, final_loss, resumed_from, seconds}.

    ``augment``: one of :data:`AUGMENTATIONS` (``shift``: :func:`random_shift`,
    ``strong``: :func:`strong_augment`).

    ``checkpoint``: a file to save the run to every ``checkpoint_every`` steps and
    after the last (a temporary file, then a rename), so a killed run resumes
    where its last save left it and ends with the very weights of an
    uninterrupted one: the model, AdamW and schedule states, the step, the data
    order and its cursor, torch's RNG and the augmentation generator, the losses.
    A checkpoint of another run (its :func:`run_settings` differ: steps, batch,
    lr, weight decay, seed, augmentation, the data or the initial weights) is
    replaced, said in one line to ``log`` (else on stderr while ``progress``); an
    unreadable one is ignored with a warning. ``None`` (the default): nothing is
    saved. The caller removes the file once it has kept the result.
    ``seconds``: training time, the interrupted runs' included.
    """
    import torch
    from tqdm import tqdm

    if augment not in AUGMENTATIONS:
        raise InvalidInput(f"unknown augmentation {augment!r}; pass {arg('augment', '|'.join(AUGMENTATIONS))}")
    if checkpoint_every < 1:
        raise InvalidInput(f"checkpoint_every must be 1 or more, not {checkpoint_every}")
    transform = random_shift if augment == "shift" else strong_augment

    x_all = to_tensor(images, IMAGENET_MEAN, IMAGENET_STD)
    y_all = torch.from_numpy(labels)
    settings = None
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        settings = run_settings(
            model, images, labels, steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
            seed=seed, augment=augment,
        )  # fmt: skip
    saved = None if checkpoint is None else _read_checkpoint(checkpoint, settings, model, log=log, progress=progress)
    optimiser, schedule, generator, order = _fresh_state(
        model, len(y_all), steps=steps, lr=lr, wd=weight_decay, seed=seed
    )
    losses: list[float] = []
    cursor, start, seconds = 0, 0, 0.0
    if saved is not None:
        try:
            optimiser.load_state_dict(saved["optimiser"])
            schedule.load_state_dict(saved["schedule"])
            generator.set_state(saved["generator"])
            torch.set_rng_state(saved["torch_rng"])
            order, cursor, start = saved["order"], int(saved["cursor"]), int(saved["step"])
            losses, seconds = [float(v) for v in saved["losses"]], float(saved["seconds"])
            if len(order) != len(y_all) or not 0 < start <= steps:
                raise ValueError("its data order or step does not fit this run")
        except Exception as err:  # a file of this run's settings whose states do not load: damaged
            _warn_unreadable(checkpoint, err)  # the states it half-restored are dropped: the run starts afresh
            optimiser, schedule, generator, order = _fresh_state(
                model, len(y_all), steps=steps, lr=lr, wd=weight_decay, seed=seed
            )
            losses, cursor, start, seconds = [], 0, 0, 0.0
        else:
            model.load_state_dict(saved["model"])  # last, and whole: names, shapes and dtypes were checked on reading
            _say(f"{desc}: resuming at step {start} of {steps} from {checkpoint}", log, progress)
    model.train()
    began = time.perf_counter()
    bar = tqdm(
        range(start, steps), desc=desc, unit="step", disable=not progress, leave=False, initial=start, total=steps
    )
    for step in bar:
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
        done = step + 1
        if checkpoint is not None and (done % checkpoint_every == 0 or done == steps):
            _save_checkpoint(
                checkpoint,
                {
                    "format": CHECKPOINT_FORMAT,
                    "settings": settings,
                    "step": done,
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "schedule": schedule.state_dict(),
                    "order": order,
                    "cursor": cursor,
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "losses": losses,
                    "seconds": seconds + time.perf_counter() - began,
                },
            )
    model.eval()
    return {
        "steps": steps,
        "final_loss": float(np.mean(losses[-20:])) if losses else None,
        "resumed_from": start,
        "seconds": seconds + time.perf_counter() - began,
    }


def _fresh_state(model, count: int, *, steps: int, lr: float, wd: float, seed: int) -> tuple:
    """(AdamW, cosine schedule over ``steps``, the augmentation generator, the data order of ``count`` images) of
    a run starting at step 0 with ``seed``; torch's global RNG is seeded too."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
    )
    return optimiser, schedule, generator, torch.randperm(count, generator=generator)


def run_settings(model, images: np.ndarray, labels: np.ndarray, **settings) -> dict:
    """What defines a training run, for its checkpoint: ``settings`` (steps, batch size, lr, ...), the
    data's size and a fingerprint of it, and a fingerprint of the model's initial weights.

    The data fingerprint is a sha256 of the labels, the images' shape and a sample of at most 4,096
    images spread evenly over them (a re-rendered task changes every image; no need to read them all).
    """
    import torch

    digest = hashlib.sha256(str((images.shape, str(images.dtype), labels.shape, str(labels.dtype))).encode())
    digest.update(np.ascontiguousarray(labels).tobytes())
    digest.update(np.ascontiguousarray(images[:: max(1, -(-len(images) // 4096))]).tobytes())
    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        weights.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        if tensor.numel():
            weights.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return {
        **settings,
        "images": int(len(labels)),
        "classes": int(labels.max()) + 1 if len(labels) else 0,
        "data": digest.hexdigest(),
        "initial_weights": weights.hexdigest(),
    }


def _say(line: str, log: Callable[[str], None] | None, progress: bool) -> None:
    """One line to ``log``, else on stderr above the bar while ``progress``."""
    if log is not None:
        log(line)
    elif progress:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)


def _read_checkpoint(
    path: Path, settings: dict, model, *, log: Callable[[str], None] | None, progress: bool
) -> dict | None:
    """The checkpoint at ``path`` if it is one of this run (same ``settings``), else None (said in one line)."""
    import torch

    if not path.is_file():
        return None
    try:  # weights_only: a checkpoint holds tensors, numbers, strings and lists; it never runs code
        saved = torch.load(str(path), map_location="cpu", weights_only=True)
        if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
            raise ValueError("not a train_classifier checkpoint")
        missing = {"settings", "step", "model", "optimiser", "schedule", "order", "cursor", "generator"}
        missing |= {"torch_rng", "losses", "seconds"}
        missing -= set(saved)
        if missing:
            raise ValueError(f"no {', '.join(sorted(missing))}")
        if not isinstance(saved["settings"], dict) or not isinstance(saved["model"], dict):
            raise ValueError("its settings or weights are not mappings")
    except Exception as err:  # torch.load raises many types for a truncated or foreign file
        _warn_unreadable(path, err)
        return None
    if saved["settings"] != settings:
        differ = sorted(
            k for k in settings.keys() | saved["settings"].keys() if saved["settings"].get(k) != settings.get(k)
        )
        _say(f"{path} is a checkpoint of another run ({', '.join(differ)} differ): starting at step 0", log, progress)
        return None
    expected = {k: (v.shape, v.dtype) for k, v in model.state_dict().items()}
    if {k: (getattr(v, "shape", None), getattr(v, "dtype", None)) for k, v in saved["model"].items()} != expected:
        _warn_unreadable(path, ValueError("its weights do not fit the model"))
        return None
    return saved


def _warn_unreadable(path: Path, err: Exception) -> None:
    """One warning line: the checkpoint at ``path`` is ignored, and why."""
    reason = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:120]  # torch's can run to a page
    warnings.warn(
        f"ignoring the unreadable checkpoint {path} ({type(err).__name__}: {reason}); starting at step 0",
        stacklevel=3,
    )


def _save_checkpoint(path: Path, state: dict) -> None:
    """``state`` to ``path`` through a temporary file and a rename, so a file that exists is complete."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp")
    torch.save(state, str(tmp))
    os.replace(tmp, path)


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
