"""When a pool is ready: an unusable node runs no task, so wait_steady must not call it ready."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.errors import BatchTimeoutError
from batchnb.local.faults_client import signed_request

pytestmark = pytest.mark.timeout(120)


def test_wait_steady_is_not_satisfied_by_an_unusable_node_and_names_it(session, local_service, unique):
    pool = session.create_pool(batchnb.PoolSpec(f"unusable-{unique}", vm_size="standard_d2s_v3", dedicated_nodes=1),
                               wait=True, timeout=60)
    try:
        node_id = pool.nodes().index[0]
        response = signed_request(local_service, "POST", f"/_local/pools/{pool.id}/nodes/{node_id}/unusable")
        assert response.status_code == 200
        with pytest.raises(BatchTimeoutError) as info:
            pool.wait_steady(timeout=6, poll=0.5)
        assert "unusable" in str(info.value) and node_id in str(info.value)
    finally:
        pool.delete()

