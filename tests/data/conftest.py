"""Fixtures for the monitoring tests against the real local service (tests/conftest.py starts it)."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient
from azure.core.rest import HttpRequest

from tests.local.service.helpers import make_pool, uid


def set_faults(client: BatchClient, **body: float) -> dict:
    """Configure the local service's fault injection (admin route, signed by the SDK's own pipeline)."""
    response = client.send_request(HttpRequest("POST", "/_local/faults", json=body))
    response.raise_for_status()
    return response.json()


@pytest.fixture
def no_faults(batch_client: BatchClient):
    """Whatever a test injects is switched off again, even when the test fails."""
    yield
    set_faults(batch_client, throttle=0.0, error500=0.0, drop=0.0)


@pytest.fixture(scope="session")
def empty_pool(local_service) -> str:
    """A pool without nodes: tasks added to its jobs stay active until a test changes them."""
    from azure.core.credentials import AzureNamedKeyCredential

    client = BatchClient(local_service.batch_url,
                         AzureNamedKeyCredential(local_service.account_name, local_service.account_key))
    try:
        return make_pool(client, uid("empty"), dedicated=0)
    finally:
        client.close()
