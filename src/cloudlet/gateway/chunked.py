"""aws-chunked request bodies (Content-Encoding: aws-chunked).

The framing S3 takes when x-amz-content-sha256 names a streaming payload:

    STREAMING-AWS4-HMAC-SHA256-PAYLOAD
        <hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n\\r\\n
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
        the same chunks, then after the final one the trailing headers and
        x-amz-trailer-signature:<sig>\\r\\n, then \\r\\n
    STREAMING-UNSIGNED-PAYLOAD-TRAILER (botocore's default for S3 uploads
    over HTTPS)
        <hex size>\\r\\n<data>\\r\\n ... 0\\r\\n<name>:<value>\\r\\n\\r\\n

Each chunk signature signs
    AWS4-HMAC-SHA256-PAYLOAD \\n <date> \\n <scope> \\n <previous signature> \\n
    <SHA-256 of ""> \\n <SHA-256 of the chunk data>
the first chunk chained to the request's own (seed) signature; the trailer
signature signs
    AWS4-HMAC-SHA256-TRAILER \\n <date> \\n <scope> \\n <final chunk's signature> \\n
    <SHA-256 of the trailing headers, each "name:value\\n">

The HTTP layer has already removed any Transfer-Encoding: chunked framing.
`decode` works on a body in memory and copies the data once; `decode_file`
streams a body spooled to a file into a sink.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cloudlet.gateway.sigv4 import EMPTY_SHA256, SigV4Error

_HEX = frozenset(b"0123456789abcdefABCDEF")
_SIG_PREFIX = b"chunk-signature="


@dataclass(slots=True)
class Decoded:
    data: bytes
    trailers: dict[str, str] = field(default_factory=dict)
    chunks: int = 0


def chunk_string_to_sign(amz_date: str, scope: str, previous: str, data) -> str:
    return (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n"
            f"{hashlib.sha256(data).hexdigest()}")


def trailer_string_to_sign(amz_date: str, scope: str, previous: str, canonical_trailers: str) -> str:
    return (f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n"
            f"{hashlib.sha256(canonical_trailers.encode('utf-8', 'surrogateescape')).hexdigest()}")


def _incomplete() -> SigV4Error:
    return SigV4Error("incomplete_body", "The request body terminated unexpectedly")


def _malformed(what: str) -> SigV4Error:
    return SigV4Error("malformed_chunk", f"The aws-chunked body is malformed: {what}.")


def _malformed_trailer(what: str) -> SigV4Error:
    return SigV4Error("malformed_trailer", "The request contained trailing data that was not well-formed or did not "
                      "conform to our published schema.", {"reason": what})


class _BytesReader:
    """The framing read from a body in memory (no copies of chunk data)."""

    def __init__(self, body):
        self.body = body
        self.view = memoryview(body)
        self.pos = 0

    def line(self):
        eol = self.body.find(b"\r\n", self.pos)
        if eol < 0:
            return None
        line = self.body[self.pos:eol]
        self.pos = eol + 2
        return line

    def take(self, n: int):
        start, end = self.pos, self.pos + n
        if end > len(self.body):
            return None
        self.pos = end
        return self.view[start:end]

    def rest(self) -> bytes:
        return self.body[self.pos:]


class _FileReader:
    """The framing read from a body spooled to a file, a chunk at a time."""

    _LINE_LIMIT = 64 * 1024  # a chunk header line is short; anything longer is not one

    def __init__(self, fh):
        self.fh = fh

    def line(self):
        raw = self.fh.readline(self._LINE_LIMIT)
        if not raw.endswith(b"\r\n"):
            return None if len(raw) < self._LINE_LIMIT else raw
        return raw[:-2]

    def take(self, n: int):
        data = self.fh.read(n)
        return data if len(data) == n else None

    def rest(self) -> bytes:
        return self.fh.read(1 << 20)


def decode(body: bytes, *, signed: bool, trailer: bool, signing_key: bytes | None = None, amz_date: str = "",
           scope: str = "", seed_signature: str = "", decoded_length: int | None = None,
           declared_trailers: list[str] | None = None, access_key: str = "",
           canonical_request: str = "") -> Decoded:
    """The payload of an aws-chunked body. `signed`: the chunks carry
    chunk-signature extensions (and a trailer its x-amz-trailer-signature),
    each checked when a signing_key is given. Raises SigV4Error:
    chunk_signature_mismatch, trailer_signature_mismatch, incomplete_body,
    malformed_chunk, malformed_trailer, decoded_length_mismatch."""
    pieces: list = []
    trailers, count, _ = _decode(_BytesReader(body), pieces.append, signed, trailer, signing_key, amz_date, scope,
                                 seed_signature, decoded_length, declared_trailers, access_key, canonical_request)
    data = pieces[0].tobytes() if len(pieces) == 1 else b"".join(pieces)
    return Decoded(data, trailers, count)


def decode_file(fh, sink, *, signed: bool, trailer: bool, signing_key: bytes | None = None, amz_date: str = "",
                scope: str = "", seed_signature: str = "", decoded_length: int | None = None,
                declared_trailers: list[str] | None = None, access_key: str = "",
                canonical_request: str = "") -> tuple[dict[str, str], int]:
    """`decode` for a body in a file (`fh`, binary), the payload handed to
    `sink(bytes)` chunk by chunk: never more than a chunk in memory.
    Returns (trailers, payload length)."""
    trailers, _, total = _decode(_FileReader(fh), sink, signed, trailer, signing_key, amz_date, scope,
                                 seed_signature, decoded_length, declared_trailers, access_key, canonical_request)
    return trailers, total


def _decode(reader, sink, signed, trailer, signing_key, amz_date, scope, seed_signature, decoded_length,
            declared_trailers, access_key, canonical_request) -> tuple[dict[str, str], int, int]:
    total = 0
    previous = seed_signature
    count = 0
    while True:
        line = reader.line()
        if line is None:
            raise _incomplete()
        size_text, semi, extension = bytes(line).partition(b";")
        size_text = size_text.strip()
        if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
            raise _malformed(f"chunk {count + 1} does not start with a hexadecimal size")
        size = int(size_text, 16)
        data = reader.take(size)
        if data is None:
            raise _incomplete()
        count += 1
        if signed:
            extension = extension.strip()
            if not semi or not extension.startswith(_SIG_PREFIX):
                raise _malformed(f"chunk {count} has no chunk-signature")
            provided = extension[len(_SIG_PREFIX):].decode("latin-1")
            if signing_key is not None:
                string_to_sign = chunk_string_to_sign(amz_date, scope, previous, data)
                computed = hmac.digest(signing_key, string_to_sign.encode(), "sha256").hex()
            if signing_key is not None and not hmac.compare_digest(computed, provided):
                raise SigV4Error(
                    "chunk_signature_mismatch",
                    "The request signature we calculated does not match the signature you provided. Check your "
                    "AWS Secret Access Key and signing method. Consult the service documentation for details.",
                    {"AWSAccessKeyId": access_key, "StringToSign": string_to_sign, "SignatureProvided": provided,
                     "CanonicalRequest": canonical_request, "chunk": count})
            previous = provided
        if size == 0:
            break
        crlf = reader.take(2)
        if crlf is None or bytes(crlf) != b"\r\n":
            if crlf is None:
                raise _incomplete()
            raise _malformed(f"chunk {count} is longer than its size")
        sink(data)
        total += size
        if decoded_length is not None and total > decoded_length:
            raise SigV4Error("decoded_length_mismatch",
                             "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                             {"decoded_length": decoded_length, "received": total})

    trailers = _read_trailers(reader.rest(), 0, trailer, signed, signing_key, amz_date, scope, previous,
                              declared_trailers, access_key, canonical_request)
    if decoded_length is not None and total != decoded_length:
        raise SigV4Error("decoded_length_mismatch",
                         "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                         {"decoded_length": decoded_length, "received": total})
    return trailers, count, total


def _read_trailers(body: bytes, pos: int, trailer: bool, signed: bool, signing_key, amz_date, scope, previous,
                   declared, access_key, canonical_request) -> dict[str, str]:
    rest = body[pos:]
    if not trailer:
        # The final chunk ends with its empty data and \r\n.
        if rest in (b"\r\n", b""):
            return {}
        raise _malformed("data after the final chunk")
    trailers: dict[str, str] = {}
    order: list[tuple[str, str]] = []
    signature = None
    for raw in rest.split(b"\r\n"):
        if not raw.strip():
            # Blank lines: the \r\n ending the final chunk's empty data (AWS's
            # own example sends it before the trailers) and the end.
            continue
        name, colon, value = raw.decode("latin-1").partition(":")
        name = name.strip().lower()
        if not colon or not name:
            raise _malformed_trailer(f"trailer line {raw[:64]!r} is not name:value")
        value = value.strip()
        if name == "x-amz-trailer-signature":
            signature = value
            continue
        if name in trailers:
            raise _malformed_trailer(f"trailer {name} repeated")
        trailers[name] = value
        order.append((name, value))
    if declared is not None and set(declared) != set(trailers):
        raise _malformed_trailer(f"trailers {sorted(trailers)} are not the declared {sorted(declared)}")
    if signed:
        if signature is None:
            raise _malformed_trailer("x-amz-trailer-signature is missing")
        if signing_key is None:
            return trailers
        canonical = "".join(f"{k}:{v}\n" for k, v in order)
        string_to_sign = trailer_string_to_sign(amz_date, scope, previous, canonical)
        computed = hmac.digest(signing_key, string_to_sign.encode(), "sha256").hex()
        if not hmac.compare_digest(computed, signature):
            ordered = "".join(f"{k}:{v}\n" for k, v in sorted(order))
            if ordered == canonical or not hmac.compare_digest(
                    hmac.digest(signing_key, trailer_string_to_sign(amz_date, scope, previous, ordered).encode(),
                                "sha256").hex(), signature):
                raise SigV4Error(
                    "trailer_signature_mismatch",
                    "The request signature we calculated does not match the signature you provided. Check your "
                    "AWS Secret Access Key and signing method. Consult the service documentation for details.",
                    {"AWSAccessKeyId": access_key, "StringToSign": string_to_sign, "SignatureProvided": signature,
                     "CanonicalRequest": canonical_request})
    elif signature is not None:
        raise _malformed_trailer("x-amz-trailer-signature in an unsigned body")
    return trailers
