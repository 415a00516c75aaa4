"""Fixtures for the core API tests: a Session on the shared local service and one ready pool."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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
