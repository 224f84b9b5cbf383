"""Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
ListParts, ListMultipartUploads, AbortMultipartUpload and
CompleteMultipartUpload.

An upload is a row of `s3_uploads` holding everything PutObject would have
taken from its headers (content headers, metadata, tags, ACL, lock, storage
class, checksum algorithm and type) and, in `sse`, its data key, made at
CreateMultipartUpload by sse.py's `protect` and kept sealed exactly as an
object's is: every part is encrypted under that one key, and the completed
object keeps the same `sse`. Each part is one piece of the blob store
(objectdata.write_piece) and a row of `s3_parts`; a part uploaded again
replaces the earlier one, whose file goes to the sweep.

Completing commits the object version (commit_version) with the listed
parts' pieces in order: no data is copied. Its ETag is the MD5 of the parts'
binary ETags, "-N". Checksums: COMPOSITE is the algorithm over the parts'
binary checksums, "-N"; FULL_OBJECT (CRC32, CRC32C, CRC64NVME) is the CRC of
the whole object, combined from the parts' CRCs and sizes (crc_combine),
never by reading the data again. An upload created without an algorithm
gets S3's default, a full-object CRC64NVME, the same way. Parts the
Complete request leaves out are discarded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import secrets
from dataclasses import dataclass
from itertools import islice
from urllib.parse import quote

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.s3 import checksums as integrity
from cloudlet.services.s3 import conditions, objectdata, tagging
from cloudlet.services.s3.common import (
    canonical_id,
    invalid_argument,
    invalid_request,
    malformed_xml,
    s3_error,
)
from cloudlet.services.s3.lifecycle import DAY, LIFECYCLE, RuleFilter
from cloudlet.services.s3.objects import (
    check_key,
    check_storage_class,
    content_headers,
    parse_copy_source,
    user_metadata,
)
from cloudlet.services.s3.sse import SSE_C, Encryption, customer_key, read_customer_key

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PART_NUMBER = 10000
MAX_LISTED = 1000
THREAD_ABOVE = 1 << 20   # parts larger than this are encrypted off the event loop

# What a CreateMultipartUpload may name (S3's own list in its error).
UPLOAD_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
CRC_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")
DEFAULT_CHECKSUM = integrity.DEFAULT

UPLOAD_COLUMNS = ("upload_id, bucket, key, initiated, owner, initiator, storage_class, headers, metadata, sse, "
                  "tags, lock, checksum_algorithm, checksum_type")


@dataclass
class Upload:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    owner: str              # canonical ID of the account that will own the object
    initiator: dict         # {"ID": ..., "DisplayName": ...} as the listings show it
    storage_class: str
    headers: dict
    metadata: dict
    sse: dict
    tags: dict
    lock: dict              # explicit lock headers only (a bucket default applies at completion)
    checksum_algorithm: str | None
    checksum_type: str | None

    @classmethod
    def from_row(cls, row) -> Upload:
        v = list(row)
        for i in (5, 7, 8, 9, 10, 11):
            v[i] = orjson.loads(v[i])
        return cls(*v)

    @property
    def part_algorithm(self) -> str:
        """What each part is digested with: the upload's algorithm, or the
        CRC64NVME S3 gives an upload without one."""
        return self.checksum_algorithm or DEFAULT_CHECKSUM


# -- errors -------------------------------------------------------------------------

def no_such_upload(upload_id: str) -> AwsError:
    return s3_error("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the "
                                    "upload may have been aborted or completed.", 404, UploadId=upload_id)


def invalid_part(upload_id: str, number, etag: str) -> AwsError:
    return s3_error("InvalidPart", "One or more of the specified parts could not be found.  The part may not "
                                   "have been uploaded, or the specified entity tag may not match the part's "
                                   "entity tag.", 400, UploadId=upload_id, PartNumber=number, ETag=etag)


def bad_digest(message: str) -> AwsError:
    return s3_error("BadDigest", message, 400)


def check_part_number(number) -> int:
    if number is None or not 1 <= number <= MAX_PART_NUMBER:
        raise invalid_argument("Part number must be an integer between 1 and 10000, inclusive", "partNumber",
                               "null" if number is None else str(number))
    return number


# -- checksums ------------------------------------------------------------------------

def decode_digest(alg: str, value: str) -> bytes | None:
    """The raw digest a checksum value carries, or None unless it is the
    canonical base64 of a digest of the algorithm's size (S3 refuses stray
    characters, wrong lengths and non-zero padding bits alike)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    if len(raw) != integrity.WIDTH.get(alg, -1) or base64.b64encode(raw).decode() != value:
        return None
    return raw


