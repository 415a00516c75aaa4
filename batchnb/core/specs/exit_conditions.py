"""A friendly way to write a task's exit conditions, translated to the SDK's ``ExitConditions``.

Batch decides two things when a task ends: whether tasks that depend on it may run
(``dependencyAction``: satisfy/block) and whether the job should react (``jobAction``:
none/disable/terminate, honoured only when the job has ``on_task_failure="performexitoptionsjobaction"``).
By default exit code 0 satisfies and anything else blocks and (with that job setting) terminates.

The friendly form is a dict; every key is optional::

    {
        "satisfy_on": [0, 1, range(10, 20)],   # these exit codes let dependents run
        "block_on": [3],                       # these block dependents
        "terminate_job_on": [2],               # these terminate the job
        "disable_job_on": [75],                # these disable the job (running tasks requeued)
        "default": "satisfy",                  # any other exit code (see ACTIONS below)
        "pre_processing_error": "block",       # resource download / command not found
        "file_upload_error": {"job_action": "none", "dependency_action": "satisfy"},
    }

Codes are ints or Python ``range`` objects (``range(10, 20)`` means 10..19, as in Python; it is
sent to Batch as the inclusive range 10..19). An action is a dict with ``job_action`` and/or
``dependency_action``, or one of the shortcuts in ``ACTIONS``. An SDK ``ExitConditions`` object is
passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from azure.batch import models as batch_models

from batchnb.core.validation import check_choice, did_you_mean
from batchnb.errors import ValidationError

__all__ = ["ACTIONS", "CODE_KEYS", "OPTION_KEYS", "build_exit_conditions"]

# key -> (ExitOptions field, value) that the codes listed under it get.
CODE_KEYS: dict[str, tuple[str, str]] = {
    "satisfy_on": ("dependency_action", "satisfy"),
    "block_on": ("dependency_action", "block"),
    "terminate_job_on": ("job_action", "terminate"),
    "disable_job_on": ("job_action", "disable"),
}
OPTION_KEYS = ("default", "pre_processing_error", "file_upload_error")
ACTIONS: dict[str, dict[str, str]] = {
    "satisfy": {"dependency_action": "satisfy"},
    "block": {"dependency_action": "block"},
    "terminate_job": {"job_action": "terminate"},
    "disable_job": {"job_action": "disable"},
    "none": {"job_action": "none"},
    "ignore": {"job_action": "none", "dependency_action": "satisfy"},
}
_JOB_ACTIONS = ("none", "disable", "terminate")
_DEPENDENCY_ACTIONS = ("satisfy", "block")


def _exit_options(value: Any, *, field: str) -> dict[str, str]:
    if isinstance(value, batch_models.ExitOptions):
        return {k: v for k, v in (("job_action", value.job_action), ("dependency_action", value.dependency_action))
                if v is not None}
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in ACTIONS:
            raise ValidationError(field, f"{value!r} is not an action",
                                  fix=f"use one of {', '.join(repr(a) for a in ACTIONS)} or a dict "
                                      "{'job_action': ..., 'dependency_action': ...}")
        return dict(ACTIONS[key])
    if isinstance(value, Mapping):
        unknown = set(value) - {"job_action", "dependency_action"}
        if unknown:
            raise ValidationError(field, f"has unknown key(s) {', '.join(repr(k) for k in sorted(unknown))}",
                                  fix="use only 'job_action' and 'dependency_action'")
        out = {}
        if value.get("job_action") is not None:
            out["job_action"] = check_choice(value["job_action"], field=f"{field}.job_action", choices=_JOB_ACTIONS)
        if value.get("dependency_action") is not None:
            out["dependency_action"] = check_choice(value["dependency_action"], field=f"{field}.dependency_action",
                                                    choices=_DEPENDENCY_ACTIONS)
        return out
    raise ValidationError(field, f"has the wrong type {type(value).__name__}",
                          fix="give an action name such as 'satisfy' or a dict {'dependency_action': 'satisfy'}")


def _codes(value: Any, *, field: str) -> Iterable[int | range]:
    items = [value] if isinstance(value, (int, range)) else value
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ValidationError(field, f"has the wrong type {type(value).__name__}",
                              fix="give exit codes as ints and ranges, e.g. [1, 2, range(10, 20)]")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, range)):
            raise ValidationError(field, f"has {item!r}, which is not an exit code",
                                  fix="give exit codes as ints and ranges, e.g. [1, 2, range(10, 20)]")
        if isinstance(item, range) and (item.step != 1 or len(item) == 0):
            raise ValidationError(field, f"{item!r} is empty or has a step",
                                  fix="use a non-empty range with step 1, e.g. range(10, 20) for 10..19")
        yield item


def build_exit_conditions(value: Any, *, field: str = "exit_conditions") -> batch_models.ExitConditions | None:
    """The friendly dict (see module docstring), an SDK ExitConditions, or None -> SDK ExitConditions."""
    if value is None or isinstance(value, batch_models.ExitConditions):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"has the wrong type {type(value).__name__}",
                              fix="give a dict such as {'satisfy_on': [0, 1]} or an SDK ExitConditions")
    known = list(CODE_KEYS) + list(OPTION_KEYS)
    for key in value:
        if key not in known:
            raise ValidationError(f"{field}[{key!r}]", "is not a known key",
                                  fix=f"{did_you_mean(str(key), known, n=1)}use {', '.join(repr(k) for k in known)}")

    exact: dict[int, dict[str, str]] = {}
    ranges: dict[tuple[int, int], dict[str, str]] = {}
    for key, (option, action) in CODE_KEYS.items():
        if key not in value:
            continue
        for code in _codes(value[key], field=f"{field}[{key!r}]"):
            target = exact.setdefault(code, {}) if isinstance(code, int) else ranges.setdefault(
                (code.start, code.stop - 1), {})
            previous = target.get(option)
            if previous is not None and previous != action:
                shown = code if isinstance(code, int) else f"{code.start}..{code.stop - 1}"
                raise ValidationError(f"{field}[{key!r}]", f"exit code {shown} is also listed with {option}={previous!r}",
                                      fix="list each exit code under only one of satisfy_on/block_on "
                                          "(and one of terminate_job_on/disable_job_on)")
            target[option] = action
    spans = sorted(ranges)
    for (a_start, a_end), (b_start, b_end) in zip(spans, spans[1:]):
        if b_start <= a_end:
            raise ValidationError(field, f"exit code ranges {a_start}..{a_end} and {b_start}..{b_end} overlap",
                                  fix="Batch picks one range per exit code: make the ranges disjoint")

    options = {key: _exit_options(value[key], field=f"{field}[{key!r}]") for key in OPTION_KEYS if key in value}
    return batch_models.ExitConditions(
        exit_codes=[batch_models.ExitCodeMapping(code=c, exit_options=batch_models.ExitOptions(**o))
                    for c, o in sorted(exact.items())] or None,
        exit_code_ranges=[batch_models.ExitCodeRangeMapping(start=s, end=e, exit_options=batch_models.ExitOptions(**o))
                          for (s, e), o in sorted(ranges.items())] or None,
        pre_processing_error=batch_models.ExitOptions(**options["pre_processing_error"])
        if "pre_processing_error" in options else None,
        file_upload_error=batch_models.ExitOptions(**options["file_upload_error"])
        if "file_upload_error" in options else None,
        default=batch_models.ExitOptions(**options["default"]) if "default" in options else None,
    )
