"""cloudlet's own HTTP/1.1 server (cloudlet.httpserver) over raw sockets:
keep-alive, pipelining, Connection: close, HTTP/1.0, Expect: 100-continue,
chunked request bodies, HEAD, malformed requests, clients that go away in
the middle of a body; and the same header set as the ASGI path."""

from __future__ import annotations

import os
import socket
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from cloudlet.app import SPOOL_BYTES
from cloudlet.httpserver import HttpProtocol, http_protocol
from cloudlet.testing.server import CloudletServer

STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


class Conn:
    def __init__(self, server):
        self.sock = socket.create_connection((server.settings.host, server.port), timeout=10)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buf[:200]!r}")
        out, _, self.buf = self.buf.partition(marker)
        return out + marker

    def read_exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError("closed early")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_request: bool = False):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *lines = head[:-4].split("\r\n")
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines]
        hmap = {k: v for k, v in headers}
        status = int(status_line.split()[1])
        length = int(hmap.get("content-length", 0))
        body = b"" if head_request else self.read_exactly(length)
        return status, headers, body, status_line

    def closed(self) -> bool:
        """True once the server closed the connection (nothing more sent)."""
        try:
            return not self._fill()
        except (ConnectionResetError, socket.timeout):
            return False

    def close(self) -> None:
        self.sock.close()


def health(host: str = "x", version: str = "1.1", extra: str = "") -> bytes:
    return f"GET /_cloudlet/health HTTP/{version}\r\nHost: {host}\r\n{extra}\r\n".encode()


def sts_head(server, extra: dict | None = None, chunked: bool = False) -> bytes:
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=STS_BODY,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("test", "test"), "sts", "us-east-1").add_auth(req)
    lines = ["POST / HTTP/1.1", f"Host: {server.settings.host}:{server.port}"]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(STS_BODY)}")
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_asgi_fallback_setting():
    class S:
        http = "asgi"
    assert http_protocol(S()) == "httptools"
    S.http = "native"
    assert http_protocol(S()) is HttpProtocol


def test_keep_alive_and_header_set(cloudlet):
    c = Conn(cloudlet)
    try:
        for _ in range(3):
            c.send(health())
            status, headers, body, line = c.response()
            assert line == "HTTP/1.1 200 OK"
            assert [k for k, _ in headers] == ["date", "content-type", "content-length"]
            assert int(dict(headers)["content-length"]) == len(body) and body.startswith(b"{")
    finally:
        c.close()


