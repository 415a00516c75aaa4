"""No call can hang a cell: every wait has a deadline, a silent endpoint fails in bounded time,
and Ctrl-C (KeyboardInterrupt) stops a wait or a monitor cleanly."""

from __future__ import annotations

import _thread
import base64
import socket
import threading
import time

import pytest

import batchnb
from batchnb.data.watch import JobWatcher
from batchnb.errors import BatchnbError, BatchTimeoutError, ServiceUnavailableError

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def stuck_job(rel_session, idle_pool):
    """A job whose only task can never start: its pool has no nodes."""
    job = rel_session.create_job("rel-stuck", pool=idle_pool)
    job.add_tasks(batchnb.TaskSpec("never", "true"))
    yield job
    rel_session.delete_job("rel-stuck")


def test_job_wait_has_a_deadline(stuck_job) -> None:
    started = time.monotonic()
    with pytest.raises(BatchTimeoutError) as caught:
        stuck_job.wait(timeout=1)
    assert time.monotonic() - started < 5
    assert "rel-stuck" in str(caught.value) and "1 active" in str(caught.value)


def test_watcher_wait_has_a_deadline(rel_session, stuck_job) -> None:
    watcher = JobWatcher(rel_session.batch_client, stuck_job.id)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        watcher.wait(timeout=1, interval=0.2)
    assert time.monotonic() - started < 5


def test_pool_wait_has_a_deadline(rel_session) -> None:
    # Nodes take 3 s to boot here; a 0.5 s wait must give up, not wait for them.
    spec = batchnb.PoolSpec("rel-slow-pool", vm_size="standard_d2s_v3", dedicated_nodes=1)
    try:
        started = time.monotonic()
        with pytest.raises(BatchTimeoutError):
            rel_session.create_pool(spec, wait=True, timeout=0.01)
        assert time.monotonic() - started < 5
    finally:
        rel_session.delete_pool("rel-slow-pool")


@pytest.fixture
def silent_endpoint():
    """A socket that accepts connections and never answers a byte."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


def test_silent_endpoint_fails_in_bounded_time_with_a_clear_error(silent_endpoint) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    session = batchnb.connect(account="silentacct", endpoint=silent_endpoint, access_key=key, request_timeout=1)
    try:
        started = time.monotonic()
        with pytest.raises(BatchnbError) as caught:
            session.list_pools()
        elapsed = time.monotonic() - started
    finally:
        session.close()
    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert isinstance(caught.value, (ServiceUnavailableError, BatchTimeoutError))
    text = str(caught.value)
    assert silent_endpoint.split("//")[1] in text and "\n" not in text
    assert key not in text


def test_ctrl_c_stops_job_wait_cleanly(rel_session, stuck_job) -> None:
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            stuck_job.wait(timeout=60, poll=0.2)
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5
    # Nothing is left half-done: the session and the job still answer.
    assert stuck_job.task_counts()["active"] == 1


def test_ctrl_c_stops_a_watcher_wait_and_returns_it(rel_session, stuck_job) -> None:
    watcher = JobWatcher(rel_session.batch_client, stuck_job.id)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    try:
        returned = watcher.wait(timeout=60, interval=0.2)
    finally:
        timer.cancel()
    assert returned is watcher and time.monotonic() - started < 5
    assert watcher.counts["active"] == 1 and not watcher.running
