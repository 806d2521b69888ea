"""logit_mean: the error of the average expert, against a plain loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.shrinkage import logit_mean


def _slow(errors):
    kept = [min(max(float(e), 0.005), 0.995) for e in errors if math.isfinite(e)]  # clipped as blend clips
    if not kept:
        return math.nan
    mean = sum(math.log(e / (1 - e)) for e in kept) / len(kept)
    return 1 / (1 + math.exp(-mean))


@pytest.mark.parametrize("errors", [[0.1], [0.1, 0.9], [0.002, 0.3, np.nan, 0.75], [0.5, 0.5], [np.nan]])
def test_logit_mean_matches_the_loop(errors):
    fast, slow = logit_mean(np.array(errors)), _slow(errors)
    assert (math.isnan(fast) and math.isnan(slow)) or fast == pytest.approx(slow)
