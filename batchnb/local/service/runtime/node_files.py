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

Safety (issue 11): every read, listing and delete opens its way down from the node's root one
directory handle at a time with O_NOFOLLOW, so no symbolic link (made by a task, or swapped in
while a request runs) is ever followed: a link is listed as the link itself, reading one is 400,
deleting one removes the link. Reads stream in chunks (constant memory) and take only regular
files with a single link (a hard link could be a file from outside the node); FIFOs, sockets and
devices are 400. The root of a task or node directory cannot be deleted.
"""

from __future__ import annotations

import errno
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


def path_segments(encoded_or_decoded_path: str) -> list[str]:
    """The names of a relative path from the URL ('/' or '\\' separated, percent-decoded once)."""
    text = unquote(encoded_or_decoded_path or "")
    if text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise _invalid("The file path must be relative.")
    segments = [s for s in re.split(r"[/\\]", text) if s not in ("", ".")]
    if ".." in segments:
        raise _invalid("The file path must not contain '..' segments.")
    if any("\x00" in s for s in segments):
        raise _invalid("The file path contains an invalid character.")
    return segments


def resolve(base: Path, encoded_or_decoded_path: str) -> Path:
    """The file that `path` (relative to `base`, '/' or '\\' separated) names.

    The path is percent-decoded once (the SDK encodes '/' as %2F and '\\' as %5C); the
    result never lies outside `base`. It need not exist. (The routes use the fd-based
    helpers below; this lexical check is their first step.)
    """
    segments = path_segments(encoded_or_decoded_path)
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


def list_files(base: Path, *, recursive: bool, url_prefix: str) -> list[dict]:
    """REST `BatchNodeFile` dicts under `base`, sorted by name.

    `url_prefix` is the files URL ending in '/', e.g. `<base>/jobs/j/tasks/t/files/`.
    Directories are listed too (`isDirectory: true`, no properties); links as themselves.
    """
    base = Path(base)
    if not base.is_dir():
        raise _not_found()
    return list_entries(base, (), recursive=recursive, url_prefix=url_prefix)


def file_headers(path: Path, url: str) -> dict[str, str]:
    """Headers of a file GET/HEAD; `url` is the file's percent-encoded URL."""
    try:
        info = Path(path).stat()
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found() from None
    return headers_of(info, Path(path).name, url)


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
    """Delete `path` (its parent is trusted; the entry itself is never followed if it is a link)."""
    path = Path(path)
    parent = open_dir(path.parent, [])
    try:
        _delete_at(parent, path.name, recursive=recursive)
    finally:
        os.close(parent)

# --- fd-based access: nothing below follows a symbolic link ----------------------------------------

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
CHUNK_BYTES = 256 * 1024


def _is_link(dirfd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_error(exc: OSError) -> FileApiError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return _not_found()
    if exc.errno == errno.ELOOP:
        return _invalid("The path goes through a symbolic link, which the file API does not follow.")
    if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):
        return _invalid("The path is not a regular file or directory.")
    return FileApiError(403, "AccessDenied", "The file cannot be opened.")


def open_dir(anchor: Path, segments: list[str] | tuple[str, ...]) -> int:
    """A directory fd for anchor/segments, walking down one handle at a time without following links.
    `anchor` itself is created by the service (a node's root)."""
    try:
        fd = os.open(anchor, _DIR_FLAGS)
    except OSError as exc:
        raise _open_error(exc) from None
    try:
        for name in segments:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if _is_link(fd, name):  # O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR: say what it is
                    raise _open_error(OSError(errno.ELOOP, "link")) from None
                raise _open_error(exc) from None
            os.close(fd)
            fd = child
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_entry(anchor: Path, base_parts: tuple[str, ...], segments: list[str]) -> int:
    """An fd of the file or directory at anchor/base_parts/segments (no link followed; a FIFO does
    not block). The caller closes it."""
    parts = list(base_parts) + segments
    if not parts:
        return open_dir(anchor, [])
    parent = open_dir(anchor, parts[:-1])
    try:
        try:
            return os.open(parts[-1], _FILE_FLAGS, dir_fd=parent)
        except OSError as exc:
            raise _open_error(exc) from None
    finally:
        os.close(parent)


