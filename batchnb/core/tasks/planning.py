"""Planning a job's tasks from a command template and a few options: what ``%%batch tasks`` does,
callable from Python too.

    tasks = plan_tasks(session, "j1", "python3 run.py --x {x}", sweep={"x": range(1, 11)},
                       outputs="results", merge="python3 merge.py results")
    session.job("j1").add_tasks(tasks)

Everything is built and validated before anything is sent: a bad option raises a one-line
:class:`~batchnb.errors.ValidationError` naming the option and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from batchnb.core.specs.models import TaskSpec
from batchnb.core.storage import LONG_EXPIRY
from batchnb.core.tasks.sweeps import TaskList, per_file
from batchnb.core.tasks.sweeps import sweep as make_sweep
from batchnb.errors import ValidationError

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["DEFAULT_OUTPUT_PATTERN", "MERGE_INPUTS_DIR", "container_and_prefix", "plan_tasks"]

DEFAULT_OUTPUT_PATTERN = "out/**/*"
MERGE_INPUTS_DIR = "results"


def container_and_prefix(text: str, *, option: str) -> tuple[str, str]:
    """``inputs`` -> ("inputs", ""); ``inputs/data/2024`` -> ("inputs", "data/2024")."""
    container, _, prefix = text.strip().strip("/").partition("/")
    if not container:
        raise ValidationError(option, f"{text!r} names no container", fix="write CONTAINER or CONTAINER/PREFIX")
    return container, prefix


def plan_tasks(session: Session, job_id: str, template: str, *,
               sweep: Mapping[str, Iterable[Any]] | None = None, zip: bool = False,  # noqa: A002
               per_file_blobs: str | None = None, inputs: str | None = None, outputs: str | None = None,
               output_pattern: str = DEFAULT_OUTPUT_PATTERN, merge: str | None = None, merge_id: str = "merge",
               retries: int | None = None, chunk: int | None = None, id_prefix: str = "task") -> TaskList:
    """Every task one ``%%batch tasks`` cell asks for, as a :class:`TaskList` (nothing is sent).

    - ``sweep``: one task per combination of the parameter values (``zip=True``: paired instead);
    - ``per_file_blobs``: ``"CONTAINER[/PREFIX]"``, one task per blob ({name} {stem} {path} {url} {blob});
    - neither: one task, whose id is a hash of the command line (re-planning adds nothing twice);
    - ``inputs``: ``"CONTAINER[/PREFIX]"`` blobs every task downloads to its working directory;
    - ``outputs``: ``"CONTAINER[/PREFIX]"``: each task uploads ``output_pattern`` to
      ``PREFIX/<task id>/`` (PREFIX defaults to the job id), its stdout/stderr to ``.../logs``;
    - ``merge``: a task running after all others succeeded (with ``outputs``: their outputs in
      ``results/``); ``retries``: Batch retries per task; ``chunk``: items packed per task.
    """
    options: dict[str, Any] = {}
    if retries is not None:
        options["max_retries"] = retries
    resource_inputs: list[Any] = []
    if inputs:
        container, prefix = container_and_prefix(inputs, option="--inputs")
        resource_inputs = session.storage.input_files(container, prefix)
        if not resource_inputs:
            raise ValidationError("--inputs", f"{inputs}: no blobs there", fix="upload them first (%batch upload)")
        options["resource_files"] = resource_inputs
    chunk_size = chunk or 1
    if sweep and per_file_blobs:
        raise ValidationError("--sweep", "cannot be combined with --per-file", fix="give one of them")
    if zip and not sweep:
        raise ValidationError("--zip", "only applies to --sweep", fix="add --sweep NAME=VALUES or drop --zip")
    if sweep:
        tasks = make_sweep(template, mode="zip" if zip else "product", id_prefix=id_prefix, chunk_size=chunk_size,
                           params={k: list(v) for k, v in sweep.items()}, task_options=options)
    elif per_file_blobs:
        container, prefix = container_and_prefix(per_file_blobs, option="--per-file")
        blobs = session.storage.list_blobs(container, prefix)
        if not blobs:
            raise ValidationError("--per-file", f"{per_file_blobs}: no blobs there",
                                  fix="upload them first (%batch upload)")
        url = session.storage.container_sas(container, read=True, default_expiry=LONG_EXPIRY)
        tasks = per_file(template, blobs, container_url=url, id_prefix=id_prefix, chunk_size=chunk_size,
                         task_options=options)
    else:
        if chunk_size != 1:
            raise ValidationError("--chunk", "needs --sweep or --per-file", fix="drop --chunk for a single task")
        tasks = _single_task(template, id_prefix, options)

    out_container = out_prefix = None
    if outputs:
        out_container, out_prefix = container_and_prefix(outputs, option="--outputs")
        out_prefix = out_prefix or job_id
    if merge:
        merge_options: dict[str, Any] = {}
        if retries is not None:
            merge_options["max_retries"] = retries
        merge_files = list(resource_inputs)
        if out_container is not None:
            # The merge task starts after every other task succeeded: their outputs exist by then.
            merge_files.append(session.storage.input_container(out_container, f"{out_prefix}/",
                                                               file_path=MERGE_INPUTS_DIR))
        if merge_files:
            merge_options["resource_files"] = merge_files
        tasks = tasks.with_merge(merge, id=merge_id, **merge_options)
    if out_container is not None and out_prefix is not None:
        tasks = _with_outputs(tasks, session, out_container, out_prefix, output_pattern)
    return tasks


def _single_task(template: str, id_prefix: str, options: dict[str, Any]) -> TaskList:
    # Deterministic id from the command line: re-running the cell adds nothing twice.
    digest = hashlib.sha256(template.encode("utf-8")).hexdigest()[:8]
    return TaskList([TaskSpec(f"{id_prefix}-{digest}", template, **options)])


def _with_outputs(tasks: TaskList, session: Session, container: str, prefix: str, pattern: str) -> TaskList:
    """Each task uploads ``pattern`` to ``container/prefix/<task id>/`` (one SAS for all)."""
    base = session.storage.output_files(pattern, container=container, path=prefix)
    logs = session.storage.output_files("../std*.txt", container=container, path=prefix)
    rebuilt = []
    for task in tasks:
        outs = (dataclasses.replace(base, path=f"{prefix}/{task.id}"),
                dataclasses.replace(logs, path=f"{prefix}/{task.id}/logs"))
        rebuilt.append(dataclasses.replace(task, output_files=(*task.output_files, *outs)))
    return TaskList(rebuilt, params=tasks.params)
