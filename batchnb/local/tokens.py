"""Bearer tokens for the local service, for exercising batchnb's Entra ID code path locally.

    service = batchnb.local.start(allow_bearer=True)
    credential = LocalTokenCredential.from_service(service)
    session = batchnb.connect(account_url=service.batch_url, credential=credential, ...)

The tokens are HS256 JWTs signed with a key derived from the local account key: only someone who
holds that key (and could use Shared Key anyway) can mint one, and the service checks signature,
audience and expiry (see ``batchnb.local.service.http.bearer``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from batchnb._constants import LOCAL_BEARER_AUDIENCE, LOCAL_BEARER_KEY_LABEL

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken

    from batchnb.local.daemon import LocalService

__all__ = ["LocalTokenCredential"]

DEFAULT_LIFETIME_S = 3600


def _part(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def mint_token(account_key: str, account_name: str, *, lifetime_s: int = DEFAULT_LIFETIME_S,
               audience: str = LOCAL_BEARER_AUDIENCE, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    header = _part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _part(json.dumps({"aud": audience, "iss": f"batchnb-local:{account_name}", "sub": account_name,
                               "iat": issued, "nbf": issued, "exp": issued + lifetime_s}).encode())
    key = hmac.new(base64.b64decode(account_key), LOCAL_BEARER_KEY_LABEL, hashlib.sha256).digest()
    signature = _part(hmac.new(key, f"{header}.{claims}".encode(), hashlib.sha256).digest())
    return f"{header}.{claims}.{signature}"


class LocalTokenCredential:
    """An azure-core ``TokenCredential`` whose tokens the local service (``allow_bearer=True``) accepts."""

    def __init__(self, account_name: str, account_key: str, *, lifetime_s: int = DEFAULT_LIFETIME_S) -> None:
        self._account_name = account_name
        self._account_key = account_key
        self._lifetime_s = lifetime_s

    @classmethod
    def from_service(cls, service: LocalService, *, lifetime_s: int = DEFAULT_LIFETIME_S) -> LocalTokenCredential:
        return cls(service.account_name, service.account_key, lifetime_s=lifetime_s)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        token = mint_token(self._account_key, self._account_name, lifetime_s=self._lifetime_s)
        return AccessToken(token, int(time.time()) + self._lifetime_s)

    def __repr__(self) -> str:
        return f"LocalTokenCredential(account={self._account_name!r})"
