"""Fixtures of the service suite: one shared local service (tests/conftest.py `local_service`), one
SDK client, and a shared 2 nodes x 4 slots pool for tests that only need somewhere to run tasks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

from .helpers import make_pool, uid


@pytest.fixture(scope="session")
def client(local_service) -> Iterator[BatchClient]:
    c = BatchClient(local_service.batch_url,
                    AzureNamedKeyCredential(local_service.account_name, local_service.account_key))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="session")
def shared_pool(client: BatchClient) -> str:
    """2 dedicated nodes x 4 slots, spread: where most job/task tests run their tasks."""
    return make_pool(client, uid("shared"), dedicated=2, slots=4)
