"""Selection on glyph tasks from sources the bench never used: DejaVu and Liberation fonts, own rendering.

    python benchmarks/fresh_sources.py render OUT                  # 24 task folders under OUT (about 1 min)
    zoo --db sqlite:///fresh.db import zoo/assets/zoo.jsonl.gz      # the shipped zoo
    for d in OUT/fresh-*; do zoo --db sqlite:///fresh.db embed-task $(basename $d) --data $d; done
    ZOO_BENCH_ROOT=DIR zoo --db sqlite:///fresh.db evaluate --all --tasks 'fresh-*'     # the ground truth
    ZOO_BENCH_ROOT=DIR python benchmarks/fresh_sources.py judge sqlite:///fresh.db     # the table

A second, later set (rendered after the difficulty offset of :mod:`zoo.shrinkage` was written, as its blind
check): ``render OUT --fonts freefont`` writes ``OUT/fresh2-*`` from GNU FreeFont (Debian's
fonts-freefont-ttf), and ``judge URL --prefix fresh2-`` judges those. A third (after the verification
screen, as its blind check): ``render OUT --fonts urw-unifont`` writes ``OUT/fresh3-*`` from URW's base 35 and
GNU Unifont (fonts-urw-base35, fonts-unifont); ``judge URL --prefix fresh3-``. A fourth (after the verification
pool of :func:`zoo.shrinkage.verify_candidates`, as its blind check): ``render OUT --fonts sil-libertine-symbola``
writes ``OUT/fresh4-*`` from SIL Gentium Plus, Linux Libertine and Biolinum, and Symbola (fonts-sil-gentiumplus,
fonts-linuxlibertine, fonts-symbola); ``judge URL --prefix fresh4-``. A fifth (after the interval of session 8's
pre-registration, docs/figures/interval-width-preregistration.md, as its blind check): ``render OUT --fonts
stix-garamond-roboto`` writes ``OUT/fresh5-*`` from STIX, Junicode, EB Garamond, Cantarell and Roboto
(fonts-stix, fonts-junicode, fonts-ebgaramond, fonts-cantarell, fonts-roboto-unhinted); ``judge URL --prefix
fresh5-``.

``DIR`` holds the experts' weights (``zoo bench rebuild-experts``). The bench renders its glyphs from
Noto fonts with its own augmentation (``zoo.collections``); these tasks use other fonts (Debian's
fonts-dejavu-core and fonts-liberation, installed with the base system), other glyph sets (symbols,
arrows, Braille, box drawing besides letters) and a renderer written here, independent of the bench's.
Each task: up to 20 classes (code points every font draws), 40 train and 20 test 32 px images a class.

``judge`` scores every method by the code ``zoo bench evaluate --leave-out`` uses
(:func:`zoo.selection.evaluate_methods`, :func:`zoo.api.verify.hybrid_methods`: the plain and the screened
hybrids) with the shipped Model2Vec run and prints a table; it asserts nothing. LogME's matrices (all 200
images, and the screen's tenth) are cached next to the database.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
LIBERATION = Path("/usr/share/fonts/truetype/liberation")
#: the second, later set (``render --fonts freefont``): GNU FreeFont (Debian's fonts-freefont-ttf)
FREEFONT = Path("/usr/share/fonts/truetype/freefont")
FREEFONT_FACES = (
    "FreeSans.ttf",
    "FreeSansBold.ttf",
    "FreeSerif.ttf",
    "FreeSerifItalic.ttf",
    "FreeMono.ttf",
    "FreeSansOblique.ttf",
    "FreeSerifBold.ttf",
)
#: the third set (``render --fonts urw-unifont``): URW base 35 and GNU Unifont
#: (Debian's fonts-urw-base35 and fonts-unifont)
URW = Path("/usr/share/fonts/opentype/urw-base35")
URW_FACES = (
    "C059-Roman.otf",
    "NimbusSans-Regular.otf",
    "NimbusRoman-Italic.otf",
    "NimbusMonoPS-Regular.otf",
    "P052-Bold.otf",
    "URWBookman-Light.otf",
    "URWGothic-Book.otf",
)
UNIFONT = Path("/usr/share/fonts/opentype/unifont/unifont.otf")
#: the fourth set (``render --fonts sil-libertine-symbola``): SIL Gentium Plus, Linux Libertine and Biolinum,
#: Symbola (Debian's fonts-sil-gentiumplus, fonts-linuxlibertine, fonts-symbola)
GENTIUM = Path("/usr/share/fonts/truetype/gentiumplus")
GENTIUM_FACES = ("GentiumPlus-Regular.ttf", "GentiumPlus-Italic.ttf", "GentiumBookPlus-Bold.ttf")
LIBERTINE = Path("/usr/share/fonts/opentype/linux-libertine")
LIBERTINE_FACES = ("LinLibertine_R.otf", "LinLibertine_RI.otf", "LinBiolinum_R.otf", "LinBiolinum_RB.otf")
SYMBOLA = Path("/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf")
#: the fifth set (``render --fonts stix-garamond-roboto``): (folder, faces) of Debian's fonts-stix,
#: fonts-junicode, fonts-ebgaramond, fonts-cantarell and fonts-roboto-unhinted
FIFTH = (
    (Path("/usr/share/fonts/opentype/stix"), ("STIXGeneral-Regular.otf", "STIXGeneral-Italic.otf")),
    (Path("/usr/share/fonts/opentype/junicode"), ("JunicodeTwoBeta-Regular.otf", "JunicodeTwoBeta-Bold.otf")),
    (Path("/usr/share/fonts/opentype/ebgaramond"), ("EBGaramond12-Regular.otf", "EBGaramond12-Italic.otf")),
    (Path("/usr/share/fonts/opentype/cantarell"), ("Cantarell-Regular.otf",)),
    (Path("/usr/share/fonts/truetype/roboto/unhinted/RobotoTTF"), ("Roboto-Regular.ttf", "Roboto-BoldItalic.ttf")),
)
DEJAVU_FACES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansCondensed-Oblique.ttf",
    "DejaVuSerifCondensed-Italic.ttf",
)
LIBERATION_FACES = (
    "LiberationSans-Regular.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationMono-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationSerif-Italic.ttf",
)
#: task -> (first, last code point, uses the Liberation faces too)
SETS = {
    "latin-upper": (0x41, 0x5A, True),
    "latin-lower": (0x61, 0x7A, True),
    "digits": (0x30, 0x39, True),
    "greek-upper": (0x391, 0x3A9, True),
    "greek-lower": (0x3B1, 0x3C9, True),
    "cyrillic-upper": (0x410, 0x42F, True),
    "cyrillic-lower": (0x430, 0x44F, True),
    "latin-extended": (0x100, 0x17F, True),
    "ipa": (0x250, 0x2AF, False),
    "armenian": (0x531, 0x556, False),
    "georgian": (0x10D0, 0x10FA, False),
    "hebrew": (0x5D0, 0x5EA, False),
    "arabic": (0x627, 0x64A, False),
    "arrows": (0x2190, 0x21FF, False),
    "math-operators": (0x2200, 0x22FF, False),
    "box-drawing": (0x2500, 0x257F, False),
    "block-elements": (0x2580, 0x259F, False),
    "geometric-shapes": (0x25A0, 0x25FF, False),
    "misc-symbols": (0x2600, 0x26FF, False),
    "dingbats": (0x2700, 0x27BF, False),
    "braille": (0x2801, 0x28FF, False),
    "letterlike": (0x2100, 0x214F, False),
    "currency": (0x20A0, 0x20BF, True),
    "number-forms": (0x2150, 0x218B, False),
}
CLASSES, TRAIN, TEST, SIZE = 20, 40, 20, 32


def _glyph(char: str, font_path: Path, rng: random.Random):
    """One 32 px RGB image of ``char``: random size, colours, offset, rotation, sometimes blur; pixel noise."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(str(font_path), rng.randint(22, 30))
    fg = tuple(rng.randint(0, 90) for _ in range(3))
    bg = tuple(rng.randint(165, 255) for _ in range(3))
    if rng.random() < 0.5:
        fg, bg = bg, fg
    image = Image.new("RGB", (48, 48), bg)
    draw = ImageDraw.Draw(image)
    box = draw.textbbox((0, 0), char, font=font)
    x = (48 - (box[2] - box[0])) / 2 - box[0] + rng.uniform(-3, 3)
    y = (48 - (box[3] - box[1])) / 2 - box[1] + rng.uniform(-3, 3)
    draw.text((x, y), char, font=font, fill=fg)
    image = image.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR, fillcolor=bg).crop((8, 8, 40, 40))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 8, (SIZE, SIZE, 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8))


