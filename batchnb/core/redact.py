"""Scrub secrets out of text before it reaches a repr, a log line or an exception message.

Two kinds of secret are removed:

* secrets with a recognisable shape: SAS signatures (``sig=...``), connection-string keys
  (``AccountKey=...``, ``SharedAccessSignature=...``), ``Authorization: SharedKey acct:sig`` and
  ``Bearer <token>`` headers;
* secrets with no shape at all (an account key pasted somewhere unexpected), which the code that
  learns them registers with :func:`register_secret`, so that they are replaced wherever they appear.

Everything that formats text for a user (errors, reprs, logging) should pass it through
:func:`redact`; it is cheap enough to call on every message.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MASK", "redact", "redacted_repr", "register_secret", "registered_secret_count"]

MASK = "***"

# Shorter values are not registered: masking "abc" everywhere would destroy messages and
# a real key, token or password is never that short.
_MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_secrets: set[str] = set()
# Longest first, so that a secret containing another one is masked whole.
_secrets_sorted: tuple[str, ...] = ()

# "=" as it appears in a URL, a URL inside a URL, or HTML.
_EQ = r"(?:=|%3D|%253D|&#61;|\\u003[dD])"
# Not preceded by a letter, rather than \b: in "\u0026sig=" (JSON-escaped '&') a digit comes
# first, and in "%3BAccountKey%3D" (an encoded ';') a letter that ends a percent escape.
_START = r"(?:(?<![A-Za-z])|(?<=%[0-9A-Fa-f]{2}))"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # SAS signature in a URL or a SAS token, plain, percent-encoded once or twice, or JSON-escaped.
    (re.compile(rf"(?i){_START}(sig{_EQ})[^&\s'\"<>;,)\\]+"), r"\1" + MASK),
    # Storage connection strings, also percent-encoded (where ';' becomes %3B and is masked along).
    (re.compile(rf"(?i){_START}(AccountKey{_EQ})[^;\s'\"&]+"), r"\1" + MASK),
    (re.compile(rf"(?i){_START}(SharedAccessSignature{_EQ})[^;\s'\"]+"), r"\1" + MASK),
    # Authorization headers: "SharedKey account:signature" and "Bearer token".
    (re.compile(r"(?i)\b(SharedKey(?:Lite)?\s+[^:\s'\"]+:)[^\s'\",;]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*"), r"\1" + MASK),
    # Batch's AuthenticationErrorDetail quotes the Shared Key signature it received.
    (re.compile(r"(?i)(MAC signature found in the HTTP request ')[^'\s]+"), r"\1" + MASK),
    # Common key=value spellings in reprs and config dumps.
    (re.compile(r"(?i)\b((?:access_?key|account_?key|password|client_?secret)\s*[=:]\s*['\"]?)"
                r"(?!\*\*\*)[^'\"\s,;)]+"), r"\1" + MASK),
)


def register_secret(value: str | bytes | None) -> None:
    """Remember ``value`` so that :func:`redact` replaces it with ``***`` from now on.

    Call it as soon as a secret enters the process (an account key read from the
    environment, a password from a profile). Values shorter than 8 characters are ignored.
    """
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = value.strip()
    if len(value) < _MIN_SECRET_LENGTH:
        return
    global _secrets_sorted
    with _lock:
        if value in _secrets:
            return
        # A base64 key also travels percent-encoded (in a URL, once or twice) and JSON-escaped.
        _secrets.update(_spellings(value))
        _secrets_sorted = tuple(sorted(_secrets, key=len, reverse=True))


def _spellings(value: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    once = quote(value, safe="")
    lower_escapes = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), once)
    return {value, once, lower_escapes, quote_plus(value), quote(once, safe=""), value.replace("/", "\\/")}


def registered_secret_count() -> int:
    """How many secrets are registered (for diagnostics; never the secrets themselves)."""
    return len(_secrets)


def redact(text: object) -> str:
    """Return ``str(text)`` with every known secret and secret-shaped token replaced by ``***``."""
    out = text if isinstance(text, str) else str(text)
    for secret in _secrets_sorted:
        if secret in out:
            out = out.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def redacted_repr(obj: object) -> str:
    """A dataclass-style repr of ``obj`` with secrets removed, for specs that hold URLs/commands.

    Only fields that differ from their defaults are shown, so that reprs stay readable.
    """
    import dataclasses

    parts = []
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
            continue
        parts.append(f"{f.name}={value!r}")
    return redact(f"{type(obj).__name__}({', '.join(parts)})")
