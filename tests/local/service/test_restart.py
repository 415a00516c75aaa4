"""SIGKILL the service mid-job and start it again on the same state dir and port: everything it
acknowledged is still there, and tasks that were running are requeued and finish."""

from __future__ import annotations

import pytest
from azure.batch import models as m

from .bare_server import BareServer
from .helpers import make_job, make_pool, py, task, wait_for, wait_task

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


def test_sigkill_mid_job_loses_nothing_acknowledged(tmp_path) -> None:
    (tmp_path / "state").mkdir()
    server = BareServer(tmp_path / "state").start()
    try:
        with server.client() as client:
            pool_id = make_pool(client, "restart-pool", dedicated=1, slots=2,
                                metadata=[m.BatchMetadataItem(name="k", value="v")])
            idle_pool = make_pool(client, "empty-pool", dedicated=0)
            job_id = make_job(client, pool_id, "restart-job")
            client.create_tasks(job_id, [task("quick", "true")])
            wait_task(client, job_id, "quick")
            client.create_tasks(job_id, [task(f"t{i}", py("import time; time.sleep(1.2)")) for i in range(4)])
            wait_for(lambda: client.get_job_task_counts(job_id).task_counts.running == 2, what="2 running")
            running = {t.id for t in client.list_tasks(job_id, filter="state eq 'running'")}
            client.create_task(job_id, task("last-ack", "true"))  # acknowledged just before the crash
            deps = make_job(client, pool_id, "deps-job", uses_task_dependencies=True)
            client.create_task(deps, task("child", "true", depends_on=m.BatchTaskDependencies(task_ids=["parent"])))
            client.create_task(deps, task("parent", py("import time; time.sleep(0.5)")))
            etag = client.get_job(job_id).etag
        port = server.port
        server.kill()
        server.start()
        assert server.port == port
        with server.client() as client:
            assert {p.id for p in client.list_pools()} == {pool_id, idle_pool}
            assert client.get_pool(pool_id).metadata[0].value == "v"
            job = client.get_job(job_id)
            assert job.state == "active" and job.etag == etag
            assert {t.id for t in client.list_tasks(job_id)} == {"quick", "last-ack", "t0", "t1", "t2", "t3"}
            assert client.get_task(job_id, "quick").state == "completed"
            for task_id in running:
                info = client.get_task(job_id, task_id).execution_info
                assert info.requeue_count == 1 and info.retry_count == 0
            wait_for(lambda: client.get_job_task_counts(job_id).task_counts.succeeded == 6, timeout=40,
                     what="all tasks succeeded after the restart")
            for task_id in running:
                t = client.get_task(job_id, task_id)
                assert t.execution_info.exit_code == 0 and t.execution_info.requeue_count == 1
            child = wait_task(client, deps, "child", timeout=20)
            assert child.execution_info.start_time >= client.get_task(deps, "parent").execution_info.end_time
            assert [n.state for n in client.list_nodes(pool_id)] == ["idle"]
            counts = client.get_job_task_counts(job_id).task_counts
            assert (counts.active, counts.running, counts.completed) == (0, 0, 6)
    finally:
        server.stop()


def test_processes_of_a_killed_service_do_not_run_on(tmp_path) -> None:
    """The requeued task runs again; the copy the dead service started must not keep running beside it."""
    (tmp_path / "state").mkdir()
    pids = tmp_path / "pids"
    pids.mkdir()
    server = BareServer(tmp_path / "state").start()
    code = f"import os, time; open({str(pids)!r} + '/' + str(os.getpid()), 'w').close(); time.sleep(30)"
    try:
        with server.client() as client:
            pool_id = make_pool(client, "p", dedicated=1)
            job_id = make_job(client, pool_id, "j")
            client.create_task(job_id, task("sleeper", py(code)))
            wait_for(lambda: list(pids.iterdir()), what="first run started")
            first = int(next(pids.iterdir()).name)
        server.kill()
        server.start()
        with server.client() as client:
            wait_for(lambda: len(list(pids.iterdir())) == 2, what="second run started")
            wait_for(lambda: not _alive(first), timeout=5, what="orphan of the killed service gone")
            assert client.get_task(job_id, "sleeper").execution_info.requeue_count == 1
            client.terminate_task(job_id, "sleeper")
    finally:
        server.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False
