"""bench evaluate --leave-out on the ci bench: the report's structure, and no left-out task ever trains."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from zoo.api.leaveout import MEAN_KEYS


@pytest.fixture
def bench_copy(ci_bench, tmp_path):
    """A private copy of the session's ci registry (the leave-out runs are not stored, but keep it clean)."""
    source = ci_bench["url"][len("sqlite:///") :]
    shutil.copy(source, tmp_path / "bench.db")
    return f"sqlite:///{tmp_path / 'bench.db'}"


def test_a_fold_run_never_sees_a_task_of_its_left_out_collection(bench_copy):
    from zoo.api import Zoo
    from zoo.api.folds import FoldContext

    with Zoo.open(bench_copy) as z:
        base = z.leave_out._base(None)
        context = FoldContext(z.training, base)
        collections = context.collections()
        assert len(collections) >= 2
        for collection in collections:
            run = context.run([collection])
            seen = set(run.fitted.seen_tasks)
            assert seen == {base.space.task_names[i] for i in run.seen}
            assert seen and not {t for t in seen if context.collection[t] == collection}
            assert not seen & set(base.selected.excluded)  # the bench's held-out tasks stay out too
            assert run.expected.shape == (len(base.space.task_names), len(base.space.models))


def test_leave_out_all_reports_each_fold_every_method_and_the_mean(bench_copy, tmp_path):
    from zoo.api import Zoo

    with Zoo.open(bench_copy) as z:
        report = z.bench_evaluate(
            leave_out=["all"],
            scorers=("logme",),
            max_samples=24,
            out_dir=tmp_path,
            progress=False,
            log=lambda line: None,
        )
        collections = sorted({f["collection"] for f in report["folds"]})
    assert collections == ["emoji", "fashion", "scripts"]
    methods = {
        "chance",
        "generic",
        "nearest source (d_sym)",
        "d_asym",
        "Model2Vec (no shrinkage)",
        "Model2Vec",
        "logme",
        "Model2Vec + LogME top-3",
        "Model2Vec + LogME top-5",
        "Model2Vec + LogME top-3 (no anchor)",
        "Model2Vec + LogME top-5 (no anchor)",
        "logme-gain-screen",
        "Model2Vec + screened LogME top-3",
        "Model2Vec + screened LogME top-5",
        "Model2Vec + LogME auto",
        "oracle",
    }
    for fold in report["folds"]:
        assert {row["method"] for row in fold["rows"]} == methods
        assert fold["tasks"] and 0.0 <= fold["coverage"] <= 1.0
        low, high = fold["coverage_spread"]
        assert 0.0 <= low <= fold["coverage"] <= high <= 1.0
        assert 0.0 <= fold["coverage_shown"] <= 1.0
        assert set(fold["shrinkage"]["fitted_on"]) == set(collections) - {fold["collection"]}
        rows = {row["method"]: row for row in fold["rows"]}
        experts = rows["logme"]["forward_passes_per_task"]
        # a shortlist of K holds at most the candidates (the experts of the architectures within the margin)
        assert 1 <= rows["Model2Vec + LogME top-3"]["forward_passes_per_task"] <= min(3, experts)
        assert 1 <= rows["Model2Vec + LogME top-5 (no anchor)"]["forward_passes_per_task"] <= min(5, experts)
        screened = rows["Model2Vec + screened LogME top-5"]["forward_passes_per_task"]
        # every candidate on a tenth and the shortlist on the rest, or the shortlist alone where the screen is
        # skipped (one image per class, or a shortlist of every candidate)
        assert 0.9 <= screened <= experts * 0.1 + min(5, experts) + 1e-9
        assert 0 <= rows["Model2Vec + LogME auto"]["forward_passes_per_task"] <= experts * 0.1 + min(5, experts)
        assert rows["oracle"]["gap_points"] == 0
        assert [p["task"] for p in fold["per_task"]] == fold["tasks"]
    assert {row["method"] for row in report["mean"]} == methods
    for row in report["mean"]:  # each figure of the mean, averaged by hand over the folds that have it
        for key in MEAN_KEYS:
            values = [
                r[key]
                for f in report["folds"]
                for r in f["rows"]
                if r["method"] == row["method"] and r.get(key) is not None
            ]
            assert row[key] == (pytest.approx(sum(values) / len(values), rel=1e-12) if values else None), key
    written = json.loads((tmp_path / "leave-out.json").read_text())
    assert written["coverage"] == report["coverage"]
    assert written["coverage_shown"] == {f["collection"]: f["coverage_shown"] for f in report["folds"]}
    assert "Mean over folds" in (tmp_path / "leave-out.md").read_text()


