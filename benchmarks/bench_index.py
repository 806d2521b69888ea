"""Index speed and recall@10 against an exact scan, on synthetic model embeddings.

Prints a Markdown table; asserts nothing about time. Usage:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_index.py [--sizes 10,1000,100000] [--dim 512]

Model embeddings are Task2Vec-like positive vectors (clustered log-normal,
per-vector scale spread, 1% exact zeros); d_asym offsets use alpha = 0.15 and
a constant t0. "near" queries come from the same clusters as the zoo (a new
task resembling known ones), "far" queries from unseen clusters.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def embeddings(count: int, dim: int, seed: int, centres_seed: int = 12345) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(centres_seed).normal(size=(64, dim))
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 50_000):
        n = min(50_000, count - start)
        x = np.exp(centres[rng.integers(0, 64, size=n)] + rng.normal(scale=0.6, size=(n, dim)))
        x *= np.exp(rng.normal(scale=0.3, size=(n, 1)))
        x[rng.random(x.shape) < 0.01] = 0.0
        out[start : start + n] = x
    return out


def main() -> None:
    from zoo.embedding.distance import d_sym_matrix
    from zoo.index import EmbeddingIndex, recall_at_k

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,100000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--factory", default=None, help="force one faiss factory string")
    args = parser.parse_args()
    t0 = np.full(args.dim, 0.05)
    print(
        "| models | factory | build s | query ms (median) | exact scan ms | recall@10 near | recall@10 far "
        "| far: top-10 distance excess |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in [int(s) for s in args.sizes.split(",")]:
        vectors = embeddings(size, args.dim, seed=size)
        offsets = 0.15 * d_sym_matrix(vectors, t0[None, :])[:, 0]
        start = time.perf_counter()
        index = EmbeddingIndex.build(
            [f"m{i}" for i in range(size)], vectors, offsets=offsets, factory=args.factory, progress=True
        )
        build = time.perf_counter() - start
        near = embeddings(args.queries, args.dim, seed=10**9 + 1)
        far = embeddings(args.queries, args.dim, seed=10**9 + 2, centres_seed=777)
        times, exact_times, recalls, excess = [], [], {"near": [], "far": []}, []
        for label, queries in (("near", near), ("far", far)):
            for q in queries:
                start = time.perf_counter()
                hits = index.search(q, 10)
                times.append(time.perf_counter() - start)
                start = time.perf_counter()
                exact = index.exact_search(q, 10)
                exact_times.append(time.perf_counter() - start)
                recalls[label].append(recall_at_k(hits, exact))
                if label == "far":  # how much worse the approximate top-10 is, in exact distance
                    got, best = np.mean([h.distance for h in hits]), np.mean([h.distance for h in exact])
                    excess.append((got - best) / abs(best))
        print(
            f"| {size:,} | {index.factory} | {build:.2f} | {1000 * np.median(times):.2f} | "
            f"{1000 * np.median(exact_times):.1f} | {np.mean(recalls['near']):.3f} | {np.mean(recalls['far']):.3f} | "
            f"{100 * np.mean(excess):.3f}% |",
            flush=True,
        )


if __name__ == "__main__":
    main()
