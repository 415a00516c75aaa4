"""A progress bar for blocking calls: a widget in a notebook, text elsewhere (``tqdm.auto``).

tqdm picks its notebook front end only when it runs inside a kernel, so ``import batchnb`` in a
script never touches ipywidgets; tqdm is imported only when a bar is shown.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TaskProgress"]


class TaskProgress:
    """Completed tasks out of ``total``, with the failures beside them; a no-op when not ``enabled``."""

    def __init__(self, total: int, desc: str, *, enabled: bool = True) -> None:
        self._bar: Any = None
        if enabled and total:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, unit="task")

    @property
    def enabled(self) -> bool:
        """Whether a bar is shown (callers skip the requests that would feed it otherwise)."""
        return self._bar is not None

    def __call__(self, counts: dict[str, int]) -> None:
        """Show ``counts`` (``completed``, ``failed``, ``running``: a job's task counts)."""
        bar = self._bar
        if bar is None:
            return
        done = min(int(counts.get("completed", 0)), bar.total)
        if done != bar.n:
            bar.update(done - bar.n)
        bar.set_postfix(running=int(counts.get("running", 0)), failed=int(counts.get("failed", 0)), refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
