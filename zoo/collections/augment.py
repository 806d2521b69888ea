"""Image augmentation shared by the collections: affine jitter, blur, noise.

Strong on purpose (docs/METHOD.md section 7): rendered glyphs without it are
solved by any feature extractor, and the ground truth stops discriminating.
"""

from __future__ import annotations

import math
import random

import numpy as np
from PIL import Image, ImageFilter

from zoo.collections.tasks import IMAGE_SIZE


def affine_jitter(
    image: Image.Image,
    rng: random.Random,
    *,
    rotate: float = 15.0,
    scale: tuple[float, float] = (0.8, 1.1),
    shear: float = 0.2,
    shift: float = 0.08,
    fill=(255, 255, 255),
) -> Image.Image:
    """Rotate, scale, shear and shift ``image`` about its centre, same size out."""
    w, h = image.size
    angle = math.radians(rng.uniform(-rotate, rotate))
    s = rng.uniform(*scale)
    sh = rng.uniform(-shear, shear)
    tx, ty = rng.uniform(-shift, shift) * w, rng.uniform(-shift, shift) * h
    cos, sin = math.cos(angle), math.sin(angle)
    # forward map: rotate . shear . scale; PIL wants the inverse (output -> input)
    a, b, d, e = s * cos, s * (cos * sh - sin), s * sin, s * (sin * sh + cos)
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    cx, cy = w / 2, h / 2
    ox, oy = cx + tx, cy + ty
    c = cx - ia * ox - ib * oy
    f = cy - id_ * ox - ie * oy
    return image.transform((w, h), Image.AFFINE, (ia, ib, c, id_, ie, f), resample=Image.BILINEAR, fillcolor=fill)


def finish(image: Image.Image, rng: random.Random, *, blur: float = 1.2, noise: float = 14.0) -> Image.Image:
    """Blur at full size, shrink to IMAGE_SIZE, add Gaussian pixel noise; RGB out."""
    radius = rng.uniform(0.0, blur) * image.size[0] / IMAGE_SIZE
    if radius > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    image = image.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    sigma = rng.uniform(0.0, noise)
    if sigma > 0:
        pixels = np.asarray(image, dtype=np.float32)
        noise_rng = np.random.default_rng(rng.getrandbits(32))
        pixels = pixels + noise_rng.normal(0.0, sigma, size=pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    return image
