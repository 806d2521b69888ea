"""The Store API on SQLite and PostgreSQL: records out, errors in, transactions whole."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from registry.errors import AlreadyExists, DependentRows, InvalidInput, NotFound, ProbeMismatch
from registry.records import Model


def _probe(store, name="probe", length=4, checksum="abc"):
    return store.ensure_probe(
        name, arch="resnet18", weights_checksum=checksum, embedding_length=length, layers=["layer3", "layer4"]
    )


def _task(store, name="digits"):
    return store.add_task(
        name, data_uri=f"/data/{name}", num_classes=10, num_samples=200, fingerprint="f" * 64, taxonomy="scripts/latin"
    )


def _embed(store, task="digits", vector=(1.0, 2.0, 3.0, 4.0), method="montecarlo"):
    return store.put_task_embedding(
        task,
        "probe",
        method,
        np.array(vector),
        sample_count=200,
        seed=0,
        params={"head": "logreg"},
        package_version="0.1.0",
    )


def test_add_model_returns_a_frozen_record_with_tags(store):
    model = store.add_model(
        "resnet18.a1_in1k",
        "timm:resnet18.a1_in1k",
        tags={"family": "resnet"},
        trained_on="imagenet-1k",
        num_params=11_000_000,
    )
    assert isinstance(model, Model)
    assert (model.name, model.arch, model.tags) == ("resnet18.a1_in1k", "resnet18", {"family": "resnet"})
    assert model.created_at.tzinfo is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.name = "other"  # type: ignore[misc]
    assert store.get_model("resnet18.a1_in1k") == model


def test_duplicate_model_name_raises_already_exists_with_the_name(store):
    store.add_model("m", "timm:resnet18")
    with pytest.raises(AlreadyExists, match="'m'"):
        store.add_model("m", "timm:resnet34")
    assert [m.source for m in store.list_models()] == ["timm:resnet18"]


@pytest.mark.parametrize("name, source", [("", "timm:x"), ("has space", "timm:x"), ("ok", "resnet18"), ("ok", "timm:")])
def test_bad_model_input_is_invalid_and_writes_nothing(store, name, source):
    with pytest.raises(InvalidInput):
        store.add_model(name, source)
    assert store.list_models() == []


def test_list_models_filters_by_glob_and_tags(store):
    store.add_model("resnet18.a", "timm:resnet18.a", tags={"family": "resnet", "size": "s"})
    store.add_model("resnet50.b", "timm:resnet50.b", tags={"family": "resnet", "size": "l"})
    store.add_model("vit_small.c", "timm:vit_small.c", tags={"family": "vit", "size": "s"})
    assert [m.name for m in store.list_models(pattern="resnet*")] == ["resnet18.a", "resnet50.b"]
    assert [m.name for m in store.list_models(tags={"size": "s"})] == ["resnet18.a", "vit_small.c"]
    assert [m.name for m in store.list_models(pattern="*.c", tags={"family": "vit"})] == ["vit_small.c"]
    assert store.list_models(tags={"family": "convnext"}) == []


def test_alias_points_at_a_model_and_moves(store):
    store.add_model("a", "timm:a")
    store.add_model("b", "timm:b")
    assert store.set_alias("best", "a").aliases == ("best",)
    assert store.get_model("best").name == "a"
    store.set_alias("best", "b")
    assert store.get_model("best").name == "b"
    assert store.get_model("a").aliases == ()
    with pytest.raises(AlreadyExists):
        store.set_alias("a", "b")
    with pytest.raises(AlreadyExists):
        store.add_model("best", "timm:c")
    with pytest.raises(NotFound, match="nope"):
        store.set_alias("x", "nope")


def test_get_unknown_model_and_task_say_where_to_look(store):
    with pytest.raises(NotFound, match="zoo models list"):
        store.get_model("nope")
    with pytest.raises(NotFound, match="zoo tasks list"):
        store.get_task("nope")


def test_remove_model_with_results_needs_force_and_reports_what_went(store):
    store.add_model("m", "timm:m", tags={"k": "v"})
    store.set_alias("best", "m")
    _task(store)
    _probe(store)
    store.add_transfer_result(
        "m",
        "digits",
        metric="test_error",
        value=0.25,
        protocol="linear",
        protocol_params={"C": 1.0},
        train_size=100,
        test_size=50,
    )
    store.add_model2vec_run(
        "probe", "montecarlo", hyperparams={}, metrics={}, embeddings={"m": (np.zeros(4), np.ones(4))}
    )
    with pytest.raises(DependentRows, match="1 transfer result, 1 model embedding;"):
        store.remove_model("m")
    assert store.get_model("m").tags == {"k": "v"}
    removed = store.remove_model("m", force=True)
    assert removed == {"models": 1, "transfer_results": 1, "model_embeddings": 1, "model_tags": 1, "model_aliases": 1}
    assert store.list_models() == [] and store.list_transfer_results() == []
    with pytest.raises(NotFound):
        store.get_model("best")


def test_remove_task_with_embeddings_needs_force(store):
    _task(store)
    _probe(store)
    _embed(store)
    with pytest.raises(DependentRows, match="1 task embedding;"):
        store.remove_task("digits")
    assert store.remove_task("digits", force=True) == {
        "tasks": 1,
        "task_embeddings": 1,
        "transfer_results": 0,
        "trained_on_cleared": 0,
    }
    assert store.list_tasks() == [] and store.list_task_embeddings() == []


def test_removing_a_models_training_task_needs_force_and_clears_its_trained_on(store):
    _task(store)
    _task(store, "letters")
    store.add_model("a", "timm:resnet18", trained_on="digits")
    store.add_model("b", "timm:resnet34", trained_on="digits")
    store.add_model("c", "timm:resnet50", trained_on="letters")
    with pytest.raises(DependentRows, match=r"is the training task of 2 models \(a, b\);.*trained_on is cleared"):
        store.remove_task("digits")
    assert [m.trained_on for m in store.list_models()] == ["digits", "digits", "letters"]  # untouched
    assert store.remove_task("digits", force=True)["trained_on_cleared"] == 2
    assert [m.trained_on for m in store.list_models()] == [None, None, "letters"]
    assert [t.name for t in store.list_tasks()] == ["letters"]


def test_task_embedding_round_trips_float32_and_put_replaces(store):
    _task(store)
    _probe(store)
    vector = np.array([0.1, 1e-8, 3.5e7, 2.0], dtype=np.float32)
    first = store.put_task_embedding(
        "digits",
        "probe",
        "variational",
        vector,
        prior=vector * 2,
        sample_count=5,
        seed=3,
        params={"beta": 1e-7},
        package_version="0.1.0",
    )
    assert first.vector.dtype == np.float32 and not first.vector.flags.writeable
    np.testing.assert_array_equal(first.vector, vector)
    np.testing.assert_array_equal(first.prior, vector * 2)
    _embed(store, method="variational", vector=(4, 3, 2, 1))
    current = store.get_task_embedding("digits", "probe", "variational")
    np.testing.assert_array_equal(current.vector, [4, 3, 2, 1])
    assert current.prior is None
    assert len(store.list_task_embeddings(task="digits")) == 1


def test_embedding_of_wrong_length_or_unknown_probe_is_refused(store):
    _task(store)
    _probe(store)
    with pytest.raises(ProbeMismatch):
        _embed(store, vector=(1.0, 2.0))
    with pytest.raises(InvalidInput):
        _embed(store, vector=(1.0, float("nan"), 2.0, 3.0))
    with pytest.raises(NotFound, match="probe"):
        store.put_task_embedding(
            "digits", "other", "m", np.ones(4), sample_count=1, seed=0, params={}, package_version="0"
        )
    assert store.list_task_embeddings() == []


def test_ensure_probe_returns_the_same_probe_and_refuses_a_different_one(store):
    first = _probe(store)
    assert _probe(store) == first
    with pytest.raises(ProbeMismatch, match="another name"):
        _probe(store, checksum="different")
    assert store.list_probes() == [first]


def test_model2vec_runs_latest_and_embeddings(store):
    _probe(store)
    store.add_model("a", "timm:a")
    store.add_model("b", "timm:b")
    with pytest.raises(NotFound):
        store.latest_model2vec_run("probe", "montecarlo")
    store.add_model2vec_run(
        "probe", "montecarlo", hyperparams={"lr": 0.1}, metrics={}, embeddings={"a": (np.zeros(4), np.ones(4))}
    )
    second = store.add_model2vec_run(
        "probe",
        "montecarlo",
        hyperparams={"lr": 0.01},
        metrics={"top1": 0.5},
        embeddings={
            "b": (np.full(4, 0.5), np.arange(4.0), False),
            "a": (np.ones(4), np.ones(4), True, {"shift": 0.25}),
        },
    )
    assert store.latest_model2vec_run("probe", "montecarlo") == second
    embeddings = store.list_model_embeddings(second.id)
    assert [(e.model, e.trained, e.params) for e in embeddings] == [("a", True, {"shift": 0.25}), ("b", False, {})]
    np.testing.assert_array_equal(embeddings[1].vector, [0, 1, 2, 3])
    with pytest.raises(NotFound):
        store.add_model2vec_run(
            "probe", "montecarlo", hyperparams={}, metrics={}, embeddings={"ghost": (np.zeros(4), np.zeros(4))}
        )
    assert store.latest_model2vec_run("probe", "montecarlo") == second


def test_transfer_results_filter_by_model_task_protocol(store):
    _task(store, "t1")
    _task(store, "t2")
    store.add_model("m", "timm:m")
    for task, protocol in (("t1", "linear"), ("t2", "linear"), ("t2", "finetune")):
        store.add_transfer_result(
            "m",
            task,
            metric="test_error",
            value=0.5,
            protocol=protocol,
            protocol_params={},
            train_size=10,
            test_size=10,
        )
    assert len(store.list_transfer_results(model="m")) == 3
    assert len(store.list_transfer_results(task="t2")) == 2
    assert [r.task for r in store.list_transfer_results(protocol="linear")] == ["t1", "t2"]


@pytest.mark.parametrize(
    "kind, change",
    [
        ("models", lambda s: s.add_model("m2", "timm:m2")),
        ("models", lambda s: s.set_alias("best", "m")),
        ("models", lambda s: s.remove_model("m")),
        ("task_embeddings", lambda s: _embed(s, vector=(9, 9, 9, 9))),
        ("task_embeddings", lambda s: s.remove_task("digits", force=True)),
        (
            "model_embeddings",
            lambda s: s.add_model2vec_run(
                "probe", "montecarlo", hyperparams={}, metrics={}, embeddings={"m": (np.ones(4), np.ones(4))}
            ),
        ),
    ],
)
def test_revision_token_changes_with_every_change_of_its_kind(store, kind, change):
    store.add_model("m", "timm:m")
    _task(store)
    _probe(store)
    _embed(store)
    before = store.revision_token(kind)
    assert store.revision_token(kind) == before
    change(store)
    assert store.revision_token(kind) != before


def test_revision_token_is_unchanged_by_a_failed_write(store):
    store.add_model("m", "timm:m")
    before = store.revision_token("models")
    with pytest.raises(AlreadyExists):
        store.add_model("m", "timm:m")
    assert store.revision_token("models") == before
    with pytest.raises(InvalidInput):
        store.revision_token("bogus")


def test_registry_imports_neither_torch_nor_faiss_and_its_package_is_light():
    import subprocess
    import sys

    code = (
        "import sys\nimport registry, registry.errors\nlight = 'sqlalchemy' not in sys.modules\n"
        "import registry.store, registry.backup, registry.schema\n"
        "print(light, 'torch' in sys.modules, 'faiss' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["True", "False", "False"], result.stderr
