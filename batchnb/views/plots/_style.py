"""Colours and small formatting helpers shared by every figure, so a state looks the same everywhere."""

from __future__ import annotations

import datetime as _dt
import math

import pandas as pd

# Task display states (see batchnb.data.frames.DISPLAY_STATES).
TASK_STATE_COLORS: dict[str, str] = {
    "active": "#9aa5b1",
    "preparing": "#b39ddb",
    "running": "#1f77b4",
    "succeeded": "#2ca02c",
    "failed": "#d62728",
}

# Node heatmap categories, in legend order. Modelled on Batch Explorer's heatmap: grey idle, running
# shaded by task-slot usage, a yellow transition family, a red error family.
NODE_CATEGORY_COLORS: dict[str, str] = {
    "idle": "#dfe3e8",
    "running ≤25 %": "#a5d6a7",
    "running ≤50 %": "#66bb6a",
    "running ≤75 %": "#388e3c",
    "running 100 %": "#1b5e20",
    "starting": "#f2d45c",
    "start task failed": "#aa3939",
    "unusable": "#6d1a1a",
    "preempted": "#606060",
    "offline": "#305796",
    "leaving pool": "#f0a35e",
    "rebooting / reimaging": "#c9a227",
}
NODE_CATEGORIES = list(NODE_CATEGORY_COLORS)
RUNNING_BANDS = NODE_CATEGORIES[1:5]

# Node state -> heatmap category ("running" is refined by slot usage).
NODE_STATE_CATEGORY: dict[str, str] = {
    "idle": "idle",
    "running": "running 100 %",
    "creating": "starting",
    "starting": "starting",
    "waitingforstarttask": "starting",
    "starttaskfailed": "start task failed",
    "unusable": "unusable",
    "unknown": "unusable",
    "preempted": "preempted",
    "offline": "offline",
    "deallocating": "offline",
    "deallocated": "offline",
    "leavingpool": "leaving pool",
    "rebooting": "rebooting / reimaging",
    "reimaging": "rebooting / reimaging",
    "upgradingos": "rebooting / reimaging",
}

FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}
# Sized by the output area (autosize, no width): a figure fits 900 px as well as 1400 px. The title
# sits top-left in the top margin and the legend just above the plot, left-aligned, so neither
# collides with the x-axis title below nor with plotly's hover toolbar at the top right.
BASE_LAYOUT = {"template": "plotly_white", "font": FONT, "autosize": True,
               "margin": {"l": 60, "r": 20, "t": 78, "b": 48}}
TITLE = {"x": 0.0, "xanchor": "left", "xref": "paper", "y": 0.97, "yanchor": "top", "yref": "container",
         "font": {"size": 14}}
LEGEND_TOP = {"orientation": "h", "x": 0.0, "xanchor": "left", "y": 1.0, "yanchor": "bottom"}


def format_timedelta(td: _dt.timedelta | pd.Timedelta | None) -> str:
    """Short human duration: '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    if td is None or pd.isna(td):
        return "–"
    seconds = max(0.0, pd.Timedelta(td).total_seconds())
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{math.ceil(minutes)} min"
    hours, mins = divmod(int(minutes), 60)
    if hours < 48:
        return f"{hours} h {mins:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def duration_unit(max_seconds: float) -> tuple[str, float]:
    """Axis unit for durations: (label, seconds per unit)."""
    if max_seconds < 120:
        return "s", 1.0
    if max_seconds < 2 * 3600:
        return "min", 60.0
    return "h", 3600.0


def keyed(fig):
    """Copy each trace's uid into ``meta`` and return the figure.

    ``go.FigureWidget`` replaces trace uids with its own, so the stable trace key that
    ``update_in_place`` matches on travels in ``meta`` as well.
    """
    for trace in fig.data:
        trace.meta = trace.uid
    return fig
