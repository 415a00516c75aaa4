"""Tests added where mutation testing (docs/mutation.md) found behaviour no test pinned down: the
exact one-line errors of the input checks (field, problem, fix: what a user reads), their limits
at the boundary, the price override table, and the spellings a registered secret is masked in."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import PurePosixPath
from urllib.parse import quote, quote_plus

import pytest

import batchnb
from batchnb.core import validation as v
from batchnb.core.cost import prices
from batchnb.core.redact import MASK, redact, redacted_repr, register_secret, registered_secret_count
from batchnb.errors import ValidationError

CONTAINER_RULE = "use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit"


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(ValidationError) as info:
        fn(*args, **kwargs)
    return str(info.value)


@pytest.mark.parametrize("value,expected", [
    (5, "blob: must be a string, got int. Fix: pass the blob name as text."),
    ("", "blob: is empty. Fix: give a blob name such as 'data/part-0001.csv'."),
    ("a" * 1025, "blob: is 1025 characters long. Fix: use at most 1024 characters."),
    ("a/b.", "blob: 'a/b.' ends with '.'. Fix: blob names cannot end with '.' or '/'; drop the trailing character."),
    ("a/b/", "blob: 'a/b/' ends with '/'. Fix: blob names cannot end with '.' or '/'; drop the trailing character."),
    ("/data/x.csv", "blob: '/data/x.csv' starts with '/'. Fix: blob names are relative to the container: use "
                    "'data/x.csv'."),
    ("data\\x.csv", "blob: 'data\\\\x.csv' contains a backslash. Fix: use '/' to separate folders: 'data/x.csv'."),
    ("da\tta", "blob: 'da\\tta' contains control characters. Fix: remove them."),
    ("/".join("a" * 255), "blob: has 255 path segments. Fix: use at most 254 '/'-separated segments."),
])
def test_blob_name_errors(value, expected):
    assert message(v.check_blob_name, value) == expected


def test_blob_names_at_the_limits_pass():
    for name in ("a", "a" * 1024, "/".join("a" * 254), "data/part-0001.csv", "ünïcode name.txt"):
        assert v.check_blob_name(name) == name
    assert message(v.check_blob_name, "", field="task.output").startswith("task.output: ")


@pytest.mark.parametrize("value,expected", [
    (3, f"container: must be a string, got int. Fix: {CONTAINER_RULE}."),
    ("ab", f"container: 'ab' is 2 characters long. Fix: {CONTAINER_RULE}."),
    ("a" * 64, f"container: '{'a' * 64}' is 64 characters long. Fix: {CONTAINER_RULE}."),
    ("MyData", "container: 'MyData' has uppercase letters. Fix: container names are lowercase: use 'mydata'."),
    ("My_Data", f"container: 'My_Data' contains 'D', 'M', '_'. Fix: {CONTAINER_RULE}."),
    ("my_data", f"container: 'my_data' contains '_'. Fix: {CONTAINER_RULE}."),
    ("my--data", f"container: 'my--data' contains '--'. Fix: {CONTAINER_RULE}."),
    ("-data", f"container: '-data' starts or ends with '-'. Fix: {CONTAINER_RULE}."),
    ("data-", f"container: 'data-' starts or ends with '-'. Fix: {CONTAINER_RULE}."),
    ("dätä", f"container: 'dätä' contains 'ä'. Fix: {CONTAINER_RULE}."),
])
def test_container_name_errors(value, expected):
    assert message(v.check_container_name, value) == expected


def test_container_names_at_the_limits_pass():
    for name in ("abc", "a" * 63, "a-b-c", "0data9"):
        assert v.check_container_name(name) == name


@pytest.mark.parametrize("value,expected", [
    ("", "output: must be a non-empty path, got ''. Fix: give a path relative to the task working directory."),
    (None, "output: must be a non-empty path, got None. Fix: give a path relative to the task working directory."),
    ("/etc/x", "output: '/etc/x' is absolute. Fix: give a path relative to the task working directory."),
    ("\\etc\\x", "output: '\\\\etc\\\\x' is absolute. Fix: give a path relative to the task working directory."),
    ("C:x", "output: 'C:x' is absolute. Fix: give a path relative to the task working directory."),
    ("a/../../x", "output: 'a/../../x' leaves the task working directory with '..'. Fix: give a path inside the "
                  "working directory."),
    ("a\\..\\x", "output: 'a\\\\..\\\\x' leaves the task working directory with '..'. Fix: give a path inside "
                 "the working directory."),
])
def test_relative_path_errors(value, expected):
    assert message(v.check_relative_path, value, field="output") == expected


def test_relative_paths_that_stay_inside_pass():
    for path in ("out.csv", "a/b/c.txt", "a..b/c", "./x", "a/.../b"):
        assert v.check_relative_path(path, field="output") == path
    assert v.check_relative_path(PurePosixPath("a/b"), field="output") == "a/b"


@pytest.mark.parametrize("value,expected", [
    (["python"], 'command_line: must be a string, got list. Fix: give the command as one string, e.g. '
                 '"python run.py --n 3".'),
    ("  ", 'command_line: is empty. Fix: give the command to run, e.g. "python run.py".'),
    ("a\x00b", "command_line: contains a NUL character. Fix: remove it."),
])
def test_command_line_errors(value, expected):
    assert message(v.check_command_line, value) == expected


def test_command_lines_are_returned_unchanged():
    assert v.check_command_line(" python run.py ") == " python run.py "


def test_metadata_checks_and_text_values():
    assert message(v.check_metadata, [1]) == ("metadata: must be a dict of name -> value, got list. "
                                              "Fix: pass e.g. {'project': 'churn'}.")
    assert message(v.check_metadata, {" ": 1}) == ("metadata: has an empty or non-text name ' '. "
                                                   "Fix: give every entry a name.")
    assert message(v.check_metadata, {1: "x"}) == ("metadata: has an empty or non-text name 1. "
                                                   "Fix: give every entry a name.")
    assert message(v.check_metadata, {"k": [1]}) == "metadata['k']: value must be text, got list. Fix: give the value as text."
    assert v.check_metadata(None) == {}
    assert v.check_metadata({"n": 1, "f": 0.5, "b": True, "p": PurePosixPath("/x/y"), "s": "t"}) == {
        "n": "1", "f": "0.5", "b": "True", "p": "/x/y", "s": "t"}


def test_check_type_names_the_type_and_the_fix():
    assert message(v.check_type, "x", int, field="n", fix="pass a number") == (
        "n: has the wrong type str. Fix: pass a number.")
    assert v.check_type(3, (int, float), field="n", fix="x") == 3


def test_duplicate_ids_are_grouped_case_insensitively_and_shown_three_groups_at_most():
    assert v.find_duplicate_ids(["a", "b", "A", "c", "a"]) == [["a", "A", "a"]]
    assert v.find_duplicate_ids(["a", "b"]) == []
    v.check_unique_ids(["a", "b", "c"])  # distinct ids pass
    assert message(v.check_unique_ids, ["t1", "T1", "t1"], field="ids") == (
        "ids: 1 id(s) are used more than once (case-insensitively): 't1', 'T1', 't1'. "
        "Fix: give every task a distinct id; Batch treats 'A' and 'a' as the same id.")
    many = ["a", "A", "b", "B", "c", "C", "d", "D", "e", "e"]
    assert message(v.check_unique_ids, many) == (
        "tasks: 5 id(s) are used more than once (case-insensitively): 'a', 'A'; 'b', 'B'; 'c', 'C' "
        "(and 2 more groups). Fix: give every task a distinct id; Batch treats 'A' and 'a' as the same id.")
    three = ["a", "A", "b", "B", "c", "C"]
    assert "more groups" not in message(v.check_unique_ids, three)


# ------------------------------------------------------------------------------------- price overrides

@pytest.fixture
def no_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv(prices.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(prices.OFFLINE_ENV, "1")
    monkeypatch.delenv(prices.OVERRIDES_ENV, raising=False)
    prices._reset_for_tests()
    yield
    prices._reset_for_tests()


PRICE_FIX = 'give an hourly price, or {"dedicated": 0.08, "spot": 0.02}'


@pytest.mark.parametrize("raw,expected", [
    ({"currency": "EURO"}, "overrides.currency: is 'EURO'. Fix: use a 3-letter code such as 'EUR'."),
    ({"currency": 5}, "overrides.currency: is 5. Fix: use a 3-letter code such as 'EUR'."),
    ({"Standard_D2s_v3": True}, f"overrides['Standard_D2s_v3']: is True. Fix: {PRICE_FIX}."),
    ({"Standard_D2s_v3": [0.1]}, f"overrides['Standard_D2s_v3']: is [0.1]. Fix: {PRICE_FIX}."),
    ({"Standard_D2s_v3": {"dedicated": 0.1, "hourly": 1}},
     f"overrides['Standard_D2s_v3']: is {{'dedicated': 0.1, 'hourly': 1}}. Fix: {PRICE_FIX}."),
    ({"Standard_D2s_v3": {"currency": "EUR"}},
     f"overrides['Standard_D2s_v3']: is {{'currency': 'EUR'}}. Fix: {PRICE_FIX}."),
    ({"Standard_D2s_v3": {"dedicated": "0.1"}},
     "overrides['Standard_D2s_v3'].dedicated: is '0.1'. Fix: give a price per node-hour >= 0."),
    ({"Standard_D2s_v3": {"dedicated": True}},
     "overrides['Standard_D2s_v3'].dedicated: is True. Fix: give a price per node-hour >= 0."),
    ({"Standard_D2s_v3": {"dedicated": -0.01}},
     "overrides['Standard_D2s_v3'].dedicated: is -0.01. Fix: give a price per node-hour >= 0."),
])
def test_bad_price_overrides_are_refused_with_the_entry_named(no_overrides, raw, expected):
    assert message(batchnb.set_price_overrides, raw) == expected


def test_price_override_table_keys_and_currencies(no_overrides):
    batchnb.set_price_overrides({"currency": "EUR",
                                 " WestEurope /Standard_D2s_v3": {"dedicated": 0, "currency": "GBP"},
                                 "Standard_F2s_v2": 1, "eastus/Standard_F2s_v2": {"spot": 0.5}})
    west = batchnb.vm_price("standard_d2s_v3", region="westeurope")
    assert (west.per_hour, west.currency, west.source) == (0, "GBP", "override")  # a zero price is a price
    anywhere = batchnb.vm_price("Standard_F2s_v2", region="northeurope")
    assert (anywhere.per_hour, anywhere.currency) == (1, "EUR")
    spot = batchnb.vm_price("Standard_F2s_v2", region="eastus", spot=True)
    assert (spot.per_hour, spot.currency, spot.source) == (0.5, "EUR", "override")
    # eastus has only a spot override: its dedicated price falls back to the any-region entry.
    assert batchnb.vm_price("Standard_F2s_v2", region="eastus").per_hour == 1


def test_price_override_files_are_read_or_refused_by_path(no_overrides, tmp_path, monkeypatch):
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    assert message(batchnb.set_price_overrides, listed) == (
        f"overrides: {str(listed)!r} holds a list, not an object. Fix: write e.g. {{\"Standard_D2s_v3\": 0.08}}.")
    broken = tmp_path / "broken.json"
    broken.write_text('{"a":\n 1,}')
    assert message(batchnb.set_price_overrides, broken) == (
        f"overrides: {str(broken)!r} is not valid JSON (Expecting property name enclosed in double quotes at "
        f"line 2). Fix: write e.g. {{\"Standard_D2s_v3\": 0.08}}.")
    missing = tmp_path / "missing.json"
    assert message(batchnb.set_price_overrides, missing) == (
        f"overrides: file {str(missing)!r} does not exist. Fix: give a JSON file of prices, or a dict.")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "mine.json").write_text(json.dumps({"Standard_D2s_v3": 0.25}))
    batchnb.set_price_overrides("~/mine.json")  # the user's home is expanded
    price = batchnb.vm_price("Standard_D2s_v3")
    assert price.per_hour == 0.25 and str(tmp_path / "mine.json") in price.note
    batchnb.set_price_overrides(None)
    assert batchnb.vm_price("Standard_D2s_v3").source == "snapshot"


# ------------------------------------------------------------------------------------------- redaction

def test_registered_secrets_are_masked_in_every_spelling_they_travel_in():
    secret = "Kz9/q+w==xY 7&é-registered"
    register_secret(secret.encode())  # bytes are accepted too (keys read from files)
    once = quote(secret, safe="")
    for spelling in (secret, once, quote_plus(secret), quote(once, safe=""), secret.replace("/", "\\/")):
        assert redact(f"before {spelling} after") == f"before {MASK} after", spelling
    lower = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), once)  # escapes in lower case
    assert redact(f"x {lower} y") == f"x {MASK} y"


def test_register_secret_ignores_short_empty_and_none_values():
    count = registered_secret_count()
    register_secret(None)
    register_secret("  1234567  ")  # 7 characters once stripped: too short to be a key
    assert registered_secret_count() == count
    assert redact("1234567") == "1234567"
    register_secret("  exactly8  ")  # stripped, 8 characters: registered
    assert redact("an exactly8 key") == f"an {MASK} key"
    before = registered_secret_count()
    register_secret("exactly8")  # again: nothing new
    assert registered_secret_count() == before


@dataclasses.dataclass
class _Spec:
    name: str
    url: str = ""
    tags: list = dataclasses.field(default_factory=list)
    hidden: str = dataclasses.field(default="x", repr=False)


def test_redacted_repr_shows_only_changed_fields_and_masks_secrets():
    assert redacted_repr(_Spec("a")) == "_Spec(name='a')"
    spec = _Spec("a", url="https://h/c?sv=1&sig=SECRETSIG", tags=["t"], hidden="nope")
    text = redacted_repr(spec)
    assert text == "_Spec(name='a', url='https://h/c?sv=1&sig=***', tags=['t'])"


# ------------------------------------------------------------------------------------- price snapshot

def test_snapshot_table_scales_family_rates_by_vcpus_and_keeps_listed_sizes():
    from batchnb.core.cost import snapshot

    # Built at import; built again here so that the rule itself is what is checked.
    table = snapshot._build()
    assert len(table) == len(snapshot.KNOWN_VM_SIZES)
    assert table["standard_d2s_v3"] == 0.096 and table["standard_e4s_v5"] == 0.252
    assert table["standard_b1s"] == snapshot._PER_SIZE["Standard_B1s"]  # listed sizes win over family rates
    assert snapshot._family("Standard_D4s_v3") == "D{}s_v3"
    assert snapshot._family("Standard_NC24ads_A100_v4") == "NC{}ads_A100_v4"
    assert snapshot._family("Basic_A1") is None and snapshot._family("Standard_M") is None
    assert snapshot.snapshot_sizes() == list(snapshot.KNOWN_VM_SIZES)  # Azure spelling, known order
    assert snapshot.snapshot_price(" STANDARD_D2S_V3 ") == 0.096
    assert snapshot.snapshot_price("Standard_D2s_v3", spot=True) == round(0.096 * snapshot.SPOT_FRACTION, 5)


def test_a_price_reads_as_one_line(no_overrides):
    price = batchnb.vm_price("Standard_D2s_v3")
    assert str(price) == (f"Standard_D2s_v3 dedicated in eastus: 0.0960 USD/h "
                          f"[snapshot, {price.as_of.isoformat()}] (approximate)")
    batchnb.set_price_overrides({"Standard_D2s_v3": {"spot": 0.01234}})
    spot = batchnb.vm_price("Standard_D2s_v3", spot=True, region="westeurope")
    assert str(spot) == f"Standard_D2s_v3 spot in westeurope: 0.0123 USD/h [override, {spot.as_of.isoformat()}]"
    prices.clear_price_overrides()
    assert batchnb.vm_price("Standard_D2s_v3", spot=True).source == "snapshot"


# ------------------------------------------------------------------------- second round (after run)

def test_integer_and_choice_errors_say_what_is_allowed():
    assert message(v.check_int, "3", field="n") == "n: must be an integer, got str '3'. Fix: use an integer."
    assert message(v.check_int, True, field="n") == "n: must be an integer, got bool True. Fix: use an integer."
    assert message(v.check_int, 5, field="n", maximum=4) == "n: 5 is out of range. Fix: use an integer <= 4."
    assert v.check_int(4, field="n", maximum=4) == 4 and v.check_int(2.0, field="n") == 2
    assert message(v.check_int, 0, field="n", minimum=1) == "n: 0 is out of range. Fix: use an integer >= 1."
    assert message(v.check_int, 9, field="n", minimum=1, maximum=8) == (
        "n: 9 is out of range. Fix: use an integer from 1 to 8.")
    assert message(v.check_int, -2, field="n", minimum=0, special={-1: "unlimited"}) == (
        "n: -2 is out of range. Fix: use -1 (unlimited) or an integer >= 0.")
    assert message(v.check_choice, 3, field="kind", choices=["spread", "pack"]) == (
        "kind: must be a string, got int 3. Fix: use one of 'spread', 'pack'.")
    assert message(v.check_choice, "sprad", field="kind", choices=["spread", "pack"]) == (
        "kind: 'sprad' is not a valid choice. Fix: did you mean 'spread'? use one of 'spread', 'pack'.")


def test_environment_names_are_checked_with_the_fix():
    assert message(v.check_environment, {"1X": "a"}) == (
        "environment['1X']: is not a valid environment variable name. "
        "Fix: use letters, digits and '_', not starting with a digit.")
    assert message(v.check_environment, {"az_batch_x": "a"}) == (
        "environment['az_batch_x']: is reserved: Batch sets AZ_BATCH_* variables itself. "
        "Fix: choose a name that does not start with AZ_BATCH_.")
    assert message(v.check_environment, [1]) == (
        "environment: must be a dict of name -> value, got list. Fix: pass e.g. {'OMP_NUM_THREADS': '1'}.")


def test_suggestions_are_the_three_closest_above_the_cutoff():
    candidates = ["spread", "spreads", "spreadx", "spready", "pack"]
    assert v.did_you_mean("spred", candidates) == "did you mean 'spread' or 'spready' or 'spreadx'? "
    assert v.did_you_mean("spred", candidates, n=1, joiner=", ") == "did you mean 'spread'? "
    assert v.did_you_mean("zzz", ["spread"]) == ""
    assert v.close_matches("SPRED", candidates, n=4) == ["spread", "spready", "spreadx", "spreads"]
    assert v.close_matches("abcdefgh", ["abcdefzz", "abcdzzzz"]) == ["abcdefzz"]  # 0.5 is below the 0.6 cutoff


def test_more_path_and_id_edges():
    assert message(v.check_relative_path, "c:x", field="output") == (
        "output: 'c:x' is absolute. Fix: give a path relative to the task working directory.")
    assert message(v.check_blob_name, "/Xy.csv").endswith("use 'Xy.csv'.")
    assert message(v.check_unique_ids, ["a", "A", "a", "A"]).startswith(
        "tasks: 1 id(s) are used more than once (case-insensitively): 'a', 'A', 'a' and 1 more. ")
    four = ["a", "A", "b", "B", "c", "C", "d", "D"]
    assert "'c', 'C' (and 1 more groups). " in message(v.check_unique_ids, four)


def test_a_path_like_value_becomes_its_file_system_path(tmp_path):
    import os

    (tmp_path / "data.csv").write_text("x")
    with os.scandir(tmp_path) as entries:
        entry = next(entries)  # str() of a DirEntry is "<DirEntry 'data.csv'>", not a path
        assert v.check_metadata({"input": entry}) == {"input": str(tmp_path / "data.csv")}


def test_registration_is_fresh_per_value_and_longest_secrets_are_masked_first():
    import uuid

    short, exact = uuid.uuid4().hex[:7], "k" + uuid.uuid4().hex[:7]  # never registered before
    count = registered_secret_count()
    register_secret(short)
    assert registered_secret_count() == count and redact(short) == short
    register_secret(f"  {exact}  ")
    assert redact(f"an {exact} key") == f"an {MASK} key"
    longer = "0-" + exact  # sorts before the shorter one: only a by-length order masks it whole
    register_secret(longer)
    assert redact(f"x {longer} y") == f"x {MASK} y"  # not "0-***"
    broken = b"\xff" + uuid.uuid4().hex.encode()  # not UTF-8: registered with a replacement character
    register_secret(broken)
    assert redact(broken.decode("utf-8", "replace")) == MASK


@dataclasses.dataclass
class _Ordered:
    name: str
    hidden: str = dataclasses.field(default="h", repr=False)
    url: str = ""
    tags: list = dataclasses.field(default_factory=list)
    level: int = 0


def test_redacted_repr_skips_hidden_and_default_fields_but_not_the_ones_after_them():
    assert redacted_repr(_Ordered("a", hidden="x", level=2)) == "_Ordered(name='a', level=2)"
    assert redacted_repr(_Ordered("a", tags=["t"])) == "_Ordered(name='a', tags=['t'])"


DURATION_FIX = "give a datetime.timedelta, a number of seconds, or an ISO-8601 duration such as 'PT15M'"


@pytest.mark.parametrize("value,expected", [
    ("x", f"t: 'x' is not an ISO-8601 duration. Fix: {DURATION_FIX}."),
    (True, f"t: must be a duration, got True. Fix: {DURATION_FIX}."),
    ([1], f"t: must be a duration, got list. Fix: {DURATION_FIX}."),
    (-1, f"t: must be positive, got -PT1S. Fix: {DURATION_FIX}."),
    (0, f"t: must be positive, got PT0S. Fix: {DURATION_FIX}."),
    (float("inf"), f"t: must be finite, got inf. Fix: {DURATION_FIX} (None means no limit)"),
])
def test_duration_errors(value, expected):
    assert message(v.to_timedelta, value, field="t") == expected


def test_durations_within_limits():
    import datetime as dt

    minute, hour = dt.timedelta(minutes=1), dt.timedelta(hours=1)
    assert v.to_timedelta(None, field="t") is None
    assert v.to_timedelta(1.5, field="t") == dt.timedelta(seconds=1.5)
    assert v.to_timedelta("PT1M", field="t", minimum=minute, maximum=hour) == minute  # limits are inclusive
    assert v.to_timedelta(hour, field="t", minimum=minute, maximum=hour) == hour
    assert message(v.to_timedelta, 59, field="t", minimum=minute) == (
        "t: PT59S is shorter than the minimum PT1M. Fix: use at least PT1M.")
    assert message(v.to_timedelta, "PT2H", field="t", maximum=hour) == (
        "t: PT2H is longer than the maximum PT1H. Fix: use at most PT1H.")


def test_display_names():
    assert v.check_display_name(None) is None and v.check_display_name("a" * 1024) == "a" * 1024
    assert message(v.check_display_name, 5) == "display_name: must be a string, got int. Fix: pass text or None."
    assert message(v.check_display_name, "a" * 1025) == (
        "display_name: is 1025 characters long. Fix: shorten it to at most 1024 characters.")