def _faces(family: str, latin: bool) -> list[Path]:
    """The font files a family renders a block with (``latin``: the block is one the Liberation faces draw)."""
    if family == "freefont":
        return [FREEFONT / f for f in FREEFONT_FACES]
    if family == "urw-unifont":
        return [URW / f for f in URW_FACES] + [UNIFONT]
    if family == "sil-libertine-symbola":
        return [GENTIUM / f for f in GENTIUM_FACES] + [LIBERTINE / f for f in LIBERTINE_FACES] + [SYMBOLA]
    if family == "stix-garamond-roboto":
        return [folder / f for folder, faces in FIFTH for f in faces]
    return [DEJAVU / f for f in DEJAVU_FACES] + ([LIBERATION / f for f in LIBERATION_FACES] if latin else [])


#: families whose faces share too few of a block's code points fall back on :func:`_greedy_faces` (the
#: fifth set; the earlier sets keep the rule they were rendered with)
GREEDY = ("stix-garamond-roboto",)


def _greedy_faces(fonts: list[Path], maps: dict, first: int, last: int) -> tuple[list[Path], list[int]]:
    """The faces that draw most of the block, best first, added while they share at least 10 code points
    (one face alone when no two do), and the code points they share."""
    block = range(first, last + 1)
    ranked = sorted(fonts, key=lambda f: -sum(cp in maps[f] for cp in block))
    chosen: list[Path] = []
    shared = [cp for cp in block if ranked and cp in maps[ranked[0]]]
    for face in ranked:
        both = [cp for cp in shared if cp in maps[face]]
        if not chosen or len(both) >= 10:
            chosen.append(face)
            shared = both
    return chosen, shared


