"""map() refuses a Windows pool before it stages anything (its runner needs python3 and /bin/sh)."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.errors import NotFoundError, ValidationError

pytestmark = pytest.mark.timeout(60)


def test_map_on_a_windows_pool_is_refused_before_the_job_exists(session, unique):
    pool = session.create_pool(batchnb.PoolSpec(f"win-{unique}", vm_size="Standard_D2s_v5", image="windows-2022"))
    try:
        with pytest.raises(ValidationError) as info:
            session.map(str.upper, ["a"], pool=pool.id, job_id=f"winmap-{unique}")
        assert info.value.field == "pool" and "Linux" in str(info.value)
        with pytest.raises(NotFoundError):
            session.get_job(f"winmap-{unique}")
    finally:
        pool.delete()
