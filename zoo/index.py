"""A FAISS index over model (or task) embeddings, re-ranked exactly by d_sym / d_asym.

d_sym (METHOD.md section 5) is not a vector metric FAISS computes: the
element-wise normalisation a / (a + b) couples the two vectors. It depends only
on the per-filter log ratios delta = log a - log b, and to second order around
delta = const it is

    d_sym(a, b) ~= ||c(log a) - c(log b)||^2 / (2 D),    c(x) = x - mean(x)

(expand r = sigmoid(delta) in cos(r, 1 - r)). So candidates are retrieved with
an L2 index over centred log vectors (each filter floored at ``LOG_FLOOR`` x
its median, so zeros stay finite and cannot dominate, as d_sym saturates),
and d_asym's per-model term alpha * d_sym(m, t0) is folded in with one extra
coordinate sqrt(C - s 2D alpha d_sym(m, t0)) (query coordinate 0), which adds
exactly that offset to the squared L2 distance; s is measured on the
collection (:func:`calibrate_offset_scale`), since real neighbours sit past
the second-order regime. The index over-fetches candidates (512 by default)
and re-ranks them with the exact d_sym (:func:`d_sym_to`, the same arithmetic as
:func:`zoo.embedding.distance.d_sym_matrix`, which the tests check; the index
imports no sibling part);
:meth:`EmbeddingIndex.exact_search` is the brute-force twin used to measure
recall (benchmarks/bench_index.py).

Small collections use an exact flat index; past ``HNSW_THRESHOLD`` vectors a
faiss factory string (``"HNSW32,Flat"``) builds an approximate graph index, and
past ``COMPRESSED_THRESHOLD`` a compressed IVF index with 8-bit codes.
An index is saved as one ``.npz`` file (faiss bytes, names, original vectors,
offsets, metadata) written to a temporary file and renamed, plus a JSON
sidecar describing what it was built from, so a crash never leaves a broken
index and a stale one is detected by comparing the sidecar with the registry.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "HNSW_THRESHOLD",
    "EmbeddingIndex",
    "Hit",
    "calibrate_offset_scale",
    "default_candidates",
    "default_factory",
    "index_directory",
    "column_floors",
    "log_space",
    "recall_at_k",
]

HNSW_THRESHOLD = 20_000
COMPRESSED_THRESHOLD = 500_000
MIN_CANDIDATES = 512
#: graph quality of HNSW builds (faiss' default of 40 loses recall on clustered embeddings).
HNSW_EF_CONSTRUCTION = 128
#: HNSW efSearch as a multiple of the number of candidates fetched.
EF_SEARCH_FACTOR = 1.0  # measured: recall is set by the candidate count, not by efSearch beyond it
#: IVF lists scanned per query.
IVF_NPROBE = 64
FLOOR_SAMPLE = 20_000  # rows used to estimate per-filter floors
TRAIN_SAMPLE = 200_000  # rows used to train IVF/PQ indexes (faiss asks for 39 per centroid)
#: values below this fraction of a filter's median (rows scaled to mean 1) are clipped before the log.
LOG_FLOOR = 0.2
_TINY = 1e-30  # filters where both vectors sum below this are left out of d_sym
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Hit:
    """One search result: the name and its exact distance (d_sym, or d_asym for model indexes)."""

    name: str
    distance: float
    row: int


def default_factory(count: int) -> str:
    """The faiss factory string for ``count`` vectors: exact, then HNSW, then compressed IVF (8-bit codes)."""
    if count <= HNSW_THRESHOLD:
        return "Flat"
    return "HNSW32,Flat" if count <= COMPRESSED_THRESHOLD else "IVF4096,SQ8"


def default_candidates(count: int) -> int:
    """How many candidates to re-rank exactly: 512, growing as 2 sqrt(N) past 65,536 vectors.

    Measured (benchmarks/bench_index.py, clustered 512-filter embeddings):
    recall@10 0.99 at 100,000 with 512; at 1,000,000, 0.94 with 512, 0.99
    with 1,024, 1.0 with 2,048. The re-rank stays a few milliseconds.
    """
    return max(MIN_CANDIDATES, 2 * math.isqrt(max(count, 0)))


def column_floors(vectors: np.ndarray) -> np.ndarray:
    """Per-filter floors ``[D]`` for :func:`log_space`: ``LOG_FLOOR`` times the column's median positive value.

    Rows are first divided by their mean (d_sym's retrieval space is centred
    per row anyway). A floor keeps zeros finite and caps how far one filter
    can pull the squared distance, which d_sym itself saturates (a filter
    where one vector is 0 contributes at most what a huge ratio does).
    """
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    x = x / np.maximum(x.mean(axis=1, keepdims=True), 1e-300)
    masked = np.where(x > 0, x, np.nan)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-zero filter: handled just below
        median = np.nanmedian(masked, axis=0) if x.shape[0] else np.ones(x.shape[1])
    median = np.where(np.isfinite(median), median, 1.0)
    return (LOG_FLOOR * median).astype(np.float64)


def log_space(vectors: np.ndarray, floors: np.ndarray | None = None) -> np.ndarray:
    """Centred log of non-negative rows ``[N, D]`` -> float32 ``[N, D]`` (the retrieval space).

    Each row is divided by its mean and floored per filter at ``floors`` ``[D]``
    (default :func:`column_floors` of the rows themselves) before the log.
    """
    x = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    if np.any(x < 0) or not np.all(np.isfinite(x)):
        raise ValueError("embeddings must be finite and non-negative")
    floors = column_floors(x) if floors is None else np.asarray(floors, dtype=np.float64)
    x = x / np.maximum(x.mean(axis=1, keepdims=True), 1e-300)
    logs = np.log(np.maximum(x, floors[None, :]))
    return (logs - logs.mean(axis=1, keepdims=True)).astype(np.float32)


def calibrate_offset_scale(vectors: np.ndarray, floors: np.ndarray, *, sample: int = 32, pool: int = 4000,
                           neighbours: int = 32, seed: int = 0) -> float:
    """s such that squared log-space distance ~= s * 2 D * d_sym among near neighbours.

    The second-order expansion gives s = 1 at small distances; real
    neighbours sit further out, where d_sym grows more slowly than the squared
    log distance. Folding d_asym's offset in with the wrong scale would weigh
    it wrongly against d_sym, so s is measured: the median ratio over each
    sampled row's ``neighbours`` nearest rows (by log distance) in a random pool.
    """
    x = np.asarray(vectors)
    n, dim = x.shape
    if n < 3:
        return 1.0
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(sample, n), replace=False)
    candidates = rng.choice(n, size=min(pool, n), replace=False)
    a, b = log_space(x[rows], floors).astype(np.float64), log_space(x[candidates], floors).astype(np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    ratios = []
    for i, row in enumerate(rows):
        order = [j for j in np.argsort(squared[i]) if candidates[j] != row][:neighbours]
        d = d_sym_to(x[row], x[candidates[order]])
        ok = d > 1e-12
        ratios.extend(squared[i, order][ok] / (2 * dim * d[ok]))
    return float(np.median(ratios)) if ratios else 1.0


def d_sym_to(query: np.ndarray, rows: np.ndarray, *, block: int = 128) -> np.ndarray:
    """Exact d_sym of each row ``[n, D]`` to ``query`` ``[D]`` -> ``[n]`` float64, in [0, 1].

    u = r / (r + q), v = q / (r + q) element-wise (filters where both are 0 left
    out), d_sym = 1 - cos(u, v); 0 for identical vectors, 1 for disjoint
    supports. The same arithmetic as :func:`zoo.embedding.distance.d_sym_matrix`
    (tests/index checks they agree exactly), in blocks of ``block`` rows so the
    temporaries stay in cache.
    """
    q = np.asarray(query, dtype=np.float64)[None, :]
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    out = np.empty(rows.shape[0], dtype=np.float64)
    for start in range(0, rows.shape[0], block):
        r = rows[start:start + block]
        total = r + q
        live = total > _TINY
        safe = np.where(live, total, 1.0)
        u = np.where(live, r / safe, 0.0)
        v = np.where(live, q / safe, 0.0)
        dot = (u * v).sum(-1)
        norm = np.sqrt((u * u).sum(-1) * (v * v).sum(-1))
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = 1.0 - dot / norm
        same = np.all(r == q, axis=-1)
        out[start:start + block] = np.clip(np.where(norm > 0, dist, np.where(same, 0.0, 1.0)), 0.0, 1.0)
    return out


@dataclass
class EmbeddingIndex:
    """Names, original vectors ``[N, D]``, per-row offsets ``[N]`` and a faiss index over them.

    The exact distance of row i to a query t is ``d_sym(v_i, t) - offsets[i]``;
    for a model index offsets[i] = alpha * d_sym(m_i, t0), which makes it
    d_asym(m_i -> t); for a task index the offsets are zero.
    """

    names: tuple[str, ...]
    vectors: np.ndarray
    offsets: np.ndarray
    faiss_index: Any
    factory: str
    floors: np.ndarray
    offset_scale: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # per-row strings saved with the index

    @classmethod
    def build(
        cls,
        names: Sequence[str],
        vectors: np.ndarray,
        *,
        offsets: np.ndarray | None = None,
        factory: str | None = None,
        meta: dict[str, Any] | None = None,
        columns: dict[str, Sequence[str]] | None = None,
        progress: bool = True,
    ) -> EmbeddingIndex:
        """Index ``vectors`` ``[N, D]`` (non-negative) under ``names``; ``offsets`` ``[N]`` default 0.

        ``columns``: extra per-row strings (e.g. each model's source) kept with
        the index so a query needs no registry look-up for them.
        """
        import faiss
        from tqdm.auto import tqdm

        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if vectors.ndim != 2 or vectors.shape[0] != len(names):
            raise ValueError(f"need one vector per name: {len(names)} names, vectors {vectors.shape}")
        count, dim = vectors.shape
        offsets = np.zeros(count) if offsets is None else np.asarray(offsets, dtype=np.float64)
        factory = factory or default_factory(count)
        index = faiss.index_factory(dim + 1, factory, faiss.METRIC_L2)
        hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
        if hnsw is not None:
            hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        # floors from a sample of rows: a median needs no more, and a million rows would not fit twice in memory
        order = np.random.default_rng(0).permutation(count)
        floors = column_floors(vectors[np.sort(order[:FLOOR_SAMPLE])]) if count else np.ones(dim)
        scale = calibrate_offset_scale(vectors, floors) if np.any(offsets) else 1.0
        constant = float(scale * 2.0 * dim * offsets.max()) if count else 0.0
        if not index.is_trained:
            index.train(cls._augment(vectors[np.sort(order[:TRAIN_SAMPLE])], offsets[np.sort(order[:TRAIN_SAMPLE])],
                                     floors, scale, constant))
        chunk = 10_000
        with tqdm(total=count, desc="index", unit="vec", disable=not progress or count < 5 * chunk) as bar:
            for start in range(0, count, chunk):
                rows = slice(start, start + chunk)
                index.add(cls._augment(vectors[rows], offsets[rows], floors, scale, constant))
                bar.update(min(chunk, count - start))
        cols = {k: np.asarray([str(v) for v in vals]) for k, vals in (columns or {}).items()}
        if any(len(v) != count for v in cols.values()):
            raise ValueError("every column needs one value per name")
        return cls(tuple(names), vectors, offsets, index, factory, floors, scale, dict(meta or {}), cols)

    @staticmethod
    def _augment(vectors: np.ndarray, offsets: np.ndarray, floors: np.ndarray, scale: float = 1.0,
                 constant: float | None = None) -> np.ndarray:
        """[N, D+1]: centred logs plus sqrt(C - s 2D offset): squared L2 gains C - s 2D offset.

        C (``constant``, default the largest s 2D offset of these rows) must be
        the same for every row of one index.
        """
        logs = log_space(vectors, floors) if vectors.shape[0] else np.zeros((0, vectors.shape[1]), np.float32)
        extra = scale * 2.0 * vectors.shape[1] * offsets
        if constant is None:
            constant = float(extra.max()) if extra.size else 0.0
        column = np.sqrt(np.maximum(constant - extra, 0.0))
        return np.ascontiguousarray(np.hstack([logs, column[:, None].astype(np.float32)]))

    def __len__(self) -> int:
        return len(self.names)

    def candidates(self, query: np.ndarray, count: int) -> np.ndarray:
        """Row numbers of the ``count`` nearest rows in the retrieval space (approximate order)."""
        import faiss

        count = min(count, len(self))
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        q = np.hstack([log_space(query, self.floors), np.zeros((1, 1), np.float32)])
        if "HNSW" in self.factory:
            faiss.ParameterSpace().set_index_parameter(self.faiss_index, "efSearch", max(64, int(EF_SEARCH_FACTOR * count)))
        elif "IVF" in self.factory:
            faiss.ParameterSpace().set_index_parameter(self.faiss_index, "nprobe", IVF_NPROBE)
        _, rows = self.faiss_index.search(q, count)
        return rows[0][rows[0] >= 0]

    def search(self, query: np.ndarray, k: int, *, over_fetch: int = 4, min_candidates: int | None = None) -> list[Hit]:
        """The ``k`` nearest rows to ``query`` ``[D]`` by exact distance, among over-fetched candidates.

        ``min_candidates`` defaults to :func:`default_candidates` of the index size.
        """
        if min_candidates is None:
            min_candidates = default_candidates(len(self))
        query = np.asarray(query, dtype=np.float64)
        if query.shape != (self.vectors.shape[1],):
            raise ValueError(f"query has shape {query.shape}, the index holds vectors of length {self.vectors.shape[1]}")
        rows = self.candidates(query, max(k * over_fetch, min_candidates))
        return self._rank(query, rows, k)

    def exact_search(self, query: np.ndarray, k: int) -> list[Hit]:
        """The slow twin of :meth:`search`: exact distance to every row, no faiss."""
        return self._rank(np.asarray(query, dtype=np.float64), np.arange(len(self)), k)

    def _rank(self, query: np.ndarray, rows: np.ndarray, k: int) -> list[Hit]:
        if rows.size == 0:
            return []
        exact = d_sym_to(query, self.vectors[rows]) - self.offsets[rows]
        order = np.lexsort((rows, exact))[:k]  # ties broken by row for determinism
        return [Hit(self.names[rows[i]], float(exact[i]), int(rows[i])) for i in order]

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write to ``path`` (``.npz``) atomically, then the sidecar ``path.json``."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {**self.meta, "factory": self.factory, "count": len(self), "dim": int(self.vectors.shape[1]),
                "format": FORMAT_VERSION}
        payload = {
            "faiss": faiss.serialize_index(self.faiss_index),
            "names": np.array(self.names, dtype=object).astype(str),
            "vectors": self.vectors,
            "offsets": self.offsets,
            "floors": self.floors,
            "offset_scale": np.array(self.offset_scale),
            **{f"column_{k}": v.astype(str) for k, v in self.columns.items()},
            "meta": np.array(json.dumps(meta, sort_keys=True)),
        }
        _atomic_write(path, lambda f: np.savez(f, **payload))
        _atomic_write(path.with_suffix(path.suffix + ".json"), lambda f: f.write(json.dumps(meta, indent=2, sort_keys=True).encode()))
        self.meta = meta
        return path

    @classmethod
    def load(cls, path: str | Path) -> EmbeddingIndex | None:
        """The index at ``path``, or None when it is missing or unreadable (then rebuild it)."""
        import faiss

        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                index = faiss.deserialize_index(np.ascontiguousarray(data["faiss"]))
                names = tuple(str(n) for n in data["names"])
                return cls(names, data["vectors"].astype(np.float32), data["offsets"].astype(np.float64), index,
                           meta["factory"], data["floors"].astype(np.float64),
                           float(data["offset_scale"]), meta,
                           {k[len("column_"):]: data[k] for k in data.files if k.startswith("column_")})
        except (OSError, KeyError, ValueError, RuntimeError, json.JSONDecodeError):
            return None

    @staticmethod
    def read_sidecar(path: str | Path) -> dict[str, Any] | None:
        """The JSON sidecar of the index at ``path`` (what it was built from), or None."""
        try:
            return json.loads(Path(str(path) + ".json").read_text())
        except (OSError, json.JSONDecodeError):
            return None


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def index_directory(url: str) -> Path:
    """Where the indexes of the registry at ``url`` live.

    A SQLite file ``DIR/NAME.db`` keeps them beside it in ``DIR/NAME.db.index/``;
    any other URL (PostgreSQL, in-memory SQLite) uses the user cache directory,
    ``<cache>/zoo/index/<sha256(url)[:16]>/``.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file::memory"):
        db_path = Path(database).expanduser().resolve()
        return db_path.parent / (db_path.name + ".index")
    import platformdirs

    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("zoo")) / "index" / digest


def recall_at_k(approximate: Sequence[Hit], exact: Sequence[Hit]) -> float:
    """|approx top-k ∩ exact top-k| / k for two result lists of one query."""
    if not exact:
        return 1.0
    return len({h.row for h in approximate} & {h.row for h in exact}) / len(exact)
