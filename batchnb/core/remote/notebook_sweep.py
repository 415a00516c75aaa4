"""``session.run_notebook``: a notebook as a sweep, one task per parameter set, and reruns of what failed.

Blob layout in the sweep's container (default ``batchnb-notebooks``), per job::

    <job>/sweep.json                     parameter sets, and which attempt of each is current
    <job>/runner/notebook_runner.py      the node-side runner (batchnb.node.notebook_runner)
    <job>/runner/record.py               batchnb.record for nodes without batchnb
    <job>/notebook-a<k>.ipynb            the notebook of attempt k (a rerun may bring a fixed one)
    <job>/params/<set>.json              one parameter set
    <job>/out/<set>/a<k>/result.json     written by the task: records, status, the failing cell's error
    <job>/out/<set>/a<k>/output.ipynb    the executed notebook

Every resource file is read through a SAS for that one blob, and every task writes its two output
blobs through SAS tokens for exactly those blobs, so a task can neither read nor overwrite another
parameter set's results. Results are JSON, never unpickled.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchnb.core.docstrings import fill_doc
from batchnb.core.remote.job_kind import META_KIND, metadata_of_kind
from batchnb.core.specs.environment import Environment
from batchnb.core.specs.models import JobSpec, TaskSpec
from batchnb.core.specs.task_files import OutputFileSpec, ResourceFileSpec
from batchnb.core.storage import LONG_EXPIRY
from batchnb.core.validation import check_container_name, check_id
from batchnb.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

    from batchnb.core.job_handle import JobHandle
    from batchnb.core.session import Session

__all__ = ["NotebookSweep", "attach_notebook_sweep", "parameter_sets", "submit_notebook_sweep"]

KIND = "notebook-sweep"
_META_KIND = META_KIND
_META_CONTAINER = "batchnb.notebook.container"
RUNNER_COMMAND = "python3 notebook_runner.py notebook.ipynb params.json output.ipynb result.json"
# Parameter sets beyond this are almost certainly a mistake (a grid of long lists).
MAX_PARAMETER_SETS = 100_000
_READ_WORKERS = 8


# ------------------------------------------------------------------------------ parameter sets


def parameter_sets(parameters: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Parameter sets from a grid (``{"x": [1, 2], "y": "a"}``: every combination, scalars held
    fixed) or from a list of dicts (taken as they are). Names must be identifiers and values
    JSON-able: they are injected into the notebook's ``parameters`` cell by papermill."""
    if isinstance(parameters, Mapping):
        names = list(parameters)
        columns = [v if isinstance(v, (list, tuple, range)) else [v] for v in parameters.values()]
        total = math.prod(len(c) for c in columns)
        if total > MAX_PARAMETER_SETS:
            raise ValidationError("parameters", f"the grid makes {total:,} parameter sets (limit {MAX_PARAMETER_SETS:,})",
                                  fix="shorten the lists, or pass a list of dicts")
        sets = [dict(zip(names, combo)) for combo in itertools.product(*columns)]
    elif isinstance(parameters, Sequence) and not isinstance(parameters, (str, bytes)):
        sets = [dict(p) if isinstance(p, Mapping) else _not_a_dict(i, p) for i, p in enumerate(parameters)]
    else:
        raise ValidationError("parameters", f"must be a dict of lists or a list of dicts, got {type(parameters).__name__}",
                              fix="parameters={'alpha': [0.1, 0.5], 'n': [10, 100]}")
    if not sets:
        raise ValidationError("parameters", "gives no parameter set", fix="give at least one value for each name")
    for i, one in enumerate(sets):
        for name, value in one.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValidationError("parameters", f"name {name!r} is not a Python identifier",
                                      fix="use names the notebook's parameters cell defines")
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise ValidationError(f"parameters[{i}][{name!r}]", f"{type(value).__name__} value is not JSON-able",
                                      fix="pass numbers, strings, lists or dicts (load big inputs inside the notebook)") from None
    return sets


