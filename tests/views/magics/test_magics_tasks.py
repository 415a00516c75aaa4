"""``%%batch tasks`` (sweep, merge, per-file, outputs), ``%batch tasks/logs/retry/monitor``,
``upload`` and ``download``, end to end on the local service."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.views.magics.conftest import POOL, Shell

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_sweep_with_merge_runs_every_combination_and_rerunning_adds_nothing(shell: Shell) -> None:
    shell.ok(f"%batch job create magics-sweep --pool {POOL}")
    cell = ('%%batch tasks magics-sweep --sweep x=1:3 y=a,b --merge "python3 -c \\"print(\'merged\')\\"" '
            "--retries 1 --wait --timeout 120 -o swept\n"
            "# the command line template:\n"
            "python3 -c \"import sys; print(sys.argv[1], sys.argv[2])\" {x:02d} {y}\n")
    run = shell.ok(cell)
    assert "7 task(s) added" in run.stdout and "7 succeeded, 0 failed" in run.stdout
    swept = shell.ns["swept"]
    assert len(swept) == 7 and swept.ids[-1] == "merge"
    assert {(p["x"], p["y"]) for p in swept.params} == {(x, y) for x in (1, 2, 3) for y in "ab"}

    again = shell.ok(cell)
    assert "0 task(s) added, 7 already there" in again.stdout

    tasks = shell.ok("%batch tasks magics-sweep").result
    assert isinstance(tasks, pd.DataFrame) and len(tasks) == 7
    assert (tasks["exit_code"] == 0).all()
    # A short, readable table: the sweep's parameters first, seconds to 0.1, start to the second.
    assert list(tasks.columns) == ["x", "y", "state", "exit_code", "retries", "seconds", "node", "started (UTC)"]
    assert set(zip(tasks["x"].dropna(), tasks["y"].dropna())) == {(x, y) for x in (1, 2, 3) for y in "ab"}
    assert (tasks["seconds"].dropna() == tasks["seconds"].dropna().round(1)).all()
    assert (tasks["started (UTC)"].dropna().dt.microsecond == 0).all()
    every = shell.ok("%batch tasks magics-sweep --all").result
    assert {"failure_message", "created", "duration", "display_name"} <= set(every.columns) and len(every) == 7
    assert len(shell.ok("%batch tasks magics-sweep --state succeeded").result) == 7

    first = next(p for p in swept.params if p["x"] == 2 and p["y"] == "b")["task_id"]
    logs = shell.ok(f"%batch logs magics-sweep {first}")
    assert logs.stdout.strip() == "02 b"
    tail = shell.ok(f"%batch logs magics-sweep {first} --tail 2 -o text")
    assert shell.ns["text"] == "b\n" and tail.stdout.strip() == "-> text"
    assert "merged" in shell.ok("%batch logs magics-sweep merge").stdout


def test_per_file_tasks_upload_outputs_that_download_fetches(shell: Shell, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name, words in (("a.txt", "one two"), ("b.txt", "three four five")):
        (data / name).write_text(words)
    up = shell.ok(f"%batch upload {data} magics-in/texts -o uploaded")
    assert "Uploaded 2 file(s)" in up.stdout and len(shell.ns["uploaded"].uploaded) == 2
    assert "already there" in shell.ok(f"%batch upload {data} magics-in/texts").stdout

    shell.ok(f"%batch job create magics-files --pool {POOL}")
    shell.ok("%%batch tasks magics-files --per-file magics-in/texts --outputs outputs --wait --timeout 120\n"
             "python3 -c \"import os, sys; os.makedirs('out'); "
             "open('out/n.txt', 'w').write(str(len(open(sys.argv[1]).read().split())))\" {path}\n")
    dest = tmp_path / "got"
    got = shell.ok(f"%batch download magics-files {dest} --pattern */n.txt -o paths")
    counts = sorted(Path(p).read_text() for p in shell.ns["paths"])
    assert counts == ["2", "3"] and "Downloaded 2 file(s)" in got.stdout

    raw = tmp_path / "raw"
    shell.ok(f"%batch download magics-in/texts {raw}")
    assert sorted(p.name for p in raw.iterdir()) == ["a.txt", "b.txt"]


def test_failed_task_shows_in_the_failed_table_and_retry_reactivates_it(shell: Shell) -> None:
    shell.ok(f"%batch job create magics-retry --pool {POOL}")
    shell.ok("%%batch tasks magics-retry --id-prefix bad --wait --timeout 120\n"
             "python3 -c \"import sys; sys.stderr.write('boom'); sys.exit(3)\"\n")
    failed = shell.ok("%batch tasks magics-retry --state failed").result
    assert len(failed) == 1 and int(failed["exit_code"].iloc[0]) == 3
    task_id = failed.index[0]
    assert shell.ok(f"%batch logs magics-retry {task_id} --stderr").stdout.strip() == "boom"

    run = shell.ok("%batch retry magics-retry --failed -o retried")
    assert shell.ns["retried"] == [task_id] and "1 task(s) reactivated" in run.stdout
    # It runs again and fails again; then retrying it by id works too.
    shell.ok("from batchnb.core.current import get_current\nget_current().job('magics-retry').wait(timeout=60)")
    assert len(shell.ok("%batch tasks magics-retry --state failed").result) == 1
    shell.ok(f"%batch retry magics-retry {task_id} -o again")
    assert shell.ns["again"] == [task_id]


def test_monitor_returns_the_job_and_pool_views(shell: Shell) -> None:
    from batchnb.views.widgets import JobMonitor, PoolMonitor

    shell.ok(f"%batch job create magics-monitor --pool {POOL}")
    shell.ok("%batch monitor magics-monitor -o job_view")
    shell.ok(f"%batch monitor --pool {POOL} -o pool_view")
    try:
        assert isinstance(shell.ns["job_view"], JobMonitor)
        assert isinstance(shell.ns["pool_view"], PoolMonitor)
    finally:
        shell.ns["job_view"].close()
        shell.ns["pool_view"].close()


def test_logs_follow_prints_output_until_the_task_ends(shell: Shell) -> None:
    shell.ok(f"%batch job create magics-follow --pool {POOL}")
    shell.ok("%%batch tasks magics-follow -o follow_tasks\n"
             "python3 -c \"import time; [print('line', i, flush=True) or time.sleep(0.4) for i in range(4)]\"\n")
    task_id = shell.ns["follow_tasks"].ids[0]
    # No kernel here (terminal IPython): --follow blocks and prints as the file grows.
    run = shell.ok(f"%batch logs magics-follow {task_id} --follow")
    assert [ln for ln in run.stdout.splitlines() if ln.startswith("line")] == [f"line {i}" for i in range(4)]
