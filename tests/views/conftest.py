"""Fixtures for the monitoring tests (data builders live in monitoring_data.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.data.monitoring_data import synthetic_tasks


@pytest.fixture(scope="session")
def tasks_100k() -> pd.DataFrame:
    return synthetic_tasks(100_000)
