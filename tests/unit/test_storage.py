from __future__ import annotations

import os

import pytest

from cloudlet.storage import BlobStore, Storage


@pytest.fixture
def storage(tmp_path):
    s = Storage(str(tmp_path / "db.sqlite"))
    yield s
    s.close()


MIGRATIONS = [
    "CREATE TABLE demo_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "ALTER TABLE demo_items ADD COLUMN size INTEGER NOT NULL DEFAULT 0; CREATE INDEX demo_items_name ON demo_items(name)",
]


def test_wal_mode(storage):
    assert storage.scalar("PRAGMA journal_mode") == "wal"


def test_migrations_apply_once_in_order(tmp_path):
    path = str(tmp_path / "db.sqlite")
    s = Storage(path)
    s.migrate("demo", MIGRATIONS[:1])
    assert s.scalar("SELECT version FROM _schema WHERE namespace = 'demo'") == 1
    s.close()
    s = Storage(path)
    s.migrate("demo", MIGRATIONS)  # only the second runs
    assert s.scalar("SELECT version FROM _schema WHERE namespace = 'demo'") == 2
    s.execute("INSERT INTO demo_items (name, size) VALUES ('a', 3)")
    assert s.all("SELECT name, size FROM demo_items") == [("a", 3)]
    s.close()


def test_transaction_rolls_back_on_error(storage):
    storage.migrate("demo", MIGRATIONS)
    with pytest.raises(RuntimeError):
        with storage.tx():
            storage.execute("INSERT INTO demo_items (name) VALUES ('x')")
            with storage.tx():  # nested joins the outer transaction
                storage.execute("INSERT INTO demo_items (name) VALUES ('y')")
            raise RuntimeError("boom")
    assert storage.scalar("SELECT COUNT(*) FROM demo_items") == 0
    with storage.tx():
        storage.execute("INSERT INTO demo_items (name) VALUES ('z')")
    assert storage.scalar("SELECT COUNT(*) FROM demo_items") == 1


def test_reset_by_namespace(storage):
    storage.migrate("demo", MIGRATIONS)
    storage.migrate("other", ["CREATE TABLE other_rows (v TEXT)"])
    storage.execute("INSERT INTO demo_items (name) VALUES ('a')")
    storage.execute("INSERT INTO other_rows VALUES ('b')")
    storage.set_meta("k", "v")
    storage.reset("demo")
    assert storage.scalar("SELECT COUNT(*) FROM demo_items") == 0
    assert storage.scalar("SELECT COUNT(*) FROM other_rows") == 1
    storage.reset()
    assert storage.scalar("SELECT COUNT(*) FROM other_rows") == 0
    assert storage.get_meta("k") == "v"  # cloudlet's own tables are not service state


def test_meta(storage):
    assert storage.get_meta("x") is None
    storage.set_meta("x", "1")
    storage.set_meta("x", "2")
    assert storage.get_meta("x") == "2"
    storage.set_meta("x", None)
    assert storage.get_meta("x") is None


def test_blobs_round_trip_and_leave_no_temporaries(tmp_path):
    blobs = BlobStore(str(tmp_path / "blobs"))
    key = blobs.put(b"hello")
    key2 = blobs.put([b"a", b"b", b"c"])
    assert blobs.get(key) == b"hello"
    assert blobs.get(key2) == b"abc"
    assert blobs.size(key2) == 3
    assert os.listdir(tmp_path / "blobs" / "tmp") == []
    with blobs.open(key) as fh:
        assert fh.read(2) == b"he"
    blobs.delete(key)
    blobs.delete(key)  # idempotent
    with pytest.raises(FileNotFoundError):
        blobs.get(key)
    blobs.clear()
    with pytest.raises(FileNotFoundError):
        blobs.get(key2)


def test_wal_is_checkpointed_off_the_loop_and_starts_over(tmp_path):
    """Automatic checkpoints are off (they would run inside a COMMIT on the
    event loop). A pass of the checkpoint thread copies the WAL back; the
    storage copies the last commits itself after its next commit, so the
    WAL starts over instead of growing."""
    import asyncio

    path = str(tmp_path / "db.sqlite")
    s = Storage(path, wal_bytes=1 << 20, checkpoint_interval=3600)  # passes run by hand
    assert s.scalar("PRAGMA wal_autocheckpoint") == 0
    s.migrate("demo", MIGRATIONS)
    row = "x" * 2000

    async def writes(n, start):
        for i in range(start, start + n):
            with s.tx():
                s.execute("INSERT INTO demo_items (name) VALUES (?)", (f"{i}{row}",))
            await s.flush()

    def frames():  # frames in the WAL now (the pass itself copies nothing new)
        return s._checkpointer._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]

    asyncio.run(writes(200, 0))
    grown = os.path.getsize(path + "-wal")
    assert 1 << 20 < grown < 16 << 20
    s._checkpointer.step()  # copies everything: the loop side is asked for the tail
    assert s._checkpointer.wanted
    asyncio.run(writes(3, 200))  # commit, tail copied; the next commit starts over
    assert not s._checkpointer.wanted
    assert frames() < 10
    asyncio.run(writes(50, 203))
    assert os.path.getsize(path + "-wal") == grown  # written from the top, not appended
    assert s.scalar("SELECT COUNT(*) FROM demo_items") == 253
    thread = s._checkpointer._thread
    s.close()
    assert not thread.is_alive()
    s = Storage(path)
    assert s.scalar("SELECT COUNT(*) FROM demo_items") == 253
    s.close()


def test_checkpoint_forces_the_wal_over_past_the_hard_limit(tmp_path):
    """A WAL that did not start over (writes off the loop, a reader holding
    an old snapshot) is forced over by a RESTART checkpoint once past
    16 x wal_bytes."""
    path = str(tmp_path / "db.sqlite")
    s = Storage(path, wal_bytes=64 << 10, checkpoint_interval=3600)
    s.migrate("demo", MIGRATIONS)
    for i in range(400):
        s.execute("INSERT INTO demo_items (name) VALUES (?)", (f"{i}" + "y" * 2000,))
    ck = s._checkpointer
    assert ck._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] * ck.page >= 16 * (64 << 10)
    ck.step()
    s.execute("INSERT INTO demo_items (name) VALUES ('after')")
    assert ck._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] < 10
    assert s.scalar("SELECT COUNT(*) FROM demo_items") == 401
    s.close()
