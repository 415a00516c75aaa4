"""``JobMonitor``: a job's progress, figures and failures, live in the notebook.

Driven by a :class:`batchnb.data.watch.JobWatcher` polling on the kernel's asyncio loop. Each refresh
updates the progress bar and counts, and the figure in the visible tab (one ``batch_update()``
per figure); hidden tabs are marked stale and drawn when selected, so a 100,000-task timeline is
not rebuilt every two seconds for nobody.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import pandas as pd

from batchnb.data.watch import JobWatcher, reactivate_failed, read_task_file_tail, terminate_job
from batchnb.views import plots
from batchnb.views.plots._style import format_timedelta
from batchnb.views.widgets import _fallback
from batchnb.views.widgets._live_figure import LiveFigure
from batchnb.views.widgets._loop import in_background, running_loop

__all__ = ["JobMonitor"]

TABS = (("progress", "Progress"), ("timeline", "Timeline"), ("durations", "Durations"), ("failures", "Failures"))
MAX_FAILED_LISTED = 500  # the Select shows the first failures; the table behind it has them all
STDERR_TAIL_BYTES = 4096


class JobMonitor(widgets.VBox):
    """Live view of one job: progress bar with counts and ETA, figure tabs, failed tasks, actions.

    ``job`` (a :class:`batchnb.core.job_handle.JobHandle`, optional) is used for the buttons when given
    (its ``retry_failed()`` / ``terminate()``); otherwise the watcher's client is used directly.
    Polling starts at once when a kernel loop is running (``autostart``); :meth:`close` stops it.
    """

    def __init__(self, watcher: JobWatcher, *, job: Any = None, interval: float = 2.0,
                 autostart: bool = True) -> None:
        self.watcher = watcher
        self.job = job
        self.interval = interval
        self._figures = {key: LiveFigure(f"batchnb-fig-{key}") for key, _ in TABS}
        self._stale = {key for key, _ in TABS}
        self._failed_ids: tuple[str, ...] = ()
        self._history_len = -1

        self.title = widgets.HTML(f"<b>Job <code>{html.escape(watcher.job_id)}</code></b>")
        self.status = _classed(widgets.HTML(), "batchnb-job-status")
        self.progress = _classed(widgets.IntProgress(value=0, min=0, max=1, description="0 %",
                                                     layout=widgets.Layout(width="60%")), "batchnb-job-progress")
        self.counts = _classed(widgets.HTML(), "batchnb-job-counts")
        self.tabs = _classed(widgets.Tab(children=[self._figures[k].box for k, _ in TABS],
                                         titles=[t for _, t in TABS]), "batchnb-job-tabs")
        self.tabs.observe(lambda _: self._draw_figures(), names="selected_index")
        self.failed_select = _classed(widgets.Select(options=[], rows=8, layout=widgets.Layout(width="260px")),
                                      "batchnb-failed-select")
        self.failed_select.observe(self._on_select_failed, names="value")
        self.failed_detail = _classed(widgets.HTML("<i>No failed tasks.</i>",
                                                   layout=widgets.Layout(flex="1 1 auto", overflow="auto")),
                                      "batchnb-failed-stderr")
        self.retry_button = _classed(widgets.Button(description="Retry failed", icon="redo", disabled=True),
                                     "batchnb-retry-failed")
        self.terminate_button = _classed(widgets.Button(description="Terminate job", button_style="danger"),
                                         "batchnb-terminate-job")
        self.retry_button.on_click(lambda _: self._retry_failed())
        self.terminate_button.on_click(lambda _: self._terminate())
        self.message = _classed(widgets.HTML(), "batchnb-job-message")
        failures = widgets.VBox([
            widgets.HTML("<b>Failed tasks</b> (select one for the end of its stderr)"),
            widgets.HBox([self.failed_select, self.failed_detail]),
        ])
        super().__init__(children=[
            widgets.HBox([self.title, self.status]),
            widgets.HBox([self.progress, self.counts]),
            self.tabs,
            failures,
            widgets.HBox([self.retry_button, self.terminate_button, self.message]),
        ])
        self.add_class("batchnb-job-monitor")
        if watcher.updated_at is not None:
            self.update()
        else:
            self.status.value = "loading..."
        if autostart:
            self.start()

    # ------------------------------------------------------------------------------- polling
    def start(self) -> None:
        """Poll on the running loop every ``interval`` seconds (no-op when already polling)."""
        if running_loop() is not None:  # without one (scripts, tests) the owner calls update()
            self.watcher.start(self.interval, on_update=lambda _: self.update())

    def stop(self) -> None:
        self.watcher.stop()

    def wait(self, timeout: float | None = None) -> "JobMonitor":
        """Block until the job is done (or ``timeout`` seconds), then show the final state.

        For Run All: the kernel is busy until the cell ends, so a monitor cannot poll between
        cells; a cell that waits keeps the view current and leaves it complete."""
        # The view is told after every refresh (else it sat at "loading..." for the whole wait);
        # widget updates sent from a busy cell still reach the page. Ctrl-C hands the notebook
        # back, the view as it is.
        self.watcher.wait(timeout, interval=self.interval, on_update=lambda _: self.update())
        return self

    def close(self) -> None:
        self.watcher.stop()
        for fig in self._figures.values():
            fig.close()
        super().close()

    # ------------------------------------------------------------------------------- updates
    def update(self) -> None:
        """Bring every part of the view up to the watcher's current state (called after each refresh)."""
        w = self.watcher
        self.status.value = html.escape(("done · " if w.done else "") + w.status_text())
        if w.last_stats is None:
            return
        self._update_progress()
        if len(w.history) != self._history_len:
            self._history_len = len(w.history)
            self._stale.add("progress")
        if w.last_stats.changed_ids or w.last_stats.full:
            self._stale.update(("timeline", "durations", "failures"))
            self._update_failed_list()
        self._draw_figures(final=w.done)

    def _update_progress(self) -> None:
        c, total = self.watcher.counts, self.watcher.total
        self.progress.max = max(total, 1)
        self.progress.value = c["completed"]
        pct = 100.0 * c["completed"] / total if total else 0.0
        self.progress.description = f"{pct:.0f} %"
        # Orange, not red, with some failures: a red full bar reads as "everything failed".
        self.progress.bar_style = "warning" if c["failed"] else ("success" if self.watcher.done else "info")
        eta = plots.estimate_eta(self.watcher.history.frame, total=total) if not self.watcher.done else None
        parts = [f"<b>{c['completed']:,}</b> / {total:,} done", f"{c['running']:,} running",
                 f"{c['active']:,} active", f"<span style='color:#2ca02c'>{c['succeeded']:,} succeeded</span>",
                 f"<span style='color:#d62728'>{c['failed']:,} failed</span>"]
        if eta is not None:
            parts.append(f"ETA {format_timedelta(eta)}")
        self.counts.value = " · ".join(parts)

    def _draw_figures(self, *, final: bool = False) -> None:
        selected = TABS[self.tabs.selected_index or 0][0]
        # The visible figure, and on the last update all of them: a page reload after the job is
        # done then shows every tab from the widgets' synced state.
        for key in [k for k, _ in TABS if k in self._stale and (final or k == selected)]:
            if self._figures[key].refresh(lambda: self._build(key), force=final):
                self._stale.discard(key)

    def _build(self, key: str):
        tasks = self.watcher.tasks
        if key == "progress":
            return plots.progress_figure(self.watcher.history.frame, total=self.watcher.total or None)
        if key == "timeline":
            return plots.timeline_figure(tasks)
        if key == "durations":
            return plots.duration_histogram(tasks)
        return plots.failures_by_code(tasks)

    # ------------------------------------------------------------------------------- failures
    def _update_failed_list(self) -> None:
        failed = self.watcher.failed()
        ids = tuple(str(i) for i in failed.index[:MAX_FAILED_LISTED])
        self.retry_button.disabled = failed.empty
        if ids == self._failed_ids:
            return
        self._failed_ids = ids
        exit_codes = failed["exit_code"].iloc[:MAX_FAILED_LISTED]
        labels = [(f"{i} (exit {'-' if pd.isna(x) else int(x)})", i) for i, x in zip(ids, exit_codes, strict=True)]
        if len(failed) > MAX_FAILED_LISTED:
            labels.append((f"... {len(failed) - MAX_FAILED_LISTED:,} more (see watcher.failed())", ""))
        current = self.failed_select.value
        self.failed_select.options = labels
        if current in ids:
            self.failed_select.value = current
        if not ids:
            self.failed_detail.value = "<i>No failed tasks.</i>"

    def _on_select_failed(self, change: dict) -> None:
        task_id = change["new"]
        if not task_id:
            return
        row = self.watcher.tasks.loc[task_id]
        head = (f"<b>{html.escape(task_id)}</b> · exit code {_text(row['exit_code'])} · "
                f"{html.escape(_text(row['failure_code']))} {html.escape(_text(row['failure_message']))}"
                f" · node {html.escape(_text(row['node_id']))}")
        self.failed_detail.value = head + "<pre>loading stderr...</pre>"
        w = self.watcher

        def show(text: str | None) -> None:
            if self.failed_select.value != task_id:
                return  # the user moved on while we were reading
            body = "(no stderr: the task did not run on a node)" if text is None else (text or "(empty)")
            self.failed_detail.value = head + f"<pre class='batchnb-stderr-text'>{html.escape(body)}</pre>"

        in_background(lambda: read_task_file_tail(w.client, w.job_id, task_id, "stderr.txt",
                                                  max_bytes=STDERR_TAIL_BYTES),
                      show, lambda exc: show(f"could not read stderr: {type(exc).__name__}"))

    # ------------------------------------------------------------------------------- actions
    def _retry_failed(self) -> None:
        self.retry_button.disabled = True
        self.message.value = "reactivating failed tasks..."
        job, w = self.job, self.watcher

        def act() -> int:
            if job is not None and hasattr(job, "retry_failed"):
                return len(job.retry_failed())
            return reactivate_failed(w)

        def done(n: int) -> None:
            self.message.value = f"{n:,} task(s) reactivated"
            self.start()  # the watcher may have stopped when the job looked done

        in_background(act, done, self._action_failed)

    def _terminate(self) -> None:
        self.terminate_button.disabled = True
        self.message.value = "terminating the job..."
        job, w = self.job, self.watcher

        def act() -> None:
            if job is not None and hasattr(job, "terminate"):
                job.terminate()
            else:
                terminate_job(w)

        in_background(act, lambda _: setattr(self.message, "value", "job terminating"), self._action_failed)

    def _action_failed(self, exc: BaseException) -> None:
        self.message.value = f"<span style='color:#d62728'>{html.escape(str(exc)[:300])}</span>"
        self.retry_button.disabled = self.terminate_button.disabled = False

    # ------------------------------------------------------------------------------- display
    def summary_text(self) -> str:
        w = self.watcher
        c = w.counts
        state = "done" if w.done else (w.job_state or "loading")
        return (f"JobMonitor(job {w.job_id!r}, {state}: {c['completed']:,}/{w.total:,} completed, "
                f"{c['running']:,} running, {c['active']:,} active, {c['succeeded']:,} succeeded, "
                f"{c['failed']:,} failed)")

    def summary_html(self) -> str:
        w = self.watcher
        c = w.counts
        parts = [_fallback.progress_bar_html(c["completed"], w.total, failed=c["failed"]),
                 _fallback.counts_table_html(c)]
        if not w.tasks.empty and c["failed"]:
            failed = w.failed().head(10)
            parts.append("<p>First failed tasks:</p>" + _fallback.rows_table_html(
                ["task", "exit code", "failure", "node"],
                [(i, r.exit_code, r.failure_code, r.node_id) for i, r in failed.iterrows()]))
        durations = w.tasks["duration"].dropna() if not w.tasks.empty else pd.Series([], dtype="timedelta64[ns]")
        if len(durations):
            parts.append(f"<p>Task duration: median {format_timedelta(durations.median())}, "
                         f"max {format_timedelta(durations.max())}</p>")
        state = "done" if w.done else html.escape(w.job_state or "loading")
        return _fallback.section(f"Job {w.job_id} ({state})", *parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.summary_text()
        bundle["text/html"] = self.summary_html()
        return bundle


def _classed(widget: Any, css_class: str) -> Any:
    widget.add_class(css_class)
    return widget


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

