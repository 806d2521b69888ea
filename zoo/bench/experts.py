"""The expert zoo: which experts to train, and training one.

Three kinds (tag ``kind``):

- ``task``: one expert task, architecture rotating over :data:`ARCHS`
  (ResNet-10-T fine-tuned from the probe, and two from scratch: timm's
  ``test_resnet`` and ``lcnet_050``), so experts differ in data *and* network;
- ``group``: the union of the expert tasks of one script family, one emoji
  group, or all of Fashion-MNIST, fine-tuned from the probe;
- ``generalist``: the union of every expert task across the three sources, once
  fine-tuned from the probe and once ``lcnet_050`` from scratch.

A multi-task expert's ``trained_on`` is a *union task* (train splits of its
tasks, class labels prefixed by the task) that is registered and embedded like
any task, so Model2Vec has its F_i. Weights go to ``<workdir>/experts/`` as
fp32 safetensors with a sidecar JSON (arch, input size, mean/std) that
:func:`zoo.networks.load_network` reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from registry.errors import publish
from zoo.bench.arrays import IMAGENET_MEAN, IMAGENET_STD, load_split
from zoo.collections.tasks import IMAGE_SIZE, read_task, safe_name, write_json_atomic

#: (arch, init) for single-task experts, in rotation
ARCHS = (("resnet10t", "probe"), ("test_resnet", "scratch"), ("lcnet_050", "scratch"))


@dataclass(frozen=True)
class ExpertSpec:
    """One expert to train: name, architecture, initialisation, data, budget, tags."""

    name: str
    arch: str
    init: str  # "probe" (fine-tune the bundled probe) or "scratch"
    tasks: tuple[str, ...]  # task names whose train splits it learns
    trained_on: str  # a task name (single) or a union task name
    steps: int
    tags: dict = field(default_factory=dict, compare=False)


def plan_experts(expert_tasks: list[dict], size) -> list[ExpertSpec]:
    """The experts of a bench size over its expert tasks (records from task.json).

    Deterministic: the same tasks and size give the same list in the same order.
    """
    tasks = sorted(expert_tasks, key=lambda t: t["name"])
    plan: list[ExpertSpec] = []
    singles = tasks if size.single_experts is None else _spread(tasks, size.single_experts)
    for i, task in enumerate(singles):
        arch, init = ARCHS[i % len(ARCHS)]
        plan.append(
            ExpertSpec(
                name=f"expert-{task['name']}-{arch.replace('_', '')}",
                arch=arch,
                init=init,
                tasks=(task["name"],),
                trained_on=task["name"],
                steps=size.single_steps,
                tags={"kind": "task", "source": task["collection"], "init": init, "bench": size.name},
            )
        )
    groups: dict[tuple[str, str], list[str]] = {}
    for task in tasks:
        family = task["taxonomy"].split("/")[0]
        key = (task["collection"], "all" if task["collection"] == "fashion" else family)
        groups.setdefault(key, []).append(task["name"])
    for (collection, family), names in sorted(groups.items()):
        if len(names) < 2:
            continue
        union = f"union-{collection}-{safe_name(family)}"
        plan.append(
            ExpertSpec(
                name=f"expert-{union.removeprefix('union-')}-resnet10t",
                arch="resnet10t",
                init="probe",
                tasks=tuple(names),
                trained_on=union,
                steps=size.group_steps,
                tags={"kind": "group", "source": collection, "group": family, "init": "probe", "bench": size.name},
            )
        )
    everything = tuple(t["name"] for t in tasks)
    for arch, init in (("resnet10t", "probe"), ("lcnet_050", "scratch")):
        plan.append(
            ExpertSpec(
                name=f"expert-generalist-{arch.replace('_', '')}",
                arch=arch,
                init=init,
                tasks=everything,
                trained_on="union-all-experts",
                steps=size.generalist_steps,
                tags={"kind": "generalist", "source": "all", "init": init, "bench": size.name},
            )
        )
    return plan


def _spread(items: list, count: int) -> list:
    """``count`` items spread evenly over ``items`` (all when count >= len)."""
    if count >= len(items):
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def union_records(plan: list[ExpertSpec]) -> dict[str, tuple[str, ...]]:
    """Union task name -> its member tasks, for every multi-task expert of ``plan``."""
    return {spec.trained_on: spec.tasks for spec in plan if spec.trained_on.startswith("union-")}


def write_union_task(root: Path, name: str, members: tuple[str, ...]) -> Path:
    """A union task folder of symlinks to its members' images (train and test), with task.json."""
    root = Path(root)
    folder = root / name
    if (folder / "task.json").exists():
        return folder
    classes, counts, collections = [], {"train": 0, "test": 0}, set()
    for member in members:
        record = read_task(root / member)
        collections.add(record["collection"])
        for cls in record["classes"]:
            label = f"{member}~{cls}"
            classes.append(label)
            for split in ("train", "test"):
                target = folder / split / label
                target.mkdir(parents=True, exist_ok=True)
                for path in sorted((root / member / split / cls).glob("*.png")):
                    link = target / path.name
                    if not link.exists():
                        os.symlink(os.path.relpath(path, target), link)
                    counts[split] += 1
    write_json_atomic(
        folder / "task.json",
        {
            "name": name,
            "collection": "union",
            "taxonomy": f"union/{'+'.join(sorted(collections))}",
            "classes": classes,
            "members": list(members),
            "counts": counts,
            "image_size": IMAGE_SIZE,
            "set": "union",
        },
    )
    return folder


