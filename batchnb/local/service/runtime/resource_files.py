"""Download a task's resource files into its working directory (spec §3.5, §4.3); runs in a
worker thread.

Decisions where the sources are silent:
- A resource `filePath` that is absolute or has a `..` segment fails with
  `ResourceFileCreateFailed` (usererror); so does a container blob whose name would escape.
- Resource files get mode `fileMode` (octal string), default 0770 as on Linux nodes, so a
  downloaded script is executable.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from batchnb.local.service.runtime.failure_info import StepFailed, failure, public_url
from batchnb.local.service.runtime.storage_errors import StorageFailureCodes, error_text, retry_kwargs, storage_failure

DEFAULT_FILE_MODE = 0o770

_BLOB_DOWNLOAD = StorageFailureCodes(
    by_status={404: ("BlobNotFound", "The specified blob does not exist"),
               403: ("BlobAccessDenied", "Access to the specified blob was denied")},
    timed_out=("BlobDownloadTimedOut", "The download of the blob timed out"),
    other=("BlobDownloadMiscError", "The blob could not be downloaded"),
)
_CONTAINER_LIST = StorageFailureCodes(
    by_status={404: ("ResourceContainerNotFound", "The specified container does not exist"),
               403: ("ResourceContainerAccessDenied", "Access to the specified container was denied")},
    timed_out=("ResourceContainerListTimedOut", "Listing the container timed out"),
    other=("ResourceContainerListMiscError", "The container could not be listed"),
)


def download_resource_files(wd: Path, resources: list[dict], connection_string: str) -> dict | None:
    """Download every resource into ``wd``; the failureInfo of the first that fails, else None.

    Several single files (a map() task has three) download at once: each is a round trip to
    storage, and a task waits for all of them before it starts.
    """
    if _independent_files(resources):
        with ThreadPoolExecutor(max_workers=min(_PARALLEL_DOWNLOADS, len(resources)),
                                thread_name_prefix="resource-files") as pool:
            failures = list(pool.map(lambda resource: _download_one(wd, resource, connection_string), resources))
        return next((f for f in failures if f is not None), None)
    for resource in resources:
        failed = _download_one(wd, resource, connection_string)
        if failed is not None:
            return failed
    return None


_PARALLEL_DOWNLOADS = 4


def _independent_files(resources: list[dict]) -> bool:
    """More than one resource, each a single file (httpUrl) with a target of its own: their order
    cannot matter (with a shared target or a container, the later one wins, so they go in order)."""
    if len(resources) < 2 or not all(r.get("httpUrl") for r in resources):
        return False
    names = [r.get("filePath") or unquote(PurePosixPath(urlsplit(r["httpUrl"]).path).name) for r in resources]
    if not all(names):
        return False
    targets = sorted(PurePosixPath(name.replace("\\", "/")).parts for name in names)
    # Sorted, a target that is another's parent directory (or the same file) comes right before it.
    return all(later[:len(earlier)] != earlier for earlier, later in zip(targets, targets[1:]))


def _download_one(wd: Path, resource: dict, connection_string: str) -> dict | None:
    try:
        if resource.get("httpUrl"):
            _download_http_resource(wd, resource)
        elif resource.get("storageContainerUrl") or resource.get("autoStorageContainerName"):
            _download_container_resource(wd, resource, connection_string)
        else:
            raise StepFailed(failure("ResourceFileCreateFailed", "The resource file has no source"))
    except StepFailed as failed:
        return failed.failure
    except Exception as exc:  # noqa: BLE001 - a task failure, never a crashed scheduler
        return failure("BlobDownloadMiscError", "The resource files could not be downloaded",
                       [{"name": "Message", "value": error_text(exc)}], category="servererror")
    return None


def _looks_like_blob_url(url: str) -> bool:
    """Blob storage (Azure or Azurite) rather than a plain web server.

    Azure blob hosts contain `.blob.`; Azurite is path-style with the well-known account
    as the first segment; any URL carrying a SAS is storage.
    """
    from batchnb._constants import AZURITE_ACCOUNT_NAME

    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    first_segment = parts.path.lstrip("/").split("/", 1)[0]
    return ".blob." in host or first_segment == AZURITE_ACCOUNT_NAME or "sig=" in parts.query


def _target(wd: Path, relative: str | None) -> Path:
    """Where a resource goes under `wd`; refuses paths that would escape it."""
    if not relative:
        return wd
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", relative):
        raise StepFailed(failure(
            "ResourceFileCreateFailed",
            "The resource file path must be relative to the task working directory",
            [{"name": "FilePath", "value": relative}],
        ))
    return wd.joinpath(*pure.parts)


def _file_mode(resource: dict) -> int:
    text = resource.get("fileMode")
    if not text:
        return DEFAULT_FILE_MODE
    try:
        return int(str(text), 8)
    except ValueError:
        raise StepFailed(failure(
            "ResourceFileCreateFailed", "The resource file mode is not an octal number",
            [{"name": "FileMode", "value": str(text)}],
        )) from None


def _blob_failure(exc: Exception, source: str, dest: Path) -> dict:
    details = [{"name": "BlobSource", "value": public_url(source)}, {"name": "FilePath", "value": str(dest)}]
    return storage_failure(exc, _BLOB_DOWNLOAD, details)


def _prepare_parent(dest: Path) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StepFailed(failure(
            "ResourceDirectoryCreateFailed", "The directory for a resource file could not be created",
            [{"name": "FilePath", "value": str(dest.parent)}, {"name": "Message", "value": exc.strerror or ""}],
        )) from None


def _write_stream(dest: Path, mode: int, write: Callable) -> None:
    try:
        # A retry finds the previous attempt's file, perhaps read-only or a symlink the
        # task made: replace it rather than write through it.
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
        handle = open(dest, "wb")
    except OSError as exc:
        raise StepFailed(failure(
            "ResourceFileCreateFailed", "The resource file could not be created",
            [{"name": "FilePath", "value": str(dest)}, {"name": "Message", "value": exc.strerror or ""}],
        )) from None
    with handle:
        try:
            write(handle)
        except OSError as exc:
            if not hasattr(exc, "status_code"):
                raise StepFailed(failure(
                    "ResourceFileWriteFailed", "The resource file could not be written",
                    [{"name": "FilePath", "value": str(dest)}, {"name": "Message", "value": exc.strerror or ""}],
                )) from None
            raise
    if os.name != "nt":
        os.chmod(dest, mode)


def _download_http_resource(wd: Path, resource: dict) -> None:
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobClient

    url = resource["httpUrl"]
    mode = _file_mode(resource)
    relative = resource.get("filePath") or unquote(PurePosixPath(urlsplit(url).path).name)
    dest = _target(wd, relative)
    _prepare_parent(dest)
    if _looks_like_blob_url(url):
        try:
            downloader = BlobClient.from_blob_url(url, **retry_kwargs()).download_blob()
            _write_stream(dest, mode, downloader.readinto)
        except (AzureError, ValueError) as exc:
            raise StepFailed(_blob_failure(exc, url, dest)) from None
        return
    # A plain web server (not Blob storage): no x-ms-* protocol, just GET.
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            _write_stream(dest, mode, lambda handle: shutil.copyfileobj(response, handle))
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        raise StepFailed(_blob_failure(exc, url, dest)) from None


def _container_client(resource: dict, connection_string: str):
    from azure.storage.blob import ContainerClient

    if resource.get("storageContainerUrl"):
        return ContainerClient.from_container_url(resource["storageContainerUrl"], **retry_kwargs())
    if not connection_string:
        raise StepFailed(failure(
            "ResourceContainerNotFound",
            "No auto-storage account is linked, so the auto-storage container cannot be reached",
            [{"name": "ContainerName", "value": resource["autoStorageContainerName"]}],
        ))
    return ContainerClient.from_connection_string(
        connection_string, resource["autoStorageContainerName"], **retry_kwargs()
    )


def _download_container_resource(wd: Path, resource: dict, connection_string: str) -> None:
    from azure.core.exceptions import AzureError

    mode = _file_mode(resource)
    base = resource.get("filePath") or ""
    source = resource.get("storageContainerUrl") or resource.get("autoStorageContainerName", "")
    details = [{"name": "ContainerUrl", "value": public_url(source)}]
    try:
        container = _container_client(resource, connection_string)
        names = [blob.name for blob in container.list_blobs(name_starts_with=resource.get("blobPrefix") or None)]
    except AzureError as exc:
        raise StepFailed(storage_failure(exc, _CONTAINER_LIST, details)) from None
    except ValueError:
        raise StepFailed(failure("ResourceContainerListMiscError", "The container URL is not valid",
                                 details)) from None

    for name in names:
        # The blob's full name is kept under filePath, as the real agent does.
        dest = _target(wd, f"{base.rstrip('/')}/{name}" if base else name)
        if name.endswith("/"):  # a directory marker of a hierarchical namespace
            _prepare_parent(dest / "x")
            continue
        _prepare_parent(dest)
        blob = container.get_blob_client(name)
        try:
            downloader = blob.download_blob()
            _write_stream(dest, mode, downloader.readinto)
        except AzureError as exc:
            raise StepFailed(_blob_failure(exc, blob.url, dest)) from None
