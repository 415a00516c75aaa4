"""``batchnb.record(name, value)``: a value a notebook hands back to ``session.run_notebook``.

Standard library only: on a compute node this file doubles as a one-function ``batchnb`` package
when the real one is not installed, so a notebook that calls ``batchnb.record`` runs the same on a
node, in a sweep, or by hand. In a kernel the value is displayed under batchnb's own mimetype (the
runner scrapes those outputs from the executed notebook, as scrapbook does); outside a kernel it is
printed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

RECORD_MIMETYPE = "application/vnd.batchnb.record+json"
# A record travels inside the executed notebook and a result blob: keep it small.
MAX_RECORD_BYTES = 1 << 20

__all__ = ["RECORD_MIMETYPE", "record"]


def _jsonable(name: str, value: Any) -> dict[str, Any]:
    # A small DataFrame goes as pandas' "split" dict, rebuilt as a DataFrame on the client.
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        value = value.to_dict(orient="split")
        kind = "dataframe"
    else:
        kind = "json"
    try:
        text = json.dumps(value, default=_numpy_scalar, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"batchnb.record({name!r}, ...): the value is not JSON-able ({exc}); "
                        "record numbers, strings, lists, dicts or a small DataFrame") from None
    if len(text) > MAX_RECORD_BYTES:
        raise ValueError(f"batchnb.record({name!r}, ...): {len(text):,} bytes is over the 1 MiB limit; "
                         "write large results to a file (an output file) and record its name")
    return {"name": name, "kind": kind, "value": json.loads(text)}


def _numpy_scalar(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars: 1-element .item() gives the Python value
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def record(name: str, value: Any) -> Any:
    """Record ``value`` under ``name`` for the sweep's ``results()``; returns ``value`` unchanged."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"batchnb.record: name must be an identifier-like string, got {name!r}")
    payload = _jsonable(name, value)
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "display_pub", None) is None:
        print(f"{name} = {value!r}")
        return value
    shell.display_pub.publish(data={RECORD_MIMETYPE: payload, "text/plain": f"{name} = {value!r}"}, metadata={})
    return value
