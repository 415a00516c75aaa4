"""Turn fault injection of a running local service on and off from a client (tests, demos).

    batchnb.local.inject_faults(service, throttle=0.3, seed=1)   # 30 % of requests get 429/503
    batchnb.local.inject_faults(service)                          # all faults off

The admin route is authenticated like any Batch request (Shared Key), so only holders of the
account key can change a service's behaviour.
"""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit

from .._constants import LOCAL_ADMIN_PREFIX
from .daemon import LocalService
from .server.sharedkey import sign

__all__ = ["FAULT_KINDS", "inject_faults"]

FAULT_KINDS = ("throttle", "error500", "drop")


def inject_faults(service: LocalService | None = None, *, throttle: float = 0.0, error500: float = 0.0, drop: float = 0.0,
                  retry_after: float | None = None, seed: int | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Set the fractions of Batch API requests that fail (0 turns a kind off); returns the service's
    fault settings and counters. ``retry_after`` is the Retry-After sent with throttling responses;
    ``seed`` makes the sequence of faults repeatable. ``service`` defaults to the one running in
    the default state directory."""
    import requests

    if service is None:
        from .daemon import status

        service = status()
        if service is None:
            raise RuntimeError("no local Batch service is running; start one with batchnb.local.start()")

    body: dict[str, Any] = {"throttle": throttle, "error500": error500, "drop": drop}
    if retry_after is not None:
        body["retry_after"] = retry_after
    if seed is not None:
        body["seed"] = seed
    data = json.dumps(body).encode("utf-8")
    url = service.batch_url.rstrip("/") + LOCAL_ADMIN_PREFIX + "/faults"
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(data)),
        "ocp-date": formatdate(usegmt=True),
    }
    headers["Authorization"] = sign("POST", urlsplit(url).path, "", headers, service.account_name,
                                    service.account_key)
    response = requests.post(url, data=data, headers=headers, timeout=timeout)
    if response.status_code != 200:
        # Never echo the request (it carries the signature); the status and the service's code suffice.
        raise RuntimeError(f"setting faults on the local service failed: HTTP {response.status_code}")
    return response.json()
