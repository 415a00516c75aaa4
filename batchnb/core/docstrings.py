"""Numpydoc sections that many public methods share, written once.

A docstring names a shared section on a line of its own as ``%(name)s``; :func:`fill_doc` puts the
section there, indented like the placeholder, with ``{kind}``-style fields filled from its keyword
arguments (matplotlib's ``_docstring.interpd`` and pandas' ``@doc`` do the same). Only sections are
shared: every summary line stays in the source, next to the code it describes. ``help()``, Sphinx and
the docs checks read the filled ``__doc__``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["SECTIONS", "expand_sections", "fill_doc"]

F = TypeVar("F", bound=Callable[..., Any])

SECTIONS: dict[str, str] = {
    # Waiting loops: JobHandle.wait, MapResult.wait, NotebookSweep.wait...
    "poll_params": """\
timeout : float, optional
    Seconds to wait (None: no limit).
poll : float
    Seconds between checks.""",
    # Operations that may wait for the service to finish what they started.
    "wait_params": """\
wait : bool
    Wait until {until}.
timeout : float
    Seconds to wait with ``wait=True``.""",
    # Reading a task's files.
    "task_tail_params": """\
task_id : str
    The task's id.
tail : int, optional
    Only the last ``tail`` bytes, fetched by byte range.""",
    "text_returns": """\
Returns
-------
str
    The text.

Raises
------
batchnb.errors.NotFoundError
    {missing}.""",
    "bytes_returns": """\
Returns
-------
bytes
    The content.

Raises
------
batchnb.errors.NotFoundError
    {missing}.""",
    # Session.get_pool / get_job and the handles' constructors.
    "entity_id_param": """\
{kind}_id : str
    The {kind}'s id.""",
    "entity_model_returns": """\
Returns
-------
azure.batch.models.{model}
    The SDK model.

Raises
------
batchnb.errors.NotFoundError
    There is no such {kind}.""",
    "handle_params": """\
Parameters
----------
session : Session
    The session that reaches the {kind}'s account.
{kind}_id : str
    The {kind}'s id.
info : azure.batch.models.{model}, optional
    Properties already fetched (otherwise fetched on first use of :attr:`info`).""",
    # Costs (JobHandle.cost, PoolHandle.cost).
    "price_params": """\
region : str, optional
    The region's prices (default: the account's; eastus locally).
currency : str
    A 3-letter currency code.""",
    # Notebook sweeps: one parameter set's outputs.
    "sweep_set_param": """\
Parameters
----------
index : int
    The parameter set (a row of ``results()``).""",
    "sweep_output_raises": """\
Raises
------
batchnb.errors.ValidationError
    No such parameter set.
batchnb.errors.NotFoundError
    The set has no executed notebook (yet).""",
    # Blob operations.
    "blob_params": """\
container : str
    The container's name.
blob : str
    The blob's name.""",
    "container_prefix_params": """\
container : str
    The container's name.
prefix : str
    Only blobs under this prefix.""",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<name>\w+)\)s[ \t]*$", re.MULTILINE)


def expand_sections(doc: str, **values: str) -> str:
    """``doc`` with its ``%(section)s`` lines replaced by the sections, fields filled from ``values``.

    Parameters
    ----------
    doc : str
        A docstring (already dedented).
    **values : str
        Fields of the sections.

    Returns
    -------
    str
        The filled docstring.
    """
    def section(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in SECTIONS:
            raise KeyError(f"docstring section {name!r} is not in batchnb.core.docstrings.SECTIONS")
        text = SECTIONS[name].format(**values)
        indent = match.group("indent")
        return "\n".join(indent + line if line else line for line in text.splitlines())

    return _PLACEHOLDER.sub(section, doc)


def fill_doc(func: F | None = None, /, **values: str) -> Any:
    """Fill the ``%(section)s`` lines of a function's or class's docstring from :data:`SECTIONS`.

    Parameters
    ----------
    func : callable, optional
        The function or class (when used as ``@fill_doc`` without arguments).
    **values : str
        Fields of the sections (``kind="pool"``, ``until="the pool is gone"``...).

    Returns
    -------
    callable
        The same object with its docstring filled, or a decorator doing that.
    """

    def decorate(target: F) -> F:
        if target.__doc__:
            target.__doc__ = expand_sections(inspect.cleandoc(target.__doc__), **values)
        return target

    return decorate(func) if func is not None else decorate
