"""The autoscale formula language: syntax checks and evaluation against samples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchnb.local.service.model.autoscale import (
    AutoScaleContext,
    AutoScaleSyntaxError,
    Samples,
    check_syntax,
    evaluate,
)

pytestmark = pytest.mark.timeout(120)

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=timezone.utc)  # a Wednesday


def series(*values: float, end: datetime = NOW, every: int = 30) -> Samples:
    """Samples every 30 s, the last one at ``end``."""
    n = len(values)
    return Samples([(end - timedelta(seconds=every * (n - 1 - i)), float(v)) for i, v in enumerate(values)])


def context(pending: Samples | None = None, **overrides) -> AutoScaleContext:
    pending = pending if pending is not None else series(*[4] * 20)
    fields = dict(
        now=NOW,
        pending=pending,
        active=pending,
        running=Samples([(when, 0.0) for when, _ in pending.values]),
        current_dedicated=2,
        current_low_priority=1,
        target_dedicated=2,
        target_low_priority=1,
    )
    fields.update(overrides)
    return AutoScaleContext(**fields)


def value_of(expr: str, ctx: AutoScaleContext | None = None) -> str:
    """Evaluate one expression and read it back from the results string."""
    outcome = evaluate(f"$v = {expr};", ctx or context())
    assert outcome.error is None, outcome.error
    fields = dict(part.split("=", 1) for part in outcome.results.split(";"))
    return fields["$v"]


# --- expressions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2 * 3", "7"),
        ("(1 + 2) * 3", "9"),
        ("10 - 4 - 3", "3"),
        ("8 / 4 / 2", "1"),
        ("-2 * -3", "6"),
        ("7 / 2", "3.5"),
        ("2 > 1", "1"),
        ("2 >= 3", "0"),
        ("1 == 1 && 2 != 2", "0"),
        ("0 || 3", "1"),
        ("!0", "1"),
        ("1 < 2 ? 10 : 20", "10"),
        ("0 ? 1 : 0 ? 2 : 3", "3"),
        ("1 + 1 > 1 ? 5 : 6", "5"),
        ("min(3, 1, 2)", "1"),
        ("max(1, $PendingTasks.GetSample(3), 2)", "4"),
        ("avg(1, 2, 3, 6)", "3"),
        ("sum($PendingTasks.GetSample(5))", "20"),
        ("len($PendingTasks.GetSample(5))", "5"),
        ("floor(2.7)", "2"),
        ("ceil(2.1)", "3"),
        ("lg(8) + ln(1) + log(100)", "5"),
        ("range(5, 1, 3)", "4"),
        ("norm(3, 4)", "5"),
        ("std(2, 4, 4, 4, 5, 5, 7, 9)", "2"),
        ("val($PendingTasks.GetSample(2), 1)", "4"),
        ("TimeInterval_Minute * 5", "00:05:00"),
        ("TimeInterval_Hour * 30", "1.06:00:00"),
        ("TimeInterval_Minute * 5 > TimeInterval_Second * 200", "1"),
        ("time()", "2026-11-25T19:00:00.000Z"),
        ("time() - TimeInterval_Day", "2026-11-24T19:00:00.000Z"),
        ("time().hour + time().weekday", "22"),
        ('time("2026-11-29T08:00:00Z").weekday', "0"),
        ("$CurrentDedicatedNodes + $CurrentLowPriorityNodes + $TaskSlotsPerNode", "4"),
        ("$TargetDedicatedNodes", "2"),
        ("1e3", "1000"),
    ],
)
def test_expression_values(expr: str, expected: str) -> None:
    assert value_of(expr) == expected


def test_statements_newlines_and_comments() -> None:
    formula = """
    // a line comment
    $a = 2;  b = $a * 3   /* a block
    comment */
    $c = b +
         1
    $TargetDedicatedNodes = $c;;
    """
    outcome = evaluate(formula, context())
    assert outcome.error is None
    assert outcome.target_dedicated == 7
    assert outcome.results == (
        "$TargetDedicatedNodes=7;$TargetLowPriorityNodes=1;$NodeDeallocationOption=requeue;$a=2;b=6;$c=7"
    )


def test_targets_are_floored_clamped_and_default_to_current_targets() -> None:
    assert evaluate("$TargetDedicatedNodes = 3.9;", context()).target_dedicated == 3
    outcome = evaluate("$TargetDedicatedNodes = -4; $TargetLowPriorityNodes = 0.5;", context())
    assert (outcome.target_dedicated, outcome.target_low_priority) == (0, 0)
    untouched = evaluate("$x = 1;", context(target_dedicated=5, target_low_priority=3))
    assert (untouched.target_dedicated, untouched.target_low_priority) == (5, 3)
    assert untouched.node_deallocation_option == "requeue"


@pytest.mark.parametrize("option", ["taskcompletion", "requeue", "terminate", "retaineddata", "TaskCompletion"])
def test_node_deallocation_option(option: str) -> None:
    outcome = evaluate(f"$NodeDeallocationOption = {option};", context())
    assert outcome.error is None
    assert outcome.node_deallocation_option == option.lower()
    assert f"$NodeDeallocationOption={option.lower()}" in outcome.results


# --- samples ----------------------------------------------------------------------------------------------


def test_get_sample_by_count_and_by_interval() -> None:
    ctx = context(series(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
    assert value_of("$PendingTasks.GetSample(1)", ctx) == "[12]"
    assert value_of("$PendingTasks.GetSample(3)", ctx) == "[10,11,12]"
    # (now - 2 min, now]: the samples at -90, -60, -30 and 0 seconds.
    assert value_of("$PendingTasks.GetSample(TimeInterval_Minute * 2)", ctx) == "[9,10,11,12]"
    # Between 2 and 1 minutes ago, either order.
    assert value_of("$PendingTasks.GetSample(TimeInterval_Minute, TimeInterval_Minute * 2)", ctx) == "[9,10]"
    assert value_of("$PendingTasks.GetSamplePercent(TimeInterval_Minute * 2)", ctx) == "100"
    assert value_of("$PendingTasks.GetSamplePercent(TimeInterval_Minute * 12)", ctx) == "50"
    assert value_of("percentile($PendingTasks.GetSample(5), 50)", ctx) == "10"
    assert value_of("percentile($PendingTasks.GetSample(5), 75)", ctx) == "11"
    assert value_of("$PendingTasks.Count()", ctx) == "12"
    assert value_of("$PendingTasks.HistoryBeginTime()", ctx) == "2026-11-25T18:54:30.000Z"
    assert value_of("$PendingTasks.GetSamplePeriod()", ctx) == "00:00:30"
    assert value_of("$ActiveTasks.GetSample(1) + $RunningTasks.GetSample(1)", ctx) == "[12]"


def test_insufficient_samples_is_a_run_error_that_keeps_targets() -> None:
    ctx = context(series(1, 2, 3, 4, 5), target_dedicated=3, target_low_priority=0)
    outcome = evaluate(
        "$x = 1;\n$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 5, 70));", ctx
    )
    assert outcome.target_dedicated == 3 and outcome.target_low_priority == 0
    assert outcome.error is not None
    assert outcome.error["code"] == "InsufficientSampleData"
    assert outcome.error["message"] == "Autoscale evaluation failed due to insufficient sample data"
    detail = outcome.error["values"][0]
    assert detail["name"] == "Message"
    assert detail["value"] == "Line 2, Col 43: Insufficient data from data set: $PendingTasks wanted 70%, received 50%"
    assert "$x=1" in outcome.results

    empty = context(Samples())
    for formula in ("$v = $PendingTasks.GetSample(1);", "$v = $PendingTasks.HistoryBeginTime();",
                    "$v = avg($CPUPercent.GetSample(TimeInterval_Minute, 10));"):
        assert evaluate(formula, empty).error["code"] == "InsufficientSampleData"
    assert evaluate("$v = $PendingTasks.GetSample(3);", context(series(1, 2))).error is not None


def test_short_circuit_and_ternary_guard_missing_samples() -> None:
    formula = """
    $ok = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 5) >= 70;
    $TargetDedicatedNodes = $ok ? avg($PendingTasks.GetSample(TimeInterval_Minute * 5)) : 1;
    $guard = $ok && avg($PendingTasks.GetSample(TimeInterval_Minute * 5, 70)) > 0;
    """
    outcome = evaluate(formula, context(Samples()))
    assert outcome.error is None
    assert outcome.target_dedicated == 1


@pytest.mark.parametrize(
    ("formula", "fragment"),
    [
        ("$v = 1 / 0;", "division by zero"),
        ("$v = avg($PendingTasks.GetSample(TimeInterval_Minute, TimeInterval_Minute * 2));", "avg() of an empty"),
        ("$v = $PendingTasks + 1;", "sample set $PendingTasks"),
        ("$v = time() + 1;", "does not apply"),
        ("$TargetDedicatedNodes = TimeInterval_Minute;", "must be a finite double"),
        ("$NodeDeallocationOption = 3;", "must be one of"),
        ("$v = requeue;", "only be assigned to $NodeDeallocationOption"),
        ("$v = val($PendingTasks.GetSample(2), 5);", "outside a vector"),
        ("$v = ln(0);", "logarithm"),
        ("$v = $PendingTasks.GetSample(1.5);", "whole number"),
        ('$v = time("yesterday");', "cannot read"),
        ("$v = TimeInterval_Year * 1e300;", "out of range"),
    ],
)
def test_runtime_errors_are_reported_not_raised(formula: str, fragment: str) -> None:
    outcome = evaluate(formula, context(series(4, 4)))
    assert outcome.error is not None
    assert fragment in outcome.error["values"][0]["value"]
    assert outcome.error["values"][0]["value"].startswith("Line 1, Col ")


def test_samples_plus_adds_by_timestamp() -> None:
    total = series(1, 2, 3).plus(series(10, 20, 30))
    assert [v for _, v in total.values] == [11, 22, 33]


# --- syntax ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "fragment", "line", "col"),
    [
        ("", "no statements", 1, 1),
        ("// only a comment", "no statements", 1, 1),
        ("$TargetDedicatedNodes = mx(1, 2);", "unknown function mx()", 1, 25),
        ("$a = 1;\n$TargetDedicatedNodes = $PendingTask.GetSample(1);", "undefined variable $PendingTask", 2, 25),
        ("$a = b;", "undefined variable b", 1, 6),
        ("$b = 1; $a = $b $c = 2;", "expected ';'", 1, 17),
        ("$PendingTasks = 3;", "read-only", 1, 1),
        ("$CurrentDedicatedNodes = 3;", "read-only", 1, 1),
        ("$a = $PendingTasks.GetSamples(1);", "unknown method GetSamples()", 1, 20),
        ("$a = time().hours;", "unknown member .hours", 1, 13),
        ("$a = min();", "takes 1 or more", 1, 6),
        ("$a = ceil(1, 2);", "takes 1 argument", 1, 6),
        ("$a = (1 + 2;", "expected ')'", 1, 12),
        ("$a = 1 +;", "expected a value", 1, 9),
        ("$a == 1;", "expected '='", 1, 4),
        ("$a = 1 ? 2;", "expected ':'", 1, 11),
        ("$a = 1; /* open", "unterminated /* comment", 1, 9),
        ('$a = "open;', "unterminated string", 1, 6),
        ("$a = 1 # 2;", "unexpected character '#'", 1, 8),
        ("max = 1;", "expected a variable", 1, 1),
        ("requeue = 1;", "reserved word", 1, 1),
        ("$a = " + "(" * 100 + "1" + ")" * 100 + ";", "nested too deeply", 1, None),
        ("\n".join(f"$a{i} = {i}" for i in range(101)), "at most 100 statements", 101, 1),
    ],
)
def test_syntax_errors_carry_line_and_column(formula: str, fragment: str, line: int, col: int | None) -> None:
    with pytest.raises(AutoScaleSyntaxError) as info:
        check_syntax(formula)
    error = info.value
    assert fragment in str(error)
    assert error.line == line
    if col is not None:
        assert error.col == col
        assert str(error).startswith(f"Line {line}, Col {col}: ")
    with pytest.raises(AutoScaleSyntaxError):
        evaluate(formula, context())


def test_long_flat_expressions_do_not_hit_the_recursion_limit() -> None:
    formula = "$TargetDedicatedNodes = " + " + ".join(["1"] * 2000) + ";"
    assert evaluate(formula, context()).target_dedicated == 2000


FORMULA_ALPHABET = st.sampled_from(
    ["$a", "$b", "=", ";", "\n", "(", ")", "+", "-", "*", "/", "?", ":", "&&", "||", "!", "==", "<", ",", "1",
     "0", "2.5", "max", "avg", "min(", "$PendingTasks", ".GetSample(", ".GetSamplePercent(", ".Count()",
     "TimeInterval_Minute", "time()", ".hour", "$TargetDedicatedNodes", "$NodeDeallocationOption", "requeue",
     "//", "/*", "*/", '"', "$CPUPercent", "1e308", "val(", "ln(", "$x = "]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(FORMULA_ALPHABET, max_size=30).map(" ".join)))
def test_check_syntax_and_evaluate_raise_only_syntax_errors(formula: str) -> None:
    try:
        check_syntax(formula)
    except AutoScaleSyntaxError:
        return
    outcome = evaluate(formula, context(series(1, 2, 3)))
    assert outcome.target_dedicated >= 0 and outcome.target_low_priority >= 0
    assert outcome.results.startswith("$TargetDedicatedNodes=")

