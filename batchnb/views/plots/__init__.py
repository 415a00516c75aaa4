"""Figures for monitoring Batch jobs and pools: pure functions, DataFrame in, ``go.Figure`` out.

No widgets and no HTTP here; widgets call these and show the result.

Updating a live figure in place: for a given input *shape* every function returns the same
number of traces, in the same order, with the same keys (each trace's ``uid``, copied to ``meta``
because a FigureWidget replaces uids). Each function documents what "shape" means: e.g.
``timeline_figure`` switches ``go.Scatter`` to ``go.Scattergl`` above its WebGL threshold and to one
``go.Heatmap`` of tasks binned per node and time above ``AGGREGATE_ABOVE`` tasks, and
``utilization_figure`` depends on how many nodes are drawn individually. A widget can therefore
build a new figure on each refresh and copy its trace arrays and title into the ``FigureWidget``
it shows, inside one ``batch_update()``: :func:`update_in_place` does exactly that, and returns
False when the shapes differ so the caller rebuilds the widget instead.
"""

from __future__ import annotations

from batchnb.views.plots.failures import duration_histogram, failure_reasons, failures_by_code
from batchnb.views.plots.heatmap import node_heatmap_figure
from batchnb.views.plots.progress import estimate_eta, progress_figure
from batchnb.views.plots.timeline import timeline_figure
from batchnb.views.plots.update import trace_signature, update_in_place
from batchnb.views.plots.utilization import utilization_figure

__all__ = [
    "duration_histogram",
    "estimate_eta",
    "failure_reasons",
    "failures_by_code",
    "node_heatmap_figure",
    "progress_figure",
    "timeline_figure",
    "trace_signature",
    "update_in_place",
    "utilization_figure",
]
