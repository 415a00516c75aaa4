"""``PoolMonitor``: a pool's node heatmap and utilization, live, with a resize control."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from batchnb.data.watch import PoolWatcher
from batchnb.views import plots
from batchnb.views.widgets import _fallback
from batchnb.views.widgets._live_figure import LiveFigure
from batchnb.views.widgets._loop import in_background
from batchnb.views.widgets._monitor_base import MonitorBase, error_line
from batchnb.views.widgets._quiet import quiet
from batchnb.views.widgets._static import StaticSwap, figure_bundle, register_live
from batchnb.views.widgets.cost_line import PoolCostLine

__all__ = ["PoolMonitor"]

class PoolMonitor(MonitorBase):
    """Node heatmap (any number of nodes, one trace), CPU/memory over time, and resize.

    ``pool`` (a :class:`batchnb.core.pool_handle.PoolHandle`) performs the resize; without one the
    control is disabled (the view never calls the SDK). A deleted pool is shown as deleted, with
    the controls disabled; closing the view (or the pool's deletion) leaves a static summary and
    the heatmap in the notebook. Library messages go to its status line, not the cell output.
    """

    default_color = "#2ca02c"

    def __init__(self, watcher: PoolWatcher, *, pool: Any = None, interval: float = 5.0,
                 autostart: bool = True) -> None:
        self.watcher = watcher
        self.pool = pool
        self.interval = interval
        self.heatmap = LiveFigure("batchnb-fig-heatmap", height=340)
        self.utilization = LiveFigure("batchnb-fig-utilization", height=380)
        self.title = widgets.HTML(f"<b>Pool <code>{html.escape(watcher.pool_id)}</code></b>")
        self.state_badge = widgets.HTML()
        self.state_badge.add_class("batchnb-pool-state")
        self.status = widgets.HTML()
        self.status.add_class("batchnb-pool-status")
        self.summary = widgets.HTML()
        self.summary.add_class("batchnb-pool-summary")
        self.cost_line = PoolCostLine(watcher, pool)  # idle node-hours and their cost (pool.cost())
        self.notes = widgets.HTML()
        self.notes.add_class("batchnb-pool-notes")
        number = {"flex": "0 1 180px", "min_width": "140px"}
        self.dedicated = widgets.BoundedIntText(value=0, min=0, max=10_000, description="dedicated",
                                                layout=widgets.Layout(**number))
        self.spot = widgets.BoundedIntText(value=0, min=0, max=10_000, description="spot",
                                           layout=widgets.Layout(**number))
        self.resize_button = widgets.Button(description="Resize", icon="arrows-alt-h", disabled=pool is None,
                                            layout=widgets.Layout(flex="0 0 auto", width="auto"))
        self.resize_button.on_click(lambda _: self._resize())
        self.message = widgets.HTML()
        for w, css in ((self.dedicated, "batchnb-resize-dedicated"), (self.spot, "batchnb-resize-spot"),
                       (self.resize_button, "batchnb-resize-button"), (self.message, "batchnb-pool-message")):
            w.add_class(css)
        self._targets_shown = False
        self._init_notes()
        self._static = StaticSwap(slots=2)
        wrap = {"flex_flow": "row wrap", "align_items": "center", "width": "100%"}
        super().__init__(children=[
            widgets.HBox([self.title, self.state_badge, self.status], layout=widgets.Layout(**wrap)),
            self.summary,
            self.cost_line,
            self.heatmap.box,
            self.utilization.box,
            widgets.HBox([self.dedicated, self.spot, self.resize_button], layout=widgets.Layout(**wrap)),
            self.message,
            self.notes,
        ], layout=widgets.Layout(width="100%", max_width="100%", overflow="hidden"))
        self.add_class("batchnb-pool-monitor")
        if watcher.updated_at is not None:
            self.update()
        if autostart:
            self.start()

    def close(self) -> None:
        """Stop polling and leave the static summary and heatmap in the notebook."""
        self.watcher.stop()
        if self._static.shown and not self._static.static:
            self._static.show_static(self.static_bundles())
        self.heatmap.close()
        self.utilization.close()
        super().close()

    def state_text(self) -> str:
        """``deleted``, ``deleting``, or the allocation state (``steady``, ``resizing``...)."""
        w = self.watcher
        if w.gone:
            return "deleted"
        state = str(w.pool.get("state") or "").lower()
        if state == "deleting":
            return "deleting"
        return str(w.pool.get("allocationState") or ("loading" if w.updated_at is None else "")).lower()

    def _update(self) -> None:
        w = self.watcher
        state = self.state_text()
        self._show_state(state, kind="pool")
        ended = state in ("deleted", "deleting")
        self._update_notes()
        if ended:
            self.resize_button.disabled = True
            self.resize_button.tooltip = f"the pool is {state}"
            self.dedicated.disabled = self.spot.disabled = True
            if w.gone:
                self.summary.value = f"{html.escape(state)} · last seen: {self._summary_line()}"
                if self._static.shown and not self._static.static:
                    self._static.show_static(self.static_bundles())
                return
        if w.last_stats is None:
            return
        p = w.pool
        if not self._targets_shown and p:
            # Only once: afterwards the fields belong to the user.
            self.dedicated.value = int(p.get("targetDedicatedNodes") or 0)
            self.spot.value = int(p.get("targetLowPriorityNodes") or 0)
            self._targets_shown = True
        autoscale = bool(p.get("enableAutoScale"))
        if not ended:
            self.resize_button.disabled = autoscale or self.pool is None
            self.resize_button.tooltip = ("autoscale pools are sized by their formula" if autoscale else
                                          "open the view with pool.monitor() to resize" if self.pool is None else "")
        self.summary.value = self._summary_line()
        self.cost_line.update()
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
        pool = self.pool
        if pool is None:
            return
        dedicated, spot = int(self.dedicated.value), int(self.spot.value)
        self.message.value = f"resizing to {dedicated} dedicated + {spot} spot..."

        def failed(exc: BaseException) -> None:
            self.message.value = error_line(exc)

        with quiet(self.note):
            in_background(lambda: pool.resize(dedicated_nodes=dedicated, spot_nodes=spot),
                          lambda _: setattr(self.message, "value", "resize requested"), failed)

    def summary_text(self) -> str:
        w = self.watcher
        cost = self.cost_line.text()
        return (f"PoolMonitor(pool {w.pool_id!r}, {self.state_text()}, {len(w.nodes):,} nodes, "
                f"{w.task_slots_per_node} slot(s) per node)" + (f"; {cost}" if cost else ""))

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
        when = f" · as of {w.updated_at:%Y-%m-%d %H:%M:%S} UTC" if w.updated_at is not None else ""
        return _fallback.section(f"Pool {w.pool_id} ({self.state_text()}){when}", "<p>" + self._summary_line() + "</p>",
                                 self.cost_line.summary_html(),
                                 _fallback.rows_table_html(["node state", "nodes"], rows), util)

    def _ipython_display_(self) -> None:
        """The widget and one empty slot, both with display ids: swapped for the static summary and
        heatmap when the view is closed or the pool deleted (see :mod:`batchnb.views.widgets._static`)."""
        self._static.display(self._repr_mimebundle_())
        register_live(self)

    def static_bundles(self) -> list[dict]:
        w = self.watcher
        summary = {"text/html": self.summary_html(), "text/plain": self.summary_text()}
        if w.nodes.empty:
            return [summary]
        fig = plots.node_heatmap_figure(w.nodes, task_slots_per_node=w.task_slots_per_node)
        fig.update_layout(height=340)
        return [summary, figure_bundle(fig)]
