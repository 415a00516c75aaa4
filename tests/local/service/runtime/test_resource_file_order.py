"""Several resource files of one task download at once, yet the task sees them as if in order:
every file arrives, the first failing one (in the task's order) is the one reported, and of two
files with the same target the later one wins."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from batchnb.local.service import node_layout
from batchnb.local.service.runtime.executor import TaskRun, run_task

pytestmark = pytest.mark.timeout(60)


def _run(node_root: Path, make_env, resource_files: list[dict]):
    task_dir = node_layout.task_dir(node_root, "job1", "t1")
    run = TaskRun(command_line="true", task_dir=task_dir, env=make_env(task_dir), resource_files=resource_files)
    return run, asyncio.run(run_task(run))


def test_every_file_arrives_with_its_own_content(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    names = [f"in/{i}.bin" for i in range(6)]
    for i, name in enumerate(names):
        azurite.put(container, name, bytes([i]) * (1000 + i))
    run, outcome = _run(node_root, make_env, [{"httpUrl": azurite.blob_sas_url(container, name), "filePath": name}
                                              for name in names])
    assert outcome.failure is None and outcome.exit_code == 0
    for i, name in enumerate(names):
        assert (run.task_dir / "wd" / name).read_bytes() == bytes([i]) * (1000 + i)


def test_the_first_failing_file_in_the_tasks_order_is_reported(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    azurite.put(container, "ok.txt", b"ok")
    resources = [{"httpUrl": azurite.blob_sas_url(container, "ok.txt"), "filePath": "ok.txt"},
                 {"httpUrl": azurite.blob_sas_url(container, "first-missing.txt"), "filePath": "first-missing.txt"},
                 {"httpUrl": azurite.blob_sas_url(container, "also-missing.txt", permission="w"),
                  "filePath": "also-missing.txt"}]
    _, outcome = _run(node_root, make_env, resources)
    assert outcome.kind == "preprocessing" and outcome.exit_code is None
    assert outcome.failure["code"] == "BlobNotFound"  # not the later file's BlobAccessDenied
    paths = [d["value"] for d in outcome.failure["details"] if d["name"] == "FilePath"]
    assert paths and paths[0].endswith("first-missing.txt")


def test_of_two_files_with_one_target_the_later_wins(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    azurite.put(container, "old.txt", b"old")
    azurite.put(container, "new.txt", b"new")
    azurite.put(container, "other.txt", b"other")
    run, outcome = _run(node_root, make_env, [
        {"httpUrl": azurite.blob_sas_url(container, "old.txt"), "filePath": "data/x.txt"},
        {"httpUrl": azurite.blob_sas_url(container, "other.txt"), "filePath": "other.txt"},
        {"httpUrl": azurite.blob_sas_url(container, "new.txt"), "filePath": "./data//x.txt"},
    ])
    assert outcome.failure is None
    assert (run.task_dir / "wd" / "data" / "x.txt").read_bytes() == b"new"