def union_arrays(root: Path, members: tuple[str, ...], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images and union labels of the ``split`` splits of ``members``."""
    images, labels, offset = [], [], 0
    for member in members:
        x, y = load_split(Path(root) / member, split)
        images.append(x)
        labels.append(y + offset)
        offset += len(read_task(Path(root) / member)["classes"])
    return np.concatenate(images), np.concatenate(labels)


@dataclass(frozen=True)
class ExpertJob:
    """What every expert of one build trains with: its folders, the probe's weights, the batch size and seed."""

    task_root: Path
    expert_dir: Path
    probe_weights: Path
    batch_size: int
    seed: int = 0

    def weights(self, spec: ExpertSpec) -> Path:
        """Where ``spec``'s weights file goes: ``expert_dir/<name>.safetensors``."""
        return Path(self.expert_dir) / f"{spec.name}.safetensors"


def expert_seed(spec: ExpertSpec, seed: int) -> int:
    """The training seed of ``spec`` in a build seeded ``seed`` (distinct per expert name)."""
    return seed + int.from_bytes(spec.name.encode()[:4].ljust(4, b"\0"), "little") % 10_000


def trained_as(spec: ExpertSpec, job: ExpertJob) -> bool:
    """Whether ``job``'s weights file of ``spec`` exists and its sidecar records this very training.

    The same architecture, initialisation, tasks, steps, batch size and seed: a file that
    matches is what training again would write (for the same torch thread count).
    """
    import json

    path = job.weights(spec)
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        return False
    try:
        record = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return False
    wanted = {
        "arch": spec.arch,
        "init": spec.init,
        "tasks": list(spec.tasks),
        "trained_on": spec.trained_on,
        "steps": spec.steps,
        "batch_size": job.batch_size,
        "seed": expert_seed(spec, job.seed),
    }
    return all(record.get(key) == value for key, value in wanted.items())


def ensure_expert(spec: ExpertSpec, job: ExpertJob, *, progress: bool = True) -> tuple[Path, bool]:
    """(weights path, trained now?): ``spec`` trained unless its file is there and :func:`trained_as` it.

    A file left by another training (another seed, batch size or budget) is
    trained again and replaced; a build resumed with the same settings trains
    only what is missing.
    """
    if trained_as(spec, job):
        return job.weights(spec), False
    path = train_expert(
        spec,
        job.task_root,
        job.expert_dir,
        probe_weights=job.probe_weights,
        batch_size=job.batch_size,
        seed=job.seed,
        progress=progress,
        replace=True,
    )
    return path, True


def train_expert(
    spec: ExpertSpec,
    task_root: Path,
    out_dir: Path,
    *,
    probe_weights: Path,
    batch_size: int,
    seed: int = 0,
    progress: bool = True,
    replace: bool = False,
) -> Path:
    """Train one expert and write ``out_dir/<name>.safetensors`` (+ ``.json``); returns the path.

    Written to a temporary name and renamed, so a file that exists is complete.
    An existing file is kept as it is unless ``replace``. The sidecar is what
    :func:`trained_as` reads to trust a file, so it goes last: the old one is
    removed before the new weights take its place, and a kill in between leaves
    weights without a record (trained again by the next build), never old
    weights beside a new record.
    """
    import timm
    import torch
    from safetensors.torch import load_file, save_file

    from zoo.bench.training import train_classifier

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{spec.name}.safetensors"
    if path.exists() and not replace:
        return path
    x, y = union_arrays(task_root, spec.tasks, "train")
    num_classes = int(y.max()) + 1
    seed_of_expert = expert_seed(spec, seed)
    torch.manual_seed(seed_of_expert)
    model = timm.create_model(spec.arch, num_classes=num_classes)
    lr = 2e-3
    if spec.init == "probe":
        state = {k: v.float() for k, v in load_file(str(probe_weights)).items()}
        classifier = model.get_classifier()
        head = {f"{n}.{p}" for n, m in model.named_modules() if m is classifier for p in ("weight", "bias")}
        model.load_state_dict({k: v for k, v in state.items() if k not in head}, strict=False)
        lr = 1e-3  # fine-tuning: gentler than from scratch
    train_classifier(
        model,
        x,
        y,
        steps=spec.steps,
        batch_size=batch_size,
        lr=lr,
        seed=seed_of_expert,
        progress=progress,
        desc=f"train {spec.name}",
    )
    tmp = out_dir / f".{spec.name}.{os.getpid()}.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp), metadata={"arch": spec.arch})
    sidecar = out_dir / f"{spec.name}.json"
    sidecar.unlink(missing_ok=True)
    publish(tmp, path)
    write_json_atomic(sidecar, _description(spec, model, num_classes, batch_size, seed_of_expert))
    return path


def _description(spec: ExpertSpec, model, num_classes: int, batch_size: int, seed: int) -> dict[str, Any]:
    """The sidecar JSON of a trained expert: its data config (read by :mod:`zoo.networks`) and how it was trained."""
    return {
        "arch": spec.arch,
        "input_size": [3, IMAGE_SIZE, IMAGE_SIZE],
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "num_classes": num_classes,
        "num_params": int(sum(p.numel() for p in model.parameters())),
        "trained_on": spec.trained_on,
        "tasks": list(spec.tasks),
        "init": spec.init,
        "steps": spec.steps,
        "batch_size": batch_size,
        "seed": seed,
    }
