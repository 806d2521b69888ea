"""Images to model-ready tensor batches: a network's timm data config, its eval transform, batching.

A shared leaf: :mod:`zoo.data` (labelled images) and :mod:`zoo.networks`
(feature extraction) both use it, and it imports neither. torch, timm and PIL
are imported by the functions that use them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from registry.errors import InvalidInput

__all__ = ["data_config", "pil_to_rgb", "rgb_image", "tensor_batches", "transform_for"]


def pil_to_rgb(image):
    """A PIL image of any mode as an 8-bit RGB PIL image: the one rule every image zoo reads goes through.

    - 16-bit grayscale (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``): each value shifted right by 8 bits
      (0-65535 to 0-255), as Pillow reads the channels of a 16-bit RGB PNG;
    - ``I`` (32-bit integer): read on the same 16-bit scale (values below 0 become 0, above 65535 become
      255), the scale of the 16-bit PNG and TIFF files older Pillow versions open as ``I``;
    - ``F`` (float): the rule of float arrays in :func:`rgb_image`: times 255 when no finite value exceeds
      1, else clipped to 0-255; then truncated to an integer (NaN becomes 0, +inf 255, -inf 0);
    - every other mode (``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``LA``, ``RGBA``, ``PA``, ...): Pillow's
      ``convert("RGB")``, exactly what torchvision's ImageFolder loader does; alpha is dropped, so a
      transparent pixel keeps the colour stored under it.
    """
    mode = image.mode
    if mode != "I" and mode != "F" and not mode.startswith("I;16"):
        return image.convert("RGB")
    import numpy as np
    from PIL import Image

    values = np.asarray(image)
    if mode == "F":
        gray = _float_to_uint8(values)
    else:  # 16-bit or 32-bit integer: the 16-bit scale, top 8 bits
        gray = (np.clip(values, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
    return Image.fromarray(np.repeat(gray[..., None], 3, axis=-1))


def _float_to_uint8(array):
    """Floats to uint8: times 255 when no finite value exceeds 1, else clipped to 0-255; truncated; NaN is 0,
    +inf 255 and -inf 0 (an infinite pixel does not decide the scale of the rest)."""
    import numpy as np

    array = np.asarray(array, dtype=np.float64)
    finite = array[np.isfinite(array)]
    scale = 255.0 if finite.size == 0 or finite.max() <= 1.0 else 1.0
    return np.clip(np.nan_to_num(array * scale, nan=0.0, posinf=255.0, neginf=0.0), 0, 255).astype(np.uint8)


def rgb_image(image):
    """A PIL RGB image from a PIL image (:func:`pil_to_rgb`), HxW(xC) array, or [C, H, W] float/uint8 tensor.

    Arrays: uint8 as they are, uint16 by the 16-bit rule of :func:`pil_to_rgb`, floats by its float rule,
    other integers as floats (times 255 when no finite value exceeds 1, else clipped to 0-255).
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        return pil_to_rgb(image)
    import numpy as np

    if hasattr(image, "detach"):  # torch tensor [C, H, W] or [H, W]
        array = image.detach().cpu().numpy()
        if array.ndim == 3:
            array = np.moveaxis(array, 0, -1)
    else:
        array = np.asarray(image)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        array = _float_to_uint8(array)
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
