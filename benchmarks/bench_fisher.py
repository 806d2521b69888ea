"""Fisher estimators: throughput, peak memory and quality at equal wall time.

    python benchmarks/bench_fisher.py                          # ResNet-18, 224 px, 1,000 images
    python benchmarks/bench_fisher.py --size 64 --images 200   # a quick CPU run

Prints a table and asserts nothing on time. Estimators, all on the same probe,
head and image tensors:

  (a) exact     exact per-example squared gradients (zoo.embedding.fisher, hooks)
  (b) minibatch the reference code's squared gradient of a mean-reduced mini-batch loss
  (c) naive     one example at a time through autograd (the tests' slow twin,
                tests/embedding/reference.py: run this script from a checkout)
  (d) variational the robust Fisher (zoo.embedding.variational), its default schedule

Quality at equal wall time: each estimator runs for the wall time (a) needs for one
pass over the images (cycling with fresh label samples if it is faster), and we
report d_sym to a long-run reference, the *expected* Fisher (exact expectation
over all classes) on every image. For (d) we report d_sym(Lambda, F_ref / (2 beta) + t0),
the optimum it tends to (METHOD section 4), at the time of its default schedule. Peak memory of embedding
``--memory-images``
images end to end (``zoo.embedding.task2vec.embed``) is measured in a child process.

No pretrained weights are downloaded: the probe is a random-init ResNet-18 whose
BatchNorm statistics are set by a few passes over the synthetic images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def synthetic(n: int, classes: int, size: int, seed: int = 0):
    """A Dataset of n PIL images, class-dependent stripes plus noise, 10 classes by default."""
    import numpy as np
    import torch
    from PIL import Image

    class Stripes(torch.utils.data.Dataset):
        def __init__(self):
            self.targets = [i % classes for i in range(n)]
            self.classes = [str(c) for c in range(classes)]

        def __len__(self):
            return n

        def __getitem__(self, i):
            rng = np.random.default_rng(seed * 1_000_003 + i)
            c = self.targets[i]
            grid = np.indices((size, size)).sum(0) if c % 2 else np.indices((size, size))[0]
            base = 127 + 100 * np.sin(grid * (c + 1) * np.pi / size)[..., None] * np.eye(3)[c % 3]
            img = np.clip(base + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            return Image.fromarray(img), c

    return Stripes()


def build_probe(arch: str, size: int, device):
    import timm
    import torch

    from zoo.embedding.probe import resolve_probe

    torch.manual_seed(0)
    model = timm.create_model(arch, num_classes=10)
    model.pretrained_cfg = {**model.pretrained_cfg, "input_size": (3, size, size), "crop_pct": 1.0}
    model.to(device).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 3, size, size, device=device))
    return resolve_probe(model.eval(), allow_random=True)


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def minibatch_squared(probe, head, batches, seed: int, budget: float | None = None):
    """(b): per batch, grad of the mean CE at sampled labels, squared, filter-averaged, summed."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    weights = [m.weight for _, m in probe.layers]
    for w in weights:
        w.requires_grad_(True)
    totals = [torch.zeros(w.shape[0], dtype=torch.float64, device=w.device) for w in weights]
    gen = torch.Generator().manual_seed(seed)
    count, started = 0, time.perf_counter()
    try:
        while True:
            for images in batches:
                logits = head(probe.features(images))
                probs = torch.softmax(logits.detach().double(), 1).cpu()
                y = torch.multinomial(probs, 1, generator=gen)[:, 0].to(images.device)
                grads = torch.autograd.grad(F.cross_entropy(logits, y), weights)
                for t, g in zip(totals, grads):
                    t += (g.double() ** 2).flatten(1).mean(1)
                count += 1
                if budget is not None and time.perf_counter() - started >= budget:
                    break
            if budget is None or time.perf_counter() - started >= budget:
                break
    finally:
        for w in weights:
            w.requires_grad_(False)
    return np.concatenate([(t / count).cpu().numpy() for t in totals])


def exact_budgeted(probe, head, batches, seed: int, budget: float | None = None):
    """(a) for a wall-time budget: batch by batch, cycling over the images with fresh labels, the clock checked
    between batches, until the budget is spent (at least one batch); (estimate, images, seconds spent)."""

    from zoo.embedding.fisher import fisher_diagonal

    started, total, images_done, drawn = time.perf_counter(), None, 0, 0
    while True:
        for images in batches:
            f, _ = fisher_diagonal(probe, head, [images], seed=seed + drawn)
            drawn += 1
            total = f * images.shape[0] if total is None else total + f * images.shape[0]
            images_done += images.shape[0]
            if budget is None or time.perf_counter() - started >= budget:
                break
        if budget is None or time.perf_counter() - started >= budget:
            break
    return total / images_done, images_done, time.perf_counter() - started


