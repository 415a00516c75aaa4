"""The one transport policy: SDK errors become batchnb errors, and every wait, retry and backoff
(calls, bulk submission, watchers, log tails, magics) uses the same :class:`Backoff` and :class:`Deadline`.

Every SDK call made on behalf of the user goes through :func:`call`, so that no raw
``HttpResponseError`` (whose text can include request URLs) reaches a notebook.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

from azure.core.exceptions import AzureError

from batchnb.errors import BatchTimeoutError, from_azure_error

T = TypeVar("T")


def call(action: str, fn: Callable[..., T], *args: Any, endpoint: str | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, with AzureError translated (``action`` starts the message)."""
    try:
        return fn(*args, **kwargs)
    except AzureError as exc:
        raise from_azure_error(exc, action=action, endpoint=endpoint) from None


def list_rows(client: Any, path: str, *, select: Sequence[str] | None = None, filter: str | None = None,
              max_results: int | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a Batch list operation (``path`` such as ``/jobs/<id>/tasks``) as the REST
    dicts the service sent, following ``odata.nextLink`` through the client's own pipeline
    (authentication, ``raw_response_hook``, ``retry_total`` in ``kwargs`` all apply).

    Why not ``client.list_tasks``: it turns every item into an SDK model, which cost ~25 us a
    task more than the JSON itself (a million tasks: minutes of a kernel's time), and the frames
    read REST dicts anyway. Errors are the SDK's (``ResourceNotFoundError`` for 404, else
    ``HttpResponseError``), carrying the service's ``BatchError`` as ``.error``."""
    from azure.batch.models import BatchError
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.core.rest import HttpRequest

    params: dict[str, Any] = {"api-version": client._config.api_version}  # noqa: SLF001
    if select:
        params["$select"] = ",".join(select)
    if filter:
        params["$filter"] = filter
    if max_results:
        params["maxresults"] = str(max_results)
    request = HttpRequest("GET", "{endpoint}" + quote(path), params=params)
    rows: list[dict[str, Any]] = []
    while True:
        response = client.send_request(request, **kwargs)
        if response.status_code >= 400:
            try:
                error = BatchError(response.json())
            except Exception:  # not JSON: the status says enough
                error = None
            kind = ResourceNotFoundError if response.status_code == 404 else HttpResponseError
            raise kind(response=response, model=error)
        body = response.json()
        rows.extend(body.get("value") or [])
        link = body.get("odata.nextLink")
        if not link:
            return rows
        parts = urlsplit(link)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        query["api-version"] = params["api-version"]
        request = HttpRequest("GET", urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")), params=query)


def as_rows(items: Any) -> list[dict[str, Any]]:
    """SDK models -> REST-shaped dicts (camelCase, as ``batchnb.data.frames`` expects)."""
    return [item.as_dict() for item in items]


def status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK exception, if it has one."""
    status = getattr(exc, "status_code", None)
    if status is None and (response := getattr(exc, "response", None)) is not None:
        status = getattr(response, "status_code", None)
    return status


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the service asked us to wait (``Retry-After``), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) if response is not None else None
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Backoff:
    """Exponential backoff with a cap; a ``Retry-After`` from the service always wins over a shorter delay.

    ``jitter`` spreads concurrent retriers (bulk chunks) over [0.5, 1] of the delay so that they do
    not come back in one burst.
    """

    def __init__(self, *, base: float = 1.0, cap: float = 60.0, factor: float = 2.0, jitter: bool = False) -> None:
        self.base, self.cap, self.factor, self.jitter = base, cap, factor, jitter
        self.attempt = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        self.attempt += 1
        delay = min(self.cap, self.base * self.factor ** (self.attempt - 1))
        if self.jitter:
            delay *= random.uniform(0.5, 1.0)
        return max(delay, retry_after or 0.0)

    def reset(self) -> None:
        self.attempt = 0


class Deadline:
    """A monotonic deadline with a growing poll interval, for ``wait`` loops.

    The interval starts short (state changes on the local service take milliseconds) and grows
    to ``poll`` so that a long wait against Azure does not hammer the service.
    """

    def __init__(self, timeout: float | None, *, poll: float = 2.0, first: float = 0.1) -> None:
        self.timeout = timeout
        self.end = None if timeout is None else time.monotonic() + timeout
        self.poll = max(0.01, poll)
        self._intervals = Backoff(base=min(first, self.poll), cap=self.poll, factor=1.6)

    def remaining(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def sleep(self) -> None:
        """Sleep the next poll interval (never past the deadline)."""
        pause = self._intervals.next_delay()
        remaining = self.remaining()
        if remaining is not None:
            pause = min(pause, remaining)
        time.sleep(pause)

    def sleep_for(self, pause: float) -> bool:
        """Sleep ``pause`` seconds if that ends before the deadline; False (no sleep) if it would not."""
        remaining = self.remaining()
        if remaining is not None and pause > remaining:
            return False
        time.sleep(pause)
        return True

    def timeout_error(self, what: str, *, fix: str) -> BatchTimeoutError:
        return BatchTimeoutError(f"Timed out after {self.timeout:g} s waiting for {what}", fix=fix)
