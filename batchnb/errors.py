"""The one exception family batchnb raises, and the translation from Azure SDK errors into it.

Every error carries:

* ``code``: the Batch service's error code (``PoolExists``, ``JobNotFound``...) when the service
  answered, otherwise one of batchnb's own codes (``batchnb.Validation``, ``batchnb.Timeout``...);
* ``status``: the HTTP status, when there was an HTTP answer;
* ``request_id``: the service's request id, which Azure support asks for;
* ``fix``: what the user can do about it.

``str(error)`` is one line: what went wrong, the fix, then ``[code, HTTP status, request id]``.
All text is passed through :func:`batchnb.core.redact.redact`, so keys and SAS signatures never show.

Code that calls the SDK wraps it like this (``from None`` keeps the raw SDK exception, and the
request it describes, out of the user's traceback; it stays available as ``error.sdk_error``)::

    try:
        client.create_pool(spec.to_sdk())
    except AzureError as exc:
        raise from_azure_error(exc, action=f"create pool {spec.id!r}", endpoint=endpoint) from None
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from batchnb.core.redact import redact

if TYPE_CHECKING:
    from azure.core.exceptions import AzureError

__all__ = [
    "AuthError",
    "BatchTimeoutError",
    "BatchnbError",
    "ConflictError",
    "NotFoundError",
    "ServiceUnavailableError",
    "SettingsError",
    "TaskFailedError",
    "TaskSubmissionError",
    "UploadError",
    "ValidationError",
    "from_azure_error",
]


def _one_line(text: object) -> str:
    return " ".join(redact(text).split())


class BatchnbError(Exception):
    """Base class of every error batchnb raises on purpose.

    ``str(error)`` is one line: the message, the fix, then the service's code, HTTP status and
    request id when there are any.

    >>> from batchnb.errors import BatchnbError
    >>> str(BatchnbError("Could not create pool 'p1': the pool exists", code="PoolExists", status=409,
    ...                  fix="choose another pool id"))
    "Could not create pool 'p1': the pool exists. Fix: choose another pool id. [PoolExists, HTTP 409]"

    Parameters
    ----------
    message : str
        What went wrong (made one line, secrets redacted).
    code : str, optional
        The service's error code, or one of batchnb's own (``batchnb.*``).
    fix : str, optional
        What the user can do about it.
    status : int, optional
        The HTTP status, when the service answered.
    request_id : str, optional
        The service's request id (Azure support asks for it).
    action : str, optional
        What batchnb was doing (``"create pool 'p1'"``).
    details : mapping of str to str, optional
        The service's error details.

    Attributes
    ----------
    sdk_error : BaseException or None
        The SDK exception this was translated from (never part of ``str()``).
    """

    default_code: ClassVar[str] = "batchnb.Error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fix: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        action: str | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        self.message = _one_line(message)
        self.code = code or self.default_code
        self.fix = _one_line(fix) if fix else None
        self.status = status
        self.request_id = request_id
        self.action = action
        self.details = {str(k): _one_line(v) for k, v in (details or {}).items()}
        # The SDK exception this was translated from, for debugging; never part of str().
        self.sdk_error: BaseException | None = None
        super().__init__(self.message)

    @property
    def is_service_error(self) -> bool:
        """True when the code came from the Batch service rather than from batchnb."""
        return not self.code.startswith("batchnb.")

    def __str__(self) -> str:
        text = self.message if self.message.endswith((".", "?", "!")) else self.message + "."
        if self.fix:
            text += f" Fix: {self.fix}"
            if not text.endswith((".", "?", "!", ")")):
                text += "."
        tags = []
        if self.is_service_error:
            tags.append(self.code)
        if self.status is not None:
            tags.append(f"HTTP {self.status}")
        if self.request_id:
            tags.append(f"request id {self.request_id}")
        if tags:
            text += f" [{', '.join(tags)}]"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (map() runners, the local service's daemon): keep them
        # picklable with their attributes, not just their message.
        state = {k: v for k, v in self.__dict__.items() if k != "sdk_error"}
        return (_rebuild, (type(self), state))


def _rebuild(cls: type[BatchnbError], state: dict[str, Any]) -> BatchnbError:
    obj = cls.__new__(cls)
    Exception.__init__(obj, state.get("message", ""))
    obj.__dict__.update(state)
    obj.sdk_error = None
    return obj


class ValidationError(BatchnbError, ValueError):
    """Bad input, found before any request was sent.

    >>> from batchnb.errors import ValidationError
    >>> str(ValidationError("dedicated_nodes", "is -1", fix="give 0 or more"))
    'dedicated_nodes: is -1. Fix: give 0 or more.'

    Parameters
    ----------
    field : str
        The offending argument (``field`` attribute too).
    problem : str
        What is wrong with it.
    fix : str, optional
        What to give instead.
    """

    default_code = "batchnb.Validation"

    def __init__(self, field: str, problem: str, *, fix: str | None = None) -> None:
        self.field = field
        self.problem = _one_line(problem)
        super().__init__(f"{field}: {problem}", fix=fix)


class NotFoundError(BatchnbError, LookupError):
    """The pool, job, task, node or file does not exist (HTTP 404)."""

    default_code = "batchnb.NotFound"


class ConflictError(BatchnbError):
    """The entity already exists, or is in a state that does not allow the operation (HTTP 409/412)."""

    default_code = "batchnb.Conflict"


class AuthError(BatchnbError, PermissionError):
    """Authentication or authorization failed (HTTP 401/403, or no usable credential)."""

    default_code = "batchnb.Auth"


class ServiceUnavailableError(BatchnbError, ConnectionError):
    """The service throttled us (429/503) or could not be reached at all.

    Parameters
    ----------
    message : str
        What went wrong.
    retry_after : float, optional
        The service's ``Retry-After`` in seconds, when it sent one (attribute too).
    **kwargs
        As for :class:`BatchnbError`.
    """

    default_code = "batchnb.Unavailable"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class SettingsError(BatchnbError, ValueError):
    """The settings needed to connect are missing or inconsistent. The message names which."""

    default_code = "batchnb.Settings"


class UploadError(BatchnbError):
    """Some files could not be uploaded.

    Parameters
    ----------
    message : str
        What went wrong.
    result : batchnb.core.storage.UploadResult
        Every file's outcome (attribute too): retry with the failed ones.
    **kwargs
        As for :class:`BatchnbError`.
    """

    default_code = "batchnb.Upload"

    def __init__(self, message: str, *, result: Any, **kwargs: Any) -> None:
        self.result = result
        super().__init__(message, **kwargs)


class BatchTimeoutError(BatchnbError, TimeoutError):
    """A wait (``wait=True``, ``job.wait(timeout=)``) or an operation ran out of time."""

    default_code = "batchnb.Timeout"


class TaskSubmissionError(BatchnbError):
    """Bulk task submission gave up. Lists exactly which tasks were and were not added.

    Re-adding the same tasks is safe: ids are deterministic and tasks that already exist count
    as added.

    Parameters
    ----------
    message : str
        What went wrong.
    added, not_added : iterable of str
        Task ids (attributes too, as lists).
    failures : mapping of str to str, optional
        A not-added task id to the reason: service error code and message (attribute too).
    **kwargs
        As for :class:`BatchnbError`.
    """

    default_code = "batchnb.TaskSubmission"

    def __init__(
        self,
        message: str,
        *,
        added: Iterable[str] = (),
        not_added: Iterable[str] = (),
        failures: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.added: list[str] = list(added)
        self.not_added: list[str] = list(not_added)
        self.failures: dict[str, str] = {k: _one_line(v) for k, v in (failures or {}).items()}
        super().__init__(message, **kwargs)


class TaskFailedError(BatchnbError):
    """A task the caller waited on (or a ``map()`` item) failed.

    Parameters
    ----------
    message : str
        What went wrong.
    job_id, task_id : str, optional
        Which task (attributes too, like the rest).
    exit_code : int, optional
        Its process exit code, when it ran.
    failure_code, failure_message : str, optional
        The task's ``failureInfo`` (``FailureExitCode``, ``BlobNotFound``...).
    stderr_tail : str, optional
        The end of its stderr (multi-line; not part of ``str()``).
    **kwargs
        As for :class:`BatchnbError`.
    """

    default_code = "batchnb.TaskFailed"

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        task_id: str | None = None,
        exit_code: int | None = None,
        failure_code: str | None = None,
        failure_message: str | None = None,
        stderr_tail: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.job_id = job_id
        self.task_id = task_id
        self.exit_code = exit_code
        self.failure_code = failure_code
        self.failure_message = _one_line(failure_message) if failure_message else None
        # Multi-line on purpose (it is a log excerpt); str() stays one line without it.
        self.stderr_tail = redact(stderr_tail) if stderr_tail else None
        super().__init__(message, **kwargs)


# --------------------------------------------------------------------------------------------
# Translation from azure-core / azure-batch exceptions
# --------------------------------------------------------------------------------------------

# What the user can do about the service codes they will actually meet. Keep entries short and
# actionable; codes not listed get a generic fix by class.
_FIXES: dict[str, str] = {
    "PoolExists": "choose another pool id, or use the existing pool (session.pool(id))",
    "JobExists": "choose another job id, or re-attach to it with session.job(id)",
    "TaskExists": "task ids are unique per job; give the task another id",
    "JobScheduleWithSameIdExists": "a job schedule already uses this id; choose another job id",
    "PoolNotFound": "check the pool id (session.list_pools()) or create it first",
    "JobNotFound": "check the job id (session.list_jobs()) or create it first",
    "TaskNotFound": "check the task id (job.tasks())",
    "NodeNotFound": "the node was removed; list the pool's current nodes",
    "FileNotFound": "the file does not exist (yet); the task may not have started or written it",
    "JobCompleted": "the job has completed; create a new job to run more tasks",
    "JobBeingTerminated": "the job is terminating; create a new job",
    "JobBeingDeleted": "the job is being deleted; wait, then create it again",
    "PoolBeingDeleted": "the pool is being deleted; wait, then create it again",
    "PoolBeingResized": "wait for the current resize to finish (pool state 'steady') or stop it",
    "TaskNotCompleted": "only completed tasks can be retried; wait for the task to finish",
    "TaskSucceeded": "the task succeeded; only failed tasks can be retried",
    "TaskFilesUnavailable": "the task's node is gone or its files were cleaned up",
    "TaskFilesCleanedup": "the task's retention time expired; raise TaskSpec(retention=...) next time",
    "TaskDependenciesNotSpecifiedOnJob": "create the job with uses_task_dependencies=True",
    "TaskDependencyListTooLong": "depend on fewer task ids, or use integer ids and id ranges",
    "AuthenticationFailed": "check the account name and key (or clock skew over 15 minutes)",
    "InvalidAuthenticationInfo": "the Authorization header is malformed; connect with an account key or Entra ID "
                                 "credentials (a proxy may be rewriting the header)",
    "InsufficientAccountPermissions": "give the identity a Batch role on the account",
    "InvalidApplicationPackageReferences": "upload the application package or fix its name/version",
    "PoolQuotaReached": "delete unused pools or raise the account's pool quota",
    "ActiveJobAndScheduleQuotaReached": "terminate or delete finished jobs, or raise the quota",
    "RequestBodyTooLarge": "send fewer or smaller tasks per request",
    "TooManyRequests": "the service is throttling; wait and retry with fewer concurrent calls",
    "ServerBusy": "the service is busy; wait and retry",
    "AutoScalingFormulaSyntaxError": "fix the autoscale formula (see batchnb.core.specs.autoscale_presets)",
    "InvalidAutoScalingSettings": "use either autoscale or fixed node counts, not both",
    "OperationInvalidForCurrentState": "wait for the resource to reach a steady state and retry",
}

_REQUEST_ID_IN_MESSAGE = re.compile(r"\s*RequestId:\s*([0-9A-Za-z\-]+)", re.I)
_TRAILER_IN_MESSAGE = re.compile(r"\s*RequestId:.*$", re.I | re.S)
_HOST_IN_MESSAGE = re.compile(r"host='([^']+)',\s*port=(\d+)")


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        return headers.get(name)
    except Exception:  # some transports' header types are fussy; a missing id is not fatal
        return None


def _retry_after(headers: Any) -> float | None:
    value = _header(headers, "Retry-After") or _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; callers fall back to their own backoff


def _service_code_and_message(exc: Any) -> tuple[str | None, str | None, dict[str, str]]:
    """The Batch error code, message and ``values`` from an HttpResponseError.

    azure-batch parses the service's ``BatchError`` body into ``exc.error`` (code, message,
    details); ``exc.error_code`` stays None, so it is not used.
    """
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    details: dict[str, str] = {}
    for item in getattr(error, "details", None) or []:
        key = getattr(item, "code", None)
        value = getattr(item, "message", None)
        if key and value is not None:
            details[str(key)] = str(value)
    return code, message, details


def _code_from_unread_body(response: Any, message: str | None) -> tuple[str | None, str | None]:
    """The Batch error code of a streamed response (file downloads) whose body the SDK did not
    read, e.g. 409 TaskFilesUnavailable when a task's node has left the pool."""
    import json

    try:
        body = json.loads(response.read() or b"{}")
    except Exception:  # not JSON, already consumed, or the connection is gone: keep the status
        return None, message
    if not isinstance(body, dict):
        return None, message
    found = body.get("message")
    text = found.get("value") if isinstance(found, dict) else found
    return body.get("code"), message or (str(text) if text else None)


