"""Silence one SDK log record that is noise, not news.

The azure SDKs log "Ran into a deserialization error. Ignoring since this is failsafe
deserialization" with a full traceback whenever an error response has no JSON body: every 404 to
a HEAD request (a task file that does not exist yet, a node without the metrics file). The error
itself still reaches the caller as an exception, which batchnb turns into one line; the logged
traceback only appeared in the notebook before that line, twice per poll in a monitor.
"""

from __future__ import annotations

import logging

__all__ = ["install"]

_MESSAGE = "Ran into a deserialization error"
# The modules that log it (azure-batch 15.x, azure-storage-blob 12.x).
_LOGGERS = ("azure.batch._model_base", "azure.batch._utils.model_base", "azure.batch._serialization",
            "azure.batch._utils.serialization", "azure.storage.blob._generated._utils.serialization")


class _DropFailsafeDeserialization(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_MESSAGE)


_FILTER = _DropFailsafeDeserialization()


def install() -> None:
    """Attach the filter to the SDK loggers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
