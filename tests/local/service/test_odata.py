"""OData $filter/$select as Azure Batch list operations accept them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchnb.local.service.http.odata import (
    FILE_FILTER_PROPS,
    JOB_FILTER_PROPS,
    NODE_COUNTS_FILTER_PROPS,
    NODE_FILTER_PROPS,
    POOL_FILTER_PROPS,
    SUPPORTED_IMAGES_FILTER_PROPS,
    TASK_FILTER_PROPS,
    ODataError,
    format_datetime,
    parse_datetime,
    parse_filter,
    parse_select,
    select,
)

pytestmark = pytest.mark.timeout(120)

UTC = timezone.utc


def task(tid: str, state: str = "active", when: str = "2026-11-25T19:00:00.0000000Z", **extra) -> dict:
    doc = {"id": tid, "state": state, "stateTransitionTime": when, "creationTime": "2026-11-25T18:00:00Z"}
    doc.update(extra)
    return doc


def matching(text: str, docs: list[dict], allowed=TASK_FILTER_PROPS) -> list[str]:
    flt = parse_filter(text, allowed)
    return [d["id"] for d in docs if flt.matches(d)]


DOCS = [
    task("renderTask1", "running", nodeInfo={"nodeId": "tvmps_1"}),
    task("renderTask2", "completed", executionInfo={"exitCode": 0, "result": "success", "retryCount": 0}),
    task("renderTask3", "completed", executionInfo={"exitCode": 2, "result": "failure", "retryCount": 3}),
    task("other", "completed", executionInfo={"exitCode": -1, "result": "failure", "requeueCount": 1}),
    task("Mixed'Quote", "active"),
]


# --- the documented examples -------------------------------------------------------------------------


def test_documented_examples() -> None:
    assert matching("state eq 'completed'", DOCS) == ["renderTask2", "renderTask3", "other"]
    assert matching("(state eq 'running') and startswith(id, 'renderTask')", DOCS) == ["renderTask1"]
    assert matching("(executionInfo/exitCode lt 0) or (executionInfo/exitCode gt 0)", DOCS) == [
        "renderTask3",
        "other",
    ]


def test_strings_compare_case_insensitively_and_quotes_escape() -> None:
    assert matching("state eq 'COMPLETED'", DOCS) == ["renderTask2", "renderTask3", "other"]
    assert matching("startswith(id,'RENDER')", DOCS) == ["renderTask1", "renderTask2", "renderTask3"]
    assert matching("id eq 'mixed''quote'", DOCS) == ["Mixed'Quote"]
    assert matching("id gt 'renderTask2'", DOCS) == ["renderTask3"]
    assert matching("startswith(id,'render') eq false", DOCS) == ["other", "Mixed'Quote"]
    assert matching("startswith(id,'render') eq true and state eq 'running'", DOCS) == ["renderTask1"]


def test_keywords_and_operators_are_case_insensitive_but_properties_are_not() -> None:
    assert matching("state EQ 'running'", DOCS) == ["renderTask1"]
    assert matching("(state Eq 'running') AND StartsWith(id, 'render')", DOCS) == ["renderTask1"]
    with pytest.raises(ODataError, match="'State'"):
        parse_filter("State eq 'running'", TASK_FILTER_PROPS)


def test_missing_property_is_false_except_ne() -> None:
    assert matching("executionInfo/exitCode eq 0", DOCS) == ["renderTask2"]
    assert matching("executionInfo/exitCode ne 0", DOCS) == ["renderTask1", "renderTask3", "other", "Mixed'Quote"]
    assert matching("executionInfo/retryCount ge 0", DOCS) == ["renderTask2", "renderTask3"]
    assert matching("nodeInfo/nodeId eq 'TVMPS_1'", DOCS) == ["renderTask1"]
    assert matching("not (executionInfo/exitCode eq 0)", DOCS) == ["renderTask1", "renderTask3", "other", "Mixed'Quote"]


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    text = "state eq 'running' or state eq 'completed' and executionInfo/exitCode eq 0"
    assert matching(text, DOCS) == ["renderTask1", "renderTask2"]
    text = "(state eq 'running' or state eq 'completed') and executionInfo/exitCode ge 0"
    assert matching(text, DOCS) == ["renderTask2", "renderTask3"]


def test_null_and_type_mismatches_never_raise() -> None:
    docs = [
        task("a", executionInfo={"exitCode": None}),
        task("b", executionInfo={"exitCode": "7"}),
        task("c", executionInfo=5),
    ]
    assert matching("executionInfo/exitCode eq null", docs) == ["a", "c"]
    assert matching("executionInfo/exitCode ne null", docs) == ["b"]
    assert matching("executionInfo/exitCode gt 1", docs) == []
    assert matching("executionInfo/exitCode ne 7", docs) == ["a", "b", "c"]
    assert matching("state eq 5", docs) == []
    assert matching("executionInfo/exitCode eq true", [task("d", executionInfo={"exitCode": 1})]) == []


# --- datetimes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    [
        "DateTime'2026-11-25T19:00:00Z'",
        "datetime'2026-11-25T19:00:00Z'",
        "DATETIME'2026-11-25T19:00:00.0000000Z'",
        "DateTime'Wed, 25 Nov 2026 19:00:00 GMT'",
        "DateTime'2026-11-25T20:00:00+01:00'",
    ],
)
def test_datetime_literal_forms(literal: str) -> None:
    docs = [
        task("before", when="2026-11-25T18:59:59.9999999Z"),
        task("same", when="2026-11-25T19:00:00Z"),
        task("after", when="2026-11-25T19:00:00.0000010Z"),
        task("after-1digit", when="2026-11-25T19:00:00.5Z"),
        task("missing", when=None),
        task("garbage", when="yesterday"),
    ]
    assert matching(f"stateTransitionTime gt {literal}", docs) == ["after", "after-1digit"]
    assert matching(f"stateTransitionTime ge {literal}", docs) == ["same", "after", "after-1digit"]
    assert matching(f"stateTransitionTime lt {literal}", docs) == ["before"]
    assert matching(f"stateTransitionTime eq {literal}", docs) == ["same"]
    everything_else = ["before", "after", "after-1digit", "missing", "garbage"]
    assert matching(f"stateTransitionTime ne {literal}", docs) == everything_else


def test_datetime_round_trip_and_parse_forms() -> None:
    dt = datetime(2026, 11, 25, 19, 0, 0, 123456, tzinfo=UTC)
    assert format_datetime(dt) == "2026-11-25T19:00:00.1234560Z"
    assert parse_datetime(format_datetime(dt)) == dt
    assert parse_datetime("2026-11-25T19:00:00.1234567Z") == dt
    assert parse_datetime("2026-11-25T19:00:00Z") == dt.replace(microsecond=0)
    assert parse_datetime("2026-11-25T19:00:00.1Z") == dt.replace(microsecond=100000)
    assert parse_datetime("Wed, 25 Nov 2026 19:00:00 GMT") == dt.replace(microsecond=0)
    assert parse_datetime("2026-11-25T19:00:00").tzinfo is not None
    plus_one = timezone(timedelta(hours=1))
    assert format_datetime(datetime(2026, 11, 25, 20, tzinfo=plus_one)) == "2026-11-25T19:00:00.0000000Z"
    for bad in ["", "nope", "2026-13-01T00:00:00Z", "Wed, 99 Nov 2026 19:00:00 GMT"]:
        with pytest.raises(ValueError):
            parse_datetime(bad)


def test_lower_bound_for_incremental_monitoring() -> None:
    t1 = "DateTime'2026-11-25T19:00:00Z'"
    t2 = "DateTime'2026-11-25T19:05:00Z'"
    d1 = datetime(2026, 11, 25, 19, tzinfo=UTC)
    d2 = datetime(2026, 11, 25, 19, 5, tzinfo=UTC)

    def bound(text: str):
        return parse_filter(text, TASK_FILTER_PROPS).lower_bound("stateTransitionTime")

    assert bound(f"stateTransitionTime gt {t1}") == (d1, False)
    assert bound(f"stateTransitionTime ge {t1}") == (d1, True)
    assert bound(f"(stateTransitionTime ge {t1}) and (state eq 'completed')") == (d1, True)
    assert bound(f"state ne 'active' and stateTransitionTime ge {t1} and stateTransitionTime gt {t2}") == (d2, False)
    assert bound(f"stateTransitionTime ge {t1} and (stateTransitionTime gt {t1})") == (d1, False)
    assert bound(f"stateTransitionTime gt {t1} or state eq 'active'") is None
    assert bound(f"not (stateTransitionTime gt {t1})") is None
    assert bound(f"stateTransitionTime lt {t1}") is None
    assert bound("state eq 'active'") is None
    assert parse_filter(f"creationTime gt {t1}", TASK_FILTER_PROPS).lower_bound("stateTransitionTime") is None


# --- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment", "position"),
    [
        ("", "empty", 0),
        ("   ", "empty", 0),
        ("bogus eq 1", "'bogus'", 0),
        ("state gt 'active'", "'gt' is not supported for property 'state'", 6),
        ("startswith(state, 'a')", "'startswith' is not supported", 0),
        ("state eq 'active", "unterminated", 9),
        ("state eq", "literal", 8),
        ("state 'active'", "operator", 6),
        ("state eq 'a' and", "property name", 16),
        ("(state eq 'a'", "expected ')'", 13),
        ("state eq 'a')", "unexpected ')'", 12),
        ("state eq 'a' state eq 'b'", "unexpected 'state'", 13),
        ("stateTransitionTime gt DateTime'2026-99-01'", "invalid datetime", 23),
        ("state eq #", "unexpected character '#'", 9),
        ("startswith(id, 5)", "quoted string", 15),
        ("state eq 'a' and or", "property name", 17),
    ],
)
def test_errors_say_what_and_where(text: str, fragment: str, position: int) -> None:
    with pytest.raises(ODataError) as info:
        parse_filter(text, TASK_FILTER_PROPS)
    message = str(info.value)
    assert fragment in message
    assert info.value.position == position
    assert f"at position {position}" in message
    assert "\n" not in message


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ODataError, match="nested too deeply"):
        parse_filter("(" * 5000 + "state eq 'a'" + ")" * 5000, TASK_FILTER_PROPS)
    with pytest.raises(ODataError, match="nested too deeply"):
        parse_filter("not " * 5000 + "state eq 'a'", TASK_FILTER_PROPS)
    assert parse_filter("((((state eq 'a'))))", TASK_FILTER_PROPS).matches({"state": "A"})


def test_long_flat_chains_work() -> None:
    text = " or ".join(f"id eq 't{i}'" for i in range(1500))
    flt = parse_filter(text, TASK_FILTER_PROPS)
    assert flt.matches({"id": "T1499"}) and not flt.matches({"id": "t1500"})
    text = " and ".join(f"id ne 't{i}'" for i in range(1500))
    flt = parse_filter(text, TASK_FILTER_PROPS)
    assert flt.matches({"id": "t1500"}) and not flt.matches({"id": "T1499"})


FILTER_ALPHABET = st.sampled_from(
    list("()',-/ ") + ["eq", "ne", "gt", "and", "or", "not", "state", "id", "startswith", "DateTime'", "null",
                       "true", "'x'", "''", "1", "-5", "executionInfo/exitCode", "stateTransitionTime", "\t", "é"]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(FILTER_ALPHABET, max_size=25).map(" ".join)))
def test_parse_filter_raises_only_odata_errors(text: str) -> None:
    try:
        flt = parse_filter(text, TASK_FILTER_PROPS)
    except ODataError:
        return
    # Whatever parsed must also evaluate without raising, on any shape of document.
    for doc in ({}, DOCS[2], {"executionInfo": 3, "state": None, "id": 5}, {"stateTransitionTime": "x"}):
        assert flt.matches(doc) in (True, False)


# --- property tables ---------------------------------------------------------------------------------------


def test_property_tables_per_operation() -> None:
    parse_filter("state eq 'idle' and startTaskInfo/exitCode gt 0", NODE_FILTER_PROPS)
    with pytest.raises(ODataError):
        parse_filter("startTaskInfo/state ne 'running'", NODE_FILTER_PROPS)
    parse_filter("startswith(name,'wd/')", FILE_FILTER_PROPS)
    with pytest.raises(ODataError):
        parse_filter("name eq 'stdout.txt'", FILE_FILTER_PROPS)
    parse_filter("poolId eq 'p1'", NODE_COUNTS_FILTER_PROPS)
    parse_filter("osType eq 'linux' and verificationType ne 'unverified'", SUPPORTED_IMAGES_FILTER_PROPS)
    parse_filter("allocationState eq 'steady' and vmSize eq 'standard_d2s_v3' and id ge 'a'", POOL_FILTER_PROPS)
    parse_filter("startswith(executionInfo/poolId,'auto') and state eq 'active'", JOB_FILTER_PROPS)
    with pytest.raises(ODataError):
        parse_filter("executionInfo/poolId eq 'p'", TASK_FILTER_PROPS)


# --- $select --------------------------------------------------------------------------------------------


def test_select_keeps_existing_top_level_keys_case_sensitively() -> None:
    doc = DOCS[2]
    assert select(doc, ["id", "state", "executionInfo", "State", "nope"]) == {
        "id": "renderTask3",
        "state": "completed",
        "executionInfo": doc["executionInfo"],
    }
    assert parse_select("id, state ,executionInfo,,") == ["id", "state", "executionInfo"]
