"""map() refuses a Windows pool before it stages anything (its runner needs python3 and /bin/sh).

The local service runs Linux nodes only and refuses Windows pools, so the pool is played by a
stand-in session whose get_pool answers what Azure would; anything else it is asked fails the test.
"""

from __future__ import annotations

import pytest
from azure.batch import models as m

from batchnb.core.remote.mapper import submit_map
from batchnb.errors import ValidationError


class WindowsPoolSession:
    def get_pool(self, pool_id: str) -> m.BatchPool:
        return m.BatchPool(id=pool_id, virtual_machine_configuration=m.VirtualMachineConfiguration(
            image_reference=m.BatchVmImageReference(publisher="microsoftwindowsserver", offer="windowsserver",
                                                    sku="2022-datacenter"),
            node_agent_sku_id="batch.node.windows amd64"))

    def __getattr__(self, name: str):
        raise AssertionError(f"map() used session.{name} before refusing the Windows pool")


def test_map_on_a_windows_pool_is_refused_before_anything_is_staged():
    with pytest.raises(ValidationError) as info:
        submit_map(WindowsPoolSession(), str.upper, ["a"], pool="win", chunk_size=None, job_id=None,
                   container="batchnb-map", max_retries=0)
    assert info.value.field == "pool" and "Linux" in str(info.value)
    with pytest.raises(ValidationError):  # also with an explicit chunk size (no sizing lookup needed)
        submit_map(WindowsPoolSession(), str.upper, ["a"], pool="win", chunk_size=1, job_id=None,
                   container="batchnb-map", max_retries=0)
