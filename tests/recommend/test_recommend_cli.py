"""The CLI commands of issue 5, driven with CliRunner on a synthetic registry."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from zoo.cli import main

from .conftest import METHOD, PROBE, fill_registry


@pytest.fixture
def db(sqlite_url):
    from registry.store import Store

    store = Store.open(sqlite_url)
    fill_registry(store, num_tasks=24, num_models=4)
    store.close()
    return sqlite_url


def _zoo(db, *args):
    return CliRunner().invoke(main, ["--db", db, *args], catch_exceptions=False)


def test_train_then_recommend_json_and_table(db, tmp_path):
    out = _zoo(db, "train-model2vec", "--epochs", "30", "--quiet", "--json")
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert summary["probe"] == PROBE and summary["models"] == 4
    out = _zoo(db, "recommend", "--task", "task03", "-k", "2", "--quiet", "--json")
    assert out.exit_code == 0, out.output
    recs = json.loads(out.output)["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2] and all("expected_error" in r and r["evidence"] for r in recs)
    table = _zoo(db, "recommend", "--task", "task03", "-k", "2", "--quiet")
    assert table.exit_code == 0 and recs[0]["model"] in table.output and "evidence" in table.output


def test_recommend_plot_writes_a_chart(db, tmp_path):
    _zoo(db, "train-model2vec", "--epochs", "5", "--quiet")
    out = _zoo(db, "recommend", "--task", "task03", "-k", "3", "--quiet", "--plot", str(tmp_path / "p.png"))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_index_rebuild_json(db):
    _zoo(db, "train-model2vec", "--epochs", "5", "--quiet")
    out = _zoo(db, "index", "rebuild", "--probe", PROBE, "--method", METHOD, "--quiet", "--json")
    assert out.exit_code == 0, out.output
    kinds = {item["built_from"]["kind"]: item for item in json.loads(out.output)}
    assert kinds["models"]["count"] == 4 and kinds["tasks"]["count"] == 24


@pytest.mark.parametrize(
    "args,needle",
    [
        (["recommend", "--task", "task03"], "train-model2vec"),  # no run yet
        (["train-model2vec", "--val-fraction", "1.5", "--quiet"], "--val-fraction"),
        (["index", "rebuild", "--factory", "Nonsense99", "--quiet"], "--factory"),
    ],
)
def test_bad_input_is_one_line_nonzero_and_leaves_registry_unchanged(db, args, needle, assert_one_line_error):
    from registry.store import Store

    with Store.open(db) as store:
        before = store.counts()
    assert_one_line_error(CliRunner().invoke(main, ["--db", db, *args]), None, needle)
    with Store.open(db) as store:
        assert store.counts() == before


@pytest.mark.parametrize("command", [["train-model2vec"], ["recommend"], ["index"], ["index", "rebuild"]])
def test_every_command_has_help_with_an_example(command, assert_help_has_example):
    assert_help_has_example(*command)


def test_train_with_named_validation_tasks(db):
    out = _zoo(
        db, "train-model2vec", "--epochs", "5", "--val-task", "task01", "--val-task", "task02", "--quiet", "--json"
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["metrics"]["val_tasks"] == ["task01", "task02"]
    bad = CliRunner().invoke(main, ["--db", db, "train-model2vec", "--val-task", "nope", "--quiet"])
    assert bad.exit_code != 0 and "nope" in bad.output


def test_recommend_names_the_architectures_a_verification_left_out(db, monkeypatch):
    import dataclasses

    from zoo.api import Zoo
    from zoo.api.recommend import Recommendation

    base = {"expected_error": 0.2, "distance": 0.1, "evidence": (), "trained": True, "source": "timm:x"}
    recs = [
        Recommendation(rank=1, model="a", arch="resnet10t", logme=1.0, verified_rank=1, candidate=True, **base),
        Recommendation(rank=2, model="b", arch="lcnet_050", candidate=False, **base),
        Recommendation(rank=3, model="c", arch="lcnet_050", candidate=False, **base),
    ]
    recs = [dataclasses.replace(r, left_out=("lcnet_050", "test_resnet")) for r in recs]
    monkeypatch.setattr(Zoo, "recommend", lambda self, *args, **kwargs: recs)
    out = _zoo(db, "recommend", "--task", "task03", "--verify", "2", "--quiet")
    assert out.exit_code == 0, out.output
    assert "Not eligible for verification: the lcnet_050, test_resnet experts" in out.output
    out = _zoo(db, "recommend", "--task", "task03", "--verify", "2", "--quiet", "--json")
    assert [r["candidate"] for r in json.loads(out.output)["recommendations"]] == [True, False, False]
    first = [dataclasses.replace(recs[0], left_out=())]
    monkeypatch.setattr(Zoo, "recommend", lambda self, *args, **kwargs: first)
    assert "Not eligible" not in _zoo(db, "recommend", "--task", "task03", "--verify", "2", "--quiet").output


def test_a_screen_share_out_of_range_is_one_line(db, assert_one_line_error):
    _zoo(db, "train-model2vec", "--epochs", "5", "--quiet")
    result = CliRunner().invoke(main, ["--db", db, "recommend", "--task", "task03", "--verify", "2", "--screen", "1.5"])
    assert_one_line_error(result, None, "--screen", "from 0 to 1")


def test_the_novelty_line_writes_ordinals_in_english():
    from zoo.cli.recommend import ordinal

    cases = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 62: "62nd"}
    cases |= {100: "100th", 101: "101st", 111: "111th", 0: "0th", 23: "23rd"}
    assert {n: ordinal(n) for n in cases} == cases


def test_train_names_the_experts_it_could_not_learn_and_recommend_says_how_to_fix_them(db):
    from registry.store import Store

    with Store.open(db) as store:
        store.add_model("never-measured", "timm:resnet18.never", arch="resnet18")
    out = _zoo(db, "train-model2vec", "--epochs", "5", "--quiet")
    assert out.exit_code == 0, out.output
    assert "4/5 models trained" in out.output
    assert "not trained (no measured result to learn from; ranked as an average expert): never-measured;" in out.output
    table = _zoo(db, "recommend", "--task", "task03", "-k", "5", "--quiet").output
    line = next(row for row in table.splitlines() if "never-measured" in row)
    assert line.endswith("[no result learned from: zoo evaluate, then train-model2vec]")
    assert json.loads(_zoo(db, "train-model2vec", "--epochs", "5", "--quiet", "--json").output)["untrained"] == [
        "never-measured"
    ]
