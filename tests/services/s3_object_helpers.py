"""What the S3 object tests share: buckets in a given state, raw header
tweaks on boto3 requests, digests computed here, the data directory."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

from awscrt import checksums as crt

ACCOUNT = "000000000000"
CANONICAL_ID = hashlib.sha256(f"cloudlet-canonical-user:{ACCOUNT}".encode()).hexdigest()
NO_SUCH_KEY = "The specified key does not exist."
PRECONDITION = "At least one of the pre-conditions you specified did not hold"
LOCK_PROTECTED = "Access Denied because object protected by object lock."


def make_bucket(s3, name: str, *, versioning: str | None = None, lock: bool = False) -> str:
    kwargs = {"Bucket": name}
    if lock:
        kwargs["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**kwargs)
    if versioning:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": versioning})
    return name


def error(exc) -> dict:
    """The <Error> document's fields, plus the HTTP status."""
    err = dict(exc.value.response["Error"])
    err["Status"] = exc.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return err


def headers_of(response) -> dict:
    return response["ResponseMetadata"]["HTTPHeaders"]


def etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def checksum(algorithm: str, data: bytes) -> str:
    """S3's base64 form of each checksum, computed independently."""
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crt.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(crt.crc64nvme(data).to_bytes(8, "big"))
    if algorithm in ("SHA1", "SHA256", "SHA512", "MD5"):
        return b64(hashlib.new(algorithm.lower(), data).digest())
    if algorithm == "XXHASH64":
        return b64(crt.XXHash.compute_xxhash64(data))
    if algorithm == "XXHASH3":
        return b64(crt.XXHash.compute_xxhash3_64(data))
    if algorithm == "XXHASH128":
        return b64(crt.XXHash.compute_xxhash3_128(data))
    raise ValueError(algorithm)


def with_headers(client, operation: str, set_headers: dict | None = None, drop: tuple = ()):
    """Change the headers of every `operation` request the client sends
    (after botocore added its own), e.g. to send what no SDK would."""
    def tweak(request, **_):
        for name in drop:
            for existing in list(request.headers.keys()):
                if existing.lower() == name.lower():
                    del request.headers[existing]
        for name, value in (set_headers or {}).items():
            if name in request.headers:
                del request.headers[name]
            request.headers[name] = value

    client.meta.events.register(f"before-send.s3.{operation}", _sender(tweak))
    return client


def _sender(tweak):
    def handler(request, **kwargs):
        tweak(request)
    return handler


def files_containing(root: str, needle: bytes) -> list[str]:
    """Every file under `root` (database, WAL, blobs, ...) holding `needle`."""
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as fh:
                    if needle in fh.read():
                        found.append(path)
            except OSError:
                pass
    return found


def random_body(size: int = 4096) -> bytes:
    """A body no file could hold by accident."""
    marker = b"PLAINTEXT-" + os.urandom(8).hex().encode() + b"-"
    return (marker * (size // len(marker) + 1))[:size]
