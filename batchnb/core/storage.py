"""Staging data through Blob storage: upload inputs, hand tasks SAS URLs, bring outputs back.

    st = session.storage
    st.upload("data/", container="inputs")                   # parallel, progress bar, skips same files
    files = st.input_files("inputs", prefix="data/")         # ResourceFileSpecs with read-only SAS
    out = st.output_files("out/*.csv", container="outputs", path="run1")   # write/create-only SAS
    df = st.read_frame("outputs", "run1/summary.csv")

SAS tokens are signed with the account key when there is one, otherwise with a user delegation
key (Entra ID). Every SAS grants only what it is for and expires (``expiry``, default 24 hours;
what tasks use, input and output files and map() inputs, 7 days, so that tasks queued for days
still reach their blobs).
Azure refuses a user delegation key that expires more than 7 days after *its* clock, so with
Entra ID every expiry is kept under 7 days minus a clock-skew margin, and a longer one asked
for is refused here with the fix, not by Azure with an opaque 400.
Container and blob names are checked before any request.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import hashlib
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from azure.core.exceptions import AzureError, ResourceExistsError, ServiceRequestError, ServiceResponseError

from batchnb.core.docstrings import fill_doc
from batchnb.core.redact import redact
from batchnb.core.specs.task_files import OutputFileSpec, ResourceFileSpec
from batchnb.core.transport import call
from batchnb.core.validation import check_blob_name, check_container_name
from batchnb.errors import BatchnbError, NotFoundError, UploadError, ValidationError, from_azure_error

if TYPE_CHECKING:
    import pandas as pd
    from azure.storage.blob import BlobServiceClient

__all__ = ["Storage", "UploadError", "UploadItem", "UploadResult"]

DEFAULT_EXPIRY = dt.timedelta(hours=24)
# What a task may need a SAS for: from submission through days in the queue to its output upload.
LONG_EXPIRY = dt.timedelta(days=7)
# Get User Delegation Key: "the end time ... must be within 7 days of the current time", the
# storage service's time. A client clock ahead of Azure's by a few minutes must not cross it.
MAX_DELEGATION_LIFETIME = dt.timedelta(days=7)
CLOCK_SKEW_MARGIN = dt.timedelta(minutes=15)
_SAS_START_BACKDATE = dt.timedelta(minutes=5)
# Files above this go up one at a time with the SDK's own block parallelism (max_concurrency);
# smaller ones go many at a time, one request each.
LARGE_FILE_BYTES = 32 * 1024 * 1024
LARGE_BLOCK_BYTES = 16 * 1024 * 1024
_HASH_CHUNK = 4 * 1024 * 1024
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class UploadItem:
    """One file's outcome: ``status`` is ``uploaded``, ``skipped`` (same size and MD5) or ``failed``."""

    path: str
    blob: str
    size: int
    status: str
    error: str | None = None


class UploadResult(list[UploadItem]):
    """The outcome of :meth:`batchnb.Storage.upload`, one item per file; ``to_frame()`` for a DataFrame."""

    container: str = ""
    seconds: float = 0.0

    @property
    def uploaded(self) -> list[UploadItem]:
        return [i for i in self if i.status == "uploaded"]

    @property
    def skipped(self) -> list[UploadItem]:
        return [i for i in self if i.status == "skipped"]

    @property
    def failed(self) -> list[UploadItem]:
        return [i for i in self if i.status == "failed"]

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([vars(i) for i in self], columns=["path", "blob", "size", "status", "error"])

    def __repr__(self) -> str:
        size = sum(i.size for i in self.uploaded)
        return (f"UploadResult(container={self.container!r}, uploaded={len(self.uploaded)} ({size:,} bytes), "
                f"skipped={len(self.skipped)}, failed={len(self.failed)}, seconds={self.seconds:.2f})")


