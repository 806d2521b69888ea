"""The registry's commands through click: exit codes, one-line errors, --json, nothing changed on failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from registry.store import Store
from zoo.cli import main


def _runner_for(url: str):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["--db", url, *args], catch_exceptions=False)

    run.url = url
    return run


@pytest.fixture
def zoo(store_url):
    """Run ``zoo --db <store_url> ARGS...`` (SQLite and PostgreSQL); returns the click Result."""
    return _runner_for(store_url)


@pytest.fixture
def sqlite_zoo(sqlite_url):
    """Run ``zoo --db <sqlite_url> ARGS...``; returns the click Result."""
    return _runner_for(sqlite_url)


def snapshot(url: str, tmp_path: Path) -> list[str]:
    """Every row of the registry (the export without its header)."""
    path = tmp_path / "snapshot.jsonl"
    with Store.open(url, create=False) as store:
        store.export_jsonl(path)
        tokens = [store.revision_token(k) for k in ("models", "task_embeddings", "model_embeddings")]
    return path.read_text(encoding="utf-8").splitlines()[1:] + tokens


def _seed(url: str) -> None:
    with Store.open(url) as store:
        store.add_model("resnet18.a1_in1k", "timm:resnet18.a1_in1k", tags={"family": "resnet"})
        store.add_model("vit_small.augreg", "timm:vit_small.augreg", tags={"family": "vit"}, trained_on="imagenet-21k")
        store.add_task(
            "devanagari",
            data_uri="/scripts/devanagari",
            num_classes=12,
            num_samples=240,
            fingerprint="f" * 64,
            taxonomy="scripts/brahmic/north",
        )
        store.ensure_probe("bundled", arch="resnet18", weights_checksum="c" * 64, embedding_length=3, layers=["layer4"])
        store.put_task_embedding(
            "devanagari",
            "bundled",
            "montecarlo",
            np.array([0.25, 1.5, 3e-5]),
            sample_count=240,
            seed=7,
            params={"head": "logreg"},
            package_version="0.1.0",
        )
        store.add_transfer_result(
            "resnet18.a1_in1k",
            "devanagari",
            metric="test_error",
            value=0.2,
            protocol="linear",
            protocol_params={},
            train_size=60,
            test_size=120,
        )


def test_register_model_and_show_it(zoo):
    _seed(zoo.url)
    result = zoo(
        "register-model",
        "resnet34.a1_in1k",
        "--source",
        "timm:resnet34.a1_in1k",
        "--trained-on",
        "devanagari",
        "--tag",
        "family=resnet",
        "--tag",
        "note=a=b",
        "--description",
        "a ResNet",
    )
    assert result.exit_code == 0 and "resnet34.a1_in1k" in result.stdout
    shown = json.loads(zoo("models", "show", "resnet34.a1_in1k", "--json").stdout)
    assert shown["tags"] == {"family": "resnet", "note": "a=b"}
    assert (shown["arch"], shown["trained_on"]) == ("resnet34", "devanagari")
    text = zoo("models", "show", "resnet34.a1_in1k").stdout
    assert "family=resnet" in text and "devanagari" in text


def test_register_model_json_output_parses(zoo):
    result = zoo("register-model", "m", "--source", "hf-hub:org/m", "--arch", "resnet18", "--json")
    assert json.loads(result.stdout)["source"] == "hf-hub:org/m"


BAD_INPUT = [
    (["register-model", "resnet18.a1_in1k", "--source", "timm:resnet18"], 1, "'resnet18.a1_in1k' already exists"),
    (["register-model", "new", "--source", "timm:new", "--tag", "family"], 2, "--tag KEY=VALUE"),
    (["register-model", "new", "--source", "timm:new", "--tag", "=x"], 2, "--tag KEY=VALUE"),
    (["register-model", "new", "--source", "resnet18"], 2, "timm:NAME"),
    (["register-model", "bad name", "--source", "timm:x"], 2, "bad model name"),
    (["models", "show", "nope"], 1, "'nope'"),
    (["models", "list", "--tag", "oops"], 2, "--tag KEY=VALUE"),
    (["models", "remove", "nope"], 1, "'nope'"),
    (["models", "remove", "resnet18.a1_in1k"], 1, "--force"),
    (["models", "alias", "best", "nope"], 1, "'nope'"),
    (["models", "alias", "vit_small.augreg", "resnet18.a1_in1k"], 1, "model name"),
    (["tasks", "show", "nope"], 1, "'nope'"),
    (["tasks", "remove", "nope"], 1, "'nope'"),
    (["tasks", "remove", "devanagari"], 1, "--force"),
    (["import", "missing.jsonl"], 2, "cannot read"),
    # a model trained on a task the registry does not know would start Model2Vec from the mean, silently
    (["register-model", "new", "--source", "timm:new", "--trained-on", "nosuch"], 1, "drop --trained-on"),
    (["register-model", "new", "--source", "timm:new", "--num-params", "-5"], 2, "--num-params"),
]
# The backend-sensitive cases (unique names, dependent rows) run on PostgreSQL too.
BAD_INPUT_BOTH = [BAD_INPUT[0], BAD_INPUT[8], BAD_INPUT[10], BAD_INPUT[13]]


@pytest.mark.parametrize("args, code, fragment", BAD_INPUT)
def test_bad_input_gives_one_line_error_and_changes_nothing(
    sqlite_zoo, tmp_path, args, code, fragment, assert_one_line_error
):
    _check_bad_input(sqlite_zoo, tmp_path, args, code, fragment, assert_one_line_error)


@pytest.mark.parametrize("args, code, fragment", BAD_INPUT_BOTH)
def test_bad_input_on_both_backends(zoo, tmp_path, args, code, fragment, assert_one_line_error):
    _check_bad_input(zoo, tmp_path, args, code, fragment, assert_one_line_error)


def _check_bad_input(zoo, tmp_path, args, code, fragment, assert_one_line_error) -> None:
    _seed(zoo.url)
    before = snapshot(zoo.url, tmp_path)
    assert_one_line_error(zoo(*args), code, fragment)
    assert snapshot(zoo.url, tmp_path) == before


@pytest.mark.parametrize(
    "url, code, fragment",
    [
        ("postgresql+psycopg://nobody@127.0.0.1:1/zoo", 1, "cannot use the database"),
        ("foo:bar", 2, "bad database URL"),
        ("mysql://u@localhost/zoo", 2, "unsupported database"),
    ],
)
def test_unreachable_or_bad_database_url_is_one_line(url, code, fragment, assert_one_line_error):
    result = CliRunner().invoke(main, ["--db", url, "models", "list"])
    assert_one_line_error(result, code, fragment)


@pytest.mark.parametrize("args", [("models", "list"), ("db", "upgrade"), ("db", "current")])
def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path, args, assert_one_line_error):
    target = tmp_path / "notes.txt"
    target.write_text("not a database\n")
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{target}", *args])
    assert_one_line_error(result, 1, "file is not a database", "SQLite path")
    assert target.read_text() == "not a database\n"


def test_sqlite_file_in_a_missing_directory_is_refused_and_not_created(tmp_path, assert_one_line_error):
    target = tmp_path / "nowhere" / "zoo.db"
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{target}", "models", "list"])
    assert_one_line_error(result, 1, "does not exist")
    assert not target.parent.exists()


def test_database_from_environment_variable(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("ZOO_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["register-model", "m", "--source", "timm:m"])
    assert result.exit_code == 0, result.stderr
    with Store.open(url, create=False) as store:
        assert [m.name for m in store.list_models()] == ["m"]


def test_models_list_filters_and_json(zoo):
    _seed(zoo.url)
    listed = json.loads(zoo("models", "list", "--json").stdout)
    assert [m["name"] for m in listed] == ["resnet18.a1_in1k", "vit_small.augreg"]
    assert [m["name"] for m in json.loads(zoo("models", "list", "--filter", "vit*", "--json").stdout)] == [
        "vit_small.augreg"
    ]
    assert [m["name"] for m in json.loads(zoo("models", "list", "--tag", "family=resnet", "--json").stdout)] == [
        "resnet18.a1_in1k"
    ]
    table = zoo("models", "list").stdout.splitlines()
    assert table[0].split()[:2] == ["NAME", "SOURCE"] and len(table) == 3


def test_models_alias_then_show_by_alias(zoo):
    _seed(zoo.url)
    assert zoo("models", "alias", "best", "vit_small.augreg").exit_code == 0
    assert json.loads(zoo("models", "show", "best", "--json").stdout)["name"] == "vit_small.augreg"
    zoo("models", "alias", "best", "resnet18.a1_in1k")
    assert json.loads(zoo("models", "show", "best", "--json").stdout)["name"] == "resnet18.a1_in1k"


def test_models_remove_with_force_says_what_went(zoo):
    _seed(zoo.url)
    result = zoo("models", "remove", "resnet18.a1_in1k", "--force")
    assert result.exit_code == 0 and "with 1 transfer result, 1 model tag" in result.stdout
    removed = json.loads(zoo("models", "remove", "vit_small.augreg", "--json").stdout)
    assert removed["models"] == 1
    assert json.loads(zoo("models", "list", "--json").stdout) == []


def test_tasks_list_show_with_embedding_vectors_and_remove(zoo):
    _seed(zoo.url)
    listed = json.loads(zoo("tasks", "list", "--json").stdout)
    assert [(t["name"], t["num_classes"]) for t in listed] == [("devanagari", 12)]
    shown = json.loads(zoo("tasks", "show", "devanagari", "--json").stdout)
    assert shown["task"]["taxonomy"] == "scripts/brahmic/north"
    [embedding] = shown["embeddings"]
    assert (embedding["probe"], embedding["method"], embedding["seed"]) == ("bundled", "montecarlo", 7)
    np.testing.assert_allclose(embedding["vector"], [0.25, 1.5, 3e-5], rtol=1e-6)
    text = zoo("tasks", "show", "devanagari").stdout
    assert "bundled/montecarlo" in text and "[0.25, 1.5, 3e-05]" in text and "seed 7" in text
    assert "--json prints them whole" not in text  # a short vector is shown whole
    result = zoo("tasks", "remove", "devanagari", "--force")
    assert result.exit_code == 0 and "with 1 task embedding" in result.stdout
    assert json.loads(zoo("tasks", "list", "--json").stdout) == []


def test_tasks_remove_of_a_models_training_task_needs_force_then_clears_it(zoo, assert_one_line_error):
    _seed(zoo.url)
    assert zoo("register-model", "m", "--source", "timm:resnet34", "--trained-on", "devanagari").exit_code == 0
    refused = zoo("tasks", "remove", "devanagari")
    assert_one_line_error(refused, 1, "is the training task of 1 model (m)")
    assert json.loads(zoo("models", "show", "m", "--json").stdout)["trained_on"] == "devanagari"
    result = zoo("tasks", "remove", "devanagari", "--force")
    assert result.exit_code == 0 and "; 1 model no longer names it as trained_on" in result.stdout
    assert json.loads(zoo("models", "show", "m", "--json").stdout)["trained_on"] is None


def test_export_then_import_into_another_registry_and_clash(zoo, tmp_path, assert_one_line_error):
    _seed(zoo.url)
    backup = tmp_path / "backup.jsonl"
    exported = json.loads(zoo("export", str(backup), "--json").stdout)
    assert exported["counts"]["model"] == 2 and backup.exists()
    other = f"sqlite:///{tmp_path / 'other.db'}"
    runner = CliRunner()
    result = runner.invoke(main, ["--db", other, "import", str(backup)])
    assert result.exit_code == 0 and "2 models" in result.stdout
    before = snapshot(other, tmp_path)
    again = runner.invoke(main, ["--db", other, "import", str(backup)])
    assert_one_line_error(again, 1, "nothing was imported")
    assert snapshot(other, tmp_path) == before
    assert snapshot(other, tmp_path)[:-3] == snapshot(zoo.url, tmp_path)[:-3]


def test_db_upgrade_and_current(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    runner = CliRunner()
    first = json.loads(runner.invoke(main, ["--db", url, "db", "upgrade", "--json"]).stdout)
    assert first["from"] is None and first["to"] == first["head"]
    again = runner.invoke(main, ["--db", url, "db", "upgrade"])
    assert again.exit_code == 0 and "already at schema" in again.stdout
    current = json.loads(runner.invoke(main, ["--db", url, "db", "current", "--json"]).stdout)
    assert current["revision"] == current["head"] and current["counts"]["models"] == 0


def test_stale_schema_asks_for_db_upgrade_then_upgrade_fixes_it(tmp_path, assert_one_line_error):
    from registry.schema import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    runner = CliRunner()
    assert_one_line_error(runner.invoke(main, ["--db", url, "models", "list"]), 1, "zoo db upgrade")
    current = runner.invoke(main, ["--db", url, "db", "current"])
    assert current.exit_code == 1 and "behind: run `zoo db upgrade`" in current.stdout  # a schema it cannot use
    assert runner.invoke(main, ["--db", url, "db", "upgrade"]).exit_code == 0
    assert runner.invoke(main, ["--db", url, "models", "list", "--json"]).stdout.strip() == "[]"


def test_db_current_of_a_missing_file_does_not_create_it(tmp_path, assert_one_line_error):
    target = tmp_path / "absent.db"
    result = CliRunner().invoke(main, ["--db", f"sqlite:///{target}", "db", "current", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["revision"] is None
    assert not target.exists()
    assert_one_line_error(
        CliRunner().invoke(main, ["--db", f"sqlite:///{target}", "export", str(tmp_path / "out.jsonl")]),
        1,
        "zoo db upgrade",
    )
    assert not target.exists()


def test_in_memory_sqlite_is_refused(assert_one_line_error):
    assert_one_line_error(CliRunner().invoke(main, ["--db", "sqlite://", "models", "list"]), 2, "sqlite:///PATH")


def test_tasks_show_summarises_a_long_vector_and_json_keeps_it_whole(sqlite_zoo):
    vector = np.linspace(-1.0, 2.0, 3000)
    with Store.open(sqlite_zoo.url) as store:
        store.add_task("devanagari", data_uri="/d", num_classes=12, num_samples=240, fingerprint="f" * 64)
        store.ensure_probe("bundled", arch="resnet18", weights_checksum="c" * 64, embedding_length=3000, layers=["l"])
        store.put_task_embedding(
            "devanagari", "bundled", "montecarlo", vector, sample_count=240, seed=0, params={}, package_version="0.1"
        )
    text = sqlite_zoo("tasks", "show", "devanagari").stdout
    assert len(text) < 2000, "thousands of values printed"
    assert f"3000 values, norm {np.linalg.norm(vector):.6g}, min -1, max 2, first [-1, " in text
    assert "--json prints them whole" in text
    shown = json.loads(sqlite_zoo("tasks", "show", "devanagari", "--json").stdout)
    assert max(len(e["vector"]) for e in shown["embeddings"]) == 3000


@pytest.mark.parametrize(
    "args, says",
    [
        (["tasks", "list", "--filter", "nomatch*"], "No tasks match 'nomatch*'"),
        (["models", "list", "--filter", "x"], "No models match 'x'"),
        (["models", "list", "--tag", "family=none"], "No models match tag family=none"),
    ],
)
def test_a_filter_that_matches_nothing_says_so(sqlite_zoo, args, says):
    _seed(sqlite_zoo.url)
    result = sqlite_zoo(*args)
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr.startswith(says) and "embed-task" not in result.stderr


def test_an_empty_registry_says_how_to_add_a_task_or_a_model(sqlite_zoo):
    assert "`zoo embed-task NAME --data PATH`" in sqlite_zoo("tasks", "list").stderr
    assert "`zoo register-model NAME --source URI`" in sqlite_zoo("models", "list").stderr
