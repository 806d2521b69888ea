"""Figures for people: the task distance heatmap, the task map, the recommendation and selection charts.

Every figure function draws on a bare :class:`matplotlib.figure.Figure` (Agg
canvas, no pyplot state), writes one file and returns its path. The format
follows the suffix of ``out``: ``.png`` (the default when there is no suffix),
``.svg`` or ``.pdf``. Sizes and fonts scale with the number of tasks so a figure
stays readable at a few hundred tasks.

Modules: :mod:`~zoo.plots.canvas` (files, figures, labels, group styles),
:mod:`~zoo.plots.ordering` (checking and ordering distance matrices),
:mod:`~zoo.plots.heatmap` (the distance heatmap), :mod:`~zoo.plots.task_maps`
(the task map), :mod:`~zoo.plots.charts` (recommendation and selection charts),
:mod:`~zoo.plots.layout` (the 2-D layout behind the task map: t-SNE or
classical MDS on a precomputed distance matrix; numpy only).
"""

from __future__ import annotations

from zoo.plots.canvas import FORMATS, NO_GROUP, figure_path, short_label
from zoo.plots.charts import recommendation_chart, selection_chart
from zoo.plots.heatmap import distance_heatmap
from zoo.plots.layout import classical_mds, embed_2d, tsne, tsne_affinities, tsne_gradient
from zoo.plots.ordering import cluster_order, heatmap_order
from zoo.plots.task_maps import task_map

__all__ = [
    "FORMATS",
    "NO_GROUP",
    "classical_mds",
    "cluster_order",
    "distance_heatmap",
    "embed_2d",
    "figure_path",
    "heatmap_order",
    "recommendation_chart",
    "selection_chart",
    "short_label",
    "task_map",
    "tsne",
    "tsne_affinities",
    "tsne_gradient",
]
