"""`batchnb local up|env|status|down` against real processes (Azurite + the local Batch server)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from batchnb import local
from tests.local.local_helpers import assert_gone, batchnb_cli, can_connect, non_loopback_ipv4

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sd = tmp_path_factory.mktemp("cli-state")
    try:
        yield sd
    finally:
        local.stop(state_dir=sd)


def up_json(state_dir: Path) -> dict:
    result = batchnb_cli("local", "up", "--json", "--show-secrets", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_up_prints_working_connection_settings(state_dir: Path) -> None:
    result = batchnb_cli("local", "up", "--show-secrets", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stderr
    settings = json.loads((state_dir / "settings.json").read_text())
    service = local.status(state_dir=state_dir)
    assert service is not None and service.running
    for value in (service.batch_url, service.account_name, settings["account_key"], service.storage_connection_string):
        assert value in result.stdout

    # The printed settings reach both services through the real SDKs.
    from azure.batch import BatchClient
    from azure.core.credentials import AzureNamedKeyCredential
    from azure.storage.blob import BlobServiceClient

    with BatchClient(service.batch_url, AzureNamedKeyCredential(service.account_name, settings["account_key"])) as c:
        assert list(c.list_pools()) == []
    with BlobServiceClient.from_connection_string(service.storage_connection_string) as blobs:
        blobs.create_container("cli-smoke")
        assert [c.name for c in blobs.list_containers()] == ["cli-smoke"]


def test_up_json_parses_and_second_up_reuses_the_processes(state_dir: Path) -> None:
    first = up_json(state_dir)
    second = up_json(state_dir)
    assert set(first) >= {"batch_url", "account_name", "account_key", "storage_connection_string", "state_dir"}
    assert first["batch_url"].startswith("http://127.0.0.1:")
    assert "BlobEndpoint=http://127.0.0.1:" in first["storage_connection_string"]
    assert (second["server_pid"], second["azurite_pid"]) == (first["server_pid"], first["azurite_pid"])
    assert second["account_key"] == first["account_key"]


def test_env_prints_shell_exports_of_the_same_settings(state_dir: Path) -> None:
    settings = up_json(state_dir)
    result = batchnb_cli("local", "env", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stderr
    exported = {}
    for line in result.stdout.splitlines():
        word, assignment = shlex.split(line)
        assert word == "export"
        name, _, value = assignment.partition("=")
        exported[name] = value
    assert exported == {
        "AZURE_BATCH_ACCOUNT": settings["account_name"],
        "AZURE_BATCH_ENDPOINT": settings["batch_url"],
        "AZURE_BATCH_ACCESS_KEY": settings["account_key"],
        "AZURE_STORAGE_CONNECTION_STRING": settings["storage_connection_string"],
    }


def test_status_shows_the_service_but_never_the_key(state_dir: Path) -> None:
    settings = up_json(state_dir)
    human = batchnb_cli("local", "status", "--state-dir", str(state_dir))
    assert human.returncode == 0, human.stderr
    assert "running" in human.stdout and settings["batch_url"] in human.stdout
    as_json = batchnb_cli("local", "status", "--json", "--state-dir", str(state_dir))
    data = json.loads(as_json.stdout)
    assert data["running"] is True
    assert (data["server_pid"], data["azurite_pid"]) == (settings["server_pid"], settings["azurite_pid"])
    for out in (human.stdout + human.stderr, as_json.stdout + as_json.stderr):
        assert settings["account_key"] not in out
        assert "AccountKey=" not in out


def test_services_listen_on_loopback_only(state_dir: Path) -> None:
    settings = up_json(state_dir)
    server_port = int(settings["batch_url"].rsplit(":", 1)[1])
    azurite_port = int(settings["blob_endpoint"].split(":")[2].split("/")[0])
    assert can_connect("127.0.0.1", server_port) and can_connect("127.0.0.1", azurite_port)
    ip = non_loopback_ipv4()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    assert not can_connect(ip, server_port), f"the Batch server answers on {ip}"
    assert not can_connect(ip, azurite_port), f"Azurite answers on {ip}"


def test_down_stops_both_processes(state_dir: Path) -> None:
    settings = up_json(state_dir)
    result = batchnb_cli("local", "down", "--state-dir", str(state_dir))
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert_gone(settings["server_pid"], settings["azurite_pid"])
    status = batchnb_cli("local", "status", "--state-dir", str(state_dir))
    assert status.returncode == 3 and "not running" in status.stdout
    again = batchnb_cli("local", "down", "--state-dir", str(state_dir))
    assert again.returncode == 0 and "not running" in again.stdout


def test_failure_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = batchnb_cli("local", "up", "--state-dir", str(not_a_dir))
    assert result.returncode == 1
    assert result.stderr.startswith("batchnb: error:") and result.stderr.count("\n") == 1
