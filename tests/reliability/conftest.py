"""Fixtures of the reliability suite: its own throwaway local service (scenarios kill, restart and
fault it, which must not disturb the service the rest of the suite shares) and a session on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import batchnb
from batchnb.core.session import Session
from batchnb.local import LocalService

from .service_tools import throwaway_service


@pytest.fixture(scope="package")
def rel_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    with throwaway_service(tmp_path_factory.mktemp("reliability")) as service:
        yield service


@pytest.fixture(scope="package")
def rel_session(rel_service: LocalService) -> Iterator[Session]:
    s = batchnb.connect("local", state_dir=str(rel_service.state_dir))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="package")
def idle_pool(rel_session: Session) -> str:
    """A pool with no nodes: jobs on it never finish (what a deadline test needs)."""
    rel_session.create_pool(batchnb.PoolSpec("rel-empty-pool", vm_size="standard_d2s_v3", dedicated_nodes=0))
    return "rel-empty-pool"
