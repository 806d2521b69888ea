"""Images to model-ready tensor batches: a network's timm data config, its eval transform, batching.

A shared leaf: :mod:`zoo.data` (labelled images) and :mod:`zoo.networks`
(feature extraction) both use it, and it imports neither. torch, timm and PIL
are imported by the functions that use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from registry.errors import InvalidInput

__all__ = ["data_config", "rgb_image", "tensor_batches", "transform_for"]


def rgb_image(image):
    """A PIL RGB image from a PIL image, HxW(xC) uint8 array, or [C, H, W] float/uint8 tensor."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    import numpy as np

    if hasattr(image, "detach"):  # torch tensor [C, H, W] or [H, W]
        array = image.detach().cpu().numpy()
        if array.ndim == 3:
            array = np.moveaxis(array, 0, -1)
    else:
        array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(array * 255.0 if array.max() <= 1.0 else array, 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3):
        raise InvalidInput(f"cannot read an image of shape {array.shape}; give HxW or HxWxC images")
    return Image.fromarray(array).convert("RGB")


def data_config(model) -> dict:
    """timm's resolved data config of ``model`` (input_size, mean, std, interpolation, crop)."""
    from timm.data import resolve_model_data_config

    return dict(resolve_model_data_config(model))


def transform_for(model) -> Callable:
    """timm's eval transform for ``model``'s data config; images are converted to RGB first."""
    from timm.data import create_transform

    inner = create_transform(**data_config(model), is_training=False)

    def transform(image):
        return inner(rgb_image(image))

    return transform


def tensor_batches(
    dataset, model, *, batch_size: int = 64, indices: Sequence[int] | None = None
) -> Iterator[tuple[Any, Any]]:
    """Batches ``(images [B, 3, H, W] float32, labels [B] int64)`` of ``dataset``.

    PIL images (and arrays) go through :func:`transform_for`; tensors of shape
    [3, H, W] are taken as already transformed.
    """
    import torch

    transform = None
    order = range(len(dataset)) if indices is None else indices
    images, labels = [], []
    for i in order:
        image, label = dataset[i]
        if not (torch.is_tensor(image) and image.dim() == 3 and image.shape[0] == 3):
            transform = transform or transform_for(model)
            image = transform(image)
        images.append(image.float())
        labels.append(int(label))
        if len(images) == batch_size:
            yield torch.stack(images), torch.tensor(labels, dtype=torch.long)
            images, labels = [], []
    if images:
        yield torch.stack(images), torch.tensor(labels, dtype=torch.long)
