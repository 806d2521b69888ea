"""Writing-system tasks from Debian's fonts-noto-core: one task per script.

Each task classifies up to ``MAX_LETTERS`` letters of one Unicode script,
rendered from every Noto font of that script that Debian ships (sans, serif,
regular, bold, and the Arabic/Hebrew/Thai/Lao style variants) with strong
augmentation. The taxonomy is family / branch / script from
:mod:`zoo.collections.genealogy`.
"""

from __future__ import annotations

import functools
import random
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from zoo.collections.augment import affine_jitter, finish
from zoo.collections.genealogy import GENEALOGY, taxonomy_of
from zoo.collections.tasks import TaskSpec

FONT_DIR = Path("/usr/share/fonts/truetype/noto")
UNICODE_DIR = Path("/usr/share/unicode")
MIN_LETTERS = 10
MAX_LETTERS = 20
COLLECTION = "scripts"

#: scripts whose fonts carry a name other than the script's own
_FONT_STEMS = {
    "Latin": ("NotoSans", "NotoSerif"),
    "Greek": ("NotoSans", "NotoSerif"),
    "Cyrillic": ("NotoSans", "NotoSerif"),
    "Meroitic_Hieroglyphs": ("NotoSansMeroitic",),
    "Meroitic_Cursive": ("NotoSansMeroitic",),
    "Nko": ("NotoSansNKo",),
}
_WEIGHTS = ("Regular", "Bold")


def _require(path: Path, package: str) -> None:
    if not path.exists():
        from registry.errors import InvalidInput

        raise InvalidInput(f"{path} is missing; install the Debian package {package} (apt-get install {package})")


@functools.lru_cache(maxsize=1)
def unicode_letters() -> dict[str, list[tuple[int, str, str]]]:
    """Script -> [(code point, category, name)] for letters (Lu, Ll, Lo) of that script."""
    _require(UNICODE_DIR / "Scripts.txt", "unicode-data")
    names: dict[int, tuple[str, str]] = {}
    for line in (UNICODE_DIR / "UnicodeData.txt").read_text().splitlines():
        fields = line.split(";")
        if fields[2] in ("Lu", "Ll", "Lo") and not fields[1].startswith("<"):
            names[int(fields[0], 16)] = (fields[2], fields[1])
    out: dict[str, list[tuple[int, str, str]]] = {}
    pattern = re.compile(r"^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*(\w+)")
    for line in (UNICODE_DIR / "Scripts.txt").read_text().splitlines():
        match = pattern.match(line)
        if not match:
            continue
        lo = int(match.group(1), 16)
        hi = int(match.group(2), 16) if match.group(2) else lo
        for cp in range(lo, hi + 1):
            if cp in names:
                category, name = names[cp]
                out.setdefault(match.group(3), []).append((cp, category, name))
    return out


def font_files(script: str) -> list[Path]:
    """The regular and bold Noto fonts of ``script`` that are installed."""
    stems = _FONT_STEMS.get(script)
    camel = script.replace("_", "")
    found: list[Path] = []
    if stems:
        for stem in stems:
            found += [FONT_DIR / f"{stem}-{w}.ttf" for w in _WEIGHTS]
    else:
        for path in sorted(FONT_DIR.glob(f"Noto*{camel}-*.ttf")):
            prefix = path.stem.split("-")[0]
            if (
                re.fullmatch(rf"Noto(Sans|Serif|Looped|Kufi|Naskh|Nastaliq|Rashi|Traditional)?{camel}", prefix)
                and path.stem.split("-")[1] in _WEIGHTS
            ):
                found.append(path)
    return [p for p in found if p.exists()]


@functools.cache
def _cmap(path: Path) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def _pick_letters(script: str, fonts: list[Path], seed: int) -> list[int]:
    letters = unicode_letters().get(script, [])
    letters = [entry for entry in letters if " WITH " not in entry[2] and "LIGATURE" not in entry[2]]
    upper = [entry for entry in letters if entry[1] == "Lu"]
    if len(upper) >= MIN_LETTERS:  # a cased script: capitals only, no case pairs
        letters = upper
    covered = set.intersection(*(set(_cmap(f)) for f in fonts))
    cps = [cp for cp, _, _ in letters if cp in covered]
    cps = [cp for cp in cps[: 2 * MAX_LETTERS] if _visible(fonts[0], cp)]
    if len(cps) > MAX_LETTERS:
        cps = sorted(random.Random(f"{seed}:{script}").sample(cps, MAX_LETTERS))
    return cps


def _visible(font: Path, cp: int) -> bool:
    box = _font(font, 48).getbbox(chr(cp))
    return box[2] - box[0] > 2 and box[3] - box[1] > 2


@functools.lru_cache(maxsize=256)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def script_specs(seed: int = 0) -> list[TaskSpec]:
    """One spec per script of the genealogy with at least MIN_LETTERS renderable letters."""
    _require(FONT_DIR, "fonts-noto-core")
    specs = []
    for script in sorted(GENEALOGY):
        fonts = font_files(script)
        if not fonts:
            continue
        # a variant font covering far fewer letters than the first would shrink the task
        primary = len(_cmap(fonts[0]))
        fonts = [f for f in fonts if len(_cmap(f)) >= 0.5 * primary] or fonts[:1]
        cps = _pick_letters(script, fonts, seed)
        if len(cps) < MIN_LETTERS:
            continue
        specs.append(
            TaskSpec(
                name=f"script-{script.lower().replace('_', '-')}",
                collection=COLLECTION,
                taxonomy=taxonomy_of(script),
                classes=tuple(f"u{cp:04x}" for cp in cps),
                payload=tuple(cps),
                meta={"fonts": [f.name for f in fonts]},
            )
        )
    return specs


def render_glyph(spec: TaskSpec, index: int, split: str, rng: random.Random, count: int) -> list[Image.Image]:
    """``count`` augmented 32 px images of letter ``index`` of ``spec``."""
    char = chr(spec.payload[index])
    fonts = [FONT_DIR / name for name in spec.meta["fonts"]]
    out = []
    for _ in range(count):
        font = _font(rng.choice(fonts), 48)
        ink, paper = rng.randint(0, 90), rng.randint(170, 255)
        stroke = rng.choice((0, 0, 1, 2))
        canvas = Image.new("L", (128, 128), 255)
        draw = ImageDraw.Draw(canvas)
        draw.text((64, 64), char, font=font, fill=0, anchor="mm", stroke_width=stroke, stroke_fill=0)
        box = Image.eval(canvas, lambda v: 255 - v).getbbox() or (0, 0, 128, 128)
        glyph = canvas.crop(box)
        side = rng.randint(40, 52)
        factor = side / max(glyph.size)
        glyph = glyph.resize(
            (max(1, round(glyph.size[0] * factor)), max(1, round(glyph.size[1] * factor))), Image.BILINEAR
        )
        tile = Image.new("L", (64, 64), 255)
        tile.paste(glyph, ((64 - glyph.size[0]) // 2, (64 - glyph.size[1]) // 2))
        tile = affine_jitter(tile, rng, fill=255)
        # map black/white to ink/paper grey levels
        tile = Image.eval(tile, lambda v, i=ink, p=paper: i + (p - i) * v // 255)
        out.append(finish(tile, rng))
    return out
