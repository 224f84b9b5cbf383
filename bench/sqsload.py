"""A closed-loop SQS load generator on asyncio (uvloop when available): C
keep-alive HTTP/1.1 connections speak the SQS JSON protocol
(`X-Amz-Target: AmazonSQS.*`, `application/x-amz-json-1.0`), SigV4-signed for
the key `test`/`test`. boto3 would be the bottleneck; this is not.

Modes (the spec is a JSON object on stdin; the result a JSON line on stdout):

  send     SendMessage (or SendMessageBatch with "batch": true) of one fixed
           body, for `seconds` after `warmup` seconds
  fill     SendMessageBatch of 10 messages, `requests` requests in all, as
           fast as the connections go (no warm-up; stops early after
           `max_seconds` if given)
  consume  ReceiveMessage(MaxNumberOfMessages=10, VisibilityTimeout=120),
           then DeleteMessageBatch of what was received; one cycle is both
           requests (error samples in "error_samples"). The first empty
           receive ends the phase for every connection (the cycles in flight
           finish): "dry" is then true and "seconds" shorter than asked.
           With "refill": K, rounds of "fill K messages, consume until dry"
           instead, only the consuming timed: the queue holds K at most
  receive  ReceiveMessage(MaxNumberOfMessages=10, VisibilityTimeout=0) only:
           the queue's depth does not change

    echo '{"port": 4566, "mode": "send", "queue_url": "...", "concurrency": 16,
           "seconds": 5}' | python bench/sqsload.py

Every response's status is checked (and a batch answer's Failed list, and a
SendMessage answer's MessageId): anything else counts as an error. Requests of fixed content are signed
once by botocore's SigV4Auth; DeleteMessageBatch bodies differ each time and
are signed by `FastSigner`, the same SigV4 computation without botocore's
request objects (~10x cheaper), checked against SigV4Auth's signature at start
(`"botocore_signing": true` signs every request with SigV4Auth instead).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import sys
import time

try:
    import orjson

    loads, dumps = orjson.loads, orjson.dumps
except ImportError:  # pragma: no cover
    loads = json.loads

    def dumps(obj) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

ACCESS_KEY = SECRET_KEY = "test"
REGION, SERVICE = "us-east-1", "sqs"
CONTENT_TYPE = "application/x-amz-json-1.0"


def _http(port: int, headers: dict, body: bytes) -> bytes:
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def botocore_request(port: int, operation: str, payload: dict | bytes) -> bytes:
    """A raw HTTP/1.1 request for one SQS JSON operation, signed by botocore."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = payload if isinstance(payload, bytes) else dumps(payload)
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                     headers={"Content-Type": CONTENT_TYPE, "X-Amz-Target": f"AmazonSQS.{operation}"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), SERVICE, REGION).add_auth(req)
    return _http(port, dict(req.headers), body)


class FastSigner:
    """SigV4 for POST / with the headers botocore signs for an SQS JSON call
    (content-type, host, x-amz-date, x-amz-target): the signing key is derived
    once a day, the date stamp refreshed once a second."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self._second = -1
        self._day = ""
        self._key = b""
        self._amz_date = ""

    def _refresh(self, now: float) -> None:
        second = int(now)
        if second != self._second:
            self._second = second
            self._set_date(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second)))

    def _set_date(self, amz_date: str) -> None:
        self._amz_date = amz_date
        day = amz_date[:8]
        if day != self._day:
            self._day = day
            key = ("AWS4" + SECRET_KEY).encode()
            for part in (day, REGION, SERVICE, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._key = key

    def headers(self, operation: str, body: bytes, amz_date: str | None = None) -> dict:
        if amz_date is None:
            self._refresh(time.time())
            amz_date = self._amz_date
        else:
            self._second = -1
            self._set_date(amz_date)
        target = f"AmazonSQS.{operation}"
        canonical = (f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{self.host}\nx-amz-date:{amz_date}\n"
                     f"x-amz-target:{target}\n\ncontent-type;host;x-amz-date;x-amz-target\n"
                     f"{hashlib.sha256(body).hexdigest()}")
        scope = f"{amz_date[:8]}/{REGION}/{SERVICE}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {"Content-Type": CONTENT_TYPE, "X-Amz-Target": target, "X-Amz-Date": amz_date,
                "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
                                 f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}"}

    def request(self, operation: str, body: bytes) -> bytes:
        return _http(self.port, self.headers(operation, body), body)

    def check(self) -> None:
        """Same Authorization header as botocore's SigV4Auth, or an error."""
        body = dumps({"QueueUrl": "http://127.0.0.1/000000000000/q", "Entries": [{"Id": "0", "ReceiptHandle": "r"}]})
        reference = botocore_request(self.port, "DeleteMessageBatch", body)
        head = dict(line.split(": ", 1) for line in reference.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:])
        mine = self.headers("DeleteMessageBatch", body, amz_date=head["X-Amz-Date"])
        if mine["Authorization"] != head["Authorization"]:
            raise AssertionError(f"FastSigner disagrees with botocore:\n{mine['Authorization']}\n"
                                 f"{head['Authorization']}")
        self._second = -1


