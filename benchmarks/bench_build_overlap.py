"""Transfer measured in a thread beside the embedding: how much do the two slow each other down?

``zoo bench build`` runs its transfer stage in a second thread while it embeds
the tasks. Threads share Python's lock, so this times a sample of both stages
alone and then together, on a built bench's workdir (its tasks and expert
weights), into a scratch registry. Prints figures; asserts nothing. Usage:

    .venv/bin/python benchmarks/bench_build_overlap.py --workdir .zoo-work/small [--pairs 20] [--embeddings 4]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, type=Path, help="A built bench's workdir (tasks/, experts/).")
    parser.add_argument("--size", default="small", help="The size it was built with.")
    parser.add_argument("--pairs", type=int, default=20, help="Transfer pairs per timing.")
    parser.add_argument("--embeddings", type=int, default=4, help="Variational embeddings per timing.")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    import zoo
    from zoo.bench.build import _transfer, select_tasks
    from zoo.bench.experts import plan_experts
    from zoo.bench.sizes import get_size
    from zoo.collections.tasks import read_task

    size, work = get_size(args.size), args.workdir
    with tempfile.TemporaryDirectory() as scratch:
        z = zoo.connect(f"sqlite:///{scratch}/overlap.db")
        registry = z.bench._bench_registry(size)
        chosen = select_tasks(size, 0)
        plan = plan_experts([read_task(work / "tasks" / s.name) for s in chosen["expert"]], size)
        tasks = [s.name for s in chosen["expert"] + chosen["heldout"]]
        for task in tasks:
            registry.ensure_task(work / "tasks" / task)
        for spec in plan:
            registry.ensure_model(spec, work / "experts" / (spec.name + ".safetensors"))
        pairs = [(spec, task) for spec in plan for task in tasks][: 2 * args.pairs]
        names = tasks[: 2 * args.embeddings]

        def transfer(chunk) -> float:
            start = time.time()
            _transfer(chunk, work / "tasks", work / "experts", registry, progress=False)
            return time.time() - start

        def embed(chunk) -> float:
            start = time.time()
            for name in chunk:
                z.embed_task(
                    str(work / "tasks" / name),
                    name=name,
                    probe="bundled",
                    method="variational",
                    max_samples=size.embed_max_samples,
                    seed=0,
                    progress=False,
                )
            return time.time() - start

        alone_t, alone_e = transfer(pairs[: args.pairs]), embed(names[: args.embeddings])
        timed: dict[str, float] = {}
        thread = threading.Thread(target=lambda: timed.__setitem__("t", transfer(pairs[args.pairs :])))
        start = time.time()
        thread.start()
        together_e = embed(names[args.embeddings :])
        thread.join()
        wall = time.time() - start
        z.close()
    print("| stage | alone s | beside the other s | slowdown |")
    print("|---|---|---|---|")
    print(f"| transfer ({args.pairs} pairs) | {alone_t:.1f} | {timed['t']:.1f} | {timed['t'] / alone_t:.2f}x |")
    print(
        f"| embedding ({args.embeddings} variational) | {alone_e:.1f} | {together_e:.1f} | "
        f"{together_e / alone_e:.2f}x |"
    )
    print(f"wall together {wall:.1f} s against {alone_t + alone_e:.1f} s one after the other")


if __name__ == "__main__":
    main()
