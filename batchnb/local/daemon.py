"""Start, find, reuse and stop the embedded local Batch service (Azurite + the Batch REST server).

Both run as detached background processes, so a kernel restart doesn't kill running tasks, as with
the real service. Everything needed to find them again lives in the state directory:

    settings.json  account name + key, Azurite's storage key (mode 0600), both ports, launch options
    azurite.json   {"pid", "port", "started", "key_id"} of Azurite, written here
    server.json    {"pid", "port", "batch_url", "started"}, written by the server once it listens
    server.log, azurite.log, azurite/ (blob data), plus whatever the server keeps
    requests.log   one line per request the server answered (no headers or bodies, secrets masked)

The account key and Azurite's storage key are generated once per state directory and reused, so
clients configured earlier keep working after a restart; the server's port is reused for the same
reason. Neither is the published Azurite development key.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from batchnb._constants import LOCAL_ACCOUNT_NAME, LOCAL_ADMIN_PREFIX
from batchnb.local import azurite
from batchnb.local.processes import (
    file_lock,
    http_status,
    pid_runs,
    port_is_free,
    read_json,
    spawn_detached,
    stop_pid,
    write_json_private,
)

STATE_DIR_ENV = "BATCHNB_LOCAL_STATE_DIR"
HOST_PYTHON_ENV = "BATCHNB_LOCAL_HOST_PYTHON"  # "1": tasks see this interpreter and its packages
# Names a coverage config file: the server then runs under `coverage run` (see _under_coverage).
COVERAGE_ENV = "BATCHNB_LOCAL_COVERAGE"
SERVER_MARKER = "batchnb.local"  # in the server's command line: `python -m batchnb.local serve`
_SETTINGS = "settings.json"
_SERVER = "server.json"
_AZURITE = "azurite.json"
_LOCK = ".lifecycle.lock"
_FAULT_KEYS = ("throttle", "error500", "drop", "retry_after", "seed")
_QUOTA_KEYS = ("dedicated_cores", "low_priority_cores", "pools", "active_jobs")
_SERVER_START_TIMEOUT = 60.0
_SERVER_STOP_TIMEOUT = 15.0


class LocalServiceError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalService:
    """Connection settings and process ids of a local Batch service. The key is never shown."""

    batch_url: str
    account_name: str
    account_key: str = field(repr=False)
    storage_connection_string: str = field(repr=False)
    blob_endpoint: str
    state_dir: Path
    server_pid: int | None
    azurite_pid: int | None
    running: bool

    def env(self) -> dict[str, str]:
        """Environment variables a client (or `batchnb.connect()`) reads to reach this service."""
        return {
            "AZURE_BATCH_ACCOUNT": self.account_name,
            "AZURE_BATCH_ENDPOINT": self.batch_url,
            "AZURE_BATCH_ACCESS_KEY": self.account_key,
            "AZURE_STORAGE_CONNECTION_STRING": self.storage_connection_string,
        }

    def __repr__(self) -> str:
        state = "running" if self.running else "not running"
        return (
            f"LocalService({state}, batch_url={self.batch_url!r}, account_name={self.account_name!r}, "
            f"blob_endpoint={self.blob_endpoint!r}, state_dir={str(self.state_dir)!r}, "
            f"server_pid={self.server_pid}, azurite_pid={self.azurite_pid})"
        )

    def _repr_html_(self) -> str:
        rows = [
            ("Status", "running" if self.running else "not running"),
            ("Batch account URL", self.batch_url),
            ("Account name", self.account_name),
            ("Blob endpoint", self.blob_endpoint),
            ("State directory", str(self.state_dir)),
            ("PIDs", f"server {self.server_pid}, azurite {self.azurite_pid}"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in rows
        )
        return f"<div><b>batchnb local Batch service</b><table>{body}</table></div>"


# --- public API -------------------------------------------------------------------------------


def default_state_dir() -> Path:
    """$BATCHNB_LOCAL_STATE_DIR, else the platform's per-user state directory + batchnb/local."""
    env = os.environ.get(STATE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":  # pragma: no cover
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":  # pragma: no cover
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "batchnb" / "local"


def start(
    *,
    state_dir: str | Path | None = None,
    faults: dict[str, float] | None = None,
    node_boot_seconds: float | None = None,
    allow_bearer: bool = False,
    quotas: dict[str, int] | None = None,
    clock_scale: float | None = None,
    host_python: bool | None = None,
    quiet: bool = False,
) -> LocalService:
    """Reuse the service running in `state_dir`, or start Azurite and the Batch server there.

    ``quotas``: account quotas as on Azure, any of ``dedicated_cores`` (default 500),
    ``low_priority_cores`` (100), ``pools`` (100), ``active_jobs`` (300).
    A running server started with other options (faults, node boot time, bearer, quotas, host python)
    is restarted on the same port with the requested ones; its state survives the restart.
    Nodes are bare (a stdlib-only python3, like a fresh Azure node); ``host_python=True`` (default:
    the ``BATCHNB_LOCAL_HOST_PYTHON`` variable) lets tasks use this interpreter and its packages.
    """
    sd = _resolve(state_dir)
    if host_python is None:
        host_python = os.environ.get(HOST_PYTHON_ENV, "").strip().lower() in ("1", "true", "yes")
    options = _launch_options(faults, node_boot_seconds, allow_bearer, quotas, clock_scale, host_python)
    with _lifecycle_lock(sd):
        return _ensure_running(sd, options, quiet=quiet)


def stop(*, state_dir: str | Path | None = None) -> bool:
    """Stop the server and Azurite (SIGTERM, then SIGKILL if needed). True if something was stopped."""
    sd = _resolve(state_dir)
    if not sd.is_dir():
        return False
    with _lifecycle_lock(sd):
        stopped = _stop_server(sd, kill=False)
        az = read_json(sd / _AZURITE) or {}
        stopped = azurite.stop(az.get("pid")) or stopped
        (sd / _AZURITE).unlink(missing_ok=True)
        return stopped


def status(*, state_dir: str | Path | None = None) -> LocalService | None:
    """The service recorded in `state_dir`, or None if neither of its processes is alive."""
    sd = _resolve(state_dir)
    settings = read_json(sd / _SETTINGS)
    if settings is None:
        return None
    server = read_json(sd / _SERVER) or {}
    az = read_json(sd / _AZURITE) or {}
    server_alive = pid_runs(server.get("pid"), SERVER_MARKER)
    az_alive = pid_runs(az.get("pid"), azurite.PROCESS_MARKER)
    if not server_alive and not az_alive:
        return None
    running = server_alive and az_alive and _healthy(server) and azurite.is_answering(az["port"])
    return _service(sd, settings, server if server_alive else {}, az if az_alive else {}, running=running)


def restart_server(state_dir: str | Path | None = None, kill: bool = False) -> LocalService:
    """Stop the Batch server only (SIGKILL with kill=True, else SIGTERM) and start it on the same port.

    For tests of "the service died mid-job": Azurite, tasks' data and the account key are untouched.
    """
    sd = _resolve(state_dir)
    with _lifecycle_lock(sd):
        settings = read_json(sd / _SETTINGS)
        if settings is None:
            raise LocalServiceError(f"no local service was ever started in {sd}")
        _stop_server(sd, kill=kill)
        return _ensure_running(sd, settings.get("server_options") or _launch_options(None, None, False))


# --- internals --------------------------------------------------------------------------------


def _resolve(state_dir: str | Path | None) -> Path:
    return Path(state_dir).expanduser().resolve() if state_dir is not None else default_state_dir().resolve()


def _lifecycle_lock(sd: Path):
    sd.mkdir(parents=True, exist_ok=True, mode=0o700)
    make_private(sd)
    return file_lock(sd / _LOCK, timeout=600)  # a first start may be installing Azurite


def make_private(sd: Path) -> None:
    """The state dir holds keys, blobs (map pickles) and task files: only its owner may enter it,
    whatever modes it had before (mkdir's mode applies only to a new directory). Files directly in
    it are made private too, for whoever already holds a handle on the directory."""
    if sys.platform == "win32":  # pragma: no cover - ACLs, not modes
        return
    try:
        if sd.stat().st_mode & 0o077:
            os.chmod(sd, 0o700)
        for entry in os.scandir(sd):
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mode & 0o077:
                os.chmod(entry.path, 0o600)
    except OSError:
        pass  # not ours to change: the files' own modes still apply


def _launch_options(
    faults: dict[str, float] | None, node_boot_seconds: float | None, allow_bearer: bool,
    quotas: dict[str, int] | None = None,
    clock_scale: float | None = None,
    host_python: bool = False,
) -> dict[str, Any]:
    faults = dict(faults or {})
    unknown = set(faults) - set(_FAULT_KEYS)
    if unknown:
        raise ValueError(f"unknown fault option(s) {sorted(unknown)}; expected some of {list(_FAULT_KEYS)}")
    quotas = dict(quotas or {})
    unknown = set(quotas) - set(_QUOTA_KEYS)
    if unknown:
        raise ValueError(f"unknown quota(s) {sorted(unknown)}; expected some of {list(_QUOTA_KEYS)}")
    for key, value in quotas.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"quotas[{key!r}] must be an integer of 0 or more, got {value!r}")
    options: dict[str, Any] = {
        "faults": {k: faults[k] for k in _FAULT_KEYS if k in faults},
        "node_boot_seconds": node_boot_seconds,
        "allow_bearer": bool(allow_bearer),
        "clock_scale": clock_scale,
        "host_python": bool(host_python),
    }
    if quotas:  # absent when default, so settings written before quotas existed still match
        options["quotas"] = {k: quotas[k] for k in _QUOTA_KEYS if k in quotas}
    return options


