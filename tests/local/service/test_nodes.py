"""Compute nodes: list/get/filter, reboot, reimage, scheduling state, start task, the node's
directory layout and AZ_BATCH_* variables as a task sees them, and requeue on reboot."""

from __future__ import annotations

import json

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from .helpers import (
    IMAGE,
    POLL,
    error_code,
    make_job,
    make_pool,
    py,
    scheduler_has_run,
    stdout,
    task,
    uid,
    wait_for,
    wait_task,
)

pytestmark = pytest.mark.timeout(90)


def test_list_get_and_filter_nodes(client) -> None:
    pool_id = make_pool(client, dedicated=2, slots=2)
    nodes = list(client.list_nodes(pool_id))
    assert len(nodes) == 2
    node = client.get_node(pool_id, nodes[0].id)
    assert node.state == "idle" and node.scheduling_state == "enabled"
    assert node.is_dedicated is True and node.vm_size == "standard_d2s_v3"
    assert node.ip_address and node.affinity_id and node.allocation_time and node.last_boot_time
    assert node.running_tasks_count == 0 and node.running_task_slots_count == 0
    assert len(list(client.list_nodes(pool_id, filter="state eq 'idle'"))) == 2
    assert list(client.list_nodes(pool_id, filter="state eq 'running'")) == []
    when = nodes[0].allocation_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(list(client.list_nodes(pool_id, filter=f"allocationTime ge DateTime'{when}'"))) >= 1
    selected = client.get_node(pool_id, nodes[0].id, select=["id", "state"])
    assert selected.id == nodes[0].id and selected.vm_size is None
    with pytest.raises(ResourceNotFoundError) as exc:
        client.get_node(pool_id, "tvm-nope")
    assert error_code(exc.value) == "NodeNotFound"
    login = client.get_node_remote_login_settings(pool_id, nodes[0].id)
    assert login.remote_login_ip_address and login.remote_login_port
    assert list(client.list_node_extensions(pool_id, nodes[0].id)) == []


def test_disable_and_enable_scheduling(client, shared_pool) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    client.disable_node_scheduling(pool_id, node_id, m.BatchNodeDisableSchedulingOptions(
        node_disable_scheduling_option="requeue"))
    node = client.get_node(pool_id, node_id)
    assert node.scheduling_state == "disabled" and node.state == "offline"
    with pytest.raises(ResourceExistsError) as exc:
        client.disable_node_scheduling(pool_id, node_id, m.BatchNodeDisableSchedulingOptions(
            node_disable_scheduling_option="requeue"))
    assert error_code(exc.value) == "NodeAlreadyInTargetSchedulingState"
    # A task waits while the only node refuses new work ...
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("t1", "true"))
    scheduler_has_run(client, make_job(client, shared_pool))  # a control on another pool ran meanwhile
    assert client.get_task(job_id, "t1").state == "active"
    # ... and runs once scheduling is enabled again.
    client.enable_node_scheduling(pool_id, node_id)
    with pytest.raises(ResourceExistsError) as exc:
        client.enable_node_scheduling(pool_id, node_id)
    assert error_code(exc.value) == "NodeAlreadyInTargetSchedulingState"
    assert wait_task(client, job_id, "t1").execution_info.exit_code == 0


