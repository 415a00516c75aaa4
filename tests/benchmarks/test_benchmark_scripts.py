"""The benchmark scripts keep working: each runs at its --quick size with --check and leaves nothing behind.

These are smoke runs, not timed tests: the figures they print are measured against a baseline in
the same run and quoted from full-size runs. With --check a script exits 1 when a task failed, a
result was wrong or a target that applies at this size was missed (it used to print WARNING and
exit 0), so exit 0 here means the run was right, not only that it did not crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["bench_throughput.py", "bench_submit.py", "bench_monitor.py", "bench_staging.py", "bench_map.py",
           "bench_wait.py", "bench_env.py", "reliability_summary.py", "bench_cost.py", "bench_sweeps.py", "bench_scale.py"]
# The scripts that start a throwaway service where --state-parent says; the others use
# $BATCHNB_LOCAL_STATE_DIR when it is set.
STATE_PARENT = {"bench_throughput.py", "bench_submit.py", "bench_monitor.py", "reliability_summary.py",
                "bench_cost.py", "bench_wait.py", "bench_scale.py"}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_quick_checked_and_stops_what_it_started(script: str, tmp_path: Path) -> None:
    argv = [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--check"]
    if script in STATE_PARENT:
        argv += ["--state-parent", str(tmp_path)]
    # Not running before: a service the script has to start there must be stopped again.
    env = {**os.environ, "BATCHNB_LOCAL_STATE_DIR": str(tmp_path / "env-state")}
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) >= 3, result.stdout[-2000:]  # a title and at least two measured rows
    assert "check failed" not in result.stderr
    assert _processes_mentioning(str(tmp_path)) == []  # no server or Azurite left running


def test_check_makes_a_missed_target_or_failed_task_exit_1() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _common import finish
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))

    class Args:
        check = True

    assert finish(Args(), failures=[], missed=[]) == 0
    assert finish(Args(), failures=["3 of 400 tasks failed"], missed=[]) == 1
    assert finish(Args(), failures=[], missed=["ratio 0.3 < 0.5"]) == 1
    assert finish(Args(), failures=[], missed=["ratio 0.3 < 0.5"], targets_apply=False) == 0
    Args.check = False
    assert finish(Args(), failures=["3 of 400 tasks failed"], missed=["ratio 0.3 < 0.5"]) == 0