def composite_checksum(alg: str, part_values: list[str]) -> str:
    """S3's COMPOSITE checksum: the algorithm over the parts' binary
    checksums, then "-<number of parts>"."""
    joined = b"".join(base64.b64decode(v) for v in part_values)
    if alg in CRC_ALGORITHMS:
        value = objectdata.encode_crc(alg, objectdata.crc(alg, joined))
    else:
        value = base64.b64encode(hashlib.new(alg.lower(), joined).digest()).decode()
    return f"{value}-{len(part_values)}"


def full_object_crc(alg: str, parts: list[tuple[str, int]]) -> str:
    """The CRC of the concatenated parts, from each part's (CRC, size)."""
    total = None
    for value, size in parts:
        crc = int.from_bytes(base64.b64decode(value), "big")
        total = crc if total is None else crc_combine(alg, total, crc, size)
    return objectdata.encode_crc(alg, total or 0)


# CRC(A || B) from CRC(A), CRC(B) and len(B), for the reflected CRCs with
# all-ones init and final XOR that S3 uses (zlib's crc32_combine: multiply
# CRC(A) by x^(8 len(B)) modulo the polynomial, then add CRC(B)).
_REFLECTED_POLY = {"CRC32": (0xEDB88320, 32), "CRC32C": (0x82F63B78, 32), "CRC64NVME": (0x9A6C9329AC4BC9B5, 64)}


def crc_combine(alg: str, crc1: int, crc2: int, len2: int) -> int:
    from awscrt import checksums as crt

    native = getattr(crt, "combine_" + alg.lower(), None)   # awscrt >= 0.28 does it in C
    if native is not None:
        return native(crc1, crc2, len2)
    return crc_combine_py(alg, crc1, crc2, len2)


def crc_combine_py(alg: str, crc1: int, crc2: int, len2: int) -> int:
    poly, width = _REFLECTED_POLY[alg]
    one = 1 << (width - 1)            # the polynomial 1 (x^0), bit-reflected

    def multiply(a: int, b: int) -> int:   # a * b mod p
        m, product = one, 0
        while m:
            if a & m:
                product ^= b
            m >>= 1
            b = (b >> 1) ^ poly if b & 1 else b >> 1
        return product

    power = one >> 1                  # x^1
    for _ in range(3):                # x^8: one byte
        power = multiply(power, power)
    shift, n = one, len2              # x^(8 len2), by squaring
    while n:
        if n & 1:
            shift = multiply(power, shift)
        power = multiply(power, power)
        n >>= 1
    return multiply(shift, crc1) ^ crc2


def write_part(blobs, source, data_key: bytes, algorithms) -> objectdata.Written:
    """A part's piece, digested with every algorithm asked (objectdata
    computes the common ones; checksums.Extra the others)."""
    algorithms = tuple(dict.fromkeys(a for a in algorithms if a))
    extras = [integrity.Extra(a) for a in algorithms if a not in integrity.NATIVE]
    for extra in extras:
        source = integrity.tee(source, extra)
    written = objectdata.write_piece(blobs, source, data_key, [a for a in algorithms if a in integrity.NATIVE])
    for extra in extras:
        written.checksums[extra.algorithm] = extra.value()
    return written


def checksum_settings(params: dict) -> tuple[str | None, str | None]:
    """(algorithm, type) of a CreateMultipartUpload, by S3's rules: CRC64NVME
    is FULL_OBJECT only, SHA1 and SHA256 COMPOSITE only, CRC32 and CRC32C
    either (COMPOSITE unless asked)."""
    alg, kind = params.get("ChecksumAlgorithm"), params.get("ChecksumType")
    if kind is not None and kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise invalid_request("Value for x-amz-checksum-type header is invalid.")
    if alg is None:
        if kind is not None:
            raise invalid_request("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm "
                                  "header.")
        return None, None
    if "," in alg:
        raise invalid_request("Invalid types are specified in x-amz-checksum-algorithm header.")
    alg = alg.upper()
    if alg not in UPLOAD_ALGORITHMS:
        raise invalid_request("Checksum algorithm provided is unsupported. Please try again with any of the valid "
                              "types: [CRC32, CRC32C, SHA1, SHA256]")
    kind = kind or ("FULL_OBJECT" if alg == "CRC64NVME" else "COMPOSITE")
    if kind == "COMPOSITE" and alg == "CRC64NVME":
        raise invalid_request("The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.")
    if kind == "FULL_OBJECT" and alg not in CRC_ALGORITHMS:
        raise invalid_request(f"The FULL_OBJECT checksum type cannot be used with the {alg.lower()} checksum "
                              "algorithm.")
    return alg, kind