def test_reboot_requeues_running_task_and_node_comes_back(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    wait_task(client, job_id, "long", "running")
    poller = client.begin_reboot_node(pool_id, node_id, mm.BatchNodeRebootOptions(node_reboot_kind="requeue"),
                                      polling_interval=POLL)
    assert client.get_node(pool_id, node_id).state in ("rebooting", "starting", "idle", "running")
    poller.result()
    t = wait_for(lambda: (x := client.get_task(job_id, "long")).execution_info.requeue_count >= 1 and x,
                 what="task requeued")
    assert t.execution_info.retry_count == 0
    wait_for(lambda: client.get_node(pool_id, node_id).state in ("idle", "running"), what="node back")
    wait_task(client, job_id, "long", "running")  # it runs again after the reboot
    client.terminate_task(job_id, "long")


def test_reboot_with_terminate_completes_the_task_as_failed(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("long", py("import time; time.sleep(60)")))
    wait_task(client, job_id, "long", "running")
    client.begin_reboot_node(pool_id, node_id, mm.BatchNodeRebootOptions(node_reboot_kind="terminate"),
                             polling_interval=POLL).result()
    t = wait_task(client, job_id, "long")
    assert t.execution_info.result == "failure" and t.execution_info.failure_info is not None


def test_reimage_wipes_the_node_and_reboots(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("w", py("open('../../../../../shared/marker','w').write('x')")))
    assert wait_task(client, job_id, "w").execution_info.exit_code == 0
    assert any(f.name == "shared/marker" for f in client.list_node_files(pool_id, node_id, recursive=True))
    client.begin_reimage_node(pool_id, node_id, mm.BatchNodeReimageOptions(node_reimage_option="requeue"),
                              polling_interval=POLL).result()
    wait_for(lambda: client.get_node(pool_id, node_id).state == "idle", what="node idle after reimage")
    assert not any(f.name == "shared/marker" for f in client.list_node_files(pool_id, node_id, recursive=True))


def test_node_operations_refused_while_booting(client) -> None:
    pool_id = uid("pool")
    client.create_pool(m.BatchPoolCreateOptions(
        id=pool_id, vm_size="standard_d2s_v3", target_dedicated_nodes=1,
        virtual_machine_configuration=IMAGE))
    node = next(iter(client.list_nodes(pool_id)))
    if node.state in ("creating", "starting"):
        with pytest.raises(ResourceExistsError) as exc:
            client.begin_reboot_node(pool_id, node.id, mm.BatchNodeRebootOptions(node_reboot_kind="requeue"),
                                     polling_interval=POLL).result()
        assert error_code(exc.value) in ("NodeBeingCreated", "NodeBeingStarted")


def test_task_sees_az_batch_env_and_node_layout(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id, common_environment_settings=[m.EnvironmentSetting(name="COMMON", value="c"),
                                                                    m.EnvironmentSetting(name="OVER", value="job")])
    code = ("import os, json; print(json.dumps({k: v for k, v in os.environ.items()})); "
            "print(json.dumps(sorted(os.listdir(os.environ['AZ_BATCH_NODE_ROOT_DIR']))))")
    client.create_task(job_id, task("env", py(code), environment_settings=[m.EnvironmentSetting(name="OVER",
                                                                                                value="task")]))
    t = wait_task(client, job_id, "env")
    assert t.execution_info.exit_code == 0, stdout(client, job_id, "env", "stderr.txt")
    env_line, dirs_line = stdout(client, job_id, "env").strip().splitlines()
    env = json.loads(env_line)
    root = env["AZ_BATCH_NODE_ROOT_DIR"]
    assert env["AZ_BATCH_POOL_ID"] == pool_id and env["AZ_BATCH_NODE_ID"] == node_id
    assert env["AZ_BATCH_JOB_ID"] == job_id and env["AZ_BATCH_TASK_ID"] == "env"
    assert env["AZ_BATCH_NODE_IS_DEDICATED"] == "true"
    assert env["AZ_BATCH_ACCOUNT_NAME"] and env["AZ_BATCH_ACCOUNT_URL"].startswith("http://127.0.0.1:")
    assert env["AZ_BATCH_NODE_SHARED_DIR"] == f"{root}/shared"
    assert env["AZ_BATCH_NODE_STARTUP_DIR"] == f"{root}/startup"
    assert env["AZ_BATCH_NODE_MOUNTS_DIR"] == f"{root}/fsmounts"
    assert env["AZ_BATCH_TASK_DIR"] == f"{root}/workitems/{job_id}/job-1/env"
    assert env["AZ_BATCH_TASK_WORKING_DIR"] == f"{root}/workitems/{job_id}/job-1/env/wd"
    assert env["COMMON"] == "c" and env["OVER"] == "task"
    assert "BATCHNB_LOCAL_KEY" not in env and "BATCHNB_LOCAL_STORAGE" not in env
    assert set(json.loads(dirs_line)) >= {"applications", "fsmounts", "shared", "startup", "volatile", "workitems"}
    assert t.node_info.node_id == node_id and t.node_info.pool_id == pool_id
    assert t.node_info.task_root_directory == f"workitems/{job_id}/job-1/env"
    # the service's key never reaches a task's environment
    assert not any("AccountKey" in v for v in env.values())


def test_command_line_runs_without_a_shell(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("echo", "echo $HOME 'a  b' *"))
    client.create_task(job_id, task("sh", "/bin/sh -c 'echo $AZ_BATCH_TASK_ID'"))
    assert wait_task(client, job_id, "echo").execution_info.exit_code == 0
    assert stdout(client, job_id, "echo") == "$HOME a  b *\n"
    wait_task(client, job_id, "sh")
    assert stdout(client, job_id, "sh") == "sh\n"


def test_missing_program_is_command_program_not_found(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("nope", "no-such-program-xyz --flag"))
    t = wait_task(client, job_id, "nope")
    assert t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "CommandProgramNotFound"
    assert t.execution_info.failure_info.category == "usererror"


def test_start_task_wait_for_success_runs_before_tasks(client) -> None:
    start = m.BatchStartTask(command_line=py(
        "import os, time; time.sleep(0.3); open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/ready', 'w').write('1')"),
        wait_for_success=True)
    pool_id = make_pool(client, dedicated=1, start_task=start)
    node = next(iter(client.list_nodes(pool_id)))
    assert node.start_task_info.state == "completed" and node.start_task_info.exit_code == 0
    assert node.start_task_info.result == "success"
    assert list(client.list_nodes(pool_id, filter="startTaskInfo/exitCode eq 0"))
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("t", py("import os; print(open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + "
                                            "'/ready').read())")))
    assert wait_task(client, job_id, "t").execution_info.exit_code == 0
    # the start task's logs live in startup/
    out = b"".join(client.download_node_file(pool_id, node.id, "startup/stdout.txt"))
    assert out == b""


