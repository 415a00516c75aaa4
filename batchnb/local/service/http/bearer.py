"""Bearer tokens on the local service (only with ``--allow-bearer``), verified for real.

The local service is no Entra ID tenant, so it cannot check Microsoft's signatures; instead it
accepts only tokens it could have issued: HS256 JWTs signed with a key derived from the account
key (``batchnb.local.tokens.LocalTokenCredential`` mints them), with the Batch audience, a
lifetime of at most a day, and not expired. Anything else (``alg: none``, another signature, a
token of another audience or one that has expired) is refused with 401, admin routes included.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

from batchnb._constants import LOCAL_BEARER_AUDIENCE, LOCAL_BEARER_KEY_LABEL, LOCAL_BEARER_MAX_LIFETIME_S

CLOCK_SKEW_S = 300
_MAX_TOKEN_CHARS = 4096


class BearerError(Exception):
    """Why a token was refused (the AuthenticationErrorDetail of the 401)."""


def signing_key(account_key: str) -> bytes:
    return hmac.new(base64.b64decode(account_key), LOCAL_BEARER_KEY_LABEL, hashlib.sha256).digest()


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(token: str, *, account_key: str, now: float | None = None) -> dict:
    """The token's claims if it is one this service issued and is valid now; else BearerError."""
    if len(token) > _MAX_TOKEN_CHARS:
        raise BearerError("The bearer token is too long.")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise BearerError("The bearer token is not a well-formed JWT.")
    try:
        header, claims, signature = json.loads(_b64(parts[0])), json.loads(_b64(parts[1])), _b64(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise BearerError("The bearer token cannot be decoded.") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise BearerError("The bearer token is not signed with HS256 by this local service.")
    expected = hmac.new(signing_key(account_key), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise BearerError("The bearer token's signature is not valid.")
    if not isinstance(claims, dict):
        raise BearerError("The bearer token's claims are not an object.")
    if str(claims.get("aud") or "").rstrip("/") != LOCAL_BEARER_AUDIENCE.rstrip("/"):
        raise BearerError(f"The bearer token's audience is not {LOCAL_BEARER_AUDIENCE}.")
    now = time.time() if now is None else now
    exp, nbf, iat = claims.get("exp"), claims.get("nbf", claims.get("iat")), claims.get("iat")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (exp, nbf, iat)):
        raise BearerError("The bearer token lacks numeric exp, iat and nbf claims.")
    if exp <= now - CLOCK_SKEW_S:
        raise BearerError("The bearer token has expired.")
    if nbf > now + CLOCK_SKEW_S:
        raise BearerError("The bearer token is not valid yet.")
    if exp - iat > LOCAL_BEARER_MAX_LIFETIME_S:
        raise BearerError("The bearer token's lifetime is longer than a day.")
    return claims
