"""`python -m batchnb.local serve` turns flags and environment into the server's configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchnb.local.__main__ import build_config, build_parser


def test_flags_and_env_become_the_server_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHNB_LOCAL_KEY", "a2V5")
    monkeypatch.setenv("BATCHNB_LOCAL_STORAGE", "DefaultEndpointsProtocol=http;AccountName=x")
    args = build_parser().parse_args(
        ["serve", "--state-dir", str(tmp_path), "--port", "1234", "--account", "acct", "--auth", "off",
         "--allow-bearer", "--node-boot-seconds", "0.05", "--throttle", "0.1", "--error500", "0.2",
         "--drop", "0.3", "--retry-after", "2", "--seed", "7"]  # fmt: skip
    )
    config = build_config(args)
    assert (config.state_dir, config.host, config.port) == (tmp_path.resolve(), "127.0.0.1", 1234)
    assert (config.account_name, config.account_key, config.auth_mode) == ("acct", "a2V5", "off")
    assert config.allow_bearer and config.node_boot_seconds == 0.05
    assert config.storage_connection_string == "DefaultEndpointsProtocol=http;AccountName=x"
    f = config.faults
    assert (f.throttle, f.error500, f.drop, f.retry_after, f.seed) == (0.1, 0.2, 0.3, 2.0, 7)


def test_defaults_keep_the_server_config_defaults(tmp_path: Path) -> None:
    from batchnb.local.service.config import ServerConfig

    config = build_config(build_parser().parse_args(["serve", "--state-dir", str(tmp_path)]))
    assert config.node_boot_seconds == ServerConfig(state_dir=tmp_path).node_boot_seconds
    assert config.port == 0 and config.auth_mode == "strict" and not config.allow_bearer


def test_strict_auth_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BATCHNB_LOCAL_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "batchnb.local", "serve", "--state-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2 and "BATCHNB_LOCAL_KEY" in result.stderr
