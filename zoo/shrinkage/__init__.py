"""How far a query is from the evidence, and how much of Model2Vec's answer to trust there.

Model2Vec predicts a transfer error for every expert from the query's task
embedding. Near the tasks it was trained on that prediction carries real
information; far from them (a new source of data) it extrapolates, and a
ranking that follows it blindly picks whichever expert happens to sit nearest
to far-away tasks. So the ranking error of expert i on query t is

    y_i(t) = sigmoid( logit(p_i) + w(r_t) * (logit(e_i(t)) - logit(p_i)) )

with p_i the expert's mean measured error over the training tasks (its prior
quality: the argmin of p is the "generic" choice), e_i(t) Model2Vec's
calibrated expected error, and w(r) = sigmoid(a - b * log r) a weight that
falls with the query's novelty r. At w = 0 the ranking is exactly the generic
one; at w = 1 it is Model2Vec's.

Novelty: r = d_nn(t) / median_s d_nn(s), the d_sym distance from the query to
its nearest training task, over the median of the same distance among the
training tasks themselves (r ~ 1: as close to the evidence as a typical
training task is to its neighbour). The percentile of d_nn(t) among the
training tasks' nearest-neighbour distances is the figure shown to users.

The prior is taken at the query's difficulty. The probe pass that embeds a
task also fits a linear head on the probe's features; its training error
h_t is a cheap measure of how hard the task is (logit of it: the
difficulty d_t). Across a run's seen tasks every expert's error moves with
it, so the prior's logit is shifted by one common offset

    delta(t) = beta * (d_t - d_bar)

(beta: least squares of logit e_i(s) - logit p_i on d_s over every measured
pair of the seen tasks; d_bar: the mean d_s; :func:`fit_difficulty`; no
offset below MIN_DIFFICULTY_TASKS seen tasks of distinct difficulty). The
offset is the same for every expert, so it moves the expected errors and
never the order: a query much harder than the bench's tasks gets expected
errors at its level instead of the bench's average.

The first pick is the generic one unless another expert's expected error is
lower by more than half the interval's width at the query's novelty
(:func:`held_first`): a predicted advantage within the prediction's own
uncertainty does not displace the safe default. The rest of the ranking keeps
its order.

(a, b) are fitted on left-out folds (whole collections of tasks Model2Vec
never saw, plus held-out tasks of the collections it did see), by the mean
gap in points of the top pick, on a fixed grid (:func:`fit_weight`). The
interval around each expected error is +-q(r), a linear quantile fit of the
absolute residual (measured - predicted, in error units) against log r on the
same left-out examples (:func:`fit_interval`; symmetric, since the residuals'
lean changes sign between collections), taken without the difficulty
offset: the prior-only residuals are the wider ones on the bench's folds, and
quantiles of the offset residuals under-cover a fold the fit never saw
(docs/figures/leave-out.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from zoo.shrinkage.interval import (
    NOMINAL_COVERAGE,
    SHAPES,
    Interval,
    coverage,
    coverage_spread,
    fit_interval,
    mean_abs_error,
)
from zoo.shrinkage.trust import (
    A_GRID,
    B_GRID,
    DEFAULT_WEIGHT,
    GAP_TOLERANCE,
    MIN_DIFFICULTY_TASKS,
    POOLS,
    Difficulty,
    FoldExample,
    Novelty,
    blend,
    difficulty_of,
    fit_difficulty,
    fit_weight,
    held_first,
    hold_generic,
    logit_mean,
    nn_distances,
    novelty,
    plausible,
    plausible_architectures,
    sigmoid,
    top_pick_gap,
    trust_weight,
    verify_candidates,
)

__all__ = [
    "A_GRID",
    "B_GRID",
    "DEFAULT_WEIGHT",
    "Difficulty",
    "FoldExample",
    "GAP_TOLERANCE",
    "Interval",
    "MIN_DIFFICULTY_TASKS",
    "NOMINAL_COVERAGE",
    "Novelty",
    "POOLS",
    "SHAPES",
    "Shrinkage",
    "blend",
    "coverage",
    "coverage_spread",
    "difficulty_of",
    "fit_difficulty",
    "fit_interval",
    "fit_shrinkage",
    "fit_weight",
    "held_first",
    "hold_generic",
    "logit_mean",
    "mean_abs_error",
    "nn_distances",
    "novelty",
    "plausible",
    "plausible_architectures",
    "sigmoid",
    "top_pick_gap",
    "trust_weight",
    "verify_candidates",
]


@dataclass(frozen=True)
class Shrinkage:
    """The fitted weight and interval, stored with a Model2Vec run (``as_dict`` / ``from_dict``)."""

    weight: tuple[float, float] = DEFAULT_WEIGHT
    interval: Interval = field(default_factory=lambda: Interval((-0.2, 0.0), (0.2, 0.0)))
    fitted_on: tuple[str, ...] = ()  # the left-out folds it was fitted on (empty: the default)
    examples: int = 0
    difficulty: Difficulty | None = None  # fitted on the run's seen tasks (None: a run stored before it)

    def as_dict(self) -> dict:
        out = {
            "weight": list(self.weight),
            "interval": asdict(self.interval),
            "fitted_on": list(self.fitted_on),
            "examples": self.examples,
        }
        if self.difficulty is not None:
            out["difficulty"] = asdict(self.difficulty)
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> Shrinkage:
        if not data:
            return cls()
        difficulty = data.get("difficulty")
        return cls(
            tuple(data.get("weight", DEFAULT_WEIGHT)),
            Interval.from_dict(data.get("interval") or {}),
            tuple(data.get("fitted_on", ())),
            int(data.get("examples", 0)),
            Difficulty(float(difficulty["slope"]), float(difficulty["centre"])) if difficulty else None,
        )


def fit_shrinkage(examples: Sequence[FoldExample], folds: Sequence[str]) -> Shrinkage:
    """Weight and interval fitted on the examples of left-out ``folds``; the interval's floor is the least novel
    example's ratio (:class:`Interval`: below it the lines would extrapolate)."""
    weight = fit_weight(examples)
    least = min((float(ex.ratio) for ex in examples), default=0.0)
    return Shrinkage(weight, replace(fit_interval(examples, weight), floor=least), tuple(folds), len(examples))
