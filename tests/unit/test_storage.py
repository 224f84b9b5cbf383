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
