"""One plotly FigureWidget kept current from freshly built figures, without re-creating the widget."""

from __future__ import annotations

import time
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from batchnb.views.plots import update_in_place
from batchnb.views.widgets._figure_state import FullStateFigureWidget, sync_figure_state

_DATE_PROPS = ("x", "y", "base")
# A figure that took s seconds to build is redrawn at most every SLOW_FIGURE_FACTOR * s seconds
# while its data keeps changing (always when forced): keeps the kernel free for the user.
SLOW_FIGURE_FACTOR = 10.0


def dates_as_text(fig: go.Figure) -> go.Figure:
    """Turn numpy datetime64 trace arrays into ISO strings, in place.

    The widget serializer sends datetime64[ns] arrays as integers (nanoseconds), which plotly.js
    draws as numbers; static figures (to_json) are not affected, so only widgets need this.
    """
    for trace in fig.data:
        for prop in _DATE_PROPS:
            value = trace[prop] if prop in trace else None
            if isinstance(value, np.ndarray) and value.dtype.kind == "M":
                trace[prop] = np.datetime_as_string(value, unit="ms")
    return fig


def nan_as_none(fig: go.Figure) -> go.Figure:
    """Replace NaN in float trace arrays with None, in place.

    NaN is not JSON: the widget serializer sends it anyway and warns "Out of range float values
    are not JSON compliant" into the cell output on every update. plotly draws None as a gap,
    exactly as it draws NaN."""
    for trace in fig.data:
        for prop in ("x", "y", "z"):
            value = trace[prop] if prop in trace else None
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.isnan(value).any():
                fixed = value.astype(object)
                fixed[np.isnan(value)] = None
                trace[prop] = fixed
    return fig


class LiveFigure:
    """A box holding a FigureWidget; :meth:`show` copies a new figure's data into it.

    The copy happens inside one ``batch_update()`` (one message to the browser, the user's zoom
    kept). When the new figure has a different trace layout (e.g. the timeline switched to
    WebGL), a new FigureWidget replaces the old one in the box.

    ``on_zoom``: called (with no arguments) when the user zooms, pans or resets the axes in the
    browser, after :attr:`view` took the new ranges; the owner rebuilds the figure for that view
    (an aggregated figure re-bins it) and calls :meth:`refresh`. The ranges arrive through the
    FigureWidget's ``layout.on_change`` for ``xaxis.range``/``yaxis.range``, as plotly-resampler
    does; the changes this class makes itself while updating the figure are not zooms.
    """

    def __init__(self, css_class: str, *, height: int = 360, on_zoom: Callable[[], None] | None = None) -> None:
        self.height = height
        self.widget: go.FigureWidget | None = None
        self.on_zoom = on_zoom
        # (x range, y range) the user zoomed to; None for an axis shown whole (autorange).
        self.view: tuple[tuple | None, tuple | None] = (None, None)
        self._updating = False
        # min_width 0 and overflow hidden: a flex item otherwise grows to its content, and plotly
        # (autosize) takes its width from the element it sits in: a figure drawn wider than the
        # output area then never shrinks back.
        # display block: the figure is a block child that takes the box's width (a flex child
        # was sized by its content and drawn wider than a 900 px output area).
        self.box = widgets.Box(layout=widgets.Layout(display="block", width="100%", min_width="0",
                                                     min_height=f"{height}px", overflow="hidden"))
        self.box.add_class("batchnb-figure")
        self.box.add_class(css_class)
        self.last_seconds = 0.0  # build + update time of the last show(), for adaptive refresh
        self.updated_at = 0.0

    def refresh(self, build: Callable[[], go.Figure], *, force: bool = False) -> bool:
        """Build and :meth:`show` a new figure unless the last one is too recent for its cost.

        Returns whether it was drawn; ``force`` draws regardless (e.g. the final state of a job).
        """
        if not force and self.widget is not None and \
                time.monotonic() - self.updated_at < SLOW_FIGURE_FACTOR * self.last_seconds:
            return False
        start = time.perf_counter()
        fig = build()
        self.show(fig, build_seconds=time.perf_counter() - start)
        return True

    def show(self, fig: go.Figure, *, build_seconds: float = 0.0) -> None:
        start = time.perf_counter()
        fig.update_layout(height=self.height, autosize=True)
        dates_as_text(fig)
        nan_as_none(fig)
        created = False
        self._updating = True
        try:
            if self.widget is None or not update_in_place(self.widget, fig):
                old = self.widget
                self.widget = FullStateFigureWidget(fig)
                self.view = (None, None)  # a new figure starts unzoomed
                if self.on_zoom is not None:
                    self.widget.layout.on_change(self._ranges_changed, "xaxis.range", "yaxis.range",
                                                 "xaxis.autorange", "yaxis.autorange")
                self.box.children = (self.widget,)
                created = True
                if old is not None:
                    old.close()
            sync_figure_state(self.widget)
        finally:
            self._updating = False
        # Creating a FigureWidget costs seconds once (plotly.js travels with it): not a reason to
        # redraw this figure less often afterwards, so only the build (and an in-place update) count.
        self.last_seconds = build_seconds + (0.0 if created else time.perf_counter() - start)
        self.updated_at = time.monotonic()

    def _ranges_changed(self, _layout, x_range, y_range, x_auto, y_auto) -> None:
        if self._updating or self.on_zoom is None:
            return
        # A double click resets the axes: autorange true, and the ranges plotly.js then computes
        # are the whole figure again.
        view = (None if x_auto or x_range is None else tuple(x_range),
                None if y_auto or y_range is None else tuple(y_range))
        if view == self.view:
            return
        self.view = view
        self.on_zoom()

    def close(self) -> None:
        if self.widget is not None:
            self.widget.close()
        self.box.close()
