"""A sweep task's parameters, stored with the task itself: its Batch ``displayName``.

Batch tasks have no metadata, and a re-attached job (a new kernel, another machine) must still
show that ``task-00006-b97c7db0`` ran with ``x=7``. The display name is the one free-form field
that travels with a task, is cheap to list (a top-level property, so ``$select`` takes it) and
reads well in the Azure portal and ``az batch task list``: ``x=7, name="a b", rate=0.5``.

Values are written as JSON (strings quoted, numbers bare), so they come back with their types;
secret-shaped parts (a SAS signature in a swept URL) are masked, as everywhere batchnb writes text.
A display name that is not in this form (a user's own) simply has no parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from batchnb.core.redact import redact

__all__ = ["MAX_DISPLAY_NAME", "decode_params", "encode_params"]

MAX_DISPLAY_NAME = 1024  # Batch's limit for a task's displayName
_KEY = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)=")
_DECODER = json.JSONDecoder()


def _value(value: Any) -> str:
    if isinstance(value, float) and value != value:  # NaN is not JSON: keep it readable, as text
        return '"nan"'
    # A swept URL may carry a SAS: the display name is listed to anyone who can read the job.
    return redact(json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":")))


def encode_params(params: Mapping[str, Any]) -> str | None:
    """``{"x": 7, "name": "a"}`` -> ``'x=7, name="a"'``; parameters past Batch's 1024 characters
    are left out whole (never cut in the middle). None when there is nothing to store."""
    pairs: list[str] = []
    length = 0
    for key, value in params.items():
        pair = f"{key}={_value(value)}"
        if length + len(pair) + 2 * bool(pairs) > MAX_DISPLAY_NAME:
            break
        length += len(pair) + 2 * bool(pairs)
        pairs.append(pair)
    return ", ".join(pairs) or None


def decode_params(display_name: str | None) -> dict[str, Any]:
    """The parameters in a display name written by :func:`encode_params`; ``{}`` for any other."""
    if not display_name or "=" not in display_name:
        return {}
    out: dict[str, Any] = {}
    pos, end = 0, len(display_name)
    while pos < end:
        match = _KEY.match(display_name, pos)
        if match is None:
            return {}
        try:
            value, pos = _DECODER.raw_decode(display_name, match.end())
        except ValueError:
            return {}
        out[match.group(1)] = value
        if display_name.startswith(", ", pos):
            pos += 2
        elif pos != end:
            return {}
    return out
