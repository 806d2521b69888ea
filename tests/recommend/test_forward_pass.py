"""--verify and the scorer baselines, with the expert networks replaced by feature stubs.

The stubs stand in for timm networks: expert ``GOOD`` yields features that
separate the classes, every other expert yields noise, so LogME/LEEP must put
``GOOD`` first. Only the wiring is under test here; the scorers themselves are
tested against their slow twins in tests/scorers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from registry.errors import InvalidInput

from .conftest import METHOD, PROBE

GOOD = "expert3"


def _images(n=60, classes=3):
    from zoo.data import LabelledImages

    return LabelledImages(list(range(n)), [i % classes for i in range(n)], [f"c{c}" for c in range(classes)], "stub")


class _Network:
    def __init__(self, source):
        self.source = source
        self.head = torch.nn.Linear(4, 5)
        torch.nn.init.normal_(self.head.weight, std=3.0)

    def get_classifier(self):
        return self.head


def _features(network, images, progress=True, desc="features"):
    """Each image's features depend on the expert and the image alone (so a share's rows are the full pass's).

    Like the real pass, it shows a bar labelled ``desc`` over the images when ``progress`` is on."""
    from tqdm.auto import tqdm

    for _ in tqdm(images.items, desc=desc, disable=not progress):
        pass
    labels = np.asarray(images.labels)
    seed = abs(hash(network.source)) % 2**32
    noise = np.array([np.random.default_rng([seed, int(item)]).normal(size=4) for item in images.items])
    if network.source.endswith("synthetic3"):
        return (np.eye(4)[labels] * 6.0 + 0.3 * noise).astype(np.float32)
    return noise.astype(np.float32)


@pytest.fixture
def stubbed(monkeypatch, tmp_path):
    import zoo.data
    import zoo.networks

    loaded = []
    monkeypatch.setattr(zoo.networks, "load_network", lambda source, **kw: loaded.append(source) or _Network(source))
    monkeypatch.setattr(zoo.networks, "extract_features", _features)
    monkeypatch.setattr(zoo.data, "load_labelled", lambda path, **kw: _images())
    return loaded


def test_verify_reranks_the_top_k_by_logme(synthetic_zoo, stubbed, tmp_path):
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    vector = truth["tasks"][0]
    monkey_embed = type(
        "E", (), {"vector": vector, "params": {}, "method": METHOD, "probe": type("P", (), {"name": PROBE})()}
    )
    zoo.embeddings.embed = lambda data, **kw: monkey_embed
    m = len(truth["model_names"])
    recs = zoo.recommend(str(tmp_path), k=m, verify=m, screen=0, progress=False)
    assert len(stubbed) == m  # one forward pass per verified expert
    verified = {r.model: r.verified_rank for r in recs}
    assert verified[GOOD] == 1
    assert [r.rank for r in recs] == list(range(1, len(recs) + 1))  # Model2Vec order kept, both rankings reported
    assert all(r.logme is not None for r in recs)


def test_each_verified_expert_pass_is_labelled_with_its_place_and_name(synthetic_zoo, stubbed, tmp_path, capsys):
    """recommend --verify K runs K feature passes: each bar says which of the K it is and whose."""
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    monkey_embed = type(
        "E",
        (),
        {"vector": truth["tasks"][0], "params": {}, "method": METHOD, "probe": type("P", (), {"name": PROBE})()},
    )
    zoo.embeddings.embed = lambda data, **kw: monkey_embed
    capsys.readouterr()
    recs = zoo.recommend(str(tmp_path), k=3, verify=3, screen=0, progress=True)
    err = capsys.readouterr().err
    verified = sorted((r for r in recs if r.logme is not None), key=lambda r: r.model2vec_rank)
    assert len(verified) == 3
    for i, rec in enumerate(verified, start=1):
        assert f"verify {i} of 3: {rec.model}" in err
    zoo.recommend(str(tmp_path), k=3, verify=3, screen=0, progress=False)
    assert "verify" not in capsys.readouterr().err


def test_the_verified_shortlist_always_holds_the_generic_pick(synthetic_zoo, stubbed, tmp_path):
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    prior = {e.model: e.params["prior_error"] for e in zoo.store.list_model_embeddings(run.id) if e.trained}
    generic = min(prior, key=lambda m: (prior[m], m))
    monkey_embed = type(
        "E",
        (),
        {"vector": truth["tasks"][0], "params": {}, "method": METHOD, "probe": type("P", (), {"name": PROBE})()},
    )
    zoo.embeddings.embed = lambda data, **kw: monkey_embed
    plain = zoo.recommend(str(tmp_path), k=len(truth["model_names"]), progress=False)
    recs = zoo.recommend(str(tmp_path), k=1, verify=2, screen=0, progress=False)
    assert len(stubbed) == 2 and len(recs) == 1  # two forward passes, k recommendations back
    verified = zoo.recommend(str(tmp_path), k=3, verify=2, screen=0, progress=False)
    shortlist = {r.model for r in verified if r.logme is not None}
    first_two = {plain[0].model, plain[1].model}
    assert generic in shortlist
    assert shortlist == ({plain[0].model, generic} if plain[0].model != generic else first_two)


def _query_ranking_good_low(zoo, truth, folder):
    """Point the zoo's embedder at the first task whose ranking puts GOOD below its first two; that ranking."""
    m = len(truth["model_names"])
    for vector in truth["tasks"]:
        probe = type("P", (), {"name": PROBE})()
        embedded = type("E", (), {"vector": vector, "params": {}, "method": METHOD, "probe": probe})
        zoo.embeddings.embed = lambda data, e=embedded, **kw: e
        plain = zoo.recommend(str(folder), k=m, progress=False)
        if GOOD not in [r.model for r in plain[:2]]:
            return plain
    raise AssertionError("no task of the synthetic zoo ranks GOOD below its first two")


