"""The embedded local Batch service: `start()` it (or reuse the running one), `status()`, `stop()`.

The service itself (`batchnb.local.service.http`) is a separate process reached only over HTTP.
"""

from __future__ import annotations

from batchnb.local.daemon import LocalService, LocalServiceError, default_state_dir, restart_server, start, status, stop
from batchnb.local.faults_client import emulate, inject_faults
from batchnb.local.tokens import LocalTokenCredential

__all__ = ["LocalService", "LocalServiceError", "LocalTokenCredential", "default_state_dir", "emulate",
           "inject_faults", "restart_server", "start", "status", "stop"]
