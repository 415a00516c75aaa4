"""Request-body checks shared by the model's operations: each failure is a Batch 400 error body."""

from __future__ import annotations

import re

from batchnb.local.service.model import clock
from batchnb.local.service.model.errors import ServiceError, bad_value, missing

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


def require(body: dict, prop: str):
    value = body.get(prop)
    if value is None or value == "":
        raise missing(prop)
    return value


def check_id(value, prop: str = "id") -> str:
    if not isinstance(value, str) or not value:
        raise missing(prop)
    if not _ID.match(value):
        raise bad_value(prop, value, "The id can contain any combination of alphanumeric characters including "
                                     "hyphens and underscores, and cannot contain more than 64 characters.")
    return value


def check_int(body: dict, prop: str, lo: int | None = None, hi: int | None = None, *, code: str = "InvalidPropertyValue",
              allow: tuple[int, ...] = ()) -> int | None:
    value = body.get(prop)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_value(prop, value, "Expected an integer.")
    if value in allow:
        return value
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad_value(prop, value, f"The value must be between {lo} and {hi}.", code)
    return value


def check_duration(body: dict, prop: str, *, minimum_s: float | None = None, maximum_s: float | None = None):
    value = body.get(prop)
    if value is None:
        return None
    try:
        td = clock.parse_duration(value)
    except (ValueError, AttributeError, TypeError):
        raise bad_value(prop, value, "The value is not a valid ISO-8601 duration.") from None
    if td is not None:
        if minimum_s is not None and td.total_seconds() < minimum_s:
            raise bad_value(prop, value, f"The value must be at least {minimum_s:g} seconds.")
        if maximum_s is not None and td.total_seconds() > maximum_s:
            raise bad_value(prop, value, f"The value must be at most {maximum_s:g} seconds.")
    return td


def check_enum(body: dict, prop: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    if not isinstance(body, dict):
        raise bad_value(prop, body, "Expected a JSON object.")
    value = body.get(prop, default)
    if value is None:
        return None
    if not isinstance(value, str) or value.lower() not in allowed:
        raise bad_value(prop, value, f"Allowed values: {', '.join(allowed)}.")
    return value.lower()


def check_metadata(body: dict) -> None:
    items = body.get("metadata")
    if items is None:
        return
    if not isinstance(items, list):
        raise bad_value("metadata", items, "Expected a list of name/value pairs.")
    for item in items:
        if not isinstance(item, dict) or not item.get("name"):
            raise ServiceError(400, "EmptyMetadataKey", "A metadata item has an empty name.")


def check_list(body: dict, prop: str) -> list:
    value = body.get(prop)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_value(prop, value, "Expected a JSON array.")
    return value


def check_object(body, prop: str = "body", shape: dict | None = None) -> dict:
    """`body` must be a JSON object; with `shape`, its known properties must have their JSON types."""
    if not isinstance(body, dict):
        raise ServiceError(400, "InvalidRequestBody", "The request body must be a JSON object.",
                           {"PropertyName": prop})
    if shape is not None:
        from batchnb.local.service.model.shapes import check_shape

        check_shape(body, shape, "" if prop == "body" else prop)
    return body


def check_time(body: dict, prop: str, *, required: bool = False):
    """An ISO-8601 date-time property as a UTC datetime (None when absent and not required)."""
    value = body.get(prop)
    if value is None or value == "":
        if required:
            raise missing(prop)
        return None
    try:
        return clock.parse_iso(str(value))
    except ValueError:
        raise bad_value(prop, value, "The value is not a valid ISO-8601 date-time.") from None