def naive_budgeted(probe, head, images, labels, budget: float | None = None):
    """(c): one example at a time, until the budget is spent (at least one example).

    The per-example loop is the tests' slow twin; it lives under tests/, so the checkout's root goes on the path.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.embedding.reference import fisher_diagonal_reference

    started, parts, n = time.perf_counter(), None, 0
    for i in range(images.shape[0]):
        f = fisher_diagonal_reference(probe, head, images[i : i + 1], labels=labels[i : i + 1])
        parts = f if parts is None else parts + f
        n += 1
        if budget is not None and time.perf_counter() - started >= budget:
            break
    return parts / n, n


def peak_memory_child(args) -> dict:
    """Embed ``--memory-images`` images end to end in this process; report peak memory."""
    import torch

    from zoo.embedding.task2vec import embed

    device = torch.device(args.device)
    probe = build_probe(args.arch, args.size, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    e = embed(
        synthetic(args.memory_images, 10, 64, seed=7), probe, progress=False, batch_size=args.batch, device=str(device)
    )
    out = {
        "images": args.memory_images,
        "seconds": round(time.perf_counter() - started, 1),
        "host_peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "length": int(e.vector.shape[0]),
    }
    if device.type == "cuda":
        out["gpu_peak_allocated_gb"] = torch.cuda.max_memory_allocated() / 1024**3
    return out


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=224, help="input size in pixels")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--naive-images", type=int, default=64, help="images timed for (c)")
    parser.add_argument("--memory-images", type=int, default=10000, help="0 skips the peak-memory check")
    parser.add_argument("--device", default="cuda" if _cuda() else "cpu")
    parser.add_argument("--profile", action="store_true", help="profile (a) and (b) kernels, then stop")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _prepare(args, device):
    """(probe, head, image batches on ``device``, labels [N]): synthetic images, a fitted head."""
    import torch

    from zoo.batches import tensor_batches
    from zoo.embedding.head import fit_head

    probe = build_probe(args.arch, args.size, device)
    data = synthetic(args.images, args.classes, 64)
    t = time.perf_counter()
    batches, labels = [], []
    for x, y in tensor_batches(data, probe.model, batch_size=args.batch):
        batches.append(x.to(device))
        labels.append(y)
    labels = torch.cat(labels).numpy()
    print(f"# images decoded and transformed in {time.perf_counter() - t:.1f} s")
    with torch.no_grad():
        feats = torch.cat([probe.features(b) for b in batches]).float().cpu().numpy()
    head, stats = fit_head(feats, labels, args.classes)
    print(
        f"# head: train accuracy {stats['train_accuracy']:.2f}, loss {stats['train_loss']:.3f}; "
        f"embedding length {probe.info.embedding_length}"
    )
    return probe, head.to(device), batches, labels


def _timed(fn, device):
    """(fn(), seconds, GPU peak GB or NaN)."""
    import torch

    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    sync(device)
    peak = torch.cuda.max_memory_allocated() / 1024**3 if device.type == "cuda" else float("nan")
    return out, time.perf_counter() - start, peak


def _compare(args, probe, head, batches, labels, device) -> None:
    """Throughput and peak memory of (a)-(d), then their quality at (a)'s wall time; prints the table."""
    import torch

    from zoo.embedding.distance import d_sym
    from zoo.embedding.fisher import fisher_diagonal
    from zoo.embedding.probe import BETA
    from zoo.embedding.variational import variational_fisher

    minibatch_squared(probe, head, batches[:1], 0)
    n = args.images
    exact, t_a, m_a = _timed(lambda: fisher_diagonal(probe, head, batches, seed=1)[0], device)
    mini, t_b, m_b = _timed(lambda: minibatch_squared(probe, head, batches, 1), device)
    all_images = torch.cat(batches)
    k = min(args.naive_images, n)
    drawn = fisher_diagonal(probe, head, batches, seed=1)[1].numpy()  # labels sampled from the model, as (a)'s
    (naive, _), t_c, m_c = _timed(lambda: naive_budgeted(probe, head, all_images[:k], drawn[:k]), device)
    (lam, prior, info), t_d, m_d = _timed(lambda: variational_fisher(probe, head, lambda: batches, labels), device)
    d_images = info["steps"] * n / len(batches)  # image passes of its default schedule
    reference, t_ref, _ = _timed(lambda: fisher_diagonal(probe, head, batches, method="expected")[0], device)

    budget = t_a
    q_a, k_a, s_a = exact_budgeted(probe, head, batches, 11, budget)
    q_b = minibatch_squared(probe, head, batches, 11, budget)
    # (c) is (a)'s estimator one example at a time, so its labels are drawn from the model, as (a) draws them
    _, sampled = fisher_diagonal(probe, head, batches, seed=11)
    q_c, k_c = naive_budgeted(probe, head, all_images, sampled.numpy(), budget)
    rows = [
        ("(a) exact per-example", n / t_a, m_a, d_sym(q_a, reference)),
        ("(b) squared mini-batch", n / t_b, m_b, d_sym(q_b, reference)),
        ("(c) naive loop", k / t_c, m_c, d_sym(q_c, reference)),
        (f"(d) variational ({info['steps']} steps)", d_images / t_d, m_d, d_sym(lam, reference / (2 * BETA) + prior)),
    ]
    print(f"\nreference: expected Fisher over all {args.classes} classes on {n} images, {t_ref:.1f} s")
    print(
        f"quality budget: {budget:.2f} s each ((a)'s one pass; batch by batch it read {k_a} images in "
        f"{s_a:.2f} s); (c) got through {k_c} images in it; "
        f"(d) is its default schedule ({t_d:.2f} s, quality: d_sym(Lambda, F_ref / 2 beta + t0), its optimum)\n"
    )
    print("| estimator | images/s | GPU peak GB | d_sym to reference at equal time |")
    print("| --- | ---: | ---: | ---: |")
    for label, rate, peak, dist in rows:
        print(f"| {label} | {rate:.1f} | {peak:.2f} | {dist:.4f} |")
    print(
        f"\n(a)/(b) throughput {rows[0][1] / rows[1][1]:.2f}x (target >= 0.7); "
        f"(a)/(c) {rows[0][1] / rows[2][1]:.1f}x (target >= 10); "
        f"(a)/(b) distance {rows[0][3] / max(rows[1][3], 1e-12):.2f} (target <= 0.5)"
    )
    print(
        f"exact vs its own reference at full data: d_sym = {d_sym(exact, reference):.4f}; "
        f"minibatch full pass: {d_sym(mini, reference):.4f}"
    )


