"""Shared docstring sections: filled where they are named, never left as a placeholder."""

from __future__ import annotations

import inspect

import pytest

import batchnb
from batchnb.core.docstrings import expand_sections, fill_doc


def _public_docstrings():
    for name in batchnb.__all__:
        obj = getattr(batchnb, name)
        yield name, inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property)):
                    yield f"{name}.{attr}", inspect.getdoc(member) or ""


def test_no_public_docstring_keeps_a_section_placeholder():
    # A method that names a section but lost its @fill_doc would show "%(wait_params)s" in help().
    left = [name for name, doc in _public_docstrings() if "%(" in doc]
    assert left == []


def test_a_section_is_indented_like_its_placeholder_and_its_fields_filled():
    @fill_doc(until="the pool is gone")
    def delete(wait: bool = False, timeout: float = 1.0) -> None:
        """Delete it.

        Parameters
        ----------
        %(wait_params)s
        """

    assert delete.__doc__ == (
        "Delete it.\n\nParameters\n----------\nwait : bool\n    Wait until the pool is gone.\n"
        "timeout : float\n    Seconds to wait with ``wait=True``.")


def test_a_misspelt_section_fails_at_import_time_not_in_help():
    with pytest.raises(KeyError, match="wait_parms"):
        expand_sections("Summary.\n\n%(wait_parms)s")


def test_a_section_field_left_unfilled_fails_loudly():
    with pytest.raises(KeyError, match="until"):
        expand_sections("%(wait_params)s")
