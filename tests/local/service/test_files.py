"""Task files (and path safety of the node file API): list, download with ocp-range, properties,
delete, '..' refused."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from .helpers import make_job, make_pool, py, raw, task, wait_task

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def finished(client, shared_pool) -> tuple[str, str]:
    job_id = make_job(client, shared_pool)
    code = ("import os; os.makedirs('sub/dir'); open('sub/dir/data.bin', 'wb').write(bytes(range(200))); "
            "open('std out.txt', 'w').write('spaced'); print('line1'); print('line2')")
    client.create_task(job_id, task("t", py(code)))
    assert wait_task(client, job_id, "t").execution_info.exit_code == 0
    return job_id, "t"


def test_list_task_files(client, finished) -> None:
    job_id, task_id = finished
    top = {f.name: f for f in client.list_task_files(job_id, task_id)}
    assert {"stdout.txt", "stderr.txt", "wd"} <= set(top)
    assert top["wd"].is_directory is True and top["stdout.txt"].is_directory is False
    assert top["stdout.txt"].properties.content_length == len("line1\nline2\n")
    assert top["stdout.txt"].url.endswith(f"/jobs/{job_id}/tasks/{task_id}/files/stdout.txt")
    everything = {f.name for f in client.list_task_files(job_id, task_id, recursive=True)}
    assert {"wd/sub/dir/data.bin", "wd/std out.txt"} <= everything
    only = [f.name for f in client.list_task_files(job_id, task_id, recursive=True, filter="startswith(name, 'wd/sub')")]
    assert only and all(n.startswith("wd/sub") for n in only)
    paged = list(client.list_task_files(job_id, task_id, recursive=True, max_results=2))
    assert {f.name for f in paged} == everything


def test_download_ranges_and_odd_names(client, finished) -> None:
    job_id, task_id = finished
    assert b"".join(client.download_task_file(job_id, task_id, "stdout.txt")) == b"line1\nline2\n"
    assert b"".join(client.download_task_file(job_id, task_id, "stdout.txt", ocp_range="bytes=6-10")) == b"line2"
    data = b"".join(client.download_task_file(job_id, task_id, "wd/sub/dir/data.bin", ocp_range="bytes=190-"))
    assert data == bytes(range(190, 200))
    assert b"".join(client.download_task_file(job_id, task_id, "wd/std out.txt")) == b"spaced"
    assert b"".join(client.download_task_file(job_id, task_id, "wd\\sub\\dir\\data.bin")) == bytes(range(200))


def test_file_properties(client, finished) -> None:
    job_id, task_id = finished
    props = client.get_task_file_properties(job_id, task_id, "wd/sub/dir/data.bin")
    assert props.content_length == 200 and props.is_directory is False
    assert props.last_modified and props.creation_time and props.url
    resp = raw(client, "HEAD", f"/jobs/{job_id}/tasks/{task_id}/files/stdout.txt")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers["ocp-batch-file-isdirectory"].lower() == "false"
    dir_props = client.get_task_file_properties(job_id, task_id, "wd/sub")
    assert dir_props.is_directory is True


def test_dot_dot_is_refused(client, finished, shared_pool) -> None:
    job_id, task_id = finished
    for path in ("..%2F..%2Fsecret", "wd%2F..%2F..%2F..%2Fx", "%2Fetc%2Fpasswd"):
        resp = raw(client, "GET", f"/jobs/{job_id}/tasks/{task_id}/files/{path}")
        assert resp.status_code == 400, (path, resp.status_code)
        assert resp.json()["code"]
    with pytest.raises(HttpResponseError) as exc:
        client.get_task_file_properties(job_id, task_id, "../../../../settings.json")
    assert exc.value.status_code == 400
    node_id = client.get_task(job_id, task_id).node_info.node_id
    resp = raw(client, "GET", f"/pools/{shared_pool}/nodes/{node_id}/files/..%2F..%2Fbatch.sqlite3")
    assert resp.status_code == 400
    with pytest.raises(HttpResponseError) as exc:
        client.delete_task_file(job_id, task_id, "../../x")
    assert exc.value.status_code == 400


def test_delete_task_files(client, shared_pool) -> None:
    job_id = make_job(client, shared_pool)
    client.create_task(job_id, task("d", py("import os; os.makedirs('a/b'); open('a/b/f', 'w').write('x')")))
    wait_task(client, job_id, "d")
    with pytest.raises(HttpResponseError) as exc:  # a non-empty directory needs recursive
        client.delete_task_file(job_id, "d", "wd/a")
    assert exc.value.status_code in (400, 409)
    client.delete_task_file(job_id, "d", "wd/a/b/f")
    with pytest.raises(ResourceNotFoundError):
        client.get_task_file_properties(job_id, "d", "wd/a/b/f")
    client.delete_task_file(job_id, "d", "wd/a", recursive=True)
    assert not [f for f in client.list_task_files(job_id, "d", recursive=True) if f.name.startswith("wd/a")]
    with pytest.raises(ResourceNotFoundError):
        client.delete_task_file(job_id, "d", "wd/missing.txt")


def test_files_of_a_task_that_never_ran(client) -> None:
    pool_id = make_pool(client, dedicated=0)
    job_id = make_job(client, pool_id)
    client.create_task(job_id, task("never", "true"))
    with pytest.raises(HttpResponseError) as exc:
        list(client.list_task_files(job_id, "never"))
    assert exc.value.status_code in (404, 409)