def _device_consistency(probe, head, batches) -> None:
    """The same estimate on the GPU and the CPU, same labels."""
    import numpy as np

    from zoo.embedding.distance import d_sym
    from zoo.embedding.fisher import fisher_diagonal

    on_gpu = fisher_diagonal(probe, head, batches[:1], seed=5)[0]
    probe.model.cpu()
    on_cpu = fisher_diagonal(probe, head.cpu(), [batches[0].cpu()], seed=5)[0]
    rel = np.abs(on_gpu - on_cpu).max() / np.abs(on_cpu).max()
    print(f"GPU vs CPU exact Fisher on one batch: max |diff| / max = {rel:.2e}, d_sym = {d_sym(on_gpu, on_cpu):.2e}")


def _peak_memory(args) -> None:
    """Embed ``--memory-images`` images end to end in a child process and print its peak memory."""
    cmd = [
        sys.executable,
        __file__,
        "--memory-child",
        "--arch",
        args.arch,
        "--size",
        str(args.size),
        "--batch",
        str(args.batch),
        "--memory-images",
        str(args.memory_images),
        "--device",
        args.device,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        print(f"peak-memory child failed: {result.stderr.strip().splitlines()[-1:]}")
    else:
        print(f"\nend to end, {args.memory_images} images: {result.stdout.strip()}")


def main() -> None:
    args = _parse_args()
    if args.memory_child:
        print(json.dumps(peak_memory_child(args)))
        return
    import torch

    from zoo.embedding.fisher import _TUNED, fisher_diagonal

    device = torch.device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"# {args.arch}, {args.size} px, {args.images} images, {args.classes} classes, batch {args.batch}, {name}")
    probe, head, batches, labels = _prepare(args, device)
    fisher_diagonal(probe, head, [batches[0], batches[-1]])  # warm-up (kernels, allocator, form timing on GPUs)
    if _TUNED:
        chosen = list(_TUNED.values())
        print(
            "# per-example forms chosen on this GPU: "
            + ", ".join(f"{p} x{chosen.count(p)}" for p in sorted(set(chosen)))
        )
    if args.profile:
        profile(probe, head, batches[:4], device)
        return
    _compare(args, probe, head, batches, labels, device)
    if device.type == "cuda":
        _device_consistency(probe, head, batches)
    if args.memory_images:
        _peak_memory(args)


def profile(probe, head, batches, device) -> None:
    """Top kernels of (a) and (b), and (a)'s time split, on a few batches."""
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from zoo.embedding.fisher import fisher_diagonal

    def clock(label, fn, repeat=3):
        fn()
        sync(device)
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        sync(device)
        n = sum(b.shape[0] for b in batches) * repeat
        print(f"{label}: {n / (time.perf_counter() - start):.0f} images/s")

    def plain_backward():
        for images in batches:
            x = images.requires_grad_(True)
            logits = head(probe.features(x))
            logits.backward(torch.ones_like(logits))

    clock("(a) exact", lambda: fisher_diagonal(probe, head, batches))
    clock("(b) minibatch", lambda: minibatch_squared(probe, head, batches, 0))
    clock("forward+backward, no hooks", plain_backward)
    torch.backends.cuda.matmul.allow_tf32 = True
    clock("(a) exact, TF32 matmuls", lambda: fisher_diagonal(probe, head, batches))
    torch.backends.cuda.matmul.allow_tf32 = False
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        fisher_diagonal(probe, head, batches)
        sync(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=60))


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    main()
