"""embed-task on a split folder (DIR/train/<class>, DIR/val/<class>, no task.json): one task of train's classes."""

from __future__ import annotations

import pytest

from registry.errors import InvalidInput
from zoo.api import Zoo


def test_a_split_folder_embeds_as_one_task_of_the_train_classes(sqlite_url, tmp_path, probe_file, task_folder):
    root = tmp_path / "birds"
    task_folder(root / "train")
    task_folder(root / "val", per_class=2, seed=1)
    with Zoo.open(sqlite_url) as zoo:
        zoo.embed_task(root, probe=f"file:{probe_file}", progress=False)
        task = zoo.store.get_task("birds")
    assert (task.num_classes, task.num_samples) == (3, 18)  # not 2 classes called "train" and "val"


def test_a_split_folder_whose_splits_differ_registers_nothing(sqlite_url, tmp_path, probe_file, task_folder):
    root = tmp_path / "birds"
    task_folder(root / "train")
    task_folder(root / "test", classes=4, per_class=1)
    with Zoo.open(sqlite_url) as zoo:
        with pytest.raises(InvalidInput, match="test/ has class class3 that train/ lacks"):
            zoo.embed_task(root, probe=f"file:{probe_file}", progress=False)
        assert zoo.store.list_tasks() == []
