"""benchmarks/bench_figures.py keeps working: a --quick --check smoke run (no service, no browser).

Not a timed test: --check fails the run on wrong results (frame dtypes that differ from
``tasks_frame()``'s, binned counts that differ from an independent count); the 1 s targets apply
to the full-size run only.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_bench_figures_runs_quick_and_checked(tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_figures.py"), "--quick", "--check"]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=850)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    out = result.stdout
    assert "check failed" not in result.stderr
    for figure in ("progress", "durations", "failures", "timeline", "node heatmap"):
        assert f"{figure}: update at 100,000 / at 1,000" in out, out
    assert "(heatmap / scatter)" in out  # the big job's timeline is binned, the small one's per task
    assert "baseline: per-task timeline of 100,000" in out and "binned / per-task timeline" in out
