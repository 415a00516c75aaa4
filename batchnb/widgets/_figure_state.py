"""Make a FigureWidget's *saved* state match what it shows (the stale-FigureWidget-data fix).

Python-side updates reach live views as messages, but a view created later (page reload, saved
notebook, nbconvert HTML, Voila) is built from the widget's state traits ``_widget_data`` and
``_widget_layout``, which plotly sets only when the widget is created. Copying the current
figure into them after each update keeps late views current. These are private plotly
attributes (checked against plotly 7.1), so this is the only place that touches them.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["sync_figure_state"]


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
