"""Zooming the binned timeline of a big job in the monitor re-bins it for the zoomed range.

The zoom arrives as the frontend sends it: a relayout message on the FigureWidget
(``_js2py_relayout``, what plotly.js's zoom box or a double click produce), handled in the kernel
with no browser. The frame is synthetic (no HTTP needed for the view); the watcher is a real one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchnb.data.watch import JobWatcher, RefreshStats
from batchnb.views import plots
from batchnb.views.plots.timeline import AGGREGATE_ABOVE
from batchnb.views.widgets import JobMonitor
from tests.data.monitoring_data import synthetic_tasks

pytestmark = pytest.mark.timeout(180)


def frontend_relayout(widget, data: dict) -> None:
    """What plotly's widget frontend sends after a zoom, pan or double click."""
    widget._handler_js2py_relayout({"new": {"relayout_data": data, "source_view_id": "view-under-test"}})


def bin_width_ns(widget) -> int:
    x = np.asarray(widget.data[0].x, dtype="datetime64[ns]").astype(np.int64)
    return int(x[1] - x[0])


def big_job_watcher(batch_client, tasks: pd.DataFrame) -> JobWatcher:
    watcher = JobWatcher(batch_client, "synthetic-zoom")
    watcher.tasks = tasks
    c = tasks["state"].value_counts()
    watcher.counts = {"active": int(c["active"]), "running": int(c["running"]), "completed": int(c["completed"]),
                      "succeeded": int(c["completed"]), "failed": 0}
    watcher.history.append({"taskCounts": watcher.counts})
    watcher.last_stats = RefreshStats(rows=len(tasks), changed_ids=list(tasks.index[:10]), full=True)
    watcher.updated_at = watcher.history.frame.index[-1].to_pydatetime()
    return watcher


def test_zoom_rebins_the_timeline_and_a_double_click_brings_the_whole_job_back(batch_client) -> None:
    tasks = synthetic_tasks(int(AGGREGATE_ABOVE / 0.85), seed=11)
    view = JobMonitor(big_job_watcher(batch_client, tasks), autostart=False)
    try:
        view.tabs.selected_index = 1  # the timeline
        figure = view._figures["timeline"]
        widget = figure.widget
        assert [t.type for t in widget.data] == ["heatmap"]
        whole = bin_width_ns(widget)
        whole_z = np.asarray(widget.data[0].z).copy()

        a, b = "2024-05-01 08:30:00", "2024-05-01 08:33:00"
        frontend_relayout(widget, {"xaxis.range[0]": a, "xaxis.range[1]": b, "xaxis.autorange": False})
        assert figure.widget is widget  # re-binned in place: no new widget, the user's zoom kept
        x = np.asarray(widget.data[0].x, dtype="datetime64[ns]").astype(np.int64)
        assert x[0] == pd.Timestamp(a, tz="UTC").value and x[-1] >= pd.Timestamp(b, tz="UTC").value
        assert bin_width_ns(widget) * 10 < whole
        expected = plots.timeline_figure(tasks, x_range=(a, b))
        assert np.array_equal(np.asarray(widget.data[0].z), np.asarray(expected.data[0].z))
        assert list(widget.layout.xaxis.range) == [a, b]

        # Zoom on the nodes too: rows of one node each over the lanes in view.
        frontend_relayout(widget, {"yaxis.range[0]": 40.2, "yaxis.range[1]": 10.7, "yaxis.autorange": False})
        y = np.asarray(widget.data[0].y, dtype=float)
        assert y[0] == 10.5 and y[-1] == 40.5 and np.all(np.diff(y) == 1)

        # A refresh while zoomed keeps the zoomed bins.
        view._stale.add("timeline")
        view._draw_figures(final=True)
        assert bin_width_ns(widget) * 10 < whole

        # Double click: autorange on both axes, the whole job binned again.
        frontend_relayout(widget, {"xaxis.autorange": True, "yaxis.autorange": True})
        assert figure.view == (None, None)
        assert bin_width_ns(widget) == whole
        assert np.array_equal(np.asarray(widget.data[0].z), whole_z)
    finally:
        view.close()


def test_zooming_a_per_task_timeline_rebuilds_nothing(batch_client) -> None:
    view = JobMonitor(big_job_watcher(batch_client, synthetic_tasks(2_000, seed=12)), autostart=False)
    try:
        view.tabs.selected_index = 1
        figure = view._figures["timeline"]
        drawn_at = figure.updated_at
        assert {t.type for t in figure.widget.data} == {"scatter"}
        frontend_relayout(figure.widget, {"xaxis.range[0]": "2024-05-01 08:30", "xaxis.range[1]": "2024-05-01 08:31"})
        assert figure.updated_at == drawn_at  # plotly.js zooms bars by itself
    finally:
        view.close()
