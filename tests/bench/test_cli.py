"""The `evaluate` and `bench` commands: help, JSON, one-line errors, results stored."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zoo.cli import main

COMMANDS = [
    ["evaluate"],
    ["bench"],
    ["bench", "build"],
    ["bench", "report"],
    ["bench", "train-probe"],
    ["bench", "export-demo"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(args, assert_help_has_example):
    assert_help_has_example(*args)


def test_evaluate_unknown_model_is_one_line_error_and_stores_nothing(ci_bench, assert_one_line_error):
    from registry.store import Store

    task = json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"][0]
    result = CliRunner().invoke(main, ["--db", ci_bench["url"], "evaluate", "-m", "no-such-model", "-t", task])
    assert_one_line_error(result, None, "no-such-model")
    with Store.open(ci_bench["url"]) as store:
        assert all(r.model != "no-such-model" for r in store.list_transfer_results())


def test_evaluate_json_matches_the_bench_measurement_and_is_stored(ci_bench, tmp_path):
    import shutil

    from registry.store import Store

    # a copy of the built registry, so the shared one stays as the build left it
    shutil.copy(ci_bench["url"].removeprefix("sqlite:///"), tmp_path / "copy.db")
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    task = json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"][0]
    with Store.open(url) as store:
        model = store.list_models()[0].name
        before = store.list_transfer_results(model=model, task=task)
    result = CliRunner().invoke(main, ["--db", url, "evaluate", "-m", model, "-t", task, "--json"])
    assert result.exit_code == 0, result.output
    assert "features" in result.stderr  # a bar over the test split's images
    data = json.loads(result.stdout)
    assert data["protocol"] == "linear-probe-3shot" and data["protocol_params"]["shots"] == 3
    # the same protocol measured by the build gives the same number
    assert data["value"] == pytest.approx(before[0].value, abs=1e-9)
    with Store.open(url) as store:
        assert len(store.list_transfer_results(model=model, task=task)) == len(before) + 1
    quiet = CliRunner().invoke(main, ["--db", url, "evaluate", "-m", model, "-t", task, "--no-save", "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.stderr


def test_bench_build_unknown_size_is_refused():
    result = CliRunner().invoke(main, ["bench", "build", "--size", "huge"])
    assert result.exit_code != 0 and "huge" in result.output


def test_bench_report_prints_a_table_and_writes_heatmaps(ci_bench, tmp_path):
    result = CliRunner().invoke(main, ["--db", ci_bench["url"], "bench", "report", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Taxonomy agreement" in result.output and "Difficulty" in result.output
    # ci embeds with montecarlo only (variational costs ~13 s a task); small/full do both
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["bench-heatmap-montecarlo.png"]
    data = json.loads(
        CliRunner().invoke(main, ["--db", ci_bench["url"], "bench", "report", "--no-plots", "--json"]).stdout
    )
    assert set(data["agreement"]) == {"montecarlo"}
    assert data["agreement"]["montecarlo"]["all"]["tasks"] >= 7
    assert data["errors"]["tasks"] == 7


def test_bench_report_shows_a_bar_over_its_methods_unless_quiet(ci_bench, tmp_path):
    """Each method's figures and heatmap take seconds (16 s in all on the shipped zoo): a bar counts them."""
    args = ["--db", ci_bench["url"], "bench", "report", "--out-dir", str(tmp_path)]
    shown = CliRunner().invoke(main, args)
    assert shown.exit_code == 0, shown.output
    assert "bench report" in shown.stderr and "1/1" in shown.stderr  # the ci bench embeds with one method
    quiet = CliRunner().invoke(main, [*args, "--quiet"])
    assert quiet.exit_code == 0 and "bench report" not in quiet.stderr
    assert quiet.stdout == shown.stdout


def test_export_demo_writes_a_small_heldout_task(tmp_path):
    result = CliRunner().invoke(main, ["bench", "export-demo", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["set"] == "heldout"
    pngs = list((tmp_path / record["name"]).rglob("*.png"))
    assert 100 <= len(pngs) <= 600


def test_bench_build_in_an_unwritable_place_is_a_one_line_error(tmp_path, assert_one_line_error):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = CliRunner().invoke(
        main, ["--db", url, "bench", "build", "--size", "ci", "--workdir", str(blocker / "work"), "--quiet"]
    )
    assert_one_line_error(result)


def test_bench_report_on_an_empty_registry_says_what_to_run(tmp_path, assert_one_line_error):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    from registry.store import Store

    Store.open(url).close()
    result = CliRunner().invoke(main, ["--db", url, "bench", "report", "--out-dir", str(tmp_path)])
    assert_one_line_error(result, None, "zoo bench build")


def test_evaluate_on_a_task_without_a_test_split_explains_the_layout(ci_bench, tmp_path, assert_one_line_error):
    import shutil

    from registry.store import Store

    shutil.copy(ci_bench["url"].removeprefix("sqlite:///"), tmp_path / "copy.db")
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    flat = tmp_path / "flat"
    for cls in ("a", "b"):
        (flat / cls).mkdir(parents=True)
    with Store.open(url) as store:
        store.add_task("flat-task", data_uri=str(flat), num_classes=2, num_samples=0, fingerprint="x")
        model = store.list_models()[0].name
        rows = len(store.list_transfer_results())
    result = CliRunner().invoke(main, ["--db", url, "evaluate", "-m", model, "-t", "flat-task"])
    assert_one_line_error(result, None, "train/", "test/")
    with Store.open(url) as store:
        assert len(store.list_transfer_results()) == rows
