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
class QuotaConfig:
    """Account quotas, as Azure Batch has them (defaults: the upper end of a new account's defaults).

    Cores are counted per node from the VM size (``standard_d2s_v3``: 2). A create or resize past
    a core quota gets the nodes that fit and ``resizeErrors`` ``AccountCoreQuotaReached`` (spot:
    ``AccountLowPriorityCoreQuotaReached``); a pool or job past its quota is refused with 409."""

    dedicated_cores: int = 500
    low_priority_cores: int = 100
    pools: int = 100
    active_jobs: int = 300  # jobs that are not completed (completed ones do not count, as on Azure)


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
    # Aggregation interval of /poolusagemetrics (Azure: 30 minutes; locally short, see model/usage.py).
    usage_interval_seconds: float = 60.0
    faults: FaultConfig = field(default_factory=FaultConfig)
    quotas: QuotaConfig = field(default_factory=QuotaConfig)
    # Connection string of the auto-storage account (Azurite), for autoStorageContainerName.
    storage_connection_string: str = ""
    # How many times faster than real time the service's schedule clock runs (job schedule
    # recurrence and start windows): 60 makes a one-minute recurrence fire every second.
    clock_scale: float = 1.0
    # Azure's Get Task Counts lags behind the task list; > 0 makes the local one answer with a
    # snapshot up to this many seconds old, so clients are tested against the lag (0 = exact).
    task_counts_lag_seconds: float = 0.0