def _not_a_dict(index: int, value: Any) -> dict[str, Any]:
    raise ValidationError(f"parameters[{index}]", f"is a {type(value).__name__}, not a dict",
                          fix="a list of parameter sets is a list of dicts: [{'x': 1}, {'x': 2}]")


# ------------------------------------------------------------------------------------ submitting


def _node_file(name: str) -> bytes:
    return resources.files("batchnb.node").joinpath(name).read_bytes()


def _read_notebook(path: str | Path) -> bytes:
    source = Path(path)
    if source.suffix != ".ipynb":
        raise ValidationError("path", f"{str(source)!r} is not a .ipynb file", fix="give the notebook's path")
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise ValidationError("path", f"{str(source)!r} does not exist", fix="check the notebook's path") from None
    try:
        cells = json.loads(data)["cells"]
    except (ValueError, KeyError, TypeError):
        raise ValidationError("path", f"{str(source)!r} is not a Jupyter notebook", fix="give a .ipynb file") from None
    if not any("parameters" in (c.get("metadata", {}).get("tags") or []) for c in cells):
        # papermill would inject at the top, where the notebook's own defaults then overwrite them.
        raise ValidationError("path", f"{source.name!r} has no cell tagged 'parameters'",
                              fix="tag the cell that sets the defaults 'parameters' (View > Cell Toolbar > Tags)")
    return data


def _default_job_id(path: str | Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(path).stem).strip("-") or "notebook"
    return f"nb-{stem[:24]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


@dataclass
class _Layout:
    job_id: str

    def notebook(self, attempt: int) -> str:
        return f"{self.job_id}/notebook-a{attempt}.ipynb"

    def params(self, index: int) -> str:
        return f"{self.job_id}/params/{index:05d}.json"

    def out(self, index: int, attempt: int, name: str) -> str:
        return f"{self.job_id}/out/{index:05d}/a{attempt}/{name}"

    @property
    def sweep(self) -> str:
        return f"{self.job_id}/sweep.json"

    @property
    def runner(self) -> str:
        return f"{self.job_id}/runner/notebook_runner.py"

    @property
    def record(self) -> str:
        return f"{self.job_id}/runner/record.py"


def task_id_for(index: int, attempt: int) -> str:
    return f"nb-{index:05d}" if attempt == 0 else f"nb-{index:05d}-r{attempt}"


def submit_notebook_sweep(session: Session, path: str | Path, *, parameters: Any, pool: str, job_id: str | None,
                          container: str, max_retries: int,
                          environment: Environment | str | None = "auto") -> NotebookSweep:
    from batchnb.core.remote.map_environment import resolve_notebook_environment

    sets = parameter_sets(parameters)
    notebook = _read_notebook(path)
    try:
        pool_info = session.get_pool(pool)
    except NotFoundError:
        pool_info = None  # the job creation below names the missing pool
    env = resolve_notebook_environment(environment, notebook=notebook, pool_id=pool, pool_info=pool_info)
    check_container_name(container)
    job_id = job_id or _default_job_id(path)
    check_id(job_id, field="job_id")
    layout = _Layout(job_id)
    storage = session.storage
    storage.create_container(container)
    # The job first: a pool or job-id mistake fails before anything is uploaded.
    spec = JobSpec(job_id, pool=pool, max_task_retries=max_retries,
                   metadata={_META_KIND: KIND, _META_CONTAINER: container})
    job = session.create_job(spec, exist_ok=False)
    state = {"notebook": Path(path).name, "parameters": sets, "attempts": [0] * len(sets), "notebooks": {"0": 0},
             "jobs": [job_id] * len(sets)}
    if env is not None:
        state["environment"] = env.to_metadata()
    blobs = {layout.runner: _node_file("notebook_runner.py"), layout.record: _node_file("record.py"),
             layout.notebook(0): notebook, layout.sweep: json.dumps(state).encode()}
    blobs.update({layout.params(i): json.dumps(p).encode() for i, p in enumerate(sets)})
    _upload_all(session, container, blobs)
    sweep = NotebookSweep(session, job_id, container=container, state=state)
    job.add_tasks([sweep._task(i, 0, notebook_attempt=0) for i in range(len(sets))])
    return sweep


