"""Staging the uv binary in Blob storage, so that nodes without uv (every fresh Batch node) get it
from the account's own storage: no package index or internet needed for the installer itself.

The kernel has uv (a batchnb dependency ships the binary in a wheel). When the kernel runs on
Linux, its binary runs on Linux nodes of the same architecture; it is uploaded once per storage
account and uv version (``batchnb-tools/uv/<version>/linux-<arch>/uv``), and nodes get a read SAS
for that one blob. It is sent uncompressed: gzip saves half of ~40 MB but costs ~5-10 s of CPU in
the kernel and ~2 s on every node, more than the transfer it saves inside a region. Elsewhere (a Windows or macOS kernel) nothing is staged and nodes
fall back to pip or the package index (see ``batchnb.node.env_setup``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import sys
import threading
from typing import TYPE_CHECKING

from batchnb.core.specs.environment import UV_SHA_VARIABLE, UV_URL_VARIABLE, uv_version

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["TOOLS_CONTAINER", "staged_uv_url", "uv_variables"]

TOOLS_CONTAINER = "batchnb-tools"
# Start tasks run again whenever a node joins (autoscale) or reboots; a month covers most pools.
_SAS_LIFETIME = dt.timedelta(days=30)
_lock = threading.Lock()


def _local_uv_binary() -> str | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import uv

        return str(uv.find_uv_bin())
    except Exception:  # noqa: BLE001 - no usable uv in the kernel: the nodes find their own
        return None


def staged_uv_url(session: Session) -> str | None:
    """A read SAS URL of the uv binary in the session's storage, uploading it the first time."""
    cached = getattr(session, "_batchnb_uv_url", None)
    if cached is not None:
        return cached or None
    binary = _local_uv_binary()
    url = ""
    if binary is not None:
        machine = platform.machine().lower()
        blob = f"uv/{uv_version()}/linux-{machine}/uv"
        storage = session.storage
        with _lock:
            storage.create_container(TOOLS_CONTAINER)
            client = storage.client.get_blob_client(TOOLS_CONTAINER, blob)
            if not client.exists():
                with open(binary, "rb") as fh:
                    storage.upload_bytes(fh.read(), container=TOOLS_CONTAINER, blob=blob)
        url = storage.blob_sas(TOOLS_CONTAINER, blob, read=True, expiry=_SAS_LIFETIME)
        with open(binary, "rb") as fh:
            session._batchnb_uv_sha256 = hashlib.sha256(fh.read()).hexdigest()  # type: ignore[attr-defined]
    session._batchnb_uv_url = url  # type: ignore[attr-defined]
    return url or None


def uv_variables(session: Session) -> dict[str, str]:
    """The variables that let a node fetch the staged uv: its URL, and its SHA-256, which the node
    checks before running it (someone able to replace the blob cannot get code run on the nodes)."""
    url = staged_uv_url(session)
    sha = getattr(session, "_batchnb_uv_sha256", None)
    return {UV_URL_VARIABLE: url, UV_SHA_VARIABLE: sha} if url and sha else {}
