"""A task's command line runs as a real local process, as on a Batch node (spec §4.2, §4.3)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pytest

from batchnb.local.service import node_layout
from batchnb.local.service.runtime import node_dirs
from batchnb.local.service.runtime.executor import TaskRun, run_task

pytestmark = pytest.mark.timeout(60)


def _run(run: TaskRun, **kwargs):
    return asyncio.run(run_task(run, **kwargs))


def _task(node_root: Path, make_env, command_line: str, **kwargs) -> TaskRun:
    task_dir = node_layout.task_dir(node_root, "job1", "t1")
    return TaskRun(command_line=command_line, task_dir=task_dir, env=make_env(task_dir), **kwargs)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_node_layout_has_the_real_top_level_directories(node_root: Path) -> None:
    assert sorted(p.name for p in node_root.iterdir()) == [
        "applications", "fsmounts", "shared", "startup", "volatile", "workitems"]
    assert node_layout.task_dir(node_root, "j", "t") == node_root / "workitems" / "j" / "job-1" / "t"
    assert node_layout.start_task_dir(node_root) == node_root / "startup"


def test_task_sees_batch_variables_and_user_settings_but_not_service_secrets(
    node_root: Path, make_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_SECRET", "do-not-leak")
    task_dir = node_layout.task_dir(node_root, "job1", "t1")
    user_env = [{"name": "COLOR", "value": "job"}, {"name": "SHAPE", "value": "square"},
                {"name": "COLOR", "value": "task"}, {"name": "EMPTY"}]
    run = TaskRun(
        command_line="python -c 'import json, os, sys; print(json.dumps(dict(os.environ))); print(sys.executable)'",
        task_dir=task_dir, env=make_env(task_dir, user_env),
    )
    outcome = _run(run)
    assert outcome.exit_code == 0 and outcome.failure is None and outcome.kind == "exit"
    env_line, executable = (task_dir / "stdout.txt").read_text().splitlines()
    env = json.loads(env_line)
    assert env["AZ_BATCH_TASK_DIR"] == str(task_dir)
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == str(task_dir / "wd")
    assert env["AZ_BATCH_NODE_ROOT_DIR"] == str(node_root)
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == str(node_root / "shared")
    assert env["AZ_BATCH_NODE_STARTUP_DIR"] == str(node_root / "startup")
    assert env["AZ_BATCH_NODE_MOUNTS_DIR"] == str(node_root / "fsmounts")
    assert env["AZ_BATCH_JOB_ID"] == "job1" and env["AZ_BATCH_TASK_ID"] == "t1"
    assert env["AZ_BATCH_POOL_ID"] == "pool1" and env["AZ_BATCH_NODE_ID"] == "node1"
    assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"
    assert env["AZ_BATCH_ACCOUNT_NAME"] == "acct"
    assert env["COLOR"] == "task" and env["SHAPE"] == "square" and env["EMPTY"] == ""
    assert "SERVICE_SECRET" not in env
    assert "AZ_BATCH_JOB_PREP_DIR" not in env
    # `python` is the interpreter that runs the service.
    assert os.path.realpath(executable) == os.path.realpath(sys.executable)


def test_start_task_env_has_no_job_or_task_id_and_prep_dir_is_set_for_job_tasks(node_root: Path) -> None:
    base = node_dirs.base_env(root=node_root, account_name="a", account_url="u", pool_id="p", node_id="n",
                              is_dedicated=False)
    start = node_dirs.task_env(base, task_dir=node_layout.start_task_dir(node_root), job_id=None, task_id=None,
                               job_prep_dir=None, user_env=[])
    assert "AZ_BATCH_JOB_ID" not in start and "AZ_BATCH_TASK_ID" not in start
    assert start["AZ_BATCH_TASK_WORKING_DIR"] == str(node_root / "startup" / "wd")
    assert start["AZ_BATCH_NODE_IS_DEDICATED"] == "false"
    prep = node_layout.task_dir(node_root, "j", "jobpreparation")
    task = node_dirs.task_env(base, task_dir=node_layout.task_dir(node_root, "j", "t"), job_id="j", task_id="t",
                              job_prep_dir=prep, user_env=[])
    assert task["AZ_BATCH_JOB_PREP_DIR"] == str(prep)
    assert task["AZ_BATCH_JOB_PREP_WORKING_DIR"] == str(prep / "wd")


def test_no_shell_is_involved(node_root: Path, make_env) -> None:
    run = _task(node_root, make_env, "echo $HOME '*' | wc")
    outcome = _run(run)
    assert outcome.exit_code == 0
    assert (run.task_dir / "stdout.txt").read_text() == "$HOME * | wc\n"


def test_stdout_stderr_and_cwd(node_root: Path, make_env) -> None:
    run = _task(node_root, make_env,
                "python -c \"import os, sys; print(os.getcwd()); print('oops', file=sys.stderr); open('made.txt','w')\"")
    outcome = _run(run)
    assert outcome.exit_code == 0
    assert (run.task_dir / "stdout.txt").read_text().strip() == str(run.task_dir / "wd")
    assert (run.task_dir / "stderr.txt").read_text() == "oops\n"
    assert (run.task_dir / "wd" / "made.txt").exists()
    assert outcome.start_time <= outcome.end_time


def test_log_files_exist_even_when_empty(node_root: Path, make_env) -> None:
    run = _task(node_root, make_env, "true")
    assert _run(run).exit_code == 0
    assert (run.task_dir / "stdout.txt").read_bytes() == b""
    assert (run.task_dir / "stderr.txt").read_bytes() == b""


def test_non_zero_exit_is_a_failure_exit_code(node_root: Path, make_env) -> None:
    outcome = _run(_task(node_root, make_env, "python -c 'raise SystemExit(3)'"))
    assert outcome.exit_code == 3
    assert outcome.kind == "exit"
    assert outcome.failure == {
        "category": "usererror", "code": "FailureExitCode",
        "message": "The task process exited with an unexpected exit code",
        "details": [{"name": "Message", "value": "The task process exited with an unexpected exit code"}],
    }


@pytest.mark.parametrize("command_line", ["no-such-program-xyz --flag", "./missing.sh", "''"])
def test_missing_program_is_command_program_not_found(node_root: Path, make_env, command_line: str) -> None:
    outcome = _run(_task(node_root, make_env, command_line))
    assert outcome.exit_code is None
    assert outcome.kind == "preprocessing"
    assert outcome.failure["code"] == "CommandProgramNotFound"
    assert outcome.failure["category"] == "usererror"


def test_file_without_execute_permission_is_not_found(node_root: Path, make_env) -> None:
    run = _task(node_root, make_env, "./script.sh")
    (run.task_dir / "wd").mkdir(parents=True)
    (run.task_dir / "wd" / "script.sh").write_text("#!/bin/sh\necho hi\n")
    assert _run(run).failure["code"] == "CommandProgramNotFound"
    os.chmod(run.task_dir / "wd" / "script.sh", 0o755)
    outcome = _run(run)
    assert outcome.exit_code == 0
    assert (run.task_dir / "stdout.txt").read_text() == "hi\n"


def test_unbalanced_quotes_fail_to_launch(node_root: Path, make_env) -> None:
    outcome = _run(_task(node_root, make_env, "echo 'unterminated"))
    assert outcome.exit_code is None and outcome.failure["code"] == "CommandLaunchFailed"


def test_wall_clock_limit_kills_the_process_tree(node_root: Path, make_env) -> None:
    # The task starts a grandchild that would outlive it, then both wait forever.
    script = (
        "import subprocess, time; "
        "p = subprocess.Popen(['sleep', '300']); "
        "open('child.pid', 'w').write(str(p.pid)); "
        "time.sleep(300)"
    )
    run = _task(node_root, make_env, f'python -c "{script}"', max_wall_clock_seconds=1.0)
    began = time.monotonic()
    outcome = _run(run)
    assert time.monotonic() - began < 10
    assert outcome.kind == "timeout"
    assert outcome.failure["code"] == "TaskEnded"
    assert outcome.failure["category"] == "usererror"
    assert outcome.failure["message"] == "The task exceeded its maximum wall clock time"
    assert outcome.exit_code == 128 + 15  # SIGTERM
    child = int((run.task_dir / "wd" / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while _pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pid_alive(child)


def test_sigterm_is_followed_by_sigkill(node_root: Path, make_env) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
    run = _task(node_root, make_env, f'python -c "{script}"', max_wall_clock_seconds=0.5)
    outcome = _run(run)
    assert outcome.kind == "timeout"
    assert outcome.exit_code == 128 + 9


def test_cancellation_kills_the_process(node_root: Path, make_env) -> None:
    run = _task(node_root, make_env, "sleep 300")
    started: list[int] = []

    async def scenario() -> None:
        job = asyncio.create_task(run_task(run, on_process_started=started.append))
        while not started:
            await asyncio.sleep(0.01)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    asyncio.run(scenario())
    assert len(started) == 1
    assert not _pid_alive(started[0])


def test_many_short_tasks_run_concurrently(node_root: Path, make_env) -> None:
    """The fast path: 200 `true` tasks on 8 slots finish quickly."""

    async def scenario() -> list:
        slots = asyncio.Semaphore(8)

        async def one(i: int):
            async with slots:
                task_dir = node_layout.task_dir(node_root, "job1", f"t{i}")
                return await run_task(TaskRun("true", task_dir, make_env(task_dir)))

        return await asyncio.gather(*(one(i) for i in range(200)))

    began = time.monotonic()
    outcomes = asyncio.run(scenario())
    assert all(o.exit_code == 0 for o in outcomes)
    assert time.monotonic() - began < 20
