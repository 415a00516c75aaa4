"""Node heatmap: every node a tile, coloured by state and slot usage, in ONE heatmap trace.

One trace whose ``z`` is replaced on refresh scales to any pool size (Batch Explorer draws a
shape per node and gives up at 2,500 nodes). The legend is the trace's own colour bar, so the
figure has exactly one trace.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from batchnb.data.frames import NODE_STATES
from batchnb.views.plots._style import (
    BASE_LAYOUT,
    NODE_CATEGORIES,
    NODE_CATEGORY_COLORS,
    NODE_STATE_CATEGORY,
    RUNNING_BANDS,
    TITLE,
    keyed,
)

# NODE_STATES position -> category position, for a vectorised lookup on categorical codes.
_STATE_TO_CATEGORY = np.array([NODE_CATEGORIES.index(NODE_STATE_CATEGORY[s]) for s in NODE_STATES] + [np.nan])
_FIRST_RUNNING_BAND = NODE_CATEGORIES.index(RUNNING_BANDS[0])


def _discrete_colorscale() -> list[list]:
    k = len(NODE_CATEGORIES)
    scale = []
    for i, color in enumerate(NODE_CATEGORY_COLORS.values()):
        scale += [[i / k, color], [(i + 1) / k, color]]
    return scale


def node_categories(nodes: pd.DataFrame, *, task_slots_per_node: int) -> np.ndarray:
    """Heatmap category index per node (float, NaN for a missing state)."""
    codes = nodes["state"].cat.codes.to_numpy()  # -1 for missing -> last entry (NaN)
    cat = _STATE_TO_CATEGORY[codes].copy()
    slots = nodes["running_slots"].fillna(nodes["running_tasks"]).fillna(0).to_numpy(dtype="float64")
    usage = slots / max(1, task_slots_per_node)
    # ceil(usage * 4) maps (0, 25 %] to band 1 ... (75 %, 100 %] to band 4; a running node whose
    # counter lags at 0 still shows as running.
    band = np.clip(np.ceil(usage * len(RUNNING_BANDS)), 1, len(RUNNING_BANDS)) - 1
    running = nodes["state"].to_numpy() == "running"
    cat[running] = _FIRST_RUNNING_BAND + band[running]
    return cat


def node_heatmap_figure(nodes: pd.DataFrame, *, task_slots_per_node: int = 1) -> go.Figure:
    """Heatmap of a :func:`batchnb.data.frames.nodes_frame` frame on a ceil(sqrt(n))-wide grid.

    Nodes fill the grid row by row in index order (node id), so a node keeps its tile between
    refreshes. One ``go.Heatmap`` trace (uid ``node-heatmap``); hover shows node id, state and slots.
    """
    n = len(nodes)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    cat = node_categories(nodes, task_slots_per_node=task_slots_per_node)
    # Empty tiles (and nodes without a state) are None, not NaN: plotly draws both as gaps, but
    # NaN is not JSON and made every widget update warn "Out of range float values".
    z = np.full(rows * cols, None, dtype=object)
    z[:n] = np.where(np.isnan(cat), None, cat)

    slots = nodes["running_slots"].fillna(nodes["running_tasks"]).astype("string").fillna("?")
    hover = (
        "<b>" + nodes.index.astype("string") + "</b><br>" + nodes["state"].astype("string").fillna("unknown")
        + " · " + slots + f"/{task_slots_per_node} slots"
    ).to_numpy(dtype=object)  # fmt: skip
    text = np.full(rows * cols, "", dtype=object)
    text[:n] = hover

    counts = np.bincount(cat[~np.isnan(cat)].astype(np.int64), minlength=len(NODE_CATEGORIES))
    k = len(NODE_CATEGORIES)
    fig = go.Figure(
        go.Heatmap(
            z=z.reshape(rows, cols), text=text.reshape(rows, cols), uid="node-heatmap", name="nodes",
            hovertemplate="%{text}<extra></extra>", colorscale=_discrete_colorscale(), zmin=-0.5, zmax=k - 0.5,
            xgap=1 if cols <= 150 else 0, ygap=1 if rows <= 150 else 0,
            colorbar={
                "tickmode": "array", "tickvals": list(range(k)),
                "ticktext": [f"{c} ({counts[i]:,})" for i, c in enumerate(NODE_CATEGORIES)],
                "thickness": 14, "len": 1.0, "outlinewidth": 0,
            },
        )
    )  # fmt: skip
    running = int(counts[_FIRST_RUNNING_BAND : _FIRST_RUNNING_BAND + len(RUNNING_BANDS)].sum())
    idle = int(counts[NODE_CATEGORIES.index("idle")])
    title = f"{n:,} nodes · {running:,} running · {idle:,} idle" if n else "No nodes"
    hidden = {"showticklabels": False, "showgrid": False, "zeroline": False, "ticks": ""}
    fig.update_layout(
        **BASE_LAYOUT,
        title={**TITLE, "text": title},
        xaxis={**hidden, "constrain": "domain"},
        yaxis={**hidden, "autorange": "reversed", "scaleanchor": "x", "constrain": "domain"},
    )
    return keyed(fig)
