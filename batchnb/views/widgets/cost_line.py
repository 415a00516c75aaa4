"""One line of cost in a monitor's header: what the job has cost and what finishing will cost;
what the pool's nodes cost and how much of that was idle.

``JobCostLine`` prices the task table its monitor's watcher already holds
(:class:`batchnb.core.cost.live.LiveJobCost`: no task listing of its own), so its figures are
``job.cost()`` and ``job.estimate()``. ``PoolCostLine`` shows ``pool.cost()``, which lists every
task of every job on the pool: it runs in a worker thread, at most once a minute. Both keep their
last figures for the static summary a monitor leaves in the notebook.
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets

from batchnb.views.plots._style import format_timedelta
from batchnb.views.widgets._loop import in_background, running_loop

__all__ = ["JobCostLine", "PoolCostLine"]


def money(amount: float, currency: str | None) -> str:
    return f"{amount:.4f} {currency or ''}".rstrip()


class _CostLine(widgets.HTML):
    css_class = "batchnb-cost-line"

    def __init__(self, *, min_interval: float) -> None:
        # Full width without the widgets' default side margins (they pushed it 2 px past the monitor).
        super().__init__(layout=widgets.Layout(width="100%", margin="2px 0"))
        self.add_class(self.css_class)
        self.min_interval = min_interval
        self.error: str | None = None
        self._busy = False
        self._last = -float("inf")
        self._took = 0.0  # seconds the last pricing took
        self._generation = 0  # which pricing's figures may still be shown (the newest started)

    def _due(self, final: bool) -> bool:
        # The last figures are priced even while an earlier pricing still runs in the background:
        # the static summary that replaces a finished view is made right after, from them.
        if final:
            return True
        # A big job takes seconds to price: never spend more than ~5 % of the time on it.
        interval = max(self.min_interval, 20.0 * self._took)
        return not self._busy and time.monotonic() - self._last >= interval

    def _run(self, fn: Any, *, inline: bool) -> None:
        self._busy, self._last = True, time.monotonic()
        self._generation += 1
        generation = self._generation

        def done(result: Any) -> None:
            self._busy, self.error = False, None
            if generation != self._generation:
                return  # an older pricing finished after a newer one started: the newer figures win
            self._took = time.monotonic() - self._last
            self._show(result)

        def failed(exc: BaseException) -> None:
            self._busy = False
            if generation != self._generation:
                return
            self.error = f"cost unavailable: {type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
            self._set(f"<span style='color:#6b7280'>{html.escape(self.error)}</span>")

        if inline or running_loop() is None:
            try:
                result = fn()
            except Exception as exc:
                failed(exc)
            else:
                done(result)
        else:
            in_background(fn, done, failed)

    def _show(self, result: Any) -> None:
        raise NotImplementedError

    def _set(self, body: str) -> None:
        # Wraps at any width (900 px and narrower) instead of being cut or widening the output.
        self.value = f"<div style='white-space:normal;overflow-wrap:anywhere;line-height:1.4'>{body}</div>"

    def text(self) -> str:
        """The line as plain text ("" until the first figures)."""
        raise NotImplementedError

    def summary_html(self) -> str:
        """The line for a static summary (no widget, no script)."""
        text = self.text()
        return f"<p class='{self.css_class}'>{html.escape(text)}</p>" if text else ""


class JobCostLine(_CostLine):
    """Cost so far and the estimate to finish for a :class:`JobMonitor`'s job.

    ``job``: the handle (its session prices the tasks); without one the line stays hidden."""

    def __init__(self, watcher: Any, job: Any = None, *, min_interval: float = 10.0) -> None:
        super().__init__(min_interval=min_interval)
        self.watcher = watcher
        self.snapshot: Any = None  # batchnb.core.cost.live.JobCostSnapshot
        self.tracker: Any = None
        self._final_shown = False  # the figures of a finished job are computed once
        if job is not None:
            from batchnb.core.cost.live import LiveJobCost

            self.tracker = LiveJobCost(job.session, watcher.job_id)
        else:
            self.layout.display = "none"

    def update(self, *, final: bool = False) -> None:
        """Price the watcher's table again when due: every ``min_interval`` seconds while tasks run
        (a running task costs until now), at once when ``final`` (the job is done: the last figures).

        The final pricing runs inline, so the static summary that replaces the view carries it."""
        w = self.watcher
        if not final:
            self._final_shown = False
        if (self.tracker is None or w.last_stats is None or w.gone or self._final_shown
                or not self._due(final)):
            return
        self._final_shown = final
        # A copy: the watcher updates its table in place while the worker thread prices this one.
        tasks, pool_id, tracker = w.tasks.copy(), w.pool_id, self.tracker
        self._run(lambda: tracker.compute(tasks, pool_id), inline=final)

    def _show(self, snapshot: Any) -> None:
        self.snapshot = snapshot
        self._set(html.escape(self.text()).replace("cost so far", "<b>cost so far</b>", 1).replace(
            "to finish", "<b>to finish</b>", 1))

    def text(self) -> str:
        if self.snapshot is None:
            return ""
        s, est = self.snapshot.summary, self.snapshot.estimate
        cur = s["currency"]
        parts = [f"cost so far {money(s['total_cost'], cur)} ({s['core_hours']:.4f} core-h, "
                 f"{s['ran']:,} task(s) ran)"]
        if s["retries"] or s["requeues"]:
            parts.append(f"incl. ~{money(s['earlier_cost_est'], cur)} for {s['retries']:,} retried and "
                         f"{s['requeues']:,} requeued attempt(s)")
        if est is not None and est.remaining:
            if est.eta is None:
                parts.append(f"to finish: {est.basis}")
            else:
                parts.append(f"to finish ~{money(est.cost, est.currency)} ({est.cost_low:.4f}-{est.cost_high:.4f}), "
                             f"about {format_timedelta(est.eta)} on {est.nodes} node(s)")
        if s["approximate"]:
            parts.append("approximate prices")
        return " · ".join(parts)


class PoolCostLine(_CostLine):
    """Node-hours, idle node-hours and their cost for a :class:`PoolMonitor`'s pool, with the
    autoscale hint of ``pool.cost()`` when idle nodes cost more than a quarter of the bill."""

    def __init__(self, watcher: Any, pool: Any = None, *, min_interval: float = 60.0) -> None:
        super().__init__(min_interval=min_interval)
        self.watcher = watcher
        self.pool = pool
        self.summary: dict[str, Any] | None = None
        if pool is None:
            self.layout.display = "none"

    def update(self, *, final: bool = False) -> None:
        """``pool.cost()`` in a worker thread, at most every ``min_interval`` seconds."""
        w = self.watcher
        if self.pool is None or w.last_stats is None or w.gone or not self._due(final):
            return
        self._run(self.pool.cost, inline=False)

    def _show(self, frame: Any) -> None:
        self.summary = dict(frame.attrs["summary"])
        text = self.text()
        hint = self.summary.get("hint")
        body = html.escape(text.replace(f" · {hint}", "") if hint else text)
        self._set(body.replace("idle", "<b>idle</b>", 1) + (
            f"<br><span class='batchnb-autoscale-hint' style='color:#b45309'>{html.escape(hint)}</span>" if hint else ""))

    def text(self) -> str:
        s = self.summary
        if s is None:
            return ""
        cur = s["currency"]
        parts = [f"idle {s['idle_node_hours']:.4f} node-h costing {money(s['idle_cost'], cur)}",
                 f"of {s['node_hours']:.4f} node-h costing {money(s['cost'], cur)} since "
                 f"{s['since']:%Y-%m-%d %H:%M} UTC"]
        if s["approximate"]:
            parts.append("approximate prices")
        if s.get("hint"):
            parts.append(str(s["hint"]))
        return " · ".join(parts)
