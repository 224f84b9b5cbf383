"""What every part of S3 shares: errors as S3 words them, bucket lookup,
owners, configuration rows, the master key, version ids."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass

import orjson

from cloudlet.errors import AwsError

MASTER_KEY_FILE = "s3-master.key"


# -- errors ----------------------------------------------------------------------

def s3_error(code: str, message: str, status: int = 400, **fields) -> AwsError:
    """An S3 error; `fields` become extra elements of the <Error> document
    (BucketName, Key, Condition, ArgumentName, ...), as S3 adds them."""
    return AwsError(code, message, status, fields={k: str(v) for k, v in fields.items() if v is not None})


def no_such_bucket(bucket: str) -> AwsError:
    return s3_error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> AwsError:
    return s3_error("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> AwsError:
    return s3_error("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def invalid_request(message: str) -> AwsError:
    return s3_error("InvalidRequest", message, 400)


def malformed_xml() -> AwsError:
    return s3_error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                    "published schema", 400)


# -- owners -----------------------------------------------------------------------

def canonical_id(account: str) -> str:
    """An account's canonical user ID (64 hex digits), stable per account."""
    return hashlib.sha256(f"cloudlet-canonical-user:{account}".encode()).hexdigest()


def owner(account: str) -> dict:
    return {"ID": canonical_id(account)}


def new_version_id() -> str:
    """32 characters of URL-safe base64, as S3's look."""
    return secrets.token_urlsafe(24)


# -- buckets -----------------------------------------------------------------------

@dataclass
class Bucket:
    name: str
    account: str
    region: str
    created: float
    versioning: str     # "" (never enabled) | "Enabled" | "Suspended"
    mfa_delete: str     # "" | "Enabled" | "Disabled"
    object_lock: bool

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


_BUCKET_COLUMNS = "name, account, region, created, versioning, mfa_delete, object_lock"


class S3Common:
    """Mixed into S3Service: lookups every operation module uses."""

    # Bucket rows and configurations are read on every request and written
    # rarely: cached per process, every write forgets the bucket's entries
    # (forget_bucket). A shared PostgreSQL deployment will need these
    # invalidated across nodes.

    def find_bucket(self, name: str) -> Bucket | None:
        cache = self.__dict__.setdefault("_bucket_cache", {})
        if name in cache:
            return cache[name]
        row = self.storage.one(f"SELECT {_BUCKET_COLUMNS} FROM s3_buckets WHERE name = ?", (name,))
        found = None if row is None else Bucket(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]))
        if len(cache) > 10_000:
            cache.clear()
        cache[name] = found
        return found

    def forget_bucket(self, name: str) -> None:
        """Call after any write to a bucket's row or configurations."""
        self.__dict__.setdefault("_bucket_cache", {}).pop(name, None)
        self.__dict__.setdefault("_config_cache", {}).pop(name, None)

    def reset(self) -> None:
        self.__dict__.pop("_bucket_cache", None)
        self.__dict__.pop("_config_cache", None)
        self.__dict__.pop("_latest_rows", None)
        self.__dict__.pop("_object_blobs", None)  # (and the pieces it remembers)

    def bucket(self, ctx, name: str) -> Bucket:
        """The bucket a request names, or NoSuchBucket. (Whether the caller
        may use it is the authorizer's question, asked before the handler.)"""
        found = self.find_bucket(name)
        if found is None:
            raise no_such_bucket(name)
        return found

    def get_config(self, bucket: str, kind: str):
        """A stored bucket configuration (decoded JSON: a fresh copy the
        caller may change), or None. One query loads all of a bucket's."""
        cache = self.__dict__.setdefault("_config_cache", {})
        configs = cache.get(bucket)
        if configs is None:
            configs = dict(self.storage.all("SELECT kind, value FROM s3_bucket_configs WHERE bucket = ?", (bucket,)))
            if len(cache) > 10_000:
                cache.clear()
            cache[bucket] = configs
        text = configs.get(kind)
        return None if text is None else orjson.loads(text)

    def put_config(self, bucket: str, kind: str, value) -> None:
        with self.storage.tx():
            self.storage.execute("INSERT INTO s3_bucket_configs (bucket, kind, value) VALUES (?, ?, ?) "
                                 "ON CONFLICT (bucket, kind) DO UPDATE SET value = excluded.value",
                                 (bucket, kind, orjson.dumps(value).decode()))
        self.forget_bucket(bucket)

    def delete_config(self, bucket: str, kind: str) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM s3_bucket_configs WHERE bucket = ? AND kind = ?", (bucket, kind))
        self.forget_bucket(bucket)

    @property
    def object_blobs(self):
        """Where object pieces live (objectdata.ObjectBlobs: small ones as
        rows, the rest as files)."""
        found = self.__dict__.get("_object_blobs")
        if found is None:
            from cloudlet.services.s3.objectdata import ObjectBlobs

            found = self._object_blobs = ObjectBlobs(self.cloud.blobs, self.storage)
        return found

    # -- keys at rest ------------------------------------------------------------

    @property
    def master(self):
        """S3's own key (SSE-S3 seals each version's data key with it:
        `master.seal(key, aad)` / `master.open(sealed, aad)`), kept in the
        data directory like KMS's, created (0600) on first use."""
        if self._master is None:
            from cloudlet.services.kms.crypto import load_or_create_master_key

            self._master = load_or_create_master_key(os.path.join(self.cloud.data_dir, MASTER_KEY_FILE))
        return self._master


