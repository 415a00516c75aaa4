"""The job monitor's "Tasks" tab: every task with its sweep parameters, filterable; any one of them
selected shows the end of its stdout and stderr.

One row per task: id, the sweep parameters it ran with (read from the task itself, so a job
re-attached in a new kernel shows them), state, exit code, retries, duration and node. The list is
a ``Select`` in a fixed-width font (cheap for the browser at any job size) holding the first
``MAX_LISTED`` rows that pass the filter; the filter narrows a 100,000-task job to what matters.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd

from batchnb.data.frames import display_states, task_params
from batchnb.data.watch import JobWatcher, read_task_file_tail
from batchnb.views.plots._style import format_timedelta
from batchnb.views.widgets._loop import in_background

__all__ = ["TaskBrowser", "load_tails"]

MAX_LISTED = 500
MAX_PARAM_COLUMNS = 6
TAIL_BYTES = 4096
STATE_FILTERS = ("all", "active", "running", "succeeded", "failed", "retried")
_WIDTHS = {"exit": 5, "retries": 7, "duration": 9}
# The <select> takes the page's proportional font; columns need a fixed-width one.
_STYLE = ("<style>.batchnb-task-select select{font-family:var(--jp-code-font-family,monospace);"
          "font-size:12px;white-space:pre}</style>")


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def load_tails(watcher: JobWatcher, task_id: str, files: tuple[str, ...], show: Callable[[dict[str, str]], None],
               *, max_bytes: int = TAIL_BYTES) -> None:
    """Read the end of each of ``files`` of ``task_id`` off the kernel's loop, then ``show`` them
    (file name -> text; a note instead when the task never ran on a node or a read failed)."""

    def read() -> dict[str, str]:
        out: dict[str, str] = {}
        for name in files:
            try:
                text = read_task_file_tail(watcher.client, watcher.job_id, task_id, name, max_bytes=max_bytes)
            except Exception as exc:  # one unreadable file must not hide the other
                out[name] = f"(could not read {name}: {type(exc).__name__})"
                continue
            out[name] = f"(no {name}: the task did not run on a node)" if text is None else (text or "(empty)")
        return out

    in_background(read, show, lambda exc: show({name: f"(could not read: {type(exc).__name__})" for name in files}))


class TaskBrowser(widgets.VBox):
    """Filterable task table with the sweep parameters; selecting a task shows its output tails."""

    def __init__(self, watcher: JobWatcher) -> None:
        self.watcher = watcher
        self.stale = True
        self.search = widgets.Text(placeholder="filter: task id or parameter, e.g. x=7",
                                   layout=widgets.Layout(flex="1 1 240px", min_width="160px"))
        self.state_filter = widgets.Dropdown(options=STATE_FILTERS, value="all",
                                             layout=widgets.Layout(flex="0 0 auto", width="auto"))
        self.shown = widgets.HTML()
        self.header = widgets.HTML()
        self.select = widgets.Select(options=[], rows=12, layout=widgets.Layout(width="100%"))
        self.detail = widgets.HTML("<i>select a task for the end of its stdout and stderr</i>",
                                   layout=widgets.Layout(width="100%", overflow="auto"))
        for w, css in ((self.search, "batchnb-task-search"), (self.state_filter, "batchnb-task-state-filter"),
                       (self.shown, "batchnb-task-shown"), (self.header, "batchnb-task-header"),
                       (self.select, "batchnb-task-select"), (self.detail, "batchnb-task-detail")):
            w.add_class(css)
        self.search.observe(lambda _: self.refresh(force=True), names="value")
        self.state_filter.observe(lambda _: self.refresh(force=True), names="value")
        self.select.observe(self._on_select, names="value")
        super().__init__(children=[
            widgets.HTML(_STYLE),
            widgets.HBox([self.search, self.state_filter, self.shown],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center", width="100%")),
            self.header, self.select, self.detail,
        ], layout=widgets.Layout(width="100%", min_width="0"))
        self.add_class("batchnb-task-browser")

    # ------------------------------------------------------------------------------- table
    def matching(self) -> pd.Index:
        """The ids of the tasks the filters let through (vectorized: cheap on 100,000 tasks)."""
        tasks = self.watcher.tasks
        keep = pd.Series(True, index=tasks.index)
        state = self.state_filter.value
        if state == "retried":
            keep &= (tasks["retry_count"].fillna(0) > 0) | (tasks["requeue_count"].fillna(0) > 0)
        elif state != "all":
            keep &= display_states(tasks) == state
        needle = self.search.value.strip().lower().replace('"', "")
        if needle:
            ids = pd.Series(tasks.index.astype("string").str.lower(), index=tasks.index)
            names = tasks["display_name"].fillna("").str.lower().str.replace('"', "", regex=False)
            keep &= ids.str.contains(needle, regex=False) | names.str.contains(needle, regex=False)
        return tasks.index[keep.to_numpy(dtype=bool)]

    def table(self, ids: pd.Index | None = None) -> pd.DataFrame:
        """Rows as shown (strings) for ``ids`` (default: every task the filters let through)."""
        tasks = self.watcher.tasks.loc[self.matching() if ids is None else ids]
        params = task_params(tasks).iloc[:, :MAX_PARAM_COLUMNS]  # parsed for these rows only
        retries = tasks["retry_count"].fillna(0).astype("int64")
        requeues = tasks["requeue_count"].fillna(0).astype("int64")
        out = pd.DataFrame(index=tasks.index)
        for name in params.columns:
            out[str(name)] = params[name].map(_text)
        out["state"] = display_states(tasks).astype("string").fillna("") if len(tasks) else ""
        out["exit"] = tasks["exit_code"].map(_text)
        out["retries"] = retries.map(lambda n: f"↻{n}" if n else "0")
        out.loc[requeues > 0, "retries"] = out["retries"] + "+" + requeues[requeues > 0].astype(str) + "q"
        out["duration"] = tasks["duration"].map(lambda d: "" if pd.isna(d) else format_timedelta(d))
        out["node"] = tasks["node_id"].map(_text)
        return out

    def refresh(self, *, force: bool = False) -> None:
        """Rebuild the listed rows (when the data changed since, or ``force``)."""
        if not (self.stale or force):
            return
        self.stale = False
        matching = self.matching()
        listed = self.table(matching[:MAX_LISTED])
        ids = [str(i) for i in listed.index]
        columns = ["task", *listed.columns]
        cells = [ids, *[listed[c].tolist() for c in listed.columns]]
        widths = [max([len(str(c)), *(len(v) for v in col)], default=len(str(c))) for c, col in zip(columns, cells,
                                                                                                  strict=True)]
        widths = [max(w, _WIDTHS.get(c, 0)) for c, w in zip(columns, widths, strict=True)]

        def line(values: list[str]) -> str:
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

        # Non-breaking spaces: an <option> collapses ordinary runs of spaces.
        self.header.value = (f"<pre style='margin:0 0 0 4px;font-size:12px'>{html.escape(line(columns))}</pre>"
                             if ids else "")
        labels = [(line([str(v) for v in values]).replace(" ", "\u00a0"), task_id)
                  for task_id, values in zip(ids, zip(*cells, strict=True), strict=True)]
        current = self.select.value
        if [v for _, v in self.select.options] != ids or [lbl for lbl, _ in self.select.options] != \
                [lbl for lbl, _ in labels]:
            self.select.options = labels
            if current in ids:
                self.select.value = current
        total = len(self.watcher.tasks)
        more = f" (first {MAX_LISTED:,} listed: filter to narrow)" if len(matching) > MAX_LISTED else ""
        self.shown.value = f"<span style='color:#6b7280'>{len(matching):,} of {total:,} tasks{more}</span>"

    # ------------------------------------------------------------------------------- detail
    def _on_select(self, change: dict) -> None:
        task_id = change["new"]
        if not task_id or task_id not in self.watcher.tasks.index:
            return
        row = self.watcher.tasks.loc[task_id]
        parts = [f"<b>{html.escape(task_id)}</b>"]
        if _text(row["display_name"]):
            parts.append(html.escape(_text(row["display_name"])))
        parts.append(f"exit code {html.escape(_text(row['exit_code']) or '-')}")
        retries, requeues = int(_text(row["retry_count"]) or 0), int(_text(row["requeue_count"]) or 0)
        if retries or requeues:
            parts.append(f"<span style='color:#ff7f0e'>retried {retries}× · requeued {requeues}×</span>")
        if _text(row["failure_code"]):
            parts.append(html.escape(f"{_text(row['failure_code'])} {_text(row['failure_message'])}".strip()))
        parts.append(f"node {html.escape(_text(row['node_id']) or '-')}")
        head = " · ".join(parts)
        self.detail.value = head + "<pre>loading stdout and stderr...</pre>"

        def show(tails: dict[str, str]) -> None:
            if self.select.value != task_id:
                return  # the user moved on while we were reading
            self.detail.value = head + "".join(
                f"<div><b>{name}</b></div><pre class='batchnb-task-{name.split('.')[0]}' "
                f"style='white-space:pre-wrap;margin:0 0 6px 0'>{html.escape(text)}</pre>"
                for name, text in tails.items())

        load_tails(self.watcher, task_id, ("stdout.txt", "stderr.txt"), show)
