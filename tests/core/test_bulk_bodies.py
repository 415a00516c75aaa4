"""The fast submission path sends what the SDK would have sent, and sweeps keep their task ids.

Bulk add builds each task's REST body once, sharing the converted options of a sweep's tasks,
and sweep() validates shared options once; neither may change a byte of what reaches Batch,
nor a task id (re-running a cell must find the tasks it added before, even across versions).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from azure.batch import models as bm

import batchnb
from batchnb.core.specs.models import TaskSpec, sdk_task_size
from batchnb.core.tasks.bulk import _as_body, _sdk_json
from batchnb.core.tasks.task_params import encode_params
from batchnb.errors import ValidationError

SAS = "https://acct.blob.core.windows.net/c?sv=x&sig=y"

SPECS = [
    TaskSpec("plain", "true"),
    TaskSpec("opts", "python3 run.py", display_name="Ünï", environment={"A": "1", "B": ""}, max_retries=2,
             max_wall_clock=dt.timedelta(minutes=5), retention=3600, required_slots=2,
             resource_files=["https://acct.blob.core.windows.net/c/in.txt?sv=x&sig=y"],
             output_files=[batchnb.OutputFileSpec("out/*.txt", container_url=SAS, path="results")],
             app_packages=["tool:1.0"]),
    TaskSpec("deps", "true", depends_on=["plain", range(1, 4)]),
    TaskSpec("exit", "true", exit_conditions={"satisfy_on": [3]}),
    TaskSpec("container", "true", container_image="python:3.11-slim"),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_a_task_body_is_the_sdk_serialisation_and_its_size_the_sdk_measure(spec: TaskSpec) -> None:
    shared: dict = {}
    task_id, body, size = _as_body(spec, shared)
    assert task_id == spec.id
    assert body == _sdk_json(spec.to_sdk())
    assert size == sdk_task_size(spec.to_sdk()) + 2
    # A second task with the same options reuses the converted options and still gets its own fields.
    sibling = spec.replace(id=spec.id + "-2", command_line="echo other")
    assert _as_body(sibling, shared)[1] == _sdk_json(sibling.to_sdk())


def test_sdk_models_and_unknown_items_are_handled_as_before() -> None:
    model = bm.BatchTaskCreateOptions(id="m", command_line="true", required_slots=1)
    assert _as_body(model, {})[1] == {"id": "m", "commandLine": "true", "requiredSlots": 1}
    with pytest.raises(ValidationError, match="tasks"):
        _as_body("not a task", {})


def test_sweep_ids_are_what_earlier_versions_made() -> None:
    # Pinned from the release before the fast path: the hash covers the template and the values.
    tasks = batchnb.sweep("python3 run.py --lr {lr} --seed {seed:03d} {name!q}", lr=[0.1, 1e-3], seed=range(2),
                          name=["a b"])
    assert tasks.ids == ["task-00000-1903c79c", "task-00001-b1591eec", "task-00002-1a017cb4", "task-00003-a9957303"]
    chunked = batchnb.sweep("x {a} {b}", a=[1, 1.0, True, None, "é"], b=[(1, 2)], chunk_size=2)
    assert chunked.ids == ["task-00000-cf4380f1", "task-00001-7a627aaa", "task-00002-96885879"]
    files = batchnb.per_file("convert {name!q}", ["d/a 1.txt", "b.txt"], container_url=SAS)
    assert files.ids == ["file-00000-ea6b8ca4", "file-00001-06c6daca"]


def test_sweep_tasks_equal_tasks_built_one_by_one() -> None:
    options = {"environment": {"K": "v"}, "max_retries": 1, "output_files": [
        batchnb.OutputFileSpec("*.log", container_url=SAS)]}
    tasks = batchnb.sweep("python3 run.py {n}", n=range(3), id_style="index", task_options=options)
    for task, n in zip(tasks, range(3), strict=True):
        # The one-by-one task carries the sweep's parameters as its display name too (task_params).
        assert task == TaskSpec(task.id, f"python3 run.py {n}", display_name=encode_params({"n": n}), **options)
    files = batchnb.per_file("cat {path!q}", ["a.txt", "b/c.txt"], container_url=SAS, id_style="index")
    assert [len(t.resource_files) for t in files] == [1, 1]
    assert files[1].resource_files[0].file_path == "b/c.txt"


def test_a_bad_id_or_command_in_a_sweep_is_still_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="command_line"):
        batchnb.sweep("{cmd}", cmd=["true", "   "])
    with pytest.raises(ValidationError, match="id_prefix"):
        batchnb.sweep("run {x}", x=[1], id_prefix="bad prefix")


def test_a_body_is_plain_json() -> None:
    body = _as_body(SPECS[1], {})[1]
    assert json.loads(json.dumps(body)) == body