# -- object versions ------------------------------------------------------------

OBJECT_COLUMNS = ("bucket, key, version_id, seq, is_latest, delete_marker, size, etag, last_modified, "
                  "storage_class, owner, headers, metadata, checksums, parts, pieces, sse, tags, lock")
_JSON_COLUMNS = ("headers", "metadata", "checksums", "parts", "pieces", "sse", "tags", "lock")
_UNKNOWN = object()
_COLUMN_NAMES = tuple(OBJECT_COLUMNS.split(", "))
_INSERT_VERSION = f"INSERT INTO s3_objects ({OBJECT_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"
_UPSERT_NULL = (_INSERT_VERSION + " ON CONFLICT (bucket, key, version_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _COLUMN_NAMES[3:]) + ", restore = NULL")


@dataclass
class ObjectVersion:
    """One row of s3_objects, JSON columns decoded."""

    bucket: str
    key: str
    version_id: str
    seq: int
    is_latest: bool
    delete_marker: bool
    size: int
    etag: str
    last_modified: float
    storage_class: str
    owner: str
    headers: dict       # Content-Type, Content-Encoding, Cache-Control, ... as S3 returns them
    metadata: dict      # user metadata (x-amz-meta-*), names lower-cased
    checksums: dict     # {"CRC32": b64, ...} plus "type": "FULL_OBJECT" | "COMPOSITE"
    parts: list | None  # multipart: [{"PartNumber", "Size", "ETag", checksums...}, ...]
    pieces: list        # [[blob, size], ...]
    sse: dict           # how the data key is kept (see objects.py)
    tags: dict
    lock: dict          # {"Mode", "RetainUntilDate", "LegalHold"}

    @classmethod
    def from_row(cls, row) -> "ObjectVersion":
        values = list(row)
        values[4], values[5] = bool(values[4]), bool(values[5])
        for i in range(11, 19):
            values[i] = orjson.loads(values[i]) if values[i] is not None else None
        return cls(*values)


class VersionStore:
    """Mixed into S3Service: the one place object versions are written, so
    versioning's rules (null versions, latest, delete markers) hold for
    PutObject, CopyObject, CompleteMultipartUpload and DeleteObject alike."""

    def latest(self, bucket: str, key: str) -> ObjectVersion | None:
        # The current version's row (or its absence) is remembered: a GET
        # of a small object spent ~15% of its time reading it. Every write
        # of s3_objects forgets its key (forget_object); a row read while a
        # transaction is open (it could see writes not yet committed) is
        # not remembered.
        cache = self.__dict__.get("_latest_rows")
        if cache is None:
            cache = self._latest_rows = {}
        row = cache.get((bucket, key), _UNKNOWN)
        if row is _UNKNOWN:
            row = self.storage.one(f"SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? "
                                   "AND is_latest = 1", (bucket, key))
            if not self.storage.pending:
                if len(cache) >= 10_000:
                    cache.clear()
                cache[(bucket, key)] = row
        return ObjectVersion.from_row(row) if row is not None else None

    def forget_object(self, bucket: str | None = None, key: str | None = None) -> None:
        """Call on every write of s3_objects (no bucket: forget all)."""
        cache = self.__dict__.get("_latest_rows")
        if cache:
            if bucket is None:
                cache.clear()
            else:
                cache.pop((bucket, key), None)

    def version(self, bucket: str, key: str, version_id: str) -> ObjectVersion | None:
        row = self.storage.one(f"SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ? "
                               "AND version_id = ?", (bucket, key, version_id))
        return ObjectVersion.from_row(row) if row is not None else None

    def commit_version(self, bucket: Bucket, key: str, fields: dict) -> str:
        """Store a new current version of `key` (an object, or a delete
        marker with fields["delete_marker"] = True) and return its version
        id: a new id in a versioning-enabled bucket, else "null", which
        replaces any earlier null version (its data becomes garbage).
        Call inside `storage.tx()` together with whatever else must commit
        with it."""
        version_id = new_version_id() if bucket.versioning == "Enabled" else "null"
        storage = self.storage
        self.forget_object(bucket.name, key)
        # The current version (which has the highest seq) and the null
        # version, in one read: all a new version needs to know.
        seq = 1
        latest_id = None
        replaces_null = False
        for vid, vseq, is_latest, pieces in storage.all(
                "SELECT version_id, seq, is_latest, pieces FROM s3_objects WHERE bucket = ? AND key = ? "
                "AND (is_latest = 1 OR version_id = 'null')", (bucket.name, key)):
            if is_latest:
                seq, latest_id = vseq + 1, vid
            if vid == "null" and version_id == "null":
                # replaced in place below (one row rewritten, not a row and
                # its three index entries deleted and inserted again)
                self.discard_pieces(orjson.loads(pieces))
                replaces_null = True
                if is_latest:
                    latest_id = None
        if latest_id is not None:
            storage.execute("UPDATE s3_objects SET is_latest = 0 WHERE bucket = ? AND key = ? AND version_id = ?",
                            (bucket.name, key, latest_id))
        row = {"bucket": bucket.name, "key": key, "version_id": version_id, "seq": seq, "is_latest": 1,
               "delete_marker": 0, "size": 0, "etag": "", "last_modified": self.clock.now(),
               "storage_class": "STANDARD", "owner": "", "headers": {}, "metadata": {}, "checksums": {},
               "parts": None, "pieces": [], "sse": {}, "tags": {}, "lock": {}}
        row.update(fields)
        row["delete_marker"] = int(bool(row["delete_marker"]))
        for name in _JSON_COLUMNS:
            if row[name] is not None:
                row[name] = orjson.dumps(row[name]).decode()
        storage.execute(_UPSERT_NULL if replaces_null else _INSERT_VERSION, tuple(row[c] for c in _COLUMN_NAMES))
        return version_id

    def remove_version(self, bucket: str, key: str, version_id: str) -> None:
        """Delete one version for good (DeleteObject with a VersionId,
        lifecycle); the newest remaining version becomes current. Call
        inside `storage.tx()`."""
        storage = self.storage
        self.forget_object(bucket, key)
        old = storage.one("SELECT pieces, is_latest FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                          (bucket, key, version_id))
        if old is None:
            return
        self.discard_pieces(orjson.loads(old[0]))
        storage.execute("DELETE FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                        (bucket, key, version_id))
        if old[1]:
            storage.execute("UPDATE s3_objects SET is_latest = 1 WHERE bucket = ? AND key = ? AND seq = "
                            "(SELECT MAX(seq) FROM s3_objects WHERE bucket = ? AND key = ?)",
                            (bucket, key, bucket, key))

    def discard_pieces(self, pieces: list) -> None:
        """Pieces no row refers to any more: their files are removed once
        this transaction has committed (sweep_dead_blobs)."""
        from cloudlet.services.s3 import objectdata

        files = [(blob,) for blob, _ in pieces if not objectdata.is_row(blob)]
        for blob, _ in pieces:
            if objectdata.is_row(blob):  # rows: gone with this transaction
                self.object_blobs.delete(blob)
        if files:
            self.storage.executemany("INSERT OR IGNORE INTO s3_dead_blobs (blob) VALUES (?)", files)

    def sweep_dead_blobs(self, now: float = 0.0) -> None:
        rows = self.storage.all("SELECT blob FROM s3_dead_blobs LIMIT 1000", ())
        if not rows:
            return
        for (blob,) in rows:
            self.object_blobs.delete(blob)
        with self.storage.tx():
            self.storage.executemany("DELETE FROM s3_dead_blobs WHERE blob = ?", rows)
