"""Probe training and the shipped probe record."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from zoo.bench import probe, training
from zoo.bench.probe import BUNDLED_DIR, CHECKPOINT_NAME, train_probe
from zoo.bench.training import train_classifier
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


# ---------------------------------------------------------------------------- resume and the probe pair


@pytest.fixture(scope="module")
def one_task(tmp_path_factory):
    """One rendered probe-pool task (fashion, 3 train + 2 test images per class)."""
    spec = next(s for s in catalogue(0)["probe"] if s.collection == "fashion")
    root = tmp_path_factory.mktemp("tasks")
    return render_tasks(root, [spec], train_per_class=3, test_per_class=2, progress=False)


def _tiny_model():
    import torch

    torch.manual_seed(0)  # BatchNorm and dropout: buffers and the global RNG must come back too
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.Dropout(0.3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    )


def _data(n: int = 40):
    images = np.random.default_rng(1).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return images, np.arange(n, dtype=np.int64) % 3


#: 13 steps of 8 images out of 40: the data order is redrawn every 5 steps, so a resume crosses a redraw
RUN = {"steps": 13, "batch_size": 8, "seed": 5, "progress": False}


def _kill_at(monkeypatch, call: int, name: str = "random_shift") -> None:
    """Make the loop's augmentation (looked up on each run) raise KeyboardInterrupt on its ``call``-th batch."""
    real, calls = getattr(training, name), []

    def augment(x, generator):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(x, generator)

    monkeypatch.setattr(training, name, augment)


def _state(model) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _equal(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("augment", ["shift", "strong"])
def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, monkeypatch, capsys, augment):
    import torch

    torch.set_num_threads(1)
    images, labels = _data()
    whole = _tiny_model()
    expected = train_classifier(whole, images, labels, augment=augment, **RUN)
    checkpoint, lines = tmp_path / "run.ckpt", []
    name = "random_shift" if augment == "shift" else "strong_augment"
    with monkeypatch.context() as patch:
        _kill_at(patch, 7, name)  # killed in step 7: steps 5 and 6 were done but are not in the step-4 checkpoint
        with pytest.raises(KeyboardInterrupt):
            train_classifier(
                _tiny_model(), images, labels, augment=augment, checkpoint=checkpoint, checkpoint_every=4, **RUN
            )
    assert checkpoint.is_file()
    torch.manual_seed(123)  # whatever the global RNG is now, the resumed run restores its own
    resumed = _tiny_model()
    capsys.readouterr()
    stats = train_classifier(
        resumed,
        images,
        labels,
        augment=augment,
        checkpoint=checkpoint,
        checkpoint_every=4,
        log=lines.append,
        **{**RUN, "progress": True},
    )
    assert lines == [f"train: resuming at step 4 of 13 from {checkpoint}"]
    assert "| 4/13 [" in capsys.readouterr().err  # the bar starts at the resumed step, so its ETA is honest
    assert stats["resumed_from"] == 4
    assert _equal(_state(resumed), _state(whole))
    assert stats["final_loss"] == expected["final_loss"]


def _leave_checkpoint(monkeypatch, checkpoint, images, labels) -> None:
    """A run of RUN on (images, labels), killed in step 7, leaving its step-4 checkpoint."""
    with monkeypatch.context() as patch:
        _kill_at(patch, 7)
        with pytest.raises(KeyboardInterrupt):
            train_classifier(_tiny_model(), images, labels, checkpoint=checkpoint, checkpoint_every=4, **RUN)
    assert checkpoint.is_file()


@pytest.mark.parametrize("changed", ["lr", "steps", "data"])
def test_a_checkpoint_of_other_settings_starts_the_run_over_and_says_so(tmp_path, monkeypatch, changed):
    import torch

    torch.set_num_threads(1)
    images, labels = _data()
    checkpoint = tmp_path / "run.ckpt"
    _leave_checkpoint(monkeypatch, checkpoint, images, labels)
    run = {**RUN, **({"lr": 1e-3} if changed == "lr" else {"steps": 12} if changed == "steps" else {})}
    if changed == "data":
        images = images[::-1].copy()
    whole = _tiny_model()
    train_classifier(whole, images, labels, **run)
    model, lines = _tiny_model(), []
    stats = train_classifier(model, images, labels, checkpoint=checkpoint, log=lines.append, **run)
    assert stats["resumed_from"] == 0
    assert lines == [f"{checkpoint} is a checkpoint of another run ({changed} differ): starting at step 0"]
    assert _equal(_state(model), _state(whole))


def _checkpoint_and_whole_run(tmp_path, monkeypatch):
    """(images, labels, the step-4 checkpoint of an interrupted run, the model of an uninterrupted one)."""
    import torch

    torch.set_num_threads(1)
    images, labels = _data()
    checkpoint = tmp_path / "run.ckpt"
    _leave_checkpoint(monkeypatch, checkpoint, images, labels)
    whole = _tiny_model()
    train_classifier(whole, images, labels, **RUN)
    return images, labels, checkpoint, whole


