"""Does fitting the shrinkage on left-out groups too make the unverified default safe on every fold?

    zoo --db sqlite:///groups.db import zoo/assets/zoo.jsonl.gz
    python benchmarks/shrinkage_groups.py sqlite:///groups.db --cache groups-cache   # 9 group runs, ~10 min

The question and the rule were written before any figure: the shrinkage weight w(r) is fitted on the
left-out collections' fold runs only (three examples of novelty, at two or three novelty ratios), and on
the scripts fold the weight fitted on the other two keeps Model2Vec's term where the script tasks sit.
More examples of novelty at more ratios might fix that. A **group** is a taxonomy's first two segments
(``scripts/Brahmic``, ``emoji/Objects``) with at least 4 measured tasks outside the registry's held-out
ones, in a collection with at least two such groups. One Model2Vec run per group is trained with the
group's tasks excluded (as a collection fold run is); its novel examples are the group's measured tasks,
its familiar ones the held-out tasks of other groups.

For each collection C, the weight is fitted (``zoo.shrinkage.fit_weight``) on the other collections'
fold runs alone, then on those plus every group run of the other collections (C's tasks always skipped),
and the default ranking of C's fold run is judged on C's held-out tasks. Last, the weight a stored run
would get (every fold and group) is applied to the registry's stored run on its held-out tasks (the
in-collection figure). Prints the figures; asserts nothing. Group runs are kept in ``--cache``.
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from pathlib import Path

import numpy as np

MIN_TASKS = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--cache", type=Path, default=Path("groups-cache"))
    args = parser.parse_args()
    os.environ.setdefault("ZOO_NO_SEED", "1")

    import zoo
    from zoo.api.folds import FoldCache, FoldContext, FoldRun, cache_key
    from zoo.api.leaveout import _judged
    from zoo.shrinkage import FoldExample, blend, fit_weight, nn_distances

    z = zoo.connect(args.url)
    context = FoldContext(z.leave_out.training, z.leave_out._base(None))
    cache = FoldCache(args.cache, cache_key(context, 200))
    tasks = {t.name: t for t in z.store.list_tasks()}
    group = {n: "/".join((tasks[n].taxonomy or "").split("/")[:2]) for n in context.base.space.task_names if n in tasks}
    held = set(context.base.selected.excluded)
    counts = Counter(group[t] for t in context.measured if t not in held)
    eligible = [g for g, n in counts.items() if n >= MIN_TASKS and "/" in g]
    per_collection = Counter(g.split("/")[0] for g in eligible)
    groups = sorted(g for g in eligible if per_collection[g.split("/")[0]] >= 2)
    print("groups:", ", ".join(groups))

    def fold_run(name: str, left: list[str]) -> FoldRun:
        cached = cache.load_run([name])
        if cached is not None:
            return cached
        fitted = context.training.fit(context.base.excluding(left), progress=False)
        seen = tuple(context.row[t] for t in fitted.seen_tasks)
        rows = list(seen)
        run = FoldRun(
            (name,),
            fitted,
            fitted.expected_errors(),
            fitted.prior_errors(),
            nn_distances(context.dsym[rows][:, rows]),
            seen,
        )
        cache.save_run(run)
        return run

    collections = context.collections()
    runs = {c: fold_run(c, [t for t, k in context.collection.items() if k == c]) for c in collections}
    group_runs = {
        g: fold_run(_file_name(g), [t for t in context.base.space.task_names if group.get(t) == g]) for g in groups
    }

    def group_examples(g: str, skip) -> list[FoldExample]:
        novel = [t for t in context.measured if group.get(t) == g]
        familiar = [t for t in held if group.get(t) != g]
        return [
            FoldExample(e.task, e.expected, e.prior, e.truth, e.ratio, group.get(e.task) == g, e.offset)
            for e in context.examples(group_runs[g], novel + familiar)
            if not skip(e.task)
        ]

    def gap(scores: np.ndarray, truth: np.ndarray) -> float:
        return 100.0 * float(truth[int(np.argmin(scores))] - np.nanmin(truth))

    print("\n| fold | fitted on | weight (a, b) | default gap | generic gap |\n|---|---|---|---|---|")
    for c in collections:
        in_fold = {t for t, k in context.collection.items() if k == c}
        base = [e for o in collections if o != c for e in context.fit_examples(runs[o], skip=in_fold.__contains__)]
        extra = [e for g in groups if not g.startswith(c + "/") for e in group_examples(g, in_fold.__contains__)]
        examples = context.examples(runs[c], _judged(context, c))
        generic = np.mean([gap(runs[c].prior, e.truth) for e in examples])
        for label, fitting in (("collections", base), ("collections + groups", base + extra)):
            w = fit_weight(fitting)
            default = np.mean(
                [gap(blend(e.expected[None], e.prior, np.array([e.ratio]), w)[0], e.truth) for e in examples]
            )
            print(f"| {c} | {label} | {w} | {default:.2f} | {generic:.2f} |")

    from zoo.api.ranking import RunTrust
    from zoo.api.space import learned_vectors
    from zoo.embedding.distance import ALPHA, d_asym_matrix
    from zoo.model2vec import expected_error

    space, store = context.base.space, z.store
    stored = store.latest_model2vec_run(space.probe, space.method)
    trust = RunTrust.load(store, stored, space.task_names, space.task_vectors)
    vectors, shifts, _ = learned_vectors(store, stored.id, space)
    judged = [t for t in stored.hyperparams.get("excluded_tasks") or [] if t in context.measured]
    rows = [context.row[t] for t in judged]
    targets, truth = space.task_vectors[rows], context.truth[rows]
    hp = stored.hyperparams
    raw = expected_error(
        d_asym_matrix(vectors, targets, space.t0, float(hp.get("alpha", ALPHA))).T + shifts[None, :],
        tuple(hp.get("error_map", (0.0, 1.0))),
        hp.get("error_link", "identity"),
    )
    prior = np.array([trust.prior.get(m.name, np.nan) for m in space.models])
    ratio = np.array([trust.novelty(t).ratio for t in targets])
    every_fold = [e for c in collections for e in context.fit_examples(runs[c])]
    every_group = [e for g in groups for e in group_examples(g, lambda t: False)]
    print(f"\nIn-collection ({len(rows)} held-out tasks, the stored run):")
    for label, w in (
        ("stored weight", tuple(hp["shrinkage"]["weight"])),
        ("every collection fold", fit_weight(every_fold)),
        ("every fold + every group", fit_weight(every_fold + every_group)),
    ):
        y = blend(raw, prior, ratio, w)
        print(f"  {label}: weight {w}, default gap {np.mean([gap(y[i], truth[i]) for i in range(len(rows))]):.2f}")
    print(
        f"  generic {np.mean([gap(prior, truth[i]) for i in range(len(rows))]):.2f}, "
        f"Model2Vec alone {np.mean([gap(raw[i], truth[i]) for i in range(len(rows))]):.2f}"
    )


def _file_name(group: str) -> str:
    return group.replace("/", "_").replace(" ", "_").replace("&", "and")


if __name__ == "__main__":
    main()
