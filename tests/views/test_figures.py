"""Figures: pure, fast on big synthetic frames, few traces, hover that says what a user needs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from batchnb.data import frames
from batchnb.views import plots
from batchnb.views.plots._style import NODE_CATEGORIES
from batchnb.views.plots.heatmap import node_categories
from tests.data.monitoring_data import synthetic_nodes, synthetic_tasks, task_row

pytestmark = pytest.mark.timeout(120)
UTC = dt.UTC


def history(points: list[tuple[int, int, int, int]], step_s: int = 10) -> pd.DataFrame:
    """CountsHistory frame from (active, running, succeeded, failed) per sample."""
    h = frames.CountsHistory()
    t0 = dt.datetime(2024, 5, 1, 8, tzinfo=UTC)
    for k, (a, r, s, f) in enumerate(points):
        h.append({"active": a, "running": r, "completed": s + f, "succeeded": s, "failed": f},
                 t0 + dt.timedelta(seconds=step_s * k))  # fmt: skip
    return h.frame


# ----------------------------------------------------------------------------------- progress


def test_eta_from_completion_rate():
    # 10 tasks completed per 10 s, i.e. 1 per second.
    h = history([(1000 - 10 * k - 10, 10, 10 * k, 0) for k in range(10)])
    assert plots.estimate_eta(h) == dt.timedelta(seconds=910)  # 1000 total - 90 done
    assert plots.estimate_eta(h, total=2000) == dt.timedelta(seconds=1910)


def test_eta_uses_the_recent_window_not_the_whole_run():
    # Slow start (1 task / 10 s for an hour), then 100 tasks / 10 s: the ETA follows the recent rate.
    slow = [(10_000, 0, k, 0) for k in range(360)]
    fast = [(10_000, 0, 360 + 100 * k, 0) for k in range(1, 61)]
    eta = plots.estimate_eta(history(slow + fast))
    remaining = 10_000  # active
    assert eta.total_seconds() == pytest.approx(remaining / 10, rel=0.01)


def test_eta_unknown_or_zero():
    assert plots.estimate_eta(frames.CountsHistory().frame) is None
    assert plots.estimate_eta(history([(10, 0, 0, 0)])) is None  # one sample
    assert plots.estimate_eta(history([(10, 0, 0, 0), (10, 0, 0, 0)])) is None  # no progress yet
    assert plots.estimate_eta(history([(0, 0, 9, 1)])) == dt.timedelta(0)


def test_progress_figure_stacks_states_and_titles_counts_and_eta():
    fig = plots.progress_figure(history([(100 - 10 * k, 0, 10 * k, 0) for k in range(6)]))
    assert [t.uid for t in fig.data] == ["progress-succeeded", "progress-failed", "progress-running", "progress-active"]
    assert all(t.stackgroup == "tasks" for t in fig.data)
    assert list(fig.data[0].y) == [0, 10, 20, 30, 40, 50]
    title = fig.layout.title.text
    assert "50 / 100 done" in title and "ETA 50 s" in title
    empty = plots.progress_figure(frames.CountsHistory().frame)
    assert len(empty.data) == 4 and "No task counts" in empty.layout.title.text


# ----------------------------------------------------------------------------------- timeline


def test_timeline_of_100k_tasks_uses_webgl_one_trace_per_state(tasks_100k):
    fig = plots.timeline_figure(tasks_100k, aggregate_above=100_000)
    assert [(t.type, t.uid) for t in fig.data] == [("scattergl", f"timeline-{s}")
                                                   for s in (*plots.timeline.TIMELINE_STATES, "retried")]
    started = int(tasks_100k["start_time"].notna().sum())
    assert sum(len(t.x) for t in fig.data) == 3 * started  # start, end, gap per task; no shapes
    assert not fig.layout.shapes
    failed = fig.data[plots.timeline.TIMELINE_STATES.index("failed")]
    task_id = failed.text[0].split("<br>")[0]
    assert tasks_100k.loc[task_id, "failure_code"] == "FailureExitCode"
    assert f"exit {tasks_100k.loc[task_id, 'exit_code']}" in failed.text[0] and " s" in failed.text[0]


def test_small_timeline_is_svg_with_labelled_lanes_and_parallel_tasks_side_by_side():
    rows = [task_row(i, node="tvm-a") for i in range(3)] + [task_row(10, "running", node="tvm-b")]
    fig = plots.timeline_figure(frames.tasks_frame(rows))
    assert {t.type for t in fig.data} == {"scatter"}
    assert list(fig.layout.yaxis.ticktext) == ["tvm-a", "tvm-b"]
    succeeded = fig.data[plots.timeline.TIMELINE_STATES.index("succeeded")]
    lanes = {round(y, 3) for y in succeeded.y if not np.isnan(y)}
    assert len(lanes) == 3  # three overlapping tasks on one node get three sub-lanes
    running = fig.data[plots.timeline.TIMELINE_STATES.index("running")]
    assert running.text[0].endswith("+")  # still running


# ------------------------------------------------------------------------------------ heatmap


def test_heatmap_of_10k_nodes_is_one_trace_with_hover():
    nodes = synthetic_nodes(10_000)
    fig = plots.node_heatmap_figure(nodes, task_slots_per_node=4)
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    z = np.asarray(fig.data[0].z)
    assert z.shape == (100, 100)
    assert fig.data[0].text[0][0].startswith(f"<b>{nodes.index[0]}</b>")
    assert "slots" in fig.data[0].text[0][0]
    assert list(fig.layout.yaxis.autorange and [1]) == [1]
    assert len(fig.data[0].colorbar.ticktext) == len(NODE_CATEGORIES)


def test_heatmap_categories_follow_state_and_slot_usage():
    rows = [
        {"id": "a", "state": "idle"},
        {"id": "b", "state": "running", "runningTaskSlotsCount": 1},
        {"id": "c", "state": "running", "runningTaskSlotsCount": 2},
        {"id": "d", "state": "running", "runningTaskSlotsCount": 3},
        {"id": "e", "state": "running", "runningTaskSlotsCount": 4},
        {"id": "f", "state": "waitingforstarttask"},
        {"id": "g", "state": "starttaskfailed"},
        {"id": "h", "state": "preempted"},
        {"id": "i", "state": "offline"},
        {"id": "j", "state": "leavingpool"},
        {"id": "k", "state": "reimaging"},
        {"id": "l", "state": "unusable"},
        {"id": "m", "state": "running", "runningTasksCount": 1},  # no slot count: falls back to tasks
    ]
    nodes = frames.nodes_frame(rows)
    labels = [NODE_CATEGORIES[int(c)] for c in node_categories(nodes, task_slots_per_node=4)]
    assert labels == [
        "idle", "running ≤25 %", "running ≤50 %", "running ≤75 %", "running 100 %", "starting",
        "start task failed", "preempted", "offline", "leaving pool", "rebooting / reimaging", "unusable",
        "running ≤25 %",
    ]  # fmt: skip
    fig = plots.node_heatmap_figure(nodes, task_slots_per_node=4)
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z.shape == (4, 4) and np.isnan(z.ravel()[13:]).all()  # padding cells are blank
    assert "13 nodes" in fig.layout.title.text


# -------------------------------------------------------------------------------- utilization


def util_frame(nodes: int, samples: int) -> pd.DataFrame:
    t0 = pd.Timestamp("2024-05-01T08:00:00Z")
    lines = [
        {"t": (t0 + pd.Timedelta(seconds=5 * s + 0.01 * n)).isoformat(), "node": f"n{n:03d}", "cpu": float(n % 100),
         "mem": 40.0, "disk": 10.0, "rx": 0.0, "tx": 0.0, "gpu": None}
        for s in range(samples) for n in range(nodes)
    ]  # fmt: skip
    return frames.utilization_frame(lines)


def test_utilization_pool_mean_per_node_lines_and_the_rest_summarised():
    fig = plots.utilization_figure(util_frame(25, 12), max_nodes=5)
    uids = [t.uid for t in fig.data]
    per_metric = ["mean", *[f"node-{i}" for i in range(5)], "others"]
    assert uids == [f"util-cpu-{u}" for u in per_metric] + [f"util-mem-{u}" for u in per_metric]
    mean = fig.data[0]
    assert len(mean.x) == 12 and mean.y[0] == pytest.approx(np.mean(range(25)))  # nodes aligned on 5 s bins
    assert fig.data[1].name == "n000" and fig.data[6].name == "other 20 nodes (mean)"
    small = plots.utilization_figure(util_frame(3, 4), max_nodes=5)
    assert len(small.data) == 2 * (1 + 3)
    assert len(plots.utilization_figure(util_frame(3, 4), per_node=False).data) == 2
    assert len(plots.utilization_figure(frames.utilization_frame([])).data) == 2


# ----------------------------------------------------------------------------------- failures


def test_duration_histogram_and_failures_by_code(tasks_100k):
    hist = plots.duration_histogram(tasks_100k)
    bars = plots.failures_by_code(tasks_100k)
    assert [t.uid for t in hist.data] == ["duration-succeeded", "duration-failed"]
    done = tasks_100k["duration"].notna().sum()
    assert sum(int(np.sum(t.y)) for t in hist.data) == done
    failed = int((frames.display_states(tasks_100k) == "failed").sum())
    assert len(bars.data) == 1 and int(np.sum(bars.data[0].x)) == failed
    assert set(bars.data[0].y) == {"exit code 1", "exit code 2", "exit code 3"}
    assert f"{failed:,} failed tasks" in bars.layout.title.text


def test_failures_by_code_names_preprocessing_failures_and_caps_reasons():
    rows = []
    for i in range(30):
        r = task_row(i, exit_code=0)
        del r["executionInfo"]["exitCode"]
        r["executionInfo"]["result"] = "failure"
        r["executionInfo"]["failureInfo"] = {"category": "usererror", "code": f"Code{i}", "message": f"m{i}"}
        rows.append(r)
    fig = plots.failures_by_code(frames.tasks_frame(rows), top=5)
    assert list(fig.data[0].y)[-1] == "other" and fig.data[0].x[-1] == 26
    assert list(fig.data[0].customdata[:1]) == ["m0"]
    assert "No failed tasks" in plots.failures_by_code(frames.empty_tasks_frame()).layout.title.text
    assert len(plots.duration_histogram(frames.empty_tasks_frame()).data) == 2


# -------------------------------------------------------------------------------- in-place update


def test_a_refreshed_figure_copies_into_the_shown_one():
    tasks = synthetic_tasks(5_000, seed=1)
    shown = go.FigureWidget(plots.timeline_figure(tasks))
    newer = tasks.copy()
    newer.loc[newer.index[:100], "state"] = "completed"
    fresh = plots.timeline_figure(newer)
    assert plots.trace_signature(shown) == plots.trace_signature(fresh)
    assert plots.update_in_place(shown, fresh)
    assert [len(t.x) for t in shown.data] == [len(t.x) for t in fresh.data]
    assert shown.layout.title.text == fresh.layout.title.text
    # Crossing the WebGL threshold changes trace types: the caller must rebuild.
    assert not plots.update_in_place(go.Figure(plots.timeline_figure(tasks.iloc[:100])), fresh)
