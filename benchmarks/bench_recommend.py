"""End-to-end ``Zoo.recommend`` time for a registered task against synthetic zoos of growing size.

Prints a Markdown table; asserts nothing about time. Usage:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_recommend.py [--sizes 10,1000,100000] [--dim 512]

Each zoo is a fresh SQLite registry filled by one bulk JSONL import: ``--tasks``
tasks with positive embeddings, N models each trained on one of them, a
Model2Vec run with learned vectors for the first 10 models (the rest are cold
starts with b_i = 0) and transfer results for those 10. The first query
builds and saves the index (reported separately); the table's query time is
the median over ``--queries`` registered tasks of the full ``recommend`` call
(run and revision checks, index search and exact re-rank, evidence look-ups).

With ``--folder DIR`` (and ``--db URL`` of a filled registry, e.g. after
``zoo bench build``) it instead times recommending for a new folder of images
(one probe pass) beside LogME over every expert in the zoo (one forward pass
per expert), the cost comparison:

    .venv/bin/python benchmarks/bench_recommend.py --folder ./images --db sqlite:///zoo.db
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

PROBE, METHOD = "benchprobe@000000000000", "montecarlo"


def write_zoo(path: Path, header: dict, models: int, tasks: int, dim: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(16, dim))
    vectors = np.exp(centres[rng.integers(0, 16, size=tasks)] + rng.normal(scale=0.6, size=(tasks, dim)))
    stamp = "2026-01-01T00:00:00+00:00"
    with open(path, "w") as f:

        def put(obj):
            f.write(json.dumps(obj) + "\n")

        put(header)
        put(
            {
                "kind": "probe",
                "name": PROBE,
                "arch": "bench",
                "weights_checksum": "0" * 64,
                "embedding_length": dim,
                "layers": ["all"],
                "created_at": stamp,
            }
        )
        for i in range(tasks):
            put(
                {
                    "kind": "task",
                    "name": f"task{i:05d}",
                    "data_uri": f"file:///bench/{i}",
                    "num_classes": 10,
                    "num_samples": 100,
                    "fingerprint": f"fp{i}",
                    "taxonomy": None,
                    "created_at": stamp,
                }
            )
        for j in range(models):
            put(
                {
                    "kind": "model",
                    "name": f"model{j:07d}",
                    "source": f"timm:resnet18.bench{j}",
                    "arch": "resnet18",
                    "num_params": None,
                    "checksum": None,
                    "trained_on": f"task{j % tasks:05d}",
                    "description": None,
                    "created_at": stamp,
                    "tags": {},
                    "aliases": [],
                }
            )
        for i in range(tasks):
            put(
                {
                    "kind": "task_embedding",
                    "task": f"task{i:05d}",
                    "probe": PROBE,
                    "method": METHOD,
                    "vector": vectors[i].round(5).tolist(),
                    "prior": [0.05] * dim,
                    "sample_count": 100,
                    "seed": 0,
                    "params": {},
                    "package_version": "bench",
                    "created_at": stamp,
                }
            )
        trained = min(10, models)
        for j in range(trained):
            for i in range(tasks):
                put(
                    {
                        "kind": "transfer_result",
                        "model": f"model{j:07d}",
                        "task": f"task{i:05d}",
                        "metric": "error",
                        "value": float(rng.uniform(0.1, 0.5)),
                        "protocol": "bench",
                        "protocol_params": {},
                        "train_size": 10,
                        "test_size": 10,
                        "created_at": stamp,
                    }
                )
        bias = np.exp(rng.normal(scale=0.3, size=(trained, dim)))
        put(
            {
                "kind": "model2vec_run",
                "probe": PROBE,
                "method": METHOD,
                "hyperparams": {"alpha": 0.15, "error_map": [0.2, 1.0], "metric": "error"},
                "metrics": {"val_tasks": [], "train_tasks": []},
                "created_at": stamp,
                "embeddings": [
                    {
                        "model": f"model{j:07d}",
                        "bias": (vectors[j % tasks] * (bias[j] - 1)).round(5).tolist(),
                        "vector": (vectors[j % tasks] * bias[j]).round(5).tolist(),
                        "trained": True,
                    }
                    for j in range(trained)
                ],
            }
        )


def main() -> None:
    from registry.store import Store
    from zoo.api import Zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,100000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--folder", help="time a new folder against the registry --db instead")
    parser.add_argument("--db", help="registry URL for --folder")
    args = parser.parse_args()
    if args.folder:
        folder_versus_logme(args.folder, args.db)
        return
    print("| models | import s | first query (index build) s | recommend ms (median) | p90 ms |")
    print("|---|---|---|---|---|")
    base = None
    for size in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/zoo.db"
            store = Store.open(url)
            export = Path(tmp) / "header.jsonl"
            store.export_jsonl(export)
            header = json.loads(export.read_text().splitlines()[0])
            dump = Path(tmp) / "zoo.jsonl"
            write_zoo(dump, header, size, args.tasks, args.dim)
            start = time.perf_counter()
            store.import_jsonl(dump)
            imported = time.perf_counter() - start
            zoo = Zoo(store)
            start = time.perf_counter()
            zoo.recommend("task00000", k=5, probe=PROBE, method=METHOD, progress=False)
            first = time.perf_counter() - start
            times = []
            for i in range(args.queries):
                start = time.perf_counter()
                zoo.recommend(f"task{(i * 7) % args.tasks:05d}", k=5, probe=PROBE, method=METHOD, progress=False)
                times.append(time.perf_counter() - start)
            median = 1000 * float(np.median(times))
            base = base or median
            print(
                f"| {size:,} | {imported:.1f} | {first:.2f} | {median:.1f} ({median / base:.2f}x) | "
                f"{1000 * float(np.percentile(times, 90)):.1f} |",
                flush=True,
            )
            zoo.close()


def folder_versus_logme(folder: str, url: str | None) -> None:
    """Seconds for ``recommend(folder)`` (one probe pass) and for LogME over every expert."""
    import zoo
    from zoo.data import load_labelled
    from zoo.networks import extract_features, load_network
    from zoo.scorers import logme

    z = zoo.connect(url)
    images = load_labelled(folder)
    start = time.perf_counter()
    recs = z.recommend(folder, k=5, progress=False)
    ours = time.perf_counter() - start
    models = z.store.list_models()
    start = time.perf_counter()
    for model in models:
        network = load_network(model.source, arch=model.arch)
        logme(extract_features(network, images, progress=False), images.labels)
    theirs = time.perf_counter() - start
    print("| images | models | recommend (one probe pass) s | LogME over every expert s | ratio |")
    print("|---|---|---|---|---|")
    print(f"| {len(images)} | {len(models)} | {ours:.1f} | {theirs:.1f} | {theirs / ours:.1f}x |")
    print("top pick:", recs[0].model if recs else None)


if __name__ == "__main__":
    main()
