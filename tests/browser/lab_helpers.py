"""Drive a real JupyterLab in headless Chromium: start the server, open notebooks, run them.

The fixtures in tests/browser/conftest.py build on these; tests import the page helpers
(`open_notebook`, `wait_kernel_idle`, `run_all`, `wait_for`, `screenshot`) directly.
Facts behind the choices here: /work/shared/reference/jupyter-ui-testing.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import nbformat
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

REPO_ROOT = Path(__file__).resolve().parents[2]
# Screenshots of every browser test: outside the checkout, so a test run leaves the working tree
# as it found it (.ci/test checks). BATCHNB_TEST_ARTIFACTS points elsewhere (e.g. a CI upload dir).
ARTIFACTS_DIR = Path(os.environ.get("BATCHNB_TEST_ARTIFACTS")
                     or Path(tempfile.gettempdir()) / f"batchnb-test-artifacts-{os.getuid()}")
# Set only by `python -m tests.browser.screenshots`: the tests that make the README's pictures then
# copy them into this directory (docs/). A plain test run never writes there.
DOCS_SCREENSHOTS_ENV = "BATCHNB_DOCS_SCREENSHOTS"
# Debian's package path; BATCHNB_CHROMIUM points elsewhere (another distro, a local build).
CHROMIUM = Path(os.environ.get("BATCHNB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

# Kept out of the user's real Jupyter setup: every dir Jupyter writes or reads config from.
_ISOLATED_DIRS = {
    "JUPYTER_CONFIG_DIR": ".jupyter/config",
    "JUPYTER_DATA_DIR": ".jupyter/data",
    "JUPYTER_RUNTIME_DIR": ".jupyter/runtime",
    "JUPYTERLAB_SETTINGS_DIR": ".jupyter/lab/user-settings",
    "JUPYTERLAB_WORKSPACES_DIR": ".jupyter/lab/workspaces",
    "IPYTHONDIR": ".jupyter/ipython",
}


@dataclass
class LabServer:
    """A running JupyterLab serving *root*; `url` has no trailing slash."""

    root: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, path: str) -> str:
        # `reset` drops the saved workspace so an earlier test's open tabs never come back.
        return f"{self.url}/lab/tree/{quote(path)}?reset&token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server log, with the token masked (it is a credential)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:]).replace(self.token, "<token>")


@dataclass
class PageRecord:
    """What a page tried to do that a test may want to assert on."""

    external_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


def is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        # data:, blob:, about: never leave the machine.
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_lab_settings(root: Path) -> dict[str, str]:
    """Create the isolated Jupyter dirs under *root*; return the env vars pointing at them."""
    env = {name: str(root / rel) for name, rel in _ISOLATED_DIRS.items()}
    for directory in env.values():
        Path(directory).mkdir(parents=True, exist_ok=True)
    server_config = {
        "LabApp": {
            "expose_app_in_browser": True,  # window.jupyterapp: how tests drive Lab
            "news_url": None,
            "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        }
    }
    Path(env["JUPYTER_CONFIG_DIR"], "jupyter_server_config.json").write_text(json.dumps(server_config))
    settings = Path(env["JUPYTERLAB_SETTINGS_DIR"], "@jupyterlab")
    user_settings = {
        # Without it a "Select Kernel" dialog appears and swallows Run All.
        "notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
        "apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
    }
    for rel, values in user_settings.items():
        target = settings / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    return env


def start_lab(root: Path, *, startup_timeout: float = 90.0) -> LabServer:
    """Start JupyterLab on a free loopback port with a random token; wait until it answers."""
    root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **write_lab_settings(root)}
    token = secrets.token_hex(16)
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # else Jupyter refuses to start as root
    log_path = root / ".jupyter" / "server.log"
    with open(log_path, "wb") as log:
        # Own process group, so stopping it also stops the kernels it started.
        process = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(root=root, port=port, token=token, process=process, log_path=log_path)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/status?token={token}", timeout=2) as reply:
                if reply.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop_lab(server)
    raise RuntimeError(f"JupyterLab not ready after {startup_timeout:.0f} s:\n{server.log_tail()}")


def write_notebook(lab: LabServer, name: str, cells: Sequence[str]) -> str:
    """Write a python3 notebook of code *cells* into the lab root; return its lab path.

    Use a name unique to the test: the server keeps a notebook's kernel session by path.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    target = lab.root / name
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return name


