"""failureInfo records for the steps of a task run (spec §7), and URLs safe to put in them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def failure(code: str, message: str, details: list[dict] | None = None, category: str = "usererror") -> dict:
    return {"category": category, "code": code, "message": message, "details": details or []}


class StepFailed(Exception):
    """A pre-processing or upload step failed with this failureInfo."""

    def __init__(self, failure: dict) -> None:
        super().__init__(failure["code"])
        self.failure = failure


def public_url(url: str) -> str:
    """The URL without its query (the SAS) or credentials: safe for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
