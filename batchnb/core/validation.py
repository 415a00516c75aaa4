"""Checks that run before any request is sent, with errors that name the field and the fix.

Each ``check_*`` function returns the (normalised) value or raises
:class:`batchnb.errors.ValidationError`. The rules are the Batch and Blob service's own
(reference: batch-service-spec.md section 6), so that a request batchnb lets through is not
rejected by the service for a reason we could have told the user earlier.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from typing import Any

from batchnb.errors import ValidationError, ids_preview

__all__ = [
    "ID_ALLOWED",
    "ID_MAX_LENGTH",
    "check_blob_name",
    "check_choice",
    "check_command_line",
    "check_container_name",
    "check_display_name",
    "check_environment",
    "check_id",
    "check_int",
    "check_metadata",
    "check_relative_path",
    "check_unique_ids",
    "close_matches",
    "did_you_mean",
    "find_duplicate_ids",
    "iso_duration",
    "parse_iso_duration",
    "to_timedelta",
]

ID_MAX_LENGTH = 64
ID_ALLOWED = "letters, digits, '-' and '_'"
_ID_CHAR = re.compile(r"[A-Za-z0-9_\-]")
_ID = re.compile(rf"[A-Za-z0-9_\-]{{1,{ID_MAX_LENGTH}}}")  # the common case in one match (sweeps check millions)
DISPLAY_NAME_MAX_LENGTH = 1024
BLOB_NAME_MAX_LENGTH = 1024
BLOB_MAX_PATH_SEGMENTS = 254
_CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]\Z")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


def _kind(value: object) -> str:
    return type(value).__name__


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates that look like ``word`` (case-insensitive), best first."""
    by_lower = {c.lower(): c for c in candidates}
    return [by_lower[m] for m in difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)]


def did_you_mean(word: str, candidates: Iterable[str], *, n: int = 3, joiner: str = " or ") -> str:
    """``"did you mean 'a' or 'b'? "`` for the start of a ``fix``, or ``""`` when nothing is close."""
    matches = close_matches(word, candidates, n=n)
    return f"did you mean {joiner.join(repr(m) for m in matches)}? " if matches else ""


# ---------------------------------------------------------------------------------- ids, names


def check_id(value: object, *, field: str = "id") -> str:
    """A pool, job or task id: 1-64 letters, digits, '-' or '_' (unique case-insensitively)."""
    if value.__class__ is str and _ID.fullmatch(value):
        return value
    fix = f"use 1-{ID_MAX_LENGTH} characters from {ID_ALLOWED}"
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)} {value!r}", fix=fix)
    if not value:
        raise ValidationError(field, "is empty", fix=fix)
    if len(value) > ID_MAX_LENGTH:
        raise ValidationError(
            field, f"{value[:20]!r}... is {len(value)} characters, over the limit of {ID_MAX_LENGTH}",
            fix=f"shorten it to at most {ID_MAX_LENGTH} characters")
    for position, char in enumerate(value):
        if not _ID_CHAR.fullmatch(char):
            shown = repr(char) if char.isprintable() and not char.isspace() else f"{char!r} (U+{ord(char):04X})"
            raise ValidationError(
                field, f"character {shown} at position {position} of {value!r} is not allowed",
                fix=f"use only {ID_ALLOWED}, for example {re.sub(r'[^A-Za-z0-9_-]', '-', value)[:64]!r}")
    return value


def find_duplicate_ids(ids: Iterable[str]) -> list[list[str]]:
    """Groups of ids that Batch considers equal (it compares ids case-insensitively)."""
    items = ids if isinstance(ids, (list, tuple)) else list(ids)
    if len({item.lower() for item in items}) == len(items):  # the common case, without a list per id
        return []
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.lower(), []).append(item)
    return [group for group in groups.values() if len(group) > 1]


def check_unique_ids(ids: Iterable[str], *, field: str = "tasks") -> None:
    """Raise if two ids collide, including ids differing only by case ('Task1' and 'task1')."""
    duplicates = find_duplicate_ids(ids)
    if duplicates:
        shown = "; ".join(ids_preview(group, 3) for group in duplicates[:3])
        more = f" (and {len(duplicates) - 3} more groups)" if len(duplicates) > 3 else ""
        raise ValidationError(
            field, f"{len(duplicates)} id(s) are used more than once (case-insensitively): {shown}{more}",
            fix="give every task a distinct id; Batch treats 'A' and 'a' as the same id")


