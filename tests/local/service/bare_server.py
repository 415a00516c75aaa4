"""A Batch server process without Azurite (`python -m batchnb.local serve`), for tests that need
their own service: other options (bearer tokens), or to SIGKILL and restart it on the same state."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

KEY = base64.b64encode(b"bare-server-test-key-0123456789ab").decode()
ACCOUNT = "bareaccount"
REPO = Path(__file__).resolve().parents[3]


@dataclass
class BareServer:
    state_dir: Path
    flags: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "BareServer":
        (self.state_dir / "server.json").unlink(missing_ok=True)
        env = {**os.environ, "BATCHNB_LOCAL_KEY": KEY, "PYTHONPATH": str(REPO)}
        argv = [sys.executable, "-m", "batchnb.local", "serve", "--state-dir", str(self.state_dir),
                "--port", str(self.port), "--account", ACCOUNT, "--node-boot-seconds", "0.2", *self.flags]
        log = open(self.state_dir / "server.log", "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, cwd=self.state_dir)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            info = self.state_dir / "server.json"
            if info.exists():
                data = json.loads(info.read_text())
                if data.get("pid") == self.proc.pid:
                    self.port = data["port"]
                    return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.state_dir / 'server.log').read_text()[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, **kwargs) -> BatchClient:
        return BatchClient(self.url, AzureNamedKeyCredential(ACCOUNT, KEY), **kwargs)
