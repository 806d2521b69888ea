"""The ground truth: transfer error of a model on a task, under one fixed protocol.

Protocol ``PROTOCOL`` (docs/METHOD.md section 7), recorded with every result:

1. Features: the model's pooled pre-logits
   (``forward_head(forward_features(x), pre_logits=True)``), frozen, eval mode,
   on images resized to the model's input size and normalised with its mean/std.
2. Training split: ``shots`` (3) images per class drawn from the task's train split
   (seeded by the task name, so every model sees the same images). Few shots is
   the regime where the choice of expert matters (with 20+ per class any decent
   extractor solves a glyph task and the ranking becomes noise; fewer shots put
   more tasks' best error in the informative middle range).
3. Classifier: features standardised with the training mean/std, then
   multinomial logistic regression, mean cross-entropy + ``l2``/2 ||W||^2
   (bias free), fitted to optimum by L-BFGS (convex: the optimum is unique, so
   the result does not depend on the solver; the tests compare it
   against a slow gradient-descent twin).
4. Metric: top-1 error on the task's whole test split.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

#: the protocol's name fixes its parameters (ProtocolParams); a change of parameters gets a new name
PROTOCOL = "linear-probe-3shot"


@dataclass(frozen=True)
class ProtocolParams:
    """Hyper-parameters of the transfer protocol (stored with each result)."""

    shots: int = 3
    l2: float = 0.05
    max_iter: int = 300
    seed: int = 0
    version: int = 2

    def as_dict(self) -> dict:
        return asdict(self)


def sample_shots(labels: np.ndarray, shots: int, *, key: str, seed: int = 0) -> np.ndarray:
    """Indices of ``shots`` examples per class (all of a class if it has fewer), sorted.

    Deterministic in (labels, shots, key, seed): every model evaluated on a task
    gets the same training images.
    """
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    chosen = []
    for cls in np.unique(labels):
        rows = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(rows, size=min(shots, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen))


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both [N, D] arrays by the train mean/std (constant features -> std 1)."""
    mean = train.mean(0, keepdims=True)
    std = train.std(0, keepdims=True)
    std[std < 1e-6] = 1.0
    return (train - mean) / std, (test - mean) / std


def fit_logistic(
    x: np.ndarray, y: np.ndarray, num_classes: int, *, l2: float, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by L-BFGS: (W [C, D], b [C]).

    Minimises mean_i CE(W x_i + b, y_i) + l2/2 ||W||^2 in float64. With fewer
    examples than features (the few-shot case) the optimum W lies in the row
    space of x (the gradient of every term does), so the problem is solved
    exactly in that N-dimensional space (x = U S V^T, W = W' V^T): same optimum,
    same conditioning, D/N times fewer parameters.
    """
    import torch

    x = np.asarray(x, dtype=np.float64)
    basis = None
    if x.shape[0] < x.shape[1]:
        u, s, vt = np.linalg.svd(x, full_matrices=False)
        x, basis = u * s, vt  # [N, N] coordinates, [N, D] orthonormal rows
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    w = torch.zeros(num_classes, xt.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w.T + b, yt) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    weights = w.detach().numpy()
    return (weights @ basis if basis is not None else weights), b.detach().numpy()


def transfer_error(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    params: ProtocolParams = ProtocolParams(),
) -> float:
    """Test error of the protocol's linear classifier; features [N, D], labels [N]."""
    x_train, x_test = standardise(np.asarray(train_features, np.float64), np.asarray(test_features, np.float64))
    num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    w, b = fit_logistic(x_train, train_labels, num_classes, l2=params.l2, max_iter=params.max_iter)
    predictions = (x_test @ w.T + b).argmax(1)
    return float((predictions != test_labels).mean())


def model_features(
    model,
    images: np.ndarray,
    *,
    mean,
    std,
    size: int,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = False,
) -> np.ndarray:
    """Frozen pooled pre-logits [N, D] of uint8 images [N, H, W, 3], as a float32 array on the CPU.

    The forward pass runs on ``device`` (where ``model`` must already be); the
    features come back to the CPU, so everything after them is the same on any device.
    ``progress``: a bar over the images.
    """
    import torch
    from tqdm.auto import tqdm

    model.eval()
    out = []
    with torch.no_grad(), tqdm(total=len(images), desc="features", unit="img", disable=not progress) as bar:
        for start in range(0, len(images), batch_size):
            x = images_to_tensor(images[start : start + batch_size], mean, std, size=size).to(device)
            out.append(model.forward_head(model.forward_features(x), pre_logits=True).float().cpu().numpy())
            bar.update(x.shape[0])
    return np.concatenate(out)


def images_to_tensor(images: np.ndarray, mean, std, size: int | None = None):
    """uint8 [N, H, W, 3] -> normalised float tensor [N, 3, S, S] (antialiased bilinear resize)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def evaluate_arrays(
    model,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    key: str,
    mean,
    std,
    size: int,
    params: ProtocolParams = ProtocolParams(),
    device: str = "cpu",
    progress: bool = False,
) -> dict:
    """The protocol end to end on uint8 image arrays: {error, train_size, test_size}.

    ``train``/``test`` are (images [N, H, W, 3], labels [N]); ``key`` (the task
    name) seeds the choice of shots. ``device`` (``auto``, ``cpu``, ``cuda``) runs
    the feature pass there (the model is moved to it); the linear probe always
    runs on the CPU in float64.
    """
    from zoo.networks import resolve_device

    device = resolve_device(device)
    model.to(device)
    shots = sample_shots(train[1], params.shots, key=key, seed=params.seed)
    train_features = model_features(model, train[0][shots], mean=mean, std=std, size=size, device=device)
    test_features = model_features(
        model, test[0], mean=mean, std=std, size=size, device=device, progress=progress
    )  # the test split is the bulk of the pass
    error = transfer_error(train_features, train[1][shots], test_features, test[1], params)
    return {"error": error, "train_size": int(len(shots)), "test_size": int(len(test[1]))}
