"""Pools, jobs and tasks through the real local service: the notebook workflow end to end."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.errors import BatchTimeoutError, ConflictError, NotFoundError, TaskFailedError, ValidationError

pytestmark = pytest.mark.timeout(120)


def _sweep():
    return batchnb.sweep("python3 -c 'print({x} * {y})'", x=range(10), y=[1, 2])


def test_rerunning_the_same_cell_adds_no_duplicates(session, pool, unique):
    job = session.create_job(f"rerun-{unique}", pool=pool.id)
    first = job.add_tasks(_sweep())
    # The same cell again: create_job re-attaches, add_tasks finds every task already there.
    job = session.create_job(f"rerun-{unique}", pool=pool.id)
    second = job.add_tasks(_sweep())
    assert len(first.added) == 20 and not first.already_existed
    assert not second.added and len(second.already_existed) == 20
    counts = job.wait(timeout=60)
    assert counts["completed"] == 20 and counts["succeeded"] == 20
    frame = job.tasks()
    assert len(frame) == 20 and frame.index.is_unique
    outputs = {job.stdout(task_id).strip() for task_id in frame.index}
    assert outputs == {str(x * y) for x in range(10) for y in (1, 2)}


def test_failing_tasks_show_failure_code_exit_code_and_stderr(session, pool, unique):
    job = session.create_job(f"fail-{unique}", pool=pool.id)
    job.add_tasks([
        batchnb.TaskSpec("ok", "python3 -c 'print(1)'"),
        batchnb.TaskSpec("bad", "python3 -c 'import sys; sys.stderr.write(\"disk on fire\\n\"); sys.exit(3)'"),
    ])
    counts = job.wait(timeout=60)
    assert counts["failed"] == 1 and counts["succeeded"] == 1
    frame = job.tasks()
    assert frame.loc["bad", "failure_code"] == "FailureExitCode"
    assert frame.loc["bad", "exit_code"] == 3
    assert frame.loc["ok", "result"] == "success"
    assert "disk on fire" in job.stderr("bad")
    failures = job.failures()
    assert list(failures.index) == ["bad"] and "disk on fire" in failures.loc["bad", "stderr"]
    with pytest.raises(TaskFailedError) as info:
        job.wait(timeout=10, raise_on_failure=True)
    assert info.value.task_id == "bad" and info.value.failure_code == "FailureExitCode"
    assert info.value.exit_code == 3 and "disk on fire" in info.value.stderr_tail


def test_stdout_tail_reads_only_the_end(session, pool, unique):
    job = session.create_job(f"tail-{unique}", pool=pool.id)
    job.add_tasks(batchnb.TaskSpec("t", "python3 -c \"print('a' * 5000 + 'THE-END')\""))
    job.wait(timeout=60)
    whole = job.stdout("t")
    assert len(whole) == 5008
    assert job.stdout("t", tail=8) == "THE-END\n"


def test_reattach_by_id_gives_the_same_view(session, pool, unique):
    job = session.create_job(f"attach-{unique}", pool=pool.id)
    job.add_tasks(batchnb.sweep("python3 -c 'print({n})'", n=range(5)))
    job.wait(timeout=60)
    # A fresh session is what a kernel restart leaves you with.
    fresh = batchnb.connect("local", state_dir=str(session.local_service.state_dir))
    again = fresh.job(job.id)
    assert again.pool_id == pool.id
    assert again.task_counts() == job.task_counts()
    assert again.tasks()[["state", "exit_code"]].equals(job.tasks()[["state", "exit_code"]])
    with pytest.raises(NotFoundError) as info:
        fresh.job(f"nope-{unique}")
    assert info.value.code == "JobNotFound"
    fresh.close()


def test_retry_failed_reactivates_failed_tasks(session, pool, unique, tmp_path):
    flag = tmp_path / "flag"
    # Fails the first time (creates the flag), succeeds on the retry.
    command = (f"python3 -c \"import os,sys; p={str(flag)!r}; ok=os.path.exists(p); open(p,'w').close(); "
               "sys.exit(0 if ok else 1)\"")
    job = session.create_job(f"retry-{unique}", pool=pool.id)
    job.add_tasks(batchnb.TaskSpec("flaky", command))
    assert job.wait(timeout=60)["failed"] == 1
    assert job.retry_failed() == ["flaky"]
    counts = job.wait(timeout=60)
    assert counts["succeeded"] == 1 and counts["failed"] == 0


def test_wait_times_out_with_a_clear_error(session, pool, unique):
    job = session.create_job(f"slow-{unique}", pool=pool.id)
    job.add_tasks(batchnb.TaskSpec("sleepy", "python3 -c 'import time; time.sleep(30)'"))
    with pytest.raises(BatchTimeoutError) as info:
        job.wait(timeout=0.5, poll=0.1)
    assert "sleepy" not in str(info.value) and job.id in str(info.value)
    job.terminate(wait=True, timeout=30)
    assert job.state == "completed"
    job.delete(wait=True, timeout=30)
    assert job.id not in session.list_jobs().index


def test_create_job_on_another_pool_conflicts(session, pool, unique):
    session.create_job(f"conf-{unique}", pool=pool.id)
    with pytest.raises(ConflictError) as info:
        session.create_job(f"conf-{unique}", pool="other-pool")
    assert "other-pool" in str(info.value)
    with pytest.raises(ConflictError):
        session.create_job(f"conf-{unique}", pool=pool.id, exist_ok=False)


def test_pool_lifecycle_create_resize_nodes_delete(session, unique):
    spec = batchnb.PoolSpec(f"life-{unique}", vm_size="standard_d2s_v3", dedicated_nodes=1)
    pool = session.create_pool(spec, wait=True, timeout=60)
    assert len(pool.nodes()) == 1 and set(pool.nodes()["state"]) <= {"idle", "running"}
    pool.resize(dedicated_nodes=3, wait=True, timeout=60)
    nodes = pool.nodes()
    assert len(nodes) == 3 and set(nodes["state"]) == {"idle"}
    listed = session.list_pools()
    assert listed.loc[pool.id, "dedicated"] == 3 and listed.loc[pool.id, "vm_size"] == "standard_d2s_v3"
    # Re-running the creating cell is harmless; a different VM size is not silently accepted.
    assert session.create_pool(spec).id == pool.id
    with pytest.raises(ConflictError):
        session.create_pool(batchnb.PoolSpec(pool.id, vm_size="standard_d4s_v3", dedicated_nodes=1))
    pool.delete(wait=True, timeout=60)
    assert not pool.exists()
    session.delete_pool(pool.id)  # deleting what is gone is not an error


def test_validation_happens_before_any_request(session):
    with pytest.raises(ValidationError) as info:
        session.create_job("bad id!", pool="p")
    assert info.value.field == "job.id"
    with pytest.raises(ValidationError):
        session.resize_pool("p", dedicated_nodes=-1)


def test_task_wider_than_a_node_is_refused_before_anything_is_added(session, pool, unique):
    job = session.create_job(f"wide-{unique}", pool=pool.id)
    wide = batchnb.TaskSpec("wide", "python3 -c 'print(1)'", required_slots=8)  # the pool's nodes have 4
    with pytest.raises(ValidationError) as info:
        job.add_tasks([batchnb.TaskSpec("narrow", "python3 -c 'print(1)'"), wide])
    message = str(info.value)
    assert "required_slots" in message and "4" in message and "\n" not in message
    assert job.task_counts()["active"] + job.task_counts()["completed"] == 0  # nothing was sent
    fits = job.add_tasks([batchnb.TaskSpec("fits", "python3 -c 'print(1)'", required_slots=4)])
    assert fits.added == ["fits"]
