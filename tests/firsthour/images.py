"""A new small folder of labelled images, unlike the shipped demo task: one subfolder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("disc", "square", "cross")


def write_shapes(root: Path, *, per_class: int = 10, size: int = 32, seed: int = 0) -> Path:
    """``root/<shape>/<i>.png``: white shapes of random size and place on dark noise; returns ``root``."""
    rng = np.random.default_rng(seed)
    for shape in SHAPES:
        folder = root / shape
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            noise = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            image = Image.fromarray(noise)
            draw = ImageDraw.Draw(image)
            r = int(rng.integers(6, 12))
            cx, cy = (int(v) for v in rng.integers(r, size - r, 2))
            colour = tuple(int(v) for v in rng.integers(180, 256, 3))
            if shape == "disc":
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            elif shape == "square":
                draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=colour)
            else:
                draw.rectangle((cx - r, cy - 2, cx + r, cy + 2), fill=colour)
                draw.rectangle((cx - 2, cy - r, cx + 2, cy + r), fill=colour)
            image.save(folder / f"{i}.png")
    return root
