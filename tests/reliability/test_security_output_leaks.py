"""Task output shown in the notebook is masked (issue 11, leaks): a task that prints its SAS URL,
the storage key and the connection string, also percent-encoded and JSON-escaped, leaves no secret
in job.failures(), job.stderr(), the monitors' tails, %batch logs or a map() item's traceback."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

import batchnb
from batchnb.data.watch import read_task_file_tail

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]


def _secrets(service, sas_url: str) -> dict[str, str]:
    storage_key = re.search(r"AccountKey=([^;]+)", service.storage_connection_string).group(1)
    signature = re.search(r"sig=([^&]+)", sas_url).group(1)
    return {"account key": service.account_key, "storage key": storage_key,
            "storage key, URL-encoded": quote(storage_key, safe=""), "SAS signature": signature}


def _found(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


@pytest.fixture(scope="module")
def leaky_job(rel_session, rel_service):
    """A failed task whose stderr holds every secret, in several spellings."""
    sas_url = rel_session.storage.container_sas("rel-leaky", read=True)
    conn = rel_service.storage_connection_string
    printed = [sas_url, quote(sas_url, safe=""), json.dumps({"url": sas_url}).replace("&", "\\u0026"),
               conn, quote(conn, safe=""), f"key={rel_service.account_key}", rel_service.account_key]
    (rel_service.state_dir / "leaky.txt").write_text("\n".join(printed) + "\n")
    rel_session.create_pool(batchnb.PoolSpec("rel-leak-pool", vm_size="standard_d2s_v3", dedicated_nodes=1),
                            wait=True, timeout=60, exist_ok=True)
    job = rel_session.create_job("rel-leak-job", pool="rel-leak-pool")
    command = f"/bin/sh -c 'cat {rel_service.state_dir / 'leaky.txt'} >&2; cat {rel_service.state_dir / 'leaky.txt'}; exit 3'"
    job.add_tasks(batchnb.TaskSpec("t1", command))
    job.wait(timeout=60, poll=0.2)
    yield job, _secrets(rel_service, sas_url)
    rel_session.delete_job("rel-leak-job")


def test_the_task_really_printed_the_secrets(leaky_job) -> None:
    job, secrets = leaky_job
    raw = job.read_bytes("t1", "stderr.txt").decode()
    assert set(_found(raw, secrets)) == set(secrets)  # else the checks below would prove nothing


def test_failures_stderr_and_tails_are_masked(leaky_job, rel_session) -> None:
    job, secrets = leaky_job
    failures = job.failures()
    assert list(failures.index) == ["t1"]
    shown = [failures.to_string(), str(failures["stderr"].iloc[0]), job.stderr("t1"), job.stdout("t1"),
             job.stderr("t1", tail=2000),
             read_task_file_tail(rel_session.batch_client, job.id, "t1", "stderr.txt", max_bytes=100_000)]
    for text in shown:
        assert _found(text, secrets) == [], text[:300]
        assert "***" in text


def test_log_follow_is_masked(leaky_job, capsys) -> None:
    from batchnb.views.magics.tasks import _follow_blocking

    job, secrets = leaky_job
    followed = _follow_blocking(job, "t1", "stderr.txt", None, poll=0.1)
    printed = capsys.readouterr().out
    assert _found(followed + printed, secrets) == []
    assert "***" in printed


def test_a_map_items_traceback_is_masked(rel_session, rel_service) -> None:
    rel_session.create_pool(batchnb.PoolSpec("rel-leak-pool", vm_size="standard_d2s_v3", dedicated_nodes=1),
                            wait=True, timeout=60, exist_ok=True)
    key = rel_service.account_key

    def leak(_):
        raise RuntimeError(f"cannot connect with AccountKey={key}; key={key}")

    result = rel_session.map(leak, [1], pool="rel-leak-pool", errors="collect", timeout=120)
    error = result.errors[0]
    exc = error.to_exception(result.job_id)
    texts = [error.message, error.traceback, str(exc), exc.remote_traceback, "\n".join(exc.__notes__)]
    assert all(key not in text for text in texts)
