"""Shared Key request signing and verification for the local Batch service.

Two canonical forms are accepted, because the clients disagree (see reference/azure-sdk-notes.md):

* ``lower_names=False``: what the Python azure-batch 15.x SDK (``BatchSharedKeyAuthPolicy``) signs:
  query names as sent, ``sorted()`` case-sensitively; ``ocp-`` headers picked by substring;
  Content-Length defaults to ``0`` for verbs other than GET/HEAD.
* ``lower_names=True``: what the REST docs and the .NET/Java clients sign: query names lower-cased
  and sorted case-insensitively; ``ocp-`` headers picked by prefix.

Neither form ever appears in an exception or log line together with the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus

__all__ = ["parse_query", "sign", "signature", "string_to_sign", "verify"]

# The order is part of the signature.
_SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query string into still-encoded (name, value) pairs, in URL order."""
    raw_query = raw_query.lstrip("?")
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, sep, value = part.partition("=")
        # Like parse_qs (which the SDK uses): a field without '=' carries no value and is not signed.
        if sep:
            pairs.append((name, value))
    return pairs


def _header_items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        # CIMultiDict.items() yields duplicates too; a plain dict yields each key once.
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def string_to_sign(
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
    account: str,
    *,
    lower_names: bool,
) -> str:
    """Build the canonical string a client signed.

    ``raw_path`` is the still percent-encoded path (no query); ``query`` holds the raw pairs as they
    appear in the URL; ``headers`` is looked up case-insensitively.
    """
    method = method.upper()
    items = _header_items(headers)
    # Last non-empty value wins, as in the SDK's dict comprehension.
    by_name = {k.lower(): v for k, v in items if v}
    if method not in ("GET", "HEAD") and "content-length" not in by_name:
        by_name["content-length"] = "0"
    out = [method, "\n", "\n".join(by_name.get(h, "") for h in _SIGNED_HEADERS), "\n"]

    if lower_names:
        ocp = [(k.lower(), v) for k, v in items if k.lower().startswith("ocp-") and v]
    else:
        ocp = [(k.lower(), v) for k, v in items if "ocp-" in k and v]
    for name, value in sorted(ocp):
        out.append(f"{name}:{value}\n")

    out.append(f"/{account}{raw_path}")

    # parse_qs semantics: decode names and values ('+' is a space), drop empty values, keep the first.
    first: dict[str, str] = {}
    for raw_name, raw_value in query:
        value = unquote_plus(raw_value)
        if not value:
            continue
        name = unquote_plus(raw_name)
        if lower_names:
            name = name.lower()
        first.setdefault(name, value)
    for name in sorted(first):
        out.append(f"\n{name}:{first[name]}")
    return "".join(out)


def signature(key_b64: str, text: str) -> str:
    """Base64 HMAC-SHA256 of ``text`` under the base64 account key."""
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError):
        # Never echo the key itself.
        raise ValueError("the account key is not valid base64") from None
    return base64.b64encode(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def _split_path(raw_path: str, raw_query: str) -> tuple[str, str]:
    # Callers may hand over aiohttp's raw_path, which still carries the query.
    if "?" in raw_path:
        raw_path, _, rest = raw_path.partition("?")
        raw_query = raw_query or rest
    return raw_path, raw_query


def sign(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    account: str,
    key_b64: str,
    *,
    lower_names: bool = False,
) -> str:
    """The ``Authorization`` header value a client would send: ``SharedKey <account>:<signature>``."""
    raw_path, raw_query = _split_path(raw_path, raw_query)
    sts = string_to_sign(method, raw_path, parse_query(raw_query), headers, account, lower_names=lower_names)
    return f"SharedKey {account}:{signature(key_b64, sts)}"


def verify(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    account: str,
    key_b64: str,
) -> tuple[bool, str]:
    """Check the request's ``Authorization: SharedKey`` header against both canonical forms.

    Returns ``(ok, python_sdk_string_to_sign)``; the string goes into the 403 message so a user can
    see what the server signed. A malformed or missing header, or another account's name, is not ok.
    """
    raw_path, raw_query = _split_path(raw_path, raw_query)
    query = parse_query(raw_query)
    sdk_sts = string_to_sign(method, raw_path, query, headers, account, lower_names=False)
    auth = _find_header(headers, "authorization")
    scheme, _, credential = auth.strip().partition(" ")
    name, sep, given = credential.strip().rpartition(":")
    if scheme.lower() != "sharedkey" or not sep or not given:
        return False, sdk_sts
    candidates = [sdk_sts, string_to_sign(method, raw_path, query, headers, account, lower_names=True)]
    ok = False
    for sts in candidates:
        # Evaluate every candidate so the time taken does not reveal which form matched.
        ok |= hmac.compare_digest(signature(key_b64, sts).encode(), given.encode("utf-8", "replace"))
    # Account names compare case-insensitively, as they do in Azure host names.
    ok &= hmac.compare_digest(name.lower().encode("utf-8", "replace"), account.lower().encode("utf-8"))
    return ok, sdk_sts


def _find_header(headers: Mapping[str, str], wanted: str) -> str:
    try:
        value = headers.get(wanted)  # case-insensitive mappings (aiohttp, azure-core)
    except Exception:  # noqa: BLE001 - any odd mapping falls back to a scan
        value = None
    if value is None:
        for k, v in _header_items(headers):
            if k.lower() == wanted:
                return v
        return ""
    return value
