"""How the local Batch service process is configured (filled from CLI flags and env vars)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from batchnb._constants import LOCAL_ACCOUNT_NAME


@dataclass
class FaultConfig:
    """Fractions of requests that get a fault; deterministic for a given seed."""

    throttle: float = 0.0  # 429 or 503 with Retry-After
    error500: float = 0.0  # 500 InternalError
    drop: float = 0.0  # connection closed without a response
    retry_after: float = 1.0  # seconds, sent in Retry-After
    seed: int = 0
    # Requests to the admin routes are never faulted.


@dataclass
class ServerConfig:
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port; the chosen one is written to <state_dir>/server.json
    account_name: str = LOCAL_ACCOUNT_NAME
    account_key: str = ""  # base64; passed by env var BATCHNB_LOCAL_KEY, never on the command line
    auth_mode: str = "strict"  # strict | off
    allow_bearer: bool = False  # accept Entra ID bearer tokens (tests of the token path)
    node_boot_seconds: float = 0.3  # creating -> starting -> idle takes about this long
    # Tasks run the service's own interpreter and packages instead of a bare stdlib-only python3
    # (runtime/node_python.py). Convenient, but a notebook that relies on it fails on Azure.
    host_python: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)
    # Connection string of the auto-storage account (Azurite), for autoStorageContainerName.
    storage_connection_string: str = ""
