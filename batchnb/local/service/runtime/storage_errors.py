"""What resource downloads and output uploads share about Blob storage: how a node's storage
clients retry, and how a storage error becomes a failureInfo (spec §7).

Every storage step maps errors the same way (404, 403, sometimes 409, a timeout, anything
else); only the codes and messages differ, so each step gives its own ``StorageFailureCodes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchnb.local.service.runtime.failure_info import failure


def retry_kwargs() -> dict:
    from azure.storage.blob import ExponentialRetry

    # The storage default waits 15 s before the first retry: far too long for a local node.
    return {"retry_policy": ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=3,
                                             random_jitter_range=1)}


def status_of(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None) or getattr(exc, "code", None)


def is_timeout(exc: Exception) -> bool:
    from azure.core.exceptions import ServiceRequestTimeoutError, ServiceResponseTimeoutError

    return isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError, TimeoutError))


def error_text(exc: Exception) -> str:
    # Service error code and status only: exception strings can carry request URLs.
    code = getattr(exc, "error_code", None)
    status = status_of(exc)
    text = type(exc).__name__
    if status:
        text += f" (HTTP {status})"
    if code:
        text += f" {code}"
    return text


@dataclass(frozen=True)
class StorageFailureCodes:
    """The (code, message) a storage step reports for each kind of error."""

    by_status: dict[int, tuple[str, str]]
    timed_out: tuple[str, str]
    other: tuple[str, str]


def storage_failure(exc: Exception, codes: StorageFailureCodes, details: list[dict]) -> dict:
    """The failureInfo for ``exc``; an unclassified error also gets its (URL-free) text."""
    status = status_of(exc)
    if status in codes.by_status:
        return failure(*codes.by_status[status], details)
    if is_timeout(exc):
        return failure(*codes.timed_out, details)
    return failure(*codes.other, [*details, {"name": "Message", "value": error_text(exc)}])
