"""What recommend takes as the query, on the ci bench: a folder, the same images as LabelledImages or a torch
Dataset, the embedding `Zoo.embed` returns or a stored one (each with its probe head's difficulty, so the same
answer as the folder), and a registered name; bad queries are one-line errors, and a folder that changed is
not saved over the task it was registered as."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from registry.errors import AlreadyExists, InvalidInput, NotFound, ProbeMismatch


def _folder(root, classes=3, per_class=10):
    for c in range(classes):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = Image.new("RGB", (32, 32), (255, 255, 255))
            draw = ImageDraw.Draw(image)
            box = (4 + i % 5, 4 + c * 3, 20 + c * 4, 24 + i % 3)
            [draw.ellipse, draw.rectangle, draw.line][c % 3](box, fill=(40 * c, 90, 200 - 10 * i))
            image.save(root / f"c{c}" / f"{i}.png")
    return root


@pytest.fixture
def bench_copy(ci_bench, tmp_path):
    from zoo.api import Zoo

    shutil.copy(ci_bench["url"][len("sqlite:///") :], tmp_path / "bench.db")
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    with Zoo.open(url) as z:
        yield z, url


def _answer(recs):
    return [(r.model, round(r.expected_error, 12), r.difficulty) for r in recs]


def test_every_form_of_the_same_images_gets_the_folders_answer(bench_copy, tmp_path):
    from torchvision.datasets import ImageFolder

    from zoo.data import load_labelled

    z, _ = bench_copy
    folder = _folder(tmp_path / "shapes")
    models = len(z.models())
    want = _answer(z.recommend(str(folder), k=models, progress=False))
    assert {r.learned_from for r in z.recommend(str(folder), k=models, progress=False)} == {4}  # the ci bench's run
    assert want[0][2] is not None  # the folder's probe pass measured its difficulty
    run_probe = z.store.list_probes()[0].name
    embedded = z.embed(str(folder), probe=run_probe, progress=False)
    assert _answer(z.recommend(embedded, k=models, progress=False)) == want
    assert _answer(z.recommend(load_labelled(folder), k=models, progress=False)) == want
    got = z.recommend(ImageFolder(str(folder)), k=models, progress=False)
    assert [r.model for r in got] == [m for m, _, _ in want]
    np.testing.assert_allclose([r.expected_error for r in got], [e for _, e, _ in want], rtol=1e-6)
    # a bare vector has no difficulty: the answer at the typical one
    bare = z.recommend(embedded.vector, k=models, progress=False)
    assert all(r.difficulty is None for r in bare)
    # the stored embedding of a saved folder answers as the registered name does
    z.recommend(str(folder), k=1, save="shapes", progress=False)
    stored = z.store.get_task_embedding("shapes", run_probe, embedded.method)
    assert _answer(z.recommend(stored, k=models, progress=False)) == _answer(
        z.recommend("shapes", k=models, progress=False)
    )


def test_an_embedding_of_another_probe_and_bad_queries_are_one_line_errors(bench_copy, tmp_path):
    import dataclasses

    z, _ = bench_copy
    folder = _folder(tmp_path / "shapes")
    embedded = z.embed(str(folder), probe=z.store.list_probes()[0].name, progress=False)
    other = dataclasses.replace(embedded, probe=dataclasses.replace(embedded.probe, name="another-probe"))
    with pytest.raises(ProbeMismatch, match="made with another-probe/"):
        z.recommend(other, progress=False)
    with pytest.raises(InvalidInput, match="is empty"):
        z.recommend("", progress=False)
    with pytest.raises(InvalidInput, match="whole number of at least 1, got '3'"):
        z.recommend(str(folder), k="3", progress=False)
    assert len(z.recommend(embedded, k=np.int64(2), screen=np.float32(0.5), progress=False)) == 2  # numpy's numbers
    with pytest.raises((NotFound, InvalidInput)) as long_name:
        z.recommend("a" * 300, progress=False)
    assert "\n" not in str(long_name.value)
    with pytest.raises(InvalidInput, match="is empty"):
        z.embed_task("", "x", progress=False)


def test_a_folder_that_changed_is_not_saved_over_its_task(bench_copy, tmp_path):
    from zoo.cli import main

    z, url = bench_copy
    folder = _folder(tmp_path / "chg")
    z.recommend(str(folder), k=1, save="chg", progress=False)
    again = CliRunner().invoke(
        main, ["--db", url, "recommend", "--task", str(folder), "--save", "chg", "-k", "1", "-q"]
    )
    assert again.exit_code == 0, again.output
    assert "Embedded the folder again as task chg" in again.stdout and "Registered" not in again.stdout
    before = (z.store.get_task("chg"), z.store.list_task_embeddings(task="chg"))
    _folder(tmp_path / "chg", classes=4)  # the folder grows a class
    with pytest.raises(AlreadyExists, match=r"changed since it was registered \(3 classes, 30 images then; 4 classes"):
        z.recommend(str(folder), k=1, save="chg", progress=False)
    with pytest.raises(AlreadyExists, match="changed since it was registered"):
        z.embed_task(name="chg", progress=False)  # from its recorded folder, which changed in place
    task, embeddings = z.store.get_task("chg"), z.store.list_task_embeddings(task="chg")
    assert task == before[0] and len(embeddings) == len(before[1]) == 1
    assert embeddings[0].created_at == before[1][0].created_at
    np.testing.assert_array_equal(embeddings[0].vector, before[1][0].vector)


def test_save_writes_nothing_when_the_recommendation_fails_after_the_probe_pass(bench_copy, tmp_path, monkeypatch):
    """--save stores the task and its embedding only once the recommendation has succeeded: a verification that
    fails (an expert that cannot be loaded, say) leaves the registry as it was."""
    import zoo.api.recommend as recommend_module

    z, _ = bench_copy
    folder = _folder(tmp_path / "ns")
    tasks = len(z.store.list_tasks())

    def broken(*args, **kwargs):
        raise InvalidInput("an expert could not be loaded")

    with monkeypatch.context() as patched:
        patched.setattr(recommend_module, "verify_shortlist", broken)
        with pytest.raises(InvalidInput, match="could not be loaded"):
            z.recommend(str(folder), k=1, save="ns", verify=2, progress=False)
    assert len(z.store.list_tasks()) == tasks and not z.store.list_task_embeddings(task="ns")
    recs = z.recommend(str(folder), k=1, save="ns", verify=2, progress=False)
    assert recs and z.store.get_task("ns").num_classes == 3 and len(z.store.list_task_embeddings(task="ns")) == 1
