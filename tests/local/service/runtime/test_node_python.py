"""The bare python3 of local nodes (node_python.py) and the host-python opt-out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from batchnb.local import daemon
from batchnb.local.__main__ import build_config, build_parser
from batchnb.local.service.runtime import node_dirs, node_python


def _base(root: Path, python_bin: Path | None) -> dict[str, str]:
    return node_dirs.base_env(root=root, account_name="a", account_url="u", pool_id="p", node_id="n",
                              is_dedicated=True, python_bin=python_bin)


def test_bare_python_has_no_site_packages_and_is_made_once(tmp_path: Path) -> None:
    bin_dir = node_python.bare_python_bin(tmp_path)
    python = bin_dir / "python3"
    code = "import importlib.util as u, sys; print(sys.prefix); print(u.find_spec('cloudpickle') is None)"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": os.defpath}).stdout.split()
    assert out == [str(tmp_path / "node-python"), "True"]  # the kernel has cloudpickle; this python does not
    stamp = (bin_dir.parent / "pyvenv.cfg").stat().st_mtime_ns
    assert node_python.bare_python_bin(tmp_path) == bin_dir
    assert (bin_dir.parent / "pyvenv.cfg").stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_node_path_puts_the_bare_python_first_and_drops_the_kernel_venv(tmp_path: Path, monkeypatch) -> None:
    kernel_bin = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", os.pathsep.join([kernel_bin, "/usr/bin", "/bin"]))
    monkeypatch.setattr(sys, "base_prefix", "/somewhere/else")  # as when the service runs in a venv
    path = _base(tmp_path, tmp_path / "bare" / "bin")["PATH"].split(os.pathsep)
    assert path == [str(tmp_path / "bare" / "bin"), "/usr/bin", "/bin"]


def test_host_python_opt_out_gives_tasks_the_service_interpreter(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    assert _base(tmp_path, None)["PATH"].split(os.pathsep) == [os.path.dirname(sys.executable), "/usr/bin"]
    config = build_config(build_parser().parse_args(["serve", "--state-dir", str(tmp_path), "--host-python"]))
    assert config.host_python is True
    assert build_config(build_parser().parse_args(["serve", "--state-dir", str(tmp_path)])).host_python is False
    # batchnb.local.start(host_python=True) launches the server with the flag.
    assert "--host-python" in daemon._option_flags(daemon._launch_options(None, None, False, host_python=True))
    assert "--host-python" not in daemon._option_flags(daemon._launch_options(None, None, False, host_python=False))


def test_tasks_inherit_the_machines_tls_and_proxy_settings_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca.pem")
    monkeypatch.setenv("PYTHONPATH", "/kernel/site")
    monkeypatch.setenv("VIRTUAL_ENV", "/kernel/venv")
    env = node_dirs.task_env(_base(tmp_path, tmp_path / "bin"), task_dir=tmp_path / "t", job_id=None,
                             task_id=None, job_prep_dir=None, user_env=[])
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca.pem"
    assert "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env
