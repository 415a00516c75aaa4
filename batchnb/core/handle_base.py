"""What ``JobHandle`` and ``PoolHandle`` share: an id, a session and the last fetched SDK model.

A handle keeps no state but its last ``refresh()``, so a handle made again from an id after a
kernel restart sees what the original one saw.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

if TYPE_CHECKING:
    from batchnb.core.session import Session

InfoT = TypeVar("InfoT")


def state_text(value: Any) -> str | None:
    """An SDK state enum (or plain string) as lowercase text, ``None`` kept as ``None``."""
    return None if value is None else str(getattr(value, "value", value)).lower()


class _Handle(Generic[InfoT]):
    """An entity by id; subclasses say how to fetch it (``_fetch``)."""

    def __init__(self, session: Session, entity_id: str, info: InfoT | None = None) -> None:
        self.session = session
        self.id = entity_id
        self._info = info

    def _fetch(self) -> InfoT:
        raise NotImplementedError

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

    def _fresh_state(self, attribute: str) -> str | None:
        """A state property of the entity as the service reports it now (one GET per call)."""
        return state_text(getattr(self.refresh().info, attribute))

    def _repr_html_(self) -> str:
        return f"<code>{html.escape(repr(self))}</code>"
