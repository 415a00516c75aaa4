"""Running work on the kernel's asyncio loop (so a cell returns at once), or inline without one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop executing this code (ipykernel runs cells inside its loop), else None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def in_background(fn: Callable[[], Any], then: Callable[[Any], None],
                  on_error: Callable[[BaseException], None]) -> None:
    """Run blocking ``fn`` in a worker thread and hand its result to ``then`` on the loop.

    Without a running loop (scripts, tests) it runs inline: widgets still work, just blocking.
    """
    loop = running_loop()
    if loop is None:
        try:
            result = fn()
        except Exception as exc:
            on_error(exc)
        else:
            then(result)
        return

    async def job() -> None:
        try:
            result = await asyncio.to_thread(fn)
        except Exception as exc:
            on_error(exc)
        else:
            then(result)

    loop.create_task(job())
