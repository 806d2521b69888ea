"""`zoo demo` on the shipped zoo and demo task: the README's main job."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from zoo.cli import main
from zoo.demo import SHIPPED_ZOO, demo_task


def test_demo_recommends_for_the_shipped_heldout_task_in_its_own_registry(tmp_path, monkeypatch):
    user_db = tmp_path / "user.db"
    monkeypatch.setenv("ZOO_DATABASE_URL", f"sqlite:///{user_db}")
    work = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--workdir", str(work), "-k", "3", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    folder, meta = demo_task()
    assert out["task"] == meta["name"] and out["registry"] == f"sqlite:///{work / 'zoo.db'}"
    picks = out["recommendations"]
    assert [p["rank"] for p in picks] == [1, 2, 3]
    assert all(0.0 <= p["expected_error"] <= 1.0 for p in picks)
    # ranked by expected error (Model2Vec's, shrunk toward each expert's prior by the task's novelty)
    assert picks[0]["expected_error"] <= picks[1]["expected_error"] <= picks[2]["expected_error"]
    assert all(p["low"] <= p["expected_error"] <= p["high"] for p in picks)
    with Image.open(out["plot"]) as image:
        assert image.width > 400 and image.height > 200
    assert not user_db.exists()  # the user's registry is never touched
    # a second run reuses the imported registry
    again = CliRunner().invoke(main, ["demo", "--workdir", str(work), "-k", "3", "--quiet", "--json"])
    assert again.exit_code == 0, again.output
    assert [p["model"] for p in json.loads(again.output)["recommendations"]] == [p["model"] for p in picks]
    # the text says what it holds in words, as `zoo import` does
    text = CliRunner().invoke(main, ["demo", "--workdir", str(tmp_path / "words"), "-k", "1", "--quiet"])
    assert text.exit_code == 0, text.output
    assert (
        "(1 probe, 279 tasks, 48 models, 480 task embeddings, 8832 transfer results, 2 model2vec runs)" in text.output
    )


def test_shipped_zoo_is_small_enough_to_ship():
    assert SHIPPED_ZOO.stat().st_size <= 10 * 1024 * 1024


def test_a_demo_registry_from_another_shipped_zoo_is_rebuilt(tmp_path):
    """After an upgrade of zoo (a new shipped zoo, maybe a new schema) the demo re-imports instead of failing."""
    import sqlite3

    from zoo.demo import prepare

    work = tmp_path / "demo"
    first = prepare(work)
    marker = json.loads((work / "imported.json").read_text())
    # an older demo: another file digest, and a registry that lacks the newest schema change
    (work / "imported.json").write_text(json.dumps({**marker, "sha256": "0" * 64}))
    with sqlite3.connect(work / "zoo.db") as db:
        db.execute("DELETE FROM transfer_results")
    again = prepare(work)
    assert again.imported == first.imported
    with sqlite3.connect(work / "zoo.db") as db:
        assert db.execute("SELECT COUNT(*) FROM transfer_results").fetchone()[0] == first.imported["transfer_result"]
    assert json.loads((work / "imported.json").read_text())["sha256"] == marker["sha256"]
