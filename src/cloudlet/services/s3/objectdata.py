"""Object data at rest: pieces of AES-256-GCM segments, written and read
as streams, with the digests S3 reports computed on the way in.

A piece is one file of the blob store: a header (format byte 0x01, a
random 12-byte nonce base), then the plaintext in segments of SEGMENT
bytes, each sealed with the version's data key under nonce = base XOR the
segment's index, with (index, last?) as associated data, so segments can
be neither reordered nor dropped. A piece is a whole PutObject body or one
part of a multipart upload; any byte range is read by opening only the
segments it touches.

Pure over files and bytes: no storage rows, no clock.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEGMENT = 1 << 20
TAG = 16
_FORMAT = 1
_HEADER = 1 + 12
CHECKSUM_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class CorruptData(Exception):
    """A piece's file does not decrypt (tampered, truncated, wrong key)."""


def new_data_key() -> bytes:
    return os.urandom(32)


# -- digests -------------------------------------------------------------------

class Digests:
    """MD5 (the ETag) and any of S3's checksums over a stream, each as S3
    writes it (base64 of the big-endian value)."""

    def __init__(self, algorithms: Iterable[str] = ()):
        self.md5 = hashlib.md5()
        self._crc: dict[str, int] = {}
        self._hash: dict[str, object] = {}
        for alg in algorithms:
            if alg in ("SHA1", "SHA256"):
                self._hash[alg] = hashlib.new(alg.lower())
            elif alg in ("CRC32", "CRC32C", "CRC64NVME"):
                self._crc[alg] = 0
            else:
                raise ValueError(f"unknown checksum algorithm {alg}")

    def update(self, data) -> None:
        self.md5.update(data)
        for h in self._hash.values():
            h.update(data)
        for alg, value in self._crc.items():
            self._crc[alg] = crc(alg, data, value)

    def checksums(self) -> dict[str, str]:
        out = {alg: base64.b64encode(h.digest()).decode() for alg, h in self._hash.items()}
        for alg, value in self._crc.items():
            out[alg] = encode_crc(alg, value)
        return out


def crc(alg: str, data, previous: int = 0) -> int:
    if alg == "CRC32":
        return zlib.crc32(data, previous)
    from awscrt import checksums  # C implementations (botocore's own choice)

    if alg == "CRC32C":
        return checksums.crc32c(data, previous)
    return checksums.crc64nvme(data, previous)


def encode_crc(alg: str, value: int) -> str:
    width = 8 if alg == "CRC64NVME" else 4
    return base64.b64encode(value.to_bytes(width, "big")).decode()


# -- writing ---------------------------------------------------------------------

@dataclass
class Written:
    blob: str                  # the blob store key of the piece
    size: int                  # plaintext bytes
    md5: bytes                 # raw MD5 of the plaintext
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + self.md5.hex() + '"'


