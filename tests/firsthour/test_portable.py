"""Nothing shipped names a path of the machine it was built on."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: build folders of a machine (besides the checkout itself): /work/..., /tmp/..., root's home
BUILD_PATH = re.compile(r"(?<![\w.~])/(?:work|tmp|root)/[\w.-]")


def shipped_files() -> list[Path]:
    files = [
        p
        for folder in ("zoo", "docs")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    ]
    return files + [ROOT / "README.md"]


def text_of(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def test_no_shipped_file_names_a_build_path():
    checkout = str(ROOT)
    found = []
    for path in shipped_files():
        text = text_of(path)
        if checkout in text:
            found.append(f"{path.relative_to(ROOT)}: {checkout}")
        match = BUILD_PATH.search(text)
        if match:
            found.append(f"{path.relative_to(ROOT)}: {text[max(0, match.start() - 30) : match.end() + 30]!r}")
    assert not found, "\n".join(found)


def test_the_shipped_zoo_names_its_experts_and_tasks_under_the_bench_root():
    import json

    from zoo.demo import SHIPPED_ZOO

    lines = [json.loads(line) for line in text_of(SHIPPED_ZOO).splitlines()[1:]]
    models = [line for line in lines if line["kind"] == "model"]
    tasks = [line for line in lines if line["kind"] == "task"]
    assert len(models) == 48 and len(tasks) == 279
    assert all(m["source"] == f"bench:experts/{m['name']}.safetensors" for m in models)
    assert all(t["data_uri"] == f"bench:tasks/{t['name']}" for t in tasks)


def test_bench_uris_resolve_under_zoo_bench_root(tmp_path, monkeypatch):
    from registry.locations import bench_uri
    from zoo.data import local_path
    from zoo.networks import local_weights

    monkeypatch.setenv("ZOO_BENCH_ROOT", str(tmp_path))
    assert local_weights("bench:experts/a.safetensors") == tmp_path / "experts" / "a.safetensors"
    assert local_path("bench:tasks/t") == tmp_path / "tasks" / "t"
    assert bench_uri(tmp_path / "tasks" / "t", tmp_path) == "bench:tasks/t"
    assert bench_uri("/elsewhere/t", tmp_path) is None


def test_a_missing_bench_file_names_the_rebuild_command(tmp_path, monkeypatch):
    import pytest

    from registry.errors import InvalidInput
    from zoo.networks import load_network

    monkeypatch.setenv("ZOO_BENCH_ROOT", str(tmp_path))
    with pytest.raises(InvalidInput, match="zoo bench rebuild-experts"):
        load_network("bench:experts/expert-generalist-resnet10t.safetensors")
