"""Large request bodies spooled to a file and response bodies streamed:
the ASGI layer's spooling, aws-chunked decoding file to file (the same
verdicts as in memory), payload hashes over files, StreamBody sending."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from cloudlet.app import SPOOL_BYTES, create_app
from cloudlet.config import Settings
from cloudlet.gateway import sigv4
from cloudlet.protocol.http import HttpRequest, SpooledBody, StreamBody
from tests.unit.test_sigv4 import (A1K, A64K, AWS_DATE, aws_chunked_example, aws_trailer_example, check, refused)


def spooled(request: HttpRequest, tmp_path) -> HttpRequest:
    path = tmp_path / "spool"
    path.write_bytes(request.body)
    request.body = SpooledBody(str(path), len(request.body))
    return request


def test_signed_chunks_decoded_file_to_file(tmp_path):
    request = spooled(aws_chunked_example(), tmp_path)
    original = request.body.path
    v = check(request, wall_now=AWS_DATE, clock_now=AWS_DATE)
    assert (v.payload_mode, v.decoded_length, v.trailers) == ("streaming-signed", 66560, {})
    assert isinstance(request.body, SpooledBody) and request.body.size == 66560
    assert request.body.read() == A64K + A1K
    assert not os.path.exists(original)  # the framed copy is gone once decoded
    request.body.discard()
    assert not os.path.exists(request.body.path)


def test_signed_trailer_decoded_file_to_file(tmp_path):
    request = spooled(aws_trailer_example(), tmp_path)
    v = check(request, wall_now=AWS_DATE)
    assert v.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    assert request.body.read() == A64K + A1K


@pytest.mark.parametrize("cut", [10, 100, 65536, 65536 + 90, -3])
def test_truncated_spooled_body_is_incomplete(tmp_path, cut):
    request = aws_chunked_example()
    request = spooled(aws_chunked_example(request.body[:cut]), tmp_path)
    assert refused(request, wall_now=AWS_DATE).kind == "incomplete_body"
    assert os.listdir(tmp_path) == ["spool"]  # no half-decoded file left behind


def test_tampered_spooled_chunk_is_refused(tmp_path):
    body = aws_chunked_example().body
    i = body.index(b"\r\n") + 2 + 1000
    request = spooled(aws_chunked_example(body[:i] + b"b" + body[i + 1:]), tmp_path)
    err = refused(request, wall_now=AWS_DATE)
    assert (err.kind, err.details["chunk"]) == ("chunk_signature_mismatch", 1)


def test_payload_hash_of_a_spooled_body(tmp_path):
    data = os.urandom(3 * (1 << 20) + 7)
    path = tmp_path / "body"
    path.write_bytes(data)
    assert sigv4.body_sha256(SpooledBody(str(path), len(data))) == hashlib.sha256(data).hexdigest()
    assert sigv4.body_sha256(data) == hashlib.sha256(data).hexdigest()


# -- the ASGI layer -------------------------------------------------------------------

def asgi_receive(pieces: list[bytes]):
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1} for i, p in enumerate(pieces)]

    async def receive():
        return messages.pop(0)
    return receive


def test_small_bodies_stay_in_memory_and_large_ones_spool(tmp_path):
    app = create_app(Settings(data_dir=str(tmp_path)))

    async def run():
        small = await app._read_body({}, asgi_receive([b"a" * 10, b"b" * 10]))
        piece = b"x" * (256 * 1024)
        large = await app._read_body({}, asgi_receive([piece] * 6))
        return small, large

    small, large = asyncio.run(run())
    assert small == b"a" * 10 + b"b" * 10
    assert isinstance(large, SpooledBody) and large.size == 6 * 256 * 1024 > SPOOL_BYTES
    assert os.path.dirname(large.path) == os.path.join(str(tmp_path), "blobs", "tmp")
    assert large.read() == b"x" * (6 * 256 * 1024)
    large.discard()
    assert not os.path.exists(large.path)


def test_disconnect_while_spooling_leaves_no_file(tmp_path):
    app = create_app(Settings(data_dir=str(tmp_path)))
    messages = [{"type": "http.request", "body": b"x" * (SPOOL_BYTES + 1), "more_body": True},
                {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)

    assert asyncio.run(app._read_body({}, receive)) is None
    assert os.listdir(os.path.join(str(tmp_path), "blobs", "tmp")) == []


def _send_through_http(body):
    sent = []

    async def send(message):
        sent.append(message)

    class Fake:
        async def _read_body(self, scope, receive):
            return b""

        async def _respond(self, scope, request_body):
            from cloudlet.protocol.http import HttpResponse
            return HttpResponse(200, [("Content-Length", str(body.length))], body)

    from cloudlet.app import AsgiApp
    asyncio.run(AsgiApp._http(Fake(), {"method": "GET"}, None, send))
    return sent


def test_stream_body_sent_in_pieces_and_closed():
    from cloudlet.app import SMALL_STREAM

    closed = []
    a, b = b"a" * SMALL_STREAM, b"b" * 10
    body = StreamBody(len(a) + len(b), iter([a, b]), close=lambda: closed.append(True))
    sent = _send_through_http(body)
    assert sent[0]["headers"] == [(b"Content-Length", str(len(a) + len(b)).encode())]
    assert [m.get("body") for m in sent[1:]] == [a, b, b""]
    assert [m.get("more_body", False) for m in sent[1:]] == [True, True, False]
    assert closed == [True]


def test_small_stream_body_sent_at_once():
    closed = []
    body = StreamBody(6, iter([b"abc", b"def"]), close=lambda: closed.append(True))
    sent = _send_through_http(body)
    assert [m.get("body") for m in sent[1:]] == [b"abcdef"]
    assert closed == [True]
