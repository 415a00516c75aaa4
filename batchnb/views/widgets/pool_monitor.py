"""``PoolMonitor``: a pool's node heatmap and utilization, live, with a resize control."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from batchnb.data.watch import PoolWatcher
from batchnb.views import plots
from batchnb.views.widgets import _fallback
from batchnb.views.widgets._live_figure import LiveFigure
from batchnb.views.widgets._loop import in_background, running_loop

__all__ = ["PoolMonitor"]

class PoolMonitor(widgets.VBox):
    """Node heatmap (any number of nodes, one trace), CPU/memory over time, and resize.

    ``pool`` (a :class:`batchnb.core.pool_handle.PoolHandle`, optional) performs the resize when given;
    otherwise the watcher's client resizes the pool directly.
    """

    def __init__(self, watcher: PoolWatcher, *, pool: Any = None, interval: float = 5.0,
                 autostart: bool = True) -> None:
        self.watcher = watcher
        self.pool = pool
        self.interval = interval
        self.heatmap = LiveFigure("batchnb-fig-heatmap", height=340)
        self.utilization = LiveFigure("batchnb-fig-utilization", height=380)
        self.title = widgets.HTML(f"<b>Pool <code>{html.escape(watcher.pool_id)}</code></b>")
        self.status = widgets.HTML()
        self.status.add_class("batchnb-pool-status")
        self.summary = widgets.HTML()
        self.summary.add_class("batchnb-pool-summary")
        self.dedicated = widgets.BoundedIntText(value=0, min=0, max=10_000, description="dedicated",
                                                layout=widgets.Layout(width="180px"))
        self.spot = widgets.BoundedIntText(value=0, min=0, max=10_000, description="spot",
                                           layout=widgets.Layout(width="180px"))
        self.resize_button = widgets.Button(description="Resize", icon="arrows-alt-h")
        self.resize_button.on_click(lambda _: self._resize())
        self.message = widgets.HTML()
        for w, css in ((self.dedicated, "batchnb-resize-dedicated"), (self.spot, "batchnb-resize-spot"),
                       (self.resize_button, "batchnb-resize-button"), (self.message, "batchnb-pool-message")):
            w.add_class(css)
        self._targets_shown = False
        super().__init__(children=[
            widgets.HBox([self.title, self.status]),
            self.summary,
            self.heatmap.box,
            self.utilization.box,
            widgets.HBox([self.dedicated, self.spot, self.resize_button, self.message]),
        ])
        self.add_class("batchnb-pool-monitor")
        if watcher.updated_at is not None:
            self.update()
        if autostart:
            self.start()

    def start(self) -> None:
        if running_loop() is not None:  # without one (scripts, tests) the owner calls update()
            self.watcher.start(self.interval, on_update=lambda _: self.update())

    def stop(self) -> None:
        self.watcher.stop()

    def close(self) -> None:
        self.watcher.stop()
        self.heatmap.close()
        self.utilization.close()
        super().close()

    def update(self) -> None:
        w = self.watcher
        self.status.value = html.escape(w.status_text())
        if w.last_stats is None:
            return
        p = w.pool
        if not self._targets_shown and p:
            # Only once: afterwards the fields belong to the user.
            self.dedicated.value = int(p.get("targetDedicatedNodes") or 0)
            self.spot.value = int(p.get("targetLowPriorityNodes") or 0)
            self._targets_shown = True
        autoscale = bool(p.get("enableAutoScale"))
        self.resize_button.disabled = autoscale
        self.resize_button.tooltip = "autoscale pools are sized by their formula" if autoscale else ""
        self.summary.value = self._summary_line()
        self.heatmap.refresh(lambda: plots.node_heatmap_figure(w.nodes, task_slots_per_node=w.task_slots_per_node))
        self.utilization.refresh(lambda: plots.utilization_figure(w.utilization))

    def _summary_line(self) -> str:
        w, p = self.watcher, self.watcher.pool
        states = w.nodes["state"].value_counts() if not w.nodes.empty else {}
        by_state = ", ".join(f"{int(n):,} {s}" for s, n in (states.items() if len(states) else []) if n)
        return (f"{html.escape(str(p.get('vmSize') or ''))} · {len(w.nodes):,} nodes"
                f"{' (' + html.escape(by_state) + ')' if by_state else ''} · "
                f"{w.task_slots_per_node} slot(s) per node · allocation {html.escape(str(p.get('allocationState')))}")

    def _resize(self) -> None:
        dedicated, spot = int(self.dedicated.value), int(self.spot.value)
        self.message.value = f"resizing to {dedicated} dedicated + {spot} spot..."
        pool, w = self.pool, self.watcher

        def act() -> None:
            if pool is not None and hasattr(pool, "resize"):
                pool.resize(dedicated_nodes=dedicated, spot_nodes=spot)
                return
            from azure.batch import models as m

            w.client.begin_resize_pool(w.pool_id, m.BatchPoolResizeOptions(
                target_dedicated_nodes=dedicated, target_low_priority_nodes=spot), polling_interval=1)

        in_background(act, lambda _: setattr(self.message, "value", "resize requested"),
                      lambda exc: setattr(self.message, "value",
                                          f"<span style='color:#d62728'>{html.escape(str(exc)[:300])}</span>"))

    def summary_text(self) -> str:
        w = self.watcher
        return f"PoolMonitor(pool {w.pool_id!r}, {len(w.nodes):,} nodes, {w.task_slots_per_node} slot(s) per node)"

    def summary_html(self) -> str:
        w = self.watcher
        rows = []
        if not w.nodes.empty:
            counts = w.nodes["state"].value_counts()
            rows = [(s, f"{int(n):,}") for s, n in counts.items() if n]
        util = ""
        if not w.utilization.empty:
            last = w.utilization.groupby("node_id").tail(1)
            util = (f"<p>Latest utilization: CPU {last['cpu_percent'].mean():.0f} %, "
                    f"memory {last['mem_percent'].mean():.0f} % (mean of {len(last)} nodes)</p>")
        return _fallback.section(f"Pool {w.pool_id}", "<p>" + self._summary_line() + "</p>",
                                 _fallback.rows_table_html(["node state", "nodes"], rows), util)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.summary_text()
        bundle["text/html"] = self.summary_html()
        return bundle
