"""Pools and jobs through the magics, against the local service; ``-o`` hands results back."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.views.magics.conftest import POOL, Shell

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_connect_stores_the_session_and_makes_it_current(shell: Shell, local_service) -> None:
    from batchnb.core.current import get_current
    from batchnb.core.session import Session

    run = shell.ok(f"%batch connect local --state-dir {local_service.state_dir} -o s")
    assert isinstance(shell.ns["s"], Session)
    assert get_current() is shell.ns["s"]
    assert "Connected to the local Batch service" in run.stdout
    assert local_service.account_key not in run.stdout


def test_pool_list_show_resize_delete(shell: Shell) -> None:
    shell.ok("%batch pool create magics-resize --nodes 1 --slots 1 -o created")
    assert shell.ns["created"].id == "magics-resize"

    shell.ok("%batch pools -o pools_df")
    pools = shell.ns["pools_df"]
    assert isinstance(pools, pd.DataFrame)
    assert {POOL, "magics-resize"} <= set(pools.index)

    shown = shell.ok("%batch pool show magics-resize")
    assert isinstance(shown.result, pd.DataFrame) and len(shown.result) == 1  # its nodes
    assert "magics-resize" in shown.stdout

    run = shell.ok("%batch pool resize magics-resize --nodes 2 --wait --timeout 120")
    assert "resized to 2 dedicated" in run.stdout
    shell.ok("%batch pool show magics-resize -o handle")
    assert len(shell.ns["handle"].nodes()) == 2

    shell.ok("%batch pool delete magics-resize --wait --timeout 120")
    assert "magics-resize" not in set(shell.ok("%batch pool list").result.index)


def test_job_create_list_show_terminate_delete(shell: Shell) -> None:
    run = shell.ok(f"%batch job create magics-job-life --pool {POOL} -o job")
    assert shell.ns["job"].id == "magics-job-life"
    assert f"on pool '{POOL}'" in run.stdout
    # Re-running the same cell is safe: the job is re-used.
    shell.ok(f"%batch job create magics-job-life --pool {POOL}")

    jobs = shell.ok("%batch jobs").result
    assert jobs.loc["magics-job-life", "pool_id"] == POOL
    assert "magics-job-life" in shell.ok("%batch job list --state active").result.index

    shown = shell.ok("%batch job show magics-job-life")
    assert "0 active" in shown.stdout and shown.result.id == "magics-job-life"

    shell.ok("%batch job terminate magics-job-life --wait --timeout 60")
    assert shell.ns["job"].state == "completed"
    shell.ok("%batch job delete magics-job-life --wait --timeout 60")
    assert "magics-job-life" not in shell.ok("%batch jobs").result.index


def test_a_session_from_batchnb_connect_in_a_cell_is_used_by_the_magics(shell: Shell, local_service) -> None:
    from batchnb.core.current import clear_current, get_current, set_current

    before = get_current()
    clear_current()
    try:
        shell.ok(f"import batchnb\npy_session = batchnb.connect('local', state_dir={str(local_service.state_dir)!r})")
        assert POOL in shell.ok("%batch pools").result.index
    finally:
        shell.ns.pop("py_session", None)
        if before is not None:
            set_current(before)
