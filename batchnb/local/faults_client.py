"""Turn fault injection of a running local service on and off from a client (tests, demos).

    batchnb.local.inject_faults(service, throttle=0.3, seed=1)   # 30 % of requests get 429/503
    batchnb.local.inject_faults(service)                          # all faults off

The admin route is authenticated like any Batch request (Shared Key), so only holders of the
account key can change a service's behaviour. `signed_request` is that signed call, for any route
(tests and benchmarks use it for the admin API and for raw Batch requests).
"""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from batchnb._constants import LOCAL_ADMIN_PREFIX
from batchnb.local.daemon import LocalService
from batchnb.local.service.http.sharedkey import sign

if TYPE_CHECKING:
    import requests

__all__ = ["FAULT_KINDS", "emulate", "inject_faults", "signed_request"]

FAULT_KINDS = ("throttle", "error500", "drop")


def _given(**options: Any) -> dict[str, Any]:
    """The options the caller set (None means "leave the service's setting as it is")."""
    return {name: value for name, value in options.items() if value is not None}


def inject_faults(service: LocalService | None = None, *, throttle: float = 0.0, error500: float = 0.0, drop: float = 0.0,
                  retry_after: float | None = None, seed: int | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Set the fractions of Batch API requests that fail (0 turns a kind off); returns the service's
    fault settings and counters. ``retry_after`` is the Retry-After sent with throttling responses;
    ``seed`` makes the sequence of faults repeatable. ``service`` defaults to the one running in
    the default state directory."""
    if service is None:
        from batchnb.local.daemon import status

        service = status()
        if service is None:
            raise RuntimeError("no local Batch service is running; start one with batchnb.local.start()")

    body = {"throttle": throttle, "error500": error500, "drop": drop, **_given(retry_after=retry_after, seed=seed)}
    response = signed_request(service, "POST", LOCAL_ADMIN_PREFIX + "/faults", body=body, timeout=timeout)
    if response.status_code != 200:
        # Never echo the request (it carries the signature); the status and the service's code suffice.
        raise RuntimeError(f"setting faults on the local service failed: HTTP {response.status_code}")
    return response.json()


def emulate(service: LocalService, *, clock_scale: float | None = None, task_counts_lag: float | None = None,
            timeout: float = 10.0) -> dict[str, Any]:
    """Switch Azure behaviours of a running local service: ``clock_scale`` runs job schedule
    recurrences and task retention that many times faster than real time; ``task_counts_lag`` makes
    Get Task Counts answer with a snapshot up to that many seconds old (Azure's counts lag behind the
    task list). Returns the settings in force."""
    body = _given(clockScale=clock_scale, taskCountsLagSeconds=task_counts_lag)
    response = signed_request(service, "POST", LOCAL_ADMIN_PREFIX + "/emulation", body=body, timeout=timeout)
    if response.status_code != 200:
        raise ValueError(f"the local service refused the emulation settings: {response.json().get('error')}")
    return response.json()


def signed_request(service: LocalService, method: str, path: str, *, body: Any = None, query: str = "",
                   raw_body: bytes | None = None, headers: dict[str, str] | None = None,
                   timeout: float = 30.0) -> requests.Response:
    """One Shared-Key-signed request to the service's Batch or admin API (``path`` with its leading
    slash, ``query`` without its ``?``); ``body`` is sent as JSON, ``raw_body`` as is."""
    import requests

    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    url = service.batch_url.rstrip("/") + path + (f"?{query}" if query else "")
    hdrs = {"ocp-date": formatdate(usegmt=True), "Content-Length": str(len(data))}
    if data:
        hdrs["Content-Type"] = "application/json; odata=minimalmetadata"
    hdrs.update(headers or {})
    parts = urlsplit(url)
    hdrs["Authorization"] = sign(method, parts.path, parts.query, hdrs, service.account_name, service.account_key)
    return requests.request(method, url, data=data, headers=hdrs, timeout=timeout)
