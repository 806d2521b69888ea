"""Training augmentations: ``shift`` (the default, unchanged) and ``strong`` (seeded, in range, different)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from registry.errors import InvalidInput
from zoo.bench.arrays import IMAGENET_MEAN, IMAGENET_STD, to_tensor
from zoo.bench.training import AUGMENTATIONS, random_shift, strong_augment, train_classifier


def _batch(n: int = 16, seed: int = 0):
    """A normalised float32 batch [n, 3, 32, 32] of random uint8 images."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return to_tensor(images, IMAGENET_MEAN, IMAGENET_STD)


def _pixels(x):
    """Un-normalise [B, 3, H, W] back to pixel values."""
    import torch

    return x * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)


def test_strong_augmentation_is_seeded_keeps_shape_dtype_and_range_and_differs_from_shift():
    import torch

    torch.set_num_threads(1)
    x = _batch()
    first = strong_augment(x, torch.Generator().manual_seed(3))
    again = strong_augment(x, torch.Generator().manual_seed(3))
    other = strong_augment(x, torch.Generator().manual_seed(4))
    shifted = random_shift(x, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert first.shape == x.shape and first.dtype == x.dtype == torch.float32
    pixels = _pixels(first)
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    assert not torch.allclose(first, shifted)
    assert not torch.allclose(first, x)
    assert torch.equal(x, _batch())  # the input is left as it was


def _tiny_model():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)
    )


def _train(**kwargs) -> dict:
    """State dict of a tiny classifier after 3 steps on 40 random images (batch 8)."""
    images = np.random.default_rng(1).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(40, dtype=np.int64) % 3
    model = _tiny_model()
    train_classifier(model, images, labels, steps=3, batch_size=8, seed=5, progress=False, **kwargs)
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_default_augmentation_is_the_random_shift_bit_for_bit_and_strong_trains_differently():
    import torch

    torch.set_num_threads(1)
    assert AUGMENTATIONS[0] == "shift"
    default, shift, strong = _train(), _train(augment="shift"), _train(augment="strong")
    assert all(torch.equal(default[k], shift[k]) for k in default)
    assert not all(torch.equal(default[k], strong[k]) for k in default)
    assert all(torch.equal(a, b) for a, b in zip(strong.values(), _train(augment="strong").values()))


def test_an_unknown_augmentation_names_the_parameter():
    with pytest.raises(InvalidInput) as err:
        _train(augment="mixup")
    assert "augment=" in str(err.value)


def test_train_probe_records_its_augmentation(tmp_path):
    import torch

    from zoo.bench.probe import train_probe
    from zoo.collections import catalogue, render_tasks

    torch.set_num_threads(1)
    spec = next(s for s in catalogue(0)["probe"] if s.collection == "fashion")
    folders = render_tasks(tmp_path / "tasks", [spec], train_per_class=3, test_per_class=2, progress=False)
    record = train_probe(folders, tmp_path / "probe", steps=1, progress=False, augment="strong")
    assert record["made"]["augment"] == "strong"
    assert "random erasing" in record["made"]["optimiser"]
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["made"]["augment"] == "strong"
