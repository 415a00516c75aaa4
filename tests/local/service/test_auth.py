"""Shared Key verification (wrong key, stale date, no header), bearer tokens only when allowed,
and the api-version requirement."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AccessToken, AzureNamedKeyCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from .bare_server import BareServer
from .helpers import error_code, raw

pytestmark = pytest.mark.timeout(60)


def test_wrong_key_is_403_authentication_failed(local_service) -> None:
    wrong = base64.b64encode(b"not the key at all, not at all!!").decode()
    with BatchClient(local_service.batch_url, AzureNamedKeyCredential(local_service.account_name, wrong)) as c:
        with pytest.raises(HttpResponseError) as exc:
            list(c.list_pools())
    assert exc.value.status_code == 403 and error_code(exc.value) == "AuthenticationFailed"
    assert wrong not in str(exc.value) and local_service.account_key not in str(exc.value)


def test_wrong_account_name_is_403(local_service) -> None:
    with BatchClient(local_service.batch_url, AzureNamedKeyCredential("someoneelse", local_service.account_key)) as c:
        with pytest.raises(HttpResponseError) as exc:
            list(c.list_jobs())
    assert exc.value.status_code == 403


def test_stale_ocp_date_is_403(client) -> None:
    stale = datetime.now(timezone.utc) - timedelta(minutes=20)
    with pytest.raises(HttpResponseError) as exc:
        list(client.list_pools(ocp_date=stale))
    assert exc.value.status_code == 403 and error_code(exc.value) == "AuthenticationFailed"
    fresh = datetime.now(timezone.utc) - timedelta(minutes=5)
    assert isinstance(list(client.list_pools(ocp_date=fresh)), list)


def test_missing_authorization_header_is_401(local_service) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{local_service.batch_url}/pools?api-version=2025-06-01")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    assert exc.value.code == 401
    body = json.loads(exc.value.read())
    assert body["code"] == "AuthenticationFailed"


def test_bearer_refused_without_allow_bearer(local_service) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"{local_service.batch_url}/pools?api-version=2025-06-01",
                                 headers={"Authorization": f"Bearer {_jwt()}"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req, timeout=10)
    assert exc.value.code == 401


def test_missing_api_version_is_400(client) -> None:
    resp = raw(client, "GET", "/pools", api_version=None)
    assert resp.status_code == 400 and resp.json()["code"] == "MissingRequiredQueryParameter"


def test_query_signed_with_timeout_and_odd_paths(client, shared_pool) -> None:
    # timeOut and $-parameters are part of the signed string: these must verify.
    assert isinstance(list(client.list_pools(service_timeout=10, filter="state eq 'active'",
                                             select=["id"], max_results=2)), list)
    assert client.get_pool(shared_pool, service_timeout=5).id == shared_pool


def _jwt(aud: str = "https://batch.core.windows.net/") -> str:
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none'})}.{part({'aud': aud, 'exp': int(time.time()) + 3600})}.sig"


class _FakeCredential:
    def __init__(self, aud: str = "https://batch.core.windows.net/") -> None:
        self.aud = aud
        self.scopes: list[tuple] = []

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(_jwt(self.aud), int(time.time()) + 3600)


@pytest.fixture(scope="module")
def bearer_server(tmp_path_factory):
    server = BareServer(tmp_path_factory.mktemp("bearer"), flags=["--allow-bearer"]).start()
    try:
        yield server
    finally:
        server.stop()


def test_bearer_token_accepted_when_allowed(bearer_server) -> None:
    from batchnb.local import LocalTokenCredential

    from .bare_server import ACCOUNT, KEY

    with BatchClient(bearer_server.url, LocalTokenCredential(ACCOUNT, KEY)) as c:
        # azure-core refuses bearer tokens over http unless told so per call
        assert isinstance(list(c.list_pools(enforce_https=False)), list)
    # A token the service did not sign (alg none) is refused, whatever its audience says.
    for cred in (_FakeCredential(), _FakeCredential(aud="https://storage.azure.com/")):
        with BatchClient(bearer_server.url, cred) as c:
            with pytest.raises(ClientAuthenticationError):
                list(c.list_pools(enforce_https=False))
        assert cred.scopes and "https://batch.core.windows.net//.default" in cred.scopes[0]
    # shared key still works on a server that allows bearer tokens
    with bearer_server.client() as c:
        assert isinstance(list(c.list_pools()), list)
