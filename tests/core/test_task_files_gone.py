"""Task files vanish on Azure: when the task's node leaves the pool (autoscale, spot, resize) the
file API answers 409 TaskFilesUnavailable, and after the task's retention 409 TaskFilesCleanedup.
Summaries (job.failures(), wait(raise_on_failure=True), monitors' tails) must report it, not raise."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.data.watch import read_task_file_tail
from batchnb.errors import ConflictError, TaskFailedError
from batchnb.local import emulate
from tests.local.service.helpers import wait_for

pytestmark = pytest.mark.timeout(120)

FAIL = "python3 -c 'import sys; sys.stderr.write(\"boom\\n\"); sys.exit(4)'"


def test_failures_and_wait_report_files_gone_with_the_node(session, unique):
    pool = session.create_pool(batchnb.PoolSpec(f"gone-{unique}", vm_size="standard_d2s_v3", dedicated_nodes=1),
                               wait=True, timeout=60)
    try:
        job = session.create_job(f"gone-{unique}", pool=pool.id)
        job.add_tasks(batchnb.TaskSpec("bad", FAIL))
        job.wait(timeout=60, poll=0.5)
        node_id = job.failures().loc["bad", "node_id"]
        assert job.failures().loc["bad", "stderr"].strip() == "boom"

        pool.resize(dedicated_nodes=0, wait=True, timeout=60)  # the node leaves, as in a scale-down
        with pytest.raises(ConflictError) as direct:
            job.stderr("bad")
        assert direct.value.code == "TaskFilesUnavailable"

        failed = job.failures()
        assert failed.loc["bad", "stderr"] == f"[files gone with node {node_id}: TaskFilesUnavailable]"
        with pytest.raises(TaskFailedError) as info:
            job.wait(timeout=30, raise_on_failure=True)
        assert info.value.exit_code == 4 and "files gone" in info.value.stderr_tail
        note = read_task_file_tail(session.batch_client, job.id, "bad")
        assert note is not None and note.startswith("[files gone")
    finally:
        pool.delete()


def test_files_past_their_retention_are_reported_as_cleaned_up(session, pool, local_service, unique):
    emulate(local_service, clock_scale=60)  # one retention minute passes in a second
    try:
        job = session.create_job(f"retention-{unique}", pool=pool.id)
        job.add_tasks(batchnb.TaskSpec("bad", FAIL, retention=60))
        job.wait(timeout=60, poll=0.5)

        def cleaned() -> bool:
            try:
                job.stderr("bad")
            except ConflictError as exc:
                assert exc.code == "TaskFilesCleanedup"
                return True
            return False
        wait_for(cleaned, timeout=20, what="the task's retention to pass")
        assert job.failures().loc["bad", "stderr"].endswith(": TaskFilesCleanedup]")
    finally:
        emulate(local_service, clock_scale=1)
