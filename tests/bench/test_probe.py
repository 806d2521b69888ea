"""Probe training and the shipped probe record."""

from __future__ import annotations

import json

from zoo.bench.probe import BUNDLED_DIR, train_probe
from zoo.collections import catalogue, render_tasks


def test_train_probe_writes_loadable_fp16_weights_and_a_record(tmp_path):
    import torch

    from zoo.networks import data_config, load_network

    torch.set_num_threads(1)
    pool = catalogue(0)["probe"]
    specs = [next(s for s in pool if s.collection == c) for c in ("emoji", "fashion")]
    folders = render_tasks(tmp_path / "tasks", specs, train_per_class=3, test_per_class=2, progress=False)
    record = train_probe(folders, tmp_path / "probe", steps=2, progress=False, command="test")
    assert record["num_classes"] == sum(len(s.classes) for s in specs)
    assert record["made"]["tasks"] == [s.name for s in specs]
    assert 0.0 <= record["made"]["test_accuracy_within_task"] <= 1.0
    model = load_network(f"file:{tmp_path / 'probe' / 'probe.safetensors'}")
    assert data_config(model)["input_size"] == (3, 32, 32)
    assert json.loads((tmp_path / "probe" / "probe.json").read_text())["dtype"] == "float16"


def test_shipped_probe_is_small_recorded_and_trained_on_the_probe_pool_only():
    weights, record_path = BUNDLED_DIR / "probe.safetensors", BUNDLED_DIR / "probe.json"
    assert weights.stat().st_size <= 20 * 1024 * 1024
    record = json.loads(record_path.read_text())
    for key in ("arch", "num_classes", "input_size", "mean", "std", "interpolation"):
        assert key in record
    made = record["made"]
    assert made["command"].startswith("zoo bench train-probe")
    sets = catalogue(0)
    trained = set(made["tasks"])
    assert trained == {s.name for s in sets["probe"]}
    assert not trained & {s.name for s in sets["heldout"] + sets["expert"]}
    assert {"scripts", "emoji", "fashion"} <= {s.collection for s in sets["probe"] if s.name in trained}
