"""Scorer matrices resume: each (task, expert) value is kept in the user cache as it is computed.

Three tasks of tiny PNG folders and three experts whose networks are stubs (features drawn from the expert's
source and the image's path, with some of the label in them), so only the caching is under test; the scorer
itself is the real LogME. The autouse fixture of tests/conftest.py points ``$XDG_CACHE_HOME`` at a fresh
folder per test, so the cache starts empty.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

TASKS = ("t0", "t1", "t2")
SECONDS = 0.01  # each counted scorer value sleeps this long, so a cost can be told from a read


class _Calls(list):
    """(task, expert source) of each value computed; the one numbered ``interrupt`` raises KeyboardInterrupt."""

    interrupt: int | None = None


class _Network:
    def __init__(self, source: str) -> None:
        self.source = source


def _features(network, images, progress=False, desc="features"):
    """``[N, 4]``: a seeded draw per (expert, image), plus the label one-hot weighted by the expert's number."""
    strength = int(network.source[-1])
    rows = []
    for item, label in zip(images.items, images.labels):
        noise = np.random.default_rng([zlib.crc32(network.source.encode()), zlib.crc32(str(item).encode())])
        rows.append(noise.normal(size=4) + strength * np.eye(4)[label])
    return np.array(rows, dtype=np.float32)


def _write_images(folder: Path, count: int = 6) -> None:
    from PIL import Image

    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            shade = (n * 40 + (cls == "b") * 20) % 256
            Image.new("RGB", (4, 4), (shade, shade, shade)).save(folder / cls / f"{n}.png")


@pytest.fixture
def judged(sqlite_url, tmp_path, monkeypatch):
    """(the Zoo, its models, the list the counting scorer appends (task folder, expert source) to)."""
    import time

    import zoo.api.scorer_matrix as matrix_module
    import zoo.networks
    from zoo.api import Zoo

    monkeypatch.setattr(zoo.networks, "load_network", lambda source, **kw: _Network(source))
    monkeypatch.setattr(zoo.networks, "extract_features", _features)
    monkeypatch.setattr(matrix_module, "SCORER_CHUNK", 2)  # three experts: two chunks
    real, calls = matrix_module.scorer_value, _Calls()

    def counting(scorer, network, images, **kwargs):
        if calls.interrupt is not None and len(calls) == calls.interrupt:
            raise KeyboardInterrupt  # as a Ctrl-C in this pass
        calls.append((Path(images.source).name, network.source))
        time.sleep(SECONDS)
        return real(scorer, network, images, **kwargs)

    monkeypatch.setattr(matrix_module, "scorer_value", counting)
    z = Zoo.open(sqlite_url)
    for name in TASKS:
        _write_images(tmp_path / "data" / name)
        z.store.add_task(name, data_uri=str(tmp_path / "data" / name), num_classes=2, num_samples=12, fingerprint=name)
    for j in range(3):
        z.store.add_model(f"e{j}", f"timm:resnet18.stub{j}", arch="resnet18", checksum=f"{j}" * 64)
    yield z, z.store.list_models(), calls
    z.close()


def _matrix(z, models, **kwargs):
    settings = {"scorer": "logme", "tasks": list(TASKS), "models": models, "max_samples": None, "device": "cpu"}
    return z.judge.timed_scorer_matrix(**{**settings, **kwargs})


def test_an_interrupted_scorer_matrix_resumes_with_the_values_it_computed(judged, tmp_path, monkeypatch, capsys):
    z, models, calls = judged
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "reference-cache"))
    reference, _ = _matrix(z, models)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls.clear()
    calls.interrupt = 4
    with pytest.raises(KeyboardInterrupt):
        _matrix(z, models)
    first = list(calls)
    assert len(first) == 4
    calls.clear()
    calls.interrupt = None
    resumed, seconds = _matrix(z, models, progress=True)
    assert len(calls) == 9 - 4 and not set(calls) & set(first)  # only the values the first run never reached
    assert "4/9" in capsys.readouterr().err  # the bar starts at the pairs read back: its rate and ETA are honest
    np.testing.assert_array_equal(resumed, reference)
    calls.clear()
    again, cached_seconds = _matrix(z, models)
    assert calls == []
    np.testing.assert_array_equal(again, reference)
    # read back, the matrix reports what computing it cost, not the reading
    assert cached_seconds >= 9 * SECONDS / len(TASKS)
    assert cached_seconds == pytest.approx(seconds, abs=SECONDS)