def check_display_name(value: object, *, field: str = "display_name") -> str | None:
    """Optional free text, at most 1024 characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)}", fix="pass text or None")
    if len(value) > DISPLAY_NAME_MAX_LENGTH:
        raise ValidationError(field, f"is {len(value)} characters long",
                              fix=f"shorten it to at most {DISPLAY_NAME_MAX_LENGTH} characters")
    return value


def check_container_name(value: object, *, field: str = "container") -> str:
    """A blob container name: 3-63 lowercase letters, digits and single '-', starting and ending
    with a letter or digit."""
    rule = "use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)}", fix=rule)
    if not 3 <= len(value) <= 63:
        raise ValidationError(field, f"{value!r} is {len(value)} characters long", fix=rule)
    if any(c.isupper() for c in value) and _CONTAINER_NAME.match(value.lower()):
        raise ValidationError(field, f"{value!r} has uppercase letters",
                              fix=f"container names are lowercase: use {value.lower()!r}")
    bad = sorted({c for c in value if not (c.islower() or c.isdigit() or c == "-") or not c.isascii()})
    if bad:
        raise ValidationError(field, f"{value!r} contains {', '.join(repr(c) for c in bad)}", fix=rule)
    if "--" in value:
        raise ValidationError(field, f"{value!r} contains '--'", fix=rule)
    if not _CONTAINER_NAME.match(value):
        raise ValidationError(field, f"{value!r} starts or ends with '-'", fix=rule)
    return value


def check_blob_name(value: object, *, field: str = "blob") -> str:
    """A blob name: 1-1024 characters, at most 254 '/'-separated segments, not ending in '.' or '/'."""
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)}", fix="pass the blob name as text")
    if not value:
        raise ValidationError(field, "is empty", fix="give a blob name such as 'data/part-0001.csv'")
    if len(value) > BLOB_NAME_MAX_LENGTH:
        raise ValidationError(field, f"is {len(value)} characters long",
                              fix=f"use at most {BLOB_NAME_MAX_LENGTH} characters")
    if value.endswith((".", "/")):
        raise ValidationError(field, f"{value!r} ends with {value[-1]!r}",
                              fix="blob names cannot end with '.' or '/'; drop the trailing character")
    if value.startswith("/"):
        raise ValidationError(field, f"{value!r} starts with '/'",
                              fix=f"blob names are relative to the container: use {value.lstrip('/')!r}")
    if "\\" in value:
        raise ValidationError(field, f"{value!r} contains a backslash",
                              fix=f"use '/' to separate folders: {value.replace(chr(92), '/')!r}")
    if any(not c.isprintable() for c in value):
        raise ValidationError(field, f"{value!r} contains control characters", fix="remove them")
    if value.count("/") + 1 > BLOB_MAX_PATH_SEGMENTS:
        raise ValidationError(field, f"has {value.count('/') + 1} path segments",
                              fix=f"use at most {BLOB_MAX_PATH_SEGMENTS} '/'-separated segments")
    return value


def check_relative_path(value: object, *, field: str) -> str:
    """A path inside a task's working directory (no absolute path, no '..' escape)."""
    if isinstance(value, PathLike):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"must be a non-empty path, got {value!r}",
                              fix="give a path relative to the task working directory")
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValidationError(field, f"{value!r} is absolute",
                              fix="give a path relative to the task working directory")
    if ".." in parts:
        raise ValidationError(field, f"{value!r} leaves the task working directory with '..'",
                              fix="give a path inside the working directory")
    return value


def check_command_line(value: object, *, field: str = "command_line") -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)}",
                              fix="give the command as one string, e.g. \"python run.py --n 3\"")
    if not value.strip():
        raise ValidationError(field, "is empty", fix="give the command to run, e.g. \"python run.py\"")
    if "\x00" in value:
        raise ValidationError(field, "contains a NUL character", fix="remove it")
    return value


# ------------------------------------------------------------------------------- numbers, enums


def check_int(
    value: object,
    *,
    field: str,
    minimum: int | None = None,
    maximum: int | None = None,
    special: Mapping[int, str] | None = None,
) -> int:
    """An int in ``[minimum, maximum]``, or one of the ``special`` values (e.g. ``{-1: "unlimited"}``)."""
    special = special or {}
    allowed = []
    for number, meaning in special.items():
        allowed.append(f"{number} ({meaning})")
    if minimum is not None and maximum is not None:
        allowed.append(f"an integer from {minimum} to {maximum}")
    elif minimum is not None:
        allowed.append(f"an integer >= {minimum}")
    elif maximum is not None:
        allowed.append(f"an integer <= {maximum}")
    else:
        allowed.append("an integer")
    fix = "use " + " or ".join(allowed)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValidationError(field, f"must be an integer, got {_kind(value)} {value!r}", fix=fix)
    if value in special:
        return value
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValidationError(field, f"{value} is out of range", fix=fix)
    return value


def check_choice(value: object, *, field: str, choices: Iterable[str]) -> str:
    """One of ``choices``, compared case-insensitively; returns the canonical spelling."""
    options = list(choices)
    listed = ", ".join(repr(c) for c in options)
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, got {_kind(value)} {value!r}", fix=f"use one of {listed}")
    for option in options:
        if option.lower() == value.lower():
            return option
    raise ValidationError(field, f"{value!r} is not a valid choice",
                          fix=f"{did_you_mean(value, options)}use one of {listed}")


