"""Task timeline per node (a Gantt chart): one line trace per task state, never one shape per task."""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from batchnb.data.frames import display_states
from batchnb.views.plots._style import BASE_LAYOUT, LEGEND_TOP, TASK_STATE_COLORS, TITLE, keyed

TIMELINE_STATES = ("preparing", "running", "succeeded", "failed")
# Above this many tasks the SVG renderer gets sluggish in the browser; WebGL stays smooth into the 100ks.
WEBGL_THRESHOLD = 2_000
# Lane labels are drawn only when they can be read.
MAX_LABELLED_LANES = 60
_NS_PER_MS = 1_000_000


def _sub_lanes(lane: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interval partitioning inside each node, so tasks running side by side on a multi-slot node
    get their own thin row instead of hiding each other. Returns (sub-lane, sub-lanes of its node)."""
    order = np.lexsort((start, lane))
    sub = np.zeros(len(lane), dtype=np.int64)
    width = np.ones(len(lane), dtype=np.int64)
    i = 0
    n = len(order)
    while i < n:
        j = i
        node = lane[order[i]]
        free: list[int] = []
        busy: list[tuple[int, int]] = []  # (end, sub-lane)
        used = 0
        while j < n and lane[order[j]] == node:
            k = order[j]
            while busy and busy[0][0] <= start[k]:
                heapq.heappush(free, heapq.heappop(busy)[1])
            slot = heapq.heappop(free) if free else used
            used = max(used, slot + 1)
            sub[k] = slot
            heapq.heappush(busy, (end[k], slot))
            j += 1
        width[order[i:j]] = used
        i = j
    return sub, width


def timeline_figure(
    tasks: pd.DataFrame, *, max_tasks: int = 25_000, webgl_threshold: int = WEBGL_THRESHOLD
) -> go.Figure:
    """Gantt of tasks per node from a :func:`batchnb.data.frames.tasks_frame` frame.

    Tasks that have started are drawn from start to end; a running task ends at the latest time
    seen in the frame (not the wall clock, so the figure is a pure function of its input). Beyond
    ``max_tasks`` the most recently started tasks are kept (the figure's JSON is ~200 bytes per task,
    and a widget re-sends it on every refresh). Always one trace per state in
    ``TIMELINE_STATES`` order (uids ``timeline-<state>``): ``go.Scattergl`` when more than
    ``webgl_threshold`` tasks are drawn, ``go.Scatter`` otherwise. Hover: task id, node, exit code,
    duration (a ``+`` marks a task still running). A last trace, ``timeline-retried``, rings the
    start of every task that was retried or requeued.
    """
    started = tasks[tasks["start_time"].notna()]
    capped = len(started) > max_tasks
    if capped:
        started = started.nlargest(max_tasks, "start_time")
    states = display_states(started).to_numpy()
    start = started["start_time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    latest = pd.concat([started["end_time"], started["state_time"], started["start_time"]]).max()
    end_ts = started["end_time"].fillna(latest) if len(started) else started["end_time"]
    end = end_ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    end = np.maximum(end, start)

    nodes = started["node_id"].fillna("(no node)")
    lane_codes, lane_names = pd.factorize(nodes, sort=True)
    sub, width = _sub_lanes(lane_codes, start, end)
    # Sub-lanes share 80 % of a lane's height, centred on the lane.
    y = lane_codes + ((sub + 0.5) / width - 0.5) * 0.8

    # Hover text is most of the figure's bytes (it sits on both ends of every segment): keep it short.
    dur_s = (end - start) / 1e9
    exit_text = started["exit_code"].astype("string").fillna("–")
    dur_text = pd.Series(np.round(dur_s, 1), index=started.index).astype("string") + " s"
    dur_text = dur_text.where(started["end_time"].notna(), dur_text + "+")
    hover = (
        started.index.astype("string") + "<br>" + nodes.astype("string") + " · exit " + exit_text + " · " + dur_text
    ).to_numpy(dtype=object)

    trace_cls = go.Scattergl if len(started) > webgl_threshold else go.Scatter
    fig = go.Figure()
    for state in TIMELINE_STATES:
        mask = states == state
        m = int(mask.sum())
        # Three points per task: start, end, gap. NaN breaks the line between tasks.
        xs = np.full(3 * m, np.nan)
        xs[0::3] = start[mask] / _NS_PER_MS
        xs[1::3] = end[mask] / _NS_PER_MS
        ys = np.full(3 * m, np.nan)
        ys[0::3] = ys[1::3] = y[mask]
        text = np.empty(3 * m, dtype=object)
        text[0::3] = text[1::3] = hover[mask]
        text[2::3] = ""
        fig.add_trace(
            trace_cls(
                x=xs, y=ys, text=text, name=state, uid=f"timeline-{state}", mode="lines", connectgaps=False,
                line={"color": TASK_STATE_COLORS[state], "width": 6 if len(lane_names) <= 40 else 3},
                hovertemplate="%{text}<extra></extra>",
            )
        )  # fmt: skip

    # Retried or requeued tasks: a ring at the start of the attempt drawn (Batch keeps only the
    # last attempt's times), always present as one more trace so the figure updates in place.
    retries = started["retry_count"].fillna(0).to_numpy(dtype=np.int64)
    requeues = started["requeue_count"].fillna(0).to_numpy(dtype=np.int64)
    again = (retries > 0) | (requeues > 0)
    again_text = (started.index.astype("string")[again] + "<br>retried " + pd.Index(retries[again]).astype(str)
                  + "× · requeued " + pd.Index(requeues[again]).astype(str) + "×").to_numpy(dtype=object)
    fig.add_trace(
        trace_cls(
            x=start[again] / _NS_PER_MS, y=y[again], text=again_text, name="retried", uid="timeline-retried",
            mode="markers", marker={"symbol": "circle-open", "size": 11, "color": "#ff7f0e",
                                    "line": {"width": 2, "color": "#ff7f0e"}},
            hovertemplate="%{text}<extra></extra>",
        )
    )  # fmt: skip

    yaxis: dict = {"title": "node", "range": [len(lane_names) - 0.5, -0.5], "zeroline": False}
    if len(lane_names) <= MAX_LABELLED_LANES:
        yaxis.update(tickmode="array", tickvals=list(range(len(lane_names))), ticktext=list(lane_names))
    else:
        yaxis.update(showticklabels=False, showgrid=False)
    title = f"Task timeline · {len(started):,} tasks on {len(lane_names):,} nodes"
    if capped:
        title += f" (latest {max_tasks:,} of {int(tasks['start_time'].notna().sum()):,} shown)"
    fig.update_layout(
        **BASE_LAYOUT,
        title={**TITLE, "text": title},
        xaxis={"type": "date", "title": "time (UTC)"},
        yaxis=yaxis,
        hovermode="closest",
        legend=LEGEND_TOP,
    )
    return keyed(fig)
