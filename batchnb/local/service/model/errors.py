"""The Batch error the service answers with: status, code, message, values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str, values: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.values = values or {}
        self.headers = headers or {}


def bad_value(prop: str, value: object, reason: str, code: str = "InvalidPropertyValue") -> ServiceError:
    return ServiceError(400, code, "The value provided for one of the properties in the request body is invalid.",
                        {"PropertyName": prop, "PropertyValue": str(value)[:200], "Reason": reason})


def missing(prop: str) -> ServiceError:
    return ServiceError(400, "MissingRequiredProperty", "A required property was not specified in the request body.",
                        {"PropertyName": prop})


def not_found(code: str, what: str) -> ServiceError:
    return ServiceError(404, code, f"The specified {what} does not exist.")


def conflict(code: str, message: str) -> ServiceError:
    return ServiceError(409, code, message)


def not_emulated(feature: str, instead: str) -> ServiceError:
    """The one answer for every Batch feature the local service does not emulate: 400
    FeatureNotEmulated, naming the feature and what to do instead (docs/local-service.md lists them).
    One status and code, so a client can tell "not here" from "wrong input" without parsing text."""
    return ServiceError(400, "FeatureNotEmulated", f"{feature} is not emulated by the local Batch service. {instead}",
                        {"Feature": feature, "Instead": instead})


def find(table: Mapping[str, T], key: str, code: str, what: str) -> T:
    """``table[key]`` or the 404 Azure answers (``code``, "The specified <what> does not exist.")."""
    found = table.get(key)
    if found is None:
        raise not_found(code, what)
    return found


def refuse_states(state: str, refusals: Mapping[str, tuple[str, str]]) -> None:
    """Raise the 409 ``(code, message)`` that ``refusals`` holds for ``state``, if any."""
    if state in refusals:
        raise conflict(*refusals[state])
