"""Timestamps as the Batch service writes them.

State transition times are made strictly increasing across the whole service, so that a
client polling with `$filter=stateTransitionTime gt <last seen>` never misses a change that
happened in the same microsecond as the last one it saw.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime as _rfc1123

INFINITE = "P10675199DT2H48M5.4775807S"
_last_us = 0


def now() -> datetime:
    return datetime.now(timezone.utc)


def stamp() -> datetime:
    """A UTC time strictly later than every stamp handed out before (microsecond resolution)."""
    global _last_us
    us = max(time.time_ns() // 1000, _last_us + 1)
    _last_us = us
    return datetime.fromtimestamp(us / 1e6, timezone.utc).replace(microsecond=us % 1_000_000)


def iso(dt: datetime) -> str:
    """ISO-8601 with 7 fractional digits and a Z, as the service emits."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_iso(text: str) -> datetime:
    s = text.strip().rstrip("Zz")
    if "." in s:
        head, frac = s.split(".", 1)
        s = f"{head}.{frac[:6].ljust(6, '0')}"
    return datetime.fromisoformat(s).replace(tzinfo=timezone.utc)


def rfc1123(dt: datetime) -> str:
    return _rfc1123(dt.astimezone(timezone.utc), usegmt=True)


def parse_duration(text: str | None) -> timedelta | None:
    """ISO-8601 duration (PnDTnHnMnS) -> timedelta; None for absent or 'infinite'."""
    if not text or text == INFINITE:
        return None
    s = text.upper()
    if not s.startswith("P"):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    days = 0.0
    total = 0.0
    date_part, _, time_part = s[1:].partition("T")
    num = ""
    for ch in date_part:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch == "D":
            days += float(num)
            num = ""
        elif ch == "W":
            days += 7 * float(num)
            num = ""
        else:
            raise ValueError(f"unsupported duration unit in {text!r}")
    for ch in time_part:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in "HMS":
            total += float(num) * {"H": 3600, "M": 60, "S": 1}[ch]
            num = ""
        else:
            raise ValueError(f"unsupported duration unit in {text!r}")
    if num:
        raise ValueError(f"dangling number in duration {text!r}")
    seconds = days * 86400 + total
    if seconds > 10_000 * 86400:  # treat absurdly long as infinite
        return None
    return timedelta(seconds=seconds)


_etag_counter = time.time_ns() // 1000


def etag() -> str:
    """Opaque, unquoted and unique per change, like the service's '0x8DBCEEDDE12323A'."""
    global _etag_counter
    _etag_counter += 1
    return f"0x8D{_etag_counter:X}"
