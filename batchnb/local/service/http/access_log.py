"""One line per request in ``<state_dir>/requests.log``: what the service was asked and what it answered.

It is what a user reads to see what their client really sent (ids, filters, status codes, request
ids to match a client error), and what the security tests scan for leaked secrets. So it holds no
header and no body (the Authorization header, the SAS URLs of resource and output files), and
query values that can carry a secret (``sig=``, ``...key=``, ``...token=``) are masked.
Rotated at 5 MB (two old files kept), so a long-lived service does not fill the disk.
"""

from __future__ import annotations

import logging
import re
from logging.handlers import RotatingFileHandler
from pathlib import Path

__all__ = ["LOG_NAME", "configure", "log_request", "mask_query"]

LOG_NAME = "requests.log"
MASK = "***"
_log = logging.getLogger("batchnb.local.requests")
# Query parameters whose value is a secret or part of one: a SAS signature, keys, tokens, passwords.
_SECRET_PARAM = re.compile(r"(?i)(^|&)((?:sig|[^&=]*(?:key|token|secret|password|signature)[^&=]*)=)[^&]*")
# A SAS signature embedded in another value (a URL inside a $filter, percent-encoded or not).
_EMBEDDED_SIG = re.compile(r"(?i)(?<![a-z])(sig(?:=|%3D))[^&\s]+")


def configure(state_dir: Path) -> None:
    """Send the request lines to ``state_dir/requests.log`` (and nowhere else, not server.log)."""
    handler = RotatingFileHandler(Path(state_dir) / LOG_NAME, maxBytes=5 * 2**20, backupCount=2,
                                  encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    for old in list(_log.handlers):
        _log.removeHandler(old)
        old.close()
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def mask_query(query: str) -> str:
    """``api-version=1&sig=abc`` -> ``api-version=1&sig=***`` (every secret-bearing value)."""
    masked = _SECRET_PARAM.sub(lambda m: m.group(1) + m.group(2) + MASK, query)
    return _EMBEDDED_SIG.sub(lambda m: m.group(1) + MASK, masked)


def log_request(request_id: str, method: str, path: str, query: str, outcome: str, seconds: float) -> None:
    """One line: request id, method, path with the masked query, status (or what happened), time."""
    if not _log.handlers:
        return
    target = f"{path}?{mask_query(query)}" if query else path
    _log.info("%s %s %s %s %.1fms", request_id, method, target, outcome, seconds * 1000)
