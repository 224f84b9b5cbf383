"""ListObjects, ListObjectsV2 and ListObjectVersions.

Keys are read in S3's order (UTF-8 bytes, which is SQLite's BINARY order
for TEXT) from the (bucket, key) indexes, a prefix as the key range
[prefix, prefix_end(prefix)), never by scanning the bucket in Python. With
a delimiter, the keys under one common prefix are skipped by starting the
next read past the end of that prefix, so a "folder" of a million keys
costs one row, not a million.

A page resumes after the last thing it returned (a key, a key and version,
or a common prefix, whose whole group is then skipped); V2's continuation
token is that position, opaque to the client.
"""

from __future__ import annotations

import base64
import binascii
from typing import NamedTuple
from urllib.parse import quote

import orjson

from cloudlet.services.s3.common import invalid_argument
from cloudlet.services.s3.restore import RestoreState

MAX_PAGE = 1000
# With a delimiter the scan jumps past a common prefix as soon as it meets
# one, making the rest of that read moot: reads start small and grow while
# they find plain keys.
GROUPED_FIRST_BATCH = 4
_LISTED_COLUMNS = ("key, version_id, seq, is_latest, delete_marker, size, etag, last_modified, storage_class, owner, "
                   "checksums, restore")


def _wants_restore_status(params: dict) -> bool:
    return "RestoreStatus" in (params.get("OptionalObjectAttributes") or ())


class Listed(NamedTuple):
    """The columns of s3_objects a listing shows."""
    key: str
    version_id: str
    seq: int
    is_latest: int
    delete_marker: int
    size: int
    etag: str
    last_modified: float
    storage_class: str
    owner: str
    checksums: str          # JSON text, decoded only when not empty
    restore: str | None     # JSON text: a restore from an archive (restore.py)


