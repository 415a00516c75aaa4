"""Job progress over time: task states stacked, with counts and an ETA in the title."""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from batchnb.views.plots._style import BASE_LAYOUT, LEGEND_TOP, TASK_STATE_COLORS, TITLE, format_timedelta, keyed

# Bottom to top: what is done stays at the bottom, so the stack reads like a progress bar turned on its side.
PROGRESS_TRACES = ("succeeded", "failed", "running", "active")
# Samples drawn at most: a week-long job keeps up to 20,000 (CountsHistory's cap), which made a
# 2.3 MB figure re-sent on every refresh for a curve a 1400 px wide plot cannot show more of.
MAX_PROGRESS_POINTS = 1_500


def estimate_eta(
    history: pd.DataFrame, *, total: int | None = None, window: _dt.timedelta = _dt.timedelta(minutes=10)
) -> _dt.timedelta | None:
    """Time left until every task completes, from the completion rate over the last ``window``.

    ``history`` is a :class:`batchnb.data.frames.CountsHistory` frame (index ``time``, column
    ``completed``, plus ``active``/``running`` to infer the total). Returns ``timedelta(0)`` when all
    tasks are done and ``None`` when the rate is unknown (fewer than two samples, or no progress
    in the window), because an ETA of "never" from a stalled minute would mislead.
    """
    if history is None or len(history) == 0:
        return None
    last = history.iloc[-1]
    completed = int(last["completed"])
    if total is None:
        total = int(last["active"]) + int(last["running"]) + completed
    remaining = total - completed
    if remaining <= 0:
        return _dt.timedelta(0)
    times = history.index
    recent = history[times >= times[-1] - pd.Timedelta(window)]
    if len(recent) < 2:
        recent = history.iloc[-2:]
    if len(recent) < 2:
        return None
    elapsed = (recent.index[-1] - recent.index[0]).total_seconds()
    done = int(recent["completed"].iloc[-1]) - int(recent["completed"].iloc[0])
    if elapsed <= 0 or done <= 0:
        return None
    return _dt.timedelta(seconds=remaining * elapsed / done)


def progress_title(history: pd.DataFrame, *, total: int | None = None) -> str:
    if history is None or len(history) == 0:
        return "No task counts yet"
    last = history.iloc[-1]
    completed, failed, running = int(last["completed"]), int(last["failed"]), int(last["running"])
    if total is None:
        total = int(last["active"]) + running + completed
    pct = 100.0 * completed / total if total else 0.0
    parts = [f"{completed:,} / {total:,} done ({pct:.0f} %)", f"{running:,} running", f"{failed:,} failed"]
    eta = estimate_eta(history, total=total)
    if completed >= total and total:
        parts.append("complete")
    elif eta is not None:
        parts.append(f"ETA {format_timedelta(eta)}")
    return " · ".join(parts)


def progress_figure(history: pd.DataFrame, *, total: int | None = None,
                    max_points: int = MAX_PROGRESS_POINTS) -> go.Figure:
    """Stacked area of succeeded/failed/running/active task counts over time.

    Always four traces, in ``PROGRESS_TRACES`` order, with uids ``progress-<state>``. A history
    longer than ``max_points`` is drawn from evenly spaced samples, the first and the latest
    always among them (the title's counts and ETA use every sample).
    """
    empty = history is None or len(history) == 0
    drawn = history
    if not empty and len(history) > max_points:
        drawn = history.iloc[np.unique(np.linspace(0, len(history) - 1, max_points).round().astype(np.int64))]
    x = np.array([], dtype="datetime64[ns]") if empty else drawn.index.tz_convert(None).to_numpy()
    fig = go.Figure()
    for state in PROGRESS_TRACES:
        y = np.array([], dtype="int64") if empty else drawn[state].to_numpy(dtype="int64", na_value=0)
        fig.add_trace(
            go.Scatter(
                x=x, y=y, name=state, uid=f"progress-{state}", mode="lines", stackgroup="tasks",
                line={"width": 0.5, "color": TASK_STATE_COLORS[state]},
                hovertemplate=f"{state}: %{{y:,}}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        **BASE_LAYOUT,
        title={**TITLE, "text": progress_title(history, total=total)},
        xaxis={"title": "time (UTC)"},
        yaxis={"title": "tasks", "rangemode": "tozero"},
        hovermode="x unified",
        legend=LEGEND_TOP,
    )
    return keyed(fig)
