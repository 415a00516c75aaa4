"""Files a task downloads before it runs (resource files) and uploads when it ends (output files).

Both are given as URLs with a SAS token: the node talks to Blob storage directly, on Azure as
on the local service (Azurite). Specs here never print their SAS (reprs are redacted).
The SDK's own ``ResourceFile`` / ``OutputFile`` objects are accepted wherever these specs are.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import KW_ONLY, dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.batch import models as batch_models

from batchnb.core.redact import redact, redacted_repr
from batchnb.core.validation import check_choice, check_relative_path
from batchnb.errors import ValidationError

__all__ = [
    "UPLOAD_CONDITIONS",
    "OutputFileSpec",
    "ResourceFileSpec",
    "to_output_file",
    "to_resource_file",
]

UPLOAD_CONDITIONS = ("tasksuccess", "taskfailure", "taskcompletion")
_FILE_MODE = re.compile(r"^0?[0-7]{3}\Z")


def _check_url(value: object, *, field: str) -> str:
    if not isinstance(value, str) or not value.lower().startswith(("https://", "http://")):
        shown = redact(repr(value))
        raise ValidationError(field, f"{shown} is not an http(s) URL",
                              fix="give a blob or container URL with a SAS token (session.storage can make one)")
    return value


def url_file_name(url: str) -> str:
    """The last path segment of ``url`` (decoded, without the query string)."""
    return unquote(posixpath.basename(urlsplit(url).path.rstrip("/")))


@dataclass(frozen=True, kw_only=True, repr=False)
class ResourceFileSpec:
    """A file or folder a task needs on its node before it starts.

    Give exactly one source: ``http_url`` (one blob, or any URL), ``storage_container_url``
    (a whole container, or the blobs under ``blob_prefix``) or ``auto_storage_container_name``
    (a container in the Batch account's linked storage). ``file_path`` is where it lands,
    relative to the task working directory: the file name for ``http_url`` (default: the URL's
    last segment), a folder for a container. ``file_mode`` is an octal string like ``"0755"``
    (Linux only).
    """

    http_url: str | None = None
    storage_container_url: str | None = None
    auto_storage_container_name: str | None = None
    blob_prefix: str | None = None
    file_path: str | None = None
    file_mode: str | None = None

    def __post_init__(self) -> None:
        sources = {
            "http_url": self.http_url,
            "storage_container_url": self.storage_container_url,
            "auto_storage_container_name": self.auto_storage_container_name,
        }
        given = [name for name, value in sources.items() if value is not None]
        if len(given) != 1:
            problem = "has no source" if not given else f"has {len(given)} sources ({', '.join(given)})"
            raise ValidationError("resource_file", problem,
                                  fix="give exactly one of http_url, storage_container_url, auto_storage_container_name")
        if self.http_url is not None:
            _check_url(self.http_url, field="resource_file.http_url")
            if self.file_path is None:
                name = url_file_name(self.http_url)
                if not name:
                    raise ValidationError("resource_file.file_path", "is needed: the URL has no file name",
                                          fix="give file_path='name.ext'")
                object.__setattr__(self, "file_path", name)
            if self.blob_prefix is not None:
                raise ValidationError("resource_file.blob_prefix", "only applies to a container source",
                                      fix="drop blob_prefix, or use storage_container_url")
        if self.storage_container_url is not None:
            _check_url(self.storage_container_url, field="resource_file.storage_container_url")
        if self.file_path is not None:
            check_relative_path(self.file_path, field="resource_file.file_path")
        if self.file_mode is not None and not (isinstance(self.file_mode, str) and _FILE_MODE.match(self.file_mode)):
            raise ValidationError("resource_file.file_mode", f"{self.file_mode!r} is not an octal mode",
                                  fix="give an octal string such as '0755' or '0644'")

    @classmethod
    def from_url(cls, url: str, file_path: str | None = None, *, file_mode: str | None = None) -> ResourceFileSpec:
        """One blob (SAS URL) downloaded to ``file_path`` (default: the blob's file name)."""
        return cls(http_url=url, file_path=file_path, file_mode=file_mode)

    def to_sdk(self) -> batch_models.ResourceFile:
        return batch_models.ResourceFile(
            http_url=self.http_url,
            storage_container_url=self.storage_container_url,
            auto_storage_container_name=self.auto_storage_container_name,
            blob_prefix=self.blob_prefix,
            file_path=self.file_path,
            file_mode=self.file_mode,
        )

    def __repr__(self) -> str:
        return redacted_repr(self)


@dataclass(frozen=True, repr=False)
class OutputFileSpec:
    """Files a task uploads to a blob container when it ends.

    ``file_pattern`` is relative to the task working directory (wildcards ``*``, ``**``, ``?``;
    ``../std*.txt`` reaches the task's stdout/stderr). ``container_url`` needs a SAS with write
    permission. ``path`` is the blob name for a single file, or a folder prefix for a wildcard.
    ``upload_condition`` is one of ``"tasksuccess"``, ``"taskfailure"``, ``"taskcompletion"``.
    """

    file_pattern: str
    _: KW_ONLY
    container_url: str
    path: str | None = None
    upload_condition: str = "taskcompletion"

    def __post_init__(self) -> None:
        if not isinstance(self.file_pattern, str) or not self.file_pattern.strip():
            raise ValidationError("output_file.file_pattern", "is empty",
                                  fix="give a pattern such as 'out/*.csv' or '../std*.txt'")
        _check_url(self.container_url, field="output_file.container_url")
        if self.path is not None and (not isinstance(self.path, str) or self.path.startswith("/")):
            raise ValidationError("output_file.path", f"{self.path!r} is not a relative blob path",
                                  fix="give a blob name or prefix without a leading '/'")
        condition = check_choice(self.upload_condition, field="output_file.upload_condition",
                                 choices=UPLOAD_CONDITIONS)
        object.__setattr__(self, "upload_condition", condition)

    def to_sdk(self) -> batch_models.OutputFile:
        return batch_models.OutputFile(
            file_pattern=self.file_pattern,
            destination=batch_models.OutputFileDestination(
                container=batch_models.OutputFileBlobContainerDestination(
                    container_url=self.container_url, path=self.path)),
            upload_options=batch_models.OutputFileUploadConfiguration(upload_condition=self.upload_condition),
        )

    def __repr__(self) -> str:
        return redacted_repr(self)


def to_resource_file(value: Any, *, field: str = "resource_files") -> batch_models.ResourceFile:
    """ResourceFileSpec, an SDK ResourceFile, or a SAS URL string -> SDK ResourceFile."""
    if isinstance(value, batch_models.ResourceFile):
        return value
    if isinstance(value, str):
        value = ResourceFileSpec.from_url(value)
    if isinstance(value, ResourceFileSpec):
        return value.to_sdk()
    raise ValidationError(field, f"has an item of type {type(value).__name__}",
                          fix="give ResourceFileSpec objects, SDK ResourceFile objects or SAS URLs")


def to_output_file(value: Any, *, field: str = "output_files") -> batch_models.OutputFile:
    """OutputFileSpec or an SDK OutputFile -> SDK OutputFile."""
    if isinstance(value, batch_models.OutputFile):
        return value
    if isinstance(value, OutputFileSpec):
        return value.to_sdk()
    raise ValidationError(field, f"has an item of type {type(value).__name__}",
                          fix="give OutputFileSpec(file_pattern, container_url=...) or SDK OutputFile objects")
