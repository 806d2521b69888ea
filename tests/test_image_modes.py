"""Images of every PIL mode become the 8-bit RGB the docs promise (zoo.batches.pil_to_rgb).

Each conversion is checked against a slow pixel-by-pixel twin written from the rule in
docs/task2vec.md; 8-bit modes must match Pillow's convert("RGB") byte for byte (what zoo did
before, and what torchvision's ImageFolder loader does); 16-bit, 32-bit and float images keep
their contrast instead of being clipped to white.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from zoo import data
from zoo.batches import pil_to_rgb, rgb_image
from zoo.bench import arrays

EIGHT_BIT_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr")


def _twin(image: Image.Image) -> np.ndarray:
    """The documented rule, one pixel at a time: uint8 [H, W, 3]."""
    mode = image.mode
    width, height = image.size
    pixels = [[image.getpixel((x, y)) for x in range(width)] for y in range(height)]
    if mode == "F":
        flat = [v for row in pixels for v in row if math.isfinite(v)]
        scale = 255.0 if not flat or max(flat) <= 1.0 else 1.0
    palette = image.getpalette() if mode in ("P", "PA") else None
    out = np.zeros((height, width, 3), np.uint8)
    for y in range(height):
        for x in range(width):
            v = pixels[y][x]
            if mode == "I" or mode.startswith("I;16"):
                rgb = (min(max(v, 0), 65535) // 256,) * 3
            elif mode == "F":
                rgb = (int(min(max((0.0 if math.isnan(v) else v * scale), 0.0), 255.0)),) * 3
            elif mode == "1":
                rgb = (255 if v else 0,) * 3
            elif mode == "L":
                rgb = (v,) * 3
            elif mode == "LA":  # alpha dropped
                rgb = (v[0],) * 3
            elif mode == "P":  # transparency dropped: the palette colour
                rgb = tuple(palette[3 * v : 3 * v + 3])
            elif mode == "PA":
                rgb = tuple(palette[3 * v[0] : 3 * v[0] + 3])
            elif mode in ("RGB", "RGBA"):  # alpha dropped: the colour under a transparent pixel stays
                rgb = v[:3]
            elif mode == "CMYK":  # Pillow's cmyk2rgb
                nk = 255 - v[3]
                rgb = tuple(nk - (((t := c * nk + 128) >> 8) + t >> 8) for c in v[:3])
            else:
                raise AssertionError(f"no twin for mode {mode}")
            out[y, x] = rgb
    return out


def _tiny(mode: str) -> Image.Image:
    """A 4x3 image of ``mode`` whose values cover the mode's range (and then some, for I and F)."""
    rng = np.random.default_rng(sum(map(ord, mode)))
    shape = (3, 4)
    if mode.startswith("I;16"):
        values = np.array([[0, 1, 255, 256], [257, 1000, 32768, 40000], [65280, 65534, 65535, 12345]], np.uint16)
        image = Image.new(mode, (4, 3))
        for (y, x), v in np.ndenumerate(values):
            image.putpixel((x, y), int(v))
        return image
    if mode == "I":
        return Image.fromarray(
            np.array([[-5, 0, 255, 256], [65535, 65536, 2**31 - 1, 1000], [7, 300, 40000, 9]], np.int32)
        )
    if mode == "F":
        return Image.fromarray(np.array([[0, 0.5, 1.0, 0.25], [0.1, 0.999, 0.004, 0.75], [0, 1, 0.5, 0.3]], np.float32))
    if mode == "1":
        return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).convert("1")
    if mode in ("P", "PA"):
        image = Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).convert("P", palette=Image.ADAPTIVE)
        if mode == "PA":
            image = image.convert("PA")
        else:
            image.info["transparency"] = int(image.getpixel((0, 0)))
        return image
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3}[mode]
    values = rng.integers(0, 256, (*shape, channels), dtype=np.uint8)
    if mode in ("LA", "RGBA"):
        values[0, :, -1] = 0  # fully transparent pixels over a non-black colour
    return Image.frombytes(mode, (4, 3), values.tobytes())


@pytest.mark.parametrize("mode", ["L", "LA", "P", "PA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F", "1", "CMYK"])
def test_every_mode_converts_to_the_documented_uint8_rgb(mode):
    image = _tiny(mode)
    assert image.mode == mode
    out = pil_to_rgb(image)
    assert out.mode == "RGB" and out.size == image.size
    assert np.array_equal(np.asarray(out), _twin(image))
    assert np.array_equal(np.asarray(rgb_image(image)), _twin(image))


def test_the_twin_matches_the_rule_on_chosen_values():
    """The twin itself, on values worked by hand: 16-bit >> 8, I clipped to 16 bits, F in [0, 1] times 255."""
    assert _twin(_tiny("I;16"))[..., 0].tolist() == [[0, 0, 0, 1], [1, 3, 128, 156], [255, 255, 255, 48]]
    assert _twin(_tiny("I"))[..., 0].tolist() == [[0, 0, 0, 1], [255, 255, 255, 3], [0, 1, 156, 0]]
    assert _twin(_tiny("F"))[..., 0].tolist() == [[0, 127, 255, 63], [25, 254, 1, 191], [0, 255, 127, 76]]
    assert _twin(Image.new("CMYK", (1, 1), (10, 20, 30, 40)))[0, 0].tolist() == [207, 198, 190]