def _checksums_given(part: dict) -> dict[str, str]:
    return {a: part[integrity.member(a)] for a in integrity.ALGORITHMS if part.get(integrity.member(a)) is not None}


# -- the rest of the request -------------------------------------------------------------

def initiator(ctx) -> dict:
    """Who started an upload, as S3 shows it: an account by its canonical
    ID, an IAM identity by its ARN."""
    p = ctx.principal
    if p.type in ("Root", "Anonymous", "AWSService"):
        return {"ID": canonical_id(ctx.account_id)}
    return {"ID": p.arn, "DisplayName": p.name or p.arn.rsplit("/", 1)[-1]}


def check_bucket_owner(bucket, params: dict, member: str = "ExpectedBucketOwner") -> None:
    expected = params.get(member)
    if expected is not None and expected != bucket.account:
        raise s3_error("AccessDenied", "Access Denied", 403)


def copy_range(text: str | None, size: int) -> tuple[int, int]:
    """[start, stop) of the source bytes a part copy takes."""
    if text is None:
        return 0, size
    unit, _, spec = text.strip().partition("=")
    first, dash, last = spec.partition("-")
    if unit != "bytes" or not dash or not first.isdigit() or not last.isdigit():
        raise invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first "
                               "and last are the zero-based offsets of the first and last bytes to copy",
                               "x-amz-copy-source-range", text)
    start, end = int(first), int(last)
    if start > end or end >= size:
        raise invalid_argument(f"Range specified is not valid for source object of size: {size}",
                               "x-amz-copy-source-range", text)
    return start, end + 1


