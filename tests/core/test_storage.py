"""Staging through real Azurite: upload (skip-if-same), SAS least privilege, downloads, frames."""

from __future__ import annotations

import pandas as pd
import pytest
import requests

import batchnb
from batchnb.errors import UploadError, ValidationError

pytestmark = pytest.mark.timeout(120)


def _tree(root, n=5):
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
    (root / "sub" / "deep.csv").write_text("a,b\n1,2\n3,4\n")
    return root


def test_upload_folder_then_skip_what_is_unchanged(session, unique, tmp_path):
    data = _tree(tmp_path / "data")
    storage = session.storage
    first = storage.upload(data, container="inputs", prefix=f"up-{unique}", progress=False)
    assert len(first.uploaded) == 6 and not first.skipped
    assert sorted(i.blob for i in first) == sorted(
        [f"up-{unique}/f{i}.txt" for i in range(5)] + [f"up-{unique}/sub/deep.csv"])
    again = storage.upload(data, container="inputs", prefix=f"up-{unique}", progress=False)
    assert len(again.skipped) == 6 and not again.uploaded
    # Same size, different bytes: MD5 catches it.
    (data / "f0.txt").write_text("FILE 0\n")
    third = storage.upload(data, container="inputs", prefix=f"up-{unique}", progress=False)
    assert [i.blob for i in third.uploaded] == [f"up-{unique}/f0.txt"]
    assert storage.read_bytes("inputs", f"up-{unique}/f0.txt") == b"FILE 0\n"
    frame = third.to_frame()
    assert set(frame["status"]) == {"uploaded", "skipped"}


def test_upload_glob_names_blobs_from_the_fixed_part(session, unique, tmp_path):
    data = _tree(tmp_path / "data")
    result = session.storage.upload(str(data / "**" / "*.csv"), container="inputs", prefix=f"glob-{unique}",
                                    progress=False)
    assert [i.blob for i in result] == [f"glob-{unique}/sub/deep.csv"]


def test_a_failing_file_does_not_stop_the_others(session, unique, tmp_path):
    data = _tree(tmp_path / "data")
    # A dangling symlink: listed like a file, fails when opened.
    broken = data / "broken.txt"
    broken.symlink_to(tmp_path / "does-not-exist")
    with pytest.raises(UploadError) as info:
        session.storage.upload(data, container="inputs", prefix=f"fail-{unique}", progress=False)
    result = info.value.result
    assert [i.path for i in result.failed] == [str(broken)]
    assert "does-not-exist" in result.failed[0].error or "No such file" in result.failed[0].error
    assert len(result.uploaded) == 6
    quiet = session.storage.upload(data, container="inputs", prefix=f"fail-{unique}", progress=False,
                                   raise_on_error=False)
    assert len(quiet.failed) == 1 and len(quiet.skipped) == 6


def test_sas_tokens_grant_only_what_they_say(session, unique):
    storage = session.storage
    storage.upload_bytes(b"secret data", container="sas-test", blob=f"{unique}/a.txt")
    read_url = storage.blob_sas("sas-test", f"{unique}/a.txt")
    assert requests.get(read_url, timeout=10).content == b"secret data"
    # A read SAS cannot write.
    put = requests.put(read_url, data=b"overwritten", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10)
    assert put.status_code == 403
    # A write/create-only container SAS (as given to output files) can write but not read or list.
    out = storage.output_files("*.txt", container="sas-test", path=f"{unique}/out")
    base, _, token = out.container_url.partition("?")
    new_blob = f"{base}/{unique}/new.txt?{token}"
    assert requests.put(new_blob, data=b"result", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 201
    assert requests.get(new_blob, timeout=10).status_code == 403
    listing = requests.get(f"{base}?restype=container&comp=list&{token}", timeout=10)
    assert listing.status_code == 403
    # A read+list container SAS lists but cannot write.
    rl = storage.container_sas("sas-test", read=True, list=True)
    rl_base, _, rl_token = rl.partition("?")
    assert requests.get(f"{rl_base}?restype=container&comp=list&{rl_token}", timeout=10).status_code == 200
    assert requests.put(f"{rl_base}/{unique}/x.txt?{rl_token}", data=b"x",
                        headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 403
    with pytest.raises(ValidationError):
        storage.container_sas("sas-test")  # no permission at all is a mistake, not a default


def test_container_names_are_checked_before_any_request(session, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValidationError) as info:
        session.storage.upload(tmp_path, container="Bad_Name", progress=False)
    assert info.value.field == "container"


def test_tasks_download_inputs_and_upload_outputs(session, pool, unique, tmp_path):
    data = _tree(tmp_path / "data", n=3)
    storage = session.storage
    storage.upload(data, container="inputs", prefix=f"io-{unique}", progress=False)
    job = session.create_job(f"io-{unique}", pool=pool.id)
    files = storage.input_files("inputs", prefix=f"io-{unique}/")
    assert sorted(f.file_path for f in files) == ["f0.txt", "f1.txt", "f2.txt", "sub/deep.csv"]
    command = ("python3 -c \"import pandas as pd, os; os.makedirs('out', exist_ok=True); "
               "d = pd.read_csv('sub/deep.csv'); d['c'] = d.a + d.b; d.to_csv('out/sum.csv', index=False); "
               "d.to_json('out/sum.json', orient='records')\"")
    job.add_tasks(batchnb.TaskSpec("work", command, resource_files=files,
                                   output_files=job.output_files("work", "out/*", container="outputs")))
    assert job.wait(timeout=60)["succeeded"] == 1
    frame = storage.read_frame("outputs", f"{job.id}/work/sum.csv")
    assert list(frame["c"]) == [3, 7]
    assert list(storage.read_frame("outputs", f"{job.id}/work/sum.json")["c"]) == [3, 7]
    got = job.download_outputs(tmp_path / "got", container="outputs")
    names = sorted(p.relative_to(tmp_path / "got").as_posix() for p in got)
    assert names == ["work/logs/stderr.txt", "work/logs/stdout.txt", "work/sum.csv", "work/sum.json"]
    only_csv = storage.download("outputs", prefix=f"{job.id}/", dest=tmp_path / "csv", pattern="*.csv")
    assert [p.name for p in only_csv] == ["sum.csv"]


def test_read_frame_parquet(session, unique):
    import io

    buffer = io.BytesIO()
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(buffer)
    session.storage.upload_bytes(buffer.getvalue(), container="inputs", blob=f"pq-{unique}/t.parquet")
    assert list(session.storage.read_frame("inputs", f"pq-{unique}/t.parquet")["x"]) == [1, 2, 3]
