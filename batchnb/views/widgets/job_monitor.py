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

from batchnb.data.watch import JobWatcher, read_task_file_tail
from batchnb.views import plots
from batchnb.views.plots._style import format_timedelta
from batchnb.views.widgets import _fallback
from batchnb.views.widgets._live_figure import LiveFigure
from batchnb.views.widgets._loop import in_background
from batchnb.views.widgets._monitor_base import MonitorBase, error_line
from batchnb.views.widgets._monitor_base import classed as _classed
from batchnb.views.widgets._quiet import quiet
from batchnb.views.widgets._static import StaticSwap, after_next_cell, figure_bundle, register_live
from batchnb.views.widgets.cost_line import JobCostLine
from batchnb.views.widgets.task_browser import TaskBrowser, load_tails

__all__ = ["JobMonitor"]

TABS = (("progress", "Progress"), ("timeline", "Timeline"), ("durations", "Durations"), ("failures", "Failures"))
TASKS_TAB = len(TABS)  # the task browser, after the figures
MAX_FAILED_LISTED = 500  # the Select shows the first failures; the table behind it has them all
STDERR_TAIL_BYTES = 4096
STATIC_FAILED_WITH_STDERR = 10  # failed tasks whose stderr tail the static summary carries
# Job states in which the buttons no longer apply (terminate, reactivate).
_ENDED_STATES = frozenset({"terminating", "completed", "deleting"})