class Connection:
    """One keep-alive connection. A server may close it between requests
    (hypercorn does after a number of requests): reconnect and resend."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def call(self, request: bytes) -> tuple[int, bytes]:
        for attempt in range(3):
            if self.writer is None:
                await self.open()
            self.writer.write(request)
            try:
                head = await self.reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
                self.close()
                continue
            status = int(head[9:12])
            length = 0
            chunked = close = False
            for line in head.split(b"\r\n")[1:]:
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                    chunked = True
                elif lower.startswith(b"connection:") and b"close" in lower:
                    close = True
            if chunked:
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                    parts.append((await self.reader.readexactly(size + 2))[:-2])
                    if size == 0:
                        break
                body = b"".join(parts)
            else:
                body = await self.reader.readexactly(length) if length else b""
            if close:
                self.close()
            return status, body
        raise ConnectionError("server closed the connection three times in a row")


class Stats:
    def __init__(self):
        self.requests = 0       # successful requests (send) or cycles (consume / receive)
        self.errors = 0         # non-200 answers and failed batch entries
        self.messages = 0       # messages sent or received
        self.empty = 0          # receives that found nothing
        self.dry = False        # consume: a receive found nothing, so every connection stops
        self.rounds = None      # consume with refill: rounds timed
        self.samples: list[str] = []  # the first few errors, for a look
        self.latencies: list[float] = []

    def error(self, count: int, status: int, body: bytes) -> None:
        self.errors += count
        if len(self.samples) < 3:
            self.samples.append(f"{status} {body[:300].decode(errors='replace')}")


def _batch_failures(body: bytes) -> int:
    try:
        return len(loads(body).get("Failed") or ())
    except ValueError:
        return 1


async def _sender(conn: Connection, request: bytes, per_request: int, batch: bool, stop_at: float,
                  stats: Stats, tickets: list | None = None) -> None:
    perf = time.perf_counter
    while True:
        if tickets is not None:
            if tickets[0] <= 0:
                return
            tickets[0] -= 1
        t0 = perf()
        if t0 >= stop_at:
            return
        status, body = await conn.call(request)
        stats.latencies.append(perf() - t0)
        if status != 200:
            stats.error(1, status, body)
            continue
        if batch:
            failed = _batch_failures(body)
            if failed:
                stats.error(failed, status, body)
            stats.messages += per_request - failed
        else:
            if b'"MessageId"' not in body:
                stats.error(1, status, body)
                continue
            stats.messages += 1
        stats.requests += 1


async def _consumer(conn: Connection, port: int, queue_url: str, receive: bytes, delete: bool, signer,
                    stop_at: float, stats: Stats) -> None:
    perf = time.perf_counter
    prefix = b'{"QueueUrl":' + dumps(queue_url) + b',"Entries":'
    while True:
        t0 = perf()
        if t0 >= stop_at or stats.dry:
            return
        status, body = await conn.call(receive)
        if status != 200:
            stats.error(1, status, body)
            continue
        try:
            messages = loads(body).get("Messages") or ()
        except ValueError:
            stats.error(1, status, body)
            continue
        if not messages:
            stats.empty += 1
            if delete:
                stats.dry = True  # the queue ran dry: the phase ends here
                continue
        stats.messages += len(messages)
        if delete:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            payload = prefix + dumps(entries) + b"}"
            status, body = await conn.call(signer(payload))
            if status != 200:
                stats.error(1, status, body)
                continue
            failed = _batch_failures(body)
            if failed:
                stats.error(failed, status, body)
                continue
        stats.latencies.append(perf() - t0)
        stats.requests += 1


async def _phase(spec: dict, seconds: float, signer) -> tuple[Stats, float]:
    port, mode, queue_url = spec["port"], spec["mode"], spec["queue_url"]
    concurrency = spec.get("concurrency", 1)
    stats = Stats()
    conns = [Connection(port) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in conns))
    start = time.perf_counter()
    stop_at = start + seconds
    body_text = "m" * spec.get("body_size", 64)
    if mode in ("send", "fill"):
        batch = mode == "fill" or spec.get("batch", False)
        if batch:
            request = botocore_request(port, "SendMessageBatch", {
                "QueueUrl": queue_url, "Entries": [{"Id": str(i), "MessageBody": body_text} for i in range(10)]})
        else:
            request = botocore_request(port, "SendMessage", {"QueueUrl": queue_url, "MessageBody": body_text})
        tickets = [spec["requests"]] if mode == "fill" else None
        if mode == "fill":
            stop_at = start + spec.get("max_seconds", float("inf"))
        tasks = [_sender(c, request, 10 if batch else 1, batch, stop_at, stats, tickets) for c in conns]
    else:
        payload = {"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}
        # consume: 120 s rather than the queue's 30, so that a cycle of a
        # server as slow as moto at 64 connections (~30 s) still holds its
        # messages when it deletes them.
        payload["VisibilityTimeout"] = 0 if mode == "receive" else 120
        receive = botocore_request(port, "ReceiveMessage", payload)
        tasks = [_consumer(c, port, queue_url, receive, mode == "consume", signer, stop_at, stats) for c in conns]
    try:
        await asyncio.gather(*tasks)
    finally:
        for c in conns:
            c.close()
    return stats, time.perf_counter() - start


async def run(spec: dict) -> dict:
    port = spec["port"]
    if spec.get("botocore_signing"):
        def signer(body: bytes) -> bytes:
            return botocore_request(port, "DeleteMessageBatch", body)
    else:
        fast = FastSigner(port)
        fast.check()

        def signer(body: bytes) -> bytes:
            return fast.request("DeleteMessageBatch", body)

    if spec["mode"] == "consume" and spec.get("refill"):
        return _result(spec, *await _rounds(spec, signer))
    warm_messages = 0
    warm_dry = False
    if spec["mode"] != "fill" and spec.get("warmup", 1.0) > 0:
        warm, _ = await _phase(spec, spec.get("warmup", 1.0), signer)
        warm_messages, warm_dry = warm.messages, warm.dry
    if warm_dry:
        stats, elapsed = Stats(), 0.0
        stats.dry = True
    else:
        stats, elapsed = await _phase(spec, spec.get("seconds", 5.0), signer)
    return _result(spec, stats, elapsed, warm_messages)


async def _rounds(spec: dict, signer) -> tuple[Stats, float, int]:
    """consume with "refill": K: the queue never holds more than K messages.
    Rounds of: fill K (not timed), consume until the queue is dry (timed);
    until `seconds` of consuming, after `warmup` seconds of the same."""
    fill = {**spec, "mode": "fill", "requests": -(-spec["refill"] // 10), "concurrency": 8}
    warm_messages = 0
    total, elapsed, rounds = Stats(), 0.0, 0
    for budget, counted in ((spec.get("warmup", 1.0), False), (spec.get("seconds", 5.0), True)):
        spent = 0.0
        while spent < budget:
            filled, _ = await _phase(fill, 0, signer)
            if filled.errors:
                raise RuntimeError(f"{filled.errors} errors while refilling")
            stats, took = await _phase(spec, budget - spent, signer)
            spent += took
            if not counted:
                warm_messages += stats.messages
                continue
            rounds += 1
            total.requests += stats.requests
            total.errors += stats.errors
            total.samples = (total.samples + stats.samples)[:3]
            total.messages += stats.messages
            total.latencies += stats.latencies
    elapsed = spent
    total.rounds = rounds
    return total, elapsed, warm_messages


def _result(spec: dict, stats: Stats, elapsed: float, warm_messages: int) -> dict:
    lat = sorted(stats.latencies)

    def pick(q: float) -> float:
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0

    return {"mode": spec["mode"], "concurrency": spec.get("concurrency", 1), "requests": stats.requests,
            "errors": stats.errors, "messages": stats.messages, "empty": stats.empty, "seconds": elapsed,
            "dry": stats.dry, "rps": stats.requests / elapsed if elapsed else 0.0,
            "mps": stats.messages / elapsed if elapsed else 0.0, "p50_ms": pick(0.50),
            "p99_ms": pick(0.99), "warmup_messages": warm_messages, "rounds": stats.rounds,
            "error_samples": stats.samples}


def main() -> int:
    spec = json.loads(sys.stdin.read())
    if not os.environ.get("LOADGEN_NO_UVLOOP"):
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
    print(json.dumps(asyncio.run(run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
