"""The demo: the shipped zoo, a held-out task shipped as images, one recommendation.

``zoo demo`` imports ``zoo/assets/zoo.jsonl.gz`` (the exported ``full`` bench
zoo: models without weights, task embeddings, transfer results, the Model2Vec
run) into a fresh registry of its own, so the user's registry is never
touched, then recommends experts for ``zoo/assets/demo/<task>/`` with the
bundled probe: one probe pass over a few hundred small images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from registry.errors import InvalidInput, make_dirs

ASSETS = Path(__file__).resolve().parent / "assets"
SHIPPED_ZOO = ASSETS / "zoo.jsonl.gz"
DEMO_TASKS = ASSETS / "demo"


@dataclass(frozen=True)
class DemoSetup:
    """Where the demo's registry lives and which task it recommends for."""

    db_url: str
    task_dir: Path
    task_name: str
    taxonomy: str | None
    imported: dict[str, int]


def demo_task() -> tuple[Path, dict]:
    """The shipped held-out task folder and its ``task.json``."""
    folders = sorted(p for p in DEMO_TASKS.glob("*") if (p / "task.json").is_file()) if DEMO_TASKS.is_dir() else []
    if not folders:
        raise InvalidInput(f"no demo task in {DEMO_TASKS}; reinstall zoo from a full checkout")
    folder = folders[0]
    return folder, json.loads((folder / "task.json").read_text())


def prepare(workdir: Path) -> DemoSetup:
    """Create (or reuse) ``workdir/zoo.db`` holding the shipped zoo; return what to recommend for.

    Idempotent: a registry that already holds this shipped zoo (same file
    digest) is reused, so a second ``zoo demo`` costs one probe pass only. A
    registry made from another shipped zoo (an upgrade of zoo) belongs to the
    demo alone, so it is deleted and imported again.
    """
    import hashlib
    import shutil

    from registry.store import Store

    if not SHIPPED_ZOO.is_file():
        raise InvalidInput(
            f"the shipped zoo {SHIPPED_ZOO} is missing; build one with `zoo bench build --size full` "
            "and `zoo export`, or reinstall zoo from a full checkout"
        )
    task_dir, meta = demo_task()
    make_dirs(workdir)
    db_path = workdir / "zoo.db"
    url = f"sqlite:///{db_path}"
    marker = workdir / "imported.json"
    digest = hashlib.sha256(SHIPPED_ZOO.read_bytes()).hexdigest()
    previous = json.loads(marker.read_text()) if marker.is_file() else None
    if previous is not None and previous.get("sha256") == digest:
        imported = previous["counts"]
    else:
        marker.unlink(missing_ok=True)
        for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            stale.unlink(missing_ok=True)
        shutil.rmtree(Path(f"{db_path}.index"), ignore_errors=True)
        with Store.open(url, create=True) as store:
            imported = store.import_jsonl(SHIPPED_ZOO)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"sha256": digest, "counts": imported}))
        tmp.replace(marker)
    return DemoSetup(
        db_url=url,
        task_dir=task_dir,
        task_name=meta.get("name", task_dir.name),
        taxonomy=meta.get("taxonomy"),
        imported=imported,
    )
