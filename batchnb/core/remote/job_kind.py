"""The tag map() and run_notebook() put in a job's metadata, so that attaching to a job later can
refuse one they did not make with an error that says what to use instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from batchnb.errors import BatchnbError

if TYPE_CHECKING:
    from batchnb.core.session import Session

META_KIND = "batchnb.kind"


def metadata_of_kind(session: Session, job_id: str, kind: str, *, made_by: str, code: str, fix: str) -> dict:
    """The job's metadata, or BatchnbError(code) when the job was not made by ``made_by`` (tagged ``kind``)."""
    meta = session.job(job_id).metadata
    if meta.get(META_KIND) != kind:
        raise BatchnbError(f"Job {job_id!r} was not made by {made_by}", code=code, fix=fix)
    return meta
