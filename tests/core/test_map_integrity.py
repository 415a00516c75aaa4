"""map() results cannot be forged: the test plays the attacker who can read the job's tasks (and so
every SAS in them), and, beyond that, one who holds the storage account key. Real SAS checks in
Azurite, real runner processes on the local nodes; a marker file proves no payload ever ran."""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobClient, ContainerClient

from batchnb.core.remote.integrity import RESULT_MAGIC, command_digests
from batchnb.errors import MapResultTamperedError

pytestmark = pytest.mark.timeout(180)


class _Payload:
    """Unpickling this runs a shell command: what an attacker plants as a 'result'."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_result(marker: str, *, job_id: str, task_id: str, command_line: str, items: int) -> bytes:
    """A result file as the runner writes it, with the header an attacker can fill from the task."""
    evil = pickle.dumps(_Payload(marker))
    fn_sha, items_sha = command_digests(command_line)
    header = {"job": job_id, "task": task_id, "start": 0, "python": "3", "host": "x", "fn_sha256": fn_sha,
              "items_sha256": items_sha, "entries": [{"ok": True, "size": len(evil)}] * items}
    return RESULT_MAGIC + json.dumps(header).encode() + b"\n" + evil * items


def _status(fn) -> int:
    try:
        fn()
        return 200
    except HttpResponseError as exc:
        return exc.status_code


def _task_sas(session, job_id: str, task_id: str):
    """What anyone with read access to the Batch account sees: the task's definition."""
    task = session.batch_client.get_task(job_id, task_id)
    inputs = {rf.file_path: rf.http_url for rf in task.resource_files}
    container = task.output_files[0].destination.container
    return inputs, container.container_url, container.path, task.command_line


def test_the_payload_used_below_really_runs_when_unpickled(tmp_path):
    # Without this, "the marker does not exist" would prove nothing.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(str(marker))))
    assert marker.exists()


def test_a_task_reader_can_overwrite_neither_results_nor_runner_nor_function(session, pool, unique, tmp_path):
    marker = tmp_path / "payload-ran"
    result = session.map(lambda v: v * 3, range(6), pool=pool.id, chunk_size=2, errors="collect",
                         job_id=f"map-hostile-{unique}", timeout=120)
    assert result.values() == [0, 3, 6, 9, 12, 15]
    inputs, out_url, own_path, command = _task_sas(session, result.job_id, "chunk-00000")
    evil = _evil_result(str(marker), job_id=result.job_id, task_id="chunk-00001", command_line=command, items=2)

    for name in ("runner.py", "fn.pkl", "items.pkl"):  # read-only SAS on exactly that blob
        blob = BlobClient.from_blob_url(inputs[name])
        assert blob.download_blob().readall()  # what the task needs still works
        assert _status(lambda b=blob: b.upload_blob(evil, overwrite=True)) == 403, name
        assert _status(lambda b=blob: b.delete_blob()) == 403, name
    out = ContainerClient.from_container_url(out_url)
    other_path = own_path.replace("00000.pkl", "00001.pkl")
    assert _status(lambda: out.upload_blob(other_path, evil, overwrite=True)) == 403  # another task's result
    assert _status(lambda: out.upload_blob(own_path, evil, overwrite=True)) == 403  # its own, already written
    assert _status(lambda: out.upload_blob(f"{result.job_id}/runner.py", b"import os", overwrite=True)) == 403
    assert _status(lambda: out.get_blob_client(own_path).download_blob().readall()) == 403
    assert _status(lambda: out.delete_blob(own_path)) == 403
    # Least privilege and a lifetime of the job's timeout plus an hour, not days.
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120) + dt.timedelta(hours=1, minutes=1)
    for url, permission in [(inputs["fn.pkl"], "r"), (inputs["runner.py"], "r"), (out_url, "c")]:
        query = parse_qs(urlsplit(url).query)
        assert query["sp"] == [permission] and query["sr"] == ["b"]
        assert dt.datetime.fromisoformat(query["se"][0].replace("Z", "+00:00")) < latest

    again = session.map_result(result.job_id).collect()
    assert again.values() == [0, 3, 6, 9, 12, 15]
    assert not marker.exists()


def test_a_result_planted_before_the_task_uploads_is_refused_and_never_unpickled(session, pool, unique, tmp_path):
    marker, go = tmp_path / "payload-ran", tmp_path / "go"

    def slow_until_released(v):  # keeps the task running until the attacker has planted its blob
        import os as _os
        import time as _time

        while not _os.path.exists(str(go)):
            _time.sleep(0.05)
        return v + 1

    pending = session.map(slow_until_released, [1, 2], pool=pool.id, chunk_size=1, wait=False,
                          job_id=f"map-race-{unique}")
    _, out_url, own_path, command = _task_sas(session, pending.job_id, "chunk-00000")
    evil = _evil_result(str(marker), job_id=pending.job_id, task_id="chunk-00000", command_line=command, items=1)
    assert _status(lambda: ContainerClient.from_container_url(out_url).upload_blob(own_path, evil)) == 200
    go.touch()

    with pytest.raises(MapResultTamperedError) as info:
        pending.wait(timeout=120)
    error = info.value
    assert list(error.chunks) == ["chunk-00000"]
    assert "FileUpload" in error.chunks["chunk-00000"] and "written by someone else" in str(error)
    assert "nothing was unpickled" in error.fix
    assert not marker.exists()
    with pytest.raises(MapResultTamperedError):  # a fresh handle refuses just the same
        session.map_result(pending.job_id).collect()
    assert not marker.exists()


def test_a_result_rewritten_with_the_account_key_after_its_task_ended_is_refused(session, pool, unique, tmp_path,
                                                                               blob_service):
    marker = tmp_path / "payload-ran"
    result = session.map(lambda v: -v, [1, 2, 3], pool=pool.id, chunk_size=2, errors="collect",
                         job_id=f"map-keyholder-{unique}", timeout=120)
    assert result.values() == [-1, -2, -3]
    *_, command = _task_sas(session, result.job_id, "chunk-00000")
    time.sleep(2.5)  # Last-Modified has one-second resolution
    container = blob_service.get_container_client(result.container)
    container.upload_blob(f"{result.job_id}/out/00000.pkl", overwrite=True, data=_evil_result(
        str(marker), job_id=result.job_id, task_id="chunk-00000", command_line=command, items=2))
    container.upload_blob(f"{result.job_id}/out/00001.pkl", pickle.dumps(_Payload(str(marker))), overwrite=True)

    fresh = session.map_result(result.job_id)
    fresh.clock_skew = dt.timedelta(seconds=1)
    with pytest.raises(MapResultTamperedError) as info:
        fresh.collect()
    assert sorted(info.value.chunks) == ["chunk-00000", "chunk-00001"]
    assert "after the task ended" in info.value.chunks["chunk-00000"]
    assert not marker.exists()
