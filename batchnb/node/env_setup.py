"""Installs a ``batchnb.Environment`` on a compute node, once per node and environment key.

Runs ON Batch compute nodes (Linux) under the node's system ``python3``: standard library only,
no batchnb imports. batchnb ships this file's source inside a command line (see
``batchnb.core.specs.environment``), together with a config dict::

    {"key": "3f2a...", "python": "3.11", "requirements": ["cloudpickle==3.1.1", ...],
     "uv_version": "0.13.9"}

The environment becomes a venv at ``$AZ_BATCH_NODE_SHARED_DIR/batchnb/envs/<key>``, made and filled
by uv (a single binary: it needs neither pip nor the venv module, which Ubuntu's Batch images
lack, and it can fetch the Python version the notebook runs when the image's differs). A file
``.batchnb-ready`` inside it marks a finished install; a lock makes concurrent tasks on one node
wait for the first one instead of installing twice. Each finished install appends one JSON line
to ``$AZ_BATCH_NODE_SHARED_DIR/batchnb/installs.jsonl`` (readable through the node file API).

Where uv comes from, first found wins: ``$BATCHNB_UV``; ``uv`` on PATH; a copy an earlier install
left in ``~/.cache/batchnb`` or the shared directory; the binary the client staged in Blob
storage (``$BATCHNB_UV_URL``, a SAS URL kept out of the command line, checked against
``$BATCHNB_UV_SHA256``); ``python3 -m pip`` when the
image has pip; the wheel from the package index.

Packages are installed offline from uv's cache first (a warm node, or a second pool on the same
machine, needs no network at all), then from the index the node reaches.
"""

import contextlib
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

READY_FILE = ".batchnb-ready"
INSTALL_LOG = "installs.jsonl"
EXIT_INSTALL_FAILED = 5
_TAIL_LINES = 15


def _shared_dir():
    return os.environ.get("AZ_BATCH_NODE_SHARED_DIR") or os.getcwd()


def env_dir(key):
    return os.path.join(_shared_dir(), "batchnb", "envs", key)


@contextlib.contextmanager
def _locked(path):
    with open(path, "a") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows nodes are not supported; run unlocked
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _runnable(path):
    return bool(path) and os.path.isfile(path) and os.access(path, os.X_OK)


def _tool_dirs(version):
    home = os.path.expanduser("~")
    dirs = [os.path.join(_shared_dir(), "batchnb", "tools", "uv-" + version)]
    if home and home != "~":
        dirs.insert(0, os.path.join(home, ".cache", "batchnb", "uv-" + version))
    return dirs


def _install_binary(data, version):
    """Write the uv binary into the first tool directory that takes it; return its path."""
    for folder in _tool_dirs(version):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o755)
            target = os.path.join(folder, "uv")
            os.replace(tmp, target)  # atomic: another node process may be reading the old one
            return target
        except OSError:
            continue
    raise OSError("no writable place for uv (tried %s)" % ", ".join(_tool_dirs(version)))


def _uv_from_index(version):
    machine = platform.machine().lower()
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    with urllib.request.urlopen("https://pypi.org/pypi/uv/%s/json" % version, timeout=60) as resp:
        release = json.load(resp)
    for entry in release.get("urls", []):
        name = entry["filename"]
        if name.endswith(".whl") and "manylinux" in name and arch in name and "musl" not in name:
            with urllib.request.urlopen(entry["url"], timeout=300) as resp:
                wheel = zipfile.ZipFile(io.BytesIO(resp.read()))
            member = next(n for n in wheel.namelist() if n.endswith("/scripts/uv"))
            return _install_binary(wheel.read(member), version)
    raise OSError("the package index has no uv %s wheel for %s" % (version, arch))


