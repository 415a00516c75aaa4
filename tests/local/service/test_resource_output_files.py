"""Resource files downloaded from Azurite by SAS URL (httpUrl, storageContainerUrl + blobPrefix,
autoStorageContainerName) and output files uploaded by container SAS with upload conditions,
plus the failure codes when they can't."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.batch.models import _models as mm
from azure.storage.blob import (
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    generate_blob_sas,
    generate_container_sas,
)

from .helpers import make_job, py, stdout, task, uid, wait_task

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def storage(local_service):
    svc = BlobServiceClient.from_connection_string(local_service.storage_connection_string)
    yield svc
    svc.close()


def _key(svc: BlobServiceClient) -> str:
    return svc.credential.account_key


def container_sas(svc: BlobServiceClient, name: str, perm: str) -> str:
    token = generate_container_sas(svc.account_name, name, account_key=_key(svc),
                                   permission=ContainerSasPermissions.from_string(perm),
                                   expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    return f"{svc.get_container_client(name).url}?{token}"


def blob_sas(svc: BlobServiceClient, container: str, blob: str) -> str:
    token = generate_blob_sas(svc.account_name, container, blob, account_key=_key(svc),
                              permission=BlobSasPermissions(read=True),
                              expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    return f"{svc.get_blob_client(container, blob).url}?{token}"


@pytest.fixture(scope="module")
def inputs(storage) -> str:
    name = uid("inputs")
    container = storage.create_container(name)
    container.upload_blob("data/a.txt", b"alpha")
    container.upload_blob("data/b.txt", b"beta")
    container.upload_blob("other/c.txt", b"gamma")
    container.upload_blob("script.py", b"print('from script')")
    return name


def test_http_url_resource_file(client, shared_pool, storage, inputs) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("r", "python in/script.py", resource_files=[
        m.ResourceFile(http_url=blob_sas(storage, inputs, "script.py"), file_path="in/script.py")]))
    t = wait_task(client, job_id, "r")
    assert t.execution_info.exit_code == 0, t.execution_info.failure_info
    assert stdout(client, job_id, "r") == "from script\n"


def test_container_url_with_blob_prefix(client, shared_pool, storage, inputs) -> None:
    job_id = make_job(client, shared_pool)
    code = "import os; print(sorted(os.path.relpath(os.path.join(d, f)) for d, _, fs in os.walk('.') for f in fs))"
    client.create_task(job_id, task("c", py(code), resource_files=[
        m.ResourceFile(storage_container_url=container_sas(storage, inputs, "rl"), blob_prefix="data/",
                       file_path="got")]))
    t = wait_task(client, job_id, "c")
    assert t.execution_info.exit_code == 0, t.execution_info.failure_info
    assert stdout(client, job_id, "c").strip() == "['got/data/a.txt', 'got/data/b.txt']"


def test_auto_storage_container(client, shared_pool, inputs) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("a", py("print(open('other/c.txt').read())"), resource_files=[
        m.ResourceFile(auto_storage_container_name=inputs, blob_prefix="other/")]))
    t = wait_task(client, job_id, "a")
    assert t.execution_info.exit_code == 0, t.execution_info.failure_info
    assert stdout(client, job_id, "a") == "gamma\n"


def test_missing_blob_is_blob_not_found(client, shared_pool, storage, inputs) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("nb", "true", resource_files=[
        m.ResourceFile(http_url=blob_sas(storage, inputs, "missing.bin"), file_path="x")]))
    t = wait_task(client, job_id, "nb")
    assert t.execution_info.result == "failure"
    assert t.execution_info.failure_info.code == "BlobNotFound"
    assert t.execution_info.failure_info.category == "usererror"
    assert "sig=" not in str(t.execution_info.failure_info)  # the SAS never shows up in messages


def test_missing_container_is_resource_container_not_found(client, shared_pool, storage) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("nc", "true", resource_files=[
        m.ResourceFile(storage_container_url=container_sas(storage, uid("nothere"), "rl"))]))
    assert wait_task(client, job_id, "nc").execution_info.failure_info.code == "ResourceContainerNotFound"


def _output(pattern: str, url: str, condition: str, path: str | None = None) -> m.OutputFile:
    return m.OutputFile(
        file_pattern=pattern,
        destination=m.OutputFileDestination(container=m.OutputFileBlobContainerDestination(container_url=url,
                                                                                           path=path)),
        upload_options=mm.OutputFileUploadConfiguration(upload_condition=condition))


def test_output_files_and_upload_conditions(client, shared_pool, storage) -> None:
    name = uid("outputs")
    out = storage.create_container(name)
    url = container_sas(storage, name, "rwl")
    job_id = make_job(client, shared_pool)
    make = "import os; os.makedirs('res'); [open(f'res/{i}.csv', 'w').write(str(i)) for i in range(3)]; print('done')"
    client.create_task(job_id, task("ok", py(make), output_files=[
        _output("res/*.csv", url, "tasksuccess", "ok/res"),
        _output("../stdout.txt", url, "taskcompletion", "ok/stdout.txt"),
        _output("../stderr.txt", url, "taskfailure", "ok/stderr.txt")]))
    client.create_task(job_id, task("bad", py("import sys; print('oops', file=sys.stderr); sys.exit(2)"),
                                    output_files=[_output("../stderr.txt", url, "taskfailure", "bad/stderr.txt"),
                                                  _output("../stdout.txt", url, "tasksuccess", "bad/stdout.txt")]))
    assert wait_task(client, job_id, "ok").execution_info.result == "success"
    assert wait_task(client, job_id, "bad").execution_info.exit_code == 2
    names = sorted(b.name for b in out.list_blobs())
    assert names == ["bad/stderr.txt", "ok/res/0.csv", "ok/res/1.csv", "ok/res/2.csv", "ok/stdout.txt"]
    assert out.download_blob("ok/res/2.csv").readall() == b"2"
    assert out.download_blob("bad/stderr.txt").readall() == b"oops\n"
    assert b"".join(client.download_task_file(job_id, "ok", "fileuploadout.txt"))


def test_upload_to_missing_container_fails_the_task(client, shared_pool, storage) -> None:
    job_id = make_job(client, shared_pool)
    url = container_sas(storage, uid("absent"), "rwl")
    client.create_task(job_id, task("up", py("open('r.txt', 'w').write('x')"),
                                    output_files=[_output("r.txt", url, "taskcompletion")]))
    t = wait_task(client, job_id, "up")
    assert t.execution_info.exit_code == 0  # the process succeeded ...
    assert t.execution_info.result == "failure"  # ... but the upload did not
    assert t.execution_info.failure_info.code == "FileUploadContainerNotFound"
    err = b"".join(client.download_task_file(job_id, "up", "fileuploaderr.txt")).decode()
    assert "FileUploadContainerNotFound" in err and "sig=" not in err


def test_read_only_sas_is_upload_access_denied(client, shared_pool, storage) -> None:
    name = uid("readonly")
    storage.create_container(name)
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("ro", py("open('r.txt', 'w').write('x')"), output_files=[
        _output("r.txt", container_sas(storage, name, "rl"), "taskcompletion")]))
    assert wait_task(client, job_id, "ro").execution_info.failure_info.code == "FileUploadAccessDenied"
