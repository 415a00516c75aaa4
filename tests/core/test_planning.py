"""Task planning from magic-style options, as a core function (``batchnb.core.tasks.planning``), and
the one reactivation path (``JobHandle.reactivate_tasks``), on the local service."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.core.tasks.planning import plan_tasks
from batchnb.errors import NotFoundError, ValidationError

pytestmark = pytest.mark.timeout(180)


def test_plan_tasks_sweep_with_merge_and_outputs(session, unique) -> None:
    tasks = plan_tasks(session, f"plan-{unique}", "python3 run.py --x {x} --y {y}", sweep={"x": [1, 2], "y": "ab"},
                       outputs="plan-out", merge="python3 merge.py", retries=2)
    assert len(tasks) == 5 and tasks.ids[-1] == "merge"
    assert {(p["x"], p["y"]) for p in tasks.params} == {(1, "a"), (1, "b"), (2, "a"), (2, "b")}
    first = tasks[0]
    assert first.max_retries == 2
    # Outputs under <job>/<task id>/ and the logs beside them; the merge task reads them as results/.
    paths = [o.path for o in first.output_files]
    assert paths == [f"plan-{unique}/{first.id}", f"plan-{unique}/{first.id}/logs"]
    assert any(getattr(r, "file_path", None) == "results" for r in tasks[-1].resource_files)
    # Planning is deterministic: the same options give the same ids (re-running adds nothing twice).
    again = plan_tasks(session, f"plan-{unique}", "python3 run.py --x {x} --y {y}", sweep={"x": [1, 2], "y": "ab"},
                       outputs="plan-out", merge="python3 merge.py", retries=2)
    assert again.ids == tasks.ids


@pytest.mark.parametrize(("options", "field"), [
    ({"zip": True}, "--zip"),
    ({"chunk": 3}, "--chunk"),
    ({"sweep": {"x": [1]}, "per_file_blobs": "inputs"}, "--sweep"),
    ({"outputs": "/"}, "--outputs"),
])
def test_plan_tasks_rejects_bad_options_with_one_line_naming_the_option(session, options, field) -> None:
    with pytest.raises(ValidationError) as info:
        plan_tasks(session, "never-created", "echo hi", **options)
    text = str(info.value)
    assert text.startswith(field) and "\n" not in text and "Fix:" in text


def test_reactivate_tasks_is_the_one_retry_path(session, pool, unique) -> None:
    job = session.create_job(f"reactivate-{unique}", pool=pool)
    job.add_tasks([batchnb.TaskSpec("ok", 'python3 -c "pass"'),
                   batchnb.TaskSpec("bad", 'python3 -c "import sys; sys.exit(4)"')])
    job.wait(timeout=60)
    assert job.reactivate_tasks(["bad"]) == ["bad"]
    assert job.task_state("bad") in ("active", "preparing", "running", "completed")
    job.wait(timeout=60)
    assert job.retry_failed() == ["bad"]
    with pytest.raises(NotFoundError):
        job.reactivate_tasks(["no-such-task"])
    job.wait(timeout=60)
    tail = job.file_tail("ok", "stdout.txt")
    assert tail.read() == "" and tail.offset == 0 and not tail.missing
    job.delete()
