"""Service errors read from the real local Batch service: codes, statuses, request ids, Retry-After,
details and fixes, through the real azure-batch SDK.

Each error is produced the way a user meets it (a missing pool, a second pool with the same id, a
wrong key, a malformed Authorization header, a bad property) or by the service's fault injection
(throttling, 500s), which answers in the same body format as Azure. The cases the local service
cannot produce stay on the canned stub in test_errors.py, which says why.
"""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from azure.core.exceptions import AzureError
from azure.core.pipeline.policies import SansIOHTTPPolicy

import batchnb
from batchnb.errors import (
    AuthError,
    BatchnbError,
    ConflictError,
    NotFoundError,
    ServiceUnavailableError,
    from_azure_error,
)
from batchnb.local import inject_faults

pytestmark = [pytest.mark.timeout(60), pytest.mark.fault]


def _client(service, *, key: str | None = None, **kwargs):
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    credential = AzureNamedKeyCredential(service.account_name, key or service.account_key)
    # No SDK retries: each call shows the service's first answer.
    return BatchClient(service.batch_url, credential, retry_total=0, **kwargs)


@pytest.fixture
def client(local_service):
    c = _client(local_service)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def faults(local_service):
    """Faults on this worker's service for one test; always switched off again."""
    yield lambda **kw: inject_faults(local_service, **kw)
    inject_faults(local_service)


def translate(fn, action: str) -> BatchnbError:
    try:
        fn()
    except AzureError as exc:
        return from_azure_error(exc, action=action)
    raise AssertionError("the SDK did not raise")


def assert_service_error(error: BatchnbError, *, kind: type, code: str, status: int, action: str,
                         fix: str | None) -> None:
    assert type(error) is kind, (type(error), str(error))
    assert error.code == code and error.status == status and error.is_service_error
    assert error.request_id and len(error.request_id) == 36  # the service's request-id header
    text = str(error)
    assert text.startswith(f"Could not {action}: ")
    assert "RequestId:" not in text and "\n" not in text  # the message's trailer is reported once, as a tag
    assert text.endswith(f"[{code}, HTTP {status}, request id {error.request_id}]")
    if fix:
        assert "Fix: " in text and fix in text, text
    assert error.sdk_error is not None and error.action == action


def test_missing_pool_is_not_found(client):
    error = translate(lambda: client.get_pool(f"missing-{uuid.uuid4().hex[:8]}"), "get pool 'p1'")
    assert_service_error(error, kind=NotFoundError, code="PoolNotFound", status=404, action="get pool 'p1'",
                         fix="create it first")


def test_second_pool_with_the_same_id_is_a_conflict(client):
    pool_id = f"errors-{uuid.uuid4().hex[:8]}"
    spec = batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=0)
    client.create_pool(spec.to_sdk())
    try:
        error = translate(lambda: client.create_pool(spec.to_sdk()), f"create pool '{pool_id}'")
    finally:
        client.begin_delete_pool(pool_id)  # not waited for: the pool has no nodes
    assert_service_error(error, kind=ConflictError, code="PoolExists", status=409,
                         action=f"create pool '{pool_id}'", fix="session.pool(id)")


def test_a_wrong_key_is_an_auth_error_whose_details_keep_no_signature(local_service):
    wrong = base64.b64encode(b"not-the-account-key-0123456789ab").decode()
    with _client(local_service, key=wrong) as bad:
        error = translate(lambda: bad.get_pool("p1"), "get pool 'p1'")
    assert_service_error(error, kind=AuthError, code="AuthenticationFailed", status=403, action="get pool 'p1'",
                         fix="account name and key")
    # Azure quotes the signature it received in AuthenticationErrorDetail; the details keep it masked.
    detail = error.details["AuthenticationErrorDetail"]
    assert "MAC signature" in detail
    sent = error.sdk_error.response.request.headers["Authorization"].split(":", 1)[1]
    assert sent not in repr(error.details) and sent not in str(error) and "***" in detail


class _BasicAuth(SansIOHTTPPolicy):
    """An Authorization header in a scheme Batch does not know (as a misconfigured proxy sends)."""

    def on_request(self, request) -> None:
        request.http_request.headers["Authorization"] = "Basic dXNlcjpwYXNz"


def test_a_malformed_authorization_header_is_an_auth_error(local_service):
    # Batch answers 400 InvalidAuthenticationInfo (not 401/403): still a credentials problem.
    with _client(local_service, authentication_policy=_BasicAuth()) as bad:
        error = translate(lambda: bad.get_pool("p1"), "get pool 'p1'")
    assert_service_error(error, kind=AuthError, code="InvalidAuthenticationInfo", status=400,
                         action="get pool 'p1'", fix="credentials")


def test_throttling_is_service_unavailable_with_retry_after(client, faults):
    faults(throttle=1.0, retry_after=7, seed=3)
    seen: dict[str, BatchnbError] = {}
    for _ in range(40):  # the service picks 429 TooManyRequests or 503 ServerBusy at random (seeded)
        error = translate(lambda: client.get_pool("p1"), "get pool 'p1'")
        seen.setdefault(error.code, error)
        if len(seen) == 2:
            break
    assert set(seen) == {"TooManyRequests", "ServerBusy"}
    assert_service_error(seen["TooManyRequests"], kind=ServiceUnavailableError, code="TooManyRequests",
                         status=429, action="get pool 'p1'", fix="throttling")
    assert_service_error(seen["ServerBusy"], kind=ServiceUnavailableError, code="ServerBusy", status=503,
                         action="get pool 'p1'", fix="wait and retry")
    assert all(e.retry_after == 7.0 for e in seen.values())


def test_an_internal_error_asks_to_report_the_request_id(client, faults):
    faults(error500=1.0, seed=1)
    error = translate(lambda: client.get_pool("p1"), "get pool 'p1'")
    assert_service_error(error, kind=BatchnbError, code="InternalError", status=500, action="get pool 'p1'",
                         fix="report the request id")


def test_a_bad_property_names_it_in_the_details(client):
    pool_id = f"errors-{uuid.uuid4().hex[:8]}"
    # Batch refuses a resize timeout under 5 minutes, naming the property and the value.
    spec = batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=0).to_sdk()
    spec.resize_timeout = timedelta(minutes=1)
    error = translate(lambda: client.create_pool(spec), f"create pool '{pool_id}'")
    assert_service_error(error, kind=BatchnbError, code="InvalidPropertyValue", status=400,
                         action=f"create pool '{pool_id}'", fix=None)
    assert error.details["PropertyName"] == "resizeTimeout" and error.details["PropertyValue"] == "PT01M00S"  # as the SDK sent it
    with pytest.raises(AzureError):
        client.get_pool(pool_id)  # nothing was created
