"""The README's magic sequence as written, ``--help`` on groups, and one-line errors (no traceback)
for a missing task, against the local service."""

from __future__ import annotations

import pytest

from tests.views.magics.conftest import POOL, Shell

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def test_cell_magic_creates_the_job_on_a_named_pool_then_monitor_and_logs(shell: Shell) -> None:
    job = "magics-readme"
    missing = shell.run(f"%%batch tasks {job} --sweep x=1:3\npython3 -c \"print('x={{x}}')\"\n")
    # The error says how to make the job, in magics, not in Python.
    assert missing.error is not None and f"%batch job create {job} --pool POOL" in missing.stderr
    assert "--pool POOL" in missing.stderr and "list_jobs" not in missing.stderr

    run = shell.ok(f"%%batch tasks {job} --pool {POOL} --sweep x=1:3 --wait --timeout 120\n"
                   "python3 -c \"print('x={x}')\"\n")
    assert f"Job {job!r} created on pool {POOL!r}" in run.stdout and "3 succeeded, 0 failed" in run.stdout
    again = shell.ok(f"%%batch tasks {job} --pool {POOL} --sweep x=1:3\npython3 -c \"print('x={{x}}')\"\n")
    assert "created" not in again.stdout and "0 task(s) added, 3 already there" in again.stdout

    tasks = shell.ok(f"%batch tasks {job}").result
    first = sorted(tasks.index)[0]
    follow = shell.ok(f"%batch logs {job} {first} --follow")  # no kernel here: the blocking follow
    assert follow.stdout.startswith("x=") and follow.stderr == ""


def test_group_help_lists_the_actions(shell: Shell) -> None:
    for group, action in (("pool", "pool create"), ("job", "job create")):
        run = shell.ok(f"%batch {group} --help")
        assert f"%batch {action}" in run.stdout and "is not an action" not in run.stdout + run.stderr


def test_logs_of_a_missing_task_is_one_line_without_traceback(shell: Shell) -> None:
    shell.ok(f"%batch job create magics-nologs --pool {POOL}")
    run = shell.run("%batch logs magics-nologs no-such-task")
    assert run.error is not None
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no-such-task" in lines[0] and "does not exist" in lines[0], run.stderr
    assert "Traceback" not in run.stderr and "deserialization" not in run.stderr
    follow = shell.run("%batch logs magics-nologs no-such-task --follow")
    assert follow.error is not None and "Traceback" not in follow.stderr and "no-such-task" in follow.stderr


def _readme_magic_cells() -> list[str]:
    """The README's magic block, split into cells as a user types them (a %% line takes the body)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = text.split("Or with magics", 1)[1].split("```", 2)[1]
    cells: list[str] = []
    for line in block.strip().splitlines():
        if line.startswith("%") or not cells:
            cells.append(line)
        else:
            cells[-1] += "\n" + line
    return cells


def test_readme_magic_sequence_runs_as_written(shell: Shell, local_service) -> None:
    cells = _readme_magic_cells()
    assert cells[0] == "%load_ext batchnb" and any(c.startswith("%batch job create") for c in cells)
    pool, job = "readme-p1", "readme-j1"  # the README's p1/j1, kept apart from other tests
    for cell in cells[1:]:
        cell = cell.replace("p1", pool).replace("j1", job)
        if cell == "%batch connect local":
            cell += f" --state-dir {local_service.state_dir}"  # this test's service
        if "TASK" in cell:
            # A task id as the user reads it from the table, once the tasks are done.
            shell.ok(f"__import__('batchnb').core.current.get_current().job('{job}').wait(timeout=120)")
            cell = cell.replace("TASK", sorted(shell.ok(f"%batch tasks {job}").result.index)[0])
        run = shell.ok(cell)
        assert "Traceback" not in run.stderr, (cell, run.stderr)
    shell.ok(f"%batch job delete {job}")
    shell.ok(f"%batch pool delete {pool}")
