"""Application files through the real local service: a folder with a module and a requirements.txt
staged once, installed by a start task (per pool) or a job preparation task (per job), imported by
tasks that run without a shell."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

import batchnb
from batchnb.core.tasks.appfiles import stage_app
from batchnb.errors import ValidationError

pytestmark = pytest.mark.timeout(180)

EXPECTED = "HELLO FROM GREET!"


def _wheel(path: Path) -> Path:
    """A tiny pure-Python wheel (module `shout`), so pip installs a real requirement offline."""
    files = {
        "shout.py": b"def shout(text):\n    return text.upper() + '!'\n",
        "shout-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: shout\nVersion: 0.1\n",
        "shout-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("shout-0.1.dist-info/RECORD,,")
    files["shout-0.1.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = path / "shout-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


def _app(root: Path) -> Path:
    """greet/ (imports the `shout` requirement), requirements.txt naming a wheel in the folder."""
    (root / "greet").mkdir(parents=True)
    (root / "greet" / "__init__.py").write_text(
        "from shout import shout\n\n\ndef hello():\n    return shout('hello from greet')\n")
    (root / "greet" / "__main__.py").write_text("from greet import hello\n\nprint(hello())\n")
    (root / "wheels").mkdir()
    _wheel(root / "wheels")
    (root / "requirements.txt").write_text("./wheels/shout-0.1-py3-none-any.whl\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "junk.cpython-311.pyc").write_bytes(b"not shipped")
    return root


def test_staging_is_content_addressed_and_skips_what_is_there(session, unique, tmp_path):
    root = _app(tmp_path / "greet-app")
    first = stage_app(session, root, container=f"apps-{unique}", pip_args=["--no-index"])
    assert first.name == "greet-app" and first.uploaded and first.has_requirements
    assert "__pycache__/junk.cpython-311.pyc" not in first.files
    assert set(first.files) == {"greet/__init__.py", "greet/__main__.py", "requirements.txt",
                                "wheels/shout-0.1-py3-none-any.whl"}
    assert "sig=" not in repr(first) and "?" not in repr(first)
    again = stage_app(session, root, container=f"apps-{unique}", pip_args=["--no-index"])
    assert again.digest == first.digest and not again.uploaded
    (root / "greet" / "__main__.py").write_text("print('changed')\n")
    changed = stage_app(session, root, container=f"apps-{unique}")
    assert changed.digest != first.digest and changed.uploaded
    blobs = session.storage.list_blobs(f"apps-{unique}")
    assert len(blobs) == 4  # zip + installer, per version

    only_requirements = stage_app(session, root / "requirements.txt", container=f"apps-{unique}", name="reqs")
    assert only_requirements.files == ("requirements.txt",) and only_requirements.has_requirements
    with pytest.raises(ValidationError, match="name"):
        stage_app(session, root, container=f"apps-{unique}", name="bad name!")
    with pytest.raises(ValidationError, match="path"):
        stage_app(session, tmp_path / "missing", container=f"apps-{unique}")


def test_start_task_installs_the_app_for_every_task_of_the_pool(session, unique, tmp_path):
    app = stage_app(session, _app(tmp_path / "greet"), container=f"apps-{unique}", pip_args=["--no-index"])
    pool_id = f"app-{unique}"
    spec = batchnb.PoolSpec(pool_id, vm_size="standard_d2s_v3", dedicated_nodes=1, task_slots_per_node=2,
                            start_task=app.start_task())
    session.create_pool(spec, wait=True, timeout=120)
    try:
        job = session.create_job(f"app-{unique}", pool=pool_id, environment=app.env)
        job.add_tasks([
            # No shell: PYTHONPATH from the job's environment settings.
            batchnb.TaskSpec("by-env", "python3 -m greet"),
            # Through /bin/sh -c with absolute paths, from another directory.
            batchnb.TaskSpec("by-command", app.command("python3 -c 'import os, greet; os.chdir(\"/\"); "
                                                       "print(greet.hello())'")),
        ])
        counts = job.wait(timeout=120)
        assert counts["succeeded"] == 2, job.tasks()[["state", "exit_code", "failure_code"]]
        assert job.stdout("by-env").strip() == EXPECTED
        assert job.stdout("by-command").strip() == EXPECTED
    finally:
        session.delete_pool(pool_id)


def test_preparation_task_installs_the_app_once_per_node_for_a_job(session, pool, unique, tmp_path):
    app = stage_app(session, _app(tmp_path / "greet"), container=f"apps-{unique}", pip_args=["--no-index"])
    spec = batchnb.JobSpec(f"prep-{unique}", pool=pool.id, preparation_task=app.preparation_task(),
                           environment=app.env)
    job = session.create_job(spec)
    job.add_tasks(batchnb.sweep("python3 -m greet", i=range(4)))
    counts = job.wait(timeout=120)
    assert counts["succeeded"] == 4, job.tasks()[["state", "exit_code", "failure_code"]]
    assert {job.stdout(t).strip() for t in job.tasks().index} == {EXPECTED}
    # A second job with the same bundle finds it installed on the nodes.
    second = session.create_job(batchnb.JobSpec(f"prep2-{unique}", pool=pool.id,
                                                preparation_task=app.preparation_task(), environment=app.env))
    second.add_tasks(batchnb.TaskSpec("t", "python3 -m greet"))
    assert second.wait(timeout=120)["succeeded"] == 1
    assert second.stdout("t").strip() == EXPECTED
