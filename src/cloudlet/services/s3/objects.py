"""Object reads and writes: PutObject, GetObject, HeadObject, CopyObject,
DeleteObject, DeleteObjects. Listings are in listing.py, tagging / lock /
ACL / attributes in subresources.py, encryption in sse.py, preconditions
and ranges in conditions.py, request checksums in checksums.py.

Every version is written through VersionStore.commit_version (versioning's
rules) inside the transaction that checks a conditional write, so nothing
can come between the check and the write. Bodies are encrypted while they
stream in (objectdata.write_piece, on a worker thread for large ones) and
decrypted while they stream out (a StreamBody over objectdata.read_pieces).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from urllib.parse import parse_qs, unquote

from cloudlet.errors import AwsError
from cloudlet.protocol.common import http_date
from cloudlet.protocol.http import StreamBody
from cloudlet.services.s3 import checksums, conditions, objectdata, tagging
from cloudlet.services.s3.acl import user_grant
from cloudlet.services.s3.common import (
    Bucket,
    ObjectVersion,
    canonical_id,
    invalid_argument,
    invalid_request,
    malformed_xml,
    no_such_key,
    s3_error,
)
from cloudlet.services.s3.listing import ListingOps
from cloudlet.services.s3.sse import (
    Encryption,
    customer_key,
    read_customer_key,
    reject_sse_headers,
)
from cloudlet.services.s3.subresources import ObjectSubresourceOps

MAX_SINGLE_PUT = 5 * 1024 ** 3       # PutObject and a CopyObject source
MAX_METADATA = 2 * 1024              # user metadata, keys and values in UTF-8
MAX_KEY = 1024                       # bytes of UTF-8
MAX_DELETE_OBJECTS = 1000
THREAD_ABOVE = 1 << 20               # bodies larger than this are encrypted off the event loop
WRITABLE_STORAGE_CLASSES = frozenset({
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
    "DEEP_ARCHIVE", "GLACIER_IR"})
# System metadata an object keeps and returns as headers, by model member.
CONTENT_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl",
                   "Expires", "WebsiteRedirectLocation")
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
OVERRIDES = {"ResponseContentType": "ContentType", "ResponseContentLanguage": "ContentLanguage",
             "ResponseCacheControl": "CacheControl", "ResponseContentDisposition": "ContentDisposition",
             "ResponseContentEncoding": "ContentEncoding", "ResponseExpires": "Expires"}
LOCK_PROTECTED = "Access Denied because object protected by object lock."


# -- request checks ----------------------------------------------------------------

def check_key(key: str) -> None:
    size = len(key.encode("utf-8", "surrogatepass"))
    if size > MAX_KEY:
        raise s3_error("KeyTooLongError", "Your key is too long", 400, MaxSizeAllowed=MAX_KEY, Size=size)


def check_storage_class(value: str | None) -> str:
    if value is None:
        return "STANDARD"
    if value not in WRITABLE_STORAGE_CLASSES:
        raise s3_error("InvalidStorageClass", "The storage class you specified is not valid", 400,
                       StorageClassRequested=value)
    return value


def user_metadata(params: dict) -> dict:
    """x-amz-meta-* (names lower-cased, as S3 keeps them), at most 2 KB."""
    metadata = {k.lower(): v for k, v in (params.get("Metadata") or {}).items()}
    size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    if size > MAX_METADATA:
        raise s3_error("MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.", 400,
                       Size=size, MaxSizeAllowed=MAX_METADATA)
    return metadata


def content_headers(params: dict) -> dict:
    headers = {name: params[name] for name in CONTENT_HEADERS if params.get(name) is not None}
    headers.setdefault("ContentType", DEFAULT_CONTENT_TYPE)
    redirect = headers.get("WebsiteRedirectLocation")
    if redirect is not None and not redirect.startswith(("/", "http://", "https://")):
        raise invalid_argument("The website redirect location must have a prefix of 'http://' or 'https://' or '/'",
                               "x-amz-website-redirect-location", redirect)
    return headers


def body_size(body) -> int:
    if body is None:
        return 0
    return body.size if hasattr(body, "size") else len(body)


def parse_copy_source(text: str) -> tuple[str, str, str | None]:
    """x-amz-copy-source: "bucket/key[?versionId=...]", URL-encoded."""
    path, _, query = text.partition("?")
    # Some SDKs encode a space as "+" (form encoding), others as %20.
    path = unquote(path.replace("+", " ")).lstrip("/")
    bucket, sep, key = path.partition("/")
    if not sep or not bucket or not key:
        raise invalid_argument("Invalid copy source object key", "x-amz-copy-source", "x-amz-copy-source")
    version = parse_qs(query, keep_blank_values=True).get("versionId", [None])[0] if query else None
    return bucket, key, version


def _checksum_header_given(params: dict) -> bool:
    return params.get("ContentMD5") is not None or any(
        params.get(checksums.member(alg)) is not None for alg in checksums.ALGORITHMS)


class ObjectOps(ListingOps, ObjectSubresourceOps, Encryption):
    """Mixin of S3Service (with listing, subresources and encryption)."""

    # -- lookups -------------------------------------------------------------------

    def find_version(self, bucket: Bucket, key: str, version_id: str | None, method: str = "GET") -> ObjectVersion:
        """The version a request names: the current one (NoSuchKey, with
        x-amz-delete-marker when it is a delete marker) or the one asked
        for (NoSuchVersion; 405 MethodNotAllowed for a delete marker)."""
        if version_id is None:
            found = self.latest(bucket.name, key)
            if found is None:
                raise no_such_key(key)
            if found.delete_marker:
                err = no_such_key(key)
                err.headers = {"x-amz-delete-marker": "true", "x-amz-version-id": found.version_id}
                raise err
            return found
        if not bucket.versioning and version_id != "null":
            raise invalid_argument("Invalid version id specified", "versionId", version_id)
        found = self.version(bucket.name, key, version_id)
        if found is None:
            if not bucket.versioning:
                raise no_such_key(key)
            raise s3_error("NoSuchVersion", "The specified version does not exist.", 404, Key=key,
                           VersionId=version_id)
        if found.delete_marker:
            err = s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                           Method=method, ResourceType="DeleteMarker")
            err.headers = {"x-amz-delete-marker": "true", "Allow": "DELETE", "x-amz-version-id": found.version_id,
                           "Last-Modified": http_date(found.last_modified)}
            raise err
        return found

    def _authorize(self, ctx, action: str, bucket: str, key: str) -> None:
        """A per-key check beyond the request's own (DeleteObjects' keys,
        CopyObject's source), by the access module when it is there."""
        hook = getattr(self, "authorize_object", None)
        if hook is not None:
            hook(ctx, action, bucket, key)

    def object_ownership(self, bucket: Bucket) -> str:
        return self.bucket_ownership(bucket.name)

    def object_owner(self, ctx, bucket: Bucket, params: dict) -> str:
        """The account that owns a new object: the bucket's owner unless
        ACLs are on (ObjectWriter; BucketOwnerPreferred without the
        bucket-owner-full-control ACL), then the writer."""
        ownership = self.object_ownership(bucket)
        if ownership == "BucketOwnerEnforced" or (
                ownership == "BucketOwnerPreferred" and params.get("ACL") == "bucket-owner-full-control"):
            return bucket.account
        return ctx.account_id

    def check_acl_headers(self, bucket: Bucket, params: dict, account: str | None = None) -> list | None:
        """The grants of a write's ACL headers (None: none, or ACLs are off
        and they only keep the bucket owner in full control), refused as S3
        refuses them (AccessControlListNotSupported under
        BucketOwnerEnforced)."""
        grants = self.check_object_acl(bucket, params, account or bucket.account)
        if grants is None or self.object_ownership(bucket) == "BucketOwnerEnforced":
            return None
        return grants

    def object_acl(self, bucket: str, key: str, version_id: str | None = None) -> list | None:
        """The grants of an object version (access.py asks, ACLs being on)."""
        found = self.latest(bucket, key) if version_id is None else self.version(bucket, key, version_id)
        if found is None or found.delete_marker:
            return None
        return found.headers.get("_acl") or [user_grant(found.owner, "FULL_CONTROL")]

    # -- object lock on writes -----------------------------------------------------

    def default_retention(self, bucket: Bucket) -> dict | None:
        config = self.get_config(bucket.name, "object-lock") or {}
        return ((config.get("Rule") or {}).get("DefaultRetention")) or None

    def lock_for_write(self, bucket: Bucket, params: dict, now: float, require_checksum: bool = True) -> dict:
        mode, until = params.get("ObjectLockMode"), params.get("ObjectLockRetainUntilDate")
        hold = params.get("ObjectLockLegalHoldStatus")
        if mode is None and until is None and hold is None:
            if not bucket.object_lock:
                return {}
            default = self.default_retention(bucket)
            if not default or not default.get("Mode"):
                return {}
            if default.get("Years"):
                until = _add_years(now, int(default["Years"]))
            else:
                until = now + int(default.get("Days") or 0) * 86400
            return {"Mode": default["Mode"], "RetainUntilDate": until}
        if not bucket.object_lock:
            raise invalid_request("Bucket is missing Object Lock Configuration")
        if (mode is None) != (until is None):
            raise invalid_argument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be "
                                   "supplied", "x-amz-object-lock-retain-until-date" if until is None
                                   else "x-amz-object-lock-mode")
        if mode is not None and mode not in ("GOVERNANCE", "COMPLIANCE"):
            raise invalid_argument("Unknown wormMode directive.", "x-amz-object-lock-mode", mode)
        if hold is not None and hold not in ("ON", "OFF"):
            raise invalid_argument("Legal Hold must be either of 'ON' or 'OFF'", "x-amz-object-lock-legal-hold", hold)
        if until is not None and until <= now:
            raise invalid_argument("The retain until date must be in the future!",
                                   "x-amz-object-lock-retain-until-date", http_date(until))
        if require_checksum and not _checksum_header_given(params):
            raise invalid_request("Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
                                  "with Object Lock parameters")
        lock = {}
        if mode is not None:
            lock.update(Mode=mode, RetainUntilDate=until)
        if hold is not None:
            lock["LegalHold"] = hold
        return lock

    @staticmethod
    def lock_blocks(version: ObjectVersion, now: float, bypass_governance: bool = False) -> bool:
        """Whether Object Lock forbids deleting (or overwriting the lock
        of) this version."""
        lock = version.lock or {}
        if lock.get("LegalHold") == "ON":
            return True
        until = lock.get("RetainUntilDate")
        if lock.get("Mode") and until and until > now:
            return not (lock["Mode"] == "GOVERNANCE" and bypass_governance)
        return False

    # -- writing -----------------------------------------------------------------

    async def _write_version(self, ctx, bucket: Bucket, key: str, source, params: dict, fields: dict,
                             choice, req: checksums.Requested, size: int):
        """Encrypt `source` into a new piece, check what the client said of
        it, then commit the version (conditional writes checked in the same
        transaction). Returns (version id, protection, Written)."""
        protection = await self.protect(ctx, bucket, key, choice)
        if size > THREAD_ABOVE:
            written = await asyncio.to_thread(checksums.write, self.object_blobs, source, protection.data_key,
                                              req.algorithm)
            return self._commit_written(bucket, key, params, fields, protection, req, written)
        # (measured: for small bodies a thread hop costs more than the loop
        # loses to the blob store's fsync.) One transaction for the piece and
        # the version: a small piece is a row of s3_inline, and its own
        # commit would cost as much as the version's.
        with self.storage.tx():
            written = checksums.write(self.object_blobs, source, protection.data_key, req.algorithm)
            return self._commit_written(bucket, key, params, fields, protection, req, written, own_unit=False)

    def _commit_written(self, bucket: Bucket, key: str, params: dict, fields: dict, protection,
                        req: checksums.Requested, written, own_unit: bool = True):
        """Check the written piece and commit its version: in a unit of its
        own, or (own_unit False) in the caller's, which rolls back whole."""
        try:
            checksums.verify(req, written.md5, written.checksums)
            fields.update(size=written.size, etag=self.etag_of(written.md5, protection.sse),
                          pieces=[[written.blob, written.size]], sse=protection.sse,
                          checksums={req.algorithm: written.checksums[req.algorithm], "type": "FULL_OBJECT"})
            with self.storage.tx() if own_unit else contextlib.nullcontext():
                if params.get("IfMatch") is not None or params.get("IfNoneMatch") is not None:
                    conditions.check_write(params, self.latest(bucket.name, key), key)
                version_id = self.commit_version(bucket, key, fields)
        except BaseException:
            self.object_blobs.delete(written.blob)
            raise
        return version_id, protection, written

    async def PutObject(self, ctx, params, event: str = "ObjectCreated:Put"):
        bucket = self.owned_bucket(ctx, params)
        key = params["Key"]
        check_key(key)
        body = params.get("Body")
        size = body_size(body)
        if size > MAX_SINGLE_PUT:
            raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400,
                           ProposedSize=size, MaxSizeAllowed=MAX_SINGLE_PUT)
        if params.get("WriteOffsetBytes") is not None:
            raise s3_error("NotImplemented", "A header you provided implies functionality that is not implemented",
                           501, Header="x-amz-write-offset-bytes")
        conditions.check_write_headers(params)
        now = self.clock.now()
        fields = {
            "storage_class": check_storage_class(params.get("StorageClass")),
            "headers": content_headers(params),
            "metadata": user_metadata(params),
            "tags": tagging.from_header(params.get("Tagging")),
            # (kept to the millisecond: `aws s3 sync` compares it with file
            # times, and a second's rounding would make it upload again)
            "last_modified": now,
        }
        owner_account = self.object_owner(ctx, bucket, params)
        fields["owner"] = canonical_id(owner_account)
        acl = self.check_acl_headers(bucket, params, owner_account)
        if acl is not None:
            fields["headers"]["_acl"] = acl
        fields["lock"] = self.lock_for_write(bucket, params, now)
        req = checksums.requested(params)
        choice = self.sse_choice(bucket, params)
        version_id, protection, written = await self._write_version(
            ctx, bucket, key, body if body is not None else b"", params, fields, choice, req, size)
        self._event(ctx, bucket, event, None, key=key, size=written.size, etag=fields["etag"],
                    version_id=version_id)
        out = {"ETag": fields["etag"]}
        out.update(checksums.response_fields(fields["checksums"]))
        out.update(self.sse_response(protection.sse, with_context=True))
        if bucket.versioning == "Enabled":
            out["VersionId"] = version_id
        return out

    # -- reading -----------------------------------------------------------------

    async def GetObject(self, ctx, params):
        return await self._read(ctx, params, head=False)

    async def HeadObject(self, ctx, params):
        return await self._read(ctx, params, head=True)

    async def _read(self, ctx, params: dict, head: bool) -> dict:
        reject_sse_headers(ctx.request)
        bucket = self.owned_bucket(ctx, params)
        key = params["Key"]
        version = self.find_version(bucket, key, params.get("VersionId"), "HEAD" if head else "GET")
        overrides = {OVERRIDES[name]: params[name] for name in OVERRIDES if params.get(name) is not None}
        if overrides and ctx.principal.type == "Anonymous":
            raise invalid_request("Request specific response headers cannot be used for anonymous GET requests.")
        customer = read_customer_key(params, version.sse)
        data_key = None
        if customer is not None:
            data_key = await self.unprotect(ctx, bucket, key, version.sse, customer)  # 403 for the wrong key
        conditions.check_read(params, version.etag, version.last_modified, self.clock.now())
        restore = self.restore_state(version)  # (None unless archived)
        if not head and restore is not None and not restore.readable:
            raise s3_error("InvalidObjectState", "The operation is not valid for the object's storage class", 403,
                           StorageClass=version.storage_class)
        out = self.object_headers(bucket, version)
        if restore is not None and restore.header is not None:
            out["Restore"] = restore.header
        part_number = params.get("PartNumber")
        if part_number is not None and params.get("Range"):
            raise conditions.range_with_part()
        byte_range = conditions.parse_range(params.get("Range"), version.size)
        part = None
        if part_number is not None:
            start, end, count = conditions.part_range(version.parts, version.size, part_number)
            byte_range = (start, end) if version.size else None
            if version.parts:
                out["PartsCount"] = count
                part = next((p for p in version.parts if p.get("PartNumber") == part_number), None)
        if (params.get("ChecksumMode") or "").upper() == "ENABLED":
            if part is not None:
                values = {alg: part[checksums.member(alg)] for alg in checksums.ALGORITHMS
                          if part.get(checksums.member(alg))}
                out.update(checksums.response_fields({**values, "type": version.checksums.get("type")}))
            elif byte_range is None or byte_range == (0, version.size - 1):
                # A part of the data has no checksum of its own.
                out.update(checksums.response_fields(version.checksums))
        length = version.size
        if byte_range is not None:
            start, end = byte_range
            length = end - start + 1
            out["ContentRange"] = f"bytes {start}-{end}/{version.size}"
            out["__status__"] = 206
        out["ContentLength"] = length
        if customer is not None:
            out["SSECustomerAlgorithm"], out["SSECustomerKeyMD5"] = "AES256", customer.md5
        for name, value in overrides.items():
            out[name] = http_date(value) if name == "Expires" else value
        if head:
            return out
        if data_key is None:
            data_key = await self.unprotect(ctx, bucket, key, version.sse)
        start, stop = (byte_range[0], byte_range[1] + 1) if byte_range is not None else (0, version.size)
        pinned = PinnedBlobs(self.object_blobs, version.pieces)
        out["Body"] = StreamBody(length, objectdata.read_pieces(pinned, version.pieces, data_key, start, stop),
                                 close=pinned.close)
        return out

    def check_copy_source_readable(self, source: ObjectVersion) -> None:
        """An archived source is copied only while a restored copy exists."""
        restore = self.restore_state(source)
        if restore is not None and not restore.readable:
            raise s3_error("InvalidObjectState", "Operation is not valid for the source object's storage class", 403,
                           StorageClass=source.storage_class)

    def object_headers(self, bucket: Bucket, version: ObjectVersion) -> dict:
        """What GET and HEAD say of an object besides its bytes."""
        out = {"AcceptRanges": "bytes", "LastModified": version.last_modified, "ETag": version.etag}
        for name, value in version.headers.items():
            if not name.startswith("_"):
                out[name] = value
        if version.metadata:
            out["Metadata"] = dict(version.metadata)
        if bucket.versioning:
            out["VersionId"] = version.version_id
        if version.storage_class != "STANDARD":
            out["StorageClass"] = version.storage_class
        out.update(self.sse_response(version.sse))
        if version.tags:
            out["TagCount"] = len(version.tags)
        lock = version.lock or {}
        if lock.get("Mode"):
            out["ObjectLockMode"] = lock["Mode"]
            out["ObjectLockRetainUntilDate"] = lock["RetainUntilDate"]
        if lock.get("LegalHold"):
            out["ObjectLockLegalHoldStatus"] = lock["LegalHold"]
        return out

    # -- deleting ----------------------------------------------------------------

    def _check_bypass(self, ctx, bucket: Bucket, key: str, params: dict) -> bool:
        bypass = params.get("BypassGovernanceRetention")
        if bypass is not None and not bucket.object_lock:
            raise invalid_argument("x-amz-bypass-governance-retention is only applicable to Object Lock enabled "
                                   "buckets.", "x-amz-bypass-governance-retention", None)
        if bypass:
            self._authorize(ctx, "s3:BypassGovernanceRetention", bucket.name, key)
        return bool(bypass)

    def delete_one(self, ctx, bucket: Bucket, key: str, version_id: str | None, bypass: bool,
                   if_match: str | None = None) -> dict:
        """DeleteObject's effect on one key; returns DeleteObject's output
        members. Call inside storage.tx()."""
        now = self.clock.now()
        if version_id is None:
            current = self.latest(bucket.name, key)
            if if_match is not None and current is not None and not current.delete_marker and \
                    not conditions.etag_matches(if_match, current.etag):
                raise conditions.precondition_failed("If-Match")
            if not bucket.versioning:
                if current is not None:
                    self.remove_version(bucket.name, key, current.version_id)
                    self._event(ctx, bucket, "ObjectRemoved:Delete", None, key=key)
                return {}
            marker = self.commit_version(bucket, key, {"delete_marker": True, "owner": canonical_id(bucket.account),
                                                       "last_modified": now})
            self._event(ctx, bucket, "ObjectRemoved:DeleteMarkerCreated", None, key=key, version_id=marker)
            return {"DeleteMarker": True, "VersionId": marker}
        if not bucket.versioning and version_id != "null":
            raise invalid_argument("Invalid version id specified", "versionId", version_id)
        found = self.version(bucket.name, key, version_id)
        if found is None:
            if not bucket.versioning or self.latest(bucket.name, key) is None:
                return {"VersionId": version_id} if bucket.versioning else {}
            raise invalid_argument("Invalid version id specified", "versionId", version_id)
        if if_match is not None and not found.delete_marker and not conditions.etag_matches(if_match, found.etag):
            raise conditions.precondition_failed("If-Match")
        if not found.delete_marker and self.lock_blocks(found, now, bypass):
            raise s3_error("AccessDenied", LOCK_PROTECTED, 403)
        self.remove_version(bucket.name, key, version_id)
        self._event(ctx, bucket, "ObjectRemoved:Delete", None, key=key, version_id=version_id)
        out = {"VersionId": version_id} if bucket.versioning else {}
        if found.delete_marker:
            out["DeleteMarker"] = True
        return out

    def DeleteObject(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        key = params["Key"]
        bypass = self._check_bypass(ctx, bucket, key, params)
        with self.storage.tx():
            return self.delete_one(ctx, bucket, key, params.get("VersionId"), bypass, params.get("IfMatch"))

    def DeleteObjects(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        checksums.check_body(ctx.request, _body_bytes(ctx.request))
        delete = params.get("Delete") or {}
        objects = delete.get("Objects") or []
        if not objects or len(objects) > MAX_DELETE_OBJECTS:
            raise malformed_xml()
        bypass = params.get("BypassGovernanceRetention")
        if bypass is not None and not bucket.object_lock:
            raise invalid_argument("x-amz-bypass-governance-retention is only applicable to Object Lock enabled "
                                   "buckets.", "x-amz-bypass-governance-retention", None)
        quiet = bool(delete.get("Quiet"))
        deleted, errors = [], []
        for item in objects:
            key = item.get("Key")
            if key is None:
                raise malformed_xml()
            version_id = item.get("VersionId")
            entry = {"Key": key}
            if version_id is not None:
                entry["VersionId"] = version_id
            try:
                action = "s3:DeleteObjectVersion" if version_id is not None else "s3:DeleteObject"
                try:
                    self._authorize(ctx, action, bucket.name, key)
                    if bypass:
                        self._authorize(ctx, "s3:BypassGovernanceRetention", bucket.name, key)
                except AwsError:
                    # (a key's denial in the result says no more than this)
                    raise s3_error("AccessDenied", "Access Denied", 403) from None
                if version_id is not None and bucket.versioning and \
                        self.version(bucket.name, key, version_id) is None:
                    raise s3_error("NoSuchVersion", "The specified version does not exist.", 404)
                if version_id is not None and not bucket.versioning and version_id != "null":
                    raise s3_error("NoSuchVersion", "The specified version does not exist.", 404)
                with self.storage.tx():
                    out = self.delete_one(ctx, bucket, key, version_id, bool(bypass), item.get("ETag"))
            except AwsError as err:
                errors.append({**entry, "Code": err.code, "Message": err.message})
                continue
            if out.get("DeleteMarker"):
                entry["DeleteMarker"] = True
                entry["DeleteMarkerVersionId"] = out["VersionId"]
            if not quiet:
                deleted.append(entry)
        result = {}
        if deleted:
            result["Deleted"] = deleted
        if errors:
            result["Errors"] = errors
        return result

    # -- copying -----------------------------------------------------------------

    async def CopyObject(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        key = params["Key"]
        check_key(key)
        conditions.check_write_headers(params)
        src_bucket_name, src_key, src_version_id = parse_copy_source(params["CopySource"])
        src_bucket = self.bucket(ctx, src_bucket_name)
        expected = params.get("ExpectedSourceBucketOwner")
        if expected is not None and expected != src_bucket.account:
            raise s3_error("AccessDenied", "Access Denied", 403)
        self._authorize(ctx, "s3:GetObjectVersion" if src_version_id is not None else "s3:GetObject",
                        src_bucket.name, src_key)
        try:
            source = self.find_version(src_bucket, src_key, src_version_id, "GET")
        except AwsError as err:
            if err.code == "MethodNotAllowed":
                raise invalid_request("The source of a copy request may not specifically refer to a delete marker "
                                      "by version id.") from None
            raise
        self.check_copy_source_readable(source)
        now = self.clock.now()
        conditions.check_copy_source(params, source.etag, source.last_modified, now)
        source_customer = read_customer_key(params, source.sse, prefix="CopySourceSSECustomer")
        if source.size > MAX_SINGLE_PUT:
            raise invalid_request("The specified copy source is larger than the maximum allowable size for a copy "
                                  f"source: {MAX_SINGLE_PUT}")
        metadata_directive = params.get("MetadataDirective") or "COPY"
        tagging_directive = params.get("TaggingDirective") or "COPY"
        if metadata_directive not in ("COPY", "REPLACE"):
            raise invalid_argument("Unknown metadata directive.", "x-amz-metadata-directive", metadata_directive)
        if tagging_directive not in ("COPY", "REPLACE"):
            raise invalid_argument("Unknown tag directive.", "x-amz-tagging-directive", tagging_directive)
        target_customer = customer_key(params, sse_value=params.get("ServerSideEncryption"))
        if src_bucket.name == bucket.name and src_key == key and source.is_latest and not any((
                metadata_directive == "REPLACE", params.get("StorageClass"), params.get("ServerSideEncryption"),
                params.get("SSEKMSKeyId"), target_customer, params.get("WebsiteRedirectLocation"),
                self.get_config(bucket.name, "encryption"))):
            raise invalid_request("This copy request is illegal because it is trying to copy an object to itself "
                                  "without changing the object's metadata, storage class, website redirect location "
                                  "or encryption attributes.")
        if metadata_directive == "REPLACE":
            headers, metadata = content_headers(params), user_metadata(params)
        else:
            headers = {k: v for k, v in source.headers.items()
                       if k != "WebsiteRedirectLocation" and not k.startswith("_")}
            if params.get("WebsiteRedirectLocation") is not None:
                headers["WebsiteRedirectLocation"] = content_headers(params)["WebsiteRedirectLocation"]
            metadata = dict(source.metadata)
        tags = tagging.from_header(params.get("Tagging")) if tagging_directive == "REPLACE" else dict(source.tags)
        fields = {"storage_class": check_storage_class(params.get("StorageClass")), "headers": headers,
                  "metadata": metadata, "tags": tags, "last_modified": now}
        owner_account = self.object_owner(ctx, bucket, params)
        fields["owner"] = canonical_id(owner_account)
        acl = self.check_acl_headers(bucket, params, owner_account)
        if acl is not None:
            fields["headers"]["_acl"] = acl
        fields["lock"] = self.lock_for_write(bucket, params, now, require_checksum=False)
        algorithm = (params.get("ChecksumAlgorithm") or "").upper() or \
            next((alg for alg in checksums.ALGORITHMS if alg in source.checksums), checksums.DEFAULT)
        if algorithm not in checksums.ALGORITHMS:
            raise invalid_request(checksums.UNSUPPORTED)
        choice = self.sse_choice(bucket, params, inherit_bucket_key=False)
        source_key = await self.unprotect(ctx, src_bucket, src_key, source.sse, source_customer)
        plaintext = objectdata.read_pieces(self.object_blobs, source.pieces, source_key)
        req = checksums.Requested(algorithm, None, None)
        version_id, protection, written = await self._write_version(
            ctx, bucket, key, plaintext, params, fields, choice, req, source.size)
        self._event(ctx, bucket, "ObjectCreated:Copy", None, key=key, size=written.size, etag=fields["etag"],
                    version_id=version_id)
        result = {"ETag": fields["etag"], "LastModified": fields["last_modified"]}
        result.update(checksums.response_fields(fields["checksums"]))
        out = {"CopyObjectResult": result}
        out.update(self.sse_response(protection.sse, with_context=True))
        if bucket.versioning == "Enabled":
            out["VersionId"] = version_id
        if src_bucket.versioning and source.version_id != "null":
            out["CopySourceVersionId"] = source.version_id
        return out


class PinnedBlobs:
    """The blob store as a download sees it: the pieces' files opened when
    the request is answered, so a version overwritten or deleted while its
    bytes stream out (its files swept) still reads to the end."""

    MAX_PINNED = 64   # (a many-part object opens the rest as it goes)

    def __init__(self, blobs, pieces: list):
        self._blobs = blobs
        self._open = {}
        self._rows = {}
        for blob, _ in pieces[:self.MAX_PINNED]:
            try:
                if objectdata.is_row(blob):
                    self._rows[blob] = blobs.row(blob)
                else:
                    self._open[blob] = blobs.open(blob)
            except FileNotFoundError:
                pass

    def open(self, blob: str):
        data = self._rows.pop(blob, None)
        if data is not None:
            return io.BytesIO(data)
        handle = self._open.pop(blob, None)
        return handle if handle is not None else self._blobs.open(blob)

    def row(self, blob: str) -> bytes:
        data = self._rows.pop(blob, None)
        return data if data is not None else self._blobs.row(blob)

    def cipher(self, key: bytes):
        return self._blobs.cipher(key)

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()


def _body_bytes(request) -> bytes:
    body = request.body
    if hasattr(body, "read"):
        return body.read()
    return bytes(body or b"")


def _add_years(when: float, years: int) -> float:
    import datetime as _dt

    moment = _dt.datetime.fromtimestamp(when, _dt.UTC)
    try:
        moment = moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        moment = moment.replace(year=moment.year + years, day=28)
    return moment.timestamp()