#: family -> the prefix of its task names
FAMILIES = {
    "dejavu": "fresh",
    "freefont": "fresh2",
    "urw-unifont": "fresh3",
    "sil-libertine-symbola": "fresh4",
    "stix-garamond-roboto": "fresh5",
}


def render(out: Path, family: str = "dejavu") -> None:
    """Write every task of :data:`SETS` as ``out/fresh-NAME/{train,test}/uXXXX/NNNN.png``.

    ``family`` "freefont" renders the second set, ``out/fresh2-NAME``, from GNU FreeFont alone (other
    faces, other code points: the sample is seeded by the new name); "urw-unifont" the third,
    ``out/fresh3-NAME``, from URW's base 35 and GNU Unifont (a bitmap-drawn face); "sil-libertine-symbola" the
    fourth, ``out/fresh4-NAME``, from SIL Gentium Plus, Linux Libertine/Biolinum and Symbola;
    "stix-garamond-roboto" the fifth, ``out/fresh5-NAME``, from STIX, Junicode, EB Garamond, Cantarell and
    Roboto."""
    from fontTools.ttLib import TTFont

    prefix = FAMILIES[family]
    for name, (first, last, latin) in SETS.items():
        fonts = _faces(family, latin)
        maps = {f: set(TTFont(str(f), lazy=True)["cmap"].getBestCmap()) for f in fonts}
        points = [cp for cp in range(first, last + 1) if all(cp in m for m in maps.values())]
        if len(points) < 10:  # keep the faces that draw this block
            fonts = [f for f in fonts if sum(first <= c <= last for c in maps[f]) >= 10]
            points = [cp for cp in range(first, last + 1) if all(cp in maps[f] for f in fonts)]
        if len(points) < 10 and family in GREEDY:
            fonts, points = _greedy_faces(fonts, maps, first, last)
        if not fonts or len(points) < 5:  # no face draws this block (FreeFont has no Braille)
            print(f"{prefix}-{name}: skipped, no face draws it", flush=True)
            continue
        rng = random.Random(name if prefix == "fresh" else f"{prefix}-{name}")
        points = sorted(rng.sample(points, min(CLASSES, len(points))))
        for split, count in (("train", TRAIN), ("test", TEST)):
            for cp in points:
                folder = out / f"{prefix}-{name}" / split / f"u{cp:04x}"
                folder.mkdir(parents=True, exist_ok=True)
                for i in range(count):
                    _glyph(chr(cp), fonts[i % len(fonts)], rng).save(folder / f"{i:04d}.png")
        print(f"{prefix}-{name}: {len(points)} classes, {len(fonts)} fonts", flush=True)