def _use_large_blocks(blob_client: Any) -> None:
    """Bigger blocks for one large file on this blob client only (fewer requests, ~20% faster
    on Azurite; peak memory is max_concurrency x LARGE_BLOCK_BYTES), and never a single Put
    Blob: the SDK's default sends files up to 64 MiB in one unparallelised request."""
    import copy

    config = getattr(blob_client, "_config", None)
    if config is None or not hasattr(config, "max_block_size"):  # another SDK layout: keep its defaults
        return
    config = copy.copy(config)  # the container client's config is shared with every other blob client
    config.max_block_size = LARGE_BLOCK_BYTES
    config.max_single_put_size = LARGE_BLOCK_BYTES
    blob_client._config = config


def _md5_of_file(path: str) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.digest()


def _size(path: str) -> int:
    # A file that vanished or cannot be read fails on its own later, with its reason.
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _expiry(expiry: dt.timedelta | dt.datetime | float | None, *,
            default: dt.timedelta = DEFAULT_EXPIRY) -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    if expiry is None:
        return now + default
    if isinstance(expiry, dt.datetime):
        return expiry if expiry.tzinfo else expiry.replace(tzinfo=dt.UTC)
    if isinstance(expiry, dt.timedelta):
        return now + expiry
    return now + dt.timedelta(seconds=float(expiry))


def delegation_limit(now: dt.datetime | None = None) -> dt.datetime:
    """The latest expiry a user delegation key (and so any SAS signed with it) can safely have."""
    return (now or dt.datetime.now(dt.UTC)) + MAX_DELEGATION_LIFETIME - CLOCK_SKEW_MARGIN


