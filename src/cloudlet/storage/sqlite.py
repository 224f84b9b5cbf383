"""SQLite storage: one database file in the data directory, WAL mode.

Each service owns the tables named `<service>_*` and brings its schema as an
ordered list of migrations, applied once and recorded in `_schema`. Tables
starting with `_` belong to cloudlet itself (schema versions, settings such
as the virtual clock, scheduler leases).

Statements are short and run on the event loop's thread; a transaction
never spans an await, so transactions never interleave.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

log = logging.getLogger("cloudlet.storage")

_SYSTEM_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _schema (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _leases (job TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


class Storage:
    engine = "sqlite"

    def __init__(self, path: str, synchronous: str = "NORMAL"):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     cached_statements=512)
        self._lock = threading.RLock()
        self._depth = 0
        self._migrated: set[str] = set()
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses nothing when the process dies (the OS
        # keeps the written pages); FULL also survives a power cut.
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        for stmt in _SYSTEM_SCHEMA:
            conn.execute(stmt)

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()

    # -- statements -----------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.executemany(sql, rows)

    def all(self, sql: str, params: Sequence[Any] | dict = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] | dict = ()) -> tuple | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: Sequence[Any] | dict = ()):
        row = self.one(sql, params)
        return None if row is None else row[0]

    @contextmanager
    def tx(self) -> Iterator["Storage"]:
        """A write transaction; nested uses join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self._conn.execute("COMMIT")

    # -- schema ---------------------------------------------------------

    def migrate(self, namespace: str, migrations: Sequence[str | Sequence[str]]) -> None:
        """Apply the migrations of `namespace` not applied yet, in order.
        Each entry is one SQL script (several statements allowed)."""
        if namespace in self._migrated:
            return
        with self._lock:
            current = self.scalar("SELECT version FROM _schema WHERE namespace = ?", (namespace,)) or 0
            for version, script in enumerate(migrations, 1):
                if version <= current:
                    continue
                statements = [script] if isinstance(script, str) else list(script)
                with self.tx():
                    for stmt in statements:
                        for part in _split_sql(stmt):
                            self._conn.execute(part)
                    self._conn.execute(
                        "INSERT INTO _schema (namespace, version) VALUES (?, ?) "
                        "ON CONFLICT(namespace) DO UPDATE SET version = excluded.version",
                        (namespace, version))
                log.debug("migrated %s to version %d", namespace, version)
            self._migrated.add(namespace)

    def tables(self, namespace: str | None = None) -> list[str]:
        rows = self.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        names = [r[0] for r in rows if not r[0].startswith("_")]
        if namespace is not None:
            names = [n for n in names if n.startswith(namespace + "_")]
        return names

    def reset(self, namespace: str | None = None) -> None:
        """Delete every row a service (or every service) holds; schemas stay."""
        with self.tx():
            self._conn.execute("PRAGMA defer_foreign_keys=ON")
            for table in self.tables(namespace):
                self._conn.execute(f'DELETE FROM "{table}"')

    # -- settings -------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        return self.scalar("SELECT value FROM _meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str | None) -> None:
        with self.tx():
            if value is None:
                self.execute("DELETE FROM _meta WHERE key = ?", (key,))
            else:
                self.execute("INSERT INTO _meta (key, value) VALUES (?, ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons in literals
    in our own migrations, so a plain split is enough)."""
    return [s.strip() for s in script.split(";") if s.strip()]
