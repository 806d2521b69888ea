"""One small handler per filter-layer type, chosen from a dict by the layer's type.

As BackPACK's ``module_exts={Linear: ..., Conv2d: ...}``: instead of
isinstance chains in each estimator, a handler says, for its layer type, how
to see the layer as a matmul (the exact Fisher's per-example square sums,
:mod:`zoo.embedding.fisher`) and how to apply it to x^2 with a per-weight
variance (the robust Fisher's local reparameterisation,
:mod:`zoo.embedding.variational`). timm's ``Conv2dSame`` (TF "same" padding
computed per input) is a Conv2d whose input is padded first; its handler is the
only place that padding is written.

Imports torch and timm: import this module inside the functions that use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame, pad_same
from torch import nn

__all__ = ["LAYER_HANDLERS", "Conv2dHandler", "Conv2dSameHandler", "LinearHandler", "handler_for"]


class LinearHandler:
    """``nn.Linear`` on inputs [N, ..., I]: the k = 1 case of a convolution, one group."""

    #: the forms :func:`zoo.embedding.fisher.per_example_square_sums` may take for this layer
    paths = ("explicit", "gram")

    @staticmethod
    def output_grads(module: nn.Module, grad_out: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(output gradients [N, O, L], groups)."""
        n = grad_out.shape[0]
        return grad_out.reshape(n, -1, grad_out.shape[-1]).transpose(1, 2), 1

    @staticmethod
    def unfolded(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Layer input as matmul operands: X [N, 1, I, L], groups 1."""
        n = x.shape[0]
        cols = x.reshape(n, -1, x.shape[-1]).transpose(1, 2)  # [N, I, L]
        return cols.unsqueeze(1), 1

    @staticmethod
    def spread(module: nn.Module, x_squared: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """The layer applied to x^2 with weight ``variance`` (same shape as the weight), no bias."""
        return F.linear(x_squared, variance)


class Conv2dHandler:
    """``nn.Conv2d`` (grouped, strided, dilated; numeric or string padding)."""

    paths = ("explicit", "gram", "grouped")

    @staticmethod
    def padded(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int | tuple | str]:
        """(input, padding) as ``F.conv2d`` takes them: the layer's own padding."""
        return x, module.padding

    @classmethod
    def explicit_padding(cls, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int | tuple]:
        """(input, padding) with string paddings ("valid", "same") made numeric, for unfold and conv2d_weight."""
        x, padding = cls.padded(module, x)
        if padding == "valid":
            return x, 0
        if padding == "same":  # as PyTorch pads it: d (k - 1) in all, the odd one on the right and at the bottom
            total = [d * (k - 1) for k, d in zip(module.kernel_size, module.dilation, strict=True)]
            if all(t % 2 == 0 for t in total):
                return x, tuple(t // 2 for t in total)
            (th, tw) = total
            return F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2)), 0
        return x, padding

    @staticmethod
    def output_grads(module: nn.Module, grad_out: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(output gradients [N, O, L], groups), L = Ho * Wo."""
        return grad_out.flatten(2), module.groups

    @classmethod
    def unfolded(cls, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Layer input as matmul operands: X [N, G, K, L] (K = fan-in per group), groups G."""
        x, padding = cls.explicit_padding(module, x)
        groups = module.groups
        if tuple(module.dilation) == (1, 1):
            # strided views and one copy: F.unfold launches one kernel per example on GPUs
            pad = (padding, padding) if isinstance(padding, int) else tuple(padding)
            if any(pad):
                x = F.pad(x, (pad[1], pad[1], pad[0], pad[0]))
            (kh, kw), (sh, sw) = module.kernel_size, module.stride
            patches = x.unfold(2, kh, sh).unfold(3, kw, sw)  # [N, C, Ho, Wo, kh, kw]
            n, c, ho, wo = patches.shape[:4]
            cols = patches.permute(0, 1, 4, 5, 2, 3).reshape(n, groups, (c // groups) * kh * kw, ho * wo)
            return cols, groups
        cols = F.unfold(x, module.kernel_size, dilation=module.dilation, padding=padding, stride=module.stride)
        return cols.reshape(cols.shape[0], groups, cols.shape[1] // groups, cols.shape[2]), groups

    @classmethod
    def grouped_square_sums(cls, module: nn.Module, x: torch.Tensor, grad_out: torch.Tensor, step: int) -> torch.Tensor:
        """Per-example, per-filter square sums [N, O] as one grouped weight-gradient conv (batch as groups).

        x [N, C, H, W] -> [1, N*C, H, W], grad_out [N, O, Ho, Wo] -> [1, N*O, Ho, Wo]; the weight
        gradient of a conv with N*G groups is every example's own gradient [N*O, C/G, k, k].
        Uses the backend's convolution kernels instead of unfolding the input (cuDNN on GPUs).
        """
        x, padding = cls.explicit_padding(module, x)
        out_channels, in_per_group = module.weight.shape[:2]
        result = []
        for s in range(0, x.shape[0], step):
            xs, gs = x[s : s + step], grad_out[s : s + step]
            n = xs.shape[0]
            grads = torch.nn.grad.conv2d_weight(
                xs.reshape(1, n * xs.shape[1], *xs.shape[2:]),
                (n * out_channels, in_per_group, *module.kernel_size),
                gs.reshape(1, n * out_channels, *gs.shape[2:]),
                module.stride,
                padding,
                module.dilation,
                module.groups * n,
            )
            result.append(grads.reshape(n, out_channels, -1).pow(2).sum(-1))
        return torch.cat(result)

    @classmethod
    def spread(cls, module: nn.Module, x_squared: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """The layer applied to x^2 with weight ``variance`` (same shape as the weight), no bias."""
        x_squared, padding = cls.padded(module, x_squared)
        return F.conv2d(x_squared, variance, None, module.stride, padding, module.dilation, module.groups)


class Conv2dSameHandler(Conv2dHandler):
    """timm's ``Conv2dSame``: the input is padded ("same", per input size) before an unpadded conv."""

    @staticmethod
    def padded(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(input padded as the layer pads it, padding 0). Zero padding commutes with squaring the input."""
        return pad_same(x, module.kernel_size, module.stride, module.dilation), 0


#: layer type -> handler; a subclass takes its nearest listed ancestor's handler (see :func:`handler_for`)
LAYER_HANDLERS: dict[type, type] = {nn.Linear: LinearHandler, nn.Conv2d: Conv2dHandler, Conv2dSame: Conv2dSameHandler}


def handler_for(module: nn.Module) -> type:
    """The handler of ``module``'s type, or of its nearest base class listed in :data:`LAYER_HANDLERS`."""
    for cls in type(module).__mro__:
        handler = LAYER_HANDLERS.get(cls)
        if handler is not None:
            return handler
    raise TypeError(
        f"no Fisher handler for layer type {type(module).__name__}; "
        f"handled: {', '.join(t.__name__ for t in LAYER_HANDLERS)}"
    )
