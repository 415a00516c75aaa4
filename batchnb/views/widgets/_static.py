"""A live view that leaves a static picture behind: what a saved notebook shows after a reopen.

A widget output is only a model id; reopened without its kernel, JupyterLab prints "Error
displaying widget: model not found" and ignores the text/html fallback in the same bundle. So a
view displays itself as outputs with display ids (:meth:`StaticSwap.display`): the widget, then
empty slots. When the work is done (or the view closes) :meth:`StaticSwap.show_static` replaces
them with static bundles (an HTML summary, figures in plotly's own mimetype, which JupyterLab
renders without a kernel), and a saved notebook keeps those. :meth:`StaticSwap.show_live` puts
the widget back (tasks retried, more tasks added).
"""

from __future__ import annotations

import atexit
import json
import uuid
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

__all__ = ["EMPTY_SLOT", "StaticSwap", "after_next_cell", "figure_bundle"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
# An empty display: next to nothing on the page while the widget is live.
EMPTY_SLOT: dict[str, str] = {"text/plain": ""}
_FIGURE_CONFIG = {"displaylogo": False, "responsive": True}


def figure_bundle(fig: go.Figure, *, fallback_html: str = "") -> dict[str, Any]:
    """``fig`` in plotly's mimetype (drawn by JupyterLab without a kernel), with text fallbacks."""
    spec = json.loads(pio.to_json(fig, validate=False))  # ISO dates, NaN as null: plain JSON
    spec["layout"].pop("width", None)  # the output area's width, whatever it is on reopen
    spec["layout"]["autosize"] = True
    spec["config"] = _FIGURE_CONFIG
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else "figure"
    return {PLOTLY_MIME: spec, "text/html": fallback_html or f"<p><i>{title}</i> (a plotly figure)</p>",
            "text/plain": f"<figure: {title}>"}


# Views on show whose static picture is not in place yet: swapped when the interpreter exits (a
# kernel shut down or restarted from JupyterLab), so that a saved notebook does not keep a widget
# whose model died with the kernel.
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _swap_all_at_exit() -> None:
    for view in list(_LIVE):
        try:
            view.close()
        except Exception:  # the kernel's channels may be gone already: nothing more to do
            pass


def register_live(view: Any) -> None:
    """``view.close()`` runs at interpreter exit (it swaps the view for its static picture)."""
    _LIVE.add(view)


class StaticSwap:
    """The displays a view was shown in (``slots`` outputs each), swapped between live and static."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._displays: list[list[str]] = []
        self.static = False

    @property
    def shown(self) -> bool:
        return bool(self._displays)

    def display(self, live_bundle: dict[str, Any], static: Callable[[], Sequence[dict[str, Any]]] | None = None) -> None:
        """Show the view (from ``_ipython_display_``); ``static`` instead when it is already final."""
        from IPython.display import display

        ids = [f"batchnb-{uuid.uuid4().hex}" for _ in range(self.slots)]
        bundles = list(static()) if static is not None else [live_bundle]
        bundles += [EMPTY_SLOT] * (self.slots - len(bundles))
        for display_id, bundle in zip(ids, bundles, strict=True):
            display(bundle, raw=True, display_id=display_id)
        self._displays.append(ids)

    def show_static(self, bundles: Sequence[dict[str, Any]]) -> None:
        self._update(list(bundles))
        self.static = True

    def show_live(self, live_bundle: dict[str, Any]) -> None:
        self._update([live_bundle])
        self.static = False

    def _update(self, bundles: list[dict[str, Any]]) -> None:
        if not self._displays:
            return
        bundles = bundles[: self.slots] + [EMPTY_SLOT] * (self.slots - len(bundles))
        for ids in self._displays:
            for display_id, bundle in zip(ids, bundles, strict=True):
                _PENDING[display_id] = bundle
                _send(display_id, bundle)
        _resend_after_next_cell()


# Measured in JupyterLab 4.6 with ipykernel 7.4: an update_display_data sent while a cell is
# executing replaces the output in whichever cell holds the display id, but one sent while the
# kernel is idle (a monitor's polling task noticing the job is done) does not reach the notebook.
# So every update is also sent again at the end of the next cell that runs.
_PENDING: dict[str, dict[str, Any]] = {}
_HOOKED = False


def _send(display_id: str, bundle: dict[str, Any]) -> None:
    from IPython.display import update_display

    try:
        update_display(bundle, raw=True, display_id=display_id)
    except Exception:  # no kernel any more (interpreter exit): nothing to update
        pass


def _flush_pending(*_: Any) -> None:
    pending = dict(_PENDING)
    _PENDING.clear()
    for display_id, bundle in pending.items():
        _send(display_id, bundle)


def _resend_after_next_cell() -> None:
    global _HOOKED
    if _HOOKED:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is not None:
        shell.events.register("post_run_cell", _flush_pending)
        _HOOKED = True


def after_next_cell(fn: Callable[[], None]) -> None:
    """Call ``fn`` once, at the end of the next cell that runs (not the one running now, if any).

    A view whose work finished stays usable (its tasks, their output) until the user moves on; the
    swap to its static picture then happens while that cell runs, when JupyterLab takes display
    updates. Without IPython (a script) ``fn`` runs at once.
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        fn()
        return
    # IPython counts a cell before running it: a cell running now has number execution_count - 1.
    first = shell.execution_count

    def hook(result: Any) -> None:
        count = getattr(result, "execution_count", None)
        if count is not None and count < first:
            return  # the cell that was running when fn was scheduled
        shell.events.unregister("post_run_cell", hook)
        fn()

    shell.events.register("post_run_cell", hook)
