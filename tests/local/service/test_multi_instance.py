"""Multi-instance tasks: instances on distinct nodes, the coordination command on each, the primary's
command after them, the AZ_BATCH_* variables, subtasks, and instances that talk over loopback TCP
(rank 0 gathers from the others, as an MPI job's master does)."""

from __future__ import annotations

import os

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import POLL, error_code, make_job, make_pool, py, stdout, task, uid, wait_for, wait_task

pytestmark = pytest.mark.timeout(120)

WORKER = """
import os, socket, time
host, port = os.environ["AZ_BATCH_MASTER_NODE"].rsplit(":", 1)
for _ in range(300):
    try:
        with socket.create_connection((host, int(port)), timeout=1) as s:
            s.sendall(os.environ["AZ_BATCH_NODE_ID"].encode())
        break
    except OSError:
        time.sleep(0.1)
"""
# Every instance runs this; on the others it leaves a worker in the background, as an MPI daemon is left.
COORDINATION = f"""
import os, subprocess, sys
assert os.path.isdir(os.environ["AZ_BATCH_TASK_SHARED_DIR"])
if os.environ["AZ_BATCH_IS_CURRENT_NODE_MASTER"] == "false":
    subprocess.Popen([sys.executable, "-c", {WORKER!r}])
"""
MASTER = """
import os, socket
host, port = os.environ["AZ_BATCH_MASTER_NODE"].rsplit(":", 1)
hosts = os.environ["AZ_BATCH_HOST_LIST"].split(",")
server = socket.create_server((host, int(port)))
server.settimeout(60)
got = []
for _ in range(len(hosts) - 1):
    conn, _ = server.accept()
    got.append(conn.recv(200).decode())
    conn.close()
print(" ".join(sorted(got)))
print(os.environ["AZ_BATCH_IS_CURRENT_NODE_MASTER"], len(hosts), len(set(hosts)), hosts[0] == host)
"""


@pytest.fixture(scope="module")
def mpi_pool(client) -> str:
    return make_pool(client, uid("mpi"), dedicated=3, enable_inter_node_communication=True)


def multi(n: int, coordination: str) -> m.MultiInstanceSettings:
    return m.MultiInstanceSettings(number_of_instances=n, coordination_command_line=coordination)


def test_rank_zero_gathers_from_the_other_instances_over_tcp(client, mpi_pool) -> None:
    job_id = make_job(client, mpi_pool)
    client.create_task(job_id, task("mpi", py(MASTER), multi_instance_settings=multi(3, py(COORDINATION))))
    done = wait_task(client, job_id, "mpi", timeout=60)
    assert done.execution_info.result == "success", done.execution_info.failure_info
    subtasks = list(client.list_subtasks(job_id, "mpi"))
    assert [s.id for s in subtasks] == [1, 2]
    assert all(s.state == "completed" and s.result == "success" and s.exit_code == 0 for s in subtasks)
    others = sorted(s.node_info.node_id for s in subtasks)
    assert done.node_info.node_id not in others and len(set(others)) == 2  # three distinct nodes
    gathered, flags = stdout(client, job_id, "mpi").splitlines()
    assert gathered.split() == others
    assert flags == "true 3 3 True"  # on the master; 3 hosts, each its own loopback address
    client.begin_delete_job(job_id, polling_interval=POLL).result()


def test_a_failed_coordination_fails_the_task_and_the_primary_never_runs(client, mpi_pool) -> None:
    job_id = make_job(client, mpi_pool)
    fail_on_others = py("import os, sys; sys.exit(0 if os.environ['AZ_BATCH_IS_CURRENT_NODE_MASTER'] == 'true' "
                        "else 3)")
    client.create_task(job_id, task("bad", py("open('ran', 'w')"), multi_instance_settings=multi(2, fail_on_others)))
    done = wait_task(client, job_id, "bad", timeout=60)
    assert done.execution_info.result == "failure" and done.execution_info.exit_code == 3
    [sub] = client.list_subtasks(job_id, "bad")
    assert (sub.state, sub.result, sub.exit_code) == ("completed", "failure", 3)
    assert "ran" not in [f.name for f in client.list_task_files(job_id, "bad", recursive=True)]


def test_more_instances_than_nodes_waits_and_one_instance_is_an_ordinary_task(client, mpi_pool) -> None:
    waiting, other = make_job(client, mpi_pool), make_job(client, mpi_pool)
    client.create_task(waiting, task("four", "python -c pass", multi_instance_settings=multi(4, "python -c pass")))
    client.create_task(other, task("one", "python -c pass", multi_instance_settings=multi(1, "python -c pass")))
    assert wait_task(client, other, "one").execution_info.exit_code == 0
    assert client.get_task(waiting, "four").state == "active"  # the pool has 3 nodes: it waits for a fourth
    client.begin_delete_job(waiting, polling_interval=POLL).result()


def test_multi_instance_refusals(client, mpi_pool, shared_pool) -> None:
    job_id = make_job(client, mpi_pool)
    with pytest.raises(HttpResponseError) as info:
        client.create_task(job_id, task("slots", "true", required_slots=2, multi_instance_settings=multi(2, "true")))
    assert error_code(info.value) == "InvalidPropertyValue"
    plain = make_job(client, shared_pool)  # a pool without inter-node communication
    with pytest.raises(HttpResponseError) as info:
        client.create_task(plain, task("mi", "true", multi_instance_settings=multi(2, "true")))
    values = {v["key"]: v["value"] for v in info.value.response.json()["values"]}
    assert "enableInterNodeCommunication" in values["Reason"]


def test_terminating_a_running_multi_instance_task_frees_every_node(client, mpi_pool) -> None:
    job_id = make_job(client, mpi_pool)
    sleeper = py("import time; time.sleep(60)")
    # The coordination leaves a sleeper behind on every node; it must go when the task ends.
    leave = py("import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])")
    client.create_task(job_id, task("long", sleeper, multi_instance_settings=multi(3, leave)))
    wait_task(client, job_id, "long", "running", timeout=30)

    wait_for(lambda: sum(n.running_task_slots_count or 0 for n in client.list_nodes(mpi_pool)) == 3,
             what="one slot taken on each of the 3 nodes")
    client.terminate_task(job_id, "long")
    done = wait_task(client, job_id, "long")
    assert done.execution_info.failure_info.code == "TaskEnded"
    wait_for(lambda: all(n.state == "idle" and not n.running_task_slots_count for n in client.list_nodes(mpi_pool)),
             what="all three nodes idle again")
    wait_for(lambda: not _processes_of(job_id), what="the coordination's background processes killed")
    client.begin_delete_job(job_id, polling_interval=POLL).result()


def _processes_of(job_id: str) -> list[int]:
    """Pids on this machine whose environment says they belong to the job (Linux /proc)."""
    want = f"AZ_BATCH_JOB_ID={job_id}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/environ", "rb") as fh:
                    if want in fh.read().split(b"\0"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found