def test_pipelined_requests_answered_in_order(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(health() + b"GET /_cloudlet/clock HTTP/1.1\r\nHost: x\r\n\r\n" + sts_head(cloudlet) + STS_BODY
               + health())
        bodies = [c.response()[2] for _ in range(4)]
        assert b'"status"' in bodies[0]
        assert b'"epoch"' in bodies[1] and b'"status"' not in bodies[1]
        assert b"GetCallerIdentityResult" in bodies[2]
        assert b'"status"' in bodies[3]
    finally:
        c.close()


def test_connection_close_honoured(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(health(extra="Connection: close\r\n"))
        status, headers, _, _ = c.response()
        assert status == 200 and ("connection", "close") in headers
        assert c.closed()
    finally:
        c.close()


def test_http10_closes_unless_keep_alive_asked(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(health(version="1.0"))
        status, headers, _, _ = c.response()
        assert status == 200 and ("connection", "close") in headers
        assert c.closed()
    finally:
        c.close()
    if cloudlet.settings.http != "native":
        return  # uvicorn's own protocol closes every HTTP/1.0 connection
    c = Conn(cloudlet)
    try:
        for _ in range(2):
            c.send(health(version="1.0", extra="Connection: keep-alive\r\n"))
            status, headers, _, _ = c.response()
            assert status == 200 and ("connection", "keep-alive") in headers
    finally:
        c.close()


def test_expect_100_continue(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(sts_head(cloudlet, {"Expect": "100-continue"}))
        assert c.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(STS_BODY)
        status, _, body, _ = c.response()
        assert status == 200 and b"GetCallerIdentityResult" in body
    finally:
        c.close()


def test_expect_100_continue_behind_a_pipelined_request(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(health() + sts_head(cloudlet, {"Expect": "100-continue"}))
        assert c.response()[0] == 200
        assert c.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(STS_BODY)
        status, _, body, _ = c.response()
        assert status == 200 and b"GetCallerIdentityResult" in body
    finally:
        c.close()


def test_chunked_request_body(cloudlet):
    c = Conn(cloudlet)
    try:
        pieces = [STS_BODY[:10], STS_BODY[10:30], STS_BODY[30:]]
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        c.send(sts_head(cloudlet, chunked=True) + chunked)
        status, _, body, _ = c.response()
        assert status == 200 and b"GetCallerIdentityResult" in body
        c.send(health())
        assert c.response()[0] == 200
    finally:
        c.close()


def test_head_has_length_but_no_body(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(health())
        _, _, body, _ = c.response()
        c.send(b"HEAD /_cloudlet/health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _, _ = c.response(head_request=True)
        # (the health document's length varies by a digit or two with the time)
        assert status == 200 and abs(int(dict(headers)["content-length"]) - len(body)) <= 4
        c.send(health())  # the next answer starts right after the HEAD's head
        assert c.response()[3] == "HTTP/1.1 200 OK"
    finally:
        c.close()


def test_malformed_request_gets_400_and_close(cloudlet):
    c = Conn(cloudlet)
    try:
        c.send(b"NOT HTTP AT ALL\r\n\r\n")
        status, headers, body, line = c.response()
        assert line == "HTTP/1.1 400 Bad Request" and ("connection", "close") in headers
        assert c.closed()
    finally:
        c.close()
    if cloudlet.settings.http != "native":
        return  # uvicorn's own protocol sends the 400 before the answer ahead of it
    c = Conn(cloudlet)
    try:  # a good request, then garbage: the answer, then 400
        c.send(health() + b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
        assert c.response()[0] == 200
        assert c.response()[0] == 400
        assert c.closed()
    finally:
        c.close()


def _spool_dir(server) -> str:
    return server.cloud.blobs._tmp


def test_disconnect_mid_body_leaves_no_spool(cloudlet):
    spool_dir = _spool_dir(cloudlet)
    before = set(os.listdir(spool_dir))
    c = Conn(cloudlet)
    size = 3 * SPOOL_BYTES
    c.send(f"PUT /bucket/key HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    c.send(b"x" * (2 * SPOOL_BYTES))
    deadline = time.time() + 10
    while set(os.listdir(spool_dir)) == before and time.time() < deadline:
        time.sleep(0.01)  # the body is being spooled
    assert set(os.listdir(spool_dir)) != before
    c.close()
    while set(os.listdir(spool_dir)) != before and time.time() < deadline:
        time.sleep(0.01)
    assert set(os.listdir(spool_dir)) == before
    c = Conn(cloudlet)  # and the server goes on
    try:
        c.send(health())
        assert c.response()[0] == 200
    finally:
        c.close()


def test_large_body_spooled_and_answered(cloudlet):
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="spool-bucket")
    data = os.urandom(SPOOL_BYTES * 2 + 123)
    s3.put_object(Bucket="spool-bucket", Key="k", Body=data)
    assert s3.get_object(Bucket="spool-bucket", Key="k")["Body"].read() == data
    assert os.listdir(_spool_dir(cloudlet)) == []


@pytest.fixture(scope="module")
def asgi_server():
    server = CloudletServer(http="asgi").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("request_bytes", [
    health(),
    b"HEAD /_cloudlet/health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /no-such-bucket-here?list-type=2 HTTP/1.1\r\nHost: x\r\n\r\n",
    health(extra="Connection: close\r\n"),
])
def test_same_answer_as_the_asgi_path(cloudlet, asgi_server, request_bytes):
    answers = []
    for server in (cloudlet, asgi_server):
        c = Conn(server)
        try:
            c.send(request_bytes)
            status, headers, body, line = c.response(head_request=request_bytes.startswith(b"HEAD"))
            answers.append((line, [k for k, _ in headers], status))
        finally:
            c.close()
    assert answers[0] == answers[1]


class _Transport:
    def __init__(self):
        self.closed = False
        self.written = []

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 5000) if name == "peername" else default

    def write(self, data):
        self.written.append(data)

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True


def test_idle_connection_closed_after_keep_alive_timeout():
    import asyncio
    from types import SimpleNamespace

    from uvicorn.server import ServerState

    async def run():
        config = SimpleNamespace(loaded=True, app=SimpleNamespace(cloud=None), timeout_keep_alive=0.05)
        state = ServerState()
        idle, busy = HttpProtocol(config, state), HttpProtocol(config, state)
        t1, t2 = _Transport(), _Transport()
        idle.connection_made(t1)
        busy.connection_made(t2)
        busy.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")  # a request under way: not idle
        await asyncio.sleep(0.03)
        assert not t1.closed and len(state.connections) == 2
        await asyncio.sleep(0.1)
        return t1.closed, t2.closed

    assert asyncio.run(run()) == (True, False)


def _presigned_get(cloudlet, size: int) -> tuple[bytes, bytes]:
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="stream-bucket")
    data = os.urandom(size)
    s3.put_object(Bucket="stream-bucket", Key="big", Body=data)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "stream-bucket", "Key": "big"})
    target = url.split(str(cloudlet.port), 1)[1]
    return f"GET {target} HTTP/1.1\r\nHost: {cloudlet.settings.host}:{cloudlet.port}\r\n\r\n".encode(), data


def test_large_streamed_body_to_a_slow_reader(cloudlet):
    request, data = _presigned_get(cloudlet, 6 * SPOOL_BYTES + 7)
    c = Conn(cloudlet)
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        c.send(request)
        time.sleep(0.3)  # the server's write buffer fills: it must wait, not buffer the object
        status, headers, body, _ = c.response()
        assert status == 200 and body == data
        c.send(health())  # the connection is still in step
        assert c.response()[0] == 200
    finally:
        c.close()


def test_client_gone_mid_stream(cloudlet):
    request, _ = _presigned_get(cloudlet, 6 * SPOOL_BYTES)
    c = Conn(cloudlet)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    c.send(request)
    c.read_until(b"\r\n\r\n")
    c.read_exactly(1000)
    c.close()
    time.sleep(0.2)
    c = Conn(cloudlet)
    try:
        c.send(health())
        assert c.response()[0] == 200
    finally:
        c.close()


def test_204_has_no_body_and_no_length_added(cloudlet):
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="nocontent-bucket")
    s3.put_object(Bucket="nocontent-bucket", Key="k", Body=b"x")
    url = s3.generate_presigned_url("delete_object", Params={"Bucket": "nocontent-bucket", "Key": "k"})
    target = url.split(str(cloudlet.port), 1)[1]
    c = Conn(cloudlet)
    try:
        c.send(f"DELETE {target} HTTP/1.1\r\nHost: {cloudlet.settings.host}:{cloudlet.port}\r\n\r\n".encode())
        status, headers, body, _ = c.response()
        assert status == 204 and body == b"" and "content-length" not in dict(headers)
        c.send(health())  # nothing stray between the two answers
        assert c.response()[3] == "HTTP/1.1 200 OK"
    finally:
        c.close()
