"""Fixtures for the core API tests.

- `session`, `pool`, `unique`: a Session on the shared local service (tests/conftest.py starts it) and one ready pool.
- `stub_batch`: a loopback HTTP endpoint that records requests and answers with a canned Batch response. It lets
  the real azure-batch SDK serialise our specs and raise its real exceptions without the local service: those
  tests are about what the client sends and how it reads errors.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import batchnb
from batchnb.core.session import Session
from batchnb.local import LocalService

CORE_POOL = "core-pool"


@pytest.fixture(scope="session")
def session(local_service: LocalService) -> Iterator[Session]:
    s = batchnb.connect("local", state_dir=str(local_service.state_dir))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def pool(session: Session) -> batchnb.PoolHandle:
    # Nodes are bare (stdlib only); the tasks of these tests that use pandas get it, as on Azure,
    # from the pool's environment, installed once per node by the start task.
    import pandas as pd

    spec = batchnb.PoolSpec(CORE_POOL, vm_size="standard_d2s_v3", dedicated_nodes=2, task_slots_per_node=4,
                            python_env=batchnb.Environment.from_kernel(pd))
    return session.create_pool(spec, wait=True, timeout=120)


@pytest.fixture
def unique() -> str:
    """A short random suffix for job ids and blob prefixes, so tests never see each other's data."""
    return uuid.uuid4().hex[:8]

TEST_KEY = base64.b64encode(b"batchnb-core-unit-test-key-32byt").decode()


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        server = self.server
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                "body": body})
        status, payload, headers = server.reply
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        self.send_header("content-type", "application/json;odata=minimalmetadata")
        self.send_header("request-id", "11111111-2222-3333-4444-555555555555")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


class StubBatch:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []
        self.server.reply = (200, {}, {})
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def requests(self) -> list[dict]:
        return self.server.requests

    def reply(self, status: int, payload: object = None, headers: dict | None = None) -> None:
        self.server.reply = (status, payload, headers or {})

    def client(self):
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        return BatchClient(self.endpoint, AzureNamedKeyCredential("acct", TEST_KEY), retry_total=0)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub_batch():
    stub = StubBatch()
    yield stub
    stub.close()
