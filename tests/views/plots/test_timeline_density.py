"""The timeline of a big job: binned per node and time, counts that add up, finer bins on zoom."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from batchnb.data import frames
from batchnb.views import plots
from batchnb.views.plots.timeline import AGGREGATE_ABOVE, TIMELINE_STATES
from tests.data.monitoring_data import synthetic_tasks, task_row

pytestmark = pytest.mark.timeout(120)


def brute_force_counts(tasks: pd.DataFrame, time_edges: np.ndarray, lane_edges: np.ndarray, *,
                       of: pd.DataFrame | None = None) -> np.ndarray:
    """Tasks overlapping each (row, bin), counted one task at a time (the rule the figure documents:
    a task counts in every bin its [start, end) overlaps, a zero-length task in its start bin; a
    running task ends at the latest time in the frame). ``of``: count only these of the tasks."""
    started = tasks[tasks["start_time"].notna()]
    names = sorted(started["node_id"].fillna("(no node)").unique())  # lanes: every node of the job
    if of is not None:
        started = of[of["start_time"].notna()]
    lane_of = {n: i for i, n in enumerate(names)}
    latest = pd.concat([started["end_time"], started["state_time"], started["start_time"]]).max()
    counts = np.zeros((len(lane_edges) - 1, len(time_edges) - 1), dtype=np.int64)
    for node, s, e in zip(started["node_id"].fillna("(no node)"), started["start_time"],
                          started["end_time"].fillna(latest), strict=True):
        lane = lane_of[node]
        row = np.searchsorted(lane_edges, lane, side="right") - 1
        if not 0 <= row < counts.shape[0] or not lane_edges[0] < lane < lane_edges[-1]:
            continue
        s_ns, e_ns = s.value, max(e.value, s.value)
        for b in range(counts.shape[1]):
            lo, hi = time_edges[b], time_edges[b + 1]
            overlaps = s_ns < hi and e_ns > lo if e_ns > s_ns else lo <= s_ns < hi
            counts[row, b] += overlaps
    return counts


def edges(fig) -> tuple[np.ndarray, np.ndarray]:
    trace = fig.data[0]
    return np.asarray(trace.x, dtype="datetime64[ns]").astype(np.int64), np.asarray(trace.y, dtype=float)


def test_binned_counts_equal_the_tasks_in_each_node_and_time_bin():
    tasks = synthetic_tasks(3_000, seed=4, nodes=40)
    fig = plots.timeline_figure(tasks, aggregate_above=0, time_bins=30, max_rows=7)
    assert [(t.type, t.uid) for t in fig.data] == [("heatmap", "timeline-density")]
    time_edges, lane_edges = edges(fig)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (7, 30)  # 40 nodes in 7 rows of 6 (the last one holds 4)
    assert np.array_equal(z, brute_force_counts(tasks, time_edges, lane_edges))
    # Failed tasks per cell ride along for the hover.
    failed = tasks[(frames.display_states(tasks) == "failed").to_numpy()]
    assert np.array_equal(np.asarray(fig.data[0].customdata), brute_force_counts(tasks, time_edges, lane_edges, of=failed))
    assert "binned per 6 nodes and" in fig.layout.title.text and "3,000" not in fig.layout.title.text


def test_bins_count_exact_intervals_on_named_nodes():
    t0 = pd.Timestamp("2024-05-01T08:00:00Z")
    rows = []
    for i, (node, start_s, end_s) in enumerate([("a", 0, 10), ("a", 5, 15), ("b", 20, 30), ("b", 30, 30)]):
        r = task_row(i, node=node)
        r["executionInfo"]["startTime"] = (t0 + pd.Timedelta(seconds=start_s)).isoformat()
        r["executionInfo"]["endTime"] = (t0 + pd.Timedelta(seconds=end_s)).isoformat()
        rows.append(r)
    fig = plots.timeline_figure(frames.tasks_frame(rows), aggregate_above=0, time_bins=3)
    # 0-10 s, 10-20 s, 20-30 s: the first two tasks overlap in the first bin, the second runs into
    # the second; on b, one task in the last bin and a zero-length one at 30 s (the last bin's end).
    assert np.asarray(fig.data[0].z).tolist() == [[2, 1, 0], [0, 0, 1]]
    assert list(fig.layout.yaxis.ticktext) == ["a", "b"]


def test_zoom_gives_finer_bins_over_the_zoomed_range():
    tasks = synthetic_tasks(20_000, seed=5, nodes=300)
    whole = plots.timeline_figure(tasks, aggregate_above=0, time_bins=100, max_rows=50)
    whole_t, whole_y = edges(whole)
    x_range = ("2024-05-01 08:20:00", "2024-05-01 08:23:00")  # as plotly.js sends a date axis range
    zoomed = plots.timeline_figure(tasks, aggregate_above=0, time_bins=100, max_rows=50,
                                   x_range=x_range, y_range=(109.4, 60.2))  # reversed, as the axis is
    t, y = edges(zoomed)
    z = np.asarray(zoomed.data[0].z)
    assert t[0] == pd.Timestamp(x_range[0], tz="UTC").value and t[-1] >= pd.Timestamp(x_range[1], tz="UTC").value
    assert (t[1] - t[0]) * 10 < whole_t[1] - whole_t[0]  # 3 min of a ~1 h job in as many bins
    assert z.shape[1] == 100
    # Lanes 60..109 (those the range touches): one node per row again (the whole view had 6 per row).
    assert y[0] == 59.5 and y[-1] == 109.5 and z.shape[0] == 50
    assert whole_y[1] - whole_y[0] == 6 and y[1] - y[0] == 1
    assert np.array_equal(z, brute_force_counts(tasks, t, y))
    assert list(zoomed.layout.yaxis.range) == [109.5, 59.5]
    # The same range as plotly's numbers for a date axis (ms since the epoch) gives the same bins.
    as_ms = tuple(pd.Timestamp(v, tz="UTC").value / 1e6 for v in x_range)
    same = plots.timeline_figure(tasks, aggregate_above=0, time_bins=100, max_rows=50, x_range=as_ms,
                                 y_range=(109.4, 60.2))
    assert np.array_equal(np.asarray(same.data[0].z), z)


def test_small_jobs_keep_one_bar_per_task_and_big_ones_switch_at_the_threshold():
    small = synthetic_tasks(500, seed=6)
    fig = plots.timeline_figure(small)
    assert [t.uid for t in fig.data] == [f"timeline-{s}" for s in (*TIMELINE_STATES, "retried")]
    assert sum(len(t.x) for t in fig.data) == 3 * int(small["start_time"].notna().sum())  # a bar per task
    big = synthetic_tasks(int(AGGREGATE_ABOVE * 1.2), seed=7)
    assert int(big["start_time"].notna().sum()) > AGGREGATE_ABOVE
    assert [t.uid for t in plots.timeline_figure(big).data] == ["timeline-density"]
    # Zoom ranges do not change a per-task figure (plotly zooms it by itself).
    assert plots.timeline_figure(small, x_range=("2024-05-01 08:20", "2024-05-01 08:21")).to_json() == fig.to_json()


def test_a_timeline_with_no_started_task_is_still_a_figure():
    rows = [task_row(i, "active") for i in range(3)]
    fig = plots.timeline_figure(frames.tasks_frame(rows), aggregate_above=0)
    assert [t.uid for t in fig.data] == [f"timeline-{s}" for s in (*TIMELINE_STATES, "retried")]
    assert "0 tasks" in fig.layout.title.text
