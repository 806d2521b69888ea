"""Per-example square sums of the layer shapes the existing autograd test leaves out: dilated convolutions,
rectangular kernels with unequal padding and stride, string padding ("same", "valid") and timm's Conv2dSame
(TF "same" padding, asymmetric for some sizes), every path, against one autograd call per example."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from timm.layers import Conv2dSame

from zoo.embedding.fisher import per_example_square_sums

from .reference import autograd_square_sums

# PyTorch warns that an even kernel with padding="same" pads one side more: that is the case tested here
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

SQUARES_RTOL = 1e-4  # one layer's per-example square sums, fp32
SQUARES_ATOL_REL = 1e-5  # the Gram form cancels in fp32 for the smallest filters

LAYERS = {
    "dilated": lambda: torch.nn.Conv2d(4, 6, 3, padding=2, dilation=2, bias=False),
    "dilated-strided-grouped": lambda: torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2, bias=False),
    "dilated-k2-asymmetric-padding": lambda: torch.nn.Conv2d(4, 6, (2, 3), padding=(1, 2), dilation=(2, 1), bias=False),
    "rect-kernel-uneven-padding-stride": lambda: torch.nn.Conv2d(
        4, 6, (1, 3), stride=(1, 2), padding=(0, 1), bias=False
    ),
    "same-k3": lambda: torch.nn.Conv2d(4, 6, 3, padding="same", bias=False),
    "same-k3-dilated": lambda: torch.nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2, bias=False),
    "same-k5-dilated": lambda: torch.nn.Conv2d(4, 6, 5, padding="same", dilation=2, bias=False),
    "valid-dilated": lambda: torch.nn.Conv2d(4, 6, 3, padding="valid", dilation=2, bias=False),
    "timm-same-stride2": lambda: Conv2dSame(4, 6, 3, stride=2, bias=False),
    "timm-same-k4": lambda: Conv2dSame(4, 6, 4, bias=False),
    "timm-same-dilated-grouped": lambda: Conv2dSame(4, 6, 3, stride=2, dilation=2, groups=2, bias=False),
    # an even span d (k - 1) pads one more on the right and at the bottom, as PyTorch does
    "same-k2": lambda: torch.nn.Conv2d(4, 6, 2, padding="same", bias=False),
    "same-k2x3": lambda: torch.nn.Conv2d(4, 6, (2, 3), padding="same", bias=False),
    "same-k4x1-dilated-1x3": lambda: torch.nn.Conv2d(4, 6, (4, 1), padding="same", dilation=(1, 3), bias=False),
    "same-k3-dilated-1x2": lambda: torch.nn.Conv2d(4, 6, 3, padding="same", dilation=(1, 2), bias=False),
}


@pytest.mark.parametrize("path", [None, "explicit", "gram", "grouped"])
@pytest.mark.parametrize("size", [7, 8])  # odd and even inputs: TF "same" pads asymmetrically for one of them
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_square_sums_of_dilated_and_same_padded_convs_agree_with_autograd(layer, size, path):
    torch.manual_seed(0)
    conv = LAYERS[layer]()
    x = torch.randn(3, 4, size, size)
    grad_out = torch.randn_like(conv(x))
    want = autograd_square_sums(conv, x, grad_out)
    got = per_example_square_sums(conv, x, grad_out, path=path)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=SQUARES_RTOL, atol=SQUARES_ATOL_REL * want.max())
