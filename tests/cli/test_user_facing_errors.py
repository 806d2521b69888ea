"""Defects a user meets on the command line: each is one line on stderr, an exit code, the registry unchanged,
and advice that works for the command it is given in."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from registry.store import Store
from zoo.cli import main
from zoo.demo import SHIPPED_ZOO

ROOT = Path(__file__).resolve().parents[2]
NOT_A_DIRECTORY = "Not a directory; choose a writable path"


def _zoo(url: str | None, *args: str):
    return CliRunner().invoke(main, [*(["--db", url] if url else []), *args])


def _rows(url: str) -> dict[str, int]:
    with Store.open(url, create=False) as store:
        return store.counts()


@pytest.fixture(scope="module")
def _shipped_template(tmp_path_factory) -> Path:
    """The shipped zoo imported once per module; each test gets a copy."""
    path = tmp_path_factory.mktemp("shipped") / "zoo.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.import_jsonl(SHIPPED_ZOO)
    return path


@pytest.fixture
def shipped(_shipped_template, tmp_path) -> str:
    """A registry holding the shipped zoo (experts, task embeddings, results, the Model2Vec run)."""
    shutil.copy(_shipped_template, tmp_path / "zoo.db")
    return f"sqlite:///{tmp_path / 'zoo.db'}"


@pytest.fixture
def a_file(tmp_path) -> Path:
    """An ordinary file, which a user may name as the folder of an output path by mistake."""
    path = tmp_path / "F"
    path.write_text("not a folder")
    return path


def _images(folder: Path, *, garbage: int = 0) -> Path:
    """Three classes of ten small PNGs (plus ``garbage`` unreadable .png files in the first class)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(3):
        (folder / f"c{c}").mkdir(parents=True)
        for i in range(10):
            img = np.zeros((32, 32, 3), dtype=np.uint8)
            img[:, : 8 * (c + 1), c] = 200
            img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / f"c{c}" / f"{i}.png")
    for i in range(garbage):
        (folder / "c0" / f"bad{i}.png").write_bytes(b"garbage")
    return folder


# ---------------------------------------------------------------- 6. checksums


def test_a_checksum_that_is_not_a_sha256_is_refused(sqlite_url, assert_one_line_error):
    Store.open(sqlite_url).close()
    result = _zoo(sqlite_url, "register-model", "x", "--source", "timm:resnet18", "--checksum", "zz")
    assert_one_line_error(result, 2, "checksum 'zz' is not a sha256", "--checksum SHA256")
    assert _rows(sqlite_url)["models"] == 0
    good = _zoo(sqlite_url, "register-model", "x", "--source", "timm:resnet18", "--checksum", "ab" * 32)
    assert good.exit_code == 0, good.output


def test_import_refuses_a_model_whose_checksum_is_not_a_sha256(sqlite_url, tmp_path):
    from registry.errors import InvalidInput

    lines = [json.loads(line) for line in gzip.open(SHIPPED_ZOO, "rt", encoding="utf-8")]
    lines[0].pop("sha256")  # a hand-edited export: no body checksum to catch the edit
    model = next(line for line in lines if line["kind"] == "model")
    model["checksum"] = "not-a-digest"
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    with Store.open(sqlite_url) as store:
        with pytest.raises(InvalidInput, match="checksum 'not-a-digest' is not a sha256"):
            store.import_jsonl(edited)
        assert store.counts()["models"] == 0
