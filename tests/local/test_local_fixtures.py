"""The shared fixtures in tests/conftest.py hand out clients that reach the local service."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.timeout(120)


def test_batch_client_and_blob_service_reach_the_local_service(local_service, batch_client, blob_service) -> None:
    assert local_service.running
    assert isinstance(list(batch_client.list_pools()), list)
    name = f"fixture-{uuid.uuid4().hex[:8]}"
    container = blob_service.create_container(name)
    container.upload_blob("hello.txt", b"hi")
    assert container.download_blob("hello.txt").readall() == b"hi"
    container.delete_container()
