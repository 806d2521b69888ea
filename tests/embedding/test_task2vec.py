"""embed(): determinism, relabelling invariance, length, the variational method and its prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from registry.errors import InvalidInput
from zoo.embedding.distance import d_sym, trivial_embedding
from zoo.embedding.task2vec import embed

PERMUTATION = [2, 0, 1]
EXPECTED_PERMUTATION_TOL = 1e-5  # exact expectation: only float round-off differs
MONTECARLO_PERMUTATION_TOL = 0.35  # one label sample per image: d_sym noise on 24 images
ADAM_JITTER = 0.02  # Adam (lr 0.05) keeps wandering ~lr/5 around a flat optimum in log-variance


def test_same_seed_same_vector(tiny_probe, task):
    a = embed(task, tiny_probe, progress=False, seed=3)
    b = embed(task, tiny_probe, progress=False, seed=3)
    c = embed(task, tiny_probe, progress=False, seed=4)
    np.testing.assert_array_equal(a.vector, b.vector)
    assert not np.array_equal(a.vector, c.vector)


def test_length_is_filter_count_and_provenance(tiny_probe, task):
    e = embed(task, tiny_probe, progress=False)
    filters = sum(m.weight.shape[0] for _, m in tiny_probe.layers)
    assert e.vector.shape == (filters,) == (e.probe.embedding_length,)
    assert e.vector.dtype == np.float32 and np.all(e.vector >= 0) and e.norm > 0
    assert e.prior.shape == e.vector.shape and np.all(e.prior > 0)
    assert e.params["head"]["kind"] == "l2-multinomial-logistic-regression"
    assert e.sample_count == len(task) and e.method == "montecarlo"
    assert "fc" not in e.probe.layers  # the classifier is excluded


def test_expected_is_invariant_to_relabelling(tiny_probe, synthetic_task):
    a = embed(synthetic_task(), tiny_probe, method="expected", progress=False)
    b = embed(synthetic_task(permutation=PERMUTATION), tiny_probe, method="expected", progress=False)
    assert d_sym(a.vector, b.vector) < EXPECTED_PERMUTATION_TOL


@pytest.mark.montecarlo
def test_montecarlo_nearly_invariant_to_relabelling(tiny_probe, synthetic_task):
    a = embed(synthetic_task(), tiny_probe, progress=False)
    b = embed(synthetic_task(permutation=PERMUTATION), tiny_probe, progress=False)
    other = embed(synthetic_task(random_labels=True), tiny_probe, progress=False)
    assert d_sym(a.vector, b.vector) < MONTECARLO_PERMUTATION_TOL
    assert d_sym(a.vector, b.vector) < d_sym(a.vector, other.vector)


def test_max_samples_caps_the_images_the_embedding_reads(tiny_probe, task):
    """(That the subsample is class-balanced is tested on balanced_indices itself, in tests/test_data.py.)"""
    e = embed(task, tiny_probe, progress=False, max_samples=9)
    assert e.sample_count == 9


def test_variational_positive_right_length(tiny_probe, task):
    e = embed(task, tiny_probe, method="variational", progress=False, variational_options={"min_steps": 20})
    assert e.vector.shape == (tiny_probe.info.embedding_length,)
    assert np.all(e.vector > 0) and np.all(np.isfinite(e.vector))
    assert d_sym(e.vector, trivial_embedding(e)) > 0.05  # the task moved it off its prior


class _Uninformative(torch.utils.data.Dataset):
    """Every image identical: labels cannot be predicted from the images."""

    classes = ["a", "b", "c"]

    def __init__(self):
        self.image = np.full((16, 16, 3), 90, np.uint8)
        self.targets = [i % 3 for i in range(18)]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.image, self.targets[i]


def test_variational_falls_back_to_prior_without_information(tiny_probe, task):
    e = embed(_Uninformative(), tiny_probe, method="variational", progress=False, variational_options={"min_steps": 20})
    prior = trivial_embedding(e)
    np.testing.assert_allclose(e.vector, prior, rtol=ADAM_JITTER)
    informative = embed(task, tiny_probe, method="variational", progress=False, variational_options={"min_steps": 20})
    assert np.abs(informative.vector / prior - 1).max() > 10 * ADAM_JITTER


def test_unknown_method_refused(tiny_probe, task):
    with pytest.raises(InvalidInput, match="unknown method"):
        embed(task, tiny_probe, method="fast", progress=False)


def test_random_probe_refused_unless_allowed(task):
    import timm

    model = timm.create_model("resnet18", num_classes=2, layers=[1, 1, 1, 1], channels=[4, 4, 4, 4])
    with pytest.raises(InvalidInput, match="random"):
        embed(task, model, progress=False)


NORM_SPREAD = 3.0  # draws of one task, 48 images each, on a random tiny probe (measured ~2.2x)


def test_norms_of_similar_tasks_are_similar(tiny_probe, synthetic_task):
    """METHOD section 1: the head recipe, not its training length, sets the scale."""
    same = [
        embed(synthetic_task(seed=s, n_per_class=16), tiny_probe, method="expected", progress=False).norm
        for s in range(3)
    ]
    noise = embed(
        synthetic_task(seed=0, n_per_class=16, random_labels=True), tiny_probe, method="expected", progress=False
    ).norm
    assert max(same) / min(same) < NORM_SPREAD
    assert min(same) > 2 * noise  # a task without label information has a smaller Fisher


def test_montecarlo_prior_is_two_beta_over_layer_weight_power(tiny_probe, task):
    from zoo.embedding.probe import BETA

    e = embed(task, tiny_probe, progress=False)
    expected = np.concatenate(
        [np.full(m.weight.shape[0], 2 * BETA / float((m.weight.double() ** 2).mean())) for _, m in tiny_probe.layers]
    )
    np.testing.assert_allclose(e.prior, expected, rtol=1e-6)


def test_variational_prior_init_and_bad_init(tiny_probe, task):
    from zoo.embedding.variational import variational_fisher

    e = embed(
        task, tiny_probe, method="variational", progress=False, variational_options={"min_steps": 5, "init": "prior"}
    )
    assert e.params["init"] == "prior" and np.all(e.vector > 0)
    with pytest.raises(ValueError, match="unknown init"):
        variational_fisher(tiny_probe, None, lambda: [], np.zeros(0), init="zeros")
