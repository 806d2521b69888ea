"""The bundled probe: a timm ResNet-10-T trained on the probe pool, all sources at once.

Multi-task by a union label space: every class of every probe-pool task is one
output (a script's letter, an emoji, a garment of one task), so one network
sees writing systems, emoji and photographs together, as the Task2Vec paper
advises for a probe. Saved as fp16 safetensors (under 10 MB) with probe.json.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo.bench.arrays import IMAGENET_MEAN, IMAGENET_STD, load_split
from zoo.bench.training import CHECKPOINT_EVERY
from zoo.collections.tasks import IMAGE_SIZE, read_task, write_json_atomic
from zoo.networks import RECORD_KEY

PROBE_ARCH = "resnet10t"
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "probe"
#: the checkpoint of an unfinished training run, in the output folder
CHECKPOINT_NAME = ".train-probe.ckpt"


def union_dataset(folders: list[Path], split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Images, union labels, task index per image, and the union class names ``task/class``."""
    images, labels, task_ids, names = [], [], [], []
    for t, folder in enumerate(folders):
        x, y = load_split(folder, split)
        record = read_task(folder)
        images.append(x)
        labels.append(y + len(names))
        task_ids.append(np.full(len(y), t))
        names += [f"{record['name']}/{c}" for c in record["classes"]]
    return np.concatenate(images), np.concatenate(labels), np.concatenate(task_ids), names


def train_probe(
    folders: list[Path],
    out_dir: Path,
    *,
    steps: int,
    seed: int = 0,
    progress: bool = True,
    command: str = "",
    augment: str = "shift",
    restart: bool = False,
    checkpoint_every: int = CHECKPOINT_EVERY,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Train the probe on the train splits of ``folders``; write probe.safetensors + probe.json.

    Returns the probe record (also written as probe.json). Accuracy is measured on
    the test splits, within each task (the logits restricted to the task's classes).
    ``augment``: one of :data:`zoo.bench.training.AUGMENTATIONS` (``shift``, the
    bundled probe's, or ``strong``), recorded in ``made``.

    An interrupted run of the same settings resumes from ``out_dir``/.train-probe.ckpt
    (saved every ``checkpoint_every`` steps) and ends with the same weights;
    ``restart`` removes that checkpoint first. ``log``: where the one line saying
    a run resumes (or why it cannot) goes.
    """
    import timm
    import torch

    from zoo.bench.training import AUGMENTATION_NOTES, train_classifier

    folders = [Path(f) for f in folders]
    out_dir = Path(out_dir)
    checkpoint = out_dir / CHECKPOINT_NAME
    if restart:
        checkpoint.unlink(missing_ok=True)
    x, y, _, names = union_dataset(folders, "train")
    torch.manual_seed(seed)
    model = timm.create_model(PROBE_ARCH, num_classes=len(names))
    stats = train_classifier(
        model,
        x,
        y,
        steps=steps,
        seed=seed,
        progress=progress,
        desc="train probe",
        augment=augment,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        log=log,
    )
    tested = time.time()
    within, overall = _test_accuracy(model, folders, len(names))
    _save_weights(model, out_dir)
    collections = sorted({read_task(f)["collection"] for f in folders})
    made = {
        "data": f"train splits of the {len(folders)} probe-pool tasks ({', '.join(collections)}), "
        f"{len(y)} images, union label space of {len(names)} classes",
        "tasks": [read_task(f)["name"] for f in folders],
        "steps": steps,
        "batch_size": 128,
        "epochs": round(steps * 128 / len(y), 2),
        "optimiser": f"AdamW lr 2e-3 wd 5e-4, cosine, label smoothing 0.1, {AUGMENTATION_NOTES[augment]}",
        "augment": augment,
        "seed": seed,
        "final_train_loss": stats["final_loss"],
        "test_accuracy_within_task": round(within, 4),
        "test_accuracy_union": round(overall, 4),
        "train_seconds": round(stats["seconds"] + time.time() - tested, 1),
        "command": command,
    }
    record = {
        "arch": PROBE_ARCH,
        "num_classes": len(names),
        "input_size": [3, IMAGE_SIZE, IMAGE_SIZE],
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "dtype": "float16",
        "num_params": int(sum(p.numel() for p in model.parameters())),
        "made": made,
    }
    write_json_atomic(out_dir / "probe.json", record)
    checkpoint.unlink(missing_ok=True)  # kept only to resume an interrupted run
    return record


def _test_accuracy(model, folders: list[Path], num_classes: int) -> tuple[float, float]:
    """Test-split accuracy of ``model`` over the union of ``folders``: (within each task, over all classes).

    Within a task the logits [N, num_classes] are restricted to that task's own classes.
    """
    from zoo.bench.training import accuracy

    xt, yt, tt, _ = union_dataset(folders, "test")
    offsets = np.cumsum([0] + [len(read_task(f)["classes"]) for f in folders])
    allowed = np.zeros((len(yt), num_classes), dtype=bool)
    for i, t in enumerate(tt):
        allowed[i, offsets[t] : offsets[t + 1]] = True
    return accuracy(model, xt, yt, allowed=allowed), accuracy(model, xt, yt)


def _save_weights(model, out_dir: Path) -> None:
    """``out_dir``/probe.safetensors: the state dict in fp16, written to a temporary name and renamed.

    Two files cannot be replaced in one step, so the old probe.json goes first:
    between this and the caller's new probe.json the folder holds weights without
    a record, which :func:`zoo.networks.load_network` refuses (the weights say in
    their metadata that they need one) with a line saying to rerun
    ``zoo bench train-probe``; never new weights beside an old record. Chosen over
    a checksum in probe.json: nothing to hash on every load, and probe.json files
    written before (the shipped one) need no checksum to stay valid.
    """
    from safetensors.torch import save_file

    from registry.errors import publish

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    tmp = out_dir / ".probe.safetensors.tmp"
    save_file(state, str(tmp), metadata={RECORD_KEY: "probe.json"})
    (out_dir / "probe.json").unlink(missing_ok=True)
    publish(tmp, out_dir / "probe.safetensors")