@pytest.mark.parametrize(
    ("change", "recomputed"),
    [
        ("max_samples", 9),
        ("share", 9),
        ("checksum", 3),
        ("source", 3),
        ("images", 3),
        ("fingerprint", 3),
        ("code", 9),
    ],
)
def test_a_changed_input_never_reads_the_old_values(judged, tmp_path, monkeypatch, change, recomputed):
    z, models, calls = judged
    before, _ = _matrix(z, models)
    calls.clear()
    np.testing.assert_array_equal(_matrix(z, models)[0], before)
    assert calls == []  # the same inputs read every value back
    kwargs = {"models": models}
    if change == "max_samples":
        kwargs["max_samples"] = 8
    elif change == "share":
        kwargs["share"] = 0.5
    elif change in ("checksum", "source"):
        new = {"checksum": "f" * 64} if change == "checksum" else {"source": "timm:resnet18.other1"}
        kwargs["models"] = [models[0], dataclasses.replace(models[1], **new), models[2]]
    elif change == "images":
        _write_images(tmp_path / "data" / "t1", count=7)  # one more image per class
    elif change == "code":  # an edit to the scorers' (or the feature pass's) code in a working copy
        import zoo.api.scorer_cache

        monkeypatch.setattr(zoo.api.scorer_cache, "_CODE_DIGEST", "edited")
    else:  # the registry records another content fingerprint (the task registered again)
        real = z.store.get_task
        renewed = lambda name: dataclasses.replace(real(name), fingerprint="new") if name == "t2" else real(name)  # noqa: E731
        monkeypatch.setattr(z.store, "get_task", renewed)
    _matrix(z, **kwargs)
    assert len(calls) == recomputed
    if change in ("checksum", "source"):
        assert {source for _, source in calls} == {kwargs["models"][1].source}
    elif change in ("images", "fingerprint"):
        assert {task for task, _ in calls} == {"t1" if change == "images" else "t2"}


def test_a_damaged_or_foreign_entry_is_computed_again(judged, tmp_path):
    from zoo.api.scorer_cache import cache_directory

    z, models, calls = judged
    before, _ = _matrix(z, models)
    entries = sorted((cache_directory() / "logme").glob("*.json"))
    assert len(entries) == 9 and not list(cache_directory().rglob("*.tmp"))  # one per value, no temporary left
    entries[0].write_text('{"key": {"scor')  # cut short, as by a full disk
    entries[1].write_bytes(b"\xff\xfe\x00")  # not text
    foreign = json.loads(entries[2].read_text())
    foreign["key"]["samples"] = 99  # another key's entry under this name: never read
    entries[2].write_text(json.dumps(foreign))
    wrong = json.loads(entries[3].read_text())
    wrong["value"] = "high"
    entries[3].write_text(json.dumps(wrong))
    calls.clear()
    after, _ = _matrix(z, models)
    assert len(calls) == 4
    np.testing.assert_array_equal(after, before)
    assert all(json.loads(p.read_text())["key"]["samples"] is None for p in entries)  # rewritten whole


def test_an_expert_that_cannot_be_loaded_leaves_its_column_empty_and_the_rest_scored(judged, monkeypatch):
    """bench evaluate's scorers: one expert whose weights cannot be loaded no longer stops the whole matrix."""
    import zoo.networks
    from registry.errors import InvalidInput

    z, models, calls = judged
    reference, _ = _matrix(z, models)
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(z.store.url.removeprefix("sqlite:///")).parent / "cold-cache"))

    def load(source, **kw):
        if source.endswith("stub1"):
            raise InvalidInput(f"network {source} has untrained (random) weights")
        return _Network(source)

    monkeypatch.setattr(zoo.networks, "load_network", load)
    with pytest.warns(UserWarning, match="logme: skipped e1, which cannot be loaded"):
        got, _ = _matrix(z, models)
    assert np.isnan(got[:, 1]).all()
    np.testing.assert_array_equal(got[:, [0, 2]], reference[:, [0, 2]])
