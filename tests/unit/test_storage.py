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
    s = Storage(path, wal_bytes=2 << 20, checkpoint_interval=3600)  # passes run by hand
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
    assert 2 << 20 < grown < 8 << 20, grown
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
    4 x wal_bytes."""
    path = str(tmp_path / "db.sqlite")
    s = Storage(path, wal_bytes=64 << 10, checkpoint_interval=3600)
    s.migrate("demo", MIGRATIONS)
    for i in range(400):
        s.execute("INSERT INTO demo_items (name) VALUES (?)", (f"{i}" + "y" * 2000,))
    ck = s._checkpointer
    assert ck._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] * ck.page >= 4 * (64 << 10)
    ck.step()
    s.execute("INSERT INTO demo_items (name) VALUES ('after')")
    assert ck._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] < 10
    assert s.scalar("SELECT COUNT(*) FROM demo_items") == 401
    s.close()


def test_a_lone_writer_commits_at_once_and_concurrent_writers_group(tmp_path):
    """Group commit only where it pays: a flush that is the only one of its
    loop iteration (and of the recent ones) commits without yielding; once
    two requests flush in one iteration, commits group for a while."""
    import asyncio

    s = Storage(str(tmp_path / "db.sqlite"))
    s.migrate("demo", MIGRATIONS)
    s.SOLO_AFTER = 3600  # "a while": longer than the test, whatever the machine's pace

    def write(name):
        with s.tx():
            s.execute("INSERT INTO demo_items (name) VALUES (?)", (name,))

    def suspends(coro) -> bool:
        """Run a flush up to its first suspension: whether it waits for the
        loop (the shared commit) or finished at once."""
        try:
            coro.send(None)
        except StopIteration:
            return False
        coro.close()  # (the commit is the loop's callback's to make)
        return True

    async def scenario():
        write("a")
        assert not suspends(s.flush()) and not s.pending  # alone: committed at once
        await asyncio.sleep(0)  # the next iteration
        write("b")
        assert not suspends(s.flush())  # the first flush of this iteration
        write("c")
        assert suspends(s.flush()) and s.pending  # a second one: grouped
        await asyncio.sleep(0)  # the iteration's commit
        assert not s.pending
        await asyncio.sleep(0)
        write("d")
        assert suspends(s.flush())  # alone again, but iterations just had two: grouped
        await asyncio.sleep(0)
        assert not s.pending

    asyncio.run(scenario())
    assert [n for (n,) in s.all("SELECT name FROM demo_items ORDER BY id")] == ["a", "b", "c", "d"]
    s.close()
