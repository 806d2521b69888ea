"""LogME with every class's fixed point at once against the one-column loop, at the verification screen's sizes.

    .venv/bin/python benchmarks/bench_logme.py [--repeats 7]

Times :func:`zoo.scorers.logme` and :func:`zoo.scorers.logme_gain` (the screen's score: LogME of the labels
and of 5 label permutations) against the same computed one class at a time by the tests' slow twin
(``tests/scorers/reference.py``), both from one SVD each, on random features: 20 images x 512 features x 20
classes (a screen's share of a 20-class task) and 200 x 512 x 20 (a bench task's LogME sample). Prints the
medians and their ratio, and the largest difference between the two values; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' reference, beside the library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    from tests.scorers.reference import logme_one_column_reference
    from zoo import scorers

    def by_column(features: np.ndarray, labelling: list[np.ndarray]) -> list[float]:
        u, s, _ = np.linalg.svd(features, full_matrices=False)
        n, d = features.shape
        return [
            float(np.mean([logme_one_column_reference(s, u, (y == c).astype(float), n, d)[0] for c in np.unique(y)]))
            for y in labelling
        ]

    def loop_gain(features: np.ndarray, labels: np.ndarray) -> float:
        rng = np.random.default_rng(0)
        labelling = [labels] + [rng.permutation(labels) for _ in range(scorers.GAIN_PERMUTATIONS)]
        evidence = by_column(features, labelling)
        return evidence[0] - float(np.mean(evidence[1:]))

    def median_seconds(fn, *inputs) -> tuple[float, float]:
        times, value = [], 0.0
        for _ in range(args.repeats):
            start = time.perf_counter()
            value = fn(*inputs)
            times.append(time.perf_counter() - start)
        return statistics.median(times), value

    rng = np.random.default_rng(0)
    for n, d, classes in ((20, 512, 20), (200, 512, 20)):
        features, labels = rng.normal(size=(n, d)), np.arange(n) % classes
        pairs = {
            "logme": (scorers.logme, lambda f, y: by_column(f, [y])[0]),
            "logme_gain": (scorers.logme_gain, loop_gain),
        }
        for name, (fast, slow) in pairs.items():
            (t_fast, v_fast), (t_slow, v_slow) = (
                median_seconds(fast, features, labels),
                median_seconds(slow, features, labels),
            )
            print(
                f"{name:<10} {n:>3} x {d} x {classes}: all columns at once {1000 * t_fast:7.1f} ms, one at a time "
                f"{1000 * t_slow:7.1f} ms ({t_slow / t_fast:.1f}x); |difference| {abs(v_fast - v_slow):.1e}"
            )


if __name__ == "__main__":
    main()
