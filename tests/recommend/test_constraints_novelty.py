"""Recommend: constraints pick the best k of the allowed set exactly; every pick says how far the evidence is."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from registry.errors import InvalidInput

from .conftest import METHOD, PROBE


@pytest.fixture
def trained(synthetic_zoo):
    zoo, truth = synthetic_zoo
    zoo.store.add_model(
        "tiny-expert",
        "timm:resnet18.tiny",
        arch="resnet18",
        num_params=1000,
        trained_on=truth["task_names"][0],
        tags={"size": "small"},
    )
    zoo.train_model2vec(probe=PROBE, method=METHOD, epochs=5, progress=False)
    return zoo, truth


def _brute_force(zoo, vector, allowed, k):
    """Every model's expected error from the full ranking, filtered, sorted, then the allowed generic pick
    (lowest prior) first unless beaten by more than the margin: the exact answer."""
    everything = zoo.recommend(vector, k=len(zoo.models()), probe=PROBE, method=METHOD, progress=False)
    ranked = sorted(
        (r for r in everything if r.model in allowed), key=lambda r: (r.expected_error, r.distance, r.model)
    )
    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    prior = {
        e.model: e.params["prior_error"] for e in zoo.store.list_model_embeddings(run.id) if "prior_error" in e.params
    }
    candidates = [r for r in ranked if r.model in prior]
    if candidates and ranked[0].margin is not None:
        generic = min(candidates, key=lambda r: (prior[r.model], r.model))
        if generic.expected_error - ranked[0].expected_error <= ranked[0].margin:
            ranked = [generic] + [r for r in ranked if r is not generic]
    return [r.model for r in ranked[:k]]


@pytest.mark.parametrize(
    "constraints",
    [
        {"pattern": "expert[0-2]"},
        {"tags": {"size": "small"}},
        {"max_params": 5000},
        {"arch": "resnet*", "pattern": "*[135]"},
    ],
)
def test_constraints_give_the_best_k_of_the_allowed_set(trained, constraints):
    zoo, truth = trained
    models = {m.name: m for m in zoo.models()}
    allowed = {
        n
        for n, m in models.items()
        if ("pattern" not in constraints or __import__("fnmatch").fnmatchcase(n, constraints["pattern"]))
        and ("tags" not in constraints or m.tags.get("size") == "small")
        and ("max_params" not in constraints or (m.num_params or 10**12) <= constraints["max_params"])
        and ("arch" not in constraints or __import__("fnmatch").fnmatchcase(m.arch or "", constraints["arch"]))
    }
    for vector in truth["tasks"][:4]:
        got = zoo.recommend(vector, k=2, probe=PROBE, method=METHOD, progress=False, **constraints)
        assert [r.model for r in got] == _brute_force(zoo, vector, allowed, 2)
        assert [r.rank for r in got] == list(range(1, len(got) + 1))


def test_a_constraint_that_leaves_no_model_is_a_one_line_error(trained, assert_one_line_error):
    zoo, truth = trained
    with pytest.raises(InvalidInput, match="no registered model satisfies") as err:
        zoo.recommend(truth["tasks"][0], k=2, probe=PROBE, method=METHOD, progress=False, pattern="nothing*")
    assert "\n" not in str(err.value)
    from zoo.cli import main

    result = CliRunner().invoke(main, ["--db", zoo.url, "recommend", "--task", "task01", "--arch", "vit*"])
    assert_one_line_error(result, 2, "no registered model satisfies")


def test_every_recommendation_reports_its_novelty_and_interval(trained):
    zoo, truth = trained
    recs = zoo.recommend("task03", k=3, probe=PROBE, method=METHOD, progress=False)
    n = recs[0].novelty
    assert n is not None and n.distance >= 0 and 0 <= n.percentile <= 100 and n.nearest in truth["task_names"]
    run = zoo.store.latest_model2vec_run(PROBE, METHOD)
    seen = set(run.metrics["train_tasks"]) | set(run.metrics["val_tasks"])
    assert n.nearest in seen
    for r in recs:
        assert r.low <= r.expected_error <= r.high and 0 <= r.trust <= 1 and r.model2vec_error is not None


def test_a_far_away_query_extrapolates_and_says_so(trained, tmp_path):
    zoo, truth = trained
    near = zoo.recommend(truth["tasks"][2], k=2, probe=PROBE, method=METHOD, progress=False)
    far_vector = np.exp(np.random.default_rng(9).normal(size=truth["tasks"].shape[1]) * 6)
    far = zoo.recommend(far_vector, k=2, probe=PROBE, method=METHOD, progress=False)
    assert far[0].novelty.ratio > near[0].novelty.ratio
    assert far[0].trust < near[0].trust and far[0].extrapolates and not near[0].extrapolates


def test_recommend_json_carries_novelty_and_constraints_on_the_cli(trained):
    zoo, _ = trained
    from zoo.cli import main

    result = CliRunner().invoke(
        main, ["--db", zoo.url, "recommend", "--task", "task05", "-k", "2", "--json", "--tag", "size=small", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["model"] for r in data["recommendations"]] == ["tiny-expert"]
    assert {"distance", "ratio", "percentile", "nearest"} <= set(data["novelty"])
    assert {"low", "high", "trust", "model2vec_error"} <= set(data["recommendations"][0])


def test_verify_auto_verifies_only_when_the_query_extrapolates_or_the_pick_is_not_generic():
    from zoo.api.recommend import AUTO_VERIFY, Recommendation
    from zoo.api.verify import verify_count as _verify_count

    def rec(trust):
        return Recommendation(1, "m", 0.1, 0.0, (), True, "timm:x", trust=trust)

    assert rec(0.2).extrapolates and not rec(0.9).extrapolates
    assert _verify_count("auto", rec(0.2).extrapolates) == AUTO_VERIFY
    assert _verify_count("auto", rec(0.9).extrapolates) == 0
    assert _verify_count("auto", rec(0.9).extrapolates, disagrees=True) == AUTO_VERIFY
    assert _verify_count(3, rec(0.9).extrapolates) == 3
    assert _verify_count(0, True, disagrees=True) == 0  # a number is taken as given
    with pytest.raises(InvalidInput, match="verify=K"):
        _verify_count("sometimes", False)


def test_the_shortlist_order_puts_the_generic_pick_within_k():
    import numpy as np

    from zoo.api.ranking import Scored
    from zoo.api.recommend import _shortlist_first

    names = ("a", "b", "c", "d", "e")
    expected = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    prior = np.array([0.5, np.nan, 0.4, 0.2, 0.3])  # d is the generic pick; b has no prior
    scored = Scored(names, np.arange(5), expected, expected, expected, expected, expected, None, 1.0, prior)
    assert scored.generic() == 3 and scored.generic({"a", "b", "c"}) == 2
    order = scored.order()
    assert order == [0, 1, 2, 3, 4]
    assert _shortlist_first(order, order, 3, 2) == [0, 3, 1, 2, 4]  # d takes the 2nd place, the rest keep their order
    assert _shortlist_first(order, order, 3, 4) == [0, 1, 2, 3, 4]  # already within the first 4
    assert _shortlist_first(order, order, 3, 1) == [0, 1, 2, 3, 4]  # a shortlist of one has no anchor
    assert _shortlist_first(order, order, None, 2) == [0, 1, 2, 3, 4]  # no generic pick, no anchor
    # a pool without b and c (not candidates): the shortlist skips them, they keep their place after it
    assert _shortlist_first(order, [0, 3, 4], 3, 2) == [0, 3, 1, 2, 4]
    assert _shortlist_first(order, [0, 3, 4], 3, 3) == [0, 3, 4, 1, 2]
    # with the screen's values: the generic pick, then the screen's best and the pool's best in turn
    assert _shortlist_first(order, [0, 3, 4], 3, 2, np.array([0.0, 0.0, 5.0])) == [3, 4, 0, 1, 2]


@pytest.mark.parametrize("here", [True, False])
def test_the_advice_to_verify_says_to_bring_the_weights_first_when_none_are_here(here, tmp_path, capsys):
    """An extrapolating answer (and a margin call) advises --verify; without any shown expert's weights on this
    machine that fails at once, so the advice names what brings them first."""
    from types import SimpleNamespace

    from zoo.api.recommend import Recommendation
    from zoo.cli.recommend import echo_novelty

    weights = tmp_path / "w.safetensors"
    if here:
        weights.write_bytes(b"x")
    novelty = SimpleNamespace(nearest="t0", distance=0.5, percentile=99.0)
    common = {"trust": 0.0, "novelty": novelty, "margin": 0.1}
    recs = [
        Recommendation(1, "generic", 0.2, 0.0, (), True, f"file:{weights}", **common),
        Recommendation(2, "other", 0.1, 0.0, (), True, f"file:{tmp_path / 'missing.safetensors'}", **common),
    ]
    assert recs[0].weights_here is here and not recs[1].weights_here
    assert Recommendation(1, "hub", 0.1, 0.0, (), True, "timm:resnet18").weights_here  # remote: loadable
    echo_novelty(recs)
    out = capsys.readouterr()
    first = "once the experts' weights are on this machine (`zoo models set-source NAME file:PATH`)"
    assert "--verify 3 checks both on your images" in out.out and "--verify 5" in out.err
    assert (first in out.out and first in out.err) is not here
