"""``zoo plot distances``, ``zoo plot map``, ``zoo report`` through click's runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zoo.cli import main


def invoke(args, url=None):
    prefix = ["--db", url] if url else []
    return CliRunner().invoke(main, prefix + args, catch_exceptions=False)


@pytest.mark.parametrize("args", [["plot"], ["plot", "distances"], ["plot", "map"], ["report"]])
def test_every_command_has_help_with_an_example(args, assert_help_has_example):
    assert_help_has_example(*args)


def test_plot_distances_and_map_print_the_files_written(registry_url, tmp_path):
    result = invoke(
        ["plot", "distances", "--tasks", "north_*", "--out", str(tmp_path / "d.svg"), "--json"], registry_url
    )
    assert result.exit_code == 0, result.output
    written = json.loads(result.output)["figure"]
    assert written.endswith("d.svg") and (tmp_path / "d.svg").stat().st_size > 5_000
    result = invoke(
        ["plot", "map", "--out", str(tmp_path / "m.png"), "--query", "latin_2", "--layout", "mds"], registry_url
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {tmp_path / 'm.png'}"


def test_report_json_lists_pages_and_figures(registry_url, tmp_path):
    result = invoke(["report", "--out", str(tmp_path / "site"), "--json", "--neighbours", "2"], registry_url)
    assert result.exit_code == 0, result.output
    assert "report pages" in result.stderr  # the bar over the tasks' pages, on stderr only
    data = json.loads(result.stdout)
    quiet = invoke(["report", "--out", str(tmp_path / "quiet"), "--json", "--quiet"], registry_url)
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr
    assert data["index"].endswith("index.html") and len(data["task_pages"]) == 12
    assert len(data["figures"]) == 2


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["plot", "distances", "--out", "x.jpg"], 2, ".png"),
        (["plot", "map", "--query", "nope"], 1, "zoo embed-task nope"),
        (["plot", "distances", "--method", "variational"], 1, "zoo embed-task"),
        (["report", "--out", "site", "--selection", "missing.json"], 1, "bench evaluate"),
    ],
)
def test_bad_input_is_one_line_with_what_to_do(
    registry_url, tmp_path, monkeypatch, args, code, words, assert_one_line_error
):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(CliRunner().invoke(main, ["--db", registry_url] + args), code, words)


def test_missing_registry_is_not_created(tmp_path):
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    result = CliRunner().invoke(main, ["--db", url, "plot", "map"])
    assert result.exit_code != 0 and "zoo db upgrade" in result.output
    assert not (tmp_path / "absent.db").exists()
