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


# ---------------------------------------------------------------- 2. warnings as one clean line


def test_a_corrupt_image_among_readable_ones_is_one_clean_warning_line(shipped, tmp_path):
    folder = _images(tmp_path / "images", garbage=1)
    result = _zoo(shipped, "recommend", "--task", str(folder), "-k", "2", "--quiet")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "unreadable" in line]
    assert warnings == [f"Warning: skipped 1 unreadable image(s) of 31 in {folder} (first: {folder}/c0/bad0.png)"]
    assert "UserWarning" not in result.stderr and ".py:" not in result.stderr, result.stderr


def test_a_warning_from_other_code_is_left_as_python_prints_it(capsys):
    import warnings

    from zoo.cli.common import one_line_warnings

    shown = []
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *args, **kwargs: shown.append(str(message))
        with one_line_warnings():
            warnings.warn_explicit("from a library", UserWarning, "/elsewhere/lib.py", 1)
            warnings.warn_explicit("from zoo", UserWarning, str(ROOT / "zoo" / "data.py"), 1)
    assert shown == ["from a library"]
    assert capsys.readouterr().err == "Warning: from zoo\n"


# ---------------------------------------------------------------- 3. a probe's architecture on recommend


def test_recommend_asks_for_a_sidecar_not_its_own_arch_filter(shipped, tmp_path, assert_one_line_error):
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "probe.safetensors"
    save_file({"w": torch.zeros(3)}, str(weights))
    result = _zoo(shipped, "recommend", "--task", "x", "--probe", f"file:{weights}", "--quiet")
    assert_one_line_error(result, 2, f"architecture of {weights} unknown", '{"arch": "ARCH"} in a sidecar PATH.json')
    assert "--arch" not in result.stderr
    result = _zoo(shipped, "recommend", "--task", "x", "--probe", "nosuchprobe", "--quiet")
    assert_one_line_error(result, 2, "unknown network source 'nosuchprobe'", "file:PATH (with")
    assert "--arch" not in result.stderr


def test_embed_task_still_asks_for_its_arch_option(shipped, tmp_path, assert_one_line_error):
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "probe.safetensors"
    save_file({"w": torch.zeros(3)}, str(weights))
    folder = _images(tmp_path / "images")
    result = _zoo(shipped, "embed-task", "t", "--data", str(folder), "--probe", f"file:{weights}", "--quiet")
    assert_one_line_error(result, 2, "pass --arch ARCH")


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
