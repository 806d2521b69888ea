"""The interval's shape chosen by nested cross-validation over the leave-out folds, never on the reported fold.

    zoo --db sqlite:///fresh.db import zoo/assets/zoo.jsonl.gz
    ZOO_BENCH_ROOT=DIR zoo --db sqlite:///fresh.db bench evaluate --leave-out all --out-dir OUT   # the fold runs
    python benchmarks/interval_shape_cv.py sqlite:///fresh.db OUT/leave-out-cache

Every shape of :data:`zoo.shrinkage.SHAPES` (:func:`zoo.shrinkage.fit_interval`): "signed", the 10% and 90%
quantile lines of the residual against log r; "symmetric", +-the 80% quantile line of its absolute value;
"logit", the same on the logit scale of the error (pre-registered in docs/figures/interval-preregistration.md);
"monotone" and "novel" (docs/figures/interval-width-preregistration.md); "capped"
(docs/figures/interval-capped-preregistration.md). For each reported fold C and
each shape, the inner score is the mean |coverage - 0.8| over the two other folds, each judged with the
interval fitted on the remaining one (C's tasks skipped, as the leave-out judge skips them); the shape with
the lowest inner score (ties: the earlier in that list) is C's choice, and C's coverage is reported for every
shape; then, for the default (symmetric) shape, the 80% quantile of C's absolute residuals beside the band's
median half-width on C's pairs (a band wider than that quantile over-covers). Reads the fold runs
``bench evaluate --leave-out`` cached (trains none); prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("cache", type=Path, help="OUT/leave-out-cache of a `bench evaluate --leave-out all` run")
    parser.add_argument("--max-samples", type=int, default=200, help="as that run's")
    args = parser.parse_args()

    import numpy as np

    import zoo
    from zoo.api.folds import FoldCache, FoldContext, cache_key
    from zoo.api.leaveout import _judged
    from zoo.shrinkage import SHAPES, blend, coverage, fit_interval, fit_weight

    z = zoo.connect(args.url)
    context = FoldContext(z.training, z.leave_out._base(None))
    cache = FoldCache(args.cache, cache_key(context, args.max_samples))
    folds = context.collections()
    runs = {c: cache.load_run([c]) for c in folds}
    missing = [c for c, run in runs.items() if run is None]
    if missing:
        raise SystemExit(f"no cached fold run for {', '.join(missing)} in {args.cache}: run bench evaluate first")

    def judged(fold: str) -> list:
        return context.examples(runs[fold], _judged(context, fold))

    def fitted(fit_on: list[str], skip_folds: set[str], shape: str) -> tuple:
        skip = {t for t, c in context.collection.items() if c in skip_folds}
        examples = [e for f in fit_on for e in context.fit_examples(runs[f], skip=lambda t: t in skip)]
        weight = fit_weight(examples)
        return weight, fit_interval(examples, weight, shape=shape)

    for fold in folds:
        others = [f for f in folds if f != fold]
        inner, outer = {}, {}
        for name in SHAPES:
            misses = []
            for target in others:
                rest = [f for f in others if f != target]
                weight, interval = fitted(rest, {fold, target}, name)
                misses.append(abs(coverage(judged(target), weight, interval) - 0.8))
            inner[name] = float(np.mean(misses))
            weight, interval = fitted(others, {fold}, name)
            outer[name] = coverage(judged(fold), weight, interval)
        chosen = min(SHAPES, key=lambda n: (inner[n], SHAPES.index(n)))
        print(
            f"{fold}: inner |coverage - 0.8| "
            + ", ".join(f"{n} {v:.3f}" for n, v in inner.items())
            + f"; chosen {chosen}; coverage on {fold}: "
            + ", ".join(f"{n} {v:.2f}" for n, v in outer.items())
        )
        # what the default (symmetric) band is against what the fold needed: the 80% quantile of its absolute
        # residuals (around the expected errors recommend reports) and the band's half-width at its tasks
        weight, interval = fitted(others, {fold}, "symmetric")
        gaps, widths, ratios = [], [], []
        for ex in judged(fold):
            ok = np.isfinite(ex.truth)
            shown = blend(ex.expected[None, :], ex.prior, np.array([ex.ratio]), weight, np.array([ex.offset]))[0]
            gaps.append(np.abs(ex.truth - shown)[ok])
            widths.append(np.full(int(ok.sum()), interval.half_width(np.array([ex.ratio]))[0]))
            ratios.append(ex.ratio)
        print(
            f"{fold}: 80% quantile of |measured - expected| {np.quantile(np.concatenate(gaps), 0.8):.3f}; "
            f"symmetric half-width, median over its pairs {np.median(np.concatenate(widths)):.3f} "
            f"(median novelty ratio {np.median(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
