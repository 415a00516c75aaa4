"""The map runner as a node runs it: the exact command line map() writes, split without a shell (as
the local executor and Batch do), in a task directory. Inputs replaced in storage are refused on the
node before anything is unpickled; what a real run writes is what the notebook's checks accept."""

from __future__ import annotations

import os
import pickle
import shlex
import subprocess
import sys

import cloudpickle
import pytest

from batchnb.core.remote.integrity import parse_result, runner_command, sha256_hex
from batchnb.core.remote.mapper import runner_source


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _stage(wd, fn, items, *, retries=0):
    runner = runner_source()
    fn_bytes = cloudpickle.dumps(fn)
    items_bytes = pickle.dumps({"start": 0, "items": items, "python": "%d.%d" % sys.version_info[:2]})
    (wd / "runner.py").write_bytes(runner)
    (wd / "fn.pkl").write_bytes(fn_bytes)
    (wd / "items.pkl").write_bytes(items_bytes)
    return runner_command(runner_sha=sha256_hex(runner), fn_sha=sha256_hex(fn_bytes),
                          items_sha=sha256_hex(items_bytes), item_retries=retries)


def _run(wd, command):
    argv = shlex.split(command)
    argv[0] = sys.executable  # the node's python3
    env = {**os.environ, "AZ_BATCH_JOB_ID": "j", "AZ_BATCH_TASK_ID": "chunk-00000"}
    return subprocess.run(argv, cwd=wd, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_genuine_run_writes_a_result_the_notebook_accepts(tmp_path):
    command = _stage(tmp_path, lambda v: v * 2, [1, 2])
    done = _run(tmp_path, command)
    assert done.returncode == 0, done.stderr
    digests = shlex.split(command)[4], shlex.split(command)[6]
    parsed = parse_result((tmp_path / "result.pkl").read_bytes(), job_id="j", task_id="chunk-00000",
                          digests=digests, count=2)
    assert [pickle.loads(data) for _, data in parsed.entries] == [2, 4]
    with pytest.raises(ValueError, match="names job"):
        parse_result((tmp_path / "result.pkl").read_bytes(), job_id="j", task_id="chunk-00001",
                     digests=digests, count=2)


@pytest.mark.parametrize("replaced", ["fn.pkl", "items.pkl", "runner.py"])
def test_an_input_replaced_in_storage_is_refused_on_the_node_and_never_run(tmp_path, replaced):
    marker = tmp_path / "payload-ran"
    command = _stage(tmp_path, lambda v: v, [1])
    if replaced == "runner.py":
        (tmp_path / "runner.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    else:
        (tmp_path / replaced).write_bytes(pickle.dumps(_Payload(str(marker))))
    done = _run(tmp_path, command)
    assert done.returncode == 5
    assert "replaced in storage" in done.stderr
    assert not marker.exists()
    assert not (tmp_path / "result.pkl").exists()


def test_item_retries_run_on_the_node_and_the_task_still_succeeds(tmp_path):
    (tmp_path / "count").write_text("")

    def flaky(v, path=str(tmp_path / "count")):
        with open(path, "a") as fh:
            fh.write("x")
        if len(open(path).read()) < 3:
            raise RuntimeError("transient")
        return v

    done = _run(tmp_path, _stage(tmp_path, flaky, [7], retries=2))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "count").read_text() == "xxx"
