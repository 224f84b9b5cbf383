"""Large bodies (S3 objects, uploaded parts, log archives) as files under
the data directory, written to a temporary name then renamed into place, so
a crash leaves either the whole blob or none of it. Like the database
(WAL, synchronous=NORMAL), a blob survives the process being killed once
written; with `fsync` (CLOUDLET_SYNC=FULL) it also survives power loss."""

from __future__ import annotations

import os
import secrets
from typing import BinaryIO, Iterable


class BlobStore:
    def __init__(self, root: str, fsync: bool = False):
        self.root = root
        self.fsync = fsync
        self._tmp = os.path.join(root, "tmp")
        os.makedirs(self._tmp, exist_ok=True)

    def path(self, key: str) -> str:
        return os.path.join(self.root, key[:2], key)

    def put(self, data: bytes | Iterable[bytes]) -> str:
        key = secrets.token_hex(16)
        tmp = os.path.join(self._tmp, key)
        with open(tmp, "wb") as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
            if self.fsync:
                fh.flush()
                os.fsync(fh.fileno())
        final = self.path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(tmp, final)
        return key

    def spool_file(self):
        """(path, open binary file) for a request body to be written to; in
        the blob store's temp directory, so it shares its file system."""
        path = os.path.join(self._tmp, "spool-" + secrets.token_hex(16))
        return path, open(path, "wb")

    def get(self, key: str) -> bytes:
        with open(self.path(key), "rb") as fh:
            return fh.read()

    def open(self, key: str) -> BinaryIO:
        return open(self.path(key), "rb")

    def size(self, key: str) -> int:
        return os.path.getsize(self.path(key))

    def delete(self, key: str) -> None:
        try:
            os.remove(self.path(key))
        except FileNotFoundError:
            pass

    def clear(self) -> None:
        for entry in os.listdir(self.root):
            full = os.path.join(self.root, entry)
            if os.path.isdir(full) and len(entry) == 2:
                for name in os.listdir(full):
                    os.remove(os.path.join(full, name))
