"""Fixtures shared by all tests: one real local Batch service (Azurite + server) per test session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from azure.batch import BatchClient
    from azure.storage.blob import BlobServiceClient

    from batchnb.local import LocalService


def pytest_configure(config: pytest.Config) -> None:
    # Hypothesis keeps its example database in ./.hypothesis by default: a test run must leave the
    # checkout as it found it (.ci/test checks), so it lives in the temp dir (kept between runs, so
    # a failing example is still replayed first). HYPOTHESIS_STORAGE_DIRECTORY points elsewhere.
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
                            or Path(tempfile.gettempdir()) / f"batchnb-hypothesis-{os.getuid()}")


@pytest.fixture(scope="session")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """The embedded service, started in a temp state dir under the pytest basetemp, stopped at the end."""
    from batchnb import local

    state_dir = tmp_path_factory.mktemp("local-service")
    service = local.start(state_dir=state_dir, quiet=True)
    try:
        yield service
    finally:
        local.stop(state_dir=state_dir)


@pytest.fixture
def batch_client(local_service: LocalService) -> Iterator[BatchClient]:
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    credential = AzureNamedKeyCredential(local_service.account_name, local_service.account_key)
    client = BatchClient(local_service.batch_url, credential)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def blob_service(local_service: LocalService) -> Iterator[BlobServiceClient]:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(local_service.storage_connection_string)
    try:
        yield client
    finally:
        client.close()