def _load_or_create_settings(sd: Path) -> dict[str, Any]:
    path = sd / _SETTINGS
    settings = read_json(path)
    if settings is None or not settings.get("account_key"):
        settings = {
            "account_name": LOCAL_ACCOUNT_NAME,
            "account_key": base64.b64encode(secrets.token_bytes(32)).decode("ascii"),
            "storage_key": azurite.generate_account_key(),
            "server_port": 0,
        }
        write_json_private(path, settings)
    elif not settings.get("storage_key"):  # a state dir from before per-directory storage keys
        settings["storage_key"] = azurite.generate_account_key()
        write_json_private(path, settings)
    elif sys.platform != "win32" and path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone loosened it; the key must stay private
    return settings


def _ensure_running(sd: Path, options: dict[str, Any], *, quiet: bool = False) -> LocalService:
    settings = _load_or_create_settings(sd)
    az = read_json(sd / _AZURITE) or {}
    az_ok = (pid_runs(az.get("pid"), azurite.PROCESS_MARKER) and azurite.is_answering(int(az.get("port", 0)))
             and az.get("key_id") == _key_id(settings["storage_key"]))  # else it runs with another key
    server = read_json(sd / _SERVER) or {}
    server_ok = pid_runs(server.get("pid"), SERVER_MARKER) and _healthy(server, attempts=5)
    if az_ok and server_ok and settings.get("server_options") == options:
        return _service(sd, settings, server, az, running=True)

    if not az_ok:
        azurite.stop(az.get("pid"))  # alive but not answering: replace it
        # Same port as before when possible, so connection strings handed out earlier keep working.
        old_port = int(az.get("port") or settings.get("azurite_port") or 0)
        port = old_port if old_port and port_is_free(old_port) else 0
        if not quiet:
            print(f"batchnb: starting Azurite (state in {sd})", file=sys.stderr, flush=True)
        proc = azurite.start(sd, port=port, account_key=settings["storage_key"])
        az = {"pid": proc.pid, "port": proc.port, "started": _now(), "key_id": _key_id(settings["storage_key"])}
        write_json_private(sd / _AZURITE, az)

    # Whatever still runs was started with other options, for another Azurite, or stopped answering.
    _stop_server(sd, kill=False)
    if not quiet:
        print(f"batchnb: starting the local Batch service (state in {sd})", file=sys.stderr, flush=True)
    server = _start_server(sd, settings, options, azurite.connection_string(int(az["port"]), settings["storage_key"]))
    settings = {**settings, "server_port": server["port"], "azurite_port": az["port"], "server_options": options}
    write_json_private(sd / _SETTINGS, settings)
    return _service(sd, settings, server, az, running=True)


