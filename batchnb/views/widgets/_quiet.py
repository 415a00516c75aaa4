"""Nothing but the view in a view's output: log records and warnings raised while a view polls or
updates go to that view's status line, not to the cell output.

A view runs its work inside :func:`quiet` (``with quiet(view.note): ...``). The sink lives in a
context variable, which ``loop.create_task`` and ``asyncio.to_thread`` copy: the polling task
started inside ``quiet`` and the worker threads it uses all report to the same view, while the
rest of the kernel (other cells, other threads) logs and warns exactly as before.

Two process-wide hooks make that possible, installed once:
- a handler on the root logger that hands records from a view's context to its sink, and
  otherwise acts as :data:`logging.lastResort` would (which it displaces) when nothing else
  handles the record; the root's other handlers skip records from a view's context;
- a wrapper around :func:`warnings.showwarning` that does the same for warnings.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from batchnb.core import sdk_logging

__all__ = ["quiet"]

Sink = Callable[[str], None]
_SINK: ContextVar[Sink | None] = ContextVar("batchnb_view_sink", default=None)
_INSTALL_LOCK = threading.Lock()


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]


class _ToViewHandler(logging.Handler):
    """Records from a view's context go to its sink; others behave as without this handler."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _SINK.get()
        if sink is not None:
            try:
                sink(f"{record.levelname.lower()} ({record.name}): {_first_line(record.getMessage())}")
            except Exception:  # a closed view: drop it, never raise into the caller's logging
                pass
            return
        if record.levelno >= logging.WARNING and not _handled_elsewhere(record) and logging.lastResort:
            logging.lastResort.handle(record)


class _NotInView(logging.Filter):
    """Put on the root's other handlers: they skip records that a view has taken."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _SINK.get() is None


_HANDLER = _ToViewHandler(level=logging.DEBUG)
_FILTER = _NotInView()


def _handled_elsewhere(record: logging.LogRecord) -> bool:
    logger: logging.Logger | None = logging.getLogger(record.name)
    while logger is not None:
        if any(h is not _HANDLER and record.levelno >= h.level for h in logger.handlers):
            return True
        logger = logger.parent if logger.propagate else None
    return False


_original_showwarning: Callable[..., Any] | None = None


def _showwarning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                 line: str | None = None) -> None:
    sink = _SINK.get()
    if sink is not None:
        try:
            sink(f"{category.__name__}: {_first_line(str(message))}")
        except Exception:
            pass
        return
    assert _original_showwarning is not None
    _original_showwarning(message, category, filename, lineno, file, line)


def _install() -> None:
    global _original_showwarning
    with _INSTALL_LOCK:
        sdk_logging.install()
        root = logging.getLogger()
        if _HANDLER not in root.handlers:
            root.addHandler(_HANDLER)
        for handler in root.handlers:
            if handler is not _HANDLER and _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        if warnings.showwarning is not _showwarning:  # someone (IPython) may have replaced it since
            _original_showwarning = warnings.showwarning
            warnings.showwarning = _showwarning


@contextlib.contextmanager
def quiet(sink: Sink) -> Iterator[None]:
    """Inside: log records and warnings (of this context, and of tasks and threads started from it)
    go to ``sink(text)``, one line each."""
    _install()
    token = _SINK.set(sink)
    try:
        yield
    finally:
        _SINK.reset(token)
