"""Filling a transfer matrix locally and on Ray: wall time, speed-up, Ray's per-unit overhead.

    python benchmarks/bench_scale.py                            # 4 experts x 6 tasks, 3 repeats
    python benchmarks/bench_scale.py --models 2 --tasks 3 --repeats 1   # a quick look
    python benchmarks/bench_scale.py --db postgresql+psycopg://USER@HOST/DB   # an empty PostgreSQL database

Prints a table and asserts nothing. The matrix is synthetic and self-contained
(no download): small random-init ResNets whose BatchNorm statistics were moved
off init, saved as ``file:`` weights with a JSON sidecar, and PNG tasks with
``train/`` and ``test/``. Three runners fill the same empty matrix, each
``--repeats`` times on a fresh registry (the median is reported):

  local    zoo.api.jobs.run_units in this process, torch on ``--threads`` threads
  ray x1   a Ray cluster of one node with one CPU: one unit at a time
  ray x2   a head and a worker node with one CPU each: two units at a time

Ray workers run torch on one thread (Ray sets OMP_NUM_THREADS=1 for a one-CPU
task), so ``--threads 1`` (the default) makes the local loop's units the same
work. Each cluster runs one warm-up job first (the workers import torch
once); its time is printed as the cold start and left out of the figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

ARCH_ARGS = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_width": 8}


def write_expert(path: Path, seed: int, size: int) -> None:
    """A seeded small ResNet with BatchNorm statistics set by a few batches (``size`` px inputs)."""
    import timm
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = timm.create_model("resnet18", num_classes=10, **ARCH_ARGS)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, size, size))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(
        json.dumps({"arch": "resnet18", "model_args": ARCH_ARGS, "input_size": [3, size, size], "crop_pct": 1.0})
    )


def write_task(folder: Path, seed: int, size: int, classes: int, train: int, test: int) -> None:
    """PNGs of ``classes`` stripe patterns plus noise: ``train`` and ``test`` images per class."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for c in range(classes):
            (folder / split / f"c{c}").mkdir(parents=True, exist_ok=True)
            for i in range(count):
                base = np.zeros((size, size, 3))
                base[:, : (c + 1 + seed % 3) * size // (classes + 3), (c + seed) % 3] = 200.0
                image = np.clip(base + rng.normal(0, 50, base.shape), 0, 255).astype(np.uint8)
                Image.fromarray(image).save(folder / split / f"c{c}" / f"{i}.png")


def make_template(root: Path, args: argparse.Namespace) -> Path:
    """A SQLite registry with the experts and tasks registered and no results; its path."""
    from registry.store import Store

    db = root / "template.db"
    with Store.open(f"sqlite:///{db}") as store:
        for i in range(args.models):
            weights = root / f"expert{i}.safetensors"
            write_expert(weights, i, args.size)
            store.add_model(f"expert{i}", f"file:{weights}", arch="resnet18")
        for j in range(args.tasks):
            folder = root / f"task{j}"
            write_task(folder, j, args.size, args.classes, args.train, args.test)
            store.add_task(
                f"task{j}",
                data_uri=str(folder),
                num_classes=args.classes,
                num_samples=args.classes * (args.train + args.test),
                fingerprint=f"task{j}",
            )
    return db


def fresh_registry(template: Path, root: Path, db: str | None, n: int) -> str:
    """A registry with the template's models and tasks and no results: a SQLite copy, or ``db`` emptied."""
    if db is None:
        target = root / f"run{n}.db"
        shutil.copy(template, target)
        return f"sqlite:///{target}"
    from registry.store import Store

    with Store.open(db) as store:
        for model in store.list_models():
            store.remove_model(model.name, force=True)
        for task in store.list_tasks():
            store.remove_task(task.name, force=True)
        with Store.open(f"sqlite:///{template}") as source:
            for model in source.list_models():
                store.add_model(model.name, model.source, arch=model.arch)
            for task in source.list_tasks():
                store.add_task(
                    task.name,
                    data_uri=task.data_uri,
                    num_classes=task.num_classes,
                    num_samples=task.num_samples,
                    fingerprint=task.fingerprint,
                )
    return db


def timed_fill(url: str, address: str | None) -> tuple[float, int]:
    """(seconds, units) of filling the matrix at ``url`` (a fresh plan, no progress bar)."""
    from registry.store import Store
    from zoo.api.jobs import plan_evaluate, run_units

    with Store.open(url) as store:
        units = plan_evaluate(store)
    summary = run_units(units, url, ray_address=address, progress=False)
    if summary["failed"]:
        raise SystemExit(f"{summary['failed']} units failed: {summary['errors'][0]}")
    return summary["seconds"], len(units)


def measure(
    label: str, address: str | None, args: argparse.Namespace, template: Path, root: Path, counter: list[int]
) -> dict:
    """The median wall time of ``args.repeats`` fills on fresh registries (after one warm-up fill)."""
    counter[0] += 1
    warm, _ = timed_fill(fresh_registry(template, root, args.db, counter[0]), address)
    times = []
    for _ in range(args.repeats):
        counter[0] += 1
        seconds, units = timed_fill(fresh_registry(template, root, args.db, counter[0]), address)
        times.append(seconds)
    row = {"runner": label, "units": units, "cold_s": warm, "median_s": statistics.median(times), "runs_s": times}
    print(
        f"{label:8s} units {units:3d}  cold {warm:7.2f} s  median {row['median_s']:7.2f} s  "
        f"runs {', '.join(f'{t:.2f}' for t in times)}",
        flush=True,
    )
    return row


def ray_cluster(nodes: int):
    """A local Ray cluster of ``nodes`` one-CPU nodes, this process its driver."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="warning", log_to_driver=False)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--train", type=int, default=10, help="train images per class")
    parser.add_argument("--test", type=int, default=40, help="test images per class")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the local loop")
    parser.add_argument("--db", default=None, help="an empty PostgreSQL database to use instead of SQLite files")
    args = parser.parse_args()

    import ray
    import torch

    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="zoo-bench-scale-"))
    counter = [0]
    try:
        template = make_template(root, args)
        rows = [measure("local", None, args, template, root, counter)]
        for nodes in (1, 2):
            cluster = ray_cluster(nodes)
            try:
                rows.append(measure(f"ray x{nodes}", cluster.address, args, template, root, counter))
            finally:
                ray.shutdown()
                cluster.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    local, one, two = (row["median_s"] for row in rows)
    units = rows[0]["units"]
    print(
        f"\nper unit: local {local / units:.3f} s; Ray overhead at 1 worker "
        f"{(one - local) / units * 1000:+.0f} ms/unit ({(one - local) / local:+.1%} of a unit); "
        f"speed-up 2 workers vs 1: {one / two:.2f}x, vs local: {local / two:.2f}x"
    )
    print(json.dumps({"args": vars(args), "rows": rows}, default=str))


if __name__ == "__main__":
    main()
