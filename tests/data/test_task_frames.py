"""Task frames: typed columns from REST/SDK dicts, and upserts that scale with what changed."""

from __future__ import annotations

import pandas as pd
import pytest
from azure.batch import models

from batchnb.data import frames
from tests.data.monitoring_data import T0, synthetic_tasks, task_row

pytestmark = pytest.mark.timeout(120)


def test_columns_are_typed_from_rest_rows():
    df = frames.tasks_frame([task_row(1), task_row(2, exit_code=3), task_row(3, "running"), task_row(4, "active")])
    assert df.index.name == "task_id"
    assert list(df.columns) == list(frames.TASK_COLUMNS)
    assert df.dtypes.equals(frames.empty_tasks_frame().dtypes)
    assert list(df["state"].cat.categories) == frames.TASK_STATES
    assert str(df["start_time"].dtype) == "datetime64[ns, UTC]"
    assert df.loc["task-0000001", "start_time"] == T0 + pd.Timedelta(seconds=1, microseconds=123456.7)
    assert df.loc["task-0000002", "exit_code"] == 3
    assert df.loc["task-0000002", "result"] == "failure"
    assert df.loc["task-0000002", "failure_code"] == "FailureExitCode"
    assert df.loc["task-0000002", "failure_category"] == "usererror"
    assert df.loc["task-0000001", "duration"] == pd.Timedelta("30.8765433s")  # end - start, to 100 ns
    assert pd.isna(df.loc["task-0000003", "duration"])  # still running
    assert pd.isna(df.loc["task-0000004", "node_id"])
    assert df.loc["task-0000003", "node_id"] == "tvm-0003"


def test_rows_from_sdk_models_as_dict():
    # What a watcher gets from the real azure-batch models (camelCase keys, enum-cased values).
    task = models.BatchTask(
        {
            "id": "t1",
            "state": "completed",
            "stateTransitionTime": "2024-05-01T08:01:00Z",
            "executionInfo": {
                "startTime": "2024-05-01T08:00:00Z", "endTime": "2024-05-01T08:01:00Z", "exitCode": 0,
                "result": "success", "retryCount": 1, "requeueCount": 2,
            },
            "nodeInfo": {"nodeId": "tvm-1"},
        }
    )  # fmt: skip
    # SDK models are mappings with REST keys, so a watcher can pass them without converting.
    for rows in ([task.as_dict()], [task]):
        row = frames.tasks_frame(rows).loc["t1"]
        assert (row["state"], row["result"], row["retry_count"], row["requeue_count"]) == ("completed", "success", 1, 2)
        assert row["duration"] == pd.Timedelta(minutes=1) and row["node_id"] == "tvm-1"


def test_empty_frame_is_typed_and_merge_into_it():
    empty = frames.empty_tasks_frame()
    assert empty.empty and empty.dtypes.equals(frames.tasks_frame([task_row(1)]).dtypes)
    merged = frames.merge_tasks(empty, [task_row(1)])
    assert list(merged.index) == ["task-0000001"]


def test_merge_updates_in_place_appends_new_and_last_row_wins():
    df = frames.tasks_frame([task_row(i, "running") for i in range(5)])
    df["note"] = "mine"  # a column the user added survives refreshes
    same = frames.merge_tasks(df, [task_row(1, exit_code=2), task_row(1)])  # last duplicate wins
    assert same is df  # no new ids: updated in place
    assert (df["note"] == "mine").all()
    assert df.loc["task-0000001", "state"] == "completed" and df.loc["task-0000001", "exit_code"] == 0

    grown = frames.merge_tasks(df, [task_row(7, "active"), task_row(2)])
    assert list(grown.index) == [f"task-{i:07d}" for i in (0, 1, 2, 3, 4, 7)]
    assert grown.loc["task-0000002", "state"] == "completed"
    assert grown[list(frames.TASK_COLUMNS)].dtypes.equals(df[list(frames.TASK_COLUMNS)].dtypes)


def test_merge_clears_failure_when_a_task_is_reactivated():
    df = frames.tasks_frame([task_row(1, exit_code=1)])
    reactivated = task_row(1, "active")
    df = frames.merge_tasks(df, [reactivated])
    row = df.loc["task-0000001"]
    assert row["state"] == "active"
    assert pd.isna(row["exit_code"]) and pd.isna(row["failure_code"]) and pd.isna(row["result"])


def test_display_states_split_completed_by_outcome():
    rows = [task_row(1), task_row(2, exit_code=1), task_row(3, "running"), task_row(4, "active")]
    # A pre-processing failure: failureInfo but no exit code and no result.
    pre = task_row(5)
    del pre["executionInfo"]["exitCode"], pre["executionInfo"]["result"]
    pre["executionInfo"]["failureInfo"] = {"category": "usererror", "code": "BlobNotFound", "message": "x"}
    states = frames.display_states(frames.tasks_frame([*rows, pre]))
    assert list(states) == ["succeeded", "failed", "running", "active", "failed"]
    assert list(states.cat.categories) == frames.DISPLAY_STATES


def test_select_lists_only_top_level_fields_a_watcher_needs():
    assert frames.TASK_SELECT.split(",") == list(frames.TASK_SELECT_FIELDS)
    assert {"id", "state", "stateTransitionTime", "executionInfo", "nodeInfo"} <= set(frames.TASK_SELECT_FIELDS)
    assert "commandLine" not in frames.TASK_SELECT


@pytest.mark.parametrize("n", [100_000, 1_000_000])
def test_merge_of_one_percent_updates_in_place_and_keeps_the_rest(n):
    """Its cost against a rebuild is measured by benchmarks/bench_monitor.py (kernel side), not here."""
    df = synthetic_tasks(n)
    before = df.copy()
    changed = [task_row(i, exit_code=7, node="tvm-new") for i in range(0, n, 100)]  # 1 %
    merged = frames.merge_tasks(df, changed)
    assert merged is df
    assert len(merged) == n
    ids = [r["id"] for r in changed]
    assert (merged.loc[ids, "exit_code"] == 7).all() and (merged.loc[ids, "node_id"] == "tvm-new").all()
    untouched = merged.index.difference(pd.Index(ids))
    pd.testing.assert_frame_equal(merged.loc[untouched[:1000]], before.loc[untouched[:1000]])
    assert merged.dtypes.equals(before.dtypes)
