"""BATCHNB_LOCAL_COVERAGE: the launcher runs the service under `coverage run`, and a service stopped
the usual way (SIGTERM) leaves its coverage data beside COVERAGE_FILE. .ci/test relies on it to
measure the service's code, which runs in a process of its own."""

from __future__ import annotations

from pathlib import Path

import coverage
import pytest

from batchnb import local

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def test_a_service_started_under_coverage_writes_its_data_when_stopped(tmp_path, monkeypatch):
    data_dir = tmp_path / "coverage"
    data_dir.mkdir()
    monkeypatch.setenv("BATCHNB_LOCAL_COVERAGE", str(ROOT / "pyproject.toml"))
    monkeypatch.setenv("COVERAGE_FILE", str(data_dir / ".coverage"))
    state_dir = tmp_path / "state"
    service = local.start(state_dir=state_dir, quiet=True)
    try:
        command_line = Path(f"/proc/{service.server_pid}/cmdline").read_bytes().split(b"\0")
        assert command_line[1:4] == [b"-m", b"coverage", b"run"]
        from azure.batch import BatchClient
        from azure.core.credentials import AzureNamedKeyCredential

        credential = AzureNamedKeyCredential(service.account_name, service.account_key)
        with BatchClient(service.batch_url, credential) as client:
            assert list(client.list_pools()) == []  # some request handling to measure
    finally:
        assert local.stop(state_dir=state_dir)
    files = list(data_dir.glob(".coverage.*"))
    assert len(files) == 1, files  # a parallel data file, written at the server's clean exit
    data = coverage.CoverageData(basename=str(files[0]))
    data.read()
    app = next(f for f in data.measured_files() if f.endswith("batchnb/local/service/http/app.py"))
    assert len(data.lines(app) or []) > 50


def test_without_the_variable_the_service_runs_plainly():
    from batchnb.local.daemon import _under_coverage

    argv = ["python", "-m", "batchnb.local", "serve"]
    assert _under_coverage(list(argv), {}) == argv
    env = {"BATCHNB_LOCAL_COVERAGE": "pyproject.toml", "COVERAGE_FILE": "rel/.coverage"}
    wrapped = _under_coverage(list(argv), env)
    assert wrapped == ["python", "-m", "coverage", "run", "--parallel-mode",
                       f"--rcfile={Path('pyproject.toml').resolve()}", "-m", "batchnb.local", "serve"]
    assert Path(env["COVERAGE_FILE"]).is_absolute()  # the server runs in its state dir
