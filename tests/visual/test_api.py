"""Zoo.plot_distances / plot_map / report over a tiny synthetic registry."""

from __future__ import annotations

import html
import re

import pytest
from PIL import Image

from registry.errors import InvalidInput, NotFound
from zoo.api import Zoo
from zoo.report import task_page_name


@pytest.fixture()
def zoo(registry_url):
    with Zoo.open(registry_url, create=False) as opened:
        yield opened


def test_default_embedding_set_is_the_pair_with_most_tasks(zoo, synthetic):
    chosen = zoo.current_embedding_set()
    assert (chosen.probe, chosen.method) == (synthetic["probe"], synthetic["method"])
    assert len(chosen.embeddings) == sum(synthetic["families"].values())
    assert len(zoo.current_embedding_set(method="expected").embeddings) == 1


def test_plot_distances_filters_by_glob(zoo, tmp_path):
    path = zoo.plot_distances("latin_*", tmp_path / "latin.png")
    everything = zoo.plot_distances(None, tmp_path / "all.svg")
    assert path.stat().st_size > 5_000 and everything.suffix == ".svg"
    with pytest.raises(InvalidInput, match="at least two"):
        zoo.plot_distances("nothing_*", tmp_path / "none.png")
    with pytest.raises(NotFound, match="embed"):
        zoo.plot_distances(None, tmp_path / "x.png", method="variational")


def test_plot_map_with_models_and_query(zoo, tmp_path):
    path = zoo.plot_map(tmp_path / "map.png", query="north_1")
    with Image.open(path) as image:
        assert image.width > 800
    with pytest.raises(NotFound, match="embed-task"):
        zoo.plot_map(tmp_path / "map.png", query="no_such_task")


def test_report_lists_every_model_and_task_escaped(built_report, registry_url, synthetic):
    files, out = built_report
    index = files.index.read_text()
    with Zoo.open(registry_url, create=False) as zoo:
        models = zoo.store.list_models()
        tasks = zoo.store.list_tasks()
    for model in models:
        assert f"<td>{html.escape(model.name)}</td>" in index
    for task in tasks:
        assert f">{html.escape(task.name)}</a>" in index
    assert "<script>alert" not in index and "<b>" not in index
    assert html.escape(synthetic["odd_task"]) in index and html.escape(synthetic["odd_model"]) in index
    assert "best" in index and "family=all" in index  # aliases and tags
    assert len(files.task_pages) == len(tasks)
    assert {p.name for p in files.task_pages} == {task_page_name(t.name) for t in tasks}
    assert all(p.stat().st_size > 20_000 for p in files.figures) and len(files.figures) == 2
    assert 'src="figures/map.png"' in index
    assert "&lt;chance&gt;" in index and "relative_error" in index  # the selection report


def test_task_page_shows_nearest_tasks_of_its_family_and_results_best_first(built_report):
    files, out = built_report
    page = (out / "tasks" / task_page_name("north_0")).read_text()
    nearest = re.search(r'id="nearest-table".*?</table>', page, re.S).group(0)
    names = re.findall(r"<a href=\"[^\"]+\">([^<]+)</a>", nearest)
    assert len(names) == 5 and set(names[:3]) == {"north_1", "north_2", "north_3"}
    results = re.search(r'id="results-table".*?</table>', page, re.S).group(0)
    values = [float(v) for v in re.findall(r'data-value="([0-9.e-]+)"', results)]
    errors = values[1::4]  # rank, value, train, test per row
    assert len(errors) == 4 and errors == sorted(errors)


def test_report_refuses_bad_selection_and_file_as_dir(zoo, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInput, match="not a JSON file"):
        zoo.report(tmp_path / "site", selection=bad)
    with pytest.raises(NotFound, match="no selection report"):
        zoo.report(tmp_path / "site", selection=tmp_path / "missing.json")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInput, match="directory"):
        zoo.report(tmp_path / "afile")


def test_task_pages_list_the_model2vec_recommendations(built_report, registry_url):
    files, out = built_report
    page = (out / "tasks" / task_page_name("north_0")).read_text()
    table = re.search(r'id="recommended-table".*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr><td[^>]*>(\d+)</td><td>([^<]+)</td>", table)
    with Zoo.open(registry_url, create=False) as zoo:
        models = {html.escape(m.name) for m in zoo.store.list_models()}
    assert [r[0] for r in rows] == ["1", "2", "3"] and {r[1] for r in rows} <= models


def test_report_removes_pages_of_tasks_that_are_gone(zoo, tmp_path):
    stale = tmp_path / "site" / "tasks" / "old_task-0123abcd.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    mine = stale.with_name("my-notes.html")
    mine.write_text("keep")
    files = zoo.report(tmp_path / "site", recommendations=0)
    assert not stale.exists() and mine.exists()
    assert "recommended-table" not in files.task_pages[0].read_text()
