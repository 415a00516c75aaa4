"""What the job and pool monitors share: polling on the kernel's loop, library messages in a
collapsed line, the state badge, "deleted" status, error lines, and the text/html fallbacks.

A subclass sets ``watcher``, ``interval``, ``state_badge``, ``status`` and ``notes`` before it
calls :meth:`update`, and implements ``_update``, ``state_text``, ``summary_text`` and
``summary_html``.
"""

from __future__ import annotations

import collections
import datetime as _dt
import html
from typing import Any

import ipywidgets as widgets

from batchnb.views.widgets._loop import running_loop
from batchnb.views.widgets._quiet import quiet

__all__ = ["MAX_NOTES", "MonitorBase", "classed", "error_line"]

MAX_NOTES = 20
_STATE_COLORS = {"deleted": "#d62728", "deleting": "#d62728", "terminating": "#ff7f0e", "resizing": "#ff7f0e",
                 "stopping": "#ff7f0e", "completed": "#2ca02c", "done": "#2ca02c"}


def classed(widget: Any, css_class: str) -> Any:
    """``widget`` with a CSS class (a stable hook for the browser tests and users' styles)."""
    widget.add_class(css_class)
    return widget


def error_line(exc: BaseException) -> str:
    """An action's failure as one red line (the buttons above it keep their size)."""
    text = " ".join(str(exc).split())[:300]
    return f"<span style='color:#d62728'>{html.escape(text)}</span>"


class MonitorBase(widgets.VBox):
    watcher: Any
    interval: float
    state_badge: widgets.HTML
    status: widgets.HTML
    notes: widgets.HTML
    default_color = "#1f77b4"

    def _init_notes(self) -> None:
        self._notes: collections.deque[str] = collections.deque(maxlen=MAX_NOTES)
        self._notes_shown = 0
        self._gone_at: _dt.datetime | None = None

    # ------------------------------------------------------------------------------- polling
    def start(self) -> None:
        """Poll on the running loop every ``interval`` seconds (no-op when already polling)."""
        if running_loop() is not None:  # without one (scripts, tests) the owner calls update()
            # Inside quiet(): the polling task, and the threads it uses, report to this view.
            with quiet(self.note):
                self.watcher.start(self.interval, on_update=lambda _: self.update())

    def note(self, text: str) -> None:
        """Keep a library message (log record, warning) for the status line; any thread may call it."""
        self._notes.append(text)

    def stop(self) -> None:
        self.watcher.stop()

    def update(self) -> None:
        """Bring every part of the view up to the watcher's current state (called after each refresh)."""
        with quiet(self.note):
            try:
                self._update()
            except Exception as exc:  # a view that stops on one bad refresh is worse than one that says so
                self.note(f"view update failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
                self._update_notes()

    def _update(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------------------- header
    def _show_state(self, state: str, *, kind: str) -> None:
        """The state badge, and the status line (the watcher's, or when it was seen deleted)."""
        color = _STATE_COLORS.get(state, self.default_color)
        self.state_badge.value = (f"<span style='color:{color};font-weight:600;margin:0 8px'>"
                                  f"{html.escape(state)}</span>")
        if self.watcher.gone:
            if self._gone_at is None:
                self._gone_at = _dt.datetime.now(_dt.UTC)
            self.status.value = f"{kind} deleted (seen {self._gone_at:%H:%M:%S} UTC); stopped watching"
        else:
            self.status.value = html.escape(self.watcher.status_text())

    def _update_notes(self) -> None:
        """Library messages in a collapsed line under the view (newest last)."""
        notes = list(self._notes)
        if len(notes) == self._notes_shown:
            return
        self._notes_shown = len(notes)
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        self.notes.value = (f"<details class='batchnb-notes'><summary style='color:#6b7280'>{len(notes)} library "
                            f"message(s) while polling</summary><ul style='margin:0'>{items}</ul></details>")

    # ------------------------------------------------------------------------------- display
    def summary_text(self) -> str:
        raise NotImplementedError

    def summary_html(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.summary_text()
        bundle["text/html"] = self.summary_html()
        return bundle