class MultipartOps(Encryption):
    """Mixed into S3Service (with ObjectOps, whose ACL, lock and source
    authorization hooks it uses when present)."""

    # -- rows --------------------------------------------------------------------

    def find_upload(self, bucket: str, key: str, upload_id: str | None) -> Upload:
        row = self.storage.one(f"SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE upload_id = ?", (upload_id or "",))
        if row is None or row[1] != bucket or row[2] != key:
            raise no_such_upload(upload_id or "")
        return Upload.from_row(row)

    def _stored_parts(self, upload_id: str) -> dict[int, tuple]:
        """part number -> (size, etag, checksums, blob)."""
        rows = self.storage.all("SELECT part_number, size, etag, checksums, blob FROM s3_parts WHERE upload_id = ?",
                                (upload_id,))
        return {r[0]: (r[1], r[2], orjson.loads(r[3]), r[4]) for r in rows}

    def _store_part(self, upload: Upload, number: int, written: objectdata.Written, now: float) -> str:
        """Record a written piece as part `number`, replacing any earlier
        one; the part's ETag. The upload may have been completed or aborted
        while the data came in: then the piece goes."""
        part_etag = self.etag_of(written.md5, upload.sse)
        values = {upload.part_algorithm: written.checksums[upload.part_algorithm]}
        try:
            with self.storage.tx():
                if self.storage.one("SELECT 1 FROM s3_uploads WHERE upload_id = ?", (upload.upload_id,)) is None:
                    raise no_such_upload(upload.upload_id)
                old = self.storage.one("SELECT blob, size FROM s3_parts WHERE upload_id = ? AND part_number = ?",
                                       (upload.upload_id, number))
                if old is not None:
                    self.discard_pieces([list(old)])
                self.storage.execute(
                    "INSERT INTO s3_parts (upload_id, part_number, size, etag, last_modified, checksums, blob) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (upload_id, part_number) DO UPDATE SET "
                    "size = excluded.size, etag = excluded.etag, last_modified = excluded.last_modified, "
                    "checksums = excluded.checksums, blob = excluded.blob",
                    (upload.upload_id, number, written.size, part_etag, now, orjson.dumps(values).decode(),
                     written.blob))
        except BaseException:
            self.object_blobs.delete(written.blob)
            raise
        return part_etag

    @staticmethod
    def _part_key(upload: Upload, params: dict):
        """The customer key a part request must repeat for an SSE-C upload
        (and must not send otherwise)."""
        given = customer_key(params)
        if (upload.sse.get("alg") == SSE_C) != (given is not None):
            raise invalid_request("The multipart upload initiate requested encryption. Subsequent part requests "
                                  "must include the appropriate encryption parameters.")
        if given is not None and given.md5 != upload.sse.get("md5"):
            raise invalid_request("The provided encryption parameters did not match the ones used originally.")
        return given

    def _abort_rule(self, bucket: str, key: str, initiated: float) -> tuple[float, str] | None:
        """(AbortDate, AbortRuleId) from the bucket's lifecycle rule that will
        abort this upload, if one does: the first midnight UTC at least
        DaysAfterInitiation days after initiation."""
        for rule in (self.get_config(bucket, LIFECYCLE) or {}).get("Rules") or []:
            days = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
            if rule.get("Status") != "Enabled" or days is None or not key.startswith(RuleFilter(rule).prefix):
                continue
            due = initiated + int(days) * DAY
            return math.ceil(due / DAY) * DAY, rule.get("ID") or ""
        return None

    # -- CreateMultipartUpload ------------------------------------------------------

    async def CreateMultipartUpload(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        key = params["Key"]
        check_key(key)
        storage_class = check_storage_class(params.get("StorageClass"))
        algorithm, kind = checksum_settings(params)
        headers = content_headers(params)
        metadata = user_metadata(params)
        tags = tagging.from_header(params.get("Tagging"))
        now = self.clock.now()
        acl_check = getattr(self, "check_acl_headers", None)
        acl = acl_check(bucket, params) if acl_check is not None else None
        if acl is not None:
            headers["_acl"] = acl
        lock = {}
        if any(params.get(n) is not None for n in ("ObjectLockMode", "ObjectLockRetainUntilDate",
                                                   "ObjectLockLegalHoldStatus")):
            lock = self.lock_for_write(bucket, params, now, require_checksum=False)
        protection = await self.protect(ctx, bucket, key, self.sse_choice(bucket, params))
        upload_id = secrets.token_urlsafe(48)
        with self.storage.tx():
            self.bucket(ctx, bucket.name)   # (it may have gone while KMS was asked)
            self.storage.execute(
                f"INSERT INTO s3_uploads ({UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (upload_id, bucket.name, key, now, canonical_id(bucket.account), orjson.dumps(initiator(ctx)).decode(),
                 storage_class, orjson.dumps(headers).decode(), orjson.dumps(metadata).decode(),
                 orjson.dumps(protection.sse).decode(), orjson.dumps(tags).decode(), orjson.dumps(lock).decode(),
                 algorithm, kind))
        out = {"Bucket": bucket.name, "Key": key, "UploadId": upload_id,
               **self.sse_response(protection.sse, with_context=True)}
        if algorithm:
            out["ChecksumAlgorithm"], out["ChecksumType"] = algorithm, kind
        abort = self._abort_rule(bucket.name, key, now)
        if abort is not None:
            out["AbortDate"], out["AbortRuleId"] = abort
        return out

    # -- UploadPart ---------------------------------------------------------------------

    async def UploadPart(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        upload = self.find_upload(bucket.name, params["Key"], params.get("UploadId"))
        number = check_part_number(params.get("PartNumber"))
        customer = self._part_key(upload, params)
        req = integrity.requested(params, default=None)
        if upload.checksum_algorithm and req.algorithm != upload.checksum_algorithm:
            raise invalid_request("Checksum Type mismatch occurred, expected checksum Type: "
                                  f"{upload.checksum_algorithm.lower()}, actual checksum Type: "
                                  f"{req.algorithm.lower() if req.algorithm else 'null'}")
        body = params.get("Body")
        size = 0 if body is None else len(body)
        if size > MAX_PART_SIZE:
            raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400,
                           ProposedSize=size, MaxSizeAllowed=MAX_PART_SIZE)
        data_key = await self.unprotect(ctx, bucket, upload.key, upload.sse, customer)
        algorithms = (upload.part_algorithm, req.algorithm)
        if size > THREAD_ABOVE:
            written = await asyncio.to_thread(write_part, self.object_blobs, body, data_key, algorithms)
        else:
            written = write_part(self.object_blobs, body if body is not None else b"", data_key, algorithms)
        try:
            integrity.verify(req, written.md5, written.checksums)
        except AwsError:
            self.object_blobs.delete(written.blob)
            raise
        out = {"ETag": self._store_part(upload, number, written, self.clock.now()), **self.sse_response(upload.sse)}
        if req.algorithm:
            out[integrity.member(req.algorithm)] = written.checksums[req.algorithm]
        return out

    # -- UploadPartCopy -----------------------------------------------------------------

    async def UploadPartCopy(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        src_bucket_name, src_key, src_version = parse_copy_source(params["CopySource"])
        src_bucket = self.bucket(ctx, src_bucket_name)
        check_bucket_owner(src_bucket, params, "ExpectedSourceBucketOwner")
        authorize = getattr(self, "_authorize", None)
        if authorize is not None:
            authorize(ctx, "s3:GetObjectVersion" if src_version is not None else "s3:GetObject", src_bucket.name,
                      src_key)
        try:
            source = self.find_version(src_bucket, src_key, src_version, "GET")
        except AwsError as err:
            if err.code == "MethodNotAllowed":
                raise invalid_request("The source of a copy request may not specifically refer to a delete marker "
                                      "by version id.") from None
            raise
        upload = self.find_upload(bucket.name, params["Key"], params.get("UploadId"))
        number = check_part_number(params.get("PartNumber"))
        self.check_copy_source_readable(source)
        now = self.clock.now()
        conditions.check_copy_source(params, source.etag, source.last_modified, now)
        start, stop = copy_range(params.get("CopySourceRange"), source.size)
        if stop - start > MAX_PART_SIZE:
            raise invalid_request("The specified copy source is larger than the maximum allowable size for a copy "
                                  f"source: {MAX_PART_SIZE}")
        source_customer = read_customer_key(params, source.sse, prefix="CopySourceSSECustomer")
        customer = self._part_key(upload, params)
        source_key = await self.unprotect(ctx, src_bucket, src_key, source.sse, source_customer)
        data_key = await self.unprotect(ctx, bucket, upload.key, upload.sse, customer)

        def copy() -> objectdata.Written:
            data = objectdata.read_pieces(self.object_blobs, source.pieces, source_key, start, stop)
            return write_part(self.object_blobs, data, data_key, (upload.part_algorithm,))

        written = await asyncio.to_thread(copy) if stop - start > THREAD_ABOVE else copy()
        result = {"ETag": self._store_part(upload, number, written, now), "LastModified": now}
        if upload.checksum_algorithm:
            result[integrity.member(upload.checksum_algorithm)] = written.checksums[upload.checksum_algorithm]
        out = {"CopyPartResult": result, **self.sse_response(upload.sse)}
        if src_bucket.versioning and source.version_id != "null":
            out["CopySourceVersionId"] = source.version_id
        return out

    # -- ListParts ------------------------------------------------------------------------

    def ListParts(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        upload = self.find_upload(bucket.name, params["Key"], params.get("UploadId"))
        max_parts, marker = params.get("MaxParts"), params.get("PartNumberMarker")
        if max_parts is not None and max_parts < 0:
            raise invalid_argument("Argument max-parts must be an integer between 0 and 2147483647", "max-parts",
                                   str(max_parts))
        if marker is not None and marker < 0:
            raise invalid_argument("Argument part-number-marker must be an integer between 0 and 2147483647",
                                   "part-number-marker", str(marker))
        limit = MAX_LISTED if max_parts is None else min(max_parts, MAX_LISTED)
        rows = self.storage.all("SELECT part_number, size, etag, last_modified, checksums FROM s3_parts "
                                "WHERE upload_id = ? AND part_number > ? ORDER BY part_number LIMIT ?",
                                (upload.upload_id, marker or 0, limit + 1))
        parts = []
        for number, size, part_etag, modified, values in rows[:limit]:
            part = {"PartNumber": number, "LastModified": modified, "ETag": part_etag, "Size": size}
            alg = upload.checksum_algorithm
            if alg and orjson.loads(values).get(alg):
                part[integrity.member(alg)] = orjson.loads(values)[alg]
            parts.append(part)
        out = {"Bucket": bucket.name, "Key": upload.key, "UploadId": upload.upload_id,
               "PartNumberMarker": marker or 0, "NextPartNumberMarker": parts[-1]["PartNumber"] if parts else 0,
               "MaxParts": limit, "IsTruncated": len(rows) > limit, "Parts": parts, "Initiator": upload.initiator,
               "Owner": {"ID": upload.owner}, "StorageClass": upload.storage_class}
        if upload.checksum_algorithm:
            out["ChecksumAlgorithm"], out["ChecksumType"] = upload.checksum_algorithm, upload.checksum_type
        abort = self._abort_rule(bucket.name, upload.key, upload.initiated)
        if abort is not None:
            out["AbortDate"], out["AbortRuleId"] = abort
        return out

    # -- ListMultipartUploads ------------------------------------------------------------

    def ListMultipartUploads(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        prefix = params.get("Prefix") or ""
        delimiter = params.get("Delimiter") or ""
        key_marker = params.get("KeyMarker") or ""
        # An upload-id marker means nothing without a key marker.
        id_marker = (params.get("UploadIdMarker") or "") if key_marker else ""
        encoding = params.get("EncodingType")
        if encoding is not None and encoding != "url":
            raise invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", encoding)
        max_uploads = params.get("MaxUploads")
        if max_uploads is not None and max_uploads < 0:
            raise invalid_argument("Argument max-uploads must be an integer between 0 and 2147483647", "max-uploads",
                                   str(max_uploads))
        limit = MAX_LISTED if max_uploads is None else min(max_uploads, MAX_LISTED)

        # Uploads are listed by (key, initiated, upload id), after the markers.
        if id_marker:
            row = self.storage.one("SELECT key, initiated FROM s3_uploads WHERE upload_id = ? AND bucket = ?",
                                   (id_marker, bucket.name))
            if row is None or row[0] != key_marker:
                raise invalid_argument("Invalid uploadId marker", "upload-id-marker", id_marker)
            start = (key_marker, row[1], id_marker)
        elif key_marker:
            start = (key_marker, float("inf"), "")
        else:
            start = (prefix, float("-inf"), "")
        if start[0] < prefix:
            start = (prefix, float("-inf"), "")
        entries = list(islice(self._listed_uploads(bucket.name, start, prefix, delimiter, key_marker), limit + 1))
        truncated = len(entries) > limit
        entries = entries[:limit]
        next_key = next_id = ""
        if entries:
            last = entries[-1]
            next_key, next_id = (last.key, last.upload_id) if isinstance(last, Upload) else (last, "")

        def enc(text: str) -> str:
            return quote(text, safe="/") if encoding else text

        out = {"Bucket": bucket.name, "KeyMarker": enc(key_marker), "UploadIdMarker": id_marker,
               "NextKeyMarker": enc(next_key), "NextUploadIdMarker": next_id, "MaxUploads": limit,
               "IsTruncated": truncated,
               "Uploads": [self._upload_entry(e, enc) for e in entries if isinstance(e, Upload)]}
        prefixes = [{"Prefix": enc(e)} for e in entries if isinstance(e, str)]
        if prefixes:
            out["CommonPrefixes"] = prefixes
        if prefix:
            out["Prefix"] = enc(prefix)
        if delimiter:
            out["Delimiter"] = enc(delimiter)
        if encoding:
            out["EncodingType"] = encoding
        return out

    def _listed_uploads(self, bucket: str, start: tuple, prefix: str, delimiter: str, key_marker: str):
        """Uploads (and, with a delimiter, common prefixes as str) after
        position `start`, in order, read a batch at a time."""
        batch = 200
        cursor = start
        while True:
            k, t, u = cursor
            rows = self.storage.all(
                f"SELECT {UPLOAD_COLUMNS} FROM s3_uploads WHERE bucket = ? AND (key > ? OR (key = ? AND "
                "(initiated > ? OR (initiated = ? AND upload_id > ?)))) ORDER BY key, initiated, upload_id LIMIT ?",
                (bucket, k, k, t, t, u, batch))
            for row in rows:
                upload = Upload.from_row(row)
                cursor = (upload.key, upload.initiated, upload.upload_id)
                if not upload.key.startswith(prefix):
                    if upload.key > prefix:
                        return
                    continue
                cut = upload.key.find(delimiter, len(prefix)) if delimiter else -1
                if cut < 0:
                    yield upload
                    continue
                common = upload.key[:cut + len(delimiter)]
                if not key_marker.startswith(common):   # else the previous page ended inside it
                    yield common
                cursor = (common + "\U0010ffff", float("inf"), "")   # past every key under it
                break
            else:
                if len(rows) < batch:
                    return

    @staticmethod
    def _upload_entry(upload: Upload, enc) -> dict:
        entry = {"UploadId": upload.upload_id, "Key": enc(upload.key), "Initiated": upload.initiated,
                 "StorageClass": upload.storage_class, "Owner": {"ID": upload.owner}, "Initiator": upload.initiator}
        if upload.checksum_algorithm:
            entry["ChecksumAlgorithm"], entry["ChecksumType"] = upload.checksum_algorithm, upload.checksum_type
        return entry

    # -- AbortMultipartUpload -------------------------------------------------------------

    def AbortMultipartUpload(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        upload = self.find_upload(bucket.name, params["Key"], params.get("UploadId"))
        when = params.get("IfMatchInitiatedTime")
        if when is not None and math.floor(when) != math.floor(upload.initiated):
            raise conditions.precondition_failed("x-amz-if-match-initiated-time")
        with self.storage.tx():
            parts = self.storage.all("SELECT blob, size FROM s3_parts WHERE upload_id = ?", (upload.upload_id,))
            self.discard_pieces([list(p) for p in parts])
            self.storage.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload.upload_id,))
            self.storage.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload.upload_id,))
        return {}

    # -- CompleteMultipartUpload ----------------------------------------------------------

    def CompleteMultipartUpload(self, ctx, params):
        bucket = self.bucket(ctx, params["Bucket"])
        check_bucket_owner(bucket, params)
        key = params["Key"]
        upload = self.find_upload(bucket.name, key, params.get("UploadId"))
        upload_id = upload.upload_id
        conditions.check_write_headers(params)
        conditions.check_write(params, self.latest(bucket.name, key), key)
        requested = self._requested_parts(upload_id, params.get("MultipartUpload"))
        alg, kind = upload.checksum_algorithm, upload.checksum_type
        if params.get("ChecksumType") is not None and params["ChecksumType"] != kind:
            raise invalid_request(f"The upload was created using the {kind or 'null'} checksum mode. The complete "
                                  "request must use the same checksum mode.")
        object_size = params.get("MpuObjectSize")
        if object_size is not None and object_size < 0:
            raise invalid_request(f"Value for x-amz-mp-object-size header is less than zero: '{object_size}'")

        stored = self._stored_parts(upload_id)
        pieces, parts, part_values = [], [], []
        for index, part in enumerate(requested):
            number = part["PartNumber"]
            given_etag = (part.get("ETag") or "").strip().strip('"')
            found = stored.get(number)
            if found is None or found[1].strip('"') != given_etag:
                raise invalid_part(upload_id, number, given_etag)
            size, part_etag, values, blob = found
            given = _checksums_given(part)
            if alg is None:
                if given:   # nothing to check them against: S3 says the part is not that one
                    raise invalid_part(upload_id, number, given_etag)
            elif alg in given:
                if given[alg] != values.get(alg):
                    raise invalid_part(upload_id, number, given_etag)
            elif kind == "COMPOSITE":
                if given:
                    raise bad_digest(f"The {min(given).lower()} you specified for part {number} did not match what "
                                     "we received.")
                raise invalid_request(f"The upload was created using a {alg.lower()} checksum. The complete request "
                                      f"must include the checksum for each part. It was missing for part {number} in "
                                      "the request.")
            if index < len(requested) - 1 and size < MIN_PART_SIZE:
                raise s3_error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400,
                               ETag=given_etag, PartNumber=number, MinSizeAllowed=MIN_PART_SIZE, ProposedSize=size)
            pieces.append([blob, size])
            part_values.append((values[upload.part_algorithm], size))
            parts.append({"PartNumber": number, "Size": size, "ETag": part_etag,
                          integrity.member(upload.part_algorithm): values[upload.part_algorithm]})

        total = sum(size for _, size in pieces)
        if object_size is not None and object_size != total:
            raise invalid_request(f"The provided 'x-amz-mp-object-size' header value {object_size} does not match "
                                  f"what was computed: {total}")
        object_checksums = self._completed_checksum(upload, part_values, params)
        object_etag = '"' + hashlib.md5(b"".join(bytes.fromhex(p["ETag"].strip('"')) for p in parts)).hexdigest() \
            + f'-{len(parts)}"'
        now = self.clock.now()
        lock = upload.lock
        if not lock and bucket.object_lock and hasattr(self, "lock_for_write"):
            lock = self.lock_for_write(bucket, {}, now, require_checksum=False)   # the bucket's default retention
        fields = {"size": total, "etag": object_etag, "storage_class": upload.storage_class, "owner": upload.owner,
                  "headers": upload.headers, "metadata": upload.metadata, "checksums": object_checksums,
                  "parts": parts, "pieces": pieces, "sse": upload.sse, "tags": upload.tags, "lock": lock,
                  # S3 dates a multipart object from the upload's initiation.
                  "last_modified": math.floor(upload.initiated)}
        listed = {p["PartNumber"] for p in parts}
        with self.storage.tx():
            conditions.check_write(params, self.latest(bucket.name, key), key)
            version_id = self.commit_version(bucket, key, fields)
            self.discard_pieces([[s[3], s[0]] for n, s in stored.items() if n not in listed])
            self.storage.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
            self.storage.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        notify = getattr(self, "notify", None)
        if notify is not None:
            notify(bucket, "ObjectCreated:CompleteMultipartUpload", None, ctx, key=key, size=total,
                   etag=object_etag, version_id=version_id)

        out = {"Location": self._object_location(ctx, bucket.name, key), "Bucket": bucket.name, "Key": key,
               "ETag": object_etag}
        sse = self.sse_response(upload.sse)
        out.update({k: v for k, v in sse.items() if not k.startswith("SSECustomer")})
        if not sse.get("SSEKMSKeyId"):
            # (S3 leaves the checksum out of its answer for SSE-KMS objects.)
            out.update(integrity.response_fields(object_checksums))
        if bucket.versioning == "Enabled":
            out["VersionId"] = version_id
        return out

    def _requested_parts(self, upload_id: str, body: dict | None) -> list[dict]:
        """The Complete request's part list, checked for order and for the
        form of each part's checksum."""
        if body is None:
            raise malformed_xml()
        requested = body.get("Parts") or []
        if not requested:
            raise invalid_request("You must specify at least one part")
        previous = 0
        for part in requested:
            number = part.get("PartNumber")
            if number is None:
                raise malformed_xml()
            if number <= previous:
                raise s3_error("InvalidPartOrder", "The list of parts was not in ascending order. Parts must be "
                                                   "ordered by part number.", 400, UploadId=upload_id)
            previous = number
        for part in requested:
            given = _checksums_given(part)
            if len(given) > 1 or any(decode_digest(a, v) is None for a, v in given.items()):
                raise invalid_argument("Invalid Base64 or multiple checksums present in request", "Checksum",
                                       "".join(f"{a}:{given[a]};" for a in sorted(given)))
        return requested

    def _completed_checksum(self, upload: Upload, part_values: list[tuple[str, int]], params: dict) -> dict:
        """The object's checksum from its parts', checked against one the
        Complete request may carry."""
        alg, kind = upload.checksum_algorithm, upload.checksum_type
        if alg is None:
            # S3's default: a full-object CRC64NVME (a checksum sent with the
            # Complete request of such an upload is not looked at).
            return {DEFAULT_CHECKSUM: full_object_crc(DEFAULT_CHECKSUM, part_values), "type": "FULL_OBJECT"}
        if kind == "COMPOSITE":
            value = composite_checksum(alg, [v for v, _ in part_values])
        else:
            value = full_object_crc(alg, part_values)
        wrong = bad_digest(f"The {alg.lower()} you specified did not match the calculated checksum.")
        for other, given in _checksums_given(params).items():
            if other != alg:
                raise wrong
            text, dash, count = given.rpartition("-") if "-" in given else (given, "", "")
            if decode_digest(alg, text) is None or (dash and not count.isdigit()):
                raise invalid_request(f"Value for {integrity.header(alg)} header is invalid.")
            if kind == "COMPOSITE":
                matches = value == (given if dash else f"{given}-{len(part_values)}")
            else:
                # A full-object value counts as one only with its type named.
                matches = not dash and given == value and params.get("ChecksumType") == "FULL_OBJECT"
            if not matches:
                raise wrong
        return {alg: value, "type": kind}

    @staticmethod
    def _object_location(ctx, bucket: str, key: str) -> str:
        host = ctx.request.header("host") or "s3.amazonaws.com"
        path = quote(key, safe="/~")
        if ctx.extra.get("bucket_from_host"):
            return f"http://{host}/{path}"
        return f"http://{host}/{bucket}/{path}"