def prefix_end(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix`
    (None: no bound)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1])
        if code < 0x10FFFF:
            code += 1
            if 0xD800 <= code <= 0xDFFF:
                code = 0xE000
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def group_of(key: str, prefix: str, delimiter: str | None) -> str | None:
    """The common prefix a key rolls up into, or None."""
    if not delimiter or not key.startswith(prefix):
        return None
    i = key.find(delimiter, len(prefix))
    return key[:i + len(delimiter)] if i >= 0 else None


def _max_keys(params: dict) -> int:
    value = params.get("MaxKeys")
    if value is None:
        return MAX_PAGE
    if value < 0:
        raise invalid_argument("Argument maxKeys must be an integer between 0 and 2147483647", "maxKeys", str(value))
    return value


def _encoder(params: dict):
    encoding = params.get("EncodingType")
    if encoding is None:
        return lambda text: text
    if encoding != "url":
        raise invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", encoding)
    return lambda text: quote(text, safe="/") if text else text


def encode_token(position: str) -> str:
    return base64.urlsafe_b64encode(b"1" + position.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(token.encode())
        if raw[:1] != b"1":
            raise ValueError
        return raw[1:].decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_argument("The continuation token provided is incorrect", "continuation-token", token) from None


class ListingOps:
    """Mixin of S3Service."""

    # -- the scan ------------------------------------------------------------------

    def _scan(self, bucket: str, prefix: str, delimiter: str | None, after: str | None, limit: int,
              versions: bool = False, after_seq: int | None = None):
        """Up to `limit` + 1 entries in order, each ("key", Listed)
        or ("prefix", common prefix), starting after `after` (with
        `after_seq`: after that version of that key, for version listings).
        A common prefix that `after` falls in is skipped whole."""
        high = prefix_end(prefix) if prefix else None
        low, low_inclusive = prefix, True
        if after is not None and after < prefix:
            after, after_seq = None, None      # a marker before the prefix: start at the prefix
        if after is not None:
            group = group_of(after, prefix, delimiter)
            if group is not None:
                low = prefix_end(group) or "\U0010ffff"
                after, after_seq = None, None
            else:
                low, low_inclusive = after, after_seq is not None
        out: list = []
        full = min(max(limit + 1, 2), MAX_PAGE + 1)
        batch = min(full, GROUPED_FIRST_BATCH) if delimiter else full
        while len(out) <= limit:
            rows = self._rows(bucket, low, low_inclusive, high, batch, versions,
                              after if after_seq is not None else None, after_seq)
            jumped = False
            for row in rows:
                group = group_of(row.key, prefix, delimiter)
                if group is not None:
                    out.append(("prefix", group))
                    # Past the whole group with the next read.
                    low, low_inclusive, after, after_seq = prefix_end(group) or "\U0010ffff", True, None, None
                    jumped = True
                else:
                    out.append(("key", row))
                if len(out) > limit:
                    return out
                if jumped:
                    break
            if jumped:
                batch = min(full, GROUPED_FIRST_BATCH)
                continue
            if len(rows) < batch:
                return out
            batch = min(full, batch * 4)
            last = rows[-1]
            if versions:
                low, low_inclusive, after, after_seq = last.key, True, last.key, last.seq
            else:
                low, low_inclusive, after, after_seq = last.key, False, None, None
        return out

    def _rows(self, bucket: str, low: str, low_inclusive: bool, high: str | None, limit: int, versions: bool,
              seq_key: str | None, seq: int | None) -> list[Listed]:
        sql = [f"SELECT {_LISTED_COLUMNS} FROM s3_objects WHERE bucket = ?"]
        args: list = [bucket]
        if versions and seq_key is not None:
            # After one version of a key: its older versions, then later keys.
            sql.append("AND (key > ? OR (key = ? AND seq < ?))")
            args += [seq_key, seq_key, seq]
        else:
            sql.append("AND key >= ?" if low_inclusive else "AND key > ?")
            args.append(low)
        if high is not None:
            sql.append("AND key < ?")
            args.append(high)
        if versions:
            sql.append("ORDER BY key, seq DESC LIMIT ?")
        else:
            sql.append("AND is_latest = 1 AND delete_marker = 0 ORDER BY key LIMIT ?")
        args.append(limit)
        return [Listed(*r) for r in self.storage.all(" ".join(sql), tuple(args))]

    # -- entries -------------------------------------------------------------------

    def _object_entry(self, row: Listed, encode, owner: bool, restore_status: bool = False) -> dict:
        entry = {"Key": encode(row.key), "LastModified": row.last_modified, "ETag": row.etag, "Size": row.size,
                 "StorageClass": row.storage_class}
        if restore_status and row.restore:
            status = RestoreState(orjson.loads(row.restore), self.clock.now()).status()
            if status is not None:
                entry["RestoreStatus"] = status
        stored = orjson.loads(row.checksums) if row.checksums and row.checksums != "{}" else {}
        algorithms = [alg for alg in stored if alg != "type"]
        if algorithms:
            entry["ChecksumAlgorithm"] = algorithms
            entry["ChecksumType"] = stored.get("type", "FULL_OBJECT")
        if owner:
            entry["Owner"] = {"ID": row.owner}
        return entry

    # -- the operations ------------------------------------------------------------

    def ListObjects(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        encode = _encoder(params)
        max_keys = _max_keys(params)
        prefix, delimiter, marker = params.get("Prefix") or "", params.get("Delimiter") or None, params.get("Marker")
        entries = self._scan(bucket.name, prefix, delimiter, marker or None, min(max_keys, MAX_PAGE))
        truncated = len(entries) > min(max_keys, MAX_PAGE)
        entries = entries[:min(max_keys, MAX_PAGE)]
        out = {"Name": bucket.name, "Prefix": encode(prefix), "Marker": encode(marker or ""), "MaxKeys": max_keys,
               "IsTruncated": truncated}
        self._fill(out, entries, encode, owner=True, restore_status=_wants_restore_status(params))
        if delimiter:
            out["Delimiter"] = encode(delimiter)
            if truncated and entries:
                kind, value = entries[-1]
                out["NextMarker"] = encode(value if kind == "prefix" else value.key)
        if params.get("EncodingType"):
            out["EncodingType"] = params["EncodingType"]
        return out

    def ListObjectsV2(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        encode = _encoder(params)
        max_keys = _max_keys(params)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or None
        token, start_after = params.get("ContinuationToken"), params.get("StartAfter")
        if token is not None:
            if not token:
                raise invalid_argument("The continuation token provided is incorrect", "continuation-token", token)
            after = decode_token(token)
        else:
            after = start_after or None
        limit = min(max_keys, MAX_PAGE)
        entries = self._scan(bucket.name, prefix, delimiter, after, limit)
        truncated = len(entries) > limit
        entries = entries[:limit]
        out = {"Name": bucket.name, "Prefix": encode(prefix), "MaxKeys": max_keys, "KeyCount": len(entries),
               "IsTruncated": truncated}
        self._fill(out, entries, encode, owner=bool(params.get("FetchOwner")),
                   restore_status=_wants_restore_status(params))
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if params.get("EncodingType"):
            out["EncodingType"] = params["EncodingType"]
        if token is not None:
            out["ContinuationToken"] = token
        if start_after is not None:
            out["StartAfter"] = encode(start_after)
        if truncated:
            if entries:
                kind, value = entries[-1]
                out["NextContinuationToken"] = encode_token(value if kind == "prefix" else value.key)
            else:
                out["NextContinuationToken"] = encode_token(after or prefix)
        return out

    def _fill(self, out: dict, entries: list, encode, owner: bool, restore_status: bool = False) -> None:
        contents = [self._object_entry(v, encode, owner, restore_status) for kind, v in entries if kind == "key"]
        prefixes = [{"Prefix": encode(v)} for kind, v in entries if kind == "prefix"]
        if contents:
            out["Contents"] = contents
        if prefixes:
            out["CommonPrefixes"] = prefixes

    def ListObjectVersions(self, ctx, params):
        key_marker, version_marker = params.get("KeyMarker"), params.get("VersionIdMarker")
        if version_marker and not key_marker:
            raise invalid_argument("A version-id marker cannot be specified without a key marker.",
                                   "version-id-marker", version_marker)
        bucket = self.owned_bucket(ctx, params)
        encode = _encoder(params)
        max_keys = _max_keys(params)
        limit = min(max_keys, MAX_PAGE)
        prefix, delimiter = params.get("Prefix") or "", params.get("Delimiter") or None
        after_seq = None
        if key_marker and version_marker:
            found = self.version(bucket.name, key_marker, version_marker)
            if found is None:
                raise invalid_argument("Invalid version id specified", "version-id-marker", version_marker)
            after_seq = found.seq
        entries = self._scan(bucket.name, prefix, delimiter, key_marker or None, limit, versions=True,
                             after_seq=after_seq)
        truncated = len(entries) > limit
        entries = entries[:limit]
        versions, markers, prefixes = [], [], []
        for kind, row in entries:
            if kind == "prefix":
                prefixes.append({"Prefix": encode(row)})
            elif row.delete_marker:
                markers.append({"Owner": {"ID": row.owner}, "Key": encode(row.key), "VersionId": row.version_id,
                                "IsLatest": bool(row.is_latest), "LastModified": row.last_modified})
            else:
                entry = self._object_entry(row, encode, owner=True, restore_status=_wants_restore_status(params))
                entry.update(VersionId=row.version_id, IsLatest=bool(row.is_latest))
                versions.append(entry)
        out = {"Name": bucket.name, "Prefix": encode(prefix), "KeyMarker": encode(key_marker or ""),
               "VersionIdMarker": version_marker or "", "MaxKeys": max_keys, "IsTruncated": truncated}
        if versions:
            out["Versions"] = versions
        if markers:
            out["DeleteMarkers"] = markers
        if prefixes:
            out["CommonPrefixes"] = prefixes
        if delimiter:
            out["Delimiter"] = encode(delimiter)
        if params.get("EncodingType"):
            out["EncodingType"] = params["EncodingType"]
        if truncated and entries:
            kind, last = entries[-1]
            if kind == "prefix":
                out["NextKeyMarker"] = encode(last)
            else:
                out["NextKeyMarker"] = encode(last.key)
                out["NextVersionIdMarker"] = last.version_id
        return out
