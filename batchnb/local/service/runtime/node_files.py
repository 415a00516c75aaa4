"""Helpers behind the node and task file API (spec §1.4).

The routes stay thin: they pick a base directory (task dir or node root), call `resolve`
with the path from the URL, and use the other helpers to answer. Every error is a
`FileApiError` carrying the Batch error code and HTTP status to send.

Decisions where the sources are silent:
- A path with a `..` segment, an absolute path or a drive letter is 400 `InvalidUri`; so
  is a symlink that leads outside the base directory.
- Reading a directory's bytes is 400 `InvalidUri` (HEAD on a directory works and reports
  `ocp-batch-file-isdirectory: True`).
- Deleting a non-empty directory without `recursive` is 409
  `OperationInvalidForCurrentState`; an empty one is removed.
- `fileMode` is the full `st_mode` in Python's octal form, e.g. `0o100644` for a regular file.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from datetime import datetime, timezone
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote, unquote


class FileApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"({code}) {message}")
        self.status = status
        self.code = code
        self.message = message


def _not_found() -> FileApiError:
    return FileApiError(404, "FileNotFound", "The specified file does not exist.")


def _invalid(message: str) -> FileApiError:
    return FileApiError(400, "InvalidUri", message)


def resolve(base: Path, encoded_or_decoded_path: str) -> Path:
    """The file that `path` (relative to `base`, '/' or '\\' separated) names.

    The path is percent-decoded once (the SDK encodes '/' as %2F and '\\' as %5C); the
    result never lies outside `base`. It need not exist.
    """
    text = unquote(encoded_or_decoded_path or "")
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise _invalid("The file path must be relative.")
    segments = [s for s in re.split(r"[/\\]", text) if s not in ("", ".")]
    if ".." in segments:
        raise _invalid("The file path must not contain '..' segments.")
    if any("\x00" in s for s in segments):
        raise _invalid("The file path contains an invalid character.")
    base = Path(base)
    path = base.joinpath(*segments)
    # A symlink made by a task must not open the rest of the machine to the file API.
    real_base = os.path.realpath(base)
    real_path = os.path.realpath(path)
    if real_path != real_base and not real_path.startswith(real_base.rstrip(os.sep) + os.sep):
        raise _invalid("The file path leads outside the allowed directory.")
    return path


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def _creation_timestamp(info: os.stat_result) -> float:
    # st_birthtime where the OS has it; otherwise the inode change time is the closest.
    return getattr(info, "st_birthtime", None) or info.st_ctime


def content_type(path: Path) -> str:
    return "text/plain" if path.suffix.lower() == ".txt" else "application/octet-stream"


def file_mode(info: os.stat_result) -> str:
    return oct(info.st_mode)


def _entry(base: Path, path: Path, url_prefix: str) -> dict | None:
    try:
        info = path.stat()
    except OSError:
        return None  # vanished while listing (a running task deletes files)
    name = path.relative_to(base).as_posix()
    item: dict = {"name": name, "url": url_prefix + quote(name, safe=""), "isDirectory": stat.S_ISDIR(info.st_mode)}
    if not item["isDirectory"]:
        item["properties"] = {
            "creationTime": _iso(_creation_timestamp(info)),
            "lastModified": _iso(info.st_mtime),
            "contentLength": str(info.st_size),
            "contentType": content_type(path),
            "fileMode": file_mode(info),
        }
    return item


def list_files(base: Path, *, recursive: bool, url_prefix: str) -> list[dict]:
    """REST `BatchNodeFile` dicts under `base`, sorted by name.

    `url_prefix` is the files URL ending in '/', e.g. `<base>/jobs/j/tasks/t/files/`.
    Directories are listed too (`isDirectory: true`, no properties).
    """
    base = Path(base)
    if not base.is_dir():
        raise _not_found()
    if recursive:
        paths = []
        for dirpath, dirnames, filenames in os.walk(base):
            paths.extend(Path(dirpath, name) for name in dirnames + filenames)
    else:
        paths = list(base.iterdir())
    items = (_entry(base, path, url_prefix) for path in paths)
    return sorted((item for item in items if item is not None), key=lambda item: item["name"])


def file_headers(path: Path, url: str) -> dict[str, str]:
    """Headers of a file GET/HEAD; `url` is the file's percent-encoded URL."""
    try:
        info = Path(path).stat()
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found() from None
    is_dir = stat.S_ISDIR(info.st_mode)
    return {
        "Content-Type": "application/octet-stream" if is_dir else content_type(Path(path)),
        "Content-Length": "0" if is_dir else str(info.st_size),
        "Last-Modified": formatdate(info.st_mtime, usegmt=True),
        "ocp-creation-time": formatdate(_creation_timestamp(info), usegmt=True),
        "ocp-batch-file-isdirectory": "True" if is_dir else "False",
        "ocp-batch-file-url": url,
        "ocp-batch-file-mode": file_mode(info),
    }


_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def byte_range(size: int, ocp_range: str | None) -> tuple[int, int]:
    """(start, stop) with stop exclusive for a file of `size` bytes; for streaming routes."""
    if not ocp_range:
        return 0, size
    match = _RANGE.match(ocp_range)
    if not match or (not match.group(1) and not match.group(2)):
        raise FileApiError(416, "InvalidRange", "The range specified is invalid.")
    first, last = match.group(1), match.group(2)
    if not first:  # 'bytes=-n': the last n bytes
        length = int(last)
        if length == 0:
            raise FileApiError(416, "InvalidRange", "The range specified is invalid.")
        return max(0, size - length), size
    start = int(first)
    stop = size if not last else min(int(last) + 1, size)
    if start >= size or (last and int(last) < start):
        raise FileApiError(416, "InvalidRange", "The range specified is invalid for the current size of the file.")
    return start, stop


def read_range(path: Path, ocp_range: str | None) -> bytes:
    """The file's bytes, or the inclusive `bytes=a-b` / `bytes=a-` slice of them."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found() from None
    except IsADirectoryError:
        raise _invalid("The path is a directory; only files can be downloaded.") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if not ocp_range:
            return handle.read()
        start, stop = byte_range(size, ocp_range)
        handle.seek(start)
        return handle.read(stop - start)


def delete(path: Path, *, recursive: bool) -> None:
    path = Path(path)
    if path.is_symlink():
        path.unlink()  # the link, never what it points to
        return
    if not path.exists():
        raise _not_found()
    if not path.is_dir():
        path.unlink()
        return
    if recursive:
        shutil.rmtree(path)
        return
    try:
        path.rmdir()
    except OSError:
        raise FileApiError(
            409, "OperationInvalidForCurrentState",
            "The directory is not empty; set recursive=true to delete it with its contents.",
        ) from None