def _upload_all(session: Session, container: str, blobs: Mapping[str, bytes]) -> None:
    storage = session.storage
    with ThreadPoolExecutor(max_workers=_READ_WORKERS, thread_name_prefix="batchnb-nb-put") as pool:
        list(pool.map(lambda kv: storage.upload_bytes(kv[1], container=container, blob=kv[0]), blobs.items()))


def attach_notebook_sweep(session: Session, job_id: str) -> NotebookSweep:
    meta = metadata_of_kind(session, job_id, KIND, made_by="session.run_notebook()", code="batchnb.NotANotebookSweep",
                            fix="use session.job(job_id) for ordinary jobs, session.map_result for map jobs")
    container = meta[_META_CONTAINER]
    state = json.loads(session.storage.read_bytes(container, _Layout(job_id).sweep))
    return NotebookSweep(session, job_id, container=container, state=state)


# ------------------------------------------------------------------------------------- the sweep


class NotebookSweep:
    """One notebook run once per parameter set. Re-attach after a kernel restart with
    ``session.notebook_sweep(job_id)``.

    ``results()`` gives one row per parameter set (parameters, recorded values, status, duration
    and the failing cell's error), ``notebook(i)`` / ``html(i)`` the executed notebook, and
    ``rerun()`` resubmits only the sets that failed or left no result. Made by
    :meth:`Session.run_notebook` and :meth:`Session.notebook_sweep`, not directly.

    Parameters
    ----------
    session : Session
        The session the sweep runs in.
    job_id : str
        The sweep's job id.
    container : str
        The blob container holding the notebook, parameters and results.
    state : dict
        The sweep's stored state (parameter sets, attempts).
    """

    def __init__(self, session: Session, job_id: str, *, container: str, state: dict[str, Any]) -> None:
        self.session = session
        self.job_id = job_id
        self.container = container
        self._state = state
        self._layout = _Layout(job_id)

    @property
    def parameters(self) -> list[dict[str, Any]]:
        """The parameter sets, in order (set ``i`` is row ``i`` of ``results()``)."""
        return list(self._state["parameters"])

    @property
    def job(self) -> JobHandle:
        """A handle on the sweep's job."""
        return self.session.job(self.job_id)

    def _job_ids(self) -> list[str]:
        """The sweep's job and, after reruns on another pool, theirs (a job's pool cannot change)."""
        return list(dict.fromkeys([self.job_id, *self._state.get("jobs", [])]))

    def __len__(self) -> int:
        return len(self._state["parameters"])

    # ----------------------------------------------------------------------------- tasks
    def _task(self, index: int, attempt: int, *, notebook_attempt: int) -> TaskSpec:
        storage, layout, c = self.session.storage, self._layout, self.container

        def read(blob: str, file_path: str) -> ResourceFileSpec:
            # 7 days (capped under Entra ID), like map(): a set can wait in the queue for days.
            return ResourceFileSpec(http_url=storage.blob_sas(c, blob, read=True, default_expiry=LONG_EXPIRY),
                                    file_path=file_path)

        def write(name: str) -> OutputFileSpec:
            blob = layout.out(index, attempt, name)
            # A SAS for this one blob: the task cannot touch another set's results.
            token = storage.blob_sas(c, blob, read=False, write=True, create=True,
                                     default_expiry=LONG_EXPIRY).split("?", 1)[1]
            return OutputFileSpec(file_pattern=name, container_url=f"{storage.url}/{c}?{token}", path=blob,
                                  upload_condition="taskcompletion")

        command, variables = RUNNER_COMMAND, {}
        env = Environment.from_metadata(self._state["environment"]) if self._state.get("environment") else None
        if env is not None:
            # Installed by the first task on each node that needs it; its python3 runs the notebook.
            from batchnb.core.remote.uv_staging import uv_variables

            command, variables = env.command(RUNNER_COMMAND), {**env.variables(), **uv_variables(self.session)}
        return TaskSpec(task_id_for(index, attempt), command,
                        resource_files=[read(layout.runner, "notebook_runner.py"), read(layout.record, "record.py"),
                                        read(layout.notebook(notebook_attempt), "notebook.ipynb"),
                                        read(layout.params(index), "params.json")],
                        output_files=[write("result.json"), write("output.ipynb")],
                        environment={"BATCHNB_SWEEP_SET": str(index), **variables})

    # ----------------------------------------------------------------------------- waiting
    @fill_doc
    def wait(self, *, timeout: float | None = None, poll: float = 1.0) -> NotebookSweep:
        """Block until every parameter set's task has finished (failed ones included).

        Parameters
        ----------
        %(poll_params)s

        Returns
        -------
        NotebookSweep
            This sweep.

        Raises
        ------
        batchnb.errors.BatchTimeoutError
            Not finished within ``timeout`` seconds (the tasks keep running).
        """
        from batchnb.core.transport import Deadline

        deadline = Deadline(timeout)
        for job_id in self._job_ids():
            self.session.job(job_id).wait(timeout=deadline.remaining(), poll=poll)
        return self

    def monitor(self) -> Any:
        """The job's live monitor (failures show the failing cell's error in their stderr).

        Returns
        -------
        JobMonitor
            The widget.
        """
        return self.job.monitor()

    # ----------------------------------------------------------------------------- results
    def _result(self, index: int) -> dict[str, Any] | None:
        attempt = self._state["attempts"][index]
        try:
            return json.loads(self.session.storage.read_bytes(self.container, self._layout.out(index, attempt, "result.json")))
        except NotFoundError:
            return None

    def _task_states(self) -> dict[str, dict[str, Any]]:
        return {row["id"]: row for job_id in self._job_ids()
                for row in self.session.job(job_id)._list_task_rows(["id", "state", "executionInfo"], None)}

    def results(self) -> pd.DataFrame:
        """The sweep's outcome, one row per parameter set.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``set``: its parameters, every recorded value, ``status`` (succeeded /
            failed / running / active), ``duration`` (s), ``error_type``, ``error_message``,
            ``error_cell`` and ``error_traceback`` (the traceback's end), ``task_id`` and
            ``attempt``.
        """
        import pandas as pd

        n = len(self)
        with ThreadPoolExecutor(max_workers=_READ_WORKERS, thread_name_prefix="batchnb-nb-get") as pool:
            found = list(pool.map(self._result, range(n)))
        states = self._task_states() if any(r is None for r in found) else {}
        rows = []
        for index, (params, result) in enumerate(zip(self._state["parameters"], found)):
            attempt = self._state["attempts"][index]
            row: dict[str, Any] = {"set": index, **params}
            if result is not None:
                for name, rec in (result.get("records") or {}).items():
                    row[name] = _record_value(rec)
                error = result.get("error") or {}
                row.update(status=result.get("status"), duration=result.get("duration"))
            else:
                task = states.get(task_id_for(index, attempt), {})
                info = task.get("executionInfo") or {}
                failure = info.get("failureInfo") or {}
                done = task.get("state") == "completed"
                error = {"type": failure.get("code") or ("TaskFailed" if done else None),
                         "message": failure.get("message") or ("the task left no result" if done else None)}
                row.update(status="failed" if done else task.get("state", "missing"), duration=None)
            row.update(error_type=error.get("type"), error_message=error.get("message"),
                       error_cell=error.get("cell"), error_traceback=error.get("traceback"),
                       task_id=task_id_for(index, attempt), attempt=attempt)
            rows.append(row)
        frame = pd.DataFrame(rows).set_index("set")
        frame["status"] = frame["status"].astype("category")
        frame["error_cell"] = frame["error_cell"].astype("Int64")  # a cell number, or <NA>
        return frame

    @fill_doc
    def notebook(self, index: int) -> Any:
        """The executed notebook of one parameter set.

        %(sweep_set_param)s

        Returns
        -------
        nbformat.NotebookNode
            The notebook with its outputs.

        %(sweep_output_raises)s
        """
        import nbformat

        data = self._output(index, "output.ipynb")
        return nbformat.reads(data.decode("utf-8"), as_version=4)

    @fill_doc
    def html(self, index: int) -> str:
        """The executed notebook of one parameter set as HTML (nbconvert).

        %(sweep_set_param)s

        Returns
        -------
        str
            The HTML.

        %(sweep_output_raises)s
        """
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(self.notebook(index))
        return body

    def _output(self, index: int, name: str) -> bytes:
        if not 0 <= index < len(self):
            raise ValidationError("index", f"{index} is not a parameter set of this sweep (0..{len(self) - 1})",
                                  fix="see sweep.results().index")
        try:
            return self.session.storage.read_bytes(self.container, self._layout.out(index, self._state["attempts"][index], name))
        except NotFoundError:
            raise NotFoundError(f"parameter set {index} has no executed notebook yet (job {self.job_id!r})",
                                fix="wait() first; a set that failed before its notebook started has none") from None

    # ----------------------------------------------------------------------------- rerun
    def rerun(self, *, failed: bool = True, missing: bool = True, notebook: str | Path | None = None,
              pool: str | None = None, wait: bool = False, timeout: float | None = None) -> list[int]:
        """Resubmit only the parameter sets that failed or left no result.

        ``results()`` still reads the whole sweep, the newest attempt of each set.

        Parameters
        ----------
        failed : bool
            Rerun the sets that failed.
        missing : bool
            Rerun the sets that left no result.
        notebook : str or pathlib.Path, optional
            A fixed notebook to run instead.
        pool : str, optional
            Send the reruns to a new job on this pool (a job's pool cannot change).
        wait : bool
            Wait until they have finished.
        timeout : float, optional
            Seconds to wait.

        Returns
        -------
        list of int
            The parameter sets resubmitted.
        """
        frame = self.results()
        pending = ("succeeded", "failed", "running", "active", "preparing")
        chosen = [index for index, status in enumerate(frame["status"])
                  if (failed and status == "failed") or (missing and status not in pending)]
        if not chosen:
            return []
        blobs: dict[str, bytes] = {}
        notebook_attempt = max(self._state["notebooks"].values())
        if notebook is not None:
            notebook_attempt = max(max(self._state["attempts"]) + 1, notebook_attempt + 1)
            blobs[self._layout.notebook(notebook_attempt)] = _read_notebook(notebook)
        attempts = list(self._state["attempts"])
        for index in chosen:
            attempts[index] = max(attempts[index] + 1, notebook_attempt)
        jobs = list(self._state.get("jobs") or [self.job_id] * len(self))
        target = self.job
        if pool is not None:
            rerun_job = f"{self.job_id[:56]}-r{max(attempts)}"
            target = self.session.create_job(JobSpec(rerun_job, pool=pool, metadata={
                _META_KIND: KIND + "-rerun", _META_CONTAINER: self.container}), exist_ok=True)
            for index in chosen:
                jobs[index] = rerun_job
        state = {**self._state, "attempts": attempts, "jobs": jobs,
                 "notebooks": {**self._state["notebooks"], str(notebook_attempt): notebook_attempt}}
        tasks = [self._task(i, attempts[i], notebook_attempt=notebook_attempt) for i in chosen]
        blobs[self._layout.sweep] = json.dumps(state).encode()
        _upload_all(self.session, self.container, blobs)
        # Tasks first would leave results() reading stale attempts; state first leaves "missing" rows at worst.
        self._state = state
        target.add_tasks(tasks)
        if wait:
            self.wait(timeout=timeout)
        return chosen

    # ----------------------------------------------------------------------------- display
    def __repr__(self) -> str:
        return f"NotebookSweep(job_id={self.job_id!r}, notebook={self._state['notebook']!r}, sets={len(self)})"

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(repr(self))}</code>"


def _record_value(rec: Mapping[str, Any]) -> Any:
    if rec.get("kind") == "dataframe":
        import pandas as pd

        value = rec["value"]
        return pd.DataFrame(value["data"], index=value["index"], columns=value["columns"])
    return rec.get("value")
