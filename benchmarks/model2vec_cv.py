"""Model2Vec's settings chosen by cross-validation over the leave-out folds, never on the reported fold.

    zoo --db sqlite:///cv.db import zoo/assets/zoo.jsonl.gz
    python benchmarks/model2vec_cv.py sqlite:///cv.db --cache runs.pkl     # 12 fold runs, ~30 min on 2 cores

For every setting of :data:`SETTINGS` one Model2Vec run is trained per collection left out (the
registry's held-out tasks stay out of every run, as in ``zoo bench evaluate --leave-out``). A setting's
score on a fold is the mean gap in points of its own (unshrunk) ranking on that collection's held-out
tasks. For each reported fold the setting with the lowest mean score over the OTHER folds is chosen, and
the fold is reported with it by the leave-out judge (shrinkage fitted on the other folds' runs of that
setting, registry-only methods). Prints every score, the choices and the report; asserts nothing.
Trained fold runs are kept in ``--cache`` so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
from pathlib import Path

import numpy as np

#: the settings compared: changes to the shipped run's zoo.model2vec.Model2VecConfig
SETTINGS = {
    "shipped (both, logit, no shift)": {},
    "identity link": {"error_link": "identity"},
    "regression objective": {"objective": "regression"},
    "per-model shift": {"model_shift": True},
}


class _NoCache:
    """The leave-out judge's score cache, unused: this report runs no scorer."""

    def load_scores(self, *args: object) -> None:
        return None

    def save_scores(self, *args: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--cache", type=Path, default=Path("model2vec-cv-runs.pkl"))
    args = parser.parse_args()
    os.environ.setdefault("ZOO_NO_SEED", "1")
    import torch

    import zoo
    from zoo.api.folds import FoldContext
    from zoo.api.leaveout import _assemble, _judged
    from zoo.shrinkage import top_pick_gap

    torch.set_num_threads(1)
    z = zoo.connect(args.url)
    judge = z.leave_out
    base = judge._base(None)
    runs = pickle.loads(args.cache.read_bytes()) if args.cache.is_file() else {}
    contexts = {}
    for name, change in SETTINGS.items():
        prepared = dataclasses.replace(base, config=dataclasses.replace(base.config, **change))
        contexts[name] = context = FoldContext(judge.training, prepared)
        for collection in context.collections():
            if (name, collection) not in runs:
                runs[(name, collection)] = dataclasses.replace(context.run([collection]), fitted=None)
                args.cache.write_bytes(pickle.dumps(runs))
                print(f"trained: {name}, {collection} left out", flush=True)
    collections = next(iter(contexts.values())).collections()
    gap = {}
    for name, context in contexts.items():
        for c in collections:
            examples = context.examples(runs[(name, c)], _judged(context, c))
            gap[(name, c)] = float(np.nanmean([top_pick_gap(e.expected, e.truth) for e in examples]))
            print(f"{name:34s} {c:8s} left out: unshrunk gap {gap[(name, c)]:.2f} points")
    reports = []
    for c in collections:
        inner = {n: float(np.mean([gap[(n, o)] for o in collections if o != c])) for n in SETTINGS}
        best = min(inner, key=inner.get)
        print(f"fold {c}: mean over the other folds " + ", ".join(f"{n} {v:.2f}" for n, v in inner.items()))
        print(f"fold {c}: chose {best}")
        fold_runs = {o: runs[(best, o)] for o in collections}
        reports.append(judge._fold(contexts[best], fold_runs, c, (), (), None, False, _NoCache()))
    overall = {n: float(np.mean([gap[(n, c)] for c in collections])) for n in SETTINGS}
    print("mean over all folds (not a held-out figure): " + ", ".join(f"{n} {v:.2f}" for n, v in overall.items()))
    print(_assemble(reports, next(iter(contexts.values())))["markdown"])


if __name__ == "__main__":
    main()
