"""FigureWidgets whose state in the browser matches the figure in Python.

Two measured problems (plotly 7.1, whose FigureWidget is an anywidget), two fixes:

* **Blank figures.** ``go.FigureWidget`` opens its comm before it fills ``_widget_data`` /
  ``_widget_layout``, so the first state a frontend receives is an empty figure and the data
  follows as an update; a view created inside a container (Box, Tab) can render before that
  update lands, and stays blank. :class:`FullStateFigureWidget` opens the comm only once the
  traits are filled, so the frontend gets the whole figure at once.
* **Stale figures after a reload.**

  Python-side updates reach live views as messages, but a view created later (page reload, saved
  notebook, nbconvert HTML, Voila) is built from the widget's state traits ``_widget_data`` and
  ``_widget_layout``, which plotly sets only when the widget is created. :func:`sync_figure_state`
  copies the current figure into them after each update.

These are private plotly attributes, so this is the only module that touches them.
"""

from __future__ import annotations

import copy
from typing import Any

import plotly.graph_objects as go

__all__ = ["FullStateFigureWidget", "sync_figure_state"]


class FullStateFigureWidget(go.FigureWidget):
    """A FigureWidget whose comm opens with its data and layout already in the state."""

    _batchnb_ready = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # ipywidgets calls open() in here: deferred below
        # responsive: plotly.js follows the output area's width (900 px as well as 1400 px)
        # instead of keeping the width it had when first drawn.
        self._config = {"responsive": True, "displaylogo": False}
        self._batchnb_ready = True
        self.open()

    def open(self) -> None:
        if self._batchnb_ready:
            super().open()


def sync_figure_state(fig: Any) -> bool:
    """Copy ``fig``'s current data and layout into its widget state traits.

    Returns False (and does nothing) for objects without those traits, e.g. a plain
    ``go.Figure`` or a plotly version that renamed them, so callers need no version checks.
    """
    if not (hasattr(fig, "_widget_data") and hasattr(fig, "_data") and hasattr(fig, "_layout_obj")):
        return False
    # Deep copies: traitlets only notices (and syncs) a new object, never an in-place change.
    fig._widget_data = copy.deepcopy(fig._data)
    fig._widget_layout = copy.deepcopy(fig._layout_obj._props)
    return True