def _endpoint_of(exc: Any, endpoint: str | None) -> str:
    if endpoint:
        return endpoint
    request = getattr(getattr(exc, "response", None), "request", None)
    url = getattr(request, "url", None)
    if url:
        return url.split("?", 1)[0]
    match = _HOST_IN_MESSAGE.search(str(getattr(exc, "message", "") or exc))
    if match:
        return f"{match.group(1)}:{match.group(2)}"
    return "the service"


def from_azure_error(exc: AzureError, *, action: str, endpoint: str | None = None) -> BatchnbError:
    """Translate an azure-core/azure-batch exception into the matching :class:`BatchnbError`.

    404 becomes :class:`NotFoundError`, 409/412 :class:`ConflictError`, 401/403
    :class:`AuthError`, 429/502/503/504 and unreachable endpoints
    :class:`ServiceUnavailableError`, 408 :class:`BatchTimeoutError`; the service's code gets a
    fix when batchnb knows one.

    Parameters
    ----------
    exc : azure.core.exceptions.AzureError
        The SDK's exception.
    action : str
        What batchnb was doing, in words the user used (``"create pool 'p1'"``); it starts
        the message.
    endpoint : str, optional
        Names the service in connection errors (otherwise taken from the failed request,
        without its query string).

    Returns
    -------
    BatchnbError
        The error to raise (``from None``); the SDK exception stays in ``sdk_error``.
    """
    # Imported here so that ``import batchnb.errors`` stays cheap and SDK-free for the local service.
    from azure.core import exceptions as az

    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None) or getattr(response, "status_code", None)

    if isinstance(exc, az.HttpResponseError) and status is not None:
        code, service_message, details = _service_code_and_message(exc)
        if code is None:  # a streamed download's error body is left unread by the SDK
            code, service_message = _code_from_unread_body(response, service_message)
        service_message = service_message or getattr(exc, "reason", None) or "no details"
        headers = getattr(response, "headers", None)
        request_id = _header(headers, "request-id")
        if not request_id:
            found = _REQUEST_ID_IN_MESSAGE.search(service_message)
            request_id = found.group(1) if found else None
        if not request_id:
            request = getattr(response, "request", None)
            request_id = _header(getattr(request, "headers", None), "client-request-id")
        # The service appends "RequestId:...\nTime:..." to every message; we report the id apart.
        service_message = _TRAILER_IN_MESSAGE.sub("", service_message).strip() or "no details"
        message = f"Could not {action}: {service_message}"
        common: dict[str, Any] = dict(
            code=code or f"HTTP{status}",
            status=status,
            request_id=request_id,
            action=action,
            details=details,
        )
        fix = _FIXES.get(code or "")
        error: BatchnbError
        if status == 404:
            error = NotFoundError(message, fix=fix or "check the id", **common)
        elif status in (409, 412) or isinstance(exc, az.ResourceExistsError):
            error = ConflictError(message, fix=fix or "check the resource's current state", **common)
        elif status in (401, 403) or code == "InvalidAuthenticationInfo":  # Batch answers that one with 400
            error = AuthError(message, fix=fix or "check the credentials and the account's permissions",
                              **common)
        elif status in (429, 502, 503, 504):
            error = ServiceUnavailableError(
                message,
                retry_after=_retry_after(headers),
                fix=fix or "the service is busy or throttling; wait and retry",
                **common,
            )
        elif status == 408 or code == "OperationTimedOut":
            error = BatchTimeoutError(message, fix=fix or "retry; the service timed out", **common)
        elif status >= 500:
            error = BatchnbError(message, fix=fix or "retry; if it persists, report the request id",
                                 **common)
        else:
            error = BatchnbError(message, fix=fix, **common)
        error.sdk_error = exc
        return error

    text = str(getattr(exc, "message", None) or exc)
    if isinstance(exc, az.ClientAuthenticationError):
        error = AuthError(
            f"Could not {action}: no usable credential ({text})",
            fix="set AZURE_BATCH_ACCESS_KEY, or sign in with 'az login' for Entra ID",
            action=action,
        )
    elif "Bearer token authentication is not permitted" in text:
        error = AuthError(
            f"Could not {action}: Entra ID tokens are only sent over https",
            fix="use an https endpoint, or a shared key for plain-http endpoints",
            action=action,
        )
    elif isinstance(exc, (az.ServiceRequestError, az.ServiceResponseError)):
        where = _endpoint_of(exc, endpoint)
        timed_out = isinstance(exc, (az.ServiceRequestTimeoutError, az.ServiceResponseTimeoutError))
        what = "timed out talking to" if timed_out else "could not reach"
        error = ServiceUnavailableError(
            f"Could not {action}: {what} {where}",
            code="batchnb.Unreachable",
            fix="check the endpoint and the network; for the local service run 'batchnb local status'",
            action=action,
        )
    else:
        error = BatchnbError(f"Could not {action}: {text}", code="batchnb.SdkError", action=action)
    error.sdk_error = exc
    return error


def ids_preview(ids: Sequence[str], limit: int = 5) -> str:
    """``'a', 'b', 'c' and 7 more``: for messages that mention many ids on one line."""
    shown = ", ".join(repr(i) for i in ids[:limit])
    rest = len(ids) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


# ------------------------------------------------------------------------------ security (issue 11)


class MapResultTamperedError(BatchnbError):
    """A ``map()`` result failed verification and was not unpickled: it was not written by its own
    task's upload, or it does not match the inputs the notebook staged. ``chunks`` maps each
    refused task id to the reason."""

    default_code = "batchnb.MapResultTampered"

    def __init__(self, message: str, *, chunks: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        self.chunks = dict(chunks or {})
        super().__init__(message, **kwargs)
