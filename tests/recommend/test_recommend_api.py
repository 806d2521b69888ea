"""End to end through the Zoo API on a synthetic registry (SQLite)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from registry.errors import InvalidInput, NotFound, ProbeMismatch

from .conftest import METHOD, PROBE


def _train(zoo, **kw):
    # the synthetic errors follow the hidden rule on every pair, a model's own task included, so those pairs
    # are as informative as any here (on real benches they are not; see the own-task test below)
    kw.setdefault("own_task_pairs", True)
    return zoo.train_model2vec(
        probe=PROBE, method=METHOD, epochs=kw.pop("epochs", 250), val_fraction=0.25, progress=False, **kw
    )


def test_train_stores_run_and_every_model_embedding(synthetic_zoo):
    zoo, truth = synthetic_zoo
    summary = _train(zoo)
    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    assert run.id == summary["run_id"] and run.hyperparams["objective"] == "both"
    assert set(run.metrics["val_tasks"]) and not set(run.metrics["val_tasks"]) & set(run.metrics["train_tasks"])
    embeddings = zoo.store.list_model_embeddings(run.id)
    assert sorted(e.model for e in embeddings) == truth["model_names"]
    assert all(np.all(e.vector > 0) and e.trained for e in embeddings)


def test_recommend_registered_task_ranks_the_best_model_first(synthetic_zoo):
    zoo, truth = synthetic_zoo
    summary = _train(zoo)
    hits = 0
    for task in summary["metrics"]["val_tasks"]:
        recs = zoo.recommend(task, k=3, progress=False)
        i = truth["task_names"].index(task)
        best = truth["model_names"][int(np.argmin(truth["errors"][i]))]
        hits += recs[0].model == best
        assert [r.rank for r in recs] == [1, 2, 3]
        assert recs[0].distance <= recs[1].distance <= recs[2].distance
        assert all(ev.task != task for ev in recs[0].evidence)  # evidence comes from other tasks
        measured = truth["errors"][i, truth["model_names"].index(recs[0].model)]
        assert recs[0].expected_error == pytest.approx(measured, abs=0.05)
    assert hits >= 0.8 * len(summary["metrics"]["val_tasks"])


def test_evidence_lists_nearest_tasks_with_measured_errors(synthetic_zoo):
    zoo, truth = synthetic_zoo
    _train(zoo, epochs=20)
    rec = zoo.recommend("task05", k=1, progress=False)[0]
    assert len(rec.evidence) == 3
    j = truth["model_names"].index(rec.model)
    for ev in rec.evidence:
        assert ev.error == pytest.approx(truth["errors"][truth["task_names"].index(ev.task), j], rel=1e-6)


def test_model_registered_after_training_is_recommended_untrained(synthetic_zoo):
    zoo, truth = synthetic_zoo
    _train(zoo, epochs=20)
    # a newcomer trained on task07 itself: nearest by construction for task07
    zoo.store.add_model("newcomer", "timm:resnet18.new", arch="resnet18", trained_on="task07")
    recs = zoo.recommend("task07", k=len(truth["model_names"]) + 1, progress=False)
    newcomer = [r for r in recs if r.model == "newcomer"]
    assert newcomer and newcomer[0].trained is False
    assert all(r.trained for r in recs if r.model != "newcomer")
    # an expert of average quality: its embedding (task07's own) was never calibrated by the run, so its
    # nearness must not make it the predicted best (it was, at an error far below every measured one)
    others = [r for r in recs if r.model != "newcomer"]
    logits = [math.log(r.model2vec_error / (1 - r.model2vec_error)) for r in others]
    average = 1 / (1 + math.exp(-sum(logits) / len(logits)))
    assert newcomer[0].model2vec_error == pytest.approx(average)
    assert min(r.expected_error for r in others) < newcomer[0].expected_error < max(r.expected_error for r in others)

    # bench evaluate's default ranking gives it the same figure (its judge scores the tasks as recommend does)
    from zoo.api.ranking import RunTrust
    from zoo.api.space import learned_vectors, load_space

    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    space = load_space(zoo.store, PROBE, METHOD)
    vectors, shifts, untrained = learned_vectors(zoo.store, run.id, space)
    assert untrained == ["newcomer"]
    trust = RunTrust.load(zoo.store, run, space.task_names, space.task_vectors)
    target = space.task_vectors[[space.task_names.index("task07")]]
    ratio = trust.novelty(target[0]).ratio
    judged = zoo.judge._shrunk(run, space, vectors, shifts, target, trust, ["task07"], [ratio], untrained)
    models = [m.name for m in space.models]
    for rec in recs:
        assert judged[0, models.index(rec.model)] == pytest.approx(rec.expected_error), rec.model


def test_index_is_rebuilt_when_the_registry_changes(synthetic_zoo):
    zoo, _ = synthetic_zoo
    _train(zoo, epochs=20)
    zoo.recommend("task01", k=1, progress=False)
    path = zoo.indexes.path("models", PROBE, METHOD)
    first = path.stat().st_mtime_ns
    zoo.recommend("task01", k=1, progress=False)
    assert path.stat().st_mtime_ns == first  # fresh: reused
    zoo.store.add_model("another", "timm:resnet18.x", arch="resnet18")
    recs = zoo.recommend("task01", k=10, progress=False)
    assert "another" in {r.model for r in recs}


def test_task_embedded_with_another_probe_is_refused(synthetic_zoo):
    zoo, _ = synthetic_zoo
    _train(zoo, epochs=10)
    zoo.store.ensure_probe("otherprobe", arch="x", weights_checksum="f" * 64, embedding_length=6, layers=("a",))
    zoo.store.add_task("lonely", data_uri="file:///x", num_classes=2, num_samples=10, fingerprint="l")
    zoo.store.put_task_embedding(
        "lonely", "otherprobe", METHOD, np.ones(6, np.float32), sample_count=10, seed=0, params={}, package_version="t"
    )
    with pytest.raises(ProbeMismatch, match=f"--probe {PROBE}"):
        zoo.recommend("lonely", probe=PROBE, progress=False)


def test_unknown_target_and_missing_run_say_what_to_do(synthetic_zoo):
    zoo, _ = synthetic_zoo
    with pytest.raises(NotFound, match="train-model2vec"):
        zoo.recommend("task01", probe=PROBE, progress=False)
    _train(zoo, epochs=5)
    with pytest.raises(NotFound, match="folder"):
        zoo.recommend("no-such-task", progress=False)
    with pytest.raises(InvalidInput):
        zoo.train_model2vec(probe=PROBE, val_fraction=2.0, progress=False)


def test_similar_tasks_indexed_matches_exact_d_sym(synthetic_zoo):
    from zoo.embedding.distance import d_sym_matrix

    zoo, truth = synthetic_zoo
    got = zoo.similar_tasks_indexed("task03", 4, probe=PROBE)
    d = d_sym_matrix(truth["tasks"][3:4], truth["tasks"])[0]
    d[3] = np.inf
    expected = [truth["task_names"][i] for i in np.argsort(d)[:4]]
    assert [name for name, _ in got] == expected


def test_evaluate_selection_reports_every_method(synthetic_zoo):
    zoo, _ = synthetic_zoo
    _train(zoo)
    report = zoo.evaluate_selection(probe=PROBE, method=METHOD, progress=False)
    by_method = {row["method"]: row for row in report["rows"]}
    assert set(by_method) == {
        "chance",
        "generic",
        "nearest source (d_sym)",
        "d_asym",
        "Model2Vec",
        "Model2Vec (shrunk)",
        "oracle",
    }
    assert by_method["oracle"]["relative_error"] == 0.0 and by_method["oracle"]["top1"] == 1.0
    assert by_method["Model2Vec"]["relative_error"] < by_method["chance"]["relative_error"]
    assert "| Model2Vec |" in report["markdown"]


def test_probe_without_a_run_names_the_probe_to_use(synthetic_zoo):
    zoo, _ = synthetic_zoo
    _train(zoo, epochs=5)
    zoo.store.ensure_probe("otherprobe", arch="x", weights_checksum="e" * 64, embedding_length=6, layers=("a",))
    with pytest.raises(ProbeMismatch, match=f"pass probe={PROBE}") as raised:  # a Python caller's spelling
        zoo.recommend("task01", probe="otherprobe", progress=False)
    assert raised.value.param == "probe"


class _FakeEmbedding:
    def __init__(self, vector, probe_name):
        self.vector, self.method = vector, METHOD
        self.probe = type("Info", (), {"name": probe_name})()


def test_folder_is_embedded_once_and_checked_against_the_run_probe(synthetic_zoo, tmp_path, monkeypatch):
    zoo, truth = synthetic_zoo
    _train(zoo, epochs=5)
    calls = []

    def fake_embed(data, *, probe, method, progress):
        calls.append((data, probe, method))
        return _FakeEmbedding(truth["tasks"][4], PROBE)

    monkeypatch.setattr(zoo.embeddings, "embed", fake_embed, raising=False)
    by_folder = zoo.recommend(str(tmp_path), k=3, progress=False)
    by_name = zoo.recommend("task04", k=3, progress=False)
    assert len(calls) == 1 and calls[0][1:] == (PROBE, METHOD)
    assert [r.model for r in by_folder] == [r.model for r in by_name]
    before = zoo.store.counts()
    monkeypatch.setattr(
        zoo.embeddings, "embed", lambda data, **kw: _FakeEmbedding(truth["tasks"][4], "stranger"), raising=False
    )
    with pytest.raises(ProbeMismatch, match=PROBE):
        zoo.recommend(str(tmp_path), progress=False)
    assert zoo.store.counts() == before


def test_excluded_tasks_take_no_part_in_training_and_are_judged_by_default(synthetic_zoo, monkeypatch):
    zoo, _ = synthetic_zoo
    names = sorted(t.name for t in zoo.store.list_tasks())
    heldout = names[:6]
    import zoo.model2vec as m2v

    seen = {}
    real = m2v.train_model2vec

    def spy(data, config, **kw):
        seen["tasks_with_results"] = {t for i, t in enumerate(data.task_names) if np.isfinite(data.errors[i]).any()}
        return real(data, config, **kw)

    monkeypatch.setattr(m2v, "train_model2vec", spy)
    summary = zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=20, exclude_tasks=heldout, progress=False)
    assert seen["tasks_with_results"].isdisjoint(heldout)
    assert summary["hyperparams"]["excluded_tasks"] == heldout
    assert not set(heldout) & set(zoo.store.latest_model2vec_run(PROBE, METHOD).metrics.get("val_tasks", []))
    report = zoo.evaluate_selection(probe=PROBE, method=METHOD, progress=False)
    assert sorted(report["tasks"]) == heldout
    with pytest.raises(InvalidInput, match="no-such-task"):
        zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, exclude_tasks=["no-such-task"], progress=False)


def test_results_of_another_protocol_are_not_mixed_in(synthetic_zoo, monkeypatch):
    zoo, _ = synthetic_zoo
    import zoo.model2vec as m2v

    seen = []
    real = m2v.train_model2vec

    def spy(data, config, **kw):
        seen.append(np.array(data.errors))
        return real(data, config, **kw)

    monkeypatch.setattr(m2v, "train_model2vec", spy)
    first = zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    task, model = zoo.store.list_tasks()[0].name, zoo.store.list_models()[0].name
    zoo.store.add_transfer_result(
        model,
        task,
        metric="error",
        value=0.999,
        protocol="another-protocol",
        protocol_params={},
        train_size=1,
        test_size=1,
    )
    second = zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    assert first["hyperparams"]["protocol"] == second["hyperparams"]["protocol"] != "another-protocol"
    np.testing.assert_array_equal(seen[0], seen[1])


def test_a_models_learned_shift_moves_it_in_the_ranking_and_the_expected_error(synthetic_zoo):
    """The index folds each model's params["shift"] into its distance: D = d_asym + shift, exactly."""
    from zoo.embedding.distance import d_asym_matrix
    from zoo.model2vec import expected_error

    zoo, truth = synthetic_zoo
    _train(zoo)
    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    embeddings = zoo.store.list_model_embeddings(run.id)
    task = truth["task_names"][0]
    before = {r.model: r for r in zoo.recommend(task, k=len(embeddings), evidence=0, progress=False)}
    last = max(before.values(), key=lambda r: r.rank).model
    # the same run again, but the worst-ranked model's distance shifted down by 1 (d_asym spans well under 1)
    zoo.store.add_model2vec_run(
        PROBE,
        METHOD,
        hyperparams=run.hyperparams,
        metrics=run.metrics,
        embeddings={
            e.model: (
                e.bias,
                e.vector,
                e.trained,
                {**e.params, "shift": e.params.get("shift", 0.0) - (1.0 if e.model == last else 0.0)},
            )
            for e in embeddings
        },
    )
    after = zoo.recommend(task, k=len(embeddings), evidence=0, progress=False)
    assert after[0].model == last
    vector = np.asarray(zoo.store.get_task_embedding(task, PROBE, METHOD).vector, dtype=np.float64)
    t0 = np.asarray(zoo.store.get_task_embedding(task, PROBE, METHOD).prior, dtype=np.float64)
    shifted = next(e for e in embeddings if e.model == last)
    exact = (
        d_asym_matrix(np.asarray(shifted.vector, np.float64)[None], vector[None], t0, run.hyperparams["alpha"])[0, 0]
        + shifted.params["shift"]
        - 1.0
    )
    assert after[0].distance == pytest.approx(exact, abs=1e-5)
    assert after[0].expected_error == pytest.approx(
        float(expected_error(np.array([exact]), tuple(run.hyperparams["error_map"]), run.hyperparams["error_link"])[0]),
        abs=1e-5,
    )
    assert {r.model: r.distance for r in after[1:]} == pytest.approx(
        {m: before[m].distance for m in before if m != last}
    )