def test_the_screen_proposes_an_expert_the_ranking_misses_and_its_features_are_reused(synthetic_zoo, stubbed, tmp_path):
    from zoo.api.verify import SCREEN_FRACTION, Screen
    from zoo.networks import load_network
    from zoo.scorers import logme

    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    m = len(truth["model_names"])
    plain = [r.model for r in _query_ranking_good_low(zoo, truth, tmp_path)]
    assert GOOD not in plain[:2]  # without the screen, a shortlist of two misses it
    stubbed.clear()
    recs = zoo.recommend(str(tmp_path), k=m, verify=2, progress=False)  # the default screen
    assert len(stubbed) == m + 2  # every expert on the screen's share, then the shortlist on the other images
    shortlist = [r.model for r in recs if r.logme is not None]
    assert all(r.screen is not None for r in recs)  # every expert's screen score is reported
    assert recs[0].model == GOOD and GOOD in shortlist and len(shortlist) == 2
    assert plain[0] in shortlist  # the anchor: the default ranking's first (the generic pick, held)
    images = _images()
    screen = Screen(images, SCREEN_FRACTION)
    assert len(screen.part.labels) == 6 and sorted(screen.part.items + screen.rest.items) == images.items
    full = logme(_features(load_network(zoo.store.get_model(GOOD).source), images), np.asarray(images.labels))
    assert recs[0].logme == pytest.approx(full, rel=1e-9)  # the reused share plus the rest = one full pass
    stubbed.clear()
    every = zoo.recommend(str(tmp_path), k=m, verify=m, progress=False)  # a shortlist of every expert
    assert len(stubbed) == m and all(r.screen is None for r in every)  # no screen: it could change nothing
    stubbed.clear()
    with pytest.raises(InvalidInput, match=r"screen=F.*from 0 to 1"):
        zoo.recommend(str(tmp_path), k=m, verify=2, screen=1.5, progress=False)
    assert not stubbed  # refused before any expert was loaded