def _start_server(sd: Path, settings: dict[str, Any], options: dict[str, Any], storage: str) -> dict[str, Any]:
    wanted = int(settings.get("server_port") or 0)
    port = wanted if wanted and _port_frees_up(wanted) else 0
    env = dict(os.environ)
    env["BATCHNB_LOCAL_KEY"] = settings["account_key"]
    env["BATCHNB_LOCAL_STORAGE"] = storage
    # The server must run this very batchnb, even from a source checkout that isn't installed.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    for attempt in range(2):
        (sd / _SERVER).unlink(missing_ok=True)
        argv = [sys.executable, "-m", "batchnb.local", "serve", "--state-dir", str(sd),
                "--port", str(port), "--account", str(settings["account_name"]), *_option_flags(options)]  # fmt: skip
        argv = _under_coverage(argv, env)
        pid = spawn_detached(argv, log_path=sd / "server.log", env=env, cwd=sd)
        info = _wait_server_ready(sd, pid)
        if info is not None:
            return info
        stop_pid(pid, marker=SERVER_MARKER, timeout=2.0, kill=True)
        if port == 0 or attempt == 1:
            break
        port = 0  # our port was taken between the check and the bind: take any free one
    raise LocalServiceError(f"the local Batch service did not start; see {sd / 'server.log'}")


