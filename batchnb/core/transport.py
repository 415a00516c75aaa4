"""The one place where azure SDK exceptions become batchnb errors, and small polling helpers.

Every SDK call made on behalf of the user goes through :func:`call`, so that no raw
``HttpResponseError`` (whose text can include request URLs) reaches a notebook.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError

from batchnb.errors import BatchTimeoutError, from_azure_error

T = TypeVar("T")


def call(action: str, fn: Callable[..., T], *args: Any, endpoint: str | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with AzureError translated (``action`` starts the message)."""
    try:
        return fn(*args, **kwargs)
    except AzureError as exc:
        raise from_azure_error(exc, action=action, endpoint=endpoint) from None


def as_rows(items: Any) -> list[dict[str, Any]]:
    """SDK models -> REST-shaped dicts (camelCase, as ``batchnb.data.frames`` expects)."""
    return [item.as_dict() for item in items]


class Deadline:
    """A monotonic deadline with a growing poll interval, for ``wait`` loops.

    The interval starts short (state changes on the local service take milliseconds) and grows
    to ``poll`` so that a long wait against Azure does not hammer the service.
    """

    def __init__(self, timeout: float | None, *, poll: float = 2.0, first: float = 0.1) -> None:
        self.timeout = timeout
        self.end = None if timeout is None else time.monotonic() + timeout
        self.poll = max(0.01, poll)
        self._next = min(first, self.poll)

    def remaining(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def sleep(self) -> None:
        pause = self._next
        remaining = self.remaining()
        if remaining is not None:
            pause = min(pause, remaining)
        time.sleep(pause)
        self._next = min(self.poll, self._next * 1.6)

    def timeout_error(self, what: str, *, fix: str) -> BatchTimeoutError:
        return BatchTimeoutError(f"Timed out after {self.timeout:g} s waiting for {what}", fix=fix)
