"""Upload a task's output files after it ran (spec §3.5, §4.4), logging to fileuploadout.txt
and fileuploaderr.txt in the task directory as the real node agent does; runs in a worker thread.
"""

from __future__ import annotations

import glob
import json
import os
import re
from datetime import datetime
from pathlib import Path

from batchnb.local.service.runtime.failure_info import failure, public_url
from batchnb.local.service.runtime.storage_errors import StorageFailureCodes, error_text, retry_kwargs, storage_failure

_SINGLE_PUT_BYTES = 256 * 1024 * 1024
_ENV_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_GLOB_MAGIC = re.compile(r"[*?\[]")
_CONTENT_SETTINGS = {
    "content-type": "content_type",
    "x-ms-blob-content-type": "content_type",
    "content-encoding": "content_encoding",
    "x-ms-blob-content-encoding": "content_encoding",
    "content-language": "content_language",
    "x-ms-blob-content-language": "content_language",
    "content-disposition": "content_disposition",
    "x-ms-blob-content-disposition": "content_disposition",
    "cache-control": "cache_control",
    "x-ms-blob-cache-control": "cache_control",
}
_UPLOAD = StorageFailureCodes(
    by_status={404: ("FileUploadContainerNotFound", "The output file container does not exist"),
               403: ("FileUploadAccessDenied", "Access to the output file container was denied"),
               409: ("FileUploadConflict", "The output blob could not be written (conflict)")},
    timed_out=("FileUploadTimedOut", "The upload of an output file timed out"),
    other=("FileUploadMiscError", "An output file could not be uploaded"),
)


def upload_output_files(output_files: list[dict], env: dict[str, str], task_dir: Path, wd: Path,
                        succeeded: bool) -> dict | None:
    """Upload the files whose upload condition holds; the first failureInfo, else None.

    Every selected file is tried even after a failure, so that the logs list every problem.
    """
    selected = [of for of in output_files if _should_upload(of, succeeded)]
    if not selected:
        return None
    log = _UploadLog(task_dir)
    first_failure: dict | None = None
    try:
        for output_file in selected:
            try:
                failed = _upload_one(output_file, env, wd, log)
            except Exception as exc:  # noqa: BLE001 - a task failure, never a crashed scheduler
                failed = failure("FileUploadMiscError", "An output file could not be uploaded",
                                 [{"name": "Message", "value": error_text(exc)}], category="servererror")
                log.info(f"Upload of pattern {output_file.get('filePattern')} failed: {error_text(exc)}")
            first_failure = first_failure or failed
        log.info(f"Upload finished: {'failed' if first_failure else 'succeeded'}")
    finally:
        log.close()
    return first_failure


def _expand_env(pattern: str, env: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _ENV_REFERENCE.sub(replace, pattern)


def _should_upload(output_file: dict, succeeded: bool) -> bool:
    condition = str((output_file.get("uploadOptions") or {}).get("uploadCondition") or "taskcompletion").lower()
    if condition == "tasksuccess":
        return succeeded
    if condition == "taskfailure":
        return not succeeded
    return True


def _match_files(full_pattern: str) -> tuple[bool, list[tuple[Path, str]]]:
    """(has_wildcard, [(file, name relative to the pattern's fixed base)])."""
    parts = Path(full_pattern).parts
    split = next((i for i, part in enumerate(parts) if _GLOB_MAGIC.search(part)), None)
    if split is None:
        path = Path(full_pattern)
        return False, ([(path, path.name)] if path.is_file() else [])
    base = Path(*parts[:split])
    # glob skips names starting with '.' unless the pattern segment itself starts with '.'.
    rels = glob.glob(str(Path(*parts[split:])), root_dir=base, recursive=True)
    matches = [(base / rel, Path(rel).as_posix()) for rel in sorted(rels) if (base / rel).is_file()]
    return True, matches


def _upload_settings(headers: list[dict]) -> tuple[object | None, dict[str, str] | None]:
    from azure.storage.blob import ContentSettings

    settings: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for header in headers or []:
        name = str(header.get("name") or "").lower()
        value = "" if header.get("value") is None else str(header["value"])
        if name in _CONTENT_SETTINGS:
            settings[_CONTENT_SETTINGS[name]] = value
        elif name.startswith("x-ms-meta-"):
            metadata[name[len("x-ms-meta-"):]] = value
    return (ContentSettings(**settings) if settings else None), (metadata or None)


def _upload_failure(exc: Exception, pattern: str, path: Path, container_url: str) -> dict:
    details = [
        {"name": "FilePattern", "value": pattern},
        {"name": "FilePath", "value": str(path)},
        {"name": "ContainerUrl", "value": public_url(container_url)},
    ]
    return storage_failure(exc, _UPLOAD, details)


class _UploadLog:
    """fileuploadout.txt (progress) and fileuploaderr.txt (one JSON line per error)."""

    def __init__(self, task_dir: Path) -> None:
        self._out = open(task_dir / "fileuploadout.txt", "a", encoding="utf-8")
        self._err = open(task_dir / "fileuploaderr.txt", "a", encoding="utf-8")

    def info(self, message: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        self._out.write(f"{stamp} {message}\n")

    def error(self, code: str, user_error: bool, pattern: str, path: Path, destination: str) -> None:
        record = {"code": code, "user_error": user_error, "pattern": pattern, "file": str(path),
                  "destination": public_url(destination)}
        self._err.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._out.close()
        self._err.close()


def _upload_one(output_file: dict, env: dict[str, str], wd: Path, log: _UploadLog) -> dict | None:
    from azure.core.exceptions import AzureError
    from azure.storage.blob import ContainerClient

    pattern = output_file.get("filePattern") or ""
    container_spec = (output_file.get("destination") or {}).get("container") or {}
    container_url = container_spec.get("containerUrl") or ""
    prefix = (container_spec.get("path") or "").strip("/")
    expanded = _expand_env(pattern, env)
    full = os.path.normpath(expanded if os.path.isabs(expanded) else os.path.join(wd, expanded))
    has_wildcard, matches = _match_files(full)
    log.info(f"Resolved mapping - base_path: {wd}, full_pattern: {full}, original_pattern: {pattern}, "
             f"destination: {public_url(container_url)}/{prefix}")
    if not matches:
        log.info(f"No files matched pattern {full}")
        return None
    content_settings, metadata = _upload_settings(container_spec.get("uploadHeaders") or [])
    try:
        # One Put Blob up to _SINGLE_PUT_BYTES: Azurite grants Put Block only to a SAS with write
        # permission, and a create-only SAS (map() results) must still upload large files.
        container = ContainerClient.from_container_url(container_url, max_single_put_size=_SINGLE_PUT_BYTES,
                                                       **retry_kwargs())
    except ValueError as exc:
        log.error("FileUploadMiscError", True, pattern, matches[0][0], container_url)
        return _upload_failure(exc, pattern, matches[0][0], container_url)
    for path, relative in matches:
        if has_wildcard:
            blob_name = f"{prefix}/{relative}" if prefix else relative
        else:
            blob_name = prefix or relative
        log.info(f"Uploading {path} to {public_url(container_url)}/{blob_name}")
        try:
            with open(path, "rb") as data:
                container.upload_blob(blob_name, data, overwrite=True, content_settings=content_settings,
                                      metadata=metadata)
        except (AzureError, OSError) as exc:
            failed = _upload_failure(exc, pattern, path, container_url)
            log.error(failed["code"], failed["category"] == "usererror", pattern, path, container_url)
            return failed
    return None
