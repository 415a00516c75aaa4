"""Typed pandas DataFrames built from Batch REST-shaped dicts.

Input rows are what the Batch REST API returns: camelCase keys, times as ISO strings or
``datetime`` objects. ``azure.batch`` 15.x model objects qualify as they are (they are mappings
with the REST keys), as do their ``.as_dict()``. Output frames have
stable, typed columns (categoricals for states, UTC datetimes, nullable integers), so views and
users can filter and plot without guessing.

This module is the data layer: pandas only, no widgets, no plotting, no HTTP.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from batchnb.core.tasks.task_params import decode_params

# --------------------------------------------------------------------------------------- tasks

TASK_STATES = ["active", "preparing", "running", "completed"]
# Display states split "completed" by outcome, the way users read a job (and the way task counts do).
DISPLAY_STATES = ["active", "preparing", "running", "succeeded", "failed"]
TASK_RESULTS = ["success", "failure"]
FAILURE_CATEGORIES = ["usererror", "servererror"]

# Batch's $select only takes top-level properties, so the nested blocks come whole; these are
# all a watcher needs (no commandLine, resourceFiles, environment, ... which dominate task size).
# displayName carries a sweep task's parameters (batchnb.core.tasks.task_params): a short string.
TASK_SELECT_FIELDS = ("id", "displayName", "state", "stateTransitionTime", "creationTime", "executionInfo",
                      "nodeInfo", "requiredSlots")
TASK_SELECT = ",".join(TASK_SELECT_FIELDS)

_UTC_NS = "datetime64[ns, UTC]"
TASK_COLUMNS: dict[str, Any] = {
    "state": pd.CategoricalDtype(TASK_STATES),
    "state_time": _UTC_NS,
    "created": _UTC_NS,
    "start_time": _UTC_NS,
    "end_time": _UTC_NS,
    "duration": "timedelta64[ns]",
    "exit_code": "Int64",
    "result": pd.CategoricalDtype(TASK_RESULTS),
    "retry_count": "Int64",
    "requeue_count": "Int64",
    "node_id": "string",
    "failure_code": "string",
    "failure_message": "string",
    "failure_category": pd.CategoricalDtype(FAILURE_CATEGORIES),
    "display_name": "string",
    # The task's share of its node (requiredSlots / taskSlotsPerNode) is what it costs.
    "required_slots": "Int64",
}


def _utc(values: list[Any]) -> pd.DatetimeIndex:
    # format="ISO8601" accepts Batch's 7-digit fractions and mixed str/datetime input;
    # errors="coerce" keeps one odd timestamp from failing a whole refresh.
    out = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601", errors="coerce")
    return pd.DatetimeIndex(out).as_unit("ns")


def _lower(value: Any) -> Any:
    # Enums from the SDK stringify as their value; REST sends lower-case already.
    if value is None or (value.__class__ is str and value.islower()):
        return value
    return str(value).lower()


def empty_tasks_frame() -> pd.DataFrame:
    """A task frame with no rows but every column typed, indexed by ``task_id``."""
    index = pd.Index([], dtype="string", name="task_id")
    return pd.DataFrame({c: pd.Series([], dtype=t, index=index) for c, t in TASK_COLUMNS.items()}, index=index)


def tasks_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Build the typed task frame from REST-shaped task dicts (one row per task id, last one wins)."""
    cols: dict[str, list[Any]] = {k: [] for k in ("id", *TASK_COLUMNS)}
    # Bound appends: this loop is the whole cost of a first load of a million tasks.
    (a_id, a_state, a_state_time, a_created, a_start, a_end, a_exit, a_result, a_retry, a_requeue, a_node,
     a_fcode, a_fmsg, a_fcat, a_name, a_slots) = (cols[k].append for k in cols if k != "duration")  # fmt: skip
    empty: dict[str, Any] = {}
    for row in rows:
        get = row.get
        ex = get("executionInfo") or empty
        xget = ex.get
        a_id(row["id"])
        a_state(_lower(get("state")))
        a_state_time(get("stateTransitionTime"))
        a_created(get("creationTime"))
        a_start(xget("startTime"))
        a_end(xget("endTime"))
        a_exit(xget("exitCode"))
        a_result(_lower(xget("result")))
        a_retry(xget("retryCount"))
        a_requeue(xget("requeueCount"))
        a_node((get("nodeInfo") or empty).get("nodeId"))
        a_name(get("displayName"))
        a_slots(get("requiredSlots"))
        fail = xget("failureInfo")
        if fail:
            a_fcode(fail.get("code"))
            a_fmsg(fail.get("message"))
            a_fcat(_lower(fail.get("category")))
        else:
            a_fcode(None)
            a_fmsg(None)
            a_fcat(None)
    if not cols["id"]:
        return empty_tasks_frame()
    index = pd.Index(cols.pop("id"), dtype="string", name="task_id")
    data: dict[str, Any] = {}
    for name, dtype in TASK_COLUMNS.items():
        if name == "duration":
            continue
        if dtype == _UTC_NS:
            data[name] = _utc(cols[name])
        else:
            data[name] = pd.array(cols[name], dtype=dtype)
    data["duration"] = data["end_time"] - data["start_time"]
    frame = pd.DataFrame(data, index=index)[list(TASK_COLUMNS)]
    if not frame.index.is_unique:
        frame = frame[~frame.index.duplicated(keep="last")]
    return frame


