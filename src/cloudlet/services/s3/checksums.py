"""Request integrity as S3 checks it: Content-MD5, the x-amz-checksum-*
values (in headers, or trailers the gateway turned into headers) and
x-amz-sdk-checksum-algorithm, with S3's error for each way to get them
wrong. Also the digests objectdata.Digests does not compute (SHA512, MD5,
the xxHashes), fed from the same stream.

When an upload names no checksum, S3 stores a CRC64NVME of it anyway
("default data integrity protections", since December 2024).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterator

from cloudlet.services.s3 import objectdata
from cloudlet.services.s3.common import invalid_argument, invalid_request, s3_error

# Every algorithm S3 takes, in the order its error message lists them.
ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "MD5", "SHA1", "SHA256", "SHA512", "XXHASH128", "XXHASH3", "XXHASH64")
# Those objectdata.Digests computes itself.
NATIVE = frozenset(objectdata.CHECKSUM_ALGORITHMS)
DEFAULT = "CRC64NVME"
# Raw digest sizes, to tell a malformed value from a wrong one.
WIDTH = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "MD5": 16, "SHA1": 20, "SHA256": 32, "SHA512": 64,
         "XXHASH64": 8, "XXHASH3": 8, "XXHASH128": 16}
UNSUPPORTED = ("Checksum algorithm provided is unsupported. Please try again with any of the valid types: ["
               + ", ".join(ALGORITHMS) + "]")


def member(algorithm: str) -> str:
    """The model member holding an algorithm's value (ChecksumCRC32 ...)."""
    return "Checksum" + algorithm


def header(algorithm: str) -> str:
    return "x-amz-checksum-" + algorithm.lower()


class Requested:
    """What an upload asks to be checked: the algorithm to store and the
    value the client computed (None: S3 computes it, nothing to compare)."""

    __slots__ = ("algorithm", "content_md5", "expected")

    def __init__(self, algorithm: str, expected: str | None, content_md5: bytes | None):
        self.algorithm = algorithm
        self.expected = expected
        self.content_md5 = content_md5


def requested(params: dict, default: str | None = DEFAULT) -> Requested:
    """The checksum an upload (PutObject, UploadPart) carries, validated."""
    given = [alg for alg in ALGORITHMS if params.get(member(alg)) is not None]
    if len(given) > 1:
        raise invalid_request("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    sdk = params.get("ChecksumAlgorithm")
    if sdk is not None:
        if not given:
            raise invalid_request("x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or "
                                  "x-amz-trailer headers were found.")
        if sdk.upper() != given[0]:
            raise invalid_request("Value for x-amz-sdk-checksum-algorithm header is invalid.")
    algorithm, expected = (given[0], params[member(given[0])]) if given else (default, None)
    if expected is not None:
        expected = _well_formed(algorithm, expected)
    return Requested(algorithm, expected, content_md5(params.get("ContentMD5")))


def _well_formed(algorithm: str, value: str) -> str:
    if "," in value:
        # A repeated header arrives joined with commas.
        raise invalid_argument("Only one value may be specified.", header(algorithm), value.split(",")[1].strip())
    value = value.strip()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != WIDTH[algorithm]:
        raise invalid_request(f"Value for {header(algorithm)} header is invalid.")
    return value


def content_md5(value: str | None) -> bytes | None:
    """The raw digest of a Content-MD5 header; InvalidDigest if it is not
    the base64 of 16 bytes."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise s3_error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400, **{"Content-MD5": value})
    return raw


def verify(req: Requested, md5: bytes, checksums: dict[str, str]) -> None:
    """Compare what the client sent with what was computed: BadDigest."""
    if req.expected is not None and checksums.get(req.algorithm) != req.expected:
        raise s3_error("BadDigest", f"The {req.algorithm} you specified did not match the calculated checksum.", 400)
    if req.content_md5 is not None and req.content_md5 != md5:
        raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400,
                       ExpectedDigest=req.content_md5.hex(), CalculatedDigest=base64.b64encode(md5).decode())


# -- digests objectdata does not compute ------------------------------------------

class Extra:
    """SHA512 / MD5 / xxHash over a stream, as base64 of the digest."""

    def __init__(self, algorithm: str):
        self.algorithm = algorithm
        self._bytes_only = False
        if algorithm in ("SHA512", "MD5"):
            self._h = hashlib.new(algorithm.lower())
            self._final = self._h.digest
        else:
            from awscrt.checksums import XXHash

            self._h = {"XXHASH64": XXHash.new_xxhash64, "XXHASH3": XXHash.new_xxhash3_64,
                       "XXHASH128": XXHash.new_xxhash3_128}[algorithm]()
            self._final = self._h.finalize
        self._bytes_only = algorithm.startswith("XXHASH")   # (the CRT takes no memoryview)

    def update(self, data) -> None:
        self._h.update(bytes(data) if self._bytes_only and not isinstance(data, bytes) else data)

    def value(self) -> str:
        return base64.b64encode(self._final()).decode()


def tee(source, extra: Extra) -> Iterator[bytes]:
    for chunk in objectdata.chunks_of(source):
        extra.update(chunk)
        yield chunk


def write(blobs, source, key: bytes, algorithm: str | None) -> objectdata.Written:
    """objectdata.write_piece computing `algorithm` whichever it is."""
    if algorithm is None or algorithm in NATIVE:
        return objectdata.write_piece(blobs, source, key, [algorithm] if algorithm else [])
    extra = Extra(algorithm)
    written = objectdata.write_piece(blobs, tee(source, extra), key, [])
    written.checksums[algorithm] = extra.value()
    return written


# -- bodies of small requests (DeleteObjects, PutObjectTagging ...) -----------------

def check_body(request, body: bytes, required: bool = True) -> None:
    """Operations whose model requires a checksum of the (XML) body: a
    Content-MD5 or an x-amz-checksum-* header must come with it and match."""
    md5_header = request.header("content-md5")
    found = [(alg, request.header(header(alg))) for alg in ALGORITHMS if request.header(header(alg)) is not None]
    if md5_header is None and not found:
        if required:
            raise invalid_request("Missing required header for this request: Content-MD5 OR x-amz-checksum-*")
        return
    if len(found) > 1:
        raise invalid_request("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    raw_md5 = content_md5(md5_header)
    computed: dict[str, str] = {}
    if found:
        algorithm, value = found[0]
        found_value = _well_formed(algorithm, value)
        if algorithm in NATIVE:
            digests = objectdata.Digests([algorithm])
            digests.update(body)
            computed = digests.checksums()
        else:
            extra = Extra(algorithm)
            extra.update(body)
            computed = {algorithm: extra.value()}
        verify(Requested(algorithm, found_value, None), b"", computed)
    if raw_md5 is not None:
        verify(Requested("", None, raw_md5), hashlib.md5(body).digest(), {})


def response_fields(checksums: dict, prefix: str = "Checksum") -> dict:
    """Output members for a stored checksum dict ({"CRC32": v, "type": T})."""
    out = {}
    for alg in ALGORITHMS:
        if alg in checksums:
            out[prefix + alg] = checksums[alg]
    if out and checksums.get("type"):
        out["ChecksumType"] = checksums["type"]
    return out
