"""Node, count-history and utilization frames."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from azure.batch import models

from batchnb.data import frames

pytestmark = pytest.mark.timeout(60)


def test_nodes_frame_types_every_node_state_and_sorts_by_id():
    rows = [{"id": f"n{i:02d}", "state": s} for i, s in enumerate(reversed(frames.NODE_STATES))]
    rows[0].update(
        schedulingState="disabled", isDedicated=False, ipAddress="10.0.0.4", runningTasksCount=2,
        runningTaskSlotsCount=3, totalTasksRun=10, totalTasksSucceeded=9, allocationTime="2024-05-01T08:00:00Z",
        stateTransitionTime="2024-05-01T08:05:00Z",
        startTaskInfo={"state": "completed", "exitCode": 1, "startTime": "2024-05-01T08:01:00Z", "retryCount": 0},
        errors=[{"code": "StartTaskFailed", "message": "exit 1"}],
    )  # fmt: skip
    df = frames.nodes_frame(rows)
    assert len(frames.NODE_STATES) == 16
    assert df.index.name == "node_id" and df.index.is_monotonic_increasing
    assert set(df["state"]) == set(frames.NODE_STATES) and df["state"].notna().all()
    n = df.loc["n00"]
    assert (n["scheduling_state"], n["running_tasks"], n["running_slots"]) == ("disabled", 2, 3)
    assert not n["is_dedicated"]
    assert (n["start_task_state"], n["start_task_exit_code"], n["errors"]) == ("completed", 1, "StartTaskFailed: exit 1")
    assert n["allocation_time"] == pd.Timestamp("2024-05-01T08:00:00Z")
    assert str(df["is_dedicated"].dtype) == "boolean" and pd.isna(df.loc["n01", "is_dedicated"])
    assert str(df["running_slots"].dtype) == "Int64"


def test_nodes_frame_from_sdk_model():
    node = models.BatchNode({"id": "tvm-1", "state": "idle", "isDedicated": True, "totalTasksRun": 0})
    for rows in ([node.as_dict()], [node]):
        df = frames.nodes_frame(rows)
        assert df.loc["tvm-1", "state"] == "idle" and df.loc["tvm-1", "is_dedicated"]


def test_counts_history_accepts_rest_body_sdk_model_and_bare_counts():
    t0 = dt.datetime(2024, 5, 1, 8, tzinfo=dt.UTC)
    body = {"taskCounts": {"active": 8, "running": 2, "completed": 0, "succeeded": 0, "failed": 0},
            "taskSlotCounts": {"active": 8, "running": 2, "completed": 0, "succeeded": 0, "failed": 0}}  # fmt: skip
    model = models.BatchTaskCountsResult(
        {"taskCounts": {"active": 5, "running": 2, "completed": 3, "succeeded": 2, "failed": 1},
         "taskSlotCounts": {"active": 5, "running": 2, "completed": 3, "succeeded": 2, "failed": 1}}
    )  # fmt: skip
    h = frames.CountsHistory()
    h.append(body, t0)
    h.append(model, t0 + dt.timedelta(seconds=10))
    h.append({"active": 0, "running": 0, "completed": 10, "succeeded": 9, "failed": 1}, t0 + dt.timedelta(seconds=20))
    f = h.frame
    assert list(f.columns) == frames.COUNT_COLUMNS and str(f.index.dtype) == "datetime64[ns, UTC]"
    assert f["completed"].tolist() == [0, 3, 10] and f["failed"].tolist() == [0, 1, 1]
    row = frames.counts_history_row(body, dt.datetime(2024, 5, 1, 8))  # naive means UTC
    assert row["time"] == pd.Timestamp("2024-05-01T08:00:00Z") and row["active"] == 8


def test_counts_history_stays_bounded_and_keeps_the_latest_rows():
    h = frames.CountsHistory(max_rows=100)
    t0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    for k in range(1000):
        h.append({"completed": k}, t0 + dt.timedelta(seconds=k))
    assert len(h) <= 100
    f = h.frame
    assert f.index.is_monotonic_increasing
    assert f["completed"].iloc[-1] == 999 and f["completed"].iloc[0] == 0


def test_utilization_frame_from_sampler_lines():
    lines = [
        {"t": "2024-05-01T08:00:05.000Z", "node": "b", "cpu": 50.0, "mem": 20.5, "disk": 30.0, "rx": 10.0,
         "tx": 5.0, "gpu": None, "gpu_mem": None},
        {"t": "2024-05-01T08:00:00.000Z", "node": "a", "cpu": None, "mem": 20.0, "disk": 30.0, "rx": None,
         "tx": None, "gpu": 75.0, "gpu_mem": 10.0},
    ]  # fmt: skip
    df = frames.utilization_frame(lines)
    assert list(df.columns) == list(frames.UTILIZATION_COLUMNS)
    assert list(df["node_id"]) == ["a", "b"]  # sorted by time
    assert str(df["time"].dtype) == "datetime64[ns, UTC]"
    assert pd.isna(df.loc[0, "cpu_percent"]) and df.loc[1, "cpu_percent"] == 50.0
    assert str(df["gpu_percent"].dtype) == "Float64" and pd.isna(df.loc[1, "gpu_percent"])
    assert frames.utilization_frame([]).empty