def test_an_infinite_pixel_does_not_decide_a_float_images_scale():
    image = Image.fromarray(np.array([[float("inf"), 0.5, float("-inf"), 1.0]], np.float32))
    assert np.asarray(pil_to_rgb(image))[0, :, 0].tolist() == [255, 127, 0, 255]
    assert np.array_equal(np.asarray(pil_to_rgb(image)), _twin(image))


def test_float_images_above_one_are_clipped_and_nan_is_black():
    image = Image.fromarray(np.array([[-3.0, 2.0, 128.6, 300.0, float("nan")]], np.float32))
    assert np.asarray(pil_to_rgb(image))[0, :, 0].tolist() == [0, 2, 128, 255, 0]
    assert np.array_equal(np.asarray(pil_to_rgb(image)), _twin(image))


@pytest.mark.parametrize("mode", EIGHT_BIT_MODES)
def test_8_bit_images_are_what_convert_rgb_gave(mode):
    image = _tiny(mode)
    assert pil_to_rgb(image).tobytes() == image.convert("RGB").tobytes()


def _sixteen_bit_png(path, level: int, size: int = 32) -> None:
    """A 16-bit grayscale PNG: a ramp over the full 0-65535 range, shifted per class by ``level``."""
    ramp = np.linspace(0, 65535, size * size).reshape(size, size)
    values = ((ramp + level * 20000) % 65536).astype(np.uint16)
    Image.fromarray(values).save(path)


def test_a_16_bit_png_folder_keeps_its_contrast(tmp_path):
    for c, name in enumerate(("a", "b", "c")):
        (tmp_path / name).mkdir()
        for i in range(3):
            _sixteen_bit_png(tmp_path / name / f"{i}.png", c)
    with Image.open(tmp_path / "a" / "0.png") as image:
        assert image.mode == "I;16"
    labelled = data.load_labelled(tmp_path)
    pixels = [np.asarray(labelled.image(i)) for i in range(len(labelled))]
    for image in pixels:
        assert image.dtype == np.uint8 and image.shape == (32, 32, 3)
        assert image.min() == 0 and image.max() == 255 and len(np.unique(image)) > 200  # not blank white
    firsts = {labelled.labels[i]: pixels[i] for i in range(len(labelled))}
    assert not np.array_equal(firsts[0], firsts[1]) and not np.array_equal(firsts[1], firsts[2])


def test_8_bit_pngs_read_as_before(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for i, mode in enumerate(("1", "L", "LA", "P", "RGB", "RGBA")):  # the 8-bit modes PNG holds
        image = _tiny(mode)
        image.save(tmp_path / ("a", "b")[i % 2] / f"{i}.png")
    labelled = data.load_labelled(tmp_path)
    for i, path in enumerate(labelled.items):
        with Image.open(path) as image:
            before = image.convert("RGB")
        assert labelled.image(i).tobytes() == before.tobytes()


def _bench_task(root, make):
    for split in ("train", "test"):
        for c, name in enumerate(("a", "b")):
            (root / split / name).mkdir(parents=True)
            for i in range(2):
                make(root / split / name / f"{i}.png", c)
    return root


def test_the_bench_decodes_16_bit_pngs_by_their_range(tmp_path):
    folder = _bench_task(tmp_path / "task", _sixteen_bit_png)
    images, labels = arrays.load_split(folder, "train")
    assert images.dtype == np.uint8 and images.shape == (4, 32, 32, 3)
    assert images.min() == 0 and images.max() == 255 and len(np.unique(images)) > 200
    with Image.open(folder / "train" / "a" / "0.png") as image:
        expected = np.asarray(image, dtype=np.uint16) >> 8
    assert np.array_equal(images[0, ..., 0], expected)


def test_the_bench_decodes_8_bit_pngs_as_convert_rgb_did(tmp_path):
    def make(path, c):
        _tiny(("L", "P", "RGB", "RGBA")[c * 2 + int(path.stem)]).resize((4, 3)).save(path)

    folder = _bench_task(tmp_path / "task", make)
    images, _ = arrays.load_split(folder, "train")
    for image, path in zip(images, sorted((folder / "train").rglob("*.png"))):
        with Image.open(path) as original:
            assert np.array_equal(image, np.asarray(original.convert("RGB"), dtype=np.uint8))


def test_a_split_cached_by_the_old_clipping_rule_is_decoded_again(tmp_path):
    folder = _bench_task(tmp_path / "task", _sixteen_bit_png)
    fresh, labels = arrays.load_split(folder, "train")
    cache = next(arrays.cache_directory().glob("*.npz"))
    with np.load(cache) as stored:
        fingerprint = str(stored["fingerprint"])
    old = fingerprint.split("\0")[0]  # what the cache held before DECODE_RULE: the files' fingerprint alone
    np.savez(cache, images=np.full_like(fresh, 255), labels=labels, fingerprint=np.asarray(old))
    images, _ = arrays.load_split(folder, "train")
    assert np.array_equal(images, fresh)


def test_uint16_arrays_follow_the_16_bit_rule():
    values = np.array([[0, 255, 256, 65535]], np.uint16)
    assert np.asarray(rgb_image(values))[0, :, 0].tolist() == [0, 0, 1, 255]
