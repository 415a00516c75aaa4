"""SDK exceptions become batchnb errors with the service code, request id and a fix; no secrets."""

from __future__ import annotations

import pickle
import socket

import pytest
from azure.core.exceptions import AzureError

from batchnb.core.redact import redact, register_secret
from batchnb.errors import (
    AuthError,
    BatchnbError,
    BatchTimeoutError,
    ConflictError,
    ServiceUnavailableError,
    TaskFailedError,
    TaskSubmissionError,
    ValidationError,
    from_azure_error,
)

pytestmark = pytest.mark.timeout(30)


def batch_error(code: str, message: str, values: list | None = None) -> dict:
    # The real service appends the request id and time to every message.
    body = {"code": code, "message": {"lang": "en-US",
                                      "value": f"{message}\nRequestId:9f1c2d3e-0000-4000-8000-abcdefabcdef\n"
                                               "Time:2025-01-01T00:00:00.0000000Z"}}
    if values:
        body["values"] = values
    return body


def call(stub, fn):
    try:
        fn(stub.client())
    except AzureError as exc:
        return from_azure_error(exc, action="get pool 'p1'")
    raise AssertionError("the SDK did not raise")


# The canned stub only for what the local service cannot answer on demand; every other code, status,
# Retry-After and details case is read from the real local service in test_errors_local.py.
# - OperationTimedOut: the local service has no server-side timeout to run out of.
# - PoolBeingResized: its resizes leave 'resizing' within milliseconds, so a second resize meets the
#   conflict only by chance (tests/local/service/test_pools.py checks the code when it does).
@pytest.mark.parametrize("status,code,kind,fix", [
    (409, "PoolBeingResized", ConflictError, "steady"),
    (500, "OperationTimedOut", BatchTimeoutError, "retry"),
])
def test_service_errors_the_local_service_cannot_produce(stub_batch, status, code, kind, fix):
    stub_batch.reply(status, batch_error(code, "The value provided for one of the properties is invalid."))
    error = call(stub_batch, lambda c: c.get_pool("p1"))
    assert type(error) is kind
    assert error.code == code and error.status == status and error.is_service_error
    assert error.request_id == "11111111-2222-3333-4444-555555555555"  # from the response header
    text = str(error)
    assert text.startswith("Could not get pool 'p1': The value provided")
    assert "RequestId:" not in text and "\n" not in text  # the trailer is reported once, as a tag
    assert text.endswith(f"[{code}, HTTP {status}, request id 11111111-2222-3333-4444-555555555555]")
    assert "Fix: " in text and fix in text
    assert error.sdk_error is not None and error.action == "get pool 'p1'"


def test_unreachable_endpoint_is_service_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(f"http://127.0.0.1:{port}", AzureNamedKeyCredential("acct", "a2V5a2V5a2V5a2V5"),
                         retry_total=0)
    try:
        client.get_pool("p1")
    except AzureError as exc:
        error = from_azure_error(exc, action="get pool 'p1'", endpoint=f"http://127.0.0.1:{port}")
    assert isinstance(error, ServiceUnavailableError) and isinstance(error, ConnectionError)
    assert error.code == "batchnb.Unreachable" and not error.is_service_error
    assert f"could not reach http://127.0.0.1:{port}" in str(error)
    assert "batchnb local status" in str(error)


def test_bearer_over_http_is_an_auth_error():
    from azure.core.exceptions import ServiceRequestError

    exc = ServiceRequestError("Bearer token authentication is not permitted for non-TLS protected (non-https) URLs.")
    error = from_azure_error(exc, action="list pools")
    assert isinstance(error, AuthError) and "https" in error.fix


def test_redact_shapes_and_registered_secrets():
    register_secret("my-account-key-value-1234567890==")
    text = ("url https://a.blob.core.windows.net/c/b?sv=2024&sig=abc%2Bdef%3D&se=x "
            "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9vYmFy==;EndpointSuffix=core "
            "SharedAccessSignature=sv=1&sig=zzz; Authorization: SharedKey acct:bWFj= and Bearer eyJ0eXAi.eyJ.sig "
            "key my-account-key-value-1234567890== end; sig%3DENCODED&x")
    out = redact(text)
    for secret in ("abc%2Bdef", "Zm9vYmFy", "zzz", "bWFj", "eyJ0eXAi", "my-account-key-value", "ENCODED"):
        assert secret not in out, secret
    assert "sig=***&se=x" in out and "AccountKey=***;EndpointSuffix=core" in out
    assert "AccountName=a" in out  # what is not secret stays readable
    register_secret("short")  # too short to register: would mangle ordinary words
    assert redact("short story") == "short story"


def test_errors_redact_and_stay_one_line():
    register_secret("ANOTHER-REGISTERED-SECRET-42")
    error = BatchnbError("failed with\nANOTHER-REGISTERED-SECRET-42 inside", fix="rotate the key")
    assert str(error) == "failed with *** inside. Fix: rotate the key."


def test_task_errors_carry_what_callers_report():
    error = TaskSubmissionError("3 of 5 tasks were not added before the deadline",
                                added=["a", "b"], not_added=["c", "d", "e"],
                                failures={"c": "ServerBusy: busy"})
    assert error.not_added == ["c", "d", "e"] and error.failures == {"c": "ServerBusy: busy"}
    failed = TaskFailedError("task 't1' failed", job_id="j", task_id="t1", exit_code=2,
                             failure_code="FailureExitCode", stderr_tail="Traceback...\nValueError: x")
    assert failed.exit_code == 2 and "\n" in failed.stderr_tail and "\n" not in str(failed)
    assert isinstance(BatchTimeoutError("waited 600 s"), TimeoutError)


def test_errors_survive_pickling():
    error = ValidationError("task.id", "bad", fix="fix it")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ValidationError and copy.field == "task.id" and str(copy) == str(error)
    sub = pickle.loads(pickle.dumps(TaskSubmissionError("x", added=["a"], not_added=["b"])))
    assert sub.not_added == ["b"]
