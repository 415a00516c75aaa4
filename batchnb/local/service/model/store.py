"""SQLite persistence for the local service's state (WAL; commit before acknowledging).

The service keeps its working set in memory (fast scheduling and filtering) and writes every
changed entity through this store in one transaction per request or scheduler step. What a
client saw acknowledged is on disk, so a SIGKILL loses nothing it relied on.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Iterator

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
        self._pending: dict[tuple[str, str], tuple[int, dict, dict] | None] = {}

    def put(self, table: str, key: str, seq: int, doc: dict, x: dict) -> None:
        self._pending[(table, key)] = (seq, doc, x)

    def delete(self, table: str, key: str) -> None:
        self._pending[(table, key)] = None

    def flush(self) -> int:
        if not self._pending:
            return 0
        pending, self._pending = self._pending, {}
        upserts: dict[str, list] = {}
        deletes: dict[str, list] = {}
        for (table, key), value in pending.items():
            if value is None:
                deletes.setdefault(table, []).append((key,))
            else:
                seq, doc, x = value
                upserts.setdefault(table, []).append((key, seq, json.dumps(doc), json.dumps(x)))
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
        return len(pending)

    def load(self, table: str) -> Iterator[tuple[str, int, dict, dict]]:
        for key, seq, doc, x in self._db.execute(f"SELECT key, seq, doc, x FROM {table} ORDER BY seq"):
            yield key, seq, json.loads(doc), json.loads(x)

    def close(self) -> None:
        self.flush()
        self._db.close()
