"""Model2Vec: embed each expert next to the tasks it is good at (METHOD.md section 6).

Each model i gets an embedding

    m_i = F_i + b_i,  parameterised as  m_i = F_i * exp(beta_i)  (element-wise)

so m_i > 0 by construction (d_sym's element-wise normalisation needs positive
vectors), with the learned bias b_i = m_i - F_i reported. F_i is the task
embedding of the task model i was trained on (``trained_on``); when that is
unknown or not embedded with this probe, F_i is the mean of all task
embeddings of the probe and method (:data:`DEFAULT_SOURCE`).

Two objectives, selectable and combinable (``objective`` in {"ce",
"regression", "both"}):

- ``ce``: the paper's k-way cross-entropy over the models evaluated on each
  training task, p(i | t) = softmax_i(-d_asym(m_i -> t) / tau), against the
  task's best model (lowest recorded transfer error); tau is learned.
- ``regression``: the transfer error is predicted from the distance by a
  learned monotone map err ~= a + softplus(c) * d_asym(m_i -> t), fitted on
  every recorded (task, model) pair, so a recommendation carries an expected
  error.

Not every expert is equally good: a model's overall quality is not a
direction in task space, so each trained model also gets a scalar shift q_i
(``model_shift``), and the Model2Vec distance that ranks models and predicts
errors is

    D_i(t) = d_asym(m_i -> t) + q_i.

Both objectives above use D_i. The joint objective fits the error map only as
a by-product of ranking, and its predictions are poorly calibrated, so after
training the error map is refitted by ridge least squares on the training
pairs (``calibrate``, :func:`calibrate_errors`): logit(err) ~= a + s * D_i(t) + c_i
(``error_link`` "logit": errors live in (0, 1), many near 0, and a line
predicted below 0 there), with per-model offsets c_i shrunk towards 0; c_i / s
joins q_i, so the ranking stays the ranking by expected error. The run's
metrics report the map's mean absolute error (``error_mae_points``).

alpha (the weight of d_sym(m_i, t0) in d_asym) is learned too. Tasks are split
into training and held-out validation tasks; training stops when the
validation loss has not improved for ``patience`` epochs and keeps the best
state. A model without any transfer result keeps b_i = 0 and ``trained=False``.

Modules: :mod:`~zoo.model2vec.inputs` (configuration, inputs, result), :mod:`~zoo.model2vec.training` (the trainer),
:mod:`~zoo.model2vec.distance` (differentiable d_sym / d_asym),
:mod:`~zoo.model2vec.calibration` (the map from distance to expected error).
"""

from __future__ import annotations

from zoo.model2vec.calibration import (
    LINKS,
    LOGIT_CLIP,
    calibrate_errors,
    error_logit,
    expected_error,
)
from zoo.model2vec.distance import d_asym_torch, d_sym_torch
from zoo.model2vec.training import (
    DEFAULT_SOURCE,
    OBJECTIVES,
    SOURCE_FLOOR,
    Model2VecConfig,
    Model2VecResult,
    TrainingData,
    error_matrix,
    split_tasks,
    train_model2vec,
)

__all__ = [
    "DEFAULT_SOURCE",
    "LINKS",
    "LOGIT_CLIP",
    "OBJECTIVES",
    "SOURCE_FLOOR",
    "Model2VecConfig",
    "Model2VecResult",
    "TrainingData",
    "calibrate_errors",
    "d_asym_torch",
    "d_sym_torch",
    "error_logit",
    "error_matrix",
    "expected_error",
    "split_tasks",
    "train_model2vec",
]
