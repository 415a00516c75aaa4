"""Node CPU and memory over time: the pool mean, a few nodes individually, the rest summarised."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from batchnb.views.plots._style import BASE_LAYOUT, LEGEND_TOP, TITLE, keyed

UTILIZATION_METRICS = (("cpu_percent", "CPU %"), ("mem_percent", "memory %"))
_DEFAULT_BIN = pd.Timedelta(seconds=5)


def _time_bin(util: pd.DataFrame) -> pd.Timedelta:
    # Samplers on different nodes tick at different instants: align them on the sampling interval.
    step = util.groupby("node_id", observed=True)["time"].diff().median()
    if pd.isna(step) or step <= pd.Timedelta(0):
        return _DEFAULT_BIN
    return max(pd.Timedelta(seconds=1), step.round("1s"))


def utilization_figure(util: pd.DataFrame, *, per_node: bool = True, max_nodes: int = 10) -> go.Figure:
    """CPU (top) and memory (bottom) from a :func:`batchnb.data.frames.utilization_frame` frame.

    Traces, per metric and in this order: pool mean (uid ``util-<metric>-mean``); with ``per_node``,
    one line for each of the first ``max_nodes`` nodes by id (uid ``util-<metric>-node-<i>``, named
    after the node) and, when the pool is larger, the mean of all other nodes
    (uid ``util-<metric>-others``). The count depends only on ``min(nodes, max_nodes)`` and on whether
    there are more nodes than that.
    """
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[label for _, label in UTILIZATION_METRICS])  # fmt: skip
    node_ids = sorted(util["node_id"].dropna().unique()) if len(util) else []
    shown = node_ids[:max_nodes] if per_node else []
    others = per_node and len(node_ids) > max_nodes
    if len(util):
        binned = util.assign(time=util["time"].dt.floor(_time_bin(util)).dt.tz_convert(None))
        pool = binned.groupby("time")[[m for m, _ in UTILIZATION_METRICS]].mean()
        per = binned[binned["node_id"].isin(shown)].groupby(["node_id", "time"])[
            [m for m, _ in UTILIZATION_METRICS]
        ].mean()
        rest = binned[~binned["node_id"].isin(shown)].groupby("time")[[m for m, _ in UTILIZATION_METRICS]].mean()
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880",
               "#ff97ff", "#fecb52"]  # fmt: skip
    for row, (metric, label) in enumerate(UTILIZATION_METRICS, start=1):
        short = metric.split("_")[0]
        first = row == 1  # one legend entry per series, shared by both subplots

        def line(x, y, name, uid, **style):
            fig.add_trace(
                go.Scatter(x=x, y=y, name=name, uid=uid, mode="lines", legendgroup=uid.split("-", 2)[-1],
                           showlegend=first, hovertemplate=f"{name}: %{{y:.0f}} %<extra></extra>", **style),
                row=row, col=1,
            )  # fmt: skip

        empty = np.array([], dtype="float64")
        if len(util):
            line(pool.index.to_numpy(), pool[metric].to_numpy(), "pool mean", f"util-{short}-mean",
                 line={"color": "#222", "width": 3})  # fmt: skip
        else:
            line(empty, empty, "pool mean", f"util-{short}-mean", line={"color": "#222", "width": 3})
        for i, node in enumerate(shown):
            s = per.loc[node, metric]
            line(s.index.to_numpy(), s.to_numpy(), str(node), f"util-{short}-node-{i}",
                 line={"color": palette[i % len(palette)], "width": 1})  # fmt: skip
        if others:
            line(rest.index.to_numpy(), rest[metric].to_numpy(), f"other {len(node_ids) - len(shown):,} nodes (mean)",
                 f"util-{short}-others", line={"color": "#999", "width": 1.5, "dash": "dot"})  # fmt: skip
        fig.update_yaxes(title_text=label, range=[0, 100], row=row, col=1)
    title = f"Node utilization · {len(node_ids):,} nodes" if len(node_ids) else "No utilization samples yet"
    # The legend goes above the subplot titles ("CPU %"), which sit just above the first plot.
    fig.update_layout(**{**BASE_LAYOUT, "margin": {**BASE_LAYOUT["margin"], "t": 100}},
                      title={**TITLE, "text": title}, hovermode="x unified",
                      legend={**LEGEND_TOP, "y": 1.1})  # fmt: skip
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    return keyed(fig)
