"""Resource files come from, and output files go to, real Blob storage (Azurite) (spec §2.2, §4.4)."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from batchnb.local.service import node_layout
from batchnb.local.service.runtime.executor import TaskRun, run_task

pytestmark = pytest.mark.timeout(60)


def _task(node_root: Path, make_env, command_line: str = "true", **kwargs) -> TaskRun:
    task_dir = node_layout.task_dir(node_root, "job1", "t1")
    return TaskRun(command_line=command_line, task_dir=task_dir, env=make_env(task_dir), **kwargs)


def _run(run: TaskRun):
    return asyncio.run(run_task(run))


def _output(pattern: str, container_url: str, path: str | None = None, condition: str = "taskcompletion",
            headers: list[dict] | None = None) -> dict:
    container: dict = {"containerUrl": container_url}
    if path is not None:
        container["path"] = path
    if headers:
        container["uploadHeaders"] = headers
    return {"filePattern": pattern, "destination": {"container": container},
            "uploadOptions": {"uploadCondition": condition}}


# --- resource files ---------------------------------------------------------------------


def test_http_url_resource_is_downloaded_into_wd_with_its_mode(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    azurite.put(container, "scripts/hello.sh", b"#!/bin/sh\necho hello from blob\n")
    run = _task(node_root, make_env, "./bin/hello.sh", resource_files=[
        {"httpUrl": azurite.blob_sas_url(container, "scripts/hello.sh"), "filePath": "bin/hello.sh"},
        {"httpUrl": azurite.blob_sas_url(container, "scripts/hello.sh"), "filePath": "readonly.sh",
         "fileMode": "0444"},
    ])
    outcome = _run(run)
    assert outcome.failure is None and outcome.exit_code == 0
    assert (run.task_dir / "stdout.txt").read_text() == "hello from blob\n"
    wd = run.task_dir / "wd"
    assert stat.S_IMODE((wd / "bin" / "hello.sh").stat().st_mode) == 0o770  # the Linux default
    assert stat.S_IMODE((wd / "readonly.sh").stat().st_mode) == 0o444


def test_container_resource_keeps_blob_names_under_file_path(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    for name in ("data/a.csv", "data/sub/b.csv", "other/c.csv"):
        azurite.put(container, name, name.encode())
    run = _task(node_root, make_env, resource_files=[
        {"storageContainerUrl": azurite.container_sas_url(container, "rl"), "blobPrefix": "data/",
         "filePath": "inputs"},
        {"autoStorageContainerName": container, "blobPrefix": "other"},
    ], auto_storage_connection_string=azurite.connection_string)
    outcome = _run(run)
    assert outcome.failure is None
    wd = run.task_dir / "wd"
    assert (wd / "inputs" / "data" / "a.csv").read_bytes() == b"data/a.csv"
    assert (wd / "inputs" / "data" / "sub" / "b.csv").read_bytes() == b"data/sub/b.csv"
    assert not (wd / "inputs" / "other").exists()
    assert (wd / "other" / "c.csv").read_bytes() == b"other/c.csv"


def test_missing_blob_is_blob_not_found_and_the_command_never_runs(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    url = azurite.blob_sas_url(container, "nope.txt")
    run = _task(node_root, make_env, "python -c 'open(\"ran\", \"w\")'",
                resource_files=[{"httpUrl": url, "filePath": "nope.txt"}])
    outcome = _run(run)
    assert outcome.exit_code is None
    assert outcome.kind == "preprocessing"
    assert outcome.failure["code"] == "BlobNotFound"
    assert outcome.failure["category"] == "usererror"
    assert not (run.task_dir / "wd" / "ran").exists()
    # No SAS in what the user sees.
    text = json.dumps(outcome.failure)
    assert "sig=" not in text and "?" not in text


def test_blob_sas_without_read_permission_is_access_denied(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    azurite.put(container, "x.txt", b"x")
    url = azurite.blob_sas_url(container, "x.txt", permission="w")
    outcome = _run(_task(node_root, make_env, resource_files=[{"httpUrl": url, "filePath": "x.txt"}]))
    assert outcome.failure["code"] == "BlobAccessDenied"


def test_container_errors(node_root: Path, make_env, azurite) -> None:
    missing = azurite.container_sas_url("doesnotexist0000", "rl")
    outcome = _run(_task(node_root, make_env, resource_files=[{"storageContainerUrl": missing}]))
    assert outcome.failure["code"] == "ResourceContainerNotFound"

    container = azurite.new_container()
    no_list = azurite.container_sas_url(container, "r")
    outcome = _run(_task(node_root, make_env, resource_files=[{"storageContainerUrl": no_list}]))
    assert outcome.failure["code"] == "ResourceContainerAccessDenied"

    outcome = _run(_task(node_root, make_env, resource_files=[{"autoStorageContainerName": container}]))
    assert outcome.failure["code"] == "ResourceContainerNotFound"  # no auto-storage account linked


@pytest.mark.parametrize("file_path", ["../escape.txt", "a/../../escape.txt", "/tmp/escape.txt"])
def test_resource_path_may_not_escape_wd(node_root: Path, make_env, azurite, file_path: str) -> None:
    container = azurite.new_container()
    azurite.put(container, "x.txt", b"x")
    run = _task(node_root, make_env,
                resource_files=[{"httpUrl": azurite.blob_sas_url(container, "x.txt"), "filePath": file_path}])
    outcome = _run(run)
    assert outcome.failure["code"] == "ResourceFileCreateFailed"
    assert outcome.failure["category"] == "usererror"
    assert outcome.exit_code is None
    assert not (run.task_dir / "escape.txt").exists()


# --- output files -----------------------------------------------------------------------

_MAKE_OUTPUTS = (
    "python -c \"import os; os.makedirs('out/deep', exist_ok=True); "
    "[open(p, 'w').write(p) for p in ('out/a.txt', 'out/deep/b.txt', 'out/.hidden', 'out/c.bin', 'result.json')]; "
    "print('done')\""
)


def test_outputs_upload_with_patterns_prefixes_and_headers(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    url = azurite.container_sas_url(container, "cw")
    run = _task(node_root, make_env, _MAKE_OUTPUTS, output_files=[
        _output("out/**/*.txt", url, path="texts"),
        _output("result.json", url, path="final/result-$AZ_BATCH_TASK_ID.json",
                headers=[{"name": "Content-Type", "value": "application/json"},
                         {"name": "x-ms-meta-origin", "value": "batchnb"}]),
        _output("../std*.txt", url, path="logs", condition="TaskCompletion"),
        _output("out/c.bi?", url),
        _output("nothing-*.matches", url),  # matching nothing is not an error
        _output("out/a.txt", url, path="only-on-failure.txt", condition="taskfailure"),
    ])
    outcome = _run(run)
    assert outcome.failure is None, outcome.failure
    assert outcome.exit_code == 0
    # `**` reaches the base and every level below; dotfiles are skipped.
    names = azurite.names(container)
    assert names == ["c.bin", "final/result-$AZ_BATCH_TASK_ID.json", "logs/stderr.txt", "logs/stdout.txt",
                     "texts/a.txt", "texts/deep/b.txt"]
    assert azurite.get(container, "logs/stdout.txt") == b"done\n"
    props = azurite.service().get_blob_client(container, "final/result-$AZ_BATCH_TASK_ID.json").get_blob_properties()
    assert props.content_settings.content_type == "application/json"
    assert props.metadata == {"origin": "batchnb"}
    assert (run.task_dir / "fileuploadout.txt").exists()
    assert (run.task_dir / "fileuploaderr.txt").read_text() == ""
    assert "sig=" not in (run.task_dir / "fileuploadout.txt").read_text()


def test_env_vars_expand_in_the_pattern(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    url = azurite.container_sas_url(container, "cw")
    run = _task(node_root, make_env, "python -c \"open('t1.out', 'w').write('x')\"",
                output_files=[_output("$AZ_BATCH_TASK_ID.out", url), _output("${AZ_BATCH_TASK_DIR}/stdout.txt", url)])
    assert _run(run).failure is None
    assert azurite.names(container) == ["stdout.txt", "t1.out"]


def test_upload_conditions_follow_the_exit_code(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    url = azurite.container_sas_url(container, "cw")
    outputs = [_output("../stdout.txt", url, path="success.txt", condition="TaskSuccess"),
               _output("../stdout.txt", url, path="failure.txt", condition="taskfailure"),
               _output("../stdout.txt", url, path="always.txt", condition="taskcompletion")]
    outcome = _run(_task(node_root, make_env, "python -c 'raise SystemExit(2)'", output_files=outputs))
    assert outcome.exit_code == 2 and outcome.failure["code"] == "FailureExitCode"
    assert azurite.names(container) == ["always.txt", "failure.txt"]


def test_no_upload_logs_when_nothing_was_to_be_uploaded(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    run = _task(node_root, make_env, "true", output_files=[
        _output("../stdout.txt", azurite.container_sas_url(container, "cw"), condition="taskfailure")])
    assert _run(run).failure is None
    assert not (run.task_dir / "fileuploadout.txt").exists()
    assert not (run.task_dir / "fileuploaderr.txt").exists()


def test_missing_output_container_fails_the_task(node_root: Path, make_env, azurite) -> None:
    url = azurite.container_sas_url("nosuchcontainer000", "cw")
    run = _task(node_root, make_env, "true", output_files=[_output("../stdout.txt", url)])
    outcome = _run(run)
    assert outcome.exit_code == 0
    assert outcome.kind == "fileupload"
    assert outcome.failure["code"] == "FileUploadContainerNotFound"
    assert outcome.failure["category"] == "usererror"
    errors = [json.loads(line) for line in (run.task_dir / "fileuploaderr.txt").read_text().splitlines()]
    assert errors[0]["code"] == "FileUploadContainerNotFound"
    assert errors[0]["pattern"] == "../stdout.txt"
    assert errors[0]["file"] == str(run.task_dir / "stdout.txt")
    assert "sig=" not in errors[0]["destination"]


def test_sas_without_write_permission_is_access_denied(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    url = azurite.container_sas_url(container, "rl")
    outcome = _run(_task(node_root, make_env, "true", output_files=[_output("../stdout.txt", url)]))
    assert outcome.failure["code"] == "FileUploadAccessDenied"
    assert outcome.kind == "fileupload"
    assert "sig=" not in json.dumps(outcome.failure)


@pytest.fixture
def web_server(tmp_path: Path):
    """A plain HTTP server (not Blob storage) serving tmp_path/www on loopback."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_url_resource(node_root: Path, make_env, web_server) -> None:
    root, base_url = web_server
    (root / "tool.py").write_text("print('tool ran')\n")
    run = _task(node_root, make_env, "python tool.py", resource_files=[{"httpUrl": f"{base_url}/tool.py"}])
    outcome = _run(run)
    assert outcome.failure is None, outcome.failure
    assert (run.task_dir / "stdout.txt").read_text() == "tool ran\n"

    outcome = _run(_task(node_root, make_env, resource_files=[{"httpUrl": f"{base_url}/missing.py",
                                                                "filePath": "m.py"}]))
    assert outcome.failure["code"] == "BlobNotFound"


def test_retry_replaces_a_read_only_resource(node_root: Path, make_env, azurite) -> None:
    container = azurite.new_container()
    azurite.put(container, "r.txt", b"v1")
    resource = {"httpUrl": azurite.blob_sas_url(container, "r.txt"), "filePath": "r.txt", "fileMode": "0444"}
    run = _task(node_root, make_env, resource_files=[resource])
    assert _run(run).failure is None
    azurite.put(container, "r.txt", b"v2")
    assert _run(run).failure is None
    assert (run.task_dir / "wd" / "r.txt").read_bytes() == b"v2"
