"""The FAISS index over embeddings and its files: candidates in the retrieval space, re-ranked exactly.

A d_asym query folds each model's term alpha * d_sym(m, t0) in with one extra
coordinate sqrt(C - s 2D alpha d_sym(m, t0)) (query coordinate 0), which adds
exactly that offset to the squared L2 distance (s from
:func:`zoo.index.space.calibrate_offset_scale`). The index over-fetches
candidates (:func:`default_candidates`) and re-ranks them with the exact
distance; :meth:`EmbeddingIndex.exact_search` is the brute-force twin used to
measure recall (benchmarks/bench_index.py).

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
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from registry.errors import InvalidInput, arg, publish
from zoo.index.space import calibrate_offset_scale, column_floors, d_sym_to, log_space

__all__ = [
    "COMPRESSED_THRESHOLD",
    "FACTORY_HINT",
    "HNSW_THRESHOLD",
    "EmbeddingIndex",
    "Hit",
    "default_candidates",
    "default_factory",
    "index_directory",
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
FORMAT_VERSION = 1
#: which factory fits which collection: the advice of every refused --factory
FACTORY_HINT = (
    "Flat (exact, any size; the default up to 20,000 vectors), HNSW32,Flat (any size) or IVFn,Flat and IVFn,SQ8 "
    "(at least n vectors; IVF4096,SQ8 is the default past 500,000)"
)


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

    An approximate index's recall at a fixed candidate count falls as the
    collection grows, and the exact re-rank is cheap next to the search, so the
    count grows with N (benchmarks/bench_index.py measures the recall; its
    tables are in docs/figures/recommend.md).
    """
    return max(MIN_CANDIDATES, 2 * math.isqrt(max(count, 0)))


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
        label = _label(meta)
        _check_trainable(factory, count, label)
        try:
            index = faiss.index_factory(dim + 1, factory, faiss.METRIC_L2)
        except RuntimeError as err:
            raise _refused(factory, count, label, err) from None
        hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
        if hnsw is not None:
            hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        # floors from a sample of rows: a median needs no more, and a million rows would not fit twice in memory
        order = np.random.default_rng(0).permutation(count)
        floors = column_floors(vectors[np.sort(order[:FLOOR_SAMPLE])]) if count else np.ones(dim)
        scale = calibrate_offset_scale(vectors, floors) if np.any(offsets) else 1.0
        constant = float(scale * 2.0 * dim * offsets.max()) if count else 0.0
        try:
            if not index.is_trained:
                index.train(
                    cls._augment(
                        vectors[np.sort(order[:TRAIN_SAMPLE])],
                        offsets[np.sort(order[:TRAIN_SAMPLE])],
                        floors,
                        scale,
                        constant,
                    )
                )
            chunk = 10_000
            with tqdm(total=count, desc="index", unit="vec", disable=not progress or count < 5 * chunk) as bar:
                for start in range(0, count, chunk):
                    rows = slice(start, start + chunk)
                    index.add(cls._augment(vectors[rows], offsets[rows], floors, scale, constant))
                    bar.update(min(chunk, count - start))
        except RuntimeError as err:  # faiss: too few points to train, a shape its codes cannot take...
            raise _refused(factory, count, label, err) from None
        cols = {k: np.asarray([str(v) for v in vals]) for k, vals in (columns or {}).items()}
        if any(len(v) != count for v in cols.values()):
            raise ValueError("every column needs one value per name")
        return cls(tuple(names), vectors, offsets, index, factory, floors, scale, dict(meta or {}), cols)

    @staticmethod
    def _augment(
        vectors: np.ndarray, offsets: np.ndarray, floors: np.ndarray, scale: float = 1.0, constant: float | None = None
    ) -> np.ndarray:
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
            ef_search = max(64, int(EF_SEARCH_FACTOR * count))
            faiss.ParameterSpace().set_index_parameter(self.faiss_index, "efSearch", ef_search)
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
            raise ValueError(
                f"query has shape {query.shape}, the index holds vectors of length {self.vectors.shape[1]}"
            )
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
        meta = {
            **self.meta,
            "factory": self.factory,
            "count": len(self),
            "dim": int(self.vectors.shape[1]),
            "format": FORMAT_VERSION,
        }
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
        sidecar = json.dumps(meta, indent=2, sort_keys=True).encode()
        _atomic_write(path.with_suffix(path.suffix + ".json"), lambda f: f.write(sidecar))
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
                return cls(
                    names,
                    data["vectors"].astype(np.float32),
                    data["offsets"].astype(np.float64),
                    index,
                    meta["factory"],
                    data["floors"].astype(np.float64),
                    float(data["offset_scale"]),
                    meta,
                    {k[len("column_") :]: data[k] for k in data.files if k.startswith("column_")},
                )
        except (OSError, KeyError, ValueError, RuntimeError, json.JSONDecodeError):
            return None

    @staticmethod
    def read_sidecar(path: str | Path) -> dict[str, Any] | None:
        """The JSON sidecar of the index at ``path`` (what it was built from), or None."""
        try:
            return json.loads(Path(str(path) + ".json").read_text())
        except (OSError, json.JSONDecodeError):
            return None


def _label(meta: dict[str, Any] | None) -> str:
    """What the index is called in an error: "the models index" (its ``built_from`` kind), else "the index"."""
    kind = ((meta or {}).get("built_from") or {}).get("kind")
    return f"the {kind} index" if kind else "the index"


def _check_trainable(factory: str, count: int, label: str) -> None:
    """Refuse an IVF factory with more lists than vectors before faiss tries (and fails) to train it."""
    lists = re.search(r"IVF(\d+)", factory)
    if lists and count < int(lists.group(1)):
        raise InvalidInput(
            f"IVF{lists.group(1)} needs at least {lists.group(1)} vectors to train; {label} has {count}: "
            f"use {arg('factory', 'Flat')} or HNSW32,Flat"
        )


def _refused(factory: str, count: int, label: str, err: RuntimeError) -> InvalidInput:
    """faiss' failure to build or train ``factory`` as one line: its reason, without the C++ location."""
    text = " ".join(str(err).split())
    reason = re.split(r"failed: |Error: ", text)[-1].strip() or type(err).__name__
    return InvalidInput(
        f"faiss cannot build {factory!r} for {label} ({count} vectors): {reason[:200]}; "
        f"use {arg('factory', 'Flat')} or HNSW32,Flat"
    )


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        publish(tmp, path)
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
    in_memory = database in (None, "", ":memory:") or database.startswith("file::memory")
    if parsed.get_backend_name() == "sqlite" and not in_memory:
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