def judge(url: str, max_samples: int, prefix: str = "fresh-", pool: str = "architecture") -> None:
    """Every selection method on the registry's tasks named ``prefix*`` against their measured errors.

    ``pool``: which experts every verification may shortlist (:func:`zoo.shrinkage.verify_candidates`; the
    default, "architecture", is what recommend does, :data:`zoo.api.verify.VERIFY_POOL`; "all" is every
    expert, as before it: docs/figures/plausible-preregistration.md, arch-preregistration.md)."""
    import time

    import zoo
    from zoo import selection, shrinkage
    from zoo.api.judge import SHOWN
    from zoo.api.scorer_matrix import screens_discriminate
    from zoo.api.verify import SCREEN_FRACTION, SCREEN_SCORER, hybrid_methods

    z = zoo.connect(url)
    tasks = sorted(t.name for t in z.tasks() if t.name.startswith(prefix))
    experts = [m for m in z.store.list_models() if m.name.startswith("expert-")]
    names = [m.name for m in experts]
    column = {n: j for j, n in enumerate(names)}
    truth = np.full((len(tasks), len(names)), np.nan)
    for r in z.store.list_transfer_results():
        if r.task in tasks and r.model in column:
            truth[tasks.index(r.task), column[r.model]] = r.value
    default, raw, low, high, flat, expected = (np.full_like(truth, np.nan) for _ in range(6))
    margin = np.zeros(len(tasks))
    start, extrapolates = time.perf_counter(), np.zeros(len(tasks), dtype=bool)
    for i, task in enumerate(tasks):
        recs = z.recommend(task, k=len(names), progress=False)
        extrapolates[i] = recs[0].extrapolates
        margin[i] = recs[0].margin or 0.0
        for r in recs:
            j = column[r.model]
            default[i, j], raw[i, j], low[i, j], high[i, j] = r.rank, r.model2vec_error, r.low, r.high
            expected[i, j] = r.expected_error
            # the same estimate without the difficulty offset: y = sigmoid(logit y_flat + (1 - trust) * offset)
            logit = np.log(r.expected_error / (1 - r.expected_error)) - (1 - r.trust) * r.difficulty_offset
            flat[i, j] = 1 / (1 + np.exp(-logit))
    per_query = (time.perf_counter() - start) / len(tasks)
    run = z.store.latest_model2vec_run(z.store.list_probes()[0].name, "montecarlo")
    prior_of = {e.model: e.params.get("prior_error", np.nan) for e in z.store.list_model_embeddings(run.id)}
    prior = np.array([prior_of.get(n, np.nan) for n in names])
    generic = np.full(len(tasks), int(np.nanargmin(prior)))
    tag = "" if prefix == "fresh-" else f"-{prefix.rstrip('-')}"
    scored = {}
    for kind, scorer, share in (("logme", "logme", 0.0), (f"{SCREEN_SCORER}-screen", SCREEN_SCORER, SCREEN_FRACTION)):
        cache = Path(url.removeprefix("sqlite:///") + f".{kind}-{max_samples}{tag}.npz")
        if cache.is_file():
            with np.load(cache) as saved:
                scored[kind] = (saved["scores"], float(saved["seconds"]))
            continue
        start = time.perf_counter()
        matrix = z.judge.scorer_matrix(scorer, tasks, experts, max_samples, False, share=share)
        scored[kind] = (matrix, (time.perf_counter() - start) / len(tasks))
        np.savez(cache, scores=matrix, seconds=scored[kind][1])
    (logme, logme_s), (screen, screen_s) = scored["logme"], scored[f"{SCREEN_SCORER}-screen"]
    methods = [
        selection.MethodScores("generic", np.tile(prior, (len(tasks), 1)), 0, 0),
        selection.MethodScores("Model2Vec (no shrinkage)", raw, per_query, 1),
        selection.MethodScores("Model2Vec", default, per_query, 1),
        selection.MethodScores("logme", logme, logme_s, len(names)),
        selection.MethodScores(f"{SCREEN_SCORER}-screen", screen, screen_s, len(names) * SCREEN_FRACTION),
    ]
    methods += hybrid_methods(
        default,
        -logme,
        generic,
        extrapolates,
        logme_s / len(names),
        (3, 5),
        unanchored=True,
        preferred=np.nanargmin(expected, axis=1),  # Model2Vec's own pick, before the generic one is held
        screen=-screen,
        screen_seconds=screen_s,
        candidates=shrinkage.verify_candidates(pool, expected, generic, margin, [m.arch or m.name for m in experts]),
        screening=screens_discriminate(z.store, tasks, max_samples),
    )
    methods.append(selection.MethodScores("oracle", truth.copy(), 0, len(names)))
    print(selection.markdown_table(selection.evaluate_methods(methods, truth)))
    ok = np.isfinite(truth) & np.isfinite(low)
    inside = (truth >= low) & (truth <= high)
    shown = ok & (default <= SHOWN)  # the rows recommend prints by default
    print(
        f"\n{len(tasks)} tasks, {int(extrapolates.sum())} extrapolating; 80% interval coverage {inside[ok].mean():.2f} "
        f"({inside[shown].mean():.2f} of the default ranking's top {SHOWN}, those recommend shows)"
    )
    mae, mae_flat = (100 * float(np.mean(np.abs(truth[ok] - y[ok]))) for y in (expected, flat))
    print(f"expected errors off by {mae:.1f} points on average ({mae_flat:.1f} without the difficulty offset)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    rendering = commands.add_parser("render", help="write the task folders")
    rendering.add_argument("out", type=Path)
    rendering.add_argument("--fonts", choices=tuple(FAMILIES), default="dejavu")
    judging = commands.add_parser("judge", help="score the selection methods")
    judging.add_argument("url")
    judging.add_argument("--max-samples", type=int, default=200)
    judging.add_argument("--prefix", default="fresh-", help="judge the tasks whose names start with this")
    judging.add_argument(
        "--pool", choices=("all", "plausible", "architecture"), default="architecture", help="verify these"
    )
    args = parser.parse_args()
    if args.command == "render":
        render(args.out, args.fonts)
    else:
        judge(args.url, args.max_samples, args.prefix, args.pool)


if __name__ == "__main__":
    main()
