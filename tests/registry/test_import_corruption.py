"""Property: a corrupted export never half-imports, never breaks later reads, never prints a traceback.

Random corruptions of a small real export (truncate at a byte, flip bytes,
drop or repeat a line, change a vector's length) go through `zoo import`. The
import either refuses (non-zero exit, one line, registry unchanged) or succeeds
with exactly the original rows; either way `recommend`-style reads still work.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.store import Store

D = 6


def _fill(store: Store) -> None:
    rng = np.random.default_rng(0)
    store.ensure_probe("p", arch="resnet18", weights_checksum="ab" * 32, embedding_length=D, layers=["l4"])
    for t in ("t1", "t2", "t3"):
        store.add_task(t, data_uri=f"/data/{t}", num_classes=2, num_samples=10, fingerprint=t)
        store.put_task_embedding(
            t,
            "p",
            "variational",
            rng.random(D),
            prior=rng.random(D),
            sample_count=10,
            seed=0,
            params={"beta": 0.1},
            package_version="0",
        )
    for m in ("m1", "m2"):
        store.add_model(m, "timm:resnet18", tags={"k": m}, num_params=10)
        for t in ("t1", "t2"):
            store.add_transfer_result(
                m,
                t,
                metric="error",
                value=float(rng.random()),
                protocol="linear",
                protocol_params={},
                train_size=5,
                test_size=5,
            )
    store.add_model2vec_run(
        "p",
        "variational",
        hyperparams={"lr": 0.1},
        metrics={},
        embeddings={m: (rng.random(D), rng.random(D)) for m in ("m1", "m2")},
    )


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[bytes, dict[str, int]]:
    folder = tmp_path_factory.mktemp("export")
    with Store.open(f"sqlite:///{folder / 'src.db'}") as source:
        _fill(source)
        source.export_jsonl(folder / "export.jsonl")
        counts = source.counts()
    return (folder / "export.jsonl").read_bytes(), counts


def _truncate(data: bytes, draw) -> bytes:
    return data[: draw(st.integers(0, len(data) - 1))]


def _flip(data: bytes, draw) -> bytes:
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(out) - 1))
        out[at] ^= draw(st.integers(1, 255))
    return bytes(out)


def _drop_or_repeat(data: bytes, draw) -> bytes:
    lines = data.splitlines(keepends=True)
    at = draw(st.integers(0, len(lines) - 1))
    repeat = draw(st.booleans())
    return b"".join(lines[: at + 1] + [lines[at]] + lines[at + 1 :] if repeat else lines[:at] + lines[at + 1 :])


def _resize_vector(data: bytes, draw) -> bytes:
    lines = data.splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if b'"f32"' in line]
    at = draw(st.sampled_from(rows))
    row = json.loads(lines[at])
    delta = draw(st.sampled_from([-2, -1, 1]))
    target = row if row["kind"] == "task_embedding" else row["embeddings"][0]
    key = draw(st.sampled_from(["vector", "prior" if row["kind"] == "task_embedding" else "bias"]))
    values = np.frombuffer(base64.b64decode(target[key]["f32"]), "<f4")
    values = np.concatenate([values, np.ones(delta, "<f4")]) if delta > 0 else values[:delta]
    target[key] = {"f32": base64.b64encode(values.astype("<f4").tobytes()).decode()}
    lines[at] = (json.dumps(row) + "\n").encode()
    return b"".join(lines)


CORRUPTIONS = [_truncate, _flip, _drop_or_repeat, _resize_vector]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_corrupted_export_is_refused_whole_or_imported_whole(export, tmp_path_factory, data):
    from zoo.cli import main

    original, source_counts = export
    corrupt = data.draw(st.sampled_from(CORRUPTIONS), label="corruption")
    content = corrupt(original, data.draw)
    folder = tmp_path_factory.mktemp("case")
    path = folder / "corrupt.jsonl"
    path.write_bytes(content)
    url = f"sqlite:///{folder / 'target.db'}"
    with Store.open(url) as target:  # an existing row that must survive a refused import
        target.add_model("keeper", "timm:resnet18")
        before = target.counts()
    result = CliRunner().invoke(main, ["--db", url, "import", str(path)])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    with Store.open(url) as target:
        after = target.counts()
        if result.exit_code == 0:
            expected = {k: v + before[k] for k, v in source_counts.items()}
            assert after == expected, "an import that exits 0 must bring every row of the original"
            target.export_jsonl(folder / "again.jsonl")
            again = [
                line
                for line in (folder / "again.jsonl").read_bytes().splitlines()[1:]
                if b'"name": "keeper"' not in line
            ]
            assert again == original.splitlines()[1:], "an import that exits 0 must bring the original values"
        else:
            assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error:")
            assert after == before, "a refused import must leave the registry unchanged"
        for embedding in target.list_task_embeddings():  # what `tasks similar` and `recommend` read
            assert embedding.vector.shape == (target.get_probe(embedding.probe).embedding_length,)
        run = (
            target.list_model_embeddings(target.latest_model2vec_run("p", "variational").id)
            if result.exit_code == 0
            else []
        )
        assert all(e.vector.shape == e.bias.shape == (D,) for e in run)
