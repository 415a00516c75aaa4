"""Large-file uploads (>= LARGE_FILE_BYTES): parallel blocks, MD5 stored, unchanged file skipped."""

from __future__ import annotations

import base64
import hashlib

import pytest

from batchnb.core.storage import LARGE_FILE_BYTES

pytestmark = pytest.mark.timeout(120)


def test_a_large_file_goes_up_in_blocks_with_its_md5_and_is_skipped_when_unchanged(session, unique, tmp_path):
    path = tmp_path / "big.bin"
    block = hashlib.sha256(unique.encode()).digest() * 32768  # 1 MiB, varied by test run
    data = block * (LARGE_FILE_BYTES // len(block)) + b"tail"
    path.write_bytes(data)
    storage = session.storage
    first = storage.upload(path, container="inputs", prefix=f"big-{unique}", progress=False)
    assert [i.status for i in first] == ["uploaded"] and first[0].size == len(data)
    blob = storage.client.get_blob_client("inputs", f"big-{unique}/big.bin")
    props = blob.get_blob_properties()
    assert props.size == len(data)
    assert base64.b64encode(bytes(props.content_settings.content_md5)).decode() == base64.b64encode(
        hashlib.md5(data).digest()).decode()
    assert blob.download_blob().readall() == data

    again = storage.upload(path, container="inputs", prefix=f"big-{unique}", progress=False)
    assert [i.status for i in again] == ["skipped"]
    # Same size, one byte different: uploaded again.
    path.write_bytes(data[:-1] + b"!")
    third = storage.upload(path, container="inputs", prefix=f"big-{unique}", progress=False)
    assert [i.status for i in third] == ["uploaded"]
    assert blob.download_blob(offset=len(data) - 4).readall() == b"tai!"