def shutdown_sessions(lab: LabServer) -> None:
    """Stop every kernel session on the server, so one test's kernels never reach the next."""
    headers = {"Authorization": f"token {lab.token}"}
    request = urllib.request.Request(f"{lab.url}/api/sessions", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        sessions = json.load(reply)
    for session in sessions:
        delete = urllib.request.Request(
            f"{lab.url}/api/sessions/{session['id']}", headers=headers, method="DELETE"
        )
        with contextlib.suppress(urllib.error.HTTPError):  # already gone
            urllib.request.urlopen(delete, timeout=30).close()


def stop_lab(server: LabServer) -> None:
    """SIGTERM the server's process group (it shuts its kernels down), SIGKILL if it lingers."""
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    # Kernels may outlive the server process in the same group: make sure none remain.
    try:
        os.killpg(server.process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ----------------------------------------------------------------------------- page helpers


def wait_for(page: Page, js_predicate: str, timeout: float = 30.0, *, arg: object = None) -> object:
    """Wait until the JS expression/function *js_predicate* is truthy; return its value.

    *timeout* is in seconds. On timeout, raise AssertionError naming the predicate, so a
    failing test says what it was waiting for.
    """
    try:
        handle = page.wait_for_function(js_predicate, arg=arg, timeout=timeout * 1000, polling=100)
        return handle.json_value()
    except PlaywrightTimeoutError:
        raise AssertionError(f"not true after {timeout:.0f} s: {js_predicate}") from None


def open_notebook(page: Page, lab: LabServer, path: str, *, timeout: float = 60.0) -> None:
    """Open the notebook at *path* (relative to the lab root) and wait until its kernel is idle."""
    page.goto(lab.notebook_url(path), wait_until="domcontentloaded")
    wait_for(
        page,
        """(path) => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return !!(w && w.context && w.context.isReady && w.context.path === path && w.content);
        }""",
        timeout,
        arg=path,
    )
    wait_kernel_idle(page, timeout=timeout)


def wait_kernel_idle(page: Page, *, timeout: float = 60.0) -> None:
    """Wait until the current notebook's kernel is connected and idle.

    Run All before this point is lost to a "Select Kernel" dialog or a starting kernel.
    """
    wait_for(
        page,
        """() => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const kernel = w && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel;
            return !!(kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
        }""",
        timeout,
    )


def run_all(page: Page, *, wait: bool = True, timeout: float = 120.0) -> bool | None:
    """Run All Cells in the current notebook, as the Run menu does.

    With *wait*, block until every cell has finished and return False if a cell failed.
    Without it, return None at once (to watch widgets update while cells still run).
    """
    page.evaluate(
        """() => {
            window.__batchnbRunAll = {done: false, ok: null};
            window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__batchnbRunAll = {done: true, ok: ok !== false}; },
                (err) => { window.__batchnbRunAll = {done: true, ok: false, error: String(err)}; });
        }"""
    )
    if not wait:
        return None
    wait_for(page, "() => window.__batchnbRunAll && window.__batchnbRunAll.done", timeout)
    return bool(page.evaluate("() => window.__batchnbRunAll.ok"))


def screenshot(page: Page, name: str, *, selector: str | None = None) -> Path:
    """Save a PNG to ARTIFACTS_DIR/<name>.png (the page, or one element) and return its path.

    JupyterLab scrolls inside its own panel, so an element is scrolled into view first.
    """
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "screenshot"
    target = ARTIFACTS_DIR / f"{safe}.png"
    try:
        if selector is None:
            page.screenshot(path=str(target))
        else:
            element = page.locator(selector).first
            element.scroll_into_view_if_needed()
            element.screenshot(path=str(target))
    except PlaywrightError as exc:
        raise AssertionError(f"screenshot {name!r} failed: {exc}") from None
    return target


def publish_to_docs(shot: Path, name: str) -> None:
    """Copy a screenshot to docs/<name> when `python -m tests.browser.screenshots` asked for it."""
    docs = os.environ.get(DOCS_SCREENSHOTS_ENV)
    if docs:
        shutil.copyfile(shot, Path(docs) / name)


# anywidget gives a model 2 s to load its JavaScript; plotly's FigureWidget bundle (~5 MB) can take
# longer on a loaded CI machine while several figures start at once, and then this is logged even
# though the view renders from state (the tests assert what is drawn). Any other page error counts.
ANYWIDGET_SLOW_INIT = "[anywidget] Failed to initialize model."


# ipywidgets' JupyterLab manager reads the notebook's saved widget state on reopen; a notebook whose
# monitors swapped to static outputs saves none, and with no kernel the manager dereferences that
# null. Nothing is drawn from it: every output renders from its own mimetype (the tests check that).
WIDGET_STATE_ABSENT = "Cannot read properties of null (reading 'widgets')"


def unexpected_page_errors(page_errors: list[str]) -> list[str]:
    return [e for e in page_errors if e not in (ANYWIDGET_SLOW_INIT, WIDGET_STATE_ABSENT)]
