"""Task timeline per node (a Gantt chart): one line trace per task state, never one shape per task."""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from batchnb.data.frames import DISPLAY_STATES, display_states
from batchnb.views.plots._style import BASE_LAYOUT, LEGEND_TOP, TASK_STATE_COLORS, TITLE, format_timedelta, keyed
from batchnb.views.plots.timeline_density import bin_task_intervals

TIMELINE_STATES = ("preparing", "running", "succeeded", "failed")
# Above this many tasks the SVG renderer gets sluggish in the browser.
WEBGL_THRESHOLD = 2_000
# Above this many started tasks the timeline is binned per node and time instead of one bar per
# task. Measured with `benchmarks/bench_figures.py --browser` (headless Chromium, software WebGL, on
# this loaded 2-core machine): one bar per task took 0.5-0.8 s to draw at 2,000 tasks (SVG), 2.5-2.9 s
# at 5,000, 3.7-4.7 s at 10,000 and 4.9-9.2 s at 20,000 (WebGL), and a zoom redrew in 0.2, 0.6,
# 0.9-1.5 and 1.4-4.7 s; the binned figure drew in ~1 s and zoomed in ~0.15 s at any task count.
# A later full run: 10,000 / 25,000 / 100,000 / 200,000 tasks drew in 6.6 / 8.9 / 14.6 / 31.7 s and
# zoomed in 0.85 / 2.3 / 7.9 / 9.0 s, the binned 10^6-task figure in 3.6 s and 0.4 s.
# Per-task JSON is ~190 bytes per task (1.9 MB at 10,000, re-sent on each refresh), binned ~200 KB.
# 10,000 keeps a zoom within about a second; past it the per-task figure only gets slower.
AGGREGATE_ABOVE = 10_000
# Columns of the binned timeline: about one per 2-3 px of a 900-1400 px wide output area.
TIME_BINS = 400
# Rows of the binned timeline before consecutive nodes share a row.
MAX_ROWS = 200
# Lane labels are drawn only when they can be read.
MAX_LABELLED_LANES = 60
_NS_PER_MS = 1_000_000
DISPLAY_FAILED = DISPLAY_STATES.index("failed")
# White for an empty cell, then darker blue for more tasks (the running colour of the per-task view).
DENSITY_COLORSCALE = [[0.0, "#ffffff"], [1e-9, "#deebf7"], [0.5, "#6baed6"], [1.0, "#08306b"]]


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


def _time_ns(value) -> int:
    # plotly.js sends a date axis range as date strings; as numbers they are milliseconds since the epoch.
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        return int(round(float(value) * _NS_PER_MS))
    ts = pd.Timestamp(value)
    return int((ts.tz_localize("UTC") if ts.tzinfo is None else ts).as_unit("ns").value)


def _bin_text(ns: int) -> str:
    seconds = ns / 1e9
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    if seconds < 90:
        return f"{seconds:.3g} s"
    return format_timedelta(pd.Timedelta(ns, unit="ns"))


def timeline_figure(
    tasks: pd.DataFrame,
    *,
    x_range: tuple | None = None,
    y_range: tuple[float, float] | None = None,
    aggregate_above: int = AGGREGATE_ABOVE,
    webgl_threshold: int = WEBGL_THRESHOLD,
    time_bins: int = TIME_BINS,
    max_rows: int = MAX_ROWS,
) -> go.Figure:
    """Gantt of tasks per node from a :func:`batchnb.data.frames.tasks_frame` frame.

    Tasks that have started are drawn from start to end; a running task ends at the latest time
    seen in the frame (not the wall clock, so the figure is a pure function of its input).

    Up to ``aggregate_above`` started tasks, one bar per task: one trace per state in
    ``TIMELINE_STATES`` order (uids ``timeline-<state>``), ``go.Scattergl`` when more than
    ``webgl_threshold`` tasks are drawn, ``go.Scatter`` otherwise. Hover: task id, node, exit
    code, duration (a ``+`` marks a task still running). A last trace, ``timeline-retried``, rings
    the start of every task that was retried or requeued.

    Above it, one ``go.Heatmap`` (uid ``timeline-density``): tasks running per node and time bin
    (see :mod:`batchnb.views.plots.timeline_density`), ``time_bins`` bins across the view and at
    most ``max_rows`` rows (consecutive nodes share a row beyond that). ``x_range`` (times; naive
    ones are UTC) and ``y_range`` (lane units, lane ``i`` centred on ``i``) restrict it to a zoomed
    view, which is what a widget passes when the user zooms: the bins get finer. The per-task
    figure ignores them (plotly zooms it by itself).
    """
    has_start = tasks["start_time"].notna().to_numpy()
    if int(has_start.sum()) > aggregate_above:
        return _density_figure(tasks, has_start, x_range=x_range, y_range=y_range, time_bins=time_bins,
                               max_rows=max_rows)
    started = tasks[has_start]
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
    fig.update_layout(
        **BASE_LAYOUT,
        title={**TITLE, "text": title},
        xaxis={"type": "date", "title": "time (UTC)"},
        yaxis=yaxis,
        hovermode="closest",
        legend=LEGEND_TOP,
    )
    return keyed(fig)