def test_results_on_a_models_own_training_task_are_left_out_unless_asked(synthetic_zoo):
    """A query is never an expert's own training task: those pairs do not train Model2Vec by default."""
    zoo, truth = synthetic_zoo
    first = _train(zoo, epochs=60, own_task_pairs=False)
    assert first["hyperparams"]["own_task_pairs_excluded"] == len(truth["model_names"])
    # record an absurd extra result of one model on its own task: the default run does not move
    model = zoo.store.get_model(truth["model_names"][0])
    zoo.store.add_transfer_result(
        model.name,
        model.trained_on,
        metric="error",
        value=0.99,
        protocol="linear",
        protocol_params={},
        train_size=50,
        test_size=50,
    )
    again = _train(zoo, epochs=60, own_task_pairs=False)
    kept = _train(zoo, epochs=60, own_task_pairs=True)
    vectors = {
        s["run_id"]: {e.model: e.vector for e in zoo.store.list_model_embeddings(s["run_id"])}
        for s in (first, again, kept)
    }
    np.testing.assert_array_equal(vectors[again["run_id"]][model.name], vectors[first["run_id"]][model.name])
    assert kept["hyperparams"]["own_task_pairs_excluded"] == 0
    assert not np.array_equal(vectors[kept["run_id"]][model.name], vectors[first["run_id"]][model.name])


def test_training_without_any_result_says_how_to_measure_ones_own(synthetic_zoo):
    """A team's own zoo: the fix is `zoo evaluate --all` on its experts and tasks, not only the bench."""
    import sqlite3

    zoo, _ = synthetic_zoo
    path = zoo.store.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM transfer_results")
    with pytest.raises(NotFound, match=r"no transfer results recorded: measure your experts .*`zoo evaluate --all`"):
        zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)


def test_an_unknown_validation_task_is_named_as_unknown(synthetic_zoo):
    zoo, _ = synthetic_zoo
    with pytest.raises(InvalidInput, match=r"no validation task nope: no task of that name"):
        zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, val_tasks=["task01", "nope"], progress=False)
