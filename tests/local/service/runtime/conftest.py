"""Fixtures for the node runtime tests: a real Azurite (blob only) and helpers around it.

Temporary: the shared Azurite manager (batchnb/local/azurite.py) will replace `azurite`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from batchnb._constants import AZURITE_ACCOUNT_KEY, AZURITE_ACCOUNT_NAME, AZURITE_VERSION
from batchnb.local.service import node_layout
from batchnb.local.service.runtime import node_dirs

AZURITE_DIR = Path.home() / ".cache" / "batchnb" / f"azurite-{AZURITE_VERSION}"


def _azurite_blob_main() -> Path:
    main = AZURITE_DIR / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
    if not main.exists():
        AZURITE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(AZURITE_DIR), "--no-audit", "--no-fund", f"azurite@{AZURITE_VERSION}"],
            check=True, stdout=subprocess.DEVNULL, timeout=300,
        )
    return main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Azurite:
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};AccountKey={AZURITE_ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string)

    def new_container(self) -> str:
        name = f"c{uuid.uuid4().hex[:20]}"
        self.service().create_container(name)
        return name

    def container_sas_url(self, container: str, permission: str = "racwdl") -> str:
        from azure.storage.blob import generate_container_sas

        sas = generate_container_sas(
            AZURITE_ACCOUNT_NAME, container, account_key=AZURITE_ACCOUNT_KEY, permission=permission,
            expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        return f"{self.blob_endpoint}/{container}?{sas}"

    def blob_sas_url(self, container: str, blob: str, permission: str = "r") -> str:
        from azure.storage.blob import generate_blob_sas

        sas = generate_blob_sas(
            AZURITE_ACCOUNT_NAME, container, blob, account_key=AZURITE_ACCOUNT_KEY, permission=permission,
            expiry=datetime.now(timezone.utc) + timedelta(hours=1),
        )
        return f"{self.blob_endpoint}/{container}/{blob}?{sas}"

    def put(self, container: str, blob: str, data: bytes) -> None:
        self.service().get_blob_client(container, blob).upload_blob(data, overwrite=True)

    def get(self, container: str, blob: str) -> bytes:
        return self.service().get_blob_client(container, blob).download_blob().readall()

    def names(self, container: str) -> list[str]:
        return sorted(b.name for b in self.service().get_container_client(container).list_blobs())


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    main = _azurite_blob_main()
    port = _free_port()
    log_path = tmp_path_factory.mktemp("azurite") / "azurite.log"
    log = open(log_path, "wb")  # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen(
        [node, str(main), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--silent",
         "--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Azurite did not start: {log_path.read_text(errors='replace')}")
                time.sleep(0.05)
        yield Azurite(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def node_root(tmp_path: Path) -> Path:
    root = tmp_path / "node"
    node_layout.create_node_layout(root)
    return root


@pytest.fixture
def make_env(node_root: Path):
    """The env of a job task on the test node, as the scheduler would build it."""

    def build(task_dir: Path, user_env: list[dict] | None = None, job_id: str = "job1", task_id: str = "t1"):
        base = node_dirs.base_env(
            root=node_root, account_name="acct", account_url="http://127.0.0.1:1/", pool_id="pool1",
            node_id="node1", is_dedicated=True,
        )
        return node_dirs.task_env(base, task_dir=task_dir, job_id=job_id, task_id=task_id, job_prep_dir=None,
                                  user_env=user_env or [])

    return build