def test_a_screen_of_one_image_per_class_is_skipped_and_the_shortlist_is_the_rankings(
    synthetic_zoo, stubbed, tmp_path, monkeypatch
):
    """20 images of 10 classes: a 10% share is one image per class, where every expert's screen reads 0. No
    expert is screened; the verification is the one --screen 0 gives, and the recommendations say so."""
    import zoo.data
    from zoo.api.verify import Screen

    zoo_, truth = synthetic_zoo
    zoo_.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    m = len(truth["model_names"])
    _query_ranking_good_low(zoo_, truth, tmp_path)
    monkeypatch.setattr(zoo.data, "load_labelled", lambda path, **kw: _images(20, 10))
    monkeypatch.setattr(Screen, "run", lambda *a, **k: pytest.fail("a screen of one image per class ran"))
    stubbed.clear()
    recs = zoo_.recommend(str(tmp_path), k=m, verify=2, progress=False)  # the default screen share
    assert len(stubbed) == 2  # the shortlist's two passes, no screen pass
    assert all(r.screen_skipped and r.screen is None for r in recs)
    unscreened = zoo_.recommend(str(tmp_path), k=m, verify=2, screen=0, progress=False)
    assert [(r.model, r.logme) for r in recs] == [(r.model, r.logme) for r in unscreened]
    assert not any(r.screen_skipped for r in unscreened)  # nothing was skipped where no screen was asked for
    # 12 images of 10 classes in the share: the screen runs
    monkeypatch.setattr(zoo.data, "load_labelled", lambda path, **kw: _images(120, 10))
    monkeypatch.setattr(Screen, "run", lambda self, recs, progress: {r.model: 0.0 for r in recs})
    assert not any(r.screen_skipped for r in zoo_.recommend(str(tmp_path), k=m, verify=2, progress=False))


def test_a_verification_capped_by_the_candidates_says_how_many_it_verified(synthetic_zoo, stubbed, tmp_path):
    zoo_, truth = synthetic_zoo
    zoo_.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    m = len(truth["model_names"])
    _query_ranking_good_low(zoo_, truth, tmp_path)
    recs = zoo_.recommend(str(tmp_path), k=2, verify=m + 3, progress=False)
    assert {(r.verify_asked, r.shortlisted) for r in recs} == {(m + 3, m)}
    assert zoo_.recommend(str(tmp_path), k=2, progress=False)[0].verify_asked is None


def test_verification_shortlists_only_experts_of_a_plausible_architecture(
    synthetic_zoo, stubbed, tmp_path, monkeypatch
):
    """GOOD alone is of another architecture; with a calibrated margin that its architecture's best expected
    error exceeds, the screen never reads it and no shortlist holds it, though LogME would put it first."""
    import dataclasses

    from zoo.api.indexes import Indexes
    from zoo.api.ranking import RunTrust

    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    m = len(truth["model_names"])
    plain = _query_ranking_good_low(zoo, truth, tmp_path)
    expected = {r.model: r.expected_error for r in plain}
    generic_error = expected[plain[0].model]
    margin = (expected[GOOD] - generic_error) / 2  # GOOD is more than the margin above the generic pick
    assert margin > 0
    monkeypatch.setattr(RunTrust, "margin", lambda self, ratio: margin)
    models = Indexes.models

    def other_architecture(self, *args, **kwargs):
        run, index = models(self, *args, **kwargs)
        arch = np.asarray(["weak" if n == GOOD else "resnet18" for n in index.names])
        return run, dataclasses.replace(index, columns={**index.columns, "arch": arch})

    monkeypatch.setattr(Indexes, "models", other_architecture)
    stubbed.clear()
    recs = zoo.recommend(str(tmp_path), k=m, verify=2, progress=False)
    good_source = zoo.store.get_model(GOOD).source
    assert good_source not in stubbed and len(stubbed) == (m - 1) + 2  # the other m - 1 screened, 2 verified
    by_model = {r.model: r for r in recs}
    assert by_model[GOOD].screen is None and by_model[GOOD].logme is None and by_model[GOOD].candidate is False
    assert all(r.candidate for r in recs if r.model != GOOD) and all(r.left_out == ("weak",) for r in recs)
    assert recs[0].model != GOOD and len([r for r in recs if r.logme is not None]) == 2
    stubbed.clear()
    recs = zoo.recommend(str(tmp_path), k=m, verify=2, screen=0, progress=False)  # the plain shortlist too
    assert len(stubbed) == 2 and {r.model: r for r in recs}[GOOD].logme is None
    # a margin wide enough for GOOD's architecture: screened again, and LogME puts it first
    monkeypatch.setattr(RunTrust, "margin", lambda self, ratio: 3 * margin)
    stubbed.clear()
    recs = zoo.recommend(str(tmp_path), k=m, verify=2, progress=False)
    assert len(stubbed) == m + 2 and good_source in stubbed and recs[0].model == GOOD
    assert recs[0].left_out == () and all(r.candidate for r in recs)


