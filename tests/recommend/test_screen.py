"""The verification screen's share of a query's images: class-balanced, at least one image per class, and the
same draw ``load_labelled(max_samples=...)`` makes, so a bench task's share is nested in its scored sample
and a Ray worker reading the folder with that size reads the same images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo.api.verify import screen_share, screen_size
from zoo.data import load_labelled


def _folder(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(np.full((4, 4, 3), i, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.5])
def test_the_share_is_the_balanced_draw_of_its_size_and_nested_in_a_larger_sample(tmp_path, fraction):
    folder = _folder(tmp_path, {"a": 30, "b": 12, "c": 7})
    images = load_labelled(folder)
    part, rest = screen_share(images, fraction)
    size = screen_size(images, fraction)
    assert size == max(3, int(np.ceil(fraction * 49)))  # a tenth (rounded up), never fewer than the classes
    assert part.items == load_labelled(folder, max_samples=size).items
    assert set(part.items) <= set(load_labelled(folder, max_samples=size + 10).items)
    assert sorted(map(str, part.items + rest.items)) == sorted(map(str, images.items))
    assert set(part.labels) == {0, 1, 2}  # every class screened


def test_no_share_leaves_every_image_to_the_full_pass(tmp_path):
    images = load_labelled(_folder(tmp_path, {"a": 3, "b": 3}))
    part, rest = screen_share(images, 0.0)
    assert part.items == [] and rest.items == images.items
