"""Argument pieces shared by the ``%batch`` subcommands: option groups as reusable decorators
(the ipyparallel ``client/magics.py`` style) and parsers for the small value languages the
magics accept (``name=1:10``, ``container/prefix``).

Everything here turns text into Python values; nothing is ever handed to a shell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from IPython.core.magic_arguments import argument

from batchnb.core.tasks.planning import container_and_prefix
from batchnb.errors import ValidationError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "container_and_prefix",
    "help_option",
    "out_option",
    "parse_sweep",
    "positive_int",
    "non_negative_int",
    "timeout_kwargs",
    "timeout_option",
    "wait_options",
]

_RANGE = re.compile(r"^(-?\d+):(-?\d+)(?::(-?\d+))?\Z")
_INT = re.compile(r"^[+-]?\d+\Z")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)\Z")


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying several argument() decorators, top one first (as written)."""

    def apply(func: F) -> F:
        for deco in reversed(decorators):
            func = deco(func)
        return func

    return apply


# magic_arguments' parser has add_help=False and argparse's own help would call sys.exit; a plain
# flag lets the dispatcher print the help and return normally.
help_option = argument("-h", "--help", action="store_true", help="show this help and return")

out_option = argument(
    "-o", "--out", metavar="NAME", default=None,
    help="store the result object in the notebook's namespace as NAME (live views are still shown)")

timeout_option = argument("--timeout", type=float, default=None, metavar="SECONDS",
                          help="give up waiting after SECONDS (the operation itself goes on)")

wait_options = _compose(
    argument("--wait", dest="wait", action="store_true", default=None, help="wait until it is done"),
    argument("--no-wait", dest="wait", action="store_false", help="return at once"),
    timeout_option,
)


def timeout_kwargs(args: Any) -> dict[str, float]:
    """``timeout=`` for a session call only when ``--timeout`` was given: the call's own default otherwise."""
    return {"timeout": args.timeout} if args.timeout is not None else {}


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise ValueError(f"{text!r} is not a positive whole number")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise ValueError(f"{text!r} is negative")
    return value


def _int(text: str) -> int:
    if not _INT.match(text.strip()):
        raise ValueError(f"{text!r} is not a whole number")
    return int(text)


# argparse names the type in its message ("invalid positive_int value: 'x'"): give it a readable name.
positive_int.__name__ = "positive whole number"  # type: ignore[attr-defined]
non_negative_int.__name__ = "whole number >= 0"  # type: ignore[attr-defined]


def _scalar(text: str) -> Any:
    """``3`` -> 3, ``0.5`` -> 0.5, anything else stays text (so ``{x:03d}`` works on numbers)."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def parse_sweep(items: list[str]) -> dict[str, list[Any]]:
    """``["x=1:10", "y=a,b", "z=0.1"]`` -> ``{"x": [1..10], "y": ["a", "b"], "z": [0.1]}``.

    ``a:b`` and ``a:b:step`` are INCLUSIVE integer ranges (as in the Batch CLI's parametric
    sweep: ``1:10`` is ten values); ``a,b,c`` is a list; a lone value is a one-item list.
    """
    params: dict[str, list[Any]] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValidationError("--sweep", f"{item!r} is not NAME=VALUES",
                                  fix="write e.g. --sweep x=1:10 y=a,b")
        if not name.isidentifier():
            raise ValidationError("--sweep", f"{name!r} is not a valid parameter name",
                                  fix="use a Python identifier such as 'seed' or 'learning_rate'")
        if name in params:
            raise ValidationError("--sweep", f"{name!r} is given twice", fix="give each parameter once")
        params[name] = _sweep_values(name, spec.strip())
    return params


def _sweep_values(name: str, spec: str) -> list[Any]:
    if not spec:
        raise ValidationError("--sweep", f"{name!r} has no values", fix=f"write e.g. {name}=1:10 or {name}=a,b")
    found = _RANGE.match(spec)
    if found:
        start, stop = int(found.group(1)), int(found.group(2))
        step = int(found.group(3)) if found.group(3) else (1 if stop >= start else -1)
        if step == 0 or (stop - start) * step < 0:
            raise ValidationError("--sweep", f"{name}={spec} is an empty range",
                                  fix="write START:STOP[:STEP] with STOP reachable from START, e.g. 1:10")
        return list(range(start, stop + (1 if step > 0 else -1), step))
    values = [v.strip() for v in spec.split(",")]
    if any(not v for v in values):
        raise ValidationError("--sweep", f"{name}={spec} has an empty value", fix=f"write e.g. {name}=a,b,c")
    return [_scalar(v) for v in values]
