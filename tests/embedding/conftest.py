"""Tiny probes and tiny synthetic tasks for the Task2Vec tests."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

TINY_RESNET = {"layers": [1, 1, 1, 1], "channels": [4, 8, 8, 16], "stem_width": 4}


def make_tiny_probe(arch: str = "resnet18", size: int = 16, **kwargs):
    """A random-init timm model with BatchNorm statistics moved off init, eval mode, input size ``size``."""
    torch.manual_seed(0)
    args = TINY_RESNET if arch.startswith("resnet") and not kwargs else kwargs
    model = timm.create_model(arch, num_classes=3, **args)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, size, size))
    model.eval()
    model.pretrained_cfg = {
        **model.pretrained_cfg,
        "input_size": (3, size, size),
        "crop_pct": 1.0,
        "architecture": arch,
    }
    return model


class SyntheticTask(torch.utils.data.Dataset):
    """Class c: a noisy image whose brightness pattern depends on c; ``shuffle`` scrambles labels."""

    def __init__(self, n_per_class=8, classes=3, size=16, seed=0, random_labels=False, permutation=None):
        rng = np.random.default_rng(seed)
        self.classes = [f"c{i}" for i in range(classes)]
        self.items = []
        for c in range(classes):
            for _ in range(n_per_class):
                base = np.zeros((size, size, 3))
                base[:, : (c + 1) * size // (classes + 1), c % 3] = 200.0
                img = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
                self.items.append((img, c))
        labels = [y for _, y in self.items]
        if random_labels:
            labels = list(rng.permutation(labels))
        if permutation is not None:
            labels = [permutation[y] for y in labels]
        self.targets = labels

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i][0], self.targets[i]


@pytest.fixture
def tiny_probe():
    from zoo.embedding.probe import resolve_probe

    return resolve_probe(make_tiny_probe(), allow_random=True)


@pytest.fixture
def task():
    return SyntheticTask()


@pytest.fixture
def make_probe():
    """Factory: ``make_probe(arch, size, **timm_kwargs)`` -> a resolved tiny random probe."""
    from zoo.embedding.probe import resolve_probe

    def build(arch="resnet18", size=16, **kwargs):
        return resolve_probe(make_tiny_probe(arch, size, **kwargs), allow_random=True)

    return build


@pytest.fixture
def synthetic_task():
    """The :class:`SyntheticTask` class, for tests that need several variants."""
    return SyntheticTask


def write_task_folder(root, *, classes=3, per_class=6, size=16, seed=0, shift=0):
    """An ImageFolder of PNGs made from :class:`SyntheticTask` (``shift`` rolls the class patterns)."""
    from PIL import Image

    data = SyntheticTask(n_per_class=per_class, classes=classes, size=size, seed=seed)
    for i, (image, label) in enumerate(data.items):
        folder = root / f"class{(label + shift) % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
    return root


@pytest.fixture
def probe_file(tmp_path):
    """A tiny random-weight probe saved as safetensors, with its description alongside."""
    import json

    from safetensors.torch import save_file

    model = make_tiny_probe()
    path = tmp_path / "probe.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    (tmp_path / "probe.json").write_text(
        json.dumps({"arch": "resnet18", "model_args": TINY_RESNET, "input_size": [3, 16, 16], "crop_pct": 1.0})
    )
    return path


@pytest.fixture
def random_probe_file(tmp_path):
    """Like ``probe_file`` but never trained at all (BatchNorm at init): refused without allow_random."""
    import json

    from safetensors.torch import save_file

    model = timm.create_model("resnet18", num_classes=3, **TINY_RESNET)
    path = tmp_path / "random.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    (tmp_path / "random.json").write_text(
        json.dumps({"arch": "resnet18", "model_args": TINY_RESNET, "input_size": [3, 16, 16], "crop_pct": 1.0})
    )
    return path


@pytest.fixture
def task_folder():
    """Factory: ``task_folder(root, seed=..., shift=...)`` writes an ImageFolder of PNGs and returns it."""
    return write_task_folder