def test_evaluate_selection_runs_scorers_on_every_expert(synthetic_zoo, stubbed):
    zoo, truth = synthetic_zoo
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, val_fraction=0.25, progress=False)
    report = zoo.evaluate_selection(
        probe=PROBE, method=METHOD, tasks=["task00", "task01"], scorers=("logme", "leep"), progress=False
    )
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["logme"]["forward_passes_per_task"] == len(truth["model_names"])
    assert rows["Model2Vec"]["forward_passes_per_task"] == 1
    assert rows["logme"]["tasks"] == 2 and "| leep |" in report["markdown"]
    assert rows["Model2Vec + LogME top-3"]["forward_passes_per_task"] == 3  # the verified rankings, as recommend
    m = len(truth["model_names"])
    screened = rows["Model2Vec + screened LogME top-3"]["forward_passes_per_task"]
    assert screened == pytest.approx(m * 0.1 + 3 * 0.9)  # the screen's share reused by the shortlist
    assert rows["logme-gain-screen"]["forward_passes_per_task"] == pytest.approx(m * 0.1)
    assert 0 <= rows["Model2Vec + LogME auto"]["forward_passes_per_task"] <= m * 0.1 + 5
    assert len(stubbed) == 3 * m  # each scorer and the screen load each expert once


def test_scorer_matrix_reads_each_task_once_per_chunk_and_equals_a_per_model_loop(synthetic_zoo, stubbed, monkeypatch):
    import math

    import zoo.api.scorer_matrix as matrix_module
    import zoo.data
    import zoo.networks
    from zoo.api.scorer_matrix import scorer_value

    z, truth = synthetic_zoo
    tasks = truth["task_names"][:3]
    models = z.store.list_models()
    reads = []
    monkeypatch.setattr(zoo.data, "load_labelled", lambda path, **kw: reads.append(path) or _images())
    monkeypatch.setattr(matrix_module, "SCORER_CHUNK", 2)
    got = z.judge.scorer_matrix("logme", tasks, models, None, device="cpu")
    want = [[-scorer_value("logme", zoo.networks.load_network(m.source), _images()) for m in models] for _ in tasks]
    np.testing.assert_allclose(got, np.array(want), rtol=1e-12)
    assert len(reads) == len(tasks) * math.ceil(len(models) / 2)  # once per task and chunk, not per model


def test_an_expert_that_cannot_be_loaded_is_skipped_with_a_warning(synthetic_zoo, stubbed, tmp_path, monkeypatch):
    """One expert whose weights cannot be loaded (random ones, a missing file) no longer stops the screen and
    the verification of the others: it proposes nothing, is verified by no one, and a warning names it."""
    import zoo.networks

    zoo_, truth = synthetic_zoo
    zoo_.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    m = len(truth["model_names"])
    plain = _query_ranking_good_low(zoo_, truth, tmp_path)
    bad = plain[0].model  # the ranking's first: on every shortlist
    bad_source = zoo_.store.get_model(bad).source
    loader = zoo.networks.load_network

    def load(source, **kw):
        if source == bad_source:
            raise InvalidInput(f"network {source} has untrained (random) weights")
        return loader(source, **kw)

    monkeypatch.setattr(zoo.networks, "load_network", load)
    with pytest.warns(UserWarning) as caught:
        recs = zoo_.recommend(str(tmp_path), k=m, verify=2, progress=False)
    said = [str(w.message) for w in caught]
    assert any(f"the screen skipped {bad}, which cannot be loaded" in s for s in said)
    assert any(f"the verification skipped {bad}" in s for s in said)
    by = {r.model: r for r in recs}
    assert by[bad].screen is None and by[bad].logme is None
    assert sum(r.logme is not None for r in recs) == 1 and recs[0].model != bad  # the other one verified, first
