"""uv reaches a node that has neither uv nor pip (a fresh Ubuntu Batch node) from the session's
Blob storage: staged once by the client, fetched by the node's installer with a read SAS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from batchnb.core.remote.uv_staging import TOOLS_CONTAINER, staged_uv_url, uv_variables
from batchnb.core.specs.environment import UV_SHA_VARIABLE, uv_version
from batchnb.node import env_setup

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(not sys.platform.startswith("linux"),
                                                           reason="the kernel's uv binary runs on Linux nodes")]

_FIND = "import json,sys; sys.path.insert(0, sys.argv[1]); import env_setup; print(env_setup.find_uv(sys.argv[2], []))"


def test_a_node_without_uv_or_pip_gets_the_staged_binary(session, tmp_path: Path) -> None:
    url = staged_uv_url(session)
    assert url and "sig=" in url
    sha = uv_variables(session)[UV_SHA_VARIABLE]
    assert any(name.startswith(f"uv/{uv_version()}/") for name in session.storage.list_blobs(TOOLS_CONTAINER))
    node_dir = Path(__file__).resolve().parents[2] / "batchnb" / "node"
    bare = subprocess.run([getattr(sys, "_base_executable", sys.executable), "-c", "import sys; print(sys.prefix)"],
                          capture_output=True, text=True, check=True).stdout.strip()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "BATCHNB_UV_URL": url, UV_SHA_VARIABLE: sha,
           "AZ_BATCH_NODE_SHARED_DIR": str(tmp_path / "shared"), "PYTHONNOUSERSITE": "1"}
    # -I: the interpreter sees no site-packages of this test's venv (no pip, no uv module).
    found = subprocess.run([os.path.join(bare, "bin", "python3"), "-I", "-c", _FIND, str(node_dir), uv_version()],
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert found == str(tmp_path / "home" / ".cache" / "batchnb" / f"uv-{uv_version()}" / "uv")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.split()[:2] == ["uv", uv_version()]


def test_a_staged_uv_that_does_not_match_its_digest_is_never_run(session, tmp_path: Path, monkeypatch) -> None:
    # Someone who can write the blob (a storage key holder) must not get a binary run on the nodes.
    monkeypatch.setenv("BATCHNB_UV_URL", staged_uv_url(session))
    monkeypatch.setenv(UV_SHA_VARIABLE, "0" * 64)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("AZ_BATCH_NODE_SHARED_DIR", str(tmp_path / "shared"))
    monkeypatch.delenv("BATCHNB_UV", raising=False)
    monkeypatch.setattr(env_setup, "_uv_from_pip", lambda version, log: None)

    def offline(version):
        raise OSError("no package index here")

    monkeypatch.setattr(env_setup, "_uv_from_index", offline)
    log: list[str] = []
    with pytest.raises(OSError, match="no package index"):
        env_setup.find_uv(uv_version(), log)
    assert log == ["the staged uv does not match the digest the client sent; not used"]
    assert not (tmp_path / "home" / ".cache").exists()
