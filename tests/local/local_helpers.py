"""Helpers for tests of the local service's processes (CLI runs, PID checks, network addresses)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from batchnb.local.processes import pid_alive

_SCRIPT = Path(sys.executable).parent / "batchnb"


def batchnb_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installed `batchnb` command (as a user would), falling back to `python -m batchnb.cli`."""
    argv = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "batchnb.cli"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout, check=False)


def assert_gone(*pids: int | None) -> None:
    for pid in pids:
        assert pid is not None
        assert not pid_alive(pid), f"process {pid} is still alive"


def non_loopback_ipv4() -> str | None:
    """An IPv4 address of this machine other than 127.x, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP connect sends nothing; it only picks the outgoing interface
            ip = s.getsockname()[0]
        except OSError:
            ip = ""
    if ip and not ip.startswith("127.") and ip != "0.0.0.0":
        return ip
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addr = str(info[4][0])
            if not addr.startswith("127."):
                return addr
    except OSError:
        pass
    return None


def can_connect(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False