def _local_files(path_or_glob: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(local path, name relative to the upload root, with '/') for a file, a folder or a glob."""
    text = os.fspath(path_or_glob)
    if any(c in _GLOB_CHARS for c in text):
        # The part before the first wildcard is the root the blob names are relative to.
        parts = Path(text).parts
        root_parts = []
        for part in parts:
            if any(c in _GLOB_CHARS for c in part):
                break
            root_parts.append(part)
        root = Path(*root_parts) if root_parts else Path(".")
        found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        return [(p, Path(p).relative_to(root).as_posix()) for p in found]
    path = Path(text)
    if path.is_file():
        return [(str(path), path.name)]
    if path.is_dir():
        out = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                out.append((str(full), full.relative_to(path).as_posix()))
        return out
    raise ValidationError("path", f"{text!r} is not a file, folder or matching glob",
                          fix="check the path (relative paths start at the notebook's folder)")


def _join_blob(prefix: str, name: str) -> str:
    if not prefix:
        return name
    return prefix.rstrip("/") + "/" + name


class Storage:
    """Blob storage for one account. Made by the session (``session.storage``).

    SAS tokens are signed with the account key when there is one, otherwise with a user
    delegation key (Entra ID). ``client`` is the azure-storage-blob ``BlobServiceClient``.

    Parameters
    ----------
    client : azure.storage.blob.BlobServiceClient
        The SDK client.
    account_key : str, optional
        The account key, to sign SAS tokens.
    use_delegation_key : bool
        Without a key, sign SAS tokens with a user delegation key.
    """

    def __init__(self, client: BlobServiceClient, *, account_key: str | None = None,
                 use_delegation_key: bool = False) -> None:
        self.client = client
        self.account_name: str = client.account_name or ""
        self._account_key = account_key
        self._use_delegation = use_delegation_key and not account_key
        self._delegation_key: Any = None
        self._delegation_expiry: dt.datetime | None = None
        self._lock = threading.Lock()
        self._known_containers: set[str] = set()

    @property
    def url(self) -> str:
        """The blob endpoint, without any query string."""
        return self.client.url.split("?", 1)[0].rstrip("/")

    def __repr__(self) -> str:
        mode = "account key" if self._account_key else "user delegation (Entra ID)"
        return f"Storage(account={self.account_name!r}, url={redact(self.url)!r}, sas={mode!r})"

    # ------------------------------------------------------------------------------- containers
    def create_container(self, container: str) -> str:
        """Create ``container`` if it does not exist.

        Parameters
        ----------
        container : str
            The container's name.

        Returns
        -------
        str
            The name.

        Raises
        ------
        batchnb.errors.ValidationError
            Not a valid container name.
        """
        check_container_name(container)
        if container in self._known_containers:
            return container
        try:
            self.client.create_container(container)
        except ResourceExistsError:
            pass
        except AzureError as exc:
            raise from_azure_error(exc, action=f"create container {container!r}") from None
        self._known_containers.add(container)
        return container

    def list_blobs(self, container: str, prefix: str = "") -> list[str]:
        """The names of the blobs in ``container`` (under ``prefix``).

        Parameters
        ----------
        container : str
            The container's name.
        prefix : str
            Only blobs whose names start with this.

        Returns
        -------
        list of str
            Blob names.

        Raises
        ------
        batchnb.errors.NotFoundError
            The container does not exist.
        """
        check_container_name(container)
        cc = self.client.get_container_client(container)
        return call(f"list blobs in {container!r}", lambda: [b.name for b in cc.list_blobs(name_starts_with=prefix or None)])

    @fill_doc
    def list_blob_versions(self, container: str, prefix: str = "") -> dict[str, tuple[dt.datetime, str]]:
        """The version of every blob under ``prefix``.

        What a later ``read_bytes(..., etag=)`` pins, so that the bytes read are the ones that
        were checked.

        Parameters
        ----------
        %(container_prefix_params)s

        Returns
        -------
        dict of str to tuple
            ``{name: (last modified, ETag)}``.
        """
        check_container_name(container)
        cc = self.client.get_container_client(container)

        def listing() -> dict[str, tuple[dt.datetime, str]]:
            return {b.name: (b.last_modified, b.etag) for b in cc.list_blobs(name_starts_with=prefix or None)}
        return call(f"list blobs in {container!r}", listing)

    def delete_prefix(self, container: str, prefix: str) -> int:
        """Delete every blob under ``prefix``.

        Parameters
        ----------
        container : str
            The container's name.
        prefix : str
            A non-empty prefix (delete a whole container with ``client.delete_container``).

        Returns
        -------
        int
            How many blobs were deleted.

        Raises
        ------
        batchnb.errors.ValidationError
            ``prefix`` is empty.
        """
        if not prefix:
            raise ValidationError("prefix", "is empty", fix="give the prefix to delete; deleting a whole container "
                                  "is client.delete_container(name)")
        names = self.list_blobs(container, prefix)
        cc = self.client.get_container_client(container)
        for start in range(0, len(names), 256):
            call(f"delete blobs under {prefix!r}", lambda s=start: list(cc.delete_blobs(*names[s:s + 256])))
        return len(names)

    # ------------------------------------------------------------------------------- upload
    def upload(self, path_or_glob: str | os.PathLike[str], *, container: str, prefix: str = "",
               max_concurrency: int = 8, progress: bool = True, overwrite: bool = False,
               raise_on_error: bool = True) -> UploadResult:
        """Upload a file, a folder (recursively) or a glob (``"data/**/*.csv"``) to ``container``.

        Blob names are ``prefix`` + the path relative to the folder (or the glob's fixed part).
        Files go up in parallel with a progress bar; the container is created if needed.

        Parameters
        ----------
        path_or_glob : str or os.PathLike
            A file, a folder (recursively) or a glob.
        container : str
            The destination container.
        prefix : str
            Prepended to every blob name.
        max_concurrency : int
            Files (or blocks of one large file) in flight at once.
        progress : bool
            Show a progress bar.
        overwrite : bool
            Upload even files whose blob already has the same size and MD5.
        raise_on_error : bool
            Raise at the end when some files failed (a failed file never stops the others).

        Returns
        -------
        batchnb.core.storage.UploadResult
            One item per file: uploaded, skipped or failed.

        Raises
        ------
        batchnb.errors.ValidationError
            Nothing matches ``path_or_glob``, or a bad container or blob name.
        batchnb.errors.UploadError
            Some files failed (``raise_on_error=True``); ``error.result`` holds every outcome.
        """
        import time

        started = time.monotonic()
        check_container_name(container)
        files = _local_files(path_or_glob)
        pairs = [(local, _join_blob(prefix, rel)) for local, rel in files]
        for _, blob in pairs:
            check_blob_name(blob)
        self.create_container(container)
        cc = self.client.get_container_client(container)
        existing: dict[str, tuple[int, bytes | None]] = {}
        if not overwrite and pairs:
            # One listing instead of one HEAD per file: the skip check costs a request per 5,000 blobs.
            common = os.path.commonprefix([b for _, b in pairs])
            try:
                listed = call(f"list blobs in {container!r}", lambda: list(cc.list_blobs(name_starts_with=common or None)))
            except NotFoundError:
                # The container went away since we made it (deleted, or storage lost it): make it again.
                self._known_containers.discard(container)
                self.create_container(container)
                listed = []
            for props in listed:
                md5 = props.content_settings.content_md5 if props.content_settings else None
                existing[props.name] = (props.size, bytes(md5) if md5 else None)

        sizes = {local: _size(local) for local, _ in pairs}
        total = sum(sizes.values())
        bar = _progress(total, f"upload to {container}", enabled=progress)

        # Once storage stops answering (after the SDK's own retries), every other file would spend
        # the same retries failing: they are reported as not attempted instead, at once.
        unreachable: list[str] = []

        def one(pair: tuple[str, str]) -> UploadItem:
            local, blob = pair
            if unreachable:
                return UploadItem(local, blob, 0, "failed", f"not attempted: {unreachable[0]}")
            try:
                size = os.path.getsize(local)
                if size >= LARGE_FILE_BYTES:
                    status = self._put_large(cc, local, blob, size, existing.get(blob),
                                             max_concurrency=max_concurrency)
                else:
                    status = self._put_small(cc, local, blob, existing.get(blob))
                bar(size)
                return UploadItem(local, blob, size, status)
            except (OSError, AzureError) as exc:
                message = redact(exc if isinstance(exc, OSError) else from_azure_error(exc, action=f"upload {blob!r}"))
                if isinstance(exc, (ServiceRequestError, ServiceResponseError)) and not unreachable:
                    unreachable.append(f"storage at {redact(self.url)} did not answer")
                return UploadItem(local, blob, 0, "failed", " ".join(message.split())[:500])

        small = [p for p in pairs if sizes[p[0]] < LARGE_FILE_BYTES]
        large = [p for p in pairs if sizes[p[0]] >= LARGE_FILE_BYTES]
        outcomes: dict[str, UploadItem] = {}
        try:
            if small:
                with ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="batchnb-up") as pool:
                    for item in pool.map(one, small):
                        outcomes[item.blob] = item
            for pair in large:  # each already uses max_concurrency block uploads
                item = one(pair)
                outcomes[item.blob] = item
        finally:
            bar(None)
        result = UploadResult(outcomes[b] for _, b in pairs)
        result.container = container
        result.seconds = time.monotonic() - started
        if raise_on_error and result.failed:
            first = result.failed[0]
            raise UploadError(f"{len(result.failed)} of {len(result)} files failed to upload to {container!r}; "
                              f"first: {first.path} ({first.error})", result=result,
                              fix="fix the cause and upload again: files already uploaded are skipped")
        return result

    def _put_small(self, cc: Any, local: str, blob: str, existing: tuple[int, bytes | None] | None) -> str:
        from azure.storage.blob import ContentSettings

        # One read: the same bytes are hashed and sent (one Put Blob request).
        with open(local, "rb") as fh:
            data = fh.read()
        md5 = hashlib.md5(data, usedforsecurity=False).digest()
        if existing == (len(data), md5):
            return "skipped"
        # content_md5 is stored with the blob (Azure does not compute it for block uploads);
        # it is what the next upload compares against.
        cc.upload_blob(blob, data, length=len(data), overwrite=True,
                       content_settings=ContentSettings(content_md5=bytearray(md5)))
        return "uploaded"

    def _put_large(self, cc: Any, local: str, blob: str, size: int, existing: tuple[int, bytes | None] | None, *,
                   max_concurrency: int) -> str:
        from azure.storage.blob import ContentSettings

        known: bytes | None = None
        if existing is not None and existing[0] == size:
            # Only a blob of the same size can be the same file: worth hashing before sending.
            known = _md5_of_file(local)
            if existing[1] == known:
                return "skipped"
        bc = cc.get_blob_client(blob)
        _use_large_blocks(bc)
        # Hashing 256 MiB takes about as long as a third of the upload: do both at once, then
        # store the MD5 with one Set Blob Properties. A crash in between leaves a blob without
        # MD5, which the next upload simply sends again.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="batchnb-md5") as hasher:
            md5_future = hasher.submit(lambda: known or _md5_of_file(local))
            with open(local, "rb") as fh:
                bc.upload_blob(fh, length=size, overwrite=True, max_concurrency=max(1, max_concurrency))
            md5 = md5_future.result()
        bc.set_http_headers(content_settings=ContentSettings(content_md5=bytearray(md5)))
        return "uploaded"

    @fill_doc
    def upload_bytes(self, data: bytes, *, container: str, blob: str) -> str:
        """Upload ``data`` as one blob (replacing it); the container is created if needed.

        Parameters
        ----------
        data : bytes
            The content.
        %(blob_params)s

        Returns
        -------
        str
            The blob name.
        """
        check_container_name(container)
        check_blob_name(blob)
        self.create_container(container)
        call(f"upload {blob!r}", lambda: self.client.get_blob_client(container, blob).upload_blob(data, overwrite=True))
        return blob

    # ------------------------------------------------------------------------------- SAS
    def _delegation(self, expiry: dt.datetime) -> Any:
        with self._lock:
            if self._delegation_key is None or (self._delegation_expiry and self._delegation_expiry < expiry):
                start = dt.datetime.now(dt.UTC) - _SAS_START_BACKDATE
                # At least an hour (fewer key requests), never past Azure's 7 days (see delegation_limit).
                key_expiry = min(max(expiry, start + dt.timedelta(hours=1)), delegation_limit())
                self._delegation_key = call("get a user delegation key for SAS tokens",
                                            self.client.get_user_delegation_key, start, key_expiry)
                self._delegation_expiry = key_expiry
            return self._delegation_key

    def _sas_expiry(self, expiry: dt.timedelta | dt.datetime | float | None, *,
                    default: dt.timedelta = DEFAULT_EXPIRY) -> dt.datetime:
        """When a SAS should expire: ``expiry`` as asked, the default capped to what the signing
        key allows. With a user delegation key an explicit expiry past 7 days is refused here."""
        until = _expiry(expiry, default=default)
        if until <= dt.datetime.now(dt.UTC):
            raise ValidationError("expiry", f"{until.isoformat(timespec='seconds')} is in the past",
                                  fix="give a lifetime such as expiry=timedelta(hours=24)")
        if self._account_key or not self._use_delegation:
            return until
        limit = delegation_limit()
        if until <= limit:
            return until
        if expiry is None:
            return limit
        raise ValidationError(
            "expiry", f"is {_days(until - dt.datetime.now(dt.UTC))} away, but a SAS signed with a user "
            "delegation key (Entra ID storage access) can last at most 7 days",
            fix="use expiry <= timedelta(days=6, hours=23), or connect with a storage account key for longer SAS")

    def _signing(self, expiry: dt.datetime) -> dict[str, Any]:
        if self._account_key:
            return {"account_key": self._account_key}
        if self._use_delegation:
            return {"user_delegation_key": self._delegation(expiry)}
        raise BatchnbError("Cannot make a SAS: this storage connection has neither an account key nor Entra ID",
                           code="batchnb.Settings", fix="give a storage account key or connection string, or "
                           "connect with Entra ID (no key) so that a user delegation key can be used")

    def container_sas(self, container: str, *, read: bool = False, write: bool = False, create: bool = False,
                      add: bool = False, list: bool = False, delete: bool = False,
                      expiry: dt.timedelta | dt.datetime | float | None = None,
                      default_expiry: dt.timedelta = DEFAULT_EXPIRY) -> str:
        """The container's URL with a SAS granting exactly the permissions asked for.

        Parameters
        ----------
        container : str
            The container's name.
        read, write, create, add, list, delete : bool
            The permissions (at least one).
        expiry : timedelta, datetime or float, optional
            When the SAS expires (a duration, seconds from now, or a time; None:
            ``default_expiry``). Under Entra ID, capped to the 7 days a user delegation key allows.
        default_expiry : timedelta
            The lifetime when ``expiry`` is None.

        Returns
        -------
        str
            The URL with its SAS token (a secret: batchnb redacts it wherever it prints).

        Raises
        ------
        batchnb.errors.ValidationError
            No permission was asked for, or a bad container name.
        """
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        check_container_name(container)
        if not any((read, write, create, add, list, delete)):
            raise ValidationError("permissions", "none requested",
                                  fix="ask for what the holder needs, e.g. read=True, list=True")
        until = self._sas_expiry(expiry, default=default_expiry)
        permission = ContainerSasPermissions(read=read, write=write, delete=delete, list=list, add=add, create=create)
        token = generate_container_sas(self.account_name, container, permission=permission, expiry=until,
                                       start=dt.datetime.now(dt.UTC) - _SAS_START_BACKDATE,
                                       **self._signing(until))
        return f"{self.url}/{container}?{token}"

    @fill_doc
    def blob_sas(self, container: str, blob: str, *, read: bool = True, write: bool = False,
                 create: bool = False, expiry: dt.timedelta | dt.datetime | float | None = None,
                 default_expiry: dt.timedelta = DEFAULT_EXPIRY) -> str:
        """One blob's URL with a SAS (read-only by default).

        Parameters
        ----------
        %(blob_params)s
        read, write, create : bool
            The permissions.
        expiry : timedelta, datetime or float, optional
            When the SAS expires (as in :meth:`container_sas`).
        default_expiry : timedelta
            The lifetime when ``expiry`` is None.

        Returns
        -------
        str
            The URL with its SAS token.
        """
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        check_container_name(container)
        check_blob_name(blob)
        until = self._sas_expiry(expiry, default=default_expiry)
        token = generate_blob_sas(self.account_name, container, blob,
                                  permission=BlobSasPermissions(read=read, write=write, create=create),
                                  expiry=until, start=dt.datetime.now(dt.UTC) - _SAS_START_BACKDATE,
                                  **self._signing(until))
        return f"{self.url}/{container}/{quote(blob, safe='/')}?{token}"

    @fill_doc
    def input_files(self, container: str, prefix: str = "", *, keep_prefix: bool = False,
                    expiry: dt.timedelta | dt.datetime | float | None = None) -> list[ResourceFileSpec]:
        """One resource file per blob under ``prefix``, each with a read-only SAS.

        Parameters
        ----------
        %(container_prefix_params)s
        keep_prefix : bool
            Download to the full blob name instead of the name without ``prefix``.
        expiry : timedelta, datetime or float, optional
            When the SAS tokens expire (default 7 days: a task may wait in the queue for days
            before it downloads its inputs).

        Returns
        -------
        list of ResourceFileSpec
            For ``TaskSpec(resource_files=...)``: each lands in the task's working directory.
        """
        names = self.list_blobs(container, prefix)
        out = []
        for name in names:
            rel = name if keep_prefix or not prefix else name[len(prefix):].lstrip("/") or PurePosixPath(name).name
            out.append(ResourceFileSpec(http_url=self.blob_sas(container, name, expiry=expiry, default_expiry=LONG_EXPIRY),
                                        file_path=rel))
        return out

    def input_container(self, container: str, prefix: str | None = None, *, file_path: str | None = None,
                        expiry: dt.timedelta | dt.datetime | float | None = None) -> ResourceFileSpec:
        """One resource file for a whole container (or the blobs under ``prefix``), with a read+list SAS.

        Parameters
        ----------
        container : str
            The container's name.
        prefix : str, optional
            Only blobs under this prefix.
        file_path : str, optional
            The folder they land in, relative to the working directory.
        expiry : timedelta, datetime or float, optional
            When the SAS expires (default 7 days, like :meth:`input_files`).

        Returns
        -------
        ResourceFileSpec
            The spec.
        """
        url = self.container_sas(container, read=True, list=True, expiry=expiry, default_expiry=LONG_EXPIRY)
        return ResourceFileSpec(storage_container_url=url, blob_prefix=prefix or None, file_path=file_path)

    def output_files(self, pattern: str, *, container: str, path: str | None = None,
                     upload_condition: str = "taskcompletion",
                     expiry: dt.timedelta | dt.datetime | float | None = None) -> OutputFileSpec:
        """An output file spec uploading ``pattern`` to ``container``/``path``; creates the container.

        Parameters
        ----------
        pattern : str
            Files relative to the task's working directory (``out/*.json``, ``../std*.txt``).
        container : str
            The destination container.
        path : str, optional
            The blob name (one file) or prefix (a wildcard).
        upload_condition : {"taskcompletion", "tasksuccess", "taskfailure"}
            When to upload.
        expiry : timedelta, datetime or float, optional
            When the write/create-only SAS expires (default 7 days).

        Returns
        -------
        OutputFileSpec
            For ``TaskSpec(output_files=...)``.
        """
        self.create_container(container)
        url = self.container_sas(container, write=True, create=True, expiry=expiry, default_expiry=LONG_EXPIRY)
        return OutputFileSpec(file_pattern=pattern, container_url=url, path=path, upload_condition=upload_condition)

    def output_blob(self, pattern: str, *, container: str, blob: str, upload_condition: str = "taskcompletion",
                    expiry: dt.timedelta | dt.datetime | float | None = None) -> OutputFileSpec:
        """An output file spec uploading one file to exactly ``container``/``blob``.

        Its SAS can create that one blob and nothing else: no other name, no overwrite, no
        read. Whoever reads the task learns no more than that.

        Parameters
        ----------
        pattern : str
            One file, relative to the task's working directory (no wildcards).
        container : str
            The destination container (created if needed).
        blob : str
            The blob's name.
        upload_condition : {"taskcompletion", "tasksuccess", "taskfailure"}
            When to upload.
        expiry : timedelta, datetime or float, optional
            When the SAS expires.

        Returns
        -------
        OutputFileSpec
            For ``TaskSpec(output_files=...)``.

        Raises
        ------
        batchnb.errors.ValidationError
            ``pattern`` has wildcards.
        """
        if any(c in _GLOB_CHARS for c in pattern):
            raise ValidationError("pattern", f"{pattern!r} has wildcards; output_blob uploads one file",
                                  fix="name one file, or use output_files() for a pattern")
        self.create_container(container)
        url = self.blob_sas(container, blob, read=False, create=True, expiry=expiry)
        token = url.partition("?")[2]
        return OutputFileSpec(file_pattern=pattern, container_url=f"{self.url}/{container}?{token}", path=blob,
                              upload_condition=upload_condition)

    # ------------------------------------------------------------------------------- download
    @fill_doc
    def download(self, container: str, prefix: str = "", dest: str | os.PathLike[str] = ".", *,
                 pattern: str | None = None, max_concurrency: int = 8, progress: bool = False) -> list[Path]:
        """Download the blobs under ``prefix`` to ``dest``, keeping their folders below the prefix.

        Parameters
        ----------
        %(container_prefix_params)s
        dest : str or os.PathLike
            The local folder.
        pattern : str, optional
            Only blobs whose name after the prefix matches this glob.
        max_concurrency : int
            Downloads in flight at once.
        progress : bool
            Show a progress bar.

        Returns
        -------
        list of pathlib.Path
            The local files.

        Raises
        ------
        batchnb.errors.ValidationError
            A blob name would land outside ``dest``.
        """
        names = self.list_blobs(container, prefix)
        if pattern:
            names = [n for n in names if fnmatch.fnmatch(n[len(prefix):].lstrip("/"), pattern)]
        root = Path(dest)
        cc = self.client.get_container_client(container)
        bar = _progress(len(names), f"download from {container}", enabled=progress, unit="file")

        def one(name: str) -> Path:
            rel = name[len(prefix):].lstrip("/") if prefix and name != prefix else PurePosixPath(name).name
            target = root.joinpath(*PurePosixPath(rel).parts)
            if root.resolve() not in target.resolve().parents:
                raise ValidationError("blob", f"{name!r} would land outside {root}", fix="download it by name")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                call(f"download {name!r}", lambda: cc.download_blob(name).readinto(fh))
            bar(1)
            return target

        try:
            if len(names) <= 1:
                return [one(n) for n in names]
            with ThreadPoolExecutor(max_workers=max(1, max_concurrency), thread_name_prefix="batchnb-down") as pool:
                return list(pool.map(one, names))
        finally:
            bar(None)

    @fill_doc(missing="No such blob")
    def read_bytes(self, container: str, blob: str, *, etag: str | None = None) -> bytes:
        """One blob's content.

        Parameters
        ----------
        %(blob_params)s
        etag : str, optional
            Read it only if it is still this version.

        %(bytes_returns)s
        batchnb.errors.ConflictError
            ``etag`` was given and the blob has changed since.
        """
        check_container_name(container)
        check_blob_name(blob)
        if etag is None:
            return call(f"read {blob!r}", lambda: self.client.get_blob_client(container, blob).download_blob().readall())
        from azure.core import MatchConditions

        return call(f"read {blob!r}", lambda: self.client.get_blob_client(container, blob).download_blob(
            etag=etag, match_condition=MatchConditions.IfNotModified).readall())

    def read_frame(self, container: str, blob: str, **read_options: Any) -> pd.DataFrame:
        """A CSV, Parquet or JSON blob as a DataFrame, read by its extension.

        Parameters
        ----------
        container : str
            The container's name.
        blob : str
            The blob's name: ``.csv``, ``.csv.gz``, ``.txt``, ``.tsv``, ``.parquet``, ``.pq``,
            ``.json``, ``.jsonl`` or ``.ndjson``.
        **read_options
            Passed to the pandas reader.

        Returns
        -------
        pandas.DataFrame
            The table.

        Raises
        ------
        batchnb.errors.ValidationError
            An extension batchnb cannot read.
        batchnb.errors.NotFoundError
            No such blob.
        """
        import pandas as pd

        name = blob.lower()
        data = io.BytesIO(self.read_bytes(container, blob))
        if name.endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(data, compression="gzip" if name.endswith(".gz") else None, **read_options)
        if name.endswith(".tsv"):
            return pd.read_csv(data, sep="\t", **read_options)
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(data, **read_options)
        if name.endswith((".jsonl", ".ndjson")):
            return pd.read_json(data, lines=True, **read_options)
        if name.endswith(".json"):
            return pd.read_json(data, **read_options)
        raise ValidationError("blob", f"{blob!r} has no extension batchnb can read into a DataFrame",
                              fix="use .csv, .tsv, .parquet, .json or .jsonl, or read_bytes()")


def _days(span: dt.timedelta) -> str:
    return f"{span.total_seconds() / 86400:.1f} days"


def _progress(total: int, desc: str, *, enabled: bool, unit: str = "B") -> Callable[[int | None], None]:
    """A thread-safe ``advance(n)`` for a tqdm.auto bar; ``advance(None)`` closes it."""
    if not enabled or not total:
        return lambda n: None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000)
    lock = threading.Lock()

    def advance(n: int | None) -> None:
        with lock:
            if n is None:
                bar.close()
            else:
                bar.update(n)
    return advance
