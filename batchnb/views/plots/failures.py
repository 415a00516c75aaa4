"""Where tasks went wrong: how long tasks took, and which failures happened how often."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from batchnb.data.frames import DISPLAY_STATES, display_states
from batchnb.views.plots._style import BASE_LAYOUT, LEGEND_TOP, TASK_STATE_COLORS, TITLE, duration_unit, keyed

HISTOGRAM_STATES = ("succeeded", "failed")


def duration_histogram(tasks: pd.DataFrame, *, bins: int = 40) -> go.Figure:
    """Durations of completed tasks, succeeded and failed stacked on shared bins.

    Binned here with numpy and drawn as two ``go.Bar`` traces (uids ``duration-succeeded``,
    ``duration-failed``), so a refresh ships ``bins`` numbers per trace instead of every duration.
    """
    # Column arrays, not a filtered frame: slicing a million rows copies every column, strings included.
    duration = tasks["duration"].to_numpy(dtype="timedelta64[ns]")
    done = ~np.isnat(duration)
    codes = display_states(tasks).cat.codes.to_numpy()[done]
    seconds = duration[done].view(np.int64) / 1e9
    unit, scale = duration_unit(float(seconds.max()) if len(seconds) else 0.0)
    values = seconds / scale
    if len(values):
        lo, hi = float(values.min()), float(values.max())
        edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    else:
        edges = np.linspace(0, 1, bins + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for state in HISTOGRAM_STATES:
        counts, _ = np.histogram(values[codes == DISPLAY_STATES.index(state)], bins=edges)
        fig.add_trace(
            go.Bar(
                x=centers, y=counts, width=float(edges[1] - edges[0]), name=state, uid=f"duration-{state}",
                marker={"color": TASK_STATE_COLORS[state]},
                customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                hovertemplate=f"%{{customdata[0]:.3g}}–%{{customdata[1]:.3g}} {unit}: %{{y:,}} {state}<extra></extra>",
            )
        )  # fmt: skip
    median = float(np.median(values)) if len(values) else None
    title = "Task durations" + (f" · median {median:.3g} {unit} over {len(values):,} tasks" if median is not None else "")
    fig.update_layout(
        **BASE_LAYOUT, title={**TITLE, "text": title}, barmode="stack", bargap=0.02,
        xaxis={"title": f"duration ({unit})"}, yaxis={"title": "tasks"}, legend=LEGEND_TOP,
    )  # fmt: skip
    return keyed(fig)


def failure_reasons(tasks: pd.DataFrame) -> pd.Series:
    """Per failed task, a short reason: the failure code, split by exit code for plain non-zero exits
    (``FailureExitCode`` alone says nothing about *why*)."""
    return _reasons(tasks[(display_states(tasks) == "failed").to_numpy()])


def _reasons(failed: pd.DataFrame) -> pd.Series:
    code = failed["failure_code"].fillna("(no failure code)")
    exit_text = "exit code " + failed["exit_code"].astype("string")
    plain_exit = (code == "FailureExitCode") & failed["exit_code"].notna()
    return code.where(~plain_exit, exit_text).rename("reason")


def failures_by_code(tasks: pd.DataFrame, *, top: int = 15) -> go.Figure:
    """Horizontal bar chart of failed tasks per reason, most frequent on top; beyond ``top`` reasons
    the rest are summed into "other". One trace (uid ``failures-by-code``); hover gives the count and
    one example message."""
    failed = tasks[(display_states(tasks) == "failed").to_numpy()]
    reasons = _reasons(failed)
    counts = reasons.value_counts()
    if len(counts) > top:
        counts = pd.concat([counts.iloc[: top - 1], pd.Series({"other": counts.iloc[top - 1 :].sum()})])
    # From the failed rows themselves: looking them up in a 10^6-row index by id cost 0.2 s.
    messages = failed["failure_message"].groupby(reasons.to_numpy()).first()
    example = [str(messages.get(r, "") or "")[:200] if r != "other" else "" for r in counts.index]
    fig = go.Figure(
        go.Bar(
            x=counts.to_numpy(), y=list(counts.index.astype(str)), orientation="h", uid="failures-by-code",
            name="failed tasks", marker={"color": TASK_STATE_COLORS["failed"]}, customdata=example,
            hovertemplate="%{y}: %{x:,} tasks<br>%{customdata}<extra></extra>",
        )
    )  # fmt: skip
    total = int(counts.sum())
    fig.update_layout(
        **BASE_LAYOUT,
        title={**TITLE, "text": f"Failures by reason · {total:,} failed tasks" if total else "No failed tasks"},
        xaxis={"title": "failed tasks"},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return keyed(fig)
