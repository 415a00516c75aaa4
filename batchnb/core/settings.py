"""Where a session's settings come from: keyword arguments > environment > profile file > Entra ID.

    batchnb.connect("local")            # the embedded local service (started or reused)
    batchnb.connect()                   # AZURE_BATCH_* / AZURE_STORAGE_* variables, else a profile
    batchnb.connect("work")             # the [work] profile of ~/.config/batchnb/profiles.toml
    batchnb.connect(account="acct", endpoint="https://acct.westeurope.batch.azure.com")  # Entra ID

The environment variables are the Azure CLI's: ``AZURE_BATCH_ACCOUNT``, ``AZURE_BATCH_ENDPOINT``,
``AZURE_BATCH_ACCESS_KEY``, and for storage ``AZURE_STORAGE_CONNECTION_STRING`` or
``AZURE_STORAGE_ACCOUNT`` + ``AZURE_STORAGE_KEY``. A profile file looks like this::

    [default]
    account = "mybatch"
    endpoint = "https://mybatch.westeurope.batch.azure.com"
    # access_key = "..."            # without a key, Entra ID (az login, managed identity...) is used
    storage_account = "mystorage"
    # storage_key = "..." / storage_connection_string = "..."

    [local]
    local = true                     # same as connect("local")
    state_dir = "~/batchnb-state"    # optional

Each setting is taken from the first source that has it, so a profile can supply the storage
account while the environment supplies the Batch key. Every key or connection string read here
is registered with :func:`batchnb.core.redact.register_secret` at once.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchnb.core.redact import register_secret
from batchnb.errors import SettingsError

__all__ = ["ConnectionSettings", "SettingsError", "account_from_endpoint", "profile_path", "resolve_settings"]

PROFILE_ENV = "BATCHNB_PROFILE"
PROFILE_FILE_ENV = "BATCHNB_PROFILES_FILE"
LOCAL_TARGET = "local"

# setting -> environment variable (the Azure CLI's names)
_ENV = {
    "account": "AZURE_BATCH_ACCOUNT",
    "endpoint": "AZURE_BATCH_ENDPOINT",
    "access_key": "AZURE_BATCH_ACCESS_KEY",
    "storage_connection_string": "AZURE_STORAGE_CONNECTION_STRING",
    "storage_account": "AZURE_STORAGE_ACCOUNT",
    "storage_key": "AZURE_STORAGE_KEY",
}
_PROFILE_KEYS = frozenset({*_ENV, "local", "state_dir", "storage_endpoint"})
_SECRET_KEYS = ("access_key", "storage_connection_string", "storage_key")


@dataclass(frozen=True)
class ConnectionSettings:
    """Resolved settings. Secrets are excluded from the repr; ``source`` says where each came from."""

    account: str | None = None
    endpoint: str | None = None
    access_key: str | None = field(default=None, repr=False)
    storage_connection_string: str | None = field(default=None, repr=False)
    storage_account: str | None = None
    storage_key: str | None = field(default=None, repr=False)
    storage_endpoint: str | None = None
    local: bool = False
    state_dir: str | None = None
    profile: str | None = None
    source: dict[str, str] = field(default_factory=dict)

    @property
    def auth_mode(self) -> str:
        return "shared key" if self.access_key else "Entra ID"


def profile_path() -> Path:
    """$BATCHNB_PROFILES_FILE, else $XDG_CONFIG_HOME/batchnb/profiles.toml (~/.config/...)."""
    explicit = os.environ.get(PROFILE_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "batchnb" / "profiles.toml"


def _read_profile(name: str | None, *, required: bool) -> tuple[dict[str, Any], str | None]:
    path = profile_path()
    if not path.is_file():
        if required:
            raise SettingsError(f"profile {name!r} was asked for, but there is no profile file at {path}",
                                fix=f"create {path} with a [{name}] section, or set {PROFILE_FILE_ENV}")
        return {}, None
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        # The parser's message quotes the offending line, which may hold a key: keep only its position.
        where = getattr(exc, "lineno", None)
        raise SettingsError(f"cannot read the profile file {path}" + (f" (line {where})" if where else ""),
                            fix="check its TOML syntax") from None
    chosen = name or "default"
    section = data.get(chosen)
    if section is None:
        if required:
            known = ", ".join(repr(k) for k in data) or "none"
            raise SettingsError(f"profile {chosen!r} is not in {path}", fix=f"use one of: {known}")
        return {}, None
    if not isinstance(section, dict):
        raise SettingsError(f"profile {chosen!r} in {path} is not a table", fix=f"write it as [{chosen}]")
    for key in _SECRET_KEYS:
        register_secret(section.get(key))
    unknown = set(section) - _PROFILE_KEYS
    if unknown:
        raise SettingsError(f"profile {chosen!r} has unknown setting(s) {', '.join(sorted(unknown))}",
                            fix=f"use: {', '.join(sorted(_PROFILE_KEYS))}")
    return dict(section), chosen


def resolve_settings(profile: str | None = None, **kwargs: Any) -> ConnectionSettings:
    """Merge keyword arguments, environment and profile (in that order of precedence).

    ``profile="local"`` (or a profile with ``local = true``) selects the embedded service.
    Raises :class:`SettingsError` naming what is missing when no Batch account can be found.
    """
    for key in _SECRET_KEYS:
        register_secret(kwargs.get(key))
        register_secret(os.environ.get(_ENV[key]))
    unknown = set(kwargs) - _PROFILE_KEYS
    if unknown:
        raise SettingsError(f"connect() got unknown setting(s) {', '.join(sorted(unknown))}",
                            fix=f"use: {', '.join(sorted(_PROFILE_KEYS - {'local'}))}")
    explicit_profile = profile or os.environ.get(PROFILE_ENV) or None  # empty = unset
    if explicit_profile == LOCAL_TARGET and not _profile_defines(LOCAL_TARGET):
        return ConnectionSettings(local=True, state_dir=kwargs.get("state_dir"), profile=LOCAL_TARGET,
                                  source={"local": "argument"})
    section, used_profile = _read_profile(explicit_profile, required=explicit_profile is not None)

    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for key in _PROFILE_KEYS:
        if kwargs.get(key) is not None:
            values[key], source[key] = kwargs[key], "argument"
        elif key in _ENV and os.environ.get(_ENV[key]):
            values[key], source[key] = os.environ[_ENV[key]], f"${_ENV[key]}"
        elif section.get(key) is not None:
            values[key], source[key] = section[key], f"profile {used_profile!r}"
    if values.get("local"):
        return ConnectionSettings(local=True, state_dir=values.get("state_dir"), profile=used_profile,
                                  source=source)

    settings = ConnectionSettings(
        account=values.get("account") or account_from_endpoint(values.get("endpoint") or ""),
        endpoint=values.get("endpoint"),
        access_key=values.get("access_key"),
        storage_connection_string=values.get("storage_connection_string"),
        storage_account=values.get("storage_account"),
        storage_key=values.get("storage_key"),
        storage_endpoint=values.get("storage_endpoint"),
        profile=used_profile,
        source=source,
    )
    _check_complete(settings)
    return settings


def account_from_endpoint(endpoint: str) -> str | None:
    """``mybatch`` from ``https://mybatch.westeurope.batch.azure.com`` (None for other hosts)."""
    from urllib.parse import urlsplit

    if not endpoint:
        return None
    host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    return host.split(".")[0] if host.endswith(".batch.azure.com") else None


def _profile_defines(name: str) -> bool:
    path = profile_path()
    if not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            return name in tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _check_complete(s: ConnectionSettings) -> None:
    missing = []
    if not s.endpoint:
        missing.append(f"the Batch account URL (endpoint=... or ${_ENV['endpoint']})")
    if not s.account and s.access_key:
        missing.append(f"the Batch account name (account=... or ${_ENV['account']}), needed with a key")
    if missing:
        where = profile_path()
        raise SettingsError(
            "Cannot connect: missing " + " and ".join(missing),
            fix=f"pass them to batchnb.connect(), set the environment variables, add a profile to {where}, "
                "or use batchnb.connect('local') for the embedded service")
    if s.storage_key and not s.storage_account:
        raise SettingsError(f"a storage key was given without a storage account name (${_ENV['storage_account']})",
                            fix="set storage_account=... too, or give storage_connection_string")
