"""--allow-bearer verifies tokens for real: only HS256 tokens signed with the key derived from the
account key, for the Batch audience, unexpired and short-lived, get in (admin routes included).
Every forgery of the issue is tried through real HTTP requests."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from azure.batch import BatchClient

from batchnb._constants import LOCAL_ADMIN_PREFIX
from batchnb.local import LocalTokenCredential
from batchnb.local.tokens import mint_token

from .bare_server import ACCOUNT, KEY, BareServer

pytestmark = pytest.mark.timeout(60)
OTHER_KEY = base64.b64encode(b"some other account key, not it!!").decode()


def _part(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = BareServer(tmp_path_factory.mktemp("bearer-verify"), flags=["--allow-bearer"]).start()
    try:
        yield srv
    finally:
        srv.stop()


def _get(server, path: str, token: str) -> requests.Response:
    return requests.get(f"{server.url}{path}", params={"api-version": "2025-06-01"},
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _forgeries() -> dict[str, str]:
    now = int(time.time())
    good = mint_token(KEY, ACCOUNT)
    head, claims, sig = good.split(".")
    return {
        "the issue's token a.e30.b": "a.e30.b",
        "alg none, no signature": f"{_part({'alg': 'none'})}.{claims}.",
        "alg none, any signature": f"{_part({'alg': 'none'})}.{claims}.c2ln",
        "signed with another key": mint_token(OTHER_KEY, ACCOUNT),
        "claims swapped under a valid signature": f"{head}.{_part({'aud': 'https://batch.core.windows.net/', 'iat': now, 'nbf': now, 'exp': now + 999999})}.{sig}",
        "another audience": mint_token(KEY, ACCOUNT, audience="https://storage.azure.com/"),
        "expired": mint_token(KEY, ACCOUNT, now=now - 7200, lifetime_s=600),
        "not valid yet": mint_token(KEY, ACCOUNT, now=now + 7200),
        "lifetime of a week": mint_token(KEY, ACCOUNT, lifetime_s=7 * 86400),
        "not base64": "!!!.???.***",
        "two parts": f"{head}.{claims}",
        "huge": "a." + "b" * 6000 + ".c",
    }


@pytest.mark.parametrize("name", list(_forgeries()))
def test_forged_tokens_are_refused_on_batch_and_admin_routes(server, name) -> None:
    token = _forgeries()[name]
    for path in ("/pools", f"{LOCAL_ADMIN_PREFIX}/faults"):
        response = _get(server, path, token)
        assert response.status_code == 401, (name, path, response.text[:200])
        assert response.json()["code"] == "AuthenticationFailed"
        assert token not in response.text  # never echoed


def test_a_token_the_service_issued_works_through_the_sdk(server) -> None:
    assert _get(server, "/pools", mint_token(KEY, ACCOUNT)).status_code == 200
    with BatchClient(server.url, LocalTokenCredential(ACCOUNT, KEY)) as client:
        assert list(client.list_pools(enforce_https=False)) == []
    assert "KEY" not in repr(LocalTokenCredential(ACCOUNT, KEY)) and KEY not in repr(LocalTokenCredential(ACCOUNT, KEY))