def _density_figure(tasks: pd.DataFrame, has_start: np.ndarray, *, x_range, y_range, time_bins: int,
                    max_rows: int) -> go.Figure:
    # Column arrays only: slicing the whole frame (strings included) would copy every column.
    start = tasks["start_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)[has_start]
    end_col = tasks["end_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)[has_start]
    state_time = tasks["state_time"].to_numpy(dtype="datetime64[ns]").view(np.int64)[has_start]
    nat = np.iinfo(np.int64).min  # NaT as int64
    latest = max(int(start.max()), int(end_col.max()), int(state_time.max()))
    end = np.maximum(np.where(end_col == nat, latest, end_col), start)
    failed = (display_states(tasks).cat.codes.to_numpy() == DISPLAY_FAILED)[has_start]
    # Factorized as stored (Arrow strings or categories: no million Python strings), then sorted.
    codes, uniques = pd.factorize(tasks["node_id"])
    codes = codes[has_start]
    names = np.asarray(uniques.astype(object), dtype=object)
    if (codes < 0).any():  # started, but no node recorded
        names = np.append(names, "(no node)")
        codes = np.where(codes < 0, len(names) - 1, codes)
    order = np.argsort(names)
    lane = np.empty(len(names), dtype=np.int64)
    lane[order] = np.arange(len(names))
    lane = lane[codes]
    lane_names = names[order]
    bins = bin_task_intervals(
        lane, start, end, failed, lanes=len(lane_names),
        time_range=None if x_range is None else (_time_ns(x_range[0]), _time_ns(x_range[1])),
        lane_range=None if y_range is None else (float(y_range[0]), float(y_range[1])),
        time_bins=time_bins, max_rows=max_rows,
    )  # fmt: skip
    rows = len(bins.lane_edges) - 1
    per = "node" if bins.nodes_per_row == 1 else f"{bins.nodes_per_row:,} nodes"
    # Hover names the lane by its rank among the nodes (sorted by id, as the axis labels are).
    where = "node #%{y:.0f}" if bins.nodes_per_row == 1 else f"{per} around node #%{{y:.0f}}"
    fig = go.Figure(
        go.Heatmap(
            x=bins.time_edges.astype("datetime64[ns]"), y=bins.lane_edges, z=bins.counts, customdata=bins.failed,
            uid="timeline-density", name="tasks", zmin=0,
            zmax=max(1, int(bins.counts.max())) if bins.counts.size else 1, colorscale=DENSITY_COLORSCALE,
            colorbar={"title": {"text": "tasks", "side": "right"}, "thickness": 14, "outlinewidth": 0},
            hovertemplate=f"%{{x}}<br>{where}: %{{z:,}} tasks, %{{customdata:,}} failed<extra></extra>",
        )
    )  # fmt: skip
    # Lane names on the axis: every row when they fit, else the first node of a dozen rows.
    first = bins.first_lane + bins.nodes_per_row * np.arange(rows)
    shown = first if rows <= MAX_LABELLED_LANES and bins.nodes_per_row == 1 else \
        first[np.unique(np.linspace(0, rows - 1, min(rows, 12)).round().astype(int))]
    yaxis = {"title": "node", "range": [float(bins.lane_edges[-1]), float(bins.lane_edges[0])], "zeroline": False,
             "showgrid": False, "tickmode": "array", "tickvals": [float(v) for v in shown],
             "ticktext": [str(lane_names[int(v)]) for v in shown]}
    title = (f"Task timeline · {int(has_start.sum()):,} tasks on {len(lane_names):,} nodes, "
             f"binned per {per} and {_bin_text(bins.bin_ns)}")
    fig.update_layout(
        **BASE_LAYOUT,
        title={**TITLE, "text": title},
        xaxis={"type": "date", "title": "time (UTC) · zoom in for finer bins"},
        yaxis=yaxis,
        hovermode="closest",
    )
    return keyed(fig)