def headers_of(info: os.stat_result, name: str, url: str) -> dict[str, str]:
    """Headers of a file GET/HEAD from its stat; ``name`` picks the Content-Type."""
    is_dir = stat.S_ISDIR(info.st_mode)
    return {
        "Content-Type": "application/octet-stream" if is_dir else content_type(Path(name)),
        "Content-Length": "0" if is_dir else str(info.st_size),
        "Last-Modified": formatdate(info.st_mtime, usegmt=True),
        "ocp-creation-time": formatdate(_creation_timestamp(info), usegmt=True),
        "ocp-batch-file-isdirectory": "True" if is_dir else "False",
        "ocp-batch-file-url": url,
        "ocp-batch-file-mode": file_mode(info),
    }


def check_readable(info: os.stat_result) -> None:
    """Only a regular file with one link is served: its bytes are the node's, not a file elsewhere."""
    if stat.S_ISDIR(info.st_mode):
        raise _invalid("The path is a directory; only files can be downloaded.")
    if not stat.S_ISREG(info.st_mode):
        raise _invalid("The path is not a regular file.")
    if info.st_nlink > 1:
        raise _invalid("The file has other hard links; the file API serves only files with a single link.")


def list_entries(anchor: Path, base_parts: tuple[str, ...], *, recursive: bool, url_prefix: str) -> list[dict]:
    """As list_files, walking directory handles (os.fwalk) and never following a link."""
    fd = open_dir(anchor, base_parts)
    items = []
    try:
        if recursive:
            walk = os.fwalk(".", dir_fd=fd, follow_symlinks=False)
            for dirpath, dirnames, filenames, dirfd in walk:
                for name in dirnames + filenames:
                    item = _entry_at(dirfd, name, os.path.normpath(os.path.join(dirpath, name)), url_prefix)
                    if item is not None:
                        items.append(item)
        else:
            for name in os.listdir(fd):
                item = _entry_at(fd, name, name, url_prefix)
                if item is not None:
                    items.append(item)
    finally:
        os.close(fd)
    return sorted(items, key=lambda item: item["name"])


def _entry_at(dirfd: int, name: str, relative: str, url_prefix: str) -> dict | None:
    try:
        info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)  # a link's own metadata, not its target's
    except OSError:
        return None
    relative = relative.replace(os.sep, "/")
    item: dict = {"name": relative, "url": url_prefix + quote(relative, safe=""), "isDirectory": stat.S_ISDIR(info.st_mode)}
    if not item["isDirectory"]:
        item["properties"] = {
            "creationTime": _iso(_creation_timestamp(info)),
            "lastModified": _iso(info.st_mtime),
            "contentLength": str(info.st_size),
            "contentType": content_type(Path(relative)),
            "fileMode": file_mode(info),
        }
    return item


def delete_entry(anchor: Path, base_parts: tuple[str, ...], segments: list[str], *, recursive: bool) -> None:
    """Delete anchor/base_parts/segments without following links; the base itself is never deleted."""
    if not segments:
        raise _invalid("The root of a task's or node's directory cannot be deleted.")
    parent = open_dir(anchor, list(base_parts) + segments[:-1])
    try:
        _delete_at(parent, segments[-1], recursive=recursive)
    finally:
        os.close(parent)


def _delete_at(parent: int, name: str, *, recursive: bool) -> None:
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except OSError as exc:
        raise _open_error(exc) from None
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=parent)  # a file, a link (never what it points to), a FIFO...
        return
    if recursive:
        shutil.rmtree(name, dir_fd=parent)  # the fd-based rmtree: it follows no link either
        return
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError:
        raise FileApiError(
            409, "OperationInvalidForCurrentState",
            "The directory is not empty; set recursive=true to delete it with its contents.",
        ) from None