def _under_coverage(argv: list[str], env: dict[str, str]) -> list[str]:
    """The server's command line under `coverage run` when BATCHNB_LOCAL_COVERAGE names a coverage
    config file (the test suite sets it, see .ci/test): the service is a process of its own, which
    the tests' in-process coverage does not see. Each server writes a parallel data file next to
    COVERAGE_FILE when it exits (SIGTERM stops it cleanly); `coverage combine` merges them."""
    rcfile = env.get(COVERAGE_ENV, "").strip()
    if not rcfile:
        return argv
    # The server runs in its state dir: a relative data file would be lost with it.
    data_file = env.get("COVERAGE_FILE") or str(Path(rcfile).parent / ".coverage")
    env["COVERAGE_FILE"] = str(Path(data_file).resolve())
    return [argv[0], "-m", "coverage", "run", "--parallel-mode", f"--rcfile={Path(rcfile).resolve()}", *argv[1:]]


def _port_frees_up(port: int, timeout: float = 3.0) -> bool:
    """True once `port` can be bound. Right after a SIGKILL the kernel holds the old server's port
    for a moment; taking another port then would strand every client configured with this one."""
    deadline = time.monotonic() + timeout
    while not port_is_free(port):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


# start() options that become `serve` flags: the ones with a value, and the switches.
_VALUE_OPTIONS = ("node_boot_seconds", "clock_scale")
_SWITCH_OPTIONS = ("allow_bearer", "host_python")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _option_flags(options: dict[str, Any]) -> list[str]:
    flags: list[str] = []
    for key, value in (options.get("faults") or {}).items():
        flags += [_flag(key), str(value)]
    for key, value in (options.get("quotas") or {}).items():
        flags += [_flag(key) + "-quota", str(value)]
    flags += [f for key in _VALUE_OPTIONS if options.get(key) is not None for f in (_flag(key), str(options[key]))]
    return flags + [_flag(key) for key in _SWITCH_OPTIONS if options.get(key)]


def _wait_server_ready(sd: Path, pid: int) -> dict[str, Any] | None:
    deadline = time.monotonic() + _SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if not pid_runs(pid, SERVER_MARKER):
            return None
        info = read_json(sd / _SERVER)
        if info and info.get("pid") == pid and _healthy(info):
            return info
        time.sleep(0.05)
    return None


def _healthy(server: dict[str, Any], *, attempts: int = 1) -> bool:
    """The server answers its health route (retried: a busy server may be slow to answer once)."""
    port = server.get("port")
    if not port:
        return False
    for i in range(attempts):
        if http_status(f"http://127.0.0.1:{port}{LOCAL_ADMIN_PREFIX}/health", timeout=5.0) == 200:
            return True
        if i + 1 < attempts:
            time.sleep(0.5)
    return False


def _stop_server(sd: Path, *, kill: bool) -> bool:
    server = read_json(sd / _SERVER) or {}
    stopped = stop_pid(server.get("pid"), marker=SERVER_MARKER, timeout=_SERVER_STOP_TIMEOUT, kill=kill)
    (sd / _SERVER).unlink(missing_ok=True)
    return stopped


def _service(
    sd: Path, settings: dict[str, Any], server: dict[str, Any], az: dict[str, Any], *, running: bool
) -> LocalService:
    server_port = server.get("port") or settings.get("server_port") or 0
    az_port = int(az.get("port") or 0)
    return LocalService(
        batch_url=server.get("batch_url") or f"http://127.0.0.1:{server_port}",
        account_name=str(settings.get("account_name", LOCAL_ACCOUNT_NAME)),
        account_key=str(settings["account_key"]),
        storage_connection_string=(azurite.connection_string(az_port, str(settings["storage_key"]))
                                   if az_port and settings.get("storage_key") else ""),
        blob_endpoint=azurite.blob_endpoint(az_port) if az_port else "",
        state_dir=sd,
        server_pid=server.get("pid"),
        azurite_pid=az.get("pid"),
        running=running,
    )


def _key_id(key: str) -> str:
    """Which key an Azurite was started with, without writing the key into azurite.json."""
    return hashlib.sha256(b"batchnb-azurite-key-id:" + key.encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