def test_start_task_failure_with_retries_is_starttaskfailed(client, shared_pool) -> None:
    start = m.BatchStartTask(command_line=py("import sys; print('boom', file=sys.stderr); sys.exit(3)"),
                             wait_for_success=True, max_task_retry_count=1)
    pool_id = make_pool(client, dedicated=1, start_task=start, wait_states=("starttaskfailed",))
    node = next(iter(client.list_nodes(pool_id)))
    assert node.start_task_info.exit_code == 3 and node.start_task_info.retry_count == 1
    assert node.start_task_info.result == "failure"
    assert node.start_task_info.failure_info.code == "FailureExitCode"
    assert node.errors and node.errors[0].code
    err = b"".join(client.download_node_file(pool_id, node.id, "startup/stderr.txt"))
    assert b"boom" in err
    assert list(client.list_nodes(pool_id, filter="state eq 'starttaskfailed'"))
    counts = {c.pool_id: c for c in client.list_pool_node_counts()}[pool_id]
    assert counts.dedicated.start_task_failed == 1
    # a node that failed its start task gets no work
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("t", "true"))
    scheduler_has_run(client, make_job(client, shared_pool))  # a control on another pool ran meanwhile
    assert client.get_task(job_id, "t").state == "active"


def test_start_task_without_wait_lets_tasks_start(client) -> None:
    # The start task outlives any wait here: the task finishing while it still runs is the proof,
    # with no race against a short sleep on a busy machine.
    start = m.BatchStartTask(command_line=py("import time; time.sleep(600)"), wait_for_success=False)
    pool_id = make_pool(client, dedicated=1, start_task=start)
    try:
        job_id = make_job(client, pool_id)
        client.create_task(job_id, task("t", "true"))
        assert wait_task(client, job_id, "t", timeout=60).execution_info.exit_code == 0
        [node] = list(client.list_nodes(pool_id))
        assert node.start_task_info.state == "running"
    finally:
        client.begin_delete_pool(pool_id, polling_interval=0.1).result()


def test_node_file_api(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("f", py("import os; open(os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/data.bin', "
                                            "'wb').write(bytes(range(256)))")))
    wait_task(client, job_id, "f")
    top = {f.name: f for f in client.list_node_files(pool_id, node_id)}
    assert {"shared", "startup", "workitems"} <= set(top)
    assert top["shared"].is_directory is True
    files = {f.name: f for f in client.list_node_files(pool_id, node_id, recursive=True)}
    assert "shared/data.bin" in files and files["shared/data.bin"].properties.content_length == 256
    assert f"workitems/{job_id}/job-1/f/stdout.txt" in files
    assert list(client.list_node_files(pool_id, node_id, recursive=True, filter="startswith(name, 'shared')"))
    data = b"".join(client.download_node_file(pool_id, node_id, "shared/data.bin"))
    assert data == bytes(range(256))
    part = b"".join(client.download_node_file(pool_id, node_id, "shared/data.bin", ocp_range="bytes=10-19"))
    assert part == bytes(range(10, 20))
    props = client.get_node_file_properties(pool_id, node_id, "shared/data.bin")
    assert props.content_length == 256 and props.is_directory is False
    client.delete_node_file(pool_id, node_id, "shared/data.bin")
    with pytest.raises(ResourceNotFoundError) as exc:
        client.get_node_file_properties(pool_id, node_id, "shared/data.bin")
    assert exc.value.status_code == 404
    with pytest.raises(ResourceNotFoundError) as exc:  # streamed: the SDK does not read the error body
        b"".join(client.download_node_file(pool_id, node_id, "shared/nothing.txt"))
    assert exc.value.status_code == 404


def test_deallocate_and_start_node(client) -> None:
    pool_id = make_pool(client, dedicated=1)
    node_id = next(iter(client.list_nodes(pool_id))).id
    client.begin_deallocate_node(pool_id, node_id, mm.BatchNodeDeallocateOptions(node_deallocate_option="requeue"),
                                 polling_interval=POLL).result()
    wait_for(lambda: client.get_node(pool_id, node_id).state == "deallocated", what="deallocated")
    client.begin_start_node(pool_id, node_id, polling_interval=POLL).result()
    wait_for(lambda: client.get_node(pool_id, node_id).state == "idle", what="started again")


def test_upload_node_logs_answers_before_an_unreachable_container_fails(client, shared_pool) -> None:
    # Azure counts the files and answers, then uploads: a container it cannot reach does not fail the
    # request. What reaches a real container: test_service_logs.py.
    import datetime

    node_id = next(iter(client.list_nodes(shared_pool))).id
    result = client.upload_node_logs(shared_pool, node_id, mm.UploadBatchServiceLogsOptions(
        container_url="http://127.0.0.1:1/logs?sig=x",
        start_time=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)))
    assert result.virtual_directory_name.startswith(f"{shared_pool}/{node_id}/")
    assert result.number_of_files_uploaded >= 1  # at least the node agent's log
