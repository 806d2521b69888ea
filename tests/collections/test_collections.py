"""The task collections: counts, taxonomy, determinism, disjoint sets, the on-disk layout."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from zoo.collections import SETS, catalogue, render_tasks
from zoo.collections.emoji import emoji_specs
from zoo.collections.fashion import GROUPS, fashion_specs
from zoo.collections.genealogy import FAMILY_REFERENCES, GENEALOGY
from zoo.collections.scripts import MAX_LETTERS, MIN_LETTERS, UNICODE_DIR, script_specs
from zoo.collections.tasks import IMAGE_SIZE


@pytest.fixture(scope="module")
def sets():
    return catalogue(0)


def test_every_family_has_a_reference_and_every_script_is_a_unicode_script():
    scripts_txt = (UNICODE_DIR / "Scripts.txt").read_text()
    unicode_scripts = set(re.findall(r";\s*(\w+)\s*#", scripts_txt))
    assert set(GENEALOGY) <= unicode_scripts, set(GENEALOGY) - unicode_scripts
    assert {family for family, _ in GENEALOGY.values()} == set(FAMILY_REFERENCES)
    assert all(len(ref) > 20 for ref in FAMILY_REFERENCES.values())


def test_collections_are_large_enough_with_taxonomy_paths():
    scripts, emoji, fashion = script_specs(0), emoji_specs(0), fashion_specs(0)
    assert len(scripts) >= 100 and len(emoji) >= 60 and len(fashion) >= 20
    assert all(MIN_LETTERS <= len(s.classes) <= MAX_LETTERS for s in scripts)
    assert all(len(s.taxonomy) == 3 for s in scripts)
    assert {s.taxonomy for s in scripts if s.name == "script-devanagari"} == {
        ("Brahmic", "North Brahmic", "Devanagari")
    }
    assert all(len(s.classes) >= 5 and len(s.taxonomy) == 2 for s in emoji)
    assert all(s.taxonomy[0] in GROUPS for s in fashion)
    names = [s.name for s in scripts + emoji + fashion]
    assert len(names) == len(set(names))


def test_sets_are_disjoint_cover_everything_and_mix_sources(sets):
    names = {key: {s.name for s in specs} for key, specs in sets.items()}
    assert set(names) == set(SETS)
    assert not (names["probe"] & names["expert"]) and not (names["probe"] & names["heldout"])
    assert not (names["expert"] & names["heldout"])
    total = len(script_specs(0)) + len(emoji_specs(0)) + len(fashion_specs(0))
    assert sum(map(len, names.values())) == total
    for specs in sets.values():
        assert {s.collection for s in specs} == {"scripts", "emoji", "fashion"}


def test_sets_are_deterministic_in_the_seed(sets):
    again = catalogue(0)
    assert {k: [s.name for s in v] for k, v in again.items()} == {k: [s.name for s in v] for k, v in sets.items()}
    other = catalogue(1)
    assert {s.name for s in other["heldout"]} != {s.name for s in sets["heldout"]}


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.png")):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_rendering_is_deterministic_and_laid_out(tmp_path, sets):
    specs = [next(s for s in sets["heldout"] if s.collection == c) for c in ("scripts", "emoji", "fashion")]
    first = render_tasks(tmp_path / "a", specs, train_per_class=3, test_per_class=2, progress=False)
    # a different order must not change the pixels of a task
    second = render_tasks(tmp_path / "b", specs[::-1], train_per_class=3, test_per_class=2, progress=False)
    for folder in first:
        assert _digest(folder) == _digest(tmp_path / "b" / folder.name)
        record = json.loads((folder / "task.json").read_text())
        assert record["counts"] == {"train": 3 * len(record["classes"]), "test": 2 * len(record["classes"])}
        assert sorted(p.name for p in (folder / "train").iterdir()) == sorted(record["classes"])
        image = Image.open(next((folder / "test").rglob("*.png")))
        assert image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "RGB"
    assert len(second) == 3


def test_a_half_written_task_is_redone(tmp_path, sets):
    spec = sets["expert"][0]
    folder = render_tasks(tmp_path, [spec], train_per_class=2, test_per_class=1, progress=False)[0]
    digest = _digest(folder)
    (folder / "task.json").unlink()  # as if killed before the record was written
    next(folder.rglob("*.png")).write_bytes(b"broken")
    render_tasks(tmp_path, [spec], train_per_class=2, test_per_class=1, progress=False)
    assert _digest(folder) == digest


def test_emoji_are_drawn_in_colour_and_glyphs_in_grey(sets, tmp_path):
    import numpy as np

    emoji = next(s for s in sets["heldout"] if s.collection == "emoji")
    script = next(s for s in sets["heldout"] if s.collection == "scripts")
    folders = render_tasks(tmp_path, [emoji, script], train_per_class=1, test_per_class=1, progress=False)

    def chroma(folder):
        pixels = np.stack([np.asarray(Image.open(p), dtype=float) for p in sorted(folder.rglob("*.png"))])
        return float((pixels.max(-1) - pixels.min(-1)).mean())

    # coloured bitmaps survive (embedded_color); glyphs are grey ink on grey paper,
    # coloured only by the per-channel pixel noise
    assert chroma(folders[0]) > 2 * chroma(folders[1])


def test_a_missing_debian_package_is_named_in_a_one_line_error(monkeypatch, tmp_path):
    from registry.errors import InvalidInput
    from zoo.collections import fashion, scripts

    monkeypatch.setattr(scripts, "FONT_DIR", tmp_path / "nope")
    with pytest.raises(InvalidInput, match="fonts-noto-core"):
        scripts.script_specs(0)
    monkeypatch.setattr(fashion, "DATA_DIR", tmp_path / "nope")
    fashion.load_split.cache_clear()
    with pytest.raises(InvalidInput, match="dataset-fashion-mnist"):
        fashion.load_split("train")
    fashion.load_split.cache_clear()
