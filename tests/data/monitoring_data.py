"""Synthetic monitoring data shaped like what the Batch REST API returns (shared by the monitoring tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from batchnb.data import frames

T0 = pd.Timestamp("2024-05-01T08:00:00Z")


def task_row(i: int, state: str = "completed", *, exit_code: int = 0, node: str | None = None) -> dict:
    """A task as GET /jobs/{job}/tasks returns it with batchnb's $select."""
    start = T0 + pd.Timedelta(seconds=i % 3600)
    ex: dict = {"retryCount": 0, "requeueCount": 0}
    if state in ("running", "completed"):
        ex["startTime"] = start.strftime("%Y-%m-%dT%H:%M:%S.1234567Z")  # Batch sends 7 fractional digits
    if state == "completed":
        ex["endTime"] = (start + pd.Timedelta(seconds=30 + i % 90)).isoformat()
        ex["exitCode"] = exit_code
        ex["result"] = "success" if exit_code == 0 else "failure"
        if exit_code:
            ex["failureInfo"] = {"category": "usererror", "code": "FailureExitCode", "message": f"exit {exit_code}"}
    row = {
        "id": f"task-{i:07d}",
        "state": state,
        "creationTime": T0.isoformat(),
        "stateTransitionTime": (start + pd.Timedelta(seconds=1)).isoformat(),
        "executionInfo": ex,
    }
    if state != "active":
        row["nodeInfo"] = {"nodeId": node or f"tvm-{i % 50:04d}", "affinityId": "TVM:x"}
    return row


def synthetic_tasks(n: int, *, seed: int = 0, nodes: int = 1000) -> pd.DataFrame:
    """A typed task frame of ``n`` tasks built column-wise (fast enough for 1M rows)."""
    rng = np.random.default_rng(seed)
    state = rng.choice(np.array(frames.TASK_STATES), n, p=[0.1, 0.0, 0.1, 0.8])
    started = state != "active"
    done = state == "completed"
    failed = done & (rng.random(n) < 0.05)
    start = T0 + pd.to_timedelta(rng.uniform(0, 3600, n), unit="s")
    end = start + pd.to_timedelta(rng.exponential(60, n), unit="s")
    exit_code = np.where(failed, rng.integers(1, 4, n), 0)
    index = pd.Index([f"task-{i:07d}" for i in range(n)], dtype="string", name="task_id")
    start = pd.Series(start).where(started)
    end = pd.Series(end).where(done)
    columns = {
        "state": pd.Categorical(state, dtype=frames.TASK_COLUMNS["state"]),
        "state_time": end.fillna(start).fillna(T0),
        "created": pd.Series([T0] * n),
        "start_time": start,
        "end_time": end,
        "duration": end - start,
        "exit_code": pd.Series(exit_code).astype("Int64").where(done),
        "result": pd.Categorical(np.where(failed, "failure", "success"), dtype=frames.TASK_COLUMNS["result"]),
        "retry_count": pd.array(np.zeros(n, dtype=int), dtype="Int64"),
        "requeue_count": pd.array(np.zeros(n, dtype=int), dtype="Int64"),
        "node_id": pd.Series([f"tvm-{k:05d}" for k in rng.integers(0, nodes, n)], dtype="string").where(started),
        "failure_code": pd.Series(["FailureExitCode"] * n, dtype="string").where(failed),
        "failure_message": pd.Series(["non-zero exit"] * n, dtype="string").where(failed),
        "failure_category": pd.Categorical(
            np.where(failed, "usererror", "servererror"), dtype=frames.TASK_COLUMNS["failure_category"]
        ),
        "display_name": pd.Series([f"x={i}" for i in range(n)], dtype="string"),
        "required_slots": pd.array(np.ones(n, dtype=int), dtype="Int64"),
    }
    index = pd.Index([f"task-{i:07d}" for i in range(n)], dtype="string", name="task_id")
    df = pd.DataFrame({k: v.array if isinstance(v, pd.Series) else v for k, v in columns.items()}, index=index)
    df["result"] = df["result"].where(done)
    df["failure_category"] = df["failure_category"].where(failed)
    return df.astype(frames.TASK_COLUMNS)


def synthetic_nodes(n: int, *, seed: int = 0, slots: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    states = rng.choice(np.array(frames.NODE_STATES), n)
    rows = [
        {
            "id": f"tvmps_{i:06d}_d",
            "state": str(states[i]),
            "schedulingState": "enabled",
            "isDedicated": bool(i % 2),
            "runningTasksCount": int(rng.integers(0, slots + 1)) if states[i] == "running" else 0,
            "runningTaskSlotsCount": int(rng.integers(1, slots + 1)) if states[i] == "running" else 0,
            "totalTasksRun": 3,
        }
        for i in range(n)
    ]
    return frames.nodes_frame(rows)
