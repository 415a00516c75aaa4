"""Azurite runs with a storage key generated for its state directory, not the published development
key; the key reaches a user only through `batchnb local env` (or `up --show-secrets`) and the
connection settings batchnb itself reads."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient

from batchnb import local
from batchnb._constants import AZURITE_ACCOUNT_KEY
from tests.local.local_helpers import batchnb_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    sd = tmp_path_factory.mktemp("storage-key")
    try:
        yield sd
    finally:
        local.stop(state_dir=sd)


def _storage_key(connection_string: str) -> str:
    return dict(part.split("=", 1) for part in connection_string.split(";") if part)["AccountKey"]


def _published_key_status(service) -> int:
    dev = service.storage_connection_string.replace(_storage_key(service.storage_connection_string),
                                                    AZURITE_ACCOUNT_KEY)
    try:
        with BlobServiceClient.from_connection_string(dev) as blobs:
            list(blobs.list_containers())
        return 200
    except HttpResponseError as exc:
        return exc.status_code


def test_azurite_refuses_the_published_key_and_serves_the_generated_one(state_dir: Path) -> None:
    service = local.start(state_dir=state_dir, quiet=True)
    key = _storage_key(service.storage_connection_string)
    assert key != AZURITE_ACCOUNT_KEY and len(key) >= 80
    assert _published_key_status(service) == 403
    with BlobServiceClient.from_connection_string(service.storage_connection_string) as blobs:
        blobs.create_container("keyed").upload_blob("kept.txt", b"still here")

    # Kept with the state dir (private file), not in Azurite's record or on its command line.
    settings_file = state_dir / "settings.json"
    assert json.loads(settings_file.read_text())["storage_key"] == key
    assert settings_file.stat().st_mode & 0o077 == 0
    assert key not in (state_dir / "azurite.json").read_text()
    cmdline = Path(f"/proc/{service.azurite_pid}/cmdline")
    if cmdline.exists():
        assert key.encode() not in cmdline.read_bytes()

    # A restart keeps the key and the data; another state dir gets another key.
    local.stop(state_dir=state_dir)
    again = local.start(state_dir=state_dir, quiet=True)
    assert _storage_key(again.storage_connection_string) == key
    with BlobServiceClient.from_connection_string(again.storage_connection_string) as blobs:
        assert blobs.get_blob_client("keyed", "kept.txt").download_blob().readall() == b"still here"


def test_a_state_dir_from_before_generated_keys_moves_off_the_published_key(state_dir: Path) -> None:
    # Its own data (it used to read the blob another test wrote: it failed when run first, in random order).
    service = local.start(state_dir=state_dir, quiet=True)
    with BlobServiceClient.from_connection_string(service.storage_connection_string) as blobs:
        container = blobs.get_container_client("keyed-before")
        if not container.exists():
            container.create_container()
        container.upload_blob("kept.txt", b"still here", overwrite=True)
    local.stop(state_dir=state_dir)
    settings_file = state_dir / "settings.json"
    settings = json.loads(settings_file.read_text())
    del settings["storage_key"]
    settings_file.write_text(json.dumps(settings))
    service = local.start(state_dir=state_dir, quiet=True)
    assert _storage_key(service.storage_connection_string) != AZURITE_ACCOUNT_KEY
    assert _published_key_status(service) == 403
    with BlobServiceClient.from_connection_string(service.storage_connection_string) as blobs:
        assert blobs.get_blob_client("keyed-before", "kept.txt").download_blob().readall() == b"still here"


def test_only_env_and_show_secrets_print_the_keys(state_dir: Path) -> None:
    service = local.start(state_dir=state_dir, quiet=True)
    secrets = (service.account_key, _storage_key(service.storage_connection_string))
    for args in (("up",), ("up", "--json"), ("status",), ("status", "--json")):
        result = batchnb_cli("local", *args, "--state-dir", str(state_dir))
        assert result.returncode == 0, result.stderr
        shown = result.stdout + result.stderr
        assert not [s for s in secrets if s in shown], args
        assert "AccountKey=" not in shown
    assert "batchnb local env" in batchnb_cli("local", "up", "--state-dir", str(state_dir)).stdout

    exported = {}
    for line in batchnb_cli("local", "env", "--state-dir", str(state_dir)).stdout.splitlines():
        _, assignment = shlex.split(line)
        name, _, value = assignment.partition("=")
        exported[name] = value
    assert exported["AZURE_BATCH_ACCESS_KEY"] == service.account_key
    assert exported["AZURE_STORAGE_CONNECTION_STRING"] == service.storage_connection_string
    shown = batchnb_cli("local", "up", "--show-secrets", "--state-dir", str(state_dir)).stdout
    assert all(s in shown for s in secrets)


def test_the_state_dir_is_made_private_whatever_it_was_before(state_dir: Path) -> None:
    local.start(state_dir=state_dir, quiet=True)  # so that its logs exist
    local.stop(state_dir=state_dir)
    os.chmod(state_dir, 0o755)
    for name in ("server.log", "azurite.log"):
        os.chmod(state_dir / name, 0o644)
    service = local.start(state_dir=state_dir, quiet=True)
    assert service.running
    assert state_dir.stat().st_mode & 0o777 == 0o700  # nobody else can enter it, whatever is inside
    for name in ("server.log", "azurite.log", "settings.json", "server.json", "azurite.json"):
        assert (state_dir / name).stat().st_mode & 0o077 == 0, name