# ---------------------------------------------------------------------------------- durations

_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.I,
)


def parse_iso_duration(text: str) -> dt.timedelta | None:
    """``PT5M`` / ``P1DT2H`` / ``PT0.5S`` -> timedelta; None when ``text`` is not that form."""
    match = _ISO_DURATION.match(text.strip())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return dt.timedelta(**parts)


def to_timedelta(
    value: object,
    *,
    field: str,
    minimum: dt.timedelta | None = None,
    maximum: dt.timedelta | None = None,
) -> dt.timedelta | None:
    """Accept a ``timedelta``, a number of seconds, or an ISO-8601 duration (``"PT15M"``).

    None stays None (the service default).
    """
    fix = "give a datetime.timedelta, a number of seconds, or an ISO-8601 duration such as 'PT15M'"
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        result = value
    elif isinstance(value, bool):
        raise ValidationError(field, f"must be a duration, got {value!r}", fix=fix)
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValidationError(field, f"must be finite, got {value!r}", fix=fix + " (None means no limit)")
        result = dt.timedelta(seconds=value)
    elif isinstance(value, str):
        parsed = parse_iso_duration(value)
        if parsed is None:
            raise ValidationError(field, f"{value!r} is not an ISO-8601 duration", fix=fix)
        result = parsed
    else:
        raise ValidationError(field, f"must be a duration, got {_kind(value)}", fix=fix)
    if result <= dt.timedelta(0):
        raise ValidationError(field, f"must be positive, got {iso_duration(result)}", fix=fix)
    if minimum is not None and result < minimum:
        raise ValidationError(field, f"{iso_duration(result)} is shorter than the minimum {iso_duration(minimum)}",
                              fix=f"use at least {iso_duration(minimum)}")
    if maximum is not None and result > maximum:
        raise ValidationError(field, f"{iso_duration(result)} is longer than the maximum {iso_duration(maximum)}",
                              fix=f"use at most {iso_duration(maximum)}")
    return result


def iso_duration(value: dt.timedelta | float) -> str:
    """A compact ISO-8601 duration: ``P7D``, ``PT1H30M``, ``PT0.5S``."""
    if not isinstance(value, dt.timedelta):
        value = dt.timedelta(seconds=value)
    negative = value < dt.timedelta(0)
    value = abs(value)
    days = value.days
    seconds = value.seconds
    micros = value.microseconds
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = "-P" if negative else "P"
    if days:
        out += f"{days}D"
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or micros:
        time += f"{seconds}.{micros:06d}".rstrip("0") + "S" if micros else f"{seconds}S"
    if time:
        out += "T" + time
    return out if out not in ("P", "-P") else "PT0S"


# ----------------------------------------------------------------------- environment, metadata


def _stringify(value: object, *, field: str, fix: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float, PathLike)):
        return str(value) if not isinstance(value, PathLike) else str(value.__fspath__())
    raise ValidationError(field, f"value must be text, got {_kind(value)}", fix=fix)


def _text_pairs(value: object, *, field: str, example: str,
                check_name: Callable[[object], None]) -> dict[str, str]:
    """``value`` as ``{name: text}`` (None: empty); ``check_name`` refuses a bad name."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"must be a dict of name -> value, got {_kind(value)}",
                              fix=f"pass e.g. {example}")
    out: dict[str, str] = {}
    for name, item in value.items():
        check_name(name)
        out[name] = _stringify(item, field=f"{field}[{name!r}]", fix="give the value as text")
    return out


def check_environment(value: object, *, field: str = "environment") -> dict[str, str]:
    """Environment variables as ``{name: value}``; numbers and paths become text."""

    def check_name(name: object) -> None:
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ValidationError(
                f"{field}[{name!r}]", "is not a valid environment variable name",
                fix="use letters, digits and '_', not starting with a digit")
        if name.upper().startswith("AZ_BATCH_"):
            raise ValidationError(f"{field}[{name!r}]", "is reserved: Batch sets AZ_BATCH_* variables itself",
                                  fix="choose a name that does not start with AZ_BATCH_")

    return _text_pairs(value, field=field, example="{'OMP_NUM_THREADS': '1'}", check_name=check_name)


def check_metadata(value: object, *, field: str = "metadata") -> dict[str, str]:
    """Metadata as ``{name: value}`` text pairs (names non-empty)."""

    def check_name(name: object) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(field, f"has an empty or non-text name {name!r}", fix="give every entry a name")

    return _text_pairs(value, field=field, example="{'project': 'churn'}", check_name=check_name)


def check_type(value: Any, types: type | tuple[type, ...], *, field: str, fix: str) -> Any:
    """``value`` if it is an instance of ``types``, else a ValidationError with ``fix``."""
    if not isinstance(value, types):
        raise ValidationError(field, f"has the wrong type {_kind(value)}", fix=fix)
    return value
