"""``LogTail``: the end of a task's stdout or stderr, refreshed every few seconds."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import ipywidgets as widgets

from batchnb.data.watch import FileTail
from batchnb.errors import NotFoundError
from batchnb.views.widgets._loop import running_loop
from batchnb.views.widgets._quiet import quiet

__all__ = ["LogTail"]


class LogTail(widgets.VBox):
    """Polls ``file_name`` of one task by byte range (only new bytes travel) and shows its tail.

    ``job`` is a :class:`batchnb.core.job_handle.JobHandle` (``session.job("j1")``): the view reads
    through it (``job.task_state()``, ``job.file_tail()``), never through the SDK. Stops by itself
    once the task has completed and its file has been read one last time, or when closed.
    """

    def __init__(self, job: Any, task_id: str, file_name: str = "stdout.txt", *,
                 interval: float = 2.0, max_bytes: int = 16_384, autostart: bool = True) -> None:
        self.job = job
        self.job_id, self.task_id = job.id, task_id
        self.interval = interval
        self.tail: FileTail = job.file_tail(task_id, file_name, max_bytes=max_bytes)
        self._notes: list[str] = []
        self.header = widgets.HTML(f"<b>{html.escape(task_id)}</b> · <code>{html.escape(file_name)}</code>")
        self.status = widgets.HTML("waiting...")
        self.status.add_class("batchnb-log-status")
        self.view = widgets.HTML(_scrolled_to_end(""))
        self.view.add_class("batchnb-log-text")
        self.task_state: str | None = None
        self._task: asyncio.Task | None = None
        self._closed = False
        super().__init__(children=[widgets.HBox([self.header, self.status]), self.view])
        self.add_class("batchnb-log-tail")
        if autostart and running_loop() is not None:
            with quiet(self._notes.append):  # library messages stay out of the cell output
                self._task = running_loop().create_task(self._run())

    def poll(self) -> bool:
        """Read new bytes once (blocking); returns False when the task is over and nothing more will come."""
        self.task_state = self.job.task_state(self.task_id)
        text = self.tail.read()
        self._show(text)
        return self.task_state != "completed"

    def _show(self, text: str) -> None:
        self.view.value = _scrolled_to_end(text)
        state = self.task_state or "unknown"
        self.status.value = f"task {html.escape(state)}" + (
            f" · files gone ({self.tail.gone})" if self.tail.gone else " · no file yet" if self.tail.missing else "")

    async def _run(self) -> None:
        while not self._closed:
            try:
                more = await asyncio.to_thread(self.poll)
            except Exception as exc:  # keep tailing through a dropped connection
                if isinstance(exc, NotFoundError):
                    self.status.value = "the task or its job was deleted; stopped"
                    return
                self.status.value = f"read failed ({html.escape(type(exc).__name__)}), retrying"
                more = True
            if not more:
                return
            await asyncio.sleep(self.interval)

    def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = f"LogTail({self.task_id!r}, {self.tail.file_name!r})\n{self.tail.text[-2000:]}"
        bundle["text/html"] = (f"<div><b>{html.escape(self.task_id)}</b> <code>{html.escape(self.tail.file_name)}"
                               f"</code><pre>{html.escape(self.tail.text[-4000:])}</pre></div>")
        return bundle


def _scrolled_to_end(text: str) -> str:
    """The text in a scroll box that opens at its end: a tail is read from the bottom.

    A plain overflow box opens at the top, which hid the newest lines once the text outgrew it;
    ``column-reverse`` anchors the scroll position at the bottom, and every refresh (a new
    ``value``) lands there again without any JavaScript. ``flex:none`` keeps the <pre> its full
    height (a shrunk flex item would clip its own text and never scroll).
    """
    return ("<div class='batchnb-log-scroll' style='display:flex;flex-direction:column-reverse;"
            f"max-height:320px;overflow:auto'><pre style='margin:0;flex:none'>{html.escape(text)}</pre></div>")
