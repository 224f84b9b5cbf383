"""SQLite storage: one database file in the data directory, WAL mode.

Each service owns the tables named `<service>_*` and brings its schema as an
ordered list of migrations, applied once and recorded in `_schema`. Tables
starting with `_` belong to cloudlet itself (schema versions, settings such
as the virtual clock, scheduler leases).

Statements are short and run on the event loop's thread; a transaction
never spans an await, so transactions never interleave.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from .checkpoint import Checkpointer

log = logging.getLogger("cloudlet.storage")

_SYSTEM_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS _schema (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS _leases (job TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


class Storage:
    engine = "sqlite"

    def __init__(self, path: str, synchronous: str = "NORMAL", wal_bytes: int = 32 << 20,
                 checkpoint_interval: float = 0.05):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                     cached_statements=512)
        self._lock = threading.RLock()
        self._depth = 0
        self._open = False
        self._commit_waiter = None
        # Flushes in the current loop iteration; until when commits group.
        self._flushes = 0
        self._grouping_until = 0.0
        self._migrated: set[str] = set()
        conn = self._conn
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses nothing when the process dies (the OS
        # keeps the written pages); FULL also survives a power cut.
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        # Checkpoints run on their own thread (checkpoint.py), not inside
        # a COMMIT on the event loop.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("PRAGMA busy_timeout=5000")
        for stmt in _SYSTEM_SCHEMA:
            conn.execute(stmt)
        # The WAL is copied back once it holds `wal_bytes` (each time it
        # starts over, the loop pays two fsyncs: not too often); past 4 times
        # that a checkpoint waits for the writer (checkpoint.py).
        self._checkpointer = Checkpointer(path, soft_bytes=wal_bytes, hard_bytes=4 * wal_bytes,
                                         interval=checkpoint_interval)

    def close(self) -> None:
        self._checkpointer.close()
        with self._lock:
            if self._open:
                self._conn.execute("COMMIT")
                self._open = False
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
        """An atomic unit of writes (a savepoint; nested uses nest).

        Group commit: on the event loop, the units of every request handled
        in one loop iteration share one SQLite transaction, committed by a
        callback at the start of the next iteration; a request answers only
        after `flush()`, so nothing acknowledged is uncommitted, and a busy
        server pays one commit for many writes. Off the loop (tools, unit
        tests) the outermost unit commits at once."""
        with self._lock:
            fresh = not self._open
            if fresh:
                # A transaction this unit opens holds nothing else yet: it
                # needs no savepoint (a failure rolls the whole thing back).
                self._conn.execute("BEGIN IMMEDIATE")
                self._open = True
                self._schedule_commit()
            self._depth += 1
            savepoint = None if fresh else f"u{self._depth}"
            if savepoint:
                self._conn.execute(f"SAVEPOINT {savepoint}")
            try:
                yield self
            except BaseException:
                if savepoint:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    self._conn.execute(f"RELEASE {savepoint}")
                else:
                    self._conn.execute("ROLLBACK")
                    self._open = False
                    self._release_waiter(None)
                raise
            else:
                if savepoint:
                    self._conn.execute(f"RELEASE {savepoint}")
            finally:
                self._depth -= 1
                if self._depth == 0 and self._commit_waiter is None and self._open:
                    self._commit()

    def _schedule_commit(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the outermost unit commits when it ends
        self._commit_waiter = loop.create_future()
        loop.call_soon(self._commit)

    def _release_waiter(self, error) -> None:
        waiter, self._commit_waiter = self._commit_waiter, None
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def _commit(self) -> None:
        waiter, self._commit_waiter = self._commit_waiter, None
        with self._lock:
            if not self._open:
                return
            if self._depth:
                # Still inside a unit (a callback ran mid-unit): try again.
                self._commit_waiter = waiter
                asyncio.get_running_loop().call_soon(self._commit)
                return
            try:
                self._conn.execute("COMMIT")
                error = None
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                error = exc
            self._open = False
            if self._checkpointer.wanted:
                # The background copy has caught up but for the latest
                # commits: copy those here so the WAL starts over.
                self._checkpointer.wanted = False
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the commit stands; the copy waits for the next pass
                    log.debug("checkpoint after commit: %s", exc)
        if waiter is not None and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    async def flush(self) -> None:
        """Wait until every write made so far is committed.

        A lone caller commits at once: group commit pays off only when
        several requests write in one loop iteration, and otherwise costs a
        loop iteration, a future and a task switch (~25 µs of a ~270 µs
        SendMessage at one connection). Lone means: the first flush of this
        iteration, and no iteration of the last SOLO_AFTER seconds saw two
        (under load the first request of an iteration cannot know whether
        others follow it; the iterations before tell)."""
        waiter = self._commit_waiter
        if waiter is not None:
            if self._solo() and not self._depth:
                self._commit()
                waiter.result()  # raises what the COMMIT raised
                return
            await asyncio.shield(waiter)
        elif self._open and not self._depth:
            self._commit()

    SOLO_AFTER = 0.1

    def _solo(self) -> bool:
        """Count this flush in the loop iteration; whether it may commit alone."""
        self._flushes += 1
        if self._flushes == 1:
            asyncio.get_running_loop().call_soon(self._iteration_over)
            return time.monotonic() >= self._grouping_until
        self._grouping_until = time.monotonic() + self.SOLO_AFTER
        return False

    def _iteration_over(self) -> None:
        self._flushes = 0

    @property
    def grouping(self) -> bool:
        """Whether commits are grouping: some recent loop iteration had
        several requests writing (a sign of concurrent clients)."""
        return time.monotonic() < self._grouping_until

    @property
    def pending(self) -> bool:
        return self._open

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
