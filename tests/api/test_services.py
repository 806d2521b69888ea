"""Each service of zoo.api constructed alone over a fresh SQLite store; the Zoo facade delegates to them."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from registry.errors import InvalidInput, NotFound
from zoo.api import (
    Catalog,
    Embeddings,
    Indexes,
    Model2VecTraining,
    Probes,
    Recommender,
    SelectionJudge,
    Visuals,
    Zoo,
)

PROBE, OTHER, METHOD, DIM = "probe-a", "probe-b", "montecarlo", 4
TASKS = [f"t{i}" for i in range(8)]

# every public method of the Zoo before it was composed from services, with its parameters
# ("*" separates the keyword-only ones); the facade keeps each name and each parameter
OLD_ZOO = {
    "alias": "alias, name",
    "close": "",
    "db_current": "",
    "db_upgrade": "url",
    "bench_build": "size, workdir, *, seed, train_probe, progress, log, overlap",
    "bench_evaluate": "*, out_dir, tasks, scorers, max_samples, plots, progress",
    "bench_report": "*, out_dir, methods, plots",
    "current_embedding_set": "probe, method",
    "distance": "a, b, *, probe, method, alpha",
    "embed": "data, *, probe, method, max_samples, seed, progress, arch, allow_random",
    "embed_task": "data, name, *, probe, method, max_samples, seed, taxonomy, progress, arch, allow_random",
    "evaluate": "model, task, *, save, progress",
    "evaluate_selection": "*, probe, method, tasks, scorers, max_samples, progress",
    "export": "path",
    "get_model": "name",
    "get_task": "name",
    "import_": "path",
    "measured_errors": "task, *, protocol, metric",
    "models": "pattern, *, tags",
    "open": "url, *, create",
    "plot_distances": "tasks_glob, out, probe, method, order",
    "plot_map": "out, query, *, probe, method, models, layout, seed",
    "plot_recommendations": "recs, out, *, task",
    "rebuild_index": "*, probe, method, factory, progress",
    "recommend": "data_or_name, k, *, probe, method, save, verify, evidence, progress",
    "register_model": "name, source, *, arch, trained_on, tags, description, num_params, checksum",
    "remove_model": "name, *, force",
    "remove_task": "name, *, force",
    "report": "out_dir, *, selection, probe, method, neighbours, recommendations, seed",
    "resolve_probe": "spec, *, arch, allow_random",
    "similar_tasks": "name, k, *, asymmetric, probe, method, alpha",
    "similar_tasks_indexed": "task_or_vector, k, *, probe, method",
    "task_embedding": "name, *, probe, method",
    "task_embeddings": "name",
    "tasks": "pattern",
    "train_model2vec": "*, probe, method, objective, epochs, seed, val_fraction, lr, metric, val_tasks, "
    "exclude_tasks, results_recorded, own_task_pairs, progress",
}


def _spelled(func) -> str:
    parts, star = [], False
    for p in inspect.signature(func).parameters.values():
        if p.name == "self":
            continue
        if p.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            parts.append("*")
            star = True
        parts.append(p.name)
    return ", ".join(parts)


@pytest.fixture
def store(sqlite_url):
    from registry.store import Store

    opened = Store.open(sqlite_url)
    yield opened
    opened.close()


def _probe(store, name: str) -> None:
    store.ensure_probe(
        name,
        arch="resnet_tiny",
        weights_checksum=name[-1] * 64,
        embedding_length=DIM,
        layers=tuple(f"l{i}" for i in range(DIM)),
    )


def _embed(store, task: str, probe: str, vector, method: str = METHOD) -> None:
    store.put_task_embedding(
        task,
        probe,
        method,
        np.asarray(vector, np.float32),
        prior=np.full(DIM, 0.05, np.float32),
        sample_count=10,
        seed=0,
        params={},
        package_version="test",
    )


@pytest.fixture
def filled(store):
    """Eight tasks embedded with PROBE, three models, a transfer error for every pair."""
    rng = np.random.default_rng(0)
    _probe(store, PROBE)
    vectors = np.exp(rng.normal(size=(len(TASKS), DIM)))
    for name, vector in zip(TASKS, vectors):
        store.add_task(name, data_uri=f"file:///nowhere/{name}", num_classes=3, num_samples=30, fingerprint=name)
        _embed(store, name, PROBE, vector)
    for j in range(3):
        store.add_model(f"m{j}", f"timm:resnet18.m{j}", arch="resnet18", trained_on=TASKS[j])
        for i, task in enumerate(TASKS):
            store.add_transfer_result(
                f"m{j}",
                task,
                metric="error",
                value=float(0.1 + 0.1 * ((i + j) % 4)),
                protocol="linear",
                protocol_params={},
                train_size=9,
                test_size=9,
            )
    return store, vectors


def test_catalog_alone(store):
    catalog = Catalog(store)
    catalog.register_model("a", "timm:resnet18.a", arch="resnet18", tags={"family": "resnet"})
    assert [m.name for m in catalog.models(tags={"family": "resnet"})] == ["a"]
    assert catalog.alias("best", "a").name == "a" and catalog.get_model("best").name == "a"
    with pytest.raises(NotFound):
        catalog.get_task("nope")


def test_probes_keep_loaded_probes_on_the_instance(store):
    probes = Probes(store)
    assert probes.loaded == {}
    with pytest.raises(InvalidInput, match="unknown network source"):
        probes.load("nonsense")
    assert probes.loaded == {} and Probes(store).loaded is not probes.loaded


def test_the_default_probe_rule(filled):
    store, _ = filled
    probes = Probes(store)
    assert probes.default() == PROBE
    _probe(store, OTHER)
    for task in TASKS[:3]:  # fewer tasks: the probe with most tasks still wins
        _embed(store, task, OTHER, np.ones(DIM))
    assert probes.default() == PROBE
    with pytest.raises(InvalidInput, match="several probes") as tied:
        probes.default(task="t0")  # one task, two probes, no run: ambiguous
    assert tied.value.param == "probe" and "probe=NAME" in str(tied.value)
    assert probes.default(OTHER, task="t0") == OTHER  # a given probe is used as it is
    store.add_model2vec_run(OTHER, METHOD, hyperparams={}, metrics={}, embeddings={})
    assert probes.default(task="t0") == OTHER  # the probe with a Model2Vec run wins
    assert probes.default() == OTHER
    assert probes.choose(None, None) == (OTHER, METHOD)
    with pytest.raises(NotFound, match="embed-task t7"):
        probes.default(method="variational", task="t7")
    with pytest.raises(NotFound):
        probes.default(task="no-such-task")


def test_indexes_alone_match_exact_d_sym_and_are_cached(filled):
    from zoo.embedding.distance import d_sym_matrix

    store, vectors = filled
    indexes = Indexes(store)
    hits = indexes.nearest_tasks(vectors[2], 3, PROBE, METHOD, exclude="t2")
    d = d_sym_matrix(vectors[2:3], vectors)[0]
    d[2] = np.inf
    assert [name for name, _ in hits] == [TASKS[i] for i in np.argsort(d)[:3]]
    assert indexes.tasks(PROBE, METHOD) is indexes.tasks(PROBE, METHOD)
    assert indexes.path("tasks", PROBE, METHOD).exists()
    with pytest.raises(NotFound):
        indexes.models(PROBE, METHOD)  # no Model2Vec run yet


def test_embeddings_compare_stored_tasks(filled):
    store, _ = filled
    probes = Probes(store)
    embeddings = Embeddings(store, probes, Indexes(store))
    assert embeddings.task_embedding("t1").probe == PROBE
    result = embeddings.distance("t0", "t1")
    assert result["probe"] == PROBE and result["d_sym"] > 0
    near = embeddings.similar_tasks("t0", 3)
    assert len(near) == 3 and "t0" not in {row["task"] for row in near}
    assert [row["kind"] for row in embeddings.similar_tasks("t0", 2, asymmetric=True)] == ["d_asym"] * 2
    with pytest.raises(InvalidInput, match="k=K"):
        embeddings.similar_tasks("t0", 0)


def test_training_recommending_and_judging_each_alone(filled):
    from zoo.model2vec import Model2VecConfig

    store, _ = filled
    probes, indexes = Probes(store), Indexes(store)
    training = Model2VecTraining(store, probes)
    with pytest.raises(InvalidInput, match="val_fraction=F") as bad:
        training.train(val_fraction=1.5, progress=False)
    assert bad.value.param == "val_fraction"
    summary = training.train(epochs=3, val_fraction=0.25, exclude_tasks=["t7"], progress=False)
    run = store.latest_model2vec_run(PROBE, METHOD)
    assert summary["run_id"] == run.id and summary["probe"] == PROBE
    assert run.hyperparams["objective"] == Model2VecConfig.objective  # None took the config's default
    recommender = Recommender(store, probes, Embeddings(store, probes, indexes), indexes)
    recs = recommender.recommend("t5", k=2, progress=False)
    assert [r.rank for r in recs] == [1, 2] and {r.model for r in recs} <= {"m0", "m1", "m2"}
    assert recommender.measured_errors("t5") == {f"m{j}": pytest.approx(0.1 + 0.1 * ((5 + j) % 4)) for j in range(3)}
    report = SelectionJudge(store, probes).evaluate_selection(progress=False)
    assert report["tasks"] == ["t7"] and {"Model2Vec", "oracle"} <= {row["method"] for row in report["rows"]}


def test_visuals_alone_pick_the_pair_with_most_tasks(filled):
    store, _ = filled
    probes, indexes = Probes(store), Indexes(store)
    visuals = Visuals(store, probes, Recommender(store, probes, Embeddings(store, probes, indexes), indexes))
    _embed(store, "t0", PROBE, np.ones(DIM), method="expected")
    chosen = visuals.current_embedding_set()
    assert (chosen.probe, chosen.method, len(chosen.embeddings)) == (PROBE, METHOD, len(TASKS))


def test_the_facade_keeps_every_public_method_of_the_old_zoo():
    """Every old method keeps its parameters in order; a parameter added since is keyword-only with a default."""
    for name, params in OLD_ZOO.items():
        assert hasattr(Zoo, name), name
        now = _spelled(getattr(Zoo, name))
        assert now == params or now.startswith(params + ", ") or (now.startswith(params + ", *, ")), name
        added = [
            p
            for p in inspect.signature(getattr(Zoo, name)).parameters.values()
            if p.name not in {q.strip() for q in params.split(",")} and p.name != "self"
        ]
        assert all(
            p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty for p in added
        ), name
    assert isinstance(inspect.getattr_static(Zoo, "url"), property)


def test_the_facade_owns_one_of_each_service_over_one_store(sqlite_url):
    with Zoo.open(sqlite_url) as z:
        services = [
            z.catalog,
            z.probes,
            z.indexes,
            z.embeddings,
            z.training,
            z.recommender,
            z.judge,
            z.bench,
            z.visuals,
        ]
        assert all(s.store is z.store for s in services)
        assert z.embeddings.probes is z.probes and z.recommender.embeddings is z.embeddings
        assert z.recommender.indexes is z.indexes is z.embeddings.indexes
        assert z.visuals.recommender is z.recommender and z.bench.judge is z.judge
        z.register_model("a", "timm:resnet18.a", arch="resnet18")
        assert [m.name for m in z.catalog.models()] == ["a"]