def chunks_of(source, size: int = SEGMENT) -> Iterator[bytes]:
    """Chunks of a body: bytes, or anything with `chunks(size)` (a request
    body spooled to a file), or an iterable of bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for i in range(0, len(view), size):
            yield view[i:i + size]
        return
    if hasattr(source, "chunks"):
        yield from source.chunks(size)
        return
    yield from source


def write_piece(blobs, source, key: bytes, algorithms: Iterable[str] = ()) -> Written:
    """Encrypt a body into a new piece of the blob store, digesting it on
    the way (never more than a segment in memory)."""
    digests = Digests(algorithms)
    aead = AESGCM(key)
    base = os.urandom(12)
    state = {"size": 0}

    def sealed() -> Iterator[bytes]:
        yield bytes([_FORMAT]) + base
        index = 0
        pending = b""
        for chunk in _resegment(chunks_of(source)):
            if pending:
                yield aead.encrypt(_nonce(base, index), pending, _aad(index, False))
                index += 1
            digests.update(chunk)
            state["size"] += len(chunk)
            pending = bytes(chunk)
        # The last segment (possibly empty: an empty object is one sealed
        # empty segment, so truncation is always detectable).
        yield aead.encrypt(_nonce(base, index), pending, _aad(index, True))

    blob = blobs.put(sealed())
    return Written(blob=blob, size=state["size"], md5=digests.md5.digest(), checksums=digests.checksums())


def _resegment(chunks: Iterable) -> Iterator[bytes]:
    """Exactly SEGMENT-sized chunks (the last may be shorter)."""
    buf = bytearray()
    for chunk in chunks:
        if not buf and len(chunk) == SEGMENT:
            yield chunk
            continue
        buf += chunk
        while len(buf) >= SEGMENT:
            yield bytes(buf[:SEGMENT])
            del buf[:SEGMENT]
    if buf:
        yield bytes(buf)


def _nonce(base: bytes, index: int) -> bytes:
    return (int.from_bytes(base, "big") ^ index).to_bytes(12, "big")


def _aad(index: int, last: bool) -> bytes:
    return struct.pack(">QB", index, 1 if last else 0)


# -- reading ---------------------------------------------------------------------

_ONLY_SEGMENT_AAD = _aad(0, True)


def read_piece(blobs, blob: str, size: int, key: bytes, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """The plaintext bytes [start, end) of a piece of `size` bytes, segment
    by segment. Raises CorruptData if anything does not decrypt."""
    end = size if end is None else min(end, size)
    if start >= end and size:
        return
    aead = blobs.cipher(key) if hasattr(blobs, "cipher") else AESGCM(key)
    last_index = max(0, (size - 1) // SEGMENT) if size else 0
    if last_index == 0 and is_row(blob):
        # One segment, in a row (most small objects): no file-like reads.
        # (segment 0's nonce is the piece's base itself)
        data = blobs.row(blob)
        if len(data) != _HEADER + size + TAG or data[0] != _FORMAT:
            raise CorruptData("bad piece")
        try:
            plain = aead.decrypt(data[1:_HEADER], data[_HEADER:], _ONLY_SEGMENT_AAD)
        except InvalidTag:
            raise CorruptData("segment 0 does not decrypt") from None
        yield plain if start == 0 and end == size else plain[start:end]
        return
    with blobs.open(blob) as fh:
        header = fh.read(_HEADER)
        if len(header) != _HEADER or header[0] != _FORMAT:
            raise CorruptData("bad piece header")
        base = header[1:]
        first = start // SEGMENT if size else 0
        fh.seek(_HEADER + first * (SEGMENT + TAG))
        index = first
        while index <= last_index:
            seg_start = index * SEGMENT
            if seg_start >= end and size:
                break
            plain_len = min(SEGMENT, size - seg_start) if size else 0
            sealed = fh.read(plain_len + TAG)
            try:
                plain = aead.decrypt(_nonce(base, index), sealed, _aad(index, index == last_index))
            except InvalidTag:
                raise CorruptData(f"segment {index} does not decrypt") from None
            lo = max(start - seg_start, 0)
            hi = min(end - seg_start, plain_len)
            if lo or hi != plain_len:
                yield plain[lo:hi]
            else:
                yield plain
            index += 1


def read_pieces(blobs, pieces: list, key: bytes, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes [start, end) of an object made of pieces [[blob, size], ...]."""
    total = sum(size for _, size in pieces)
    end = total if end is None else min(end, total)
    offset = 0
    for blob, size in pieces:
        lo, hi = max(start - offset, 0), min(end - offset, size)
        if lo < hi:
            yield from read_piece(blobs, blob, size, key, lo, hi)
        offset += size
        if offset >= end:
            break


# -- data keys -------------------------------------------------------------------

def wrap_key(master: AESGCM, data_key: bytes, aad: bytes) -> str:
    """A data key sealed under a wrapping key (S3's master key, or an
    SSE-C customer key), base64 for the row."""
    nonce = os.urandom(12)
    return base64.b64encode(nonce + master.encrypt(nonce, data_key, aad)).decode()


