"""The rules that decide whether a map() result may be read, one refusal at a time (pure: the
end-to-end attacks are in tests/core/test_map_integrity.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from batchnb.core.remote.integrity import ChunkEvidence, check_chunk, command_digests, runner_command

T0 = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)
COMMAND = runner_command(runner_sha="a" * 64, fn_sha="b" * 64, items_sha="c" * 64, item_retries=0)
GOOD = ChunkEvidence(task_id="chunk-00000", state="completed", exit_code=0, failure_code=None, start_time=T0,
                     end_time=T0 + dt.timedelta(seconds=5), command_line=COMMAND,
                     blob_modified=T0 + dt.timedelta(seconds=4))


def test_a_result_written_while_its_task_ran_is_accepted() -> None:
    assert check_chunk(GOOD) is None
    assert check_chunk(dataclasses.replace(GOOD, exit_code=3, failure_code="FailureExitCode")) is None
    assert check_chunk(dataclasses.replace(GOOD, blob_modified=None, exit_code=4)) is None  # no blob: nothing to refuse
    assert command_digests(COMMAND) == ("b" * 64, "c" * 64)


@pytest.mark.parametrize("change, reason", [
    ({"state": "running"}, "task is running"),
    ({"failure_code": "FileUploadAccessDenied", "exit_code": 0}, "written by someone else first"),
    ({"exit_code": 4}, "exited 4"),
    ({"exit_code": None, "failure_code": "TaskEnded"}, "exited None"),
    ({"command_line": "python3 runner.py fn.pkl items.pkl result.pkl"}, "command line"),
    ({"blob_modified": T0 + dt.timedelta(minutes=10)}, "after the task ended"),
    ({"blob_modified": T0 - dt.timedelta(minutes=10)}, "before the task started"),
])
def test_evidence_the_task_did_not_write_the_result_refuses_it(change, reason) -> None:
    assert reason in check_chunk(dataclasses.replace(GOOD, **change))


def test_the_command_line_holds_no_double_quote_or_dollar_inside_its_script() -> None:
    script = COMMAND.split('"')[1]
    assert '"' not in script and "$" not in script
