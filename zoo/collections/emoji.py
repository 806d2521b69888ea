"""Emoji tasks from fonts-noto-color-emoji and unicode-data's emoji-test.txt.

One task per Unicode subgroup with at least ``MIN_EMOJI`` fully-qualified
emoji (skin-tone variants dropped: they differ only in colour and would make
classes that are copies of each other). Taxonomy: group / subgroup.
NotoColorEmoji is a CBDT bitmap font, so it renders only at its strike size
(109 px) with ``embedded_color=True``; images are shrunk afterwards.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from zoo.collections.augment import affine_jitter, finish
from zoo.collections.tasks import TaskSpec, safe_name

EMOJI_TEST = Path("/usr/share/unicode/emoji/emoji-test.txt")
EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
STRIKE = 109
MIN_EMOJI = 5
MAX_EMOJI = 20
COLLECTION = "emoji"
_SKIN_TONES = {"1F3FB", "1F3FC", "1F3FD", "1F3FE", "1F3FF"}


def parse_emoji_test(path: Path = EMOJI_TEST) -> list[tuple[str, str, str]]:
    """[(group, subgroup, emoji string)] of fully-qualified emoji without skin tones."""
    if not path.exists():
        from registry.errors import InvalidInput

        raise InvalidInput(f"{path} is missing; install the Debian package unicode-data")
    out = []
    group = subgroup = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line and group != "Component":
            cps = line.split(";")[0].split()
            if _SKIN_TONES.isdisjoint(cps):
                out.append((group, subgroup, "".join(chr(int(c, 16)) for c in cps)))
    return out


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.FreeTypeFont:
    if not EMOJI_FONT.exists():
        from registry.errors import InvalidInput

        raise InvalidInput(f"{EMOJI_FONT} is missing; install the Debian package fonts-noto-color-emoji")
    return ImageFont.truetype(str(EMOJI_FONT), STRIKE)


def _single_glyph(text: str) -> bool:
    """True when the font draws ``text`` as one glyph (a sequence it knows)."""
    box = _font().getbbox(text)
    width, height = box[2] - box[0], box[3] - box[1]
    return 0 < width <= 1.3 * STRIKE and height > 0


def emoji_specs(seed: int = 0) -> list[TaskSpec]:
    """One spec per subgroup with at least MIN_EMOJI single-glyph emoji."""
    by_sub: dict[tuple[str, str], list[str]] = {}
    for group, subgroup, text in parse_emoji_test():
        if _single_glyph(text):
            by_sub.setdefault((group, subgroup), []).append(text)
    specs = []
    for (group, subgroup), items in sorted(by_sub.items()):
        if len(items) < MIN_EMOJI:
            continue
        if len(items) > MAX_EMOJI:
            keep = set(random.Random(f"{seed}:{subgroup}").sample(items, MAX_EMOJI))
            items = [text for text in items if text in keep]
        classes = tuple("-".join(f"{ord(c):x}" for c in text) for text in items)
        specs.append(
            TaskSpec(
                name=f"emoji-{safe_name(subgroup)}",
                collection=COLLECTION,
                taxonomy=(group, subgroup),
                classes=classes,
                payload=tuple(items),
            )
        )
    return specs


@functools.lru_cache(maxsize=4096)
def _clean(text: str) -> Image.Image:
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((80, 80), text, font=_font(), anchor="mm", embedded_color=True)
    box = canvas.getbbox() or (0, 0, 160, 160)
    return canvas.crop(box)


def render_emoji(spec: TaskSpec, index: int, split: str, rng: random.Random, count: int) -> list[Image.Image]:
    """``count`` augmented 32 px colour images of emoji ``index`` of ``spec``."""
    clean = _clean(spec.payload[index])
    out = []
    for _ in range(count):
        paper = tuple(rng.randint(150, 255) for _ in range(3))
        side = rng.randint(80, 108)
        factor = side / max(clean.size)
        glyph = clean.resize(
            (max(1, round(clean.size[0] * factor)), max(1, round(clean.size[1] * factor))), Image.BILINEAR
        )
        tile = Image.new("RGB", (128, 128), paper)
        tile.paste(glyph, ((128 - glyph.size[0]) // 2, (128 - glyph.size[1]) // 2), glyph)
        tile = affine_jitter(tile, rng, rotate=25.0, fill=paper)
        out.append(finish(tile, rng, blur=1.5, noise=18.0))
    return out
