"""Local nodes are as bare as a fresh Azure node: a task's python3 has the standard library only,
and nothing of the kernel's (or the service's) virtualenv reaches it through PATH or PYTHONPATH."""

from __future__ import annotations

import json
import os
import sys

from .helpers import make_job, py, stdout, task, wait_task

_PROBE = """
import importlib.util, json, os, sys
print(json.dumps({
    "prefix": sys.prefix, "executable": sys.executable, "path": os.environ.get("PATH", ""),
    "pythonpath": os.environ.get("PYTHONPATH"), "virtual_env": os.environ.get("VIRTUAL_ENV"),
    "found": {m: importlib.util.find_spec(m) is not None for m in ("pandas", "cloudpickle", "azure", "batchnb")},
}))
"""


def test_a_task_python_has_the_standard_library_only(client, shared_pool) -> None:
    job = make_job(client, shared_pool)
    client.create_task(job, task("probe", py(_PROBE).replace("python -c", "python3 -c", 1)))
    client.create_task(job, task("pandas", "python3 -c 'import pandas'"))
    assert wait_task(client, job, "probe").execution_info.exit_code == 0
    seen = json.loads(stdout(client, job, "probe"))
    # The kernel running these tests has every one of these; the node has none.
    assert seen["found"] == {"pandas": False, "cloudpickle": False, "azure": False, "batchnb": False}
    assert os.path.realpath(seen["prefix"]) != os.path.realpath(sys.prefix)
    assert seen["pythonpath"] is None and seen["virtual_env"] is None
    kernel_bin = os.path.dirname(sys.executable)
    assert all(os.path.realpath(p) != os.path.realpath(kernel_bin) for p in seen["path"].split(os.pathsep) if p)

    failed = wait_task(client, job, "pandas")
    assert failed.execution_info.exit_code == 1
    assert "No module named 'pandas'" in stdout(client, job, "pandas", "stderr.txt")


def test_the_same_bare_python_serves_every_node(client, shared_pool) -> None:
    job = make_job(client, shared_pool)
    for i in range(4):
        client.create_task(job, task(f"t{i}", py("import sys; print(sys.prefix)").replace("python -c", "python3 -c")))
    prefixes = {stdout(client, job, f"t{i}").strip() for i in range(4) if wait_task(client, job, f"t{i}")}
    assert len(prefixes) == 1
    assert prefixes.pop().endswith("node-python")
