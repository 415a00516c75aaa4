"""The node and task file APIs against a task that plants links, FIFOs and big files (issue 11):
no link is followed out of the node (reads, listings, deletes), a task's or node's root cannot be
deleted, a FIFO does not hang a request, and a 150 MB file streams in constant memory with Range."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest

from batchnb._constants import LOCAL_ADMIN_PREFIX

from .bare_server import BareServer
from .helpers import make_job, make_pool, py, task, wait_task

pytestmark = pytest.mark.timeout(120)
BIG = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A server whose one task made links to a secret outside its node, a FIFO and a big file."""
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("the secret of another user of this machine\n" * 50)
    server = BareServer(tmp_path_factory.mktemp("file-attacks")).start()
    client = server.client()
    pool = make_pool(client, dedicated=1)
    job = make_job(client, pool)
    code = (f"import os; o={str(outside)!r}; "
            "os.symlink(o + '/secret.txt', 'link.txt'); os.symlink(o, 'linkdir'); "
            "os.link(o + '/secret.txt', 'hard.txt'); os.mkfifo('fifo'); "
            f"f=open('big.bin','wb'); [f.write(bytes([i % 251]) * 1048576) for i in range({BIG // 1048576})]; "
            "f.close(); print('planted')")
    client.create_task(job, task("t", py(code)))
    # The delete test gets links of its own: it removes them, and the tests run in random order.
    links = (f"import os; o={str(outside)!r}; "
             "os.symlink(o + '/secret.txt', 'link.txt'); os.symlink(o, 'linkdir'); print('planted')")
    client.create_task(job, task("d", py(links)))
    assert wait_task(client, job, "t", timeout=60).execution_info.exit_code == 0
    assert wait_task(client, job, "d", timeout=60).execution_info.exit_code == 0
    try:
        yield server, client, job, outside
    finally:
        client.close()
        server.stop()


def _signed(server, method: str, path: str, query: str = ""):
    """A Shared Key request with the path exactly as given (the SDK would normalize it)."""
    from email.utils import formatdate

    import requests

    from batchnb.local.service.http.sharedkey import sign

    from .bare_server import ACCOUNT, KEY

    query = "&".join(q for q in (query, "api-version=2025-06-01") if q)
    headers = {"ocp-date": formatdate(usegmt=True), "Content-Length": "0"}
    headers["Authorization"] = sign(method, path, query, headers, ACCOUNT, KEY)
    session = requests.Session()
    prepared = requests.Request(method, f"{server.url}{path}?{query}", headers=headers).prepare()
    prepared.url = f"{server.url}{path}?{query}"  # no dot-segment removal
    return session.send(prepared, timeout=30)


def _status(fn) -> int:
    try:
        fn()
        return 200
    except HttpResponseError as exc:
        return exc.status_code


def test_reads_refuse_links_hard_links_and_fifos(planted) -> None:
    _, client, job, _ = planted
    for name in ("wd/link.txt", "wd/linkdir/secret.txt", "wd/hard.txt", "wd/fifo"):
        started = time.monotonic()
        assert _status(lambda n=name: b"".join(client.download_task_file(job, "t", n))) == 400, name
        assert time.monotonic() - started < 30, f"{name} hung the request"
    assert b"".join(client.download_task_file(job, "t", "stdout.txt")).strip() == b"planted"


def test_listings_show_links_as_themselves_and_never_what_is_behind_them(planted) -> None:
    _, client, job, outside = planted
    files = {f.name: f for f in client.list_task_files(job, "t", recursive=True)}
    assert "wd/linkdir/secret.txt" not in files
    link = files["wd/link.txt"]
    assert int(link.properties.content_length) == len(str(outside / "secret.txt"))  # the link's own size
    assert link.properties.file_mode.startswith("0o120")  # S_IFLNK


def test_deletes_never_reach_outside_and_never_take_the_root(planted) -> None:
    server, client, job, outside = planted
    for root in (".", "%2E", ".%2F", "wd%2F..", "%2E%2E"):
        response = _signed(server, "DELETE", f"/jobs/{job}/tasks/d/files/{root}", "recursive=true")
        assert response.status_code == 400, (root, response.text[:200])
        assert "cannot be deleted" in response.text or "'..'" in response.text, (root, response.text[:300])
    assert b"".join(client.download_task_file(job, "d", "stdout.txt")).strip() == b"planted"
    client.delete_task_file(job, "d", "wd/linkdir", recursive=True)
    client.delete_task_file(job, "d", "wd/link.txt")
    assert (outside / "secret.txt").exists()
    names = {f.name for f in client.list_task_files(job, "d", recursive=True)}
    assert "wd/linkdir" not in names and "wd/link.txt" not in names


def test_a_big_file_streams_in_constant_memory_and_honours_range(planted) -> None:
    server, client, job, _ = planted
    part = b"".join(client.download_task_file(job, "t", "wd/big.bin", ocp_range="bytes=1048570-1048585"))
    assert part == bytes([0]) * 6 + bytes([1]) * 10
    before = client.send_request(HttpRequest(
        "GET", f"{LOCAL_ADMIN_PREFIX}/stats")).json()["maxRssBytes"]
    total = sum(len(chunk) for chunk in client.download_task_file(job, "t", "wd/big.bin"))
    assert total == BIG
    after = client.send_request(HttpRequest(
        "GET", f"{LOCAL_ADMIN_PREFIX}/stats")).json()["maxRssBytes"]
    assert after - before < 40 * 1024 * 1024, f"the service grew by {(after - before) >> 20} MB"
