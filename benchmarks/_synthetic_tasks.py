"""A job's task frame without a service: N tasks run back to back on K nodes x S slots.

Built column by column (a million rows in a few seconds) and cast to
:data:`batchnb.data.frames.TASK_COLUMNS`, so it has exactly the dtypes ``tasks_frame()`` produces
(checked by :func:`check_dtypes`) and whatever dtypes that module settles on. Unlike uniformly
random intervals, tasks here follow one another on each slot, as a real pool runs them: the
timeline has the shape of a real job's (busy lanes, a ragged end).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from batchnb.data import frames

T0 = pd.Timestamp("2026-01-05T08:00:00Z")


def packed_tasks_frame(n: int, *, nodes: int = 500, slots: int = 4, seed: int = 0,
                       failed_fraction: float = 0.02, unfinished_fraction: float = 0.05) -> pd.DataFrame:
    """``n`` tasks on ``nodes`` x ``slots`` slots; the last ``unfinished_fraction`` still running or active."""
    rng = np.random.default_rng(seed)
    lanes = nodes * slots
    # Durations ~ lognormal around 20 s; each slot runs its tasks back to back, 50 ms apart.
    duration_ns = (rng.lognormal(np.log(20), 0.6, n) * 1e9).astype(np.int64)
    lane = np.arange(n) % lanes
    order = np.lexsort((np.arange(n), lane))
    offset = np.empty(n, dtype=np.int64)
    sorted_lane = lane[order]
    csum = np.cumsum(duration_ns[order] + 50_000_000)
    first_of_lane = np.searchsorted(sorted_lane, sorted_lane)
    base = np.where(first_of_lane > 0, csum[first_of_lane - 1], 0)
    offset[order] = csum - (duration_ns[order] + 50_000_000) - base
    start_ns = T0.value + offset
    end_ns = start_ns + duration_ns
    # "Now": the time by which all but the last unfinished_fraction of the tasks had ended.
    now = int(np.quantile(end_ns, 1 - unfinished_fraction)) if n else T0.value
    started = start_ns <= now
    done = end_ns <= now
    failed = done & (rng.random(n) < failed_fraction)
    state_code = np.where(done, frames.TASK_STATES.index("completed"),
                          np.where(started, frames.TASK_STATES.index("running"), frames.TASK_STATES.index("active")))
    exit_code = np.where(failed, rng.integers(1, 4, n), 0)

    def times(ns: np.ndarray, mask: np.ndarray) -> pd.Series:
        raw = np.where(mask, ns, np.iinfo(np.int64).min).view("datetime64[ns]")  # int64 min is NaT
        return pd.Series(raw).dt.tz_localize("UTC")

    node_names = np.array([f"tvmps_{k:06d}_d" for k in range(nodes)], dtype=object)
    start, end = times(start_ns, started), times(end_ns, done)
    columns = {
        "state": pd.Categorical.from_codes(state_code, dtype=frames.TASK_COLUMNS["state"]),
        "state_time": times(np.where(done, end_ns, np.where(started, start_ns, T0.value)), np.ones(n, bool)),
        "created": times(np.full(n, T0.value), np.ones(n, bool)),
        "start_time": start,
        "end_time": end,
        "duration": end - start,
        "exit_code": pd.array(np.where(done, exit_code, 0), dtype="Int64"),
        "result": pd.Categorical.from_codes(failed.astype(np.int8), dtype=pd.CategoricalDtype(frames.TASK_RESULTS)),
        "retry_count": pd.array(np.zeros(n, dtype=np.int64), dtype="Int64"),
        "requeue_count": pd.array(np.zeros(n, dtype=np.int64), dtype="Int64"),
        "node_id": pd.Series(node_names[lane // slots]).where(started),
        "failure_code": pd.Series(np.where(failed, "FailureExitCode", None)),
        "failure_message": pd.Series(np.where(failed, "The task exited with an exit code representing a failure",
                                              None)),
        "failure_category": pd.Categorical.from_codes(np.where(failed, 0, -1),
                                                      dtype=pd.CategoricalDtype(frames.FAILURE_CATEGORIES)),
        "display_name": pd.Series([None] * n, dtype="string"),  # a sweep's parameters; no figure reads them
        "required_slots": pd.array(np.ones(n, dtype=np.int64), dtype="Int64"),
    }
    index = pd.Index([f"task-{i:07d}" for i in range(n)], dtype="string", name="task_id")
    df = pd.DataFrame({k: v.array if isinstance(v, pd.Series) else v for k, v in columns.items()}, index=index)
    df["exit_code"] = df["exit_code"].where(done)
    df["result"] = df["result"].where(done)
    return df[list(frames.TASK_COLUMNS)].astype(frames.TASK_COLUMNS)


def check_dtypes(df: pd.DataFrame) -> list[str]:
    """Differences between ``df``'s dtypes and those of a frame ``tasks_frame()`` builds (empty list: none)."""
    reference = frames.tasks_frame([{"id": "t", "state": "active"}])
    problems = [f"{c}: {df[c].dtype} != {reference[c].dtype}" for c in reference.columns
                if c not in df.columns or df[c].dtype != reference[c].dtype]
    if df.index.dtype != reference.index.dtype:
        problems.append(f"index: {df.index.dtype} != {reference.index.dtype}")
    return problems


def counts_history(tasks: pd.DataFrame, *, samples: int = 20_000) -> frames.CountsHistory:
    """Task counts sampled ``samples`` times over the job's run (20,000 is CountsHistory's cap)."""
    history = frames.CountsHistory()
    start = tasks["start_time"].dropna().to_numpy(dtype="datetime64[ns]").astype(np.int64)
    end = tasks["end_time"].dropna().to_numpy(dtype="datetime64[ns]").astype(np.int64)
    start.sort()
    end.sort()
    n = len(tasks)
    at = np.linspace(T0.value, max(int(end.max()) if len(end) else T0.value, T0.value + 1), samples).astype(np.int64)
    started = np.searchsorted(start, at, side="right")
    completed = np.searchsorted(end, at, side="right")
    for t, s, c in zip(at, started, completed, strict=True):
        history.append({"active": int(n - s), "running": int(s - c), "completed": int(c),
                        "succeeded": int(c), "failed": 0}, pd.Timestamp(int(t), tz="UTC").floor("us").to_pydatetime())
    return history