def merge_tasks(frame: pd.DataFrame, rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Upsert task rows into ``frame`` by task id and return the result.

    Known ids are overwritten in ``frame`` itself, column by column at their positions, so the
    cost follows the number of changed rows (measured on 2 cores: 10,000 changed rows into a
    1M-row frame take ~0.1 s; rebuilding that frame from dicts takes ~3 s). Unknown ids are
    appended, which needs one concatenation (a copy). Always use the returned frame: it is
    ``frame`` itself unless rows were appended. ``rows`` may be REST dicts or a frame built by
    :func:`tasks_frame`. Columns the caller added to ``frame`` are left alone.
    """
    update = rows if isinstance(rows, pd.DataFrame) else tasks_frame(rows)
    if update.empty:
        return frame
    if frame.empty:
        return update.copy()
    positions = frame.index.get_indexer(update.index)
    known = positions >= 0
    if known.any():
        pos = positions[known]
        changed = update[known]
        for name in changed.columns.intersection(frame.columns, sort=False):
            frame.iloc[pos, frame.columns.get_loc(name)] = changed[name].array  # type: ignore[index,unused-ignore]  # some pandas-stubs lack ndarray row indexers
    if known.all():
        return frame
    return pd.concat([frame, update[~known]])


def display_states(tasks: pd.DataFrame) -> pd.Series:
    """Per task: active / preparing / running / succeeded / failed (completed split by outcome).

    A completed task counts as failed when its result is ``failure`` or it carries failureInfo,
    which catches pre-processing failures that have no exit code.
    """
    # Works on category codes: TASK_STATES and DISPLAY_STATES share their first three entries.
    codes = tasks["state"].cat.codes.to_numpy().copy()
    failed = (tasks["result"] == "failure").to_numpy(dtype=bool, na_value=False)
    failed = failed | tasks["failure_category"].notna().to_numpy()
    done = codes == TASK_STATES.index("completed")
    codes[done & failed] = DISPLAY_STATES.index("failed")
    codes[done & ~failed] = DISPLAY_STATES.index("succeeded")
    cat = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(DISPLAY_STATES))
    return pd.Series(cat, index=tasks.index, name="state")


def task_params(tasks: pd.DataFrame) -> pd.DataFrame:
    """The sweep parameters each task was made with (read from its display name), one column per
    parameter, indexed like ``tasks``; no columns when no task has parameters.

    Parsed once per distinct display name (a sweep has as many as tasks, a re-listing repeats them).
    """
    names = tasks["display_name"] if "display_name" in tasks else pd.Series([], dtype="string")
    known = names.dropna()
    if known.empty:
        return pd.DataFrame(index=tasks.index)
    parsed = {name: decode_params(name) for name in known.unique()}
    rows = [parsed[name] for name in known]
    frame = pd.DataFrame.from_records(rows, index=known.index) if any(rows) else pd.DataFrame(index=known.index)
    return frame.reindex(tasks.index).infer_objects()


def with_params(tasks: pd.DataFrame) -> pd.DataFrame:
    """``tasks`` with its sweep parameters appended as columns (``param_<name>`` where a name is
    already a column, e.g. a parameter called ``state``)."""
    params = task_params(tasks)
    if params.columns.empty:
        return tasks
    params.columns = [f"param_{c}" if c in tasks.columns else str(c) for c in params.columns]
    return tasks.join(params)


# --------------------------------------------------------------------------------------- nodes

NODE_STATES = [
    "creating", "starting", "waitingforstarttask", "starttaskfailed", "idle", "running",
    "rebooting", "reimaging", "leavingpool", "offline", "preempted", "unusable", "unknown",
    "upgradingos", "deallocating", "deallocated",
]  # fmt: skip
NODE_SELECT_FIELDS = (
    "id", "state", "schedulingState", "stateTransitionTime", "allocationTime", "isDedicated", "ipAddress",
    "runningTasksCount", "runningTaskSlotsCount", "totalTasksRun", "totalTasksSucceeded", "startTaskInfo", "errors",
)  # fmt: skip
NODE_SELECT = ",".join(NODE_SELECT_FIELDS)
NODE_COLUMNS: dict[str, Any] = {
    "state": pd.CategoricalDtype(NODE_STATES),
    "scheduling_state": pd.CategoricalDtype(["enabled", "disabled"]),
    "running_tasks": "Int64",
    "running_slots": "Int64",
    "total_tasks_run": "Int64",
    "total_succeeded": "Int64",
    # Nullable: a narrow $select (or an old API version) may leave it out, and "unknown" is not "spot".
    "is_dedicated": "boolean",
    "ip": "string",
    "allocation_time": _UTC_NS,
    "state_time": _UTC_NS,
    "start_task_state": pd.CategoricalDtype(["running", "completed"]),
    "start_task_exit_code": "Int64",
    "errors": "string",
}



def failed_tasks(tasks: pd.DataFrame) -> pd.DataFrame:
    """The rows of tasks that completed with a failure, by the rule of :func:`display_states`."""
    if tasks.empty:
        return tasks
    return tasks[display_states(tasks) == "failed"]

def _node_errors(errors: Any) -> str | None:
    if not errors:
        return None
    parts = []
    for e in errors:
        code, msg = e.get("code"), e.get("message")
        parts.append(f"{code}: {msg}" if code and msg else str(code or msg or ""))
    return "; ".join(parts)


def nodes_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Typed node frame indexed by ``node_id`` (sorted, so positions stay stable between refreshes)."""
    keys = {
        "state": "state", "scheduling_state": "schedulingState", "running_tasks": "runningTasksCount",
        "running_slots": "runningTaskSlotsCount", "total_tasks_run": "totalTasksRun",
        "total_succeeded": "totalTasksSucceeded", "is_dedicated": "isDedicated", "ip": "ipAddress",
        "allocation_time": "allocationTime", "state_time": "stateTransitionTime",
    }  # fmt: skip
    cols: dict[str, list[Any]] = {k: [] for k in ("id", *NODE_COLUMNS)}
    for row in rows:
        cols["id"].append(row["id"])
        for name, key in keys.items():
            value = row.get(key)
            cols[name].append(_lower(value) if name in ("state", "scheduling_state") else value)
        st = row.get("startTaskInfo") or {}
        cols["start_task_state"].append(_lower(st.get("state")))
        cols["start_task_exit_code"].append(st.get("exitCode"))
        cols["errors"].append(_node_errors(row.get("errors")))
    index = pd.Index(cols.pop("id"), dtype="string", name="node_id")
    data = {
        name: (_utc(cols[name]) if dtype == _UTC_NS else pd.array(cols[name], dtype=dtype))
        for name, dtype in NODE_COLUMNS.items()
    }
    frame = pd.DataFrame(data, index=index)
    frame = frame[~frame.index.duplicated(keep="last")]
    return frame.sort_index()


# ------------------------------------------------------------------------------- count history

COUNT_COLUMNS = ["active", "running", "completed", "succeeded", "failed"]


def counts_history_row(task_counts: Any, at: _dt.datetime) -> dict[str, Any]:
    """One history row from Get Task Counts.

    Accepts the REST body (``{"taskCounts": {...}, "taskSlotCounts": {...}}``), the bare counts dict,
    or an SDK model (anything with ``as_dict()``). ``at`` is stored as a UTC timestamp.
    """
    if hasattr(task_counts, "as_dict"):
        task_counts = task_counts.as_dict()
    counts = task_counts.get("taskCounts", task_counts)
    ts = pd.Timestamp(at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return {"time": ts, **{c: int(counts.get(c) or 0) for c in COUNT_COLUMNS}}


class CountsHistory:
    """Task counts over time, kept cheaply (list of tuples) and turned into a frame on demand.

    ``max_rows`` bounds memory for week-long jobs: when exceeded, every other older row is
    dropped, so the early part of the curve keeps its shape at a coarser resolution.
    """

    def __init__(self, *, max_rows: int = 20_000) -> None:
        self.max_rows = max_rows
        self._rows: list[tuple[Any, ...]] = []
        self._frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, counts: Any, at: _dt.datetime | None = None) -> None:
        row = counts_history_row(counts, at or _dt.datetime.now(_dt.UTC))
        values = tuple(row[c] for c in ("time", *COUNT_COLUMNS))
        if self._rows and self._rows[-1][0] == values[0]:
            self._rows[-1] = values
        else:
            self._rows.append(values)
        if len(self._rows) > self.max_rows:
            half = len(self._rows) // 2
            self._rows = self._rows[:half:2] + self._rows[half:]
        self._frame = None

    @property
    def frame(self) -> pd.DataFrame:
        """Index ``time`` (UTC), Int64 columns active/running/completed/succeeded/failed."""
        if self._frame is None:
            if self._rows:
                times, *values = zip(*self._rows, strict=True)
            else:
                times, values = (), [()] * len(COUNT_COLUMNS)
            index = pd.DatetimeIndex(list(times), name="time").as_unit("ns")
            if index.tz is None:
                index = index.tz_localize("UTC")
            self._frame = pd.DataFrame(
                {c: pd.array(list(v), dtype="Int64") for c, v in zip(COUNT_COLUMNS, values, strict=True)},
                index=index,
            )
        return self._frame


# ---------------------------------------------------------------------------------- utilization

UTILIZATION_COLUMNS: dict[str, Any] = {
    "time": _UTC_NS,
    "node_id": "string",
    "cpu_percent": "float64",
    "mem_percent": "float64",
    "disk_percent": "float64",
    "net_rx_bytes_per_s": "float64",
    "net_tx_bytes_per_s": "float64",
    "gpu_percent": "Float64",
    "gpu_mem_percent": "Float64",
}
# sampler JSON key -> column
_UTIL_KEYS = {
    "node_id": "node", "cpu_percent": "cpu", "mem_percent": "mem", "disk_percent": "disk",
    "net_rx_bytes_per_s": "rx", "net_tx_bytes_per_s": "tx", "gpu_percent": "gpu", "gpu_mem_percent": "gpu_mem",
}  # fmt: skip


def utilization_frame(lines: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Frame of sampler samples (see ``batchnb.node.sampler``), sorted by time, one row per sample."""
    cols: dict[str, list[Any]] = {k: [] for k in UTILIZATION_COLUMNS}
    for line in lines:
        cols["time"].append(line.get("t"))
        for name, key in _UTIL_KEYS.items():
            cols[name].append(line.get(key))
    data: dict[str, Any] = {}
    for name, dtype in UTILIZATION_COLUMNS.items():
        if dtype == _UTC_NS:
            data[name] = _utc(cols[name])
        elif dtype == "float64":
            data[name] = np.array([np.nan if v is None else v for v in cols[name]], dtype="float64")
        else:
            data[name] = pd.array(cols[name], dtype=dtype)
    frame = pd.DataFrame(data)
    return frame.sort_values(["time", "node_id"], kind="stable", ignore_index=True)
