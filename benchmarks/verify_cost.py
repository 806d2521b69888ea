"""What ``recommend --verify`` costs a user in wall time: screened, unscreened, and LogME over every expert.

For each of a few registered tasks whose images are on this machine, times ``Zoo.recommend`` end to end with
``verify=K`` (the default screen: every expert on a tenth of the images, then K full LogME scorings that
reuse it), ``verify=K, screen=0`` (the ranking's top K only) and ``verify=M, screen=0`` (LogME over all M
experts), in turn, ``--repeats`` times; prints each one's median seconds and its ratio to the last. Forward
passes count images; loading each expert's weights is a fixed cost a pass over a tenth of the images does
not shrink, which is why the screen costs more than its share. Prints figures; asserts nothing. Usage:

    ZOO_BENCH_ROOT=DIR .venv/bin/python benchmarks/verify_cost.py sqlite:///fresh.db --tasks 'script-*' [--count 3]
"""

from __future__ import annotations

import argparse
import fnmatch
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="A registry with a Model2Vec run and experts whose weights are here.")
    parser.add_argument("--tasks", default="*", help="Which registered tasks (a glob).")
    parser.add_argument("--count", type=int, default=3, help="How many of them.")
    parser.add_argument("-k", type=int, default=5, help="The shortlist.")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    import zoo
    from zoo.data import local_path

    torch.set_num_threads(1)
    z = zoo.connect(args.url)
    measured = {r.task for r in z.store.list_transfer_results()}
    tasks = [
        t.name
        for t in z.tasks()
        if fnmatch.fnmatch(t.name, args.tasks) and t.name in measured and local_path(t.data_uri) is not None
    ][: args.count]
    experts = len(z.store.list_models())
    settings = {
        f"--verify {args.k} (screened)": {"verify": args.k},
        f"--verify {args.k} --screen 0": {"verify": args.k, "screen": 0.0},
        f"LogME over all {experts} (--verify {experts} --screen 0)": {"verify": experts, "screen": 0.0},
    }
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    for task in tasks:
        z.recommend(task, k=1, progress=False)  # the index and the run in memory before any timing
        for _ in range(args.repeats):
            for name, kwargs in settings.items():
                start = time.perf_counter()
                z.recommend(task, k=1, progress=False, **kwargs)
                seconds[name].append(time.perf_counter() - start)
    last = statistics.median(seconds[list(settings)[-1]])
    print(f"{len(tasks)} tasks ({', '.join(tasks)}), {args.repeats} repeats each, {experts} experts")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:<45} median {median:7.2f} s a task   {median / last:5.2f} x LogME over all")


if __name__ == "__main__":
    main()
