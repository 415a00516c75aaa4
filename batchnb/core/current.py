"""The notebook's current session: the last one made by ``%batch connect`` or ``batchnb.connect``.

The magics act on it, so a notebook connects once and every later ``%batch`` line uses that
connection. It lives in this tiny module (no IPython, no widgets) so that core code can set it
without importing the view layer.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchnb.core.session import Session

__all__ = ["clear_current", "get_current", "set_current"]

_lock = threading.Lock()
_current: Session | None = None


def set_current(session: Session) -> Session:
    """Make ``session`` the one the magics use; returns it (so ``return set_current(s)`` reads well)."""
    global _current
    with _lock:
        _current = session
    return session


def get_current() -> Session | None:
    """The current session, or None when nothing has connected yet."""
    return _current


def clear_current(session: Session | None = None) -> None:
    """Forget the current session (only if it is ``session``, when one is given)."""
    global _current
    with _lock:
        if session is None or _current is session:
            _current = None
