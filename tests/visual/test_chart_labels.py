"""The recommendation chart's labels (each bar's expected error, each dot's measured error, the title) never
overlap one another, and the oracle line never runs through a label's text (each label is drawn on a box above
it). The demo's chart had the top dot's label over the title and the oracle line."""

from __future__ import annotations

import itertools

import pytest

from zoo.plots import charts

_SAVE = charts.save

DEMO = [  # `zoo demo`'s picks on script-avestan: expected and measured errors, the oracle at 3.0%
    ("expert-generalist-resnet10t", 0.048, 0.030),
    ("expert-scripts-semitic-resnet10t", 0.054, 0.040),
    ("expert-scripts-invented-resnet10t", 0.059, 0.035),
    ("expert-scripts-greek-derived-resnet10t", 0.070, 0.035),
    ("expert-scripts-brahmic-resnet10t", 0.073, 0.048),
]
EDGES = [  # short bars, a dot where the bar's label goes, a dot near or past the bar's end, no dot
    ("a", 0.01, 0.02),
    ("b", 0.30, 0.01),
    ("c", 0.25, 0.40),
    ("d", 0.02, 0.015),
    ("e", 0.20, 0.19),
    ("f", 0.10, None),
]


def _drawn(rows, oracle, tmp_path, monkeypatch):
    figures = []
    save = _SAVE
    monkeypatch.setattr(charts, "save", lambda fig, out, **kw: figures.append(fig) or save(fig, out, **kw))
    picks = [{"model": m, "expected_error": e, "measured_error": x} for m, e, x in rows]
    charts.recommendation_chart(picks, tmp_path / "chart.png", oracle=oracle)
    [fig] = figures
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts]
    return renderer, ax, labels


@pytest.mark.parametrize("rows, oracle", [(DEMO, 0.030), (EDGES, 0.01)], ids=["demo", "edges"])
def test_no_label_overlaps_another_or_the_title(rows, oracle, tmp_path, monkeypatch):
    renderer, ax, labels = _drawn(rows, oracle, tmp_path, monkeypatch)
    assert len(labels) == len(rows) + sum(x is not None for _, _, x in rows)
    boxes = {t.get_text() + f"@{i}": t.get_window_extent(renderer) for i, t in enumerate(labels)}
    boxes["title"] = ax.title.get_window_extent(renderer)
    clashes = [(a, b) for (a, p), (b, q) in itertools.combinations(boxes.items(), 2) if p.overlaps(q)]
    assert not clashes
    axes_box = ax.get_window_extent(renderer)
    outside = [name for name, box in boxes.items() if name != "title" and not axes_box.contains(box.x1, box.y1)]
    assert not outside, "a label runs past the axes"


def test_the_oracle_line_runs_under_the_labels(tmp_path, monkeypatch):
    crossings = 0
    for oracle in (0.030, 0.032, 0.036, 0.041, 0.05):  # the line through the labels, wherever it falls
        renderer, ax, labels = _drawn(DEMO, oracle, tmp_path, monkeypatch)
        [line] = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        x = ax.transData.transform((oracle * 100, 0))[0]
        for label in labels:
            box = label.get_window_extent(renderer)
            if box.x0 <= x <= box.x1:
                crossings += 1
                assert label.get_bbox_patch() is not None and label.get_zorder() > line.get_zorder(), oracle
    assert crossings


@pytest.mark.parametrize("rows, oracle", [(DEMO, 0.030), (EDGES, 0.01)], ids=["demo", "edges"])
def test_no_label_covers_a_measured_dot_and_none_is_white_on_white(rows, oracle, tmp_path, monkeypatch):
    renderer, ax, labels = _drawn(rows, oracle, tmp_path, monkeypatch)
    [dots] = ax.collections
    radius = 4.0 * ax.figure.dpi / 72  # the marker (s=45 points^2) is about 7 points wide
    centres = ax.transData.transform(dots.get_offsets())
    for label in labels:
        box = label.get_window_extent(renderer)
        covered = [c for c in centres if box.x0 - radius < c[0] < box.x1 + radius and box.y0 - radius < c[1] < box.y1]
        assert not covered, f"{label.get_text()!r} covers a measured dot"
        if label.get_color() == "white":  # white text only on its bar
            assert label.get_bbox_patch().get_facecolor()[:3] != (1.0, 1.0, 1.0), label.get_text()