def find_uv(version, log):
    explicit = os.environ.get("BATCHNB_UV")
    if _runnable(explicit):
        return explicit
    on_path = shutil.which("uv")
    if on_path:
        return on_path
    for folder in _tool_dirs(version):
        if _runnable(os.path.join(folder, "uv")):
            return os.path.join(folder, "uv")
    url = os.environ.get("BATCHNB_UV_URL")
    if url:
        try:
            with urllib.request.urlopen(url, timeout=300) as resp:
                data = resp.read()
            # The client pins the binary it staged: a blob replaced in storage is never run.
            if hashlib.sha256(data).hexdigest() == os.environ.get("BATCHNB_UV_SHA256"):
                return _install_binary(data, version)
            log.append("the staged uv does not match the digest the client sent; not used")
        except Exception as exc:  # noqa: BLE001 - fall through to the other sources
            log.append("staged uv could not be fetched: %s" % type(exc).__name__)
    return _uv_from_pip(version, log) or _uv_from_index(version)


def _uv_from_pip(version, log):
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        return None
    target = os.path.join(_shared_dir(), "batchnb", "tools", "uv-pip-" + version)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target,
                           "uv==" + version], capture_output=True, text=True)
    if done.returncode == 0 and _runnable(os.path.join(target, "bin", "uv")):
        return os.path.join(target, "bin", "uv")
    log.append("pip could not install uv: " + done.stderr.strip()[-500:])
    return None


def _run(argv, log):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.extend(done.stdout.splitlines())
    return done.returncode


def _python_for(version):
    """The interpreter uv should base the venv on: this one if its minor version is the one asked for."""
    here = "%d.%d" % sys.version_info[:2]
    return sys.executable if not version or version == here else version


def _fail(cfg, log, what):
    node = os.environ.get("AZ_BATCH_NODE_ID", "this node")
    sys.stderr.write("batchnb: %s on node %s failed for environment %s (%s).\n"
                     % (what, node, cfg["key"], ", ".join(cfg["requirements"]) or "no packages"))
    tail = log[-_TAIL_LINES:]
    if tail:
        sys.stderr.write("last lines of the installer:\n" + "\n".join("  " + line for line in tail) + "\n")
    return EXIT_INSTALL_FAILED


def _install(cfg, target, log):
    try:
        uv = find_uv(cfg["uv_version"], log)
    except Exception as exc:  # noqa: BLE001 - every way of getting uv failed: say so
        log.append("%s: %s" % (type(exc).__name__, exc))
        return _fail(cfg, log, "getting uv")
    if os.path.isdir(target):
        shutil.rmtree(target)  # half made by an install that was killed
    if _run([uv, "venv", "--quiet", "--python", _python_for(cfg.get("python")), target], log) != 0:
        return _fail(cfg, log, "making the venv (Python %s)" % cfg.get("python"))
    if cfg["requirements"]:
        req = os.path.join(target, "batchnb-requirements.txt")
        with open(req, "w") as fh:
            fh.write("\n".join(cfg["requirements"]) + "\n")
        base = [uv, "pip", "install", "--quiet", "--python", os.path.join(target, "bin", "python"), "-r", req]
        offline_log = []
        if _run(base + ["--offline"], offline_log) != 0 and _run(base, log) != 0:
            return _fail(cfg, log, "installing packages")
    return 0


def main(cfg):
    target = env_dir(cfg["key"])
    ready = os.path.join(target, READY_FILE)
    if os.path.exists(ready):
        return 0
    envs = os.path.dirname(target)
    os.makedirs(envs, exist_ok=True)
    with _locked(target + ".lock"):
        if os.path.exists(ready):  # another task on this node installed it while we waited
            return 0
        started = time.time()
        log = []
        code = _install(cfg, target, log)
        if code:
            return code
        record = {"key": cfg["key"], "node": os.environ.get("AZ_BATCH_NODE_ID"), "python": cfg.get("python"),
                  "packages": len(cfg["requirements"]), "seconds": round(time.time() - started, 3),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(ready, "w") as fh:
            json.dump(record, fh)
        with open(os.path.join(os.path.dirname(envs), INSTALL_LOG), "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        sys.exit(main(json.load(fh)))
