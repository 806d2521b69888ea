"""The left-out folds judged with another verification pool: which experts a verification may shortlist.

    zoo --db sqlite:///fresh.db import zoo/assets/zoo.jsonl.gz
    ZOO_BENCH_ROOT=DIR zoo --db sqlite:///fresh.db bench evaluate --leave-out all --out-dir OUT   # the fold runs
    ZOO_BENCH_ROOT=DIR python benchmarks/verify_pool.py sqlite:///fresh.db OUT --pool plausible

Reads the fold runs and scorer matrices ``bench evaluate --leave-out all`` cached under ``OUT/leave-out-cache``
(trains and scores nothing new when they are there) and prints every verification row per fold and on the
mean, as that report does, with :func:`zoo.shrinkage.verify_candidates`'s ``pool``: "architecture" (the
default, what recommend does), "all" (every expert, as before it) or "plausible" (pre-registered in
docs/figures/plausible-preregistration.md and arch-preregistration.md). The new-source sets:
``fresh_sources.py judge --pool``. Asserts nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("out", type=Path, help="the --out-dir of a `bench evaluate --leave-out all` run")
    parser.add_argument("--pool", choices=("all", "plausible", "architecture"), default="architecture")
    parser.add_argument("--max-samples", type=int, default=200, help="as that run's")
    args = parser.parse_args()

    import zoo
    from zoo import selection
    from zoo.api.leaveout import LeaveOutJudge

    z = zoo.connect(args.url)
    judge = LeaveOutJudge(z.training, z.judge, verify_pool=args.pool)
    report = judge.evaluate(
        ["all"],
        scorers=("logme", "leep"),
        max_samples=args.max_samples,
        progress=False,
        cache_dir=args.out / "leave-out-cache",
        log=lambda _: None,
    )
    wanted = ("generic", "logme", "Model2Vec", "LogME", "oracle")
    for fold in [*report["folds"], {"collection": "mean over folds", "rows": report["mean"]}]:
        rows = [r for r in fold["rows"] if r["method"].startswith(wanted)]
        print(f"\n## {fold['collection']} (verification pool: {args.pool})\n")
        print(selection.markdown_table(rows))


if __name__ == "__main__":
    main()
