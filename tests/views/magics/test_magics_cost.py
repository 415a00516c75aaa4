"""``%batch cost JOB`` and ``%batch cost --pool P`` on the local service (snapshot prices)."""

from __future__ import annotations

import pandas as pd
import pytest

from batchnb.core.cost import prices
from tests.views.magics.conftest import POOL, Shell

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(autouse=True)
def snapshot_prices(monkeypatch, tmp_path):
    monkeypatch.setenv(prices.OFFLINE_ENV, "1")
    monkeypatch.setenv(prices.CACHE_ENV, str(tmp_path / "cache"))
    prices._reset_for_tests()
    yield
    prices._reset_for_tests()


def test_cost_of_a_job_and_of_its_pool(shell: Shell) -> None:
    shell.ok(f"%batch job create magics-cost --pool {POOL}")
    shell.ok('%%batch tasks magics-cost --sweep x=1:4 --wait --timeout 120\nsleep 1\n')
    run = shell.ok("%batch cost magics-cost -o bill")
    bill = shell.ns["bill"]
    assert isinstance(bill, pd.DataFrame) and len(bill) == 4
    summary = bill.attrs["summary"]
    assert f"{summary['cost']:.4f} USD" in run.stdout and "approximate prices" in run.stdout
    pool = shell.ok(f"%batch cost --pool {POOL}")
    assert isinstance(pool.result, pd.DataFrame) and "idle" in pool.stdout
    assert f"{pool.result.attrs['summary']['cost']:.4f} USD" in pool.stdout


def test_cost_needs_a_job_or_a_pool(shell: Shell) -> None:
    run = shell.run("%batch cost")
    assert run.error is not None and "give a JOB, or --pool POOL" in run.stderr
    run = shell.run(f"%batch cost j --pool {POOL}")
    assert run.error is not None and "give a JOB, or --pool POOL" in run.stderr
