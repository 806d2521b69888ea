"""The exact per-example Fisher against a slow per-example autograd loop (BackPACK style)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.batches import tensor_batches
from zoo.data import load_labelled
from zoo.embedding.fisher import fisher_diagonal, per_example_square_sums
from zoo.embedding.head import fit_head

from .reference import autograd_square_sums, fisher_diagonal_reference

RTOL = 1e-4  # fp32 forward/backward against an fp64-accumulated reference
ATOL_REL = 1e-7  # absolute floor, relative to the largest entry
SQUARES_RTOL = 1e-4  # one layer's per-example square sums, fp32
SQUARES_ATOL_REL = 1e-5  # the Gram form cancels in fp32 for the smallest filters


def _setup(probe, task):
    data = load_labelled(task)
    images = torch.cat([b for b, _ in tensor_batches(data, probe.model, batch_size=64)])
    with torch.no_grad():
        feats = probe.features(images).numpy()
    head, _ = fit_head(feats, np.asarray(data.labels), data.num_classes)
    return images, head


def _close(fast, slow):
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast, slow, rtol=RTOL, atol=ATOL_REL * np.abs(slow).max())


@pytest.mark.parametrize(
    "arch,kwargs,size",
    [
        ("resnet18", {}, 16),
        ("resnet34", {"layers": [1, 1, 1, 1], "channels": [4, 4, 8, 8], "stem_width": 4}, 16),
        ("mobilenetv3_small_050", {}, 32),
        ("convnext_atto", {"dims": [4, 8, 8, 16], "depths": [1, 1, 1, 1]}, 32),
    ],
)
def test_montecarlo_matches_per_example_loop(arch, kwargs, size, task, make_probe):
    probe = make_probe(arch, size, **kwargs)
    images, head = _setup(probe, task)
    images = images[:6]
    fast, labels = fisher_diagonal(probe, head, [images[:4], images[4:]], seed=1)
    slow = fisher_diagonal_reference(probe, head, images, labels=labels)
    assert np.all(slow >= 0) and slow.max() > 0
    _close(fast, slow)
    assert fast.shape[0] == probe.info.embedding_length


def test_expected_matches_per_example_loop(tiny_probe, task):
    images, head = _setup(tiny_probe, task)
    images = images[::4]
    fast, _ = fisher_diagonal(tiny_probe, head, [images[:3], images[3:]], method="expected")
    slow = fisher_diagonal_reference(tiny_probe, head, images, method="expected")
    _close(fast, slow)


def test_given_labels_are_used(tiny_probe, task):
    images, head = _setup(tiny_probe, task)
    labels = torch.zeros(images.shape[0], dtype=torch.long)
    _, used = fisher_diagonal(tiny_probe, head, [images], labels=labels)
    assert torch.equal(used, labels)


@pytest.mark.parametrize("path", [None, "explicit", "gram", "grouped"])
@pytest.mark.parametrize("groups,kernel,stride,size", [(1, 3, 1, 6), (2, 3, 2, 7), (4, 1, 1, 5), (4, 3, 1, 9)])
def test_square_sums_every_path_agrees_with_autograd(groups, kernel, stride, size, path):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 8, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False)
    x = torch.randn(3, 4, size, size)
    grad_out = torch.randn_like(conv(x))
    got = per_example_square_sums(conv, x, grad_out, path=path)
    want = autograd_square_sums(conv, x, grad_out)
    np.testing.assert_allclose(got.numpy(), want, rtol=SQUARES_RTOL, atol=SQUARES_ATOL_REL * want.max())


def test_linear_on_tokens_matches_autograd():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 3, bias=False)
    x = torch.randn(2, 4, 4, 5)
    grad_out = torch.randn(2, 4, 4, 3)
    expected = []
    for n in range(2):
        (g,) = torch.autograd.grad(lin(x[n : n + 1]), lin.weight, grad_out[n : n + 1])
        expected.append((g**2).sum(1))
    got = per_example_square_sums(lin, x, grad_out)
    np.testing.assert_allclose(got.numpy(), torch.stack(expected).detach().numpy(), rtol=1e-4, atol=1e-6)
