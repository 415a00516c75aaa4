"""What ``JobHandle`` and ``PoolHandle`` share: an id, a session and the last fetched SDK model.

A handle keeps no state but its last ``refresh()``, so a handle made again from an id after a
kernel restart sees what the original one saw.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

if TYPE_CHECKING:
    from batchnb.core.session import Session

InfoT = TypeVar("InfoT")


def state_text(value: Any) -> str | None:
    """An SDK state enum (or plain string) as lowercase text, ``None`` kept as ``None``."""
    return None if value is None else str(getattr(value, "value", value)).lower()


class _Handle(Generic[InfoT]):
    """An entity by id; subclasses name its kind, which picks the session's ``get_<kind>``.

    Subclasses keep a constructor of their own so that the id's name in ``help()`` is
    ``job_id``/``pool_id``.
    """

    _kind: ClassVar[str]

    def __init__(self, session: Session, entity_id: str, info: InfoT | None = None) -> None:
        self.session = session
        self.id = entity_id
        self._info = info

    def _fetch(self) -> InfoT:
        getter: Callable[[str], InfoT] = getattr(self.session, f"get_{self._kind}")
        return getter(self.id)

    @property
    def state(self) -> str | None:
        """The state the service reports now, one GET per access.

        A job is ``active``, ``disabled``, ``terminating`` or ``completed``; a pool ``active`` or
        ``deleting``.
        """
        return self._fresh_state("state")

    def refresh(self) -> Self:
        """Fetch the current properties (``info``) from the service.

        Returns
        -------
        Self
            This handle.

        Raises
        ------
        batchnb.errors.NotFoundError
            The entity no longer exists.
        """
        self._info = self._fetch()
        return self

    @property
    def info(self) -> InfoT:
        """The SDK model (``BatchJob`` / ``BatchPool``) from the last refresh (fetched on first use)."""
        if self._info is None:
            self.refresh()
        assert self._info is not None
        return self._info

    def delete(self, *, wait: bool = False, timeout: float | None = None) -> None:
        """Delete the entity: a job with its tasks; a pool with its nodes (their running tasks are requeued).

        Deleting what no longer exists is not an error (see :meth:`Session.delete_job` and
        :meth:`Session.delete_pool`).

        Parameters
        ----------
        wait : bool
            Wait until it is gone.
        timeout : float, optional
            Seconds to wait with ``wait=True`` (default: the session's, 300 for a job, 900 for a pool).
        """
        delete = getattr(self.session, f"delete_{self._kind}")
        if timeout is None:
            delete(self.id, wait=wait)
        else:
            delete(self.id, wait=wait, timeout=timeout)

    def _fresh_state(self, attribute: str) -> str | None:
        """A state property of the entity as the service reports it now (one GET per call)."""
        return state_text(getattr(self.refresh().info, attribute))

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"