class JobMonitor(MonitorBase):
    """Live view of one job: progress bar with counts and ETA, figure tabs, failed tasks, actions.

    ``job`` (a :class:`batchnb.core.job_handle.JobHandle`) performs the actions: the buttons call its
    ``retry_failed()`` / ``terminate()``; without one they are disabled (the view never calls the SDK).
    Polling starts at once when a kernel loop is running (``autostart``); :meth:`close` stops it.

    Log records and warnings raised while it polls land in its status line, never in the cell
    output. Displayed in a notebook, it swaps itself for a static summary and figures once the job
    is done (or deleted): inside :meth:`wait` at once, otherwise when the next cell runs (until then
    the finished job's tasks and their output can still be browsed), when the view is closed, or
    when the kernel exits; so a saved notebook reopened without a kernel still shows it.
    """

    def __init__(self, watcher: JobWatcher, *, job: Any = None, interval: float = 2.0,
                 autostart: bool = True) -> None:
        self.watcher = watcher
        self.job = job
        self.interval = interval
        # The timeline of a big job is binned per node and time: a zoom re-bins it for the zoomed range.
        self._figures = {key: LiveFigure(f"batchnb-fig-{key}",
                                         on_zoom=self._timeline_zoomed if key == "timeline" else None)
                         for key, _ in TABS}
        self._stale = {key for key, _ in TABS}
        self._failed_ids: tuple[str, ...] = ()
        self._history_len = -1
        self._init_notes()
        self._static = StaticSwap(slots=3)
        self._swap_pending = False  # the static swap waits for the next cell
        self._tails: dict[str, str | None] = {}  # failed tasks' stderr, read for the static summary
        self._blocking = False

        self.title = widgets.HTML(f"<b>Job <code>{html.escape(watcher.job_id)}</code></b>")
        self.state_badge = _classed(widgets.HTML(), "batchnb-job-state")
        self.status = _classed(widgets.HTML(), "batchnb-job-status")
        self.notes = _classed(widgets.HTML(), "batchnb-job-notes")
        # The bar grows and shrinks with the output area; the counts wrap below it when narrow.
        self.progress = _classed(widgets.IntProgress(value=0, min=0, max=1, description="0 %",
                                                     layout=widgets.Layout(flex="1 1 240px", min_width="160px",
                                                                           max_width="100%")),
                                 "batchnb-job-progress")
        self.counts = _classed(widgets.HTML(layout=widgets.Layout(flex="1 1 320px")), "batchnb-job-counts")
        self.cost_line = JobCostLine(watcher, job)  # cost so far and to finish (job.cost(), job.estimate())
        self.task_browser = TaskBrowser(watcher)
        self.tabs = _classed(widgets.Tab(children=[*(self._figures[k].box for k, _ in TABS), self.task_browser],
                                         titles=[*(t for _, t in TABS), "Tasks"]), "batchnb-job-tabs")
        self.tabs.observe(lambda _: self._draw_figures(), names="selected_index")
        self.failed_select = _classed(widgets.Select(options=[], rows=8,
                                                     layout=widgets.Layout(flex="0 1 260px", min_width="160px")),
                                      "batchnb-failed-select")
        self.failed_select.observe(self._on_select_failed, names="value")
        self.failed_detail = _classed(widgets.HTML("<i>select a task</i>",
                                                   layout=widgets.Layout(flex="1 1 300px", overflow="auto",
                                                                         min_width="0")),
                                      "batchnb-failed-stderr")
        # Buttons never shrink (a long message once squeezed them to "Retry f..."): fixed by content.
        button_layout = {"flex": "0 0 auto", "width": "auto"}
        self.retry_button = _classed(widgets.Button(description="Retry failed", icon="redo", disabled=True,
                                                    layout=widgets.Layout(**button_layout)), "batchnb-retry-failed")
        self.terminate_button = _classed(widgets.Button(description="Terminate job", button_style="danger",
                                                        disabled=job is None, layout=widgets.Layout(**button_layout)),
                                         "batchnb-terminate-job")
        if job is None:
            self.terminate_button.tooltip = self.retry_button.tooltip = "open the view with job.monitor() to act"
        self.retry_button.on_click(lambda _: self._retry_failed())
        self.terminate_button.on_click(lambda _: self._terminate())
        self.message = _classed(widgets.HTML(), "batchnb-job-message")
        # Shown only once a task has failed: "No failed tasks." beside an empty list said nothing.
        self.failures = _classed(widgets.VBox([
            widgets.HTML("<b>Failed tasks</b> (select one for the end of its stderr)"),
            widgets.HBox([self.failed_select, self.failed_detail], layout=widgets.Layout(flex_flow="row wrap")),
        ], layout=widgets.Layout(display="none")), "batchnb-job-failures")
        wrap = {"flex_flow": "row wrap", "align_items": "center", "width": "100%"}
        super().__init__(children=[
            widgets.HBox([self.title, self.state_badge, self.status], layout=widgets.Layout(**wrap)),
            widgets.HBox([self.progress, self.counts], layout=widgets.Layout(**wrap)),
            self.cost_line,
            self.tabs,
            self.failures,
            widgets.HBox([self.retry_button, self.terminate_button], layout=widgets.Layout(**wrap)),
            self.message,
            self.notes,
        ], layout=widgets.Layout(width="100%", max_width="100%", overflow="hidden"))
        self.add_class("batchnb-job-monitor")
        if watcher.updated_at is not None:
            self.update()
        else:
            self.status.value = "loading..."
        if autostart:
            self.start()

    # ------------------------------------------------------------------------------- polling
    def wait(self, timeout: float | None = None) -> "JobMonitor":
        """Block until the job is done (or ``timeout`` seconds), then show the final state.

        For Run All: the kernel is busy until the cell ends, so a monitor cannot poll between
        cells; a cell that waits keeps the view current and leaves it complete."""
        # The view is told after every refresh (else it sat at "loading..." for the whole wait);
        # widget updates sent from a busy cell still reach the page. Ctrl-C hands the notebook
        # back, the view as it is.
        self._blocking = True  # the static swap happens inline: no loop turns until the cell ends
        try:
            with quiet(self.note):
                self.watcher.wait(timeout, interval=self.interval, on_update=lambda _: self.update())
        finally:
            self._blocking = False
        return self

    def close(self) -> None:
        """Stop polling and leave the static summary in the notebook (not a dead widget)."""
        self.watcher.stop()
        if self._static.shown and not self._static.static:
            self._static.show_static(self.static_bundles(self._tails))
        for fig in self._figures.values():
            fig.close()
        super().close()

    # ------------------------------------------------------------------------------- updates
    def _update(self) -> None:
        w = self.watcher
        self._update_state()
        self._update_notes()
        if w.last_stats is None:
            return
        self._update_progress()
        self.cost_line.update(final=w.done)
        if len(w.history) != self._history_len:
            self._history_len = len(w.history)
            self._stale.add("progress")
        if w.last_stats.changed_ids or w.last_stats.full:
            self._stale.update(("timeline", "durations", "failures"))
            self.task_browser.stale = True
            self._update_failed_list()
        self._draw_figures(final=w.done or w.gone)
        if (w.done or w.gone) and self._static.shown and not self._static.static:
            self._finalize()
        elif not (w.done or w.gone) and self._static.static:
            self._static.show_live(self._live_bundle())  # tasks retried or added: live again

    def state_text(self) -> str:
        """``deleted``, ``terminating``, ``completed``, ``done`` (all tasks ended), ``active``..."""
        w = self.watcher
        if w.gone:
            return "deleted"
        if w.job_state in _ENDED_STATES:
            return str(w.job_state)
        if w.done:
            return "done"
        return w.job_state or "loading"

    def _update_state(self) -> None:
        w = self.watcher
        self._show_state(self.state_text(), kind="job")
        ended = w.gone or w.job_state in _ENDED_STATES
        if self.job is None or ended:
            self.terminate_button.disabled = True
            self.terminate_button.tooltip = ("the job has ended" if ended else
                                             "open the view with job.monitor() to act")
        if ended:
            self.retry_button.disabled = True

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
        index = self.tabs.selected_index or 0
        if index == TASKS_TAB:
            self.task_browser.refresh()
        selected = TABS[index][0] if index < len(TABS) else ""
        # The visible figure, and on the last update all of them: a page reload after the job is
        # done then shows every tab from the widgets' synced state.
        for key in [k for k, _ in TABS if k in self._stale and (final or k == selected)]:
            if self._figures[key].refresh(lambda: self._build(key), force=final):
                self._stale.discard(key)

    def _timeline_zoomed(self) -> None:
        figure = self._figures["timeline"]
        # One bar per task: plotly zooms those by itself, nothing to re-bin.
        if figure.widget is None or not figure.widget.data or figure.widget.data[0].type != "heatmap":
            return
        with quiet(self.note):
            try:
                figure.refresh(lambda: self._build("timeline"), force=True)
            except Exception as exc:  # from a plotly callback: say so in the status line, not the cell
                self.note(f"timeline zoom failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
                self._update_notes()

    def _build(self, key: str, *, zoomed: bool = True):
        tasks = self.watcher.tasks
        if key == "progress":
            return plots.progress_figure(self.watcher.history.frame, total=self.watcher.total or None)
        if key == "timeline":
            x_range, y_range = self._figures["timeline"].view if zoomed else (None, None)
            return plots.timeline_figure(tasks, x_range=x_range, y_range=y_range)
        if key == "durations":
            return plots.duration_histogram(tasks)
        return plots.failures_by_code(tasks)

    # ------------------------------------------------------------------------------- failures
    def _update_failed_list(self) -> None:
        failed = self.watcher.failed()
        ids = tuple(str(i) for i in failed.index[:MAX_FAILED_LISTED])
        ended = self.watcher.gone or self.watcher.job_state in _ENDED_STATES
        self.retry_button.disabled = failed.empty or self.job is None or ended
        self.failures.layout.display = "none" if failed.empty else "flex"
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
            self.failed_detail.value = ""

    def _on_select_failed(self, change: dict) -> None:
        task_id = change["new"]
        if not task_id:
            return
        row = self.watcher.tasks.loc[task_id]
        head = (f"<b>{html.escape(task_id)}</b> · exit code {_text(row['exit_code'])} · "
                f"{html.escape(_text(row['failure_code']))} {html.escape(_text(row['failure_message']))}"
                f" · node {html.escape(_text(row['node_id']))}")
        self.failed_detail.value = head + "<pre>loading stderr...</pre>"

        def show(tails: dict[str, str]) -> None:
            if self.failed_select.value != task_id:
                return  # the user moved on while we were reading
            body = tails["stderr.txt"]
            self.failed_detail.value = head + f"<pre class='batchnb-stderr-text'>{html.escape(body)}</pre>"

        load_tails(self.watcher, task_id, ("stderr.txt",), show, max_bytes=STDERR_TAIL_BYTES)

    # ------------------------------------------------------------------------------- actions
    def _retry_failed(self) -> None:
        job = self.job
        if job is None:
            return
        self.retry_button.disabled = True
        self.message.value = "reactivating failed tasks..."

        def done(ids: list[str]) -> None:
            self.message.value = f"{len(ids):,} task(s) reactivated"
            self.start()  # the watcher may have stopped when the job looked done

        with quiet(self.note):
            in_background(job.retry_failed, done, self._action_failed)

    def _terminate(self) -> None:
        job = self.job
        if job is None:
            return
        self.terminate_button.disabled = True
        self.message.value = "terminating the job..."
        with quiet(self.note):
            in_background(lambda: job.terminate(reason="terminated from the batchnb monitor"),
                          lambda _: setattr(self.message, "value", "job terminating"), self._action_failed)

    def _action_failed(self, exc: BaseException) -> None:
        # A one-line message under the buttons (they keep their size), and the buttons follow the
        # job's state: a job deleted meanwhile leaves both disabled.
        self.message.value = error_line(exc)
        ended = self.watcher.gone or self.watcher.job_state in _ENDED_STATES or "NotFound" in str(exc)
        self.terminate_button.disabled = self.job is None or ended
        self.retry_button.disabled = self.job is None or ended or self.watcher.failed().empty
        if ended:
            self.start()  # the next refresh shows the job's state (or its deletion)

    # ------------------------------------------------------------------------------- display
    def summary_text(self) -> str:
        w = self.watcher
        c = w.counts
        return (f"JobMonitor(job {w.job_id!r}, {self.state_text()}: {c['completed']:,}/{w.total:,} completed, "
                f"{c['running']:,} running, {c['active']:,} active, {c['succeeded']:,} succeeded, "
                f"{c['failed']:,} failed)" + (f"; {self.cost_line.text()}" if self.cost_line.text() else ""))

    def summary_html(self, *, stderr_tails: dict[str, str | None] | None = None) -> str:
        """The job as static HTML (no script): what GitHub, nbconvert and a reopened notebook show.

        ``stderr_tails``: task id -> the end of its stderr, shown in a collapsed ``<details>`` per
        failed task (a click opens it, no kernel needed)."""
        w = self.watcher
        c = w.counts
        parts = [_fallback.progress_bar_html(c["completed"], w.total, failed=c["failed"]),
                 _fallback.counts_table_html(c), self.cost_line.summary_html()]
        if not w.tasks.empty and c["failed"]:
            failed = w.failed().head(STATIC_FAILED_WITH_STDERR)
            # The sweep parameters (as stored with each task) say which inputs failed.
            with_params = failed["display_name"].notna().any()
            parts.append("<p>First failed tasks:</p>" + _fallback.rows_table_html(
                ["task", *(["parameters"] if with_params else []), "exit code", "failure", "node"],
                [(i, *([r.display_name] if with_params else []), r.exit_code, r.failure_code, r.node_id)
                 for i, r in failed.iterrows()]))
            for task_id, tail in (stderr_tails or {}).items():
                body = "(no stderr: the task did not run on a node)" if tail is None else (tail or "(empty)")
                parts.append(f"<details class='batchnb-static-stderr'><summary>stderr of "
                             f"<code>{html.escape(task_id)}</code></summary><pre style='white-space:pre-wrap'>"
                             f"{html.escape(body)}</pre></details>")
            parts.append(f"<p>Run them again: <code>job.retry_failed()</code> or "
                         f"<code>%batch retry {html.escape(w.job_id)}</code></p>")
        durations = w.tasks["duration"].dropna() if not w.tasks.empty else pd.Series([], dtype="timedelta64[ns]")
        if len(durations):
            parts.append(f"<p>Task duration: median {format_timedelta(durations.median())}, "
                         f"max {format_timedelta(durations.max())}</p>")
        when = f" · as of {w.updated_at:%Y-%m-%d %H:%M:%S} UTC" if w.updated_at is not None else ""
        return _fallback.section(f"Job {w.job_id} ({self.state_text()}){when}", *parts)

    def _live_bundle(self) -> dict:
        return self._repr_mimebundle_()

    def _ipython_display_(self) -> None:
        """Displayed as three outputs with display ids: the widget, then two empty slots that take
        the static figures when the job is done (see :mod:`batchnb.views.widgets._static`)."""
        self._static.display(self._live_bundle())
        register_live(self)
        if self.watcher.done or self.watcher.gone:
            self._finalize()

    def _finalize(self) -> None:
        """Leave the static summary (with failed tasks' stderr tails) and figures in the notebook.

        Inside :meth:`wait` at once (the cell is running, the notebook takes the update). Otherwise
        when the next cell runs: until then the view stays usable (browse the tasks, read any
        task's output); the stderr tails are read now, off the loop, so the swap itself is quick."""
        if self._blocking:
            self._swap_to_static(self._read_failed_tails())
            return
        if self._swap_pending:
            return
        self._swap_pending = True

        def keep(tails: dict[str, str | None]) -> None:
            self._tails = tails

        def swap() -> None:
            self._swap_pending = False
            self._swap_to_static(self._tails)

        with quiet(self.note):
            in_background(self._read_failed_tails, keep, lambda _: None)
        after_next_cell(swap)

    def _read_failed_tails(self) -> dict[str, str | None]:
        w = self.watcher
        tails: dict[str, str | None] = {}
        for task_id in [str(i) for i in w.failed().index[:STATIC_FAILED_WITH_STDERR]]:
            try:
                tails[task_id] = read_task_file_tail(w.client, w.job_id, task_id, "stderr.txt", max_bytes=1024)
            except Exception as exc:
                tails[task_id] = f"(could not read stderr: {type(exc).__name__})"
        return tails

    def _swap_to_static(self, tails: dict[str, str | None]) -> None:
        if (self.watcher.done or self.watcher.gone) and self._static.shown and not self._static.static:
            self._static.show_static(self.static_bundles(tails))

    def static_bundles(self, stderr_tails: dict[str, str | None] | None = None) -> list[dict]:
        """What replaces the widget: an HTML summary, the progress figure and the timeline."""
        w = self.watcher
        html_ = self.summary_html(stderr_tails=stderr_tails or {})
        bundles = [{"text/html": html_, "text/plain": self.summary_text()},
                   figure_bundle(self._static_figure("progress"))]
        if not w.tasks.empty and w.tasks["start_time"].notna().any():
            bundles.append(figure_bundle(self._static_figure("timeline")))
        return bundles

    def _static_figure(self, key: str):
        fig = self._build(key, zoomed=False)
        fig.update_layout(height=360)
        return fig


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

