"""S3's sealed pieces (objectdata): a piece read back whole or in part, and
any change to its stored bytes detected, in a row and in a file."""

from __future__ import annotations

import os

import pytest

from cloudlet.services.s3 import objectdata
from cloudlet.services.s3.store import MIGRATIONS
from cloudlet.storage import BlobStore, Storage


@pytest.fixture
def blobs(tmp_path):
    storage = Storage(str(tmp_path / "db.sqlite"))
    storage.migrate("s3", MIGRATIONS)
    yield objectdata.ObjectBlobs(BlobStore(str(tmp_path / "blobs")), storage)
    storage.close()


@pytest.mark.parametrize("size", [0, 1, 1000, objectdata.INLINE_MAX - 100, objectdata.SEGMENT + 5])
def test_a_piece_reads_back_whole_and_in_ranges(blobs, size):
    body = os.urandom(size)
    key = objectdata.new_data_key()
    written = objectdata.write_piece(blobs, body, key)
    assert objectdata.is_row(written.blob) == (size < objectdata.INLINE_MAX)
    pieces = [[written.blob, size]]
    assert b"".join(objectdata.read_pieces(blobs, pieces, key)) == body
    for start, end in ((0, 1), (size // 3, size // 2), (size - 1, size)):
        if start < end:
            assert b"".join(objectdata.read_pieces(blobs, pieces, key, start, end)) == body[start:end]


def test_a_changed_row_piece_does_not_read(blobs):
    key = objectdata.new_data_key()
    written = objectdata.write_piece(blobs, b"attack at dawn", key)
    pieces = [[written.blob, 14]]
    row_id = int(written.blob[len(objectdata.ROW_PREFIX):])
    (data,) = blobs.storage.one("SELECT data FROM s3_pieces WHERE id = ?", (row_id,))

    def read_stored(stored: bytes, with_key: bytes = key) -> bytes:
        # (a piece never changes in place, so a piece read is remembered:
        # a new ObjectBlobs reads what the table holds now)
        blobs.storage.execute("UPDATE s3_pieces SET data = ? WHERE id = ?", (stored, row_id))
        fresh = objectdata.ObjectBlobs(blobs.files, blobs.storage)
        return b"".join(objectdata.read_pieces(fresh, pieces, with_key))

    with pytest.raises(objectdata.CorruptData):
        read_stored(data[:-1] + bytes([data[-1] ^ 1]))   # a bit flipped
    with pytest.raises(objectdata.CorruptData):
        read_stored(data[:-1])                            # shorter than its version says
    with pytest.raises(objectdata.CorruptData):
        read_stored(data, objectdata.new_data_key())      # another key
    assert read_stored(data) == b"attack at dawn"
