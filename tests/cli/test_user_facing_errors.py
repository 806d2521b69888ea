"""Defects a user meets on the command line: each is one line on stderr, an exit code, the registry unchanged,
and advice that works for the command it is given in."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from registry.store import Store
from zoo.cli import main
from zoo.demo import SHIPPED_ZOO

from .test_cli_registry import snapshot

ROOT = Path(__file__).resolve().parents[2]
NOT_A_DIRECTORY = "Not a directory; choose a writable path"


def _zoo(url: str | None, *args: str):
    return CliRunner().invoke(main, [*(["--db", url] if url else []), *args])


def _rows(url: str) -> dict[str, int]:
    with Store.open(url, create=False) as store:
        return store.counts()


def _state(url: str, tmp_path: Path) -> list[str]:
    """Every row and revision token of the registry (:func:`tests.cli.test_cli_registry.snapshot`)."""
    folder = tmp_path / f"state-{len(list(tmp_path.glob('state-*')))}"
    folder.mkdir()
    return snapshot(url, folder)


@pytest.fixture
def shipped(shipped_template, tmp_path) -> str:
    """A registry holding the shipped zoo (experts, task embeddings, results, the Model2Vec run)."""
    shutil.copy(shipped_template, tmp_path / "zoo.db")
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


# ---------------------------------------------------------------- 1. unwritable output paths


@pytest.mark.parametrize(
    "args, target",
    [
        (["plot", "distances", "--out", "{F}/d.png"], "{F}/d.png"),
        (["plot", "map", "--out", "{F}/m.png"], "{F}/m.png"),
        (["report", "--out", "{F}/site"], "{F}/site"),
    ],
    ids=["plot-distances", "plot-map", "report"],
)
def test_an_output_path_under_a_file_is_one_line_exit_2_and_the_registry_is_unchanged(
    args, target, shipped, a_file, tmp_path, assert_one_line_error
):
    before = _state(shipped, tmp_path)
    result = _zoo(shipped, *[a.format(F=a_file) for a in args])
    assert_one_line_error(result, 2, f"cannot write {target.format(F=a_file)}: {NOT_A_DIRECTORY}")
    assert _state(shipped, tmp_path) == before


def test_a_demo_workdir_under_a_file_is_one_line_exit_2(a_file, assert_one_line_error):
    result = _zoo(None, "demo", "--workdir", str(a_file / "w"), "--quiet")
    assert_one_line_error(result, 2, f"cannot write {a_file / 'w'}: {NOT_A_DIRECTORY}")


def test_recommend_checks_its_plot_path_before_the_probe_pass(shipped, a_file, tmp_path, monkeypatch):
    from zoo.api import Zoo

    def must_not_run(*args, **kwargs):
        raise AssertionError("the recommendation ran before the --plot path was checked")

    monkeypatch.setattr(Zoo, "recommend", must_not_run)
    folder = tmp_path / "images"
    folder.mkdir()
    result = _zoo(shipped, "recommend", "--task", str(folder), "--plot", str(a_file / "p.png"), "--quiet")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"Error: cannot write {a_file / 'p.png'}: {NOT_A_DIRECTORY}"


def test_a_figure_that_cannot_be_saved_is_one_line_from_python_too(a_file):
    from registry.errors import InvalidInput
    from zoo.plots.canvas import new_figure, save

    with pytest.raises(InvalidInput, match="cannot write .*Not a directory; choose a writable path"):
        save(new_figure(1, 1), a_file / "sub" / "x.png")


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
    before = _state(shipped, tmp_path)
    result = _zoo(shipped, "recommend", "--task", "x", "--probe", f"file:{weights}", "--quiet")
    assert_one_line_error(result, 2, f"architecture of {weights} unknown", '{"arch": "ARCH"} in a sidecar PATH.json')
    assert "--arch" not in result.stderr
    result = _zoo(shipped, "recommend", "--task", "x", "--probe", "nosuchprobe", "--quiet")
    assert_one_line_error(result, 2, "unknown network source 'nosuchprobe'", "file:PATH (with")
    assert "use a registered probe (resnet10t@" in result.stderr  # what --help calls "a registered probe name"
    assert "--arch" not in result.stderr
    assert _state(shipped, tmp_path) == before


def test_embed_task_still_asks_for_its_arch_option(shipped, tmp_path, assert_one_line_error):
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "probe.safetensors"
    save_file({"w": torch.zeros(3)}, str(weights))
    folder = _images(tmp_path / "images")
    before = _state(shipped, tmp_path)
    result = _zoo(shipped, "embed-task", "t", "--data", str(folder), "--probe", f"file:{weights}", "--quiet")
    assert_one_line_error(result, 2, "pass --arch ARCH")
    assert _state(shipped, tmp_path) == before


# ---------------------------------------------------------------- 4. --save NAME taken by another folder


def test_recommend_save_with_a_taken_name_names_recommends_own_options(shipped, tmp_path, assert_one_line_error):
    folder = tmp_path / "images"
    folder.mkdir()
    before = _state(shipped, tmp_path)
    result = _zoo(shipped, "recommend", "--task", str(folder), "--save", "script-avestan", "--quiet")
    assert_one_line_error(
        result, 1, "'script-avestan' is registered from", "use another --save NAME, or --task script-avestan"
    )
    assert "--data" not in result.stderr
    assert _state(shipped, tmp_path) == before


# ---------------------------------------------------------------- 5. distance between differently embedded tasks


def _two_probe_registry(url: str, a_folder: Path, b_folder: Path) -> None:
    with Store.open(url) as store:
        for probe in ("bundled-like", "custom"):
            store.ensure_probe(probe, arch="resnet18", weights_checksum=probe, embedding_length=3, layers=["l1"])
        for task, folder, probe in (("A", a_folder, "custom"), ("B", b_folder, "bundled-like")):
            store.add_task(task, data_uri=str(folder), num_classes=2, num_samples=20, fingerprint=task)
            store.put_task_embedding(
                task,
                probe,
                "montecarlo",
                np.array([0.5, 1.0, 2.0]),
                prior=np.array([0.1, 0.1, 0.1]),
                sample_count=20,
                seed=0,
                params={},
                package_version="test",
            )


def test_distance_suggests_embedding_the_task_whose_data_is_there(sqlite_url, tmp_path, assert_one_line_error):
    present = tmp_path / "present"
    present.mkdir()
    _two_probe_registry(sqlite_url, present, tmp_path / "gone")  # A (custom probe) is there, B's folder is gone
    before = _state(sqlite_url, tmp_path)
    result = _zoo(sqlite_url, "distance", "A", "B")
    assert_one_line_error(result, 1, "run `zoo embed-task A --probe bundled-like`")
    assert _state(sqlite_url, tmp_path) == before
    shutil.rmtree(present)  # now neither; with B's folder there, B gets A's probe
    (tmp_path / "gone").mkdir()
    result = _zoo(sqlite_url, "distance", "A", "B")
    assert_one_line_error(result, 1, "run `zoo embed-task B --probe custom`")
    assert _state(sqlite_url, tmp_path) == before


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


# ---------------------------------------------------------------- 7. whole model names in the table


def test_the_recommendation_table_shows_whole_model_names(shipped, monkeypatch):
    from zoo.api import Zoo
    from zoo.api.recommend import Recommendation

    long_name = "expert-scripts-invented-resnet10t-and-then-some"
    base = {"expected_error": 0.2, "distance": 0.1, "evidence": (), "trained": True, "source": "timm:x"}
    recs = [Recommendation(rank=1, model=long_name, **base), Recommendation(rank=2, model="short", **base)]
    monkeypatch.setattr(Zoo, "recommend", lambda self, *args, **kwargs: recs)
    result = _zoo(shipped, "recommend", "--task", "x", "--quiet")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.lstrip()[:1].isdigit()]
    assert rows[0].split()[1] == long_name and rows[1].split()[1] == "short"
    assert len({line.index("%") for line in rows}) == 1  # the columns after the name still line up


def test_the_readme_shows_whole_model_names():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Your own folder", 1)[1].split("```console", 1)[1].split("```", 1)[0]
    shown = re.findall(r"^\s+\d+\s+(\S+)\s", block, flags=re.M)
    models = {
        json.loads(line)["name"] for line in gzip.open(SHIPPED_ZOO, "rt", encoding="utf-8") if '"kind": "model"' in line
    }
    assert shown and set(shown) <= models, set(shown) - models


# ---------------------------------------------------------------- 8. an empty registry, and import --shipped


def test_recommend_on_an_empty_registry_names_import_shipped(sqlite_url, tmp_path, assert_one_line_error):
    Store.open(sqlite_url).close()
    before = _state(sqlite_url, tmp_path)
    result = _zoo(sqlite_url, "recommend", "--task", str(tmp_path), "--quiet")
    assert_one_line_error(
        result, 1, "no task embeddings and no Model2Vec run", f"zoo --db {sqlite_url} import --shipped"
    )
    assert "embed-task" not in result.stderr
    assert _state(sqlite_url, tmp_path) == before


def test_import_shipped_makes_an_empty_registry_the_shipped_zoo(sqlite_url, assert_one_line_error):
    result = _zoo(sqlite_url, "import", "--shipped", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["model2vec_run"] >= 1
    assert _rows(sqlite_url)["models"] == 48


@pytest.mark.parametrize("args, fragment", [([], "not neither"), (["--shipped", "x.jsonl"], "not both")])
def test_import_takes_a_file_or_shipped(args, fragment, tmp_path, assert_one_line_error):
    url = f"sqlite:///{tmp_path / 'never.db'}"
    assert_one_line_error(_zoo(url, "import", *args), 2, "give FILE or --shipped", fragment)
    assert not (tmp_path / "never.db").exists()


# ---------------------------------------------------------------- a missing folder given to recommend


def test_a_missing_folder_is_exit_2_and_says_so(shipped, tmp_path, assert_one_line_error):
    before = _state(shipped, tmp_path)
    result = _zoo(shipped, "recommend", "--task", "./nope", "--quiet")
    assert_one_line_error(result, 2, "folder ./nope does not exist and is not a registered task")
    result = _zoo(shipped, "recommend", "--task", "nope", "--quiet")  # a bare word is an unknown name
    assert_one_line_error(result, 1, "'nope' is neither a folder nor a registered task")
    assert _state(shipped, tmp_path) == before


# ---------------------------------------------------------------- a walkthrough's bad values


@pytest.mark.parametrize(
    "args",
    [["recommend", "--task", "x"], ["plot", "map", "--out", "{tmp}/m.png"], ["report", "--out", "{tmp}/site"]],
    ids=["recommend", "plot-map", "report"],
)
def test_an_unknown_probe_lists_the_registered_ones(args, shipped, tmp_path, assert_one_line_error):
    from registry.store import Store

    with Store.open(shipped, create=False) as store:
        names = [p.name for p in store.list_probes()]
    before = _state(shipped, tmp_path)
    result = _zoo(shipped, *[a.format(tmp=tmp_path) for a in args], "--probe", "bogus")
    assert_one_line_error(result, 2, "unknown network source 'bogus'", f"use a registered probe ({', '.join(names)})")
    assert _state(shipped, tmp_path) == before


@pytest.mark.parametrize(
    "args",
    [["report", "--out", "{tmp}/site"], ["plot", "map", "--out", "{tmp}/m.png"], ["plot", "distances"]],
    ids=["report", "plot-map", "plot-distances"],
)
def test_an_unknown_method_is_refused_by_its_choices(args, shipped, tmp_path, assert_one_line_error):
    result = _zoo(shipped, *[a.format(tmp=tmp_path) for a in args], "--method", "bogus")
    assert_one_line_error(result, 2, "'bogus' is not one of 'montecarlo', 'expected', 'variational'")
    assert not (tmp_path / "site").exists() and not (tmp_path / "m.png").exists()


def test_a_missing_selection_names_the_file_bench_evaluate_writes(shipped, tmp_path, assert_one_line_error):
    result = _zoo(shipped, "report", "--out", str(tmp_path / "site"), "--selection", str(tmp_path / "no.json"))
    assert_one_line_error(result, 1, "`zoo bench evaluate --out-dir DIR` writes DIR/selection.json")
    assert "--json" not in result.stderr and not (tmp_path / "site").exists()
