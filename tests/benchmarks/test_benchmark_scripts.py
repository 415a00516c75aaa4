"""The benchmark scripts keep working: each runs at its --quick size and prints its table.

These are smoke runs, not timed tests: the figures they print are measured against a baseline in
the same run and quoted from full-size runs; here we only check that the scripts do not rot.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["bench_throughput.py", "bench_submit.py", "bench_monitor.py", "bench_staging.py", "bench_map.py",
           "bench_env.py", "reliability_summary.py", "bench_cost.py"]


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick_and_prints_a_table(script: str, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) >= 3, result.stdout[-2000:]  # a title and at least two measured rows
