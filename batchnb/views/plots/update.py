"""Copy a freshly built figure into one already on screen, instead of replacing it.

Replacing a FigureWidget's figure re-sends everything and resets the user's zoom; copying the
data arrays inside one ``batch_update()`` sends one message and keeps the view. Works on any
``go.Figure`` (``go.FigureWidget`` is one), so this module needs no widget import.
"""

from __future__ import annotations

import plotly.graph_objects as go

# Per-trace properties that carry data or change with it; styling stays as first built.
_DATA_PROPS = ("x", "y", "z", "zmax", "text", "customdata", "base", "width", "name")


def trace_signature(fig: go.Figure) -> tuple[tuple[str, str | None], ...]:
    """(trace type, key) for every trace, in order: equal signatures mean :func:`update_in_place` applies.

    The key is the trace's ``meta`` (batchnb figures set it to their uid, which a FigureWidget
    would otherwise overwrite with a random one).
    """
    return tuple((t.type, t.meta if isinstance(t.meta, str) else t.uid) for t in fig.data)


def update_in_place(target: go.Figure, source: go.Figure) -> bool:
    """Copy trace data and the title/colour bar labels from ``source`` into ``target``.

    Returns False (and changes nothing) when the two figures' trace signatures differ; the caller
    should then show ``source`` in a new widget.
    """
    if trace_signature(target) != trace_signature(source):
        return False
    with target.batch_update():
        for dst, src in zip(target.data, source.data, strict=True):
            for prop in _DATA_PROPS:
                if prop in src and src[prop] is not None:
                    dst[prop] = src[prop]
            if "colorbar" in src and src.colorbar.ticktext is not None:
                dst.colorbar.ticktext = src.colorbar.ticktext
        target.layout.title = source.layout.title
        # The timeline's lanes live in yaxis ticks and range; other figures leave these unset.
        src_y = source.layout.yaxis
        target.layout.yaxis.update(tickvals=src_y.tickvals, ticktext=src_y.ticktext, range=src_y.range)
    return True
