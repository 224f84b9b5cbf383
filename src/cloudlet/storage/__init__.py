"""Persistence: every piece of state cloudlet keeps lives here."""

from cloudlet.storage.blobs import BlobStore
from cloudlet.storage.sqlite import Storage

__all__ = ["BlobStore", "Storage"]
