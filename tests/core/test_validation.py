"""Durations, ids and names: the small rules specs are built from."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchnb.core.specs.vm_sizes import check_vm_size
from batchnb.core.validation import (
    check_blob_name,
    check_choice,
    check_container_name,
    check_id,
    find_duplicate_ids,
    iso_duration,
    parse_iso_duration,
    to_timedelta,
)
from batchnb.errors import ValidationError

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("value,text", [
    (dt.timedelta(minutes=15), "PT15M"), (dt.timedelta(days=7), "P7D"),
    (dt.timedelta(hours=1, minutes=30), "PT1H30M"), (dt.timedelta(seconds=0.5), "PT0.5S"),
    (dt.timedelta(days=1, seconds=1), "P1DT1S"), (dt.timedelta(0), "PT0S"), (90, "PT1M30S"),
])
def test_iso_duration(value, text):
    assert iso_duration(value) == text


@given(st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=10_000)))
def test_iso_duration_round_trips(value):
    assert parse_iso_duration(iso_duration(value)) == value


def test_to_timedelta_accepts_the_three_spellings():
    assert to_timedelta(600, field="f") == to_timedelta("PT10M", field="f") == dt.timedelta(minutes=10)
    assert to_timedelta(dt.timedelta(hours=2), field="f") == dt.timedelta(hours=2)
    assert to_timedelta(None, field="f") is None
    for bad in ("P", "PT", "10m", True, float("inf")):
        with pytest.raises(ValidationError):
            to_timedelta(bad, field="f")


@given(st.text(alphabet="abcXYZ019-_", min_size=1, max_size=64))
def test_valid_ids_pass(value):
    assert check_id(value) == value


def test_unicode_id_character_is_named():
    with pytest.raises(ValidationError, match=r"'é' at position 3"):
        check_id("task\u00e9"[0:3] + "\u00e9")


def test_duplicates_are_case_insensitive():
    assert find_duplicate_ids(["a", "B", "A", "b", "c"]) == [["a", "A"], ["B", "b"]]


def test_names_that_are_fine():
    assert check_container_name("inputs-2024") == "inputs-2024"
    assert check_blob_name("data/part 0001.csv") == "data/part 0001.csv"
    assert check_choice("SPREAD", field="node_fill", choices=("spread", "pack")) == "spread"
    assert check_vm_size("STANDARD_nc24ADS_a100_V4") == "Standard_NC24ads_A100_v4"


def test_core_modules_import_no_view_or_data_libraries():
    import subprocess
    import sys

    code = ("import sys, batchnb.core.specs.models, batchnb.core.tasks.sweeps, batchnb.errors, batchnb.core.redact, batchnb.core.specs.autoscale_presets;"
            "bad = [m for m in ('ipywidgets', 'plotly', 'pandas', 'IPython') if m in sys.modules];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
