"""Upload Batch Service Logs: the node's agent log and its start task's output reach the container
(an Azurite SAS URL) under <pool>/<node>/<guid>/, only when they have a line in the time window;
the answer counts the files, as Azure's does. Through the real azure-batch SDK and azure-storage-blob."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, generate_container_sas

from .helpers import make_job, make_pool, task, uid, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def logs_container(local_service):
    """A new container on Azurite and a write SAS URL for it (what Azure asks for)."""
    blobs = BlobServiceClient.from_connection_string(local_service.storage_connection_string)
    name = uid("svclogs")
    container = blobs.create_container(name)
    sas = generate_container_sas(blobs.account_name, name, account_key=blobs.credential.account_key,
                                 permission="racwl", expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    try:
        yield container, f"{container.url}?{sas}"
    finally:
        container.delete_container()
        blobs.close()


def uploaded(container, directory: str) -> dict[str, bytes]:
    return {b.name: container.download_blob(b.name).readall()
            for b in container.list_blobs(name_starts_with=directory + "/")}


def test_node_logs_of_the_window_are_uploaded_whole(client, logs_container):
    container, url = logs_container
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    start_task = m.BatchStartTask(command_line="/bin/sh -c 'echo start-task-says-hello; echo start-task-warns >&2'",
                                  wait_for_success=True)
    pool_id = make_pool(client, dedicated=1, start_task=start_task)
    node_id = next(iter(client.list_nodes(pool_id))).id
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("t1", "/bin/sh -c 'exit 3'"))
    wait_for(lambda: client.get_task(job_id, "t1").state == "completed", what="t1 completed")

    result = client.upload_node_logs(pool_id, node_id, m.UploadBatchServiceLogsOptions(
        container_url=url, start_time=before))
    directory = result.virtual_directory_name
    prefix, guid = directory.rsplit("/", 1)
    assert prefix == f"{pool_id}/{node_id}" and len(guid) == 36  # pool, node and a unique identifier
    assert result.number_of_files_uploaded == 3
    files = wait_for(lambda: (found := uploaded(container, directory)) and len(found) == 3 and found,
                     what="3 uploaded log files")
    assert set(files) == {f"{directory}/agent.log", f"{directory}/startup/stdout.txt",
                          f"{directory}/startup/stderr.txt"}
    agent = files[f"{directory}/agent.log"].decode()
    assert "node state changed to idle" in agent
    assert "start task ended: exit code 0" in agent
    assert f"task ended: job {job_id} task t1 exit code 3 (failed)" in agent
    assert files[f"{directory}/startup/stdout.txt"] == b"start-task-says-hello\n"
    assert files[f"{directory}/startup/stderr.txt"] == b"start-task-warns\n"
    assert "sig=" not in agent  # the SAS URL is never written to a log

    # Each request gets a directory of its own.
    again = client.upload_node_logs(pool_id, node_id, m.UploadBatchServiceLogsOptions(
        container_url=url, start_time=before))
    assert again.virtual_directory_name != directory


def test_a_window_before_the_node_existed_uploads_nothing(client, shared_pool, logs_container):
    container, url = logs_container
    node_id = next(iter(client.list_nodes(shared_pool))).id
    long_ago = datetime(2020, 1, 1, tzinfo=timezone.utc)
    result = client.upload_node_logs(shared_pool, node_id, m.UploadBatchServiceLogsOptions(
        container_url=url, start_time=long_ago, end_time=long_ago + timedelta(hours=1)))
    assert result.number_of_files_uploaded == 0
    assert result.virtual_directory_name.startswith(f"{shared_pool}/{node_id}/")
    # A window that does reach today finds the agent's lines (the control: the node has logs).
    now = client.upload_node_logs(shared_pool, node_id, m.UploadBatchServiceLogsOptions(
        container_url=url, start_time=long_ago))
    assert now.number_of_files_uploaded >= 1
    wait_for(lambda: uploaded(container, now.virtual_directory_name), what="the control upload")
    assert uploaded(container, result.virtual_directory_name) == {}


def test_bad_requests_name_the_property(client, shared_pool):
    node_id = next(iter(client.list_nodes(shared_pool))).id
    with pytest.raises(HttpResponseError) as missing_url:
        client.upload_node_logs(shared_pool, node_id, m.UploadBatchServiceLogsOptions(
            container_url="", start_time=datetime.now(timezone.utc)))
    assert missing_url.value.status_code == 400
    assert missing_url.value.error.code == "MissingRequiredProperty"
    with pytest.raises(HttpResponseError) as no_node:
        client.upload_node_logs(shared_pool, "tvmps_nosuchnode", m.UploadBatchServiceLogsOptions(
            container_url="http://127.0.0.1:1/logs?sig=x", start_time=datetime.now(timezone.utc)))
    assert no_node.value.status_code == 404 and no_node.value.error.code == "NodeNotFound"