def test_an_unreadable_checkpoint_is_ignored_with_a_one_line_warning(tmp_path, monkeypatch):
    images, labels, checkpoint, whole = _checkpoint_and_whole_run(tmp_path, monkeypatch)
    data = checkpoint.read_bytes()
    for damaged in (data[: len(data) // 2], b"not a checkpoint"):
        checkpoint.write_bytes(damaged)
        model, lines = _tiny_model(), []
        with pytest.warns(UserWarning, match="ignoring the unreadable checkpoint") as caught:
            stats = train_classifier(model, images, labels, checkpoint=checkpoint, log=lines.append, **RUN)
        assert len(caught) == 1 and "\n" not in str(caught[0].message)
        assert stats["resumed_from"] == 0 and lines == []
        assert _equal(_state(model), _state(whole))


@pytest.mark.parametrize("break_it", ["order", "step", "optimiser"])
def test_a_checkpoint_whose_states_do_not_load_starts_afresh_with_nothing_half_restored(
    tmp_path, monkeypatch, break_it
):
    """Readable and of this run, but a state that does not fit: the optimiser, schedule and random generators it
    set before failing are dropped, so the run equals an uninterrupted one."""
    import torch

    images, labels, checkpoint, whole = _checkpoint_and_whole_run(tmp_path, monkeypatch)
    saved = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    if break_it == "order":  # fails after every state but the model was restored
        saved["order"] = saved["order"][:-1]
    elif break_it == "step":
        saved["step"] = RUN["steps"] + 1
    else:
        saved["optimiser"] = {"state": {}, "param_groups": []}
    torch.save(saved, str(checkpoint))
    model, lines = _tiny_model(), []
    with pytest.warns(UserWarning, match="ignoring the unreadable checkpoint") as caught:
        stats = train_classifier(model, images, labels, checkpoint=checkpoint, log=lines.append, **RUN)
    assert len(caught) == 1 and stats["resumed_from"] == 0 and lines == []
    assert _equal(_state(model), _state(whole))


def test_train_probe_resumes_removes_its_checkpoint_and_restart_starts_over(tmp_path, monkeypatch, one_task):
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    whole = train_probe(one_task, tmp_path / "whole", steps=5, progress=False)
    out, lines = tmp_path / "resumed", []
    with monkeypatch.context() as patch:
        _kill_at(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            train_probe(one_task, out, steps=5, progress=False, checkpoint_every=2)
    assert (out / CHECKPOINT_NAME).is_file() and not (out / "probe.safetensors").exists()
    resumed = train_probe(one_task, out, steps=5, progress=False, checkpoint_every=2, log=lines.append)
    assert lines == [f"train probe: resuming at step 2 of 5 from {out / CHECKPOINT_NAME}"]
    assert _equal(load_file(str(out / "probe.safetensors")), load_file(str(tmp_path / "whole" / "probe.safetensors")))
    assert resumed["made"]["final_train_loss"] == whole["made"]["final_train_loss"]
    assert not (out / CHECKPOINT_NAME).exists()

    with monkeypatch.context() as patch:
        _kill_at(patch, 4)
        with pytest.raises(KeyboardInterrupt):
            train_probe(one_task, out, steps=5, progress=False, checkpoint_every=2)
    lines.clear()
    train_probe(one_task, out, steps=5, progress=False, restart=True, log=lines.append)
    assert lines == [] and not (out / CHECKPOINT_NAME).exists()


def test_a_kill_between_the_probe_files_leaves_no_mismatched_pair(tmp_path, monkeypatch, one_task):
    import torch

    from registry.errors import InvalidInput
    from zoo import networks
    from zoo.networks import load_network

    torch.set_num_threads(1)
    out = tmp_path / "probe"
    train_probe(one_task, out, steps=2, progress=False, command="old")

    def killed(path, data):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(probe, "write_json_atomic", killed)
        with pytest.raises(KeyboardInterrupt):
            train_probe(one_task, out, steps=3, seed=1, progress=False, command="new")
    assert (out / "probe.safetensors").is_file() and not (out / "probe.json").exists()
    with pytest.raises(InvalidInput) as err:
        load_network(f"file:{out / 'probe.safetensors'}", allow_random=True)
    assert "zoo bench train-probe" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setattr(networks, "bundled_probe_dir", lambda: out)
    with pytest.raises(InvalidInput) as err:
        load_network("bundled", allow_random=True)
    assert "zoo bench train-probe" in str(err.value) and "\n" not in str(err.value)

    lines = []  # the rerun reads its finished training back and writes the pair
    record = train_probe(one_task, out, steps=3, seed=1, progress=False, command="new", log=lines.append)
    assert lines == [f"train probe: resuming at step 3 of 3 from {out / CHECKPOINT_NAME}"]
    assert json.loads((out / "probe.json").read_text())["made"]["command"] == record["made"]["command"] == "new"
    load_network("bundled", allow_random=True)
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "probe.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # not private like save_file's
    # a finished pair renamed by its user (both files) loads; its weights alone do not
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(out / "probe.safetensors", mine / "my-probe.safetensors")
    with pytest.raises(InvalidInput, match="zoo bench train-probe"):
        load_network(f"file:{mine / 'my-probe.safetensors'}", allow_random=True)
    for sidecar in ("my-probe.json", "my-probe.safetensors.json"):
        shutil.copy(out / "probe.json", mine / sidecar)
        load_network(f"file:{mine / 'my-probe.safetensors'}", allow_random=True)
        (mine / sidecar).unlink()
    # weights that name no record (every expert's, any user's file) load as before, sidecar or not
    from safetensors.torch import load_file, save_file

    save_file(
        load_file(str(out / "probe.safetensors")), str(mine / "plain.safetensors"), metadata={"arch": "resnet10t"}
    )
    load_network(f"file:{mine / 'plain.safetensors'}", allow_random=True)
