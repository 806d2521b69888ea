"""The report as a person sees it: headless Chromium opens it from file://.

Two browser launches for the whole module: the index (sorted through its URL
hash, so the sorter's JavaScript must have run) and the page of the task with
markup in its name. Each dumps the DOM after scripts ran, takes a screenshot
and logs console messages to stderr.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from zoo.api import Zoo
from zoo.report import task_page_name

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs chromium (.ci/run): there a missing browser is a failure, never a skip.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is not installed"
)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,1600",
    "--hide-scrollbars",
]


class Tables(HTMLParser):
    """Rows of every table in a document: {table id: [[cell text, ...], ...]}, plus attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.ready: set[str] = set()
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id", "")
            self.tables[self._table] = []
            if attrs.get("data-sortable") == "ready":
                self.ready.add(self._table)
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def open_in_chromium(url: str, workdir: Path, name: str) -> tuple[str, str, Path]:
    """(DOM after scripts, stderr log, screenshot path) of one page."""
    shot = workdir / f"{name}.png"
    done = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={workdir / ('profile-' + name)}",
            "--dump-dom",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr, shot


@pytest.fixture(scope="module")
def pages(built_report, synthetic, tmp_path_factory):
    files, out = built_report
    workdir = tmp_path_factory.mktemp("chromium")
    index = open_in_chromium(files.index.as_uri() + "#sort=tasks-table:4:desc", workdir, "index")
    odd = out / "tasks" / task_page_name(synthetic["odd_task"])
    task = open_in_chromium(odd.as_uri(), workdir, "task")
    return {"index": index, "task": task}


def console_messages(log: str) -> list[str]:
    return [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


@pytest.mark.parametrize("page", ["index", "task"])
def test_no_console_errors_and_the_sorter_ran(pages, page):
    dom, log, _ = pages[page]
    assert console_messages(log) == []
    tables = Tables()
    tables.feed(dom)
    assert tables.tables and tables.ready == set(tables.tables)


def test_index_tables_hold_the_registry_rows_sorted_by_the_url(pages, registry_url):
    dom, _, _ = pages["index"]
    tables = Tables()
    tables.feed(dom)
    with Zoo.open(registry_url, create=False) as zoo:
        models = sorted(m.name for m in zoo.store.list_models())
        tasks = sorted(t.name for t in zoo.store.list_tasks())
    assert sorted(row[0] for row in tables.tables["models-table"]) == models
    task_rows = tables.tables["tasks-table"]
    assert sorted(row[0] for row in task_rows) == tasks
    norms = [float(row[4]) for row in task_rows]
    assert norms == sorted(norms, reverse=True) and norms != sorted(norms)  # the hash sort was applied
    assert not re.search(r"<script>alert", dom)  # names stayed text


def test_task_page_shows_its_neighbours_and_results(pages, synthetic):
    dom, _, _ = pages["task"]
    tables = Tables()
    tables.feed(dom)
    assert [row[0] for row in tables.tables["nearest-table"]] == ["1", "2", "3", "4", "5"]
    assert all(row[1].startswith("faces_") for row in tables.tables["nearest-table"][:3])
    assert len(tables.tables["results-table"]) == 4
    assert synthetic["odd_task"] in dom.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@pytest.mark.parametrize("page", ["index", "task"])
def test_screenshots_are_not_blank(pages, page):
    _, _, shot = pages[page]
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1280, 1600)
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50
        assert max(ImageStat.Stat(rgb.convert("L")).stddev) > 10
