"""Figures: written, non-trivial, readable sizes; orderings keep taxonomy groups together."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from registry.errors import InvalidInput
from zoo import plots

MIN_BYTES = 5_000


def planted_clusters(n_per: int = 8, groups: int = 3, seed: int = 0):
    """[N, N] Euclidean distances of points drawn around ``groups`` far-apart centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, 6)) * 10.0
    member = np.repeat(np.arange(groups), n_per)
    rng.shuffle(member)
    points = centres[member] + rng.normal(size=(len(member), 6))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    return distances, member


def test_heatmap_png_written_with_scaled_size(tmp_path):
    small, _ = planted_clusters(4, 2)
    big, member = planted_clusters(40, 3)
    labels = [f"task_{i}" for i in range(len(big))]
    small_path = plots.distance_heatmap(small, labels[: len(small)], tmp_path / "small.png")
    big_path = plots.distance_heatmap(big, labels, tmp_path / "big", groups=[f"g{m}" for m in member])
    assert big_path.suffix == ".png" and big_path.stat().st_size > MIN_BYTES
    with Image.open(small_path) as a, Image.open(big_path) as b:
        assert b.width > a.width * 1.5 and b.height > a.height * 1.5
        assert min(a.size) >= 600


def test_heatmap_svg_parses_as_xml(tmp_path):
    matrix, _ = planted_clusters(3, 2)
    path = plots.distance_heatmap(
        matrix, [f"<t&{i}>" for i in range(len(matrix))], tmp_path / "h.svg", title='a "title"'
    )
    assert path.stat().st_size > MIN_BYTES
    root = ElementTree.parse(path).getroot()
    assert root.tag.endswith("svg")


def test_heatmap_order_keeps_groups_contiguous_and_clusters_within():
    matrix, member = planted_clusters(6, 3, seed=1)
    # group labels that cut across the planted clusters, to test contiguity on its own
    groups = ["b" if i % 2 else "a" for i in range(len(matrix))]
    order = plots.heatmap_order(matrix, groups=groups)
    assert sorted(order) == list(range(len(matrix)))
    ordered = [groups[i] for i in order]
    assert ordered == sorted(ordered)  # one run per group, in name order
    # within each group the planted clusters come out contiguous
    for name in ("a", "b"):
        runs = [member[i] for i in order if groups[i] == name]
        changes = sum(1 for x, y in zip(runs, runs[1:]) if x != y)
        assert changes == len(set(runs)) - 1


def test_heatmap_order_tasks_without_taxonomy_go_last():
    matrix, _ = planted_clusters(2, 2)
    groups = [None, "z", "a", None]
    order = plots.heatmap_order(matrix, groups=groups, order="given")
    assert list(order) == [2, 1, 0, 3]


def test_cluster_order_recovers_planted_clusters():
    matrix, member = planted_clusters(7, 3, seed=2)
    runs = member[plots.cluster_order(matrix)]
    assert sum(1 for x, y in zip(runs, runs[1:]) if x != y) == 2


def test_heatmap_rejects_bad_input(tmp_path):
    with pytest.raises(InvalidInput, match="square"):
        plots.distance_heatmap(np.zeros((2, 3)), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(InvalidInput, match="one label per row"):
        plots.distance_heatmap(np.zeros((2, 2)), ["a"], tmp_path / "x.png")
    with pytest.raises(InvalidInput, match=r"\.png"):
        plots.distance_heatmap(np.zeros((2, 2)), ["a", "b"], tmp_path / "x.jpeg")
    with pytest.raises(InvalidInput, match="NaN"):
        plots.distance_heatmap(np.full((2, 2), np.nan), ["a", "b"], tmp_path / "x.png")


def test_recommendation_chart_with_and_without_measurements(tmp_path):
    rows = [
        {"model": "resnet18.a", "expected_error": 0.12, "measured_error": 0.10},
        {"model": "convnext.b", "expected_error": 0.20},
    ]
    path = plots.recommendation_chart(rows, tmp_path / "rec.png", oracle=0.08, title="demo")
    assert path.stat().st_size > MIN_BYTES
    with Image.open(path) as image:
        assert image.width >= 800
    from dataclasses import dataclass

    @dataclass
    class Pick:
        model: str
        expected_error: float
        measured_error: float | None = None

    svg = plots.recommendation_chart([Pick("m", 0.3)], tmp_path / "rec.svg")
    text = svg.read_text()
    ElementTree.fromstring(text)
    with pytest.raises(InvalidInput, match="no recommendations"):
        plots.recommendation_chart([], tmp_path / "none.png")


def test_task_map_with_models_and_query(tmp_path):
    matrix, member = planted_clusters(5, 3)
    coords = plots.embed_2d(matrix, method="mds")
    labels = [f"t{i}" for i in range(len(matrix))]
    path = plots.task_map(
        coords,
        labels,
        [f"family/{m}" for m in member],
        tmp_path / "map.png",
        models=(coords[:2] + 0.5, ["m1", "m2"]),
        query=(coords[3], "t3"),
    )
    assert path.stat().st_size > MIN_BYTES
    with Image.open(path) as image:
        assert image.width > 800 and image.height > 600
    with pytest.raises(InvalidInput, match="one label and one group"):
        plots.task_map(coords, labels[:-1], member, tmp_path / "bad.png")


def test_task_map_refuses_models_without_names(tmp_path):
    coords = np.zeros((3, 2))
    with pytest.raises(InvalidInput, match="model names"):
        plots.task_map(coords, ["a", "b", "c"], ["g"] * 3, tmp_path / "m.png", models=(coords, ["only"]))


def test_short_label_keeps_both_ends():
    assert plots.short_label("short") == "short"
    cut = plots.short_label("family_17_task_with_a_very_long_name_042", 20)
    assert len(cut) == 20 and cut.startswith("family_17") and cut.endswith("_042")
