"""SQLite persistence for the local service's state (WAL; commit before acknowledging).

The service keeps its working set in memory (fast scheduling and filtering) and writes every
changed entity through this store in one transaction per request or scheduler step. What a
client saw acknowledged is on disk, so a SIGKILL loses nothing it relied on.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Callable, Iterator

TABLES = ("pools", "nodes", "jobs", "tasks", "jobschedules", "usage")  # usage: departed nodes' metered spans


class Store:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a crash of this process (the case we promise); only an OS
        # crash could lose the last transactions.
        self._db.execute("PRAGMA synchronous=NORMAL")
        for table in TABLES:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, seq INTEGER, doc TEXT, x TEXT)")
        self._pending: dict[tuple[str, str], tuple[int, dict, dict, Callable[[str], object] | None] | None] = {}

    def put(self, table: str, key: str, seq: int, doc: dict, x: dict,
            written: Callable[[str], object] | None = None) -> None:
        """Queue a write; ``written(doc_json)`` is called once it is committed (a task then packs
        itself from that same JSON instead of encoding its document a second time)."""
        self._pending[(table, key)] = (seq, doc, x, written)

    def delete(self, table: str, key: str) -> None:
        self._pending[(table, key)] = None

    def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        count = len(pending)
        upserts, deletes, callbacks = _rows(pending)
        del pending  # it holds the documents: a task packs itself only when nothing else does
        db = self._db
        db.execute("BEGIN")
        try:
            for table, rows in deletes.items():
                db.executemany(f"DELETE FROM {table} WHERE key = ?", rows)
            for table, rows in upserts.items():
                db.executemany(f"INSERT OR REPLACE INTO {table} (key, seq, doc, x) VALUES (?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for written, text in callbacks:
            written(text)
        return count

    def load(self, table: str) -> Iterator[tuple[str, int, dict, dict]]:
        for key, seq, doc, x in self._db.execute(f"SELECT key, seq, doc, x FROM {table} ORDER BY seq"):
            yield key, seq, json.loads(doc), json.loads(x)

    def load_texts(self, table: str) -> Iterator[tuple[str, int, str, dict]]:
        """As :meth:`load`, with each document as its stored JSON text (tasks pack themselves from it)."""
        for key, seq, doc, x in self._db.execute(f"SELECT key, seq, doc, x FROM {table} ORDER BY seq"):
            yield key, seq, doc, json.loads(x)

    def close(self) -> None:
        self.flush()
        self._db.close()


def _rows(pending: dict) -> tuple[dict[str, list], dict[str, list], list[tuple[Callable[[str], object], str]]]:
    """(upserts per table, deletes per table, (callback, doc JSON) pairs). A function of its own so
    that no local variable outlives it holding a document."""
    upserts: dict[str, list] = {}
    deletes: dict[str, list] = {}
    callbacks: list[tuple[Callable[[str], object], str]] = []
    for (table, key), value in pending.items():
        if value is None:
            deletes.setdefault(table, []).append((key,))
        else:
            text = json.dumps(value[1], separators=(",", ":"))
            upserts.setdefault(table, []).append((key, value[0], text, json.dumps(value[2])))
            if value[3] is not None:
                callbacks.append((value[3], text))
    return upserts, deletes, callbacks
