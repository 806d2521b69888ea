"""Model2Vec on synthetic zoos whose transfer errors follow a known hidden rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo import model2vec as m2v
from zoo.embedding.distance import d_sym_matrix

from .reference import calibrate_errors_reference

# d_sym in float64 torch vs the shared numpy form: only summation order differs.
DISTANCE_ATOL = 1e-6


def hidden_rule_zoo(num_tasks=48, num_models=8, dim=6, seed=0, noise=0.002):
    """Tasks, models with known sources, and errors = 0.2 + d_asym(m*_i -> t) with hidden m*_i."""
    rng = np.random.default_rng(seed)
    tasks = np.exp(rng.normal(size=(num_tasks, dim)))
    sources = tasks[rng.choice(num_tasks, size=num_models, replace=False)]
    hidden = sources * np.exp(rng.normal(scale=1.0, size=sources.shape))
    t0 = np.ones(dim)
    d = m2v.d_asym_torch(torch.tensor(tasks), torch.tensor(hidden), torch.tensor(t0), 0.15).numpy()
    errors = 0.2 + d + rng.normal(scale=noise, size=d.shape)
    return m2v.TrainingData(
        task_names=tuple(f"task{i:02d}" for i in range(num_tasks)),
        task_vectors=tasks,
        model_names=tuple(f"model{j}" for j in range(num_models)),
        source_vectors=sources,
        errors=errors,
        t0=t0,
    )


def test_d_sym_torch_matches_shared_distance():
    rng = np.random.default_rng(1)
    a, b = np.exp(rng.normal(size=(3, 5))), np.exp(rng.normal(size=(4, 5)))
    a[0, 1] = b[0, 1] = b[1, 1] = 0.0  # a filter where both are 0 is left out; one where one is 0 counts
    fast = m2v.d_sym_torch(torch.tensor(a), torch.tensor(b)).numpy()
    slow = d_sym_matrix(a, b)
    np.testing.assert_allclose(fast, slow, atol=DISTANCE_ATOL)


def test_d_sym_torch_fast_form_for_positive_inputs_matches_shared_distance():
    """With one side strictly positive d_sym_torch takes its single-tensor form; same values."""
    rng = np.random.default_rng(4)
    a, b = np.exp(rng.normal(size=(3, 5))), np.exp(rng.normal(size=(4, 5)))
    a[0, 1] = a[2, 3] = 0.0  # zeros on one side only: still the fast form
    fast = m2v.d_sym_torch(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(fast, d_sym_matrix(a, b), atol=DISTANCE_ATOL)
    np.testing.assert_allclose(
        m2v.d_sym_torch(torch.tensor(b), torch.tensor(a)).numpy(), d_sym_matrix(b, a), atol=DISTANCE_ATOL
    )


def test_d_asym_torch_matches_a_pair_at_a_time():
    """d_asym(source -> target) = d_sym(source, target) - alpha * d_sym(source, t0), one pair at a time with the
    shared scalar d_sym (the torch form trains Model2Vec and makes the synthetic zoos, so it needs its own twin)."""
    from zoo.embedding.distance import d_sym

    rng = np.random.default_rng(5)
    targets, sources = np.exp(rng.normal(size=(4, 6))), np.exp(rng.normal(size=(3, 6)))
    t0 = np.exp(rng.normal(size=6))
    fast = m2v.d_asym_torch(torch.tensor(targets), torch.tensor(sources), torch.tensor(t0), 0.3).numpy()
    slow = [[d_sym(s, t) - 0.3 * d_sym(s, t0) for s in sources] for t in targets]
    np.testing.assert_allclose(fast, slow, atol=DISTANCE_ATOL)


def test_d_sym_is_scale_invariant_and_zero_on_itself():
    a = torch.tensor(np.exp(np.random.default_rng(2).normal(size=(2, 7))))
    d = m2v.d_sym_torch(a, 3.0 * a)
    assert torch.allclose(torch.diagonal(d), torch.zeros(2, dtype=d.dtype), atol=1e-12)


@pytest.mark.parametrize("objective", ["regression", "both", "ce"])
def test_training_recovers_the_hidden_rule(objective):
    # the cross-entropy sees only each task's winner, so it needs more tasks than the regression
    data = hidden_rule_zoo(num_tasks=160 if objective == "ce" else 48)
    config = m2v.Model2VecConfig(objective=objective, epochs=300, lr=0.05, val_fraction=0.25, seed=0)
    result = m2v.train_model2vec(data, config, progress=False)
    val = result.metrics["validation"]
    # without the learned bias the ranking is poor; with it, the best model comes first on most held-out tasks
    assert val["top1"] >= val["untrained_top1"] + 0.2
    assert val["relative_error"] < 0.5 * val["untrained_relative_error"]
    assert np.all(result.vectors > 0)
    if objective != "ce":
        assert val["error_mae_points"] < 2.0  # errors (0.2 + d_asym) span ~60 points; noise is 0.2 points


def test_validation_tasks_are_held_out_and_seeded():
    data = hidden_rule_zoo(num_tasks=20)
    config = m2v.Model2VecConfig(epochs=5, val_fraction=0.3, seed=7)
    first = m2v.train_model2vec(data, config, progress=False)
    second = m2v.train_model2vec(data, config, progress=False)
    assert first.val_tasks == second.val_tasks and len(first.val_tasks) == 6
    assert not set(first.val_tasks) & set(first.train_tasks)
    np.testing.assert_array_equal(first.vectors, second.vectors)


def test_sources_with_zero_filters_train_to_finite_positive_vectors():
    data = hidden_rule_zoo(num_tasks=20)
    sources = data.source_vectors.copy()
    sources[:, 0] = 0.0
    data = m2v.TrainingData(data.task_names, data.task_vectors, data.model_names, sources, data.errors, data.t0)
    result = m2v.train_model2vec(data, m2v.Model2VecConfig(epochs=20), progress=False)
    assert np.all(np.isfinite(result.vectors)) and np.all(result.vectors > 0)


def test_model_without_results_keeps_zero_bias_and_is_flagged():
    data = hidden_rule_zoo(num_tasks=20)
    errors = data.errors.copy()
    errors[:, 3] = np.nan
    data = m2v.TrainingData(data.task_names, data.task_vectors, data.model_names, data.source_vectors, errors, data.t0)
    result = m2v.train_model2vec(data, m2v.Model2VecConfig(epochs=20), progress=False)
    assert not result.trained[3] and result.trained.sum() == 7
    np.testing.assert_array_equal(result.bias[3], np.zeros(6, dtype=np.float32))


def test_early_stopping_stops_before_the_epoch_limit():
    data = hidden_rule_zoo(num_tasks=20)
    result = m2v.train_model2vec(data, m2v.Model2VecConfig(epochs=5000, patience=10, lr=0.2), progress=False)
    assert result.metrics["epochs_run"] < 5000


def test_error_matrix_averages_repeats_and_marks_missing():
    e = m2v.error_matrix(
        [("t1", "a", 0.2), ("t1", "a", 0.4), ("t2", "b", 0.1), ("zz", "a", 1.0)], ["t1", "t2"], ["a", "b"]
    )
    np.testing.assert_allclose(e, [[0.3, np.nan], [np.nan, 0.1]])


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError):
        m2v.split_tasks(["a", "b"], 1.5, 0)


def test_named_validation_tasks_are_held_out():
    data = hidden_rule_zoo(num_tasks=12)
    result = m2v.train_model2vec(data, m2v.Model2VecConfig(epochs=3), val_tasks=["task03", "task07"], progress=False)
    assert result.val_tasks == ("task03", "task07") and "task03" not in result.train_tasks
    with pytest.raises(ValueError, match="nope"):
        m2v.train_model2vec(data, m2v.Model2VecConfig(epochs=3), val_tasks=["nope"], progress=False)


def test_calibration_matches_its_slow_twin():
    rng = np.random.default_rng(3)
    distance = rng.random((7, 4))
    errors = 0.1 + 0.6 * distance + rng.normal(scale=0.05, size=distance.shape) + np.array([0.0, 0.1, -0.05, 0.2])
    errors[rng.random(errors.shape) < 0.2] = np.nan  # not every pair is measured
    fast = m2v.calibrate_errors(distance, errors, prior=2.0)
    slow = calibrate_errors_reference(distance, errors, prior=2.0)
    np.testing.assert_allclose(fast[0], slow[0], atol=1e-4)
    np.testing.assert_allclose(fast[1], slow[1], atol=1e-4)
    np.testing.assert_allclose(fast[2], slow[2], atol=1e-4)


def test_calibration_keeps_the_map_rising_with_distance():
    distance = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    errors = 0.9 - distance  # falls with distance: the fitted slope would be negative
    a, s, offsets = m2v.calibrate_errors(distance, errors, prior=1.0, min_slope=1e-3)
    assert s == pytest.approx(1e-3)
    # with s fixed, (a, c) is still the ridge optimum: the residuals' gradient in a vanishes
    residual = errors - (a + s * distance + offsets[None, :])
    assert abs(residual.sum()) < 1e-9


def test_calibration_fixes_the_cross_entropy_runs_expected_errors():
    """The ce objective alone learns no error scale; the ridge refit after training supplies it."""
    data = hidden_rule_zoo(num_tasks=160)
    common = dict(objective="ce", epochs=300, lr=0.05, val_fraction=0.25, seed=0)
    raw = m2v.train_model2vec(data, m2v.Model2VecConfig(calibrate=False, **common), progress=False)
    fixed = m2v.train_model2vec(data, m2v.Model2VecConfig(calibrate=True, **common), progress=False)
    assert fixed.metrics["validation"]["error_mae_points"] < 0.5 * raw.metrics["validation"]["error_mae_points"]
    # the ranking comes from training; calibration only adds per-model offsets, shrunk towards 0
    assert fixed.metrics["validation"]["top1"] >= raw.metrics["validation"]["top1"] - 0.1


def test_logit_link_keeps_expected_errors_inside_zero_one_and_monotone():
    d = np.linspace(-3.0, 3.0, 13)
    e = m2v.expected_error(d, (0.5, 2.0), "logit")
    assert np.all((e > 0) & (e < 1)) and np.all(np.diff(e) > 0)
    middle = d[4:9]  # predictions well inside the clip range: error_logit inverts the map exactly
    np.testing.assert_allclose(
        m2v.error_logit(m2v.expected_error(middle, (0.5, 2.0), "logit")), 0.5 + 2.0 * middle, rtol=1e-9, atol=1e-12
    )
    with pytest.raises(ValueError, match="link"):
        m2v.expected_error(d, (0.5, 2.0), "probit")


def test_calibrated_errors_of_near_perfect_models_stay_positive():
    """Errors near 0 are common (an expert that solves a task); the identity map predicted below 0 there."""
    data = hidden_rule_zoo(num_tasks=48)
    shifted = m2v.TrainingData(
        data.task_names,
        data.task_vectors,
        data.model_names,
        data.source_vectors,
        np.clip(data.errors - 0.25, 0.0, None),
        data.t0,
    )  # many exact zeros
    result = m2v.train_model2vec(shifted, m2v.Model2VecConfig(epochs=100, val_fraction=0.25), progress=False)
    assert result.error_link == "logit"
    d = (
        m2v.d_asym_torch(
            torch.tensor(data.task_vectors),
            torch.tensor(result.vectors.astype(np.float64)),
            torch.tensor(data.t0),
            result.alpha,
        ).numpy()
        + result.shift[None, :]
    )
    predicted = m2v.expected_error(d, result.error_map, result.error_link)
    assert np.all(predicted > 0) and np.all(predicted < 1)
    assert result.metrics["validation"]["error_mae_points"] < 5.0