def unwrap_key(master: AESGCM, wrapped: str, aad: bytes) -> bytes:
    raw = base64.b64decode(wrapped)
    try:
        return master.decrypt(raw[:12], raw[12:], aad)
    except InvalidTag:
        raise CorruptData("the data key does not unwrap") from None


# -- where pieces live -------------------------------------------------------------

INLINE_MAX = 64 * 1024
ROW_PREFIX = "r:"  # a row of s3_pieces, by id
_OLD_PREFIX = "i:"  # a row of s3_inline, by a random key (pieces written before s3_pieces)


def is_row(key: str) -> bool:
    """Whether a piece is a database row (else a file of the blob store)."""
    return key.startswith(ROW_PREFIX) or key.startswith(_OLD_PREFIX)


class ObjectBlobs:
    """The blob store of object pieces: a piece of at most INLINE_MAX
    sealed bytes is a row of s3_pieces (written with the request's other
    rows: no file to create, rename and later unlink, which costs more than
    the rest of a small PUT); larger ones are files of the blob store.
    Same interface as BlobStore.

    Row pieces read are remembered (sealed, as stored; at most CACHE_BYTES):
    in the server the row's SELECT was a tenth of a small GET. A piece never
    changes once written; `delete` forgets it, and a row read while a
    transaction is open is not remembered (a rolled-back row's id can be
    given to the next piece)."""

    CACHE_BYTES = 16 << 20
    CIPHERS = 1024

    def __init__(self, files, storage):
        self.files = files
        self.storage = storage
        self._cache: dict[str, bytes] = {}
        self._cached = 0
        self._ciphers: dict[bytes, AESGCM] = {}

    def cipher(self, key: bytes) -> AESGCM:
        """The cipher of a data key, kept for the keys read most recently
        (an object read again and again need not set its cipher up each
        time)."""
        aead = self._ciphers.get(key)
        if aead is None:
            if len(self._ciphers) >= self.CIPHERS:
                self._ciphers.pop(next(iter(self._ciphers)))
            aead = self._ciphers[key] = AESGCM(key)
        return aead

    def put(self, data) -> str:
        chunks = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
        head: list[bytes] = []
        size = 0
        it = iter(chunks)
        for chunk in it:
            head.append(bytes(chunk))
            size += len(chunk)
            if size > INLINE_MAX:
                return self.files.put(_chain(head, it))
        row = self.storage.execute("INSERT INTO s3_pieces (data) VALUES (?)", (b"".join(head),)).lastrowid
        return f"{ROW_PREFIX}{row}"

    def open(self, key: str):
        if is_row(key):
            return io.BytesIO(self.row(key))
        return self.files.open(key)

    def row(self, key: str) -> bytes:
        """A row piece's sealed bytes."""
        data = self._cache.get(key)
        if data is not None:
            return data
        row = self.storage.one(*_row_sql("SELECT data FROM", key))
        if row is None:
            raise FileNotFoundError(key)
        data = row[0]
        if not self.storage.pending:
            self._cached += len(data)
            self._cache[key] = data
            cache = self._cache
            while self._cached > self.CACHE_BYTES:
                self._cached -= len(cache.pop(next(iter(cache))))
        return data

    def delete(self, key: str) -> None:
        if is_row(key):
            data = self._cache.pop(key, None)
            if data is not None:
                self._cached -= len(data)
            self.storage.execute(*_row_sql("DELETE FROM", key))
        else:
            self.files.delete(key)


def _row_sql(verb: str, key: str) -> tuple[str, tuple]:
    if key.startswith(ROW_PREFIX):
        return f"{verb} s3_pieces WHERE id = ?", (int(key[len(ROW_PREFIX):]),)
    return f"{verb} s3_inline WHERE blob = ?", (key,)


def _chain(head: list, rest) -> Iterator[bytes]:
    yield from head
    yield from rest