def test_an_unknown_collection_is_a_one_line_error(bench_copy, assert_one_line_error):
    from zoo.cli import main

    result = CliRunner().invoke(
        main, ["--db", bench_copy, "bench", "evaluate", "--leave-out", "klingon", "--no-scorers"]
    )
    assert_one_line_error(result, 2, "--leave-out COLLECTION")


def test_a_rerun_reads_fold_runs_and_scores_back_from_the_cache(bench_copy, tmp_path, monkeypatch):
    from zoo.api import Zoo

    with Zoo.open(bench_copy) as z:
        first = z.bench_evaluate(
            leave_out=["fashion"],
            scorers=("logme",),
            max_samples=24,
            out_dir=tmp_path,
            progress=False,
            log=lambda line: None,
        )
        assert list((tmp_path / "leave-out-cache").glob("fold-*.npz"))

        def no_training(*args, **kwargs):
            raise AssertionError("a cached fold was trained again")

        monkeypatch.setattr(z.training, "fit", no_training)
        monkeypatch.setattr(z.judge, "timed_scorer_matrix", no_training)  # scorer_matrix calls it too
        lines = []
        again = z.bench_evaluate(
            leave_out=["fashion"],
            scorers=("logme",),
            max_samples=24,
            out_dir=tmp_path,
            progress=False,
            log=lines.append,
        )
    assert any("from the cache" in line for line in lines)

    def figures(report):  # everything but the timings of the Task2Vec methods, which are measured anew
        return [{k: v for k, v in row.items() if k != "seconds_per_task"} for row in report["folds"][0]["rows"]]

    assert figures(again) == figures(first)
    logme = {r["method"]: r for r in again["folds"][0]["rows"]}["logme"]
    assert logme["seconds_per_task"] == {r["method"]: r for r in first["folds"][0]["rows"]}["logme"]["seconds_per_task"]


def test_an_interrupted_train_model2vec_resumes_with_the_fold_runs_it_finished(bench_copy, tmp_path, monkeypatch):
    """The fold runs that fit the shrinkage are most of train-model2vec's time: one interrupted after its
    first fold run resumes from it, the run it stores is the uninterrupted one's, and nothing is left behind."""
    from zoo.api import Zoo
    from zoo.api.folds import FoldContext

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real, trained = FoldContext.run, []

    def counting(self, left_out, **kwargs):
        trained.append(tuple(left_out))
        if len(trained) == 2 and interrupt:
            raise KeyboardInterrupt  # as a Ctrl-C in the second fold run
        return real(self, left_out, **kwargs)

    monkeypatch.setattr(FoldContext, "run", counting)
    settings = {"epochs": 30, "seed": 0, "progress": False}
    with Zoo.open(bench_copy) as z:
        before = z.store.counts()["model2vec_runs"]
        interrupt = True
        with pytest.raises(KeyboardInterrupt):
            z.train_model2vec(**settings)
        assert z.store.counts()["model2vec_runs"] == before  # nothing stored
        first = trained[0]
        trained.clear()
        interrupt = False
        resumed = z.train_model2vec(**settings)
        assert first not in trained and len(trained) >= 2  # the finished fold is read back, the rest trained
        trained.clear()
        again = z.train_model2vec(**settings)  # the registry changed (a run more): every fold is trained
        assert first in trained
    assert resumed["hyperparams"]["shrinkage"] == again["hyperparams"]["shrinkage"]
    assert not list((tmp_path / "cache").rglob("*.npz"))  # a finished run leaves no fold run behind
