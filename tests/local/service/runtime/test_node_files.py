"""Helpers of the node/task file API: path resolution, listing, headers, ranges, delete (spec §1.4)."""

from __future__ import annotations

import os
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from batchnb.local.service.runtime.node_files import FileApiError, delete, file_headers, list_files, read_range, resolve

PREFIX = "http://127.0.0.1:1/jobs/j/tasks/t/files/"


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    base = tmp_path / "t"
    (base / "wd" / "sub").mkdir(parents=True)
    (base / "stdout.txt").write_text("0123456789")
    (base / "stderr.txt").write_text("")
    (base / "wd" / "out.bin").write_bytes(b"\x00\x01")
    (base / "wd" / "sub" / "deep.txt").write_text("deep")
    return base


def test_resolve_decodes_and_accepts_both_separators(task_dir: Path) -> None:
    assert resolve(task_dir, "wd%2Fsub%2Fdeep.txt") == task_dir / "wd" / "sub" / "deep.txt"
    assert resolve(task_dir, "wd%5Csub%5Cdeep.txt") == task_dir / "wd" / "sub" / "deep.txt"
    assert resolve(task_dir, "wd/sub\\deep.txt") == task_dir / "wd" / "sub" / "deep.txt"
    assert resolve(task_dir, "wd%2Fstd%20out.txt") == task_dir / "wd" / "std out.txt"
    assert resolve(task_dir, "") == task_dir


@pytest.mark.parametrize("path", ["..%2Fsecret", "wd/../../x", "..\\x", "%2Fetc%2Fpasswd", "/etc/passwd",
                                  "C:%5Cwindows", "wd%2F..%2F..%2Fx"])
def test_resolve_refuses_paths_outside_the_base(task_dir: Path, path: str) -> None:
    with pytest.raises(FileApiError) as info:
        resolve(task_dir, path)
    assert info.value.status == 400 and info.value.code == "InvalidUri"


def test_resolve_refuses_symlinks_leading_outside(task_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", task_dir / "wd" / "link.txt")
    with pytest.raises(FileApiError):
        resolve(task_dir, "wd/link.txt")


def test_non_recursive_listing_gives_direct_children(task_dir: Path) -> None:
    items = list_files(task_dir, recursive=False, url_prefix=PREFIX)
    assert [(i["name"], i["isDirectory"]) for i in items] == [
        ("stderr.txt", False), ("stdout.txt", False), ("wd", True)]
    stdout = items[1]
    assert stdout["url"] == PREFIX + "stdout.txt"
    props = stdout["properties"]
    assert props["contentLength"] == "10"
    assert props["contentType"] == "text/plain"
    assert props["fileMode"] == oct((task_dir / "stdout.txt").stat().st_mode)
    assert props["lastModified"].endswith("Z") and props["creationTime"].endswith("Z")
    assert "properties" not in items[2]


def test_recursive_listing_gives_every_descendant(task_dir: Path) -> None:
    items = list_files(task_dir, recursive=True, url_prefix=PREFIX)
    assert [i["name"] for i in items] == [
        "stderr.txt", "stdout.txt", "wd", "wd/out.bin", "wd/sub", "wd/sub/deep.txt"]
    deep = items[-1]
    assert deep["url"] == PREFIX + "wd%2Fsub%2Fdeep.txt"
    assert items[3]["properties"]["contentType"] == "application/octet-stream"


def test_listing_a_missing_directory_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileApiError) as info:
        list_files(tmp_path / "missing", recursive=False, url_prefix=PREFIX)
    assert info.value.status == 404 and info.value.code == "FileNotFound"


def test_headers_of_a_file_and_a_directory(task_dir: Path) -> None:
    headers = file_headers(task_dir / "stdout.txt", PREFIX + "stdout.txt")
    assert headers["Content-Type"] == "text/plain"
    assert headers["Content-Length"] == "10"
    assert headers["ocp-batch-file-isdirectory"] == "False"
    assert headers["ocp-batch-file-url"] == PREFIX + "stdout.txt"
    assert headers["ocp-batch-file-mode"].startswith("0o100")
    assert parsedate_to_datetime(headers["Last-Modified"]).tzinfo is not None
    assert parsedate_to_datetime(headers["ocp-creation-time"]).tzinfo is not None
    assert file_headers(task_dir / "wd", PREFIX + "wd")["ocp-batch-file-isdirectory"] == "True"
    with pytest.raises(FileApiError) as info:
        file_headers(task_dir / "nope.txt", PREFIX + "nope.txt")
    assert info.value.status == 404


@pytest.mark.parametrize(("ocp_range", "expected"), [
    (None, b"0123456789"), ("bytes=0-3", b"0123"), ("bytes=4-", b"456789"), ("bytes=8-100", b"89"),
    ("bytes=-3", b"789"), ("bytes=9-9", b"9"),
])
def test_read_range(task_dir: Path, ocp_range: str | None, expected: bytes) -> None:
    assert read_range(task_dir / "stdout.txt", ocp_range) == expected


@pytest.mark.parametrize("ocp_range", ["bytes=10-", "bytes=5-2", "bytes=x-y", "lines=1-2", "bytes=-"])
def test_bad_range_is_416(task_dir: Path, ocp_range: str) -> None:
    with pytest.raises(FileApiError) as info:
        read_range(task_dir / "stdout.txt", ocp_range)
    assert info.value.status == 416 and info.value.code == "InvalidRange"


def test_reading_missing_file_or_directory(task_dir: Path) -> None:
    with pytest.raises(FileApiError) as info:
        read_range(task_dir / "missing.txt", None)
    assert info.value.status == 404 and info.value.code == "FileNotFound"
    with pytest.raises(FileApiError) as info:
        read_range(task_dir / "wd", None)
    assert info.value.status == 400


def test_delete(task_dir: Path) -> None:
    delete(task_dir / "stdout.txt", recursive=False)
    assert not (task_dir / "stdout.txt").exists()
    with pytest.raises(FileApiError) as info:
        delete(task_dir / "stdout.txt", recursive=False)
    assert info.value.status == 404 and info.value.code == "FileNotFound"
    with pytest.raises(FileApiError) as info:
        delete(task_dir / "wd", recursive=False)
    assert info.value.status == 409
    assert (task_dir / "wd" / "sub" / "deep.txt").exists()
    delete(task_dir / "wd", recursive=True)
    assert not (task_dir / "wd").exists()
    (task_dir / "empty").mkdir()
    delete(task_dir / "empty", recursive=False)
    assert not (task_dir / "empty").exists()
