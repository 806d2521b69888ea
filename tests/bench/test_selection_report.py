"""`zoo bench evaluate` on a built ci bench: every method side by side, files written."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from zoo.cli import main


def test_bench_evaluate_judges_every_method_on_the_heldout_tasks(ci_bench, tmp_path):
    heldout = set(json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"])
    out = tmp_path / "figures"
    result = CliRunner().invoke(
        main,
        [
            "--db",
            ci_bench["url"],
            "bench",
            "evaluate",
            "--scorer",
            "logme",
            "--max-samples",
            "24",
            "--out-dir",
            str(out),
            "--quiet",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["tasks"] and set(report["tasks"]) <= heldout
    methods = [row["method"] for row in report["rows"]]
    for name in ("chance", "generic", "nearest source (d_sym)", "d_asym", "Model2Vec", "logme", "oracle"):
        assert name in methods
    oracle = next(row for row in report["rows"] if row["method"] == "oracle")
    assert oracle["relative_error"] == 0.0 and oracle["top1"] == 1.0
    assert {row["task"] for row in report["per_task"]} == set(report["tasks"])
    assert all(row["worst"] >= row["best"] for row in report["per_task"])
    written = json.loads((out / "selection.json").read_text())
    assert written["rows"] == report["rows"]
    assert "| Model2Vec |" in (out / "selection.md").read_text()
    with Image.open(out / "selection.png") as image:
        assert image.width > 600 and image.height > 200


def test_bench_evaluate_on_an_empty_registry_says_what_to_do(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    CliRunner().invoke(main, ["--db", url, "db", "upgrade"])
    result = CliRunner().invoke(main, ["--db", url, "bench", "evaluate", "--out-dir", str(tmp_path)])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output


def test_the_reported_calibration_is_what_recommend_prints_for_each_heldout_task(ci_bench, monkeypatch):
    """Coverage and mean absolute error of the default ranking's expected errors, recomputed one task at a time
    from ``recommend`` (its expected errors and intervals) and the registry's measured errors; the coverage of
    the pairs shown from ``recommend``'s first SHOWN experts (2 here: the ci bench has 4)."""
    import numpy as np

    import zoo.api.judge
    from zoo.api import Zoo

    monkeypatch.setattr(zoo.api.judge, "SHOWN", 2)
    with Zoo.open(ci_bench["url"]) as z:
        report = z.judge.evaluate_selection(progress=False)
        inside, gaps = [], []
        for task in report["tasks"]:
            measured = z.recommender.measured_errors(task, protocol=report["protocol"], metric=report["metric"])
            for r in z.recommend(task, k=len(report["models"]), progress=False):
                if r.model in measured:
                    inside.append(r.low <= measured[r.model] <= r.high)
                    gaps.append(abs(measured[r.model] - r.expected_error))
        shown = []  # the intervals a user reads: recommend's first SHOWN
        for task in report["tasks"]:
            measured = z.recommender.measured_errors(task, protocol=report["protocol"], metric=report["metric"])
            picks = z.recommend(task, k=2, progress=False)
            shown += [r.low <= measured[r.model] <= r.high for r in picks if r.model in measured]
    assert report["coverage"] == pytest.approx(float(np.mean(inside)), abs=1e-12)
    assert report["coverage_shown"] == pytest.approx(float(np.mean(shown)), abs=1e-12)
    assert report["expected_error_mae"] == pytest.approx(100 * float(np.mean(gaps)), rel=1e-9)
    assert "80% interval holds" in report["markdown"] and "of its top 2's" in report["markdown"]


def test_the_judges_generic_pick_is_recommends_lowest_prior_with_ties_by_name():
    from types import SimpleNamespace

    import numpy as np

    from zoo.api.judge import _generic_pick

    space = SimpleNamespace(models=[SimpleNamespace(name=n) for n in ("c", "b", "a", "d")])
    trust = SimpleNamespace(prior={"c": 0.2, "b": 0.1, "a": 0.1, "d": float("nan")})
    # the training tasks' mean error prefers "d": the prior decides, as recommend's Scored.generic does
    assert _generic_pick(trust, space, np.array([0.3, 0.3, 0.3, 0.05])) == 2  # "a": ties go by name
    assert _generic_pick(SimpleNamespace(prior={}), space, np.array([0.3, 0.3, 0.3, 0.05])) == 3  # no priors
    assert _generic_pick(SimpleNamespace(prior={}), space) == -1


def test_a_scorer_matrix_shows_its_pairs_on_a_bar(ci_bench, capsys):
    """The forward-pass scorers are the slow part of bench evaluate: a bar counts the (task, expert) pairs."""
    from zoo.api import Zoo

    with Zoo.open(ci_bench["url"]) as z:
        task = json.loads((ci_bench["workdir"] / "sets.json").read_text())["heldout"][0]
        experts = [m for m in z.store.list_models() if m.name.startswith("expert-")][:2]
        shown = z.judge.scorer_matrix("logme", [task], experts, 24, progress=True)  # computed: nothing cached
        err = capsys.readouterr().err
        quiet = z.judge.scorer_matrix("logme", [task], experts, 24, progress=False)  # read back from the cache
        assert capsys.readouterr().err == ""
    assert "logme" in err and "0/2" in err and "2/2" in err
    assert (quiet == shown).all()
