"""connect(): keyword arguments > environment > profile file > Entra ID, and clear errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import batchnb
from batchnb.errors import AuthError, SettingsError

pytestmark = pytest.mark.timeout(60)

_VARS = ("AZURE_BATCH_ACCOUNT", "AZURE_BATCH_ENDPOINT", "AZURE_BATCH_ACCESS_KEY", "AZURE_STORAGE_CONNECTION_STRING",
         "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "BATCHNB_PROFILE", "BATCHNB_PROFILES_FILE")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return monkeypatch


def test_connect_from_the_azure_cli_environment_variables(clean_env, local_service):
    for name, value in local_service.env().items():
        clean_env.setenv(name, value)
    with batchnb.connect() as s:
        assert s.auth_mode == "shared key" and s.account == local_service.account_name
        assert s.storage_account == "devstoreaccount1"
        s.list_pools()  # a real, signed request


def test_keyword_arguments_beat_the_environment(clean_env, local_service):
    clean_env.setenv("AZURE_BATCH_ENDPOINT", "https://wrong.westeurope.batch.azure.com")
    clean_env.setenv("AZURE_BATCH_ACCOUNT", local_service.account_name)
    clean_env.setenv("AZURE_BATCH_ACCESS_KEY", local_service.account_key)
    with batchnb.connect(endpoint=local_service.batch_url) as s:
        assert s.endpoint == local_service.batch_url
        s.list_jobs()


def test_profile_file_fills_what_the_environment_lacks(clean_env, local_service, tmp_path):
    config = tmp_path / "config" / "batchnb"
    config.mkdir(parents=True)
    (config / "profiles.toml").write_text(
        "[dev]\n"
        f'account = "{local_service.account_name}"\n'
        f'endpoint = "{local_service.batch_url}"\n'
        f'storage_connection_string = "{local_service.storage_connection_string}"\n'
        "[other]\n"
        'endpoint = "https://x.westeurope.batch.azure.com"\n')
    clean_env.setenv("AZURE_BATCH_ACCESS_KEY", local_service.account_key)  # the key only in the environment
    with batchnb.connect("dev") as s:
        assert s.profile == "dev" and s.auth_mode == "shared key"
        s.list_pools()
        assert s.storage.account_name == "devstoreaccount1"
    with pytest.raises(SettingsError) as info:
        batchnb.connect("nope")
    assert "'dev'" in str(info.value) and "'other'" in str(info.value)


def test_missing_settings_are_named(clean_env):
    with pytest.raises(SettingsError) as info:
        batchnb.connect()
    message = str(info.value)
    assert "AZURE_BATCH_ENDPOINT" in message and "batchnb.connect('local')" in message
    with pytest.raises(SettingsError) as info:
        batchnb.connect(endpoint="https://acct.westeurope.batch.azure.com", access_key="k" * 44,
                        storage_key="s" * 44)
    assert "AZURE_STORAGE_ACCOUNT" in str(info.value)
    with pytest.raises(TypeError) as info:
        batchnb.connect(account="a", endpoint="http://x", acess_key="typo")  # type: ignore[call-arg]
    assert "acess_key" in str(info.value)


def test_storage_is_optional_until_used(clean_env, local_service):
    s = batchnb.connect(account=local_service.account_name, endpoint=local_service.batch_url,
                        access_key=local_service.account_key)
    with pytest.raises(SettingsError) as info:
        s.storage  # noqa: B018
    assert "AZURE_STORAGE_CONNECTION_STRING" in str(info.value)
    s.close()


class _FakeTokenCredential:
    """Stands in for DefaultAzureCredential only: everything else (SDK, HTTP, service) is real."""

    def __init__(self, *args, **kwargs):
        pass

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("fake-entra-token-value-1234567890", 4102444800)


def test_without_a_key_entra_id_is_used(clean_env, local_service):
    # Mocked: only the token credential (there is no Entra ID tenant here).
    clean_env.setattr("azure.identity.DefaultAzureCredential", _FakeTokenCredential)
    s = batchnb.connect(account=local_service.account_name, endpoint=local_service.batch_url)
    assert s.auth_mode == "Entra ID" and "Entra ID" in repr(s)
    # The real SDK refuses to send a bearer token over plain http; the error says what to do.
    with pytest.raises(AuthError) as info:
        s.list_pools()
    assert "https" in str(info.value)
    assert "fake-entra-token" not in str(info.value)
    s.close()


def test_account_name_comes_from_an_azure_endpoint(clean_env):
    clean_env.setattr("azure.identity.DefaultAzureCredential", _FakeTokenCredential)
    s = batchnb.connect(endpoint="https://mybatch.westeurope.batch.azure.com")
    assert s.account == "mybatch"
    s.close()


def test_connect_local_reuses_the_running_service(local_service):
    a = batchnb.connect("local", state_dir=str(local_service.state_dir))
    b = batchnb.connect("local", state_dir=str(local_service.state_dir))
    assert a.endpoint == b.endpoint == local_service.batch_url
    assert a.local_service.server_pid == local_service.server_pid
    a.close()
    b.close()


def test_import_batchnb_is_light():
    code = ("import sys, batchnb; heavy = [m for m in ('azure', 'pandas', 'ipywidgets', 'plotly', 'IPython') "
            "if m in sys.modules]; print(heavy); assert callable(batchnb.connect); "
            "assert batchnb.errors.BatchnbError; assert batchnb.PoolSpec and batchnb.sweep; "
            "print(sorted(m for m in ('ipywidgets', 'plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    first, second = out.stdout.splitlines()
    assert first == "[]", "import batchnb pulled in heavy modules"
    assert second == "[]", "the core pulled in a UI library"
