"""S3 for cloudlet, ministack and moto in one run.

  small  PutObject and GetObject of 1 KiB objects, closed loop from
         bench/loadgen.py in its own process at 1, 16 and 64 keep-alive
         connections (the same signed request over and over: PUT rewrites
         one key, GET reads it): operations/s and p50/p99 ms.
  large  one 256 MiB PUT and GET over one connection (UNSIGNED-PAYLOAD, a
         raw socket streaming from / into a buffer, so the client costs
         little): MB/s.
  rss    cloudlet only: the server's VmRSS before, during (peak, VmHWM) and
         after a 1 GiB upload streamed in 1 MiB pieces.

    .venv/bin/python bench/s3.py [--seconds 5] [--concurrency 1,16,64]
        [--large-mib 256] [--rss-mib 1024] [--servers cloudlet,ministack,moto]
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
from botocore.auth import S3SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from peers import null_server, server, sts_request, wait_listening, wait_ready  # noqa: E402
from report import arguments, floor_lines, ratio_table, run_all  # noqa: E402

SMALL = os.urandom(1024)
MIB = 1 << 20


def signed(method: str, port: int, path: str, body: bytes = b"", payload_hash: str | None = None,
           length: int | None = None) -> bytes:
    """A raw signed request (head only when `length` is given: the body
    follows separately)."""
    headers = {}
    if payload_hash is not None:
        headers["x-amz-content-sha256"] = payload_hash
    req = AWSRequest(method=method, url=f"http://127.0.0.1:{port}{path}", data=body, headers=headers)
    if payload_hash == "UNSIGNED-PAYLOAD":
        req.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(Credentials("test", "test"), "s3", "us-east-1").add_auth(req)
    size = len(body) if length is None else length
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if method == "PUT":
        lines.append(f"Content-Length: {size}")
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return head if length is not None else head + body


def load(port: int, req: bytes, concurrency: int, seconds: float) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "loadgen.py"), str(port), str(concurrency), str(seconds)],
                          input=req, capture_output=True, check=True)
    out = json.loads(proc.stdout)
    return {"rps": out["rps"], "p50": out["p50_ms"], "p99": out["p99_ms"], "errors": out["errors"]}


def setup(port: int, bucket: str) -> None:
    s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small", Body=SMALL)
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == SMALL


def _read_response(sock: socket.socket, sink: bytearray | None = None) -> tuple[int, int]:
    """(status, body bytes) of one response, the body read into `sink`."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        if not more:
            raise ConnectionError("closed")
        buf += more
    head, _, rest = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    got = len(rest)
    view = memoryview(sink) if sink is not None else None
    if view is not None:
        view[:got] = rest
    chunk = bytearray(4 * MIB)
    while got < length:
        n = sock.recv_into(chunk)
        if not n:
            raise ConnectionError("short body")
        if view is not None:
            view[got:got + n] = chunk[:n]
        got += n
    return status, got


def large(port: int, bucket: str, mib: int) -> dict:
    data = os.urandom(MIB) * mib  # (repeated: the server must not notice)
    size = len(data)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        t0 = time.perf_counter()
        sock.sendall(signed("PUT", port, f"/{bucket}/large", payload_hash="UNSIGNED-PAYLOAD", length=size))
        view = memoryview(data)
        for i in range(0, size, 4 * MIB):
            sock.sendall(view[i:i + 4 * MIB])
        status, _ = _read_response(sock)
        put = time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"large PUT: HTTP {status}")
        sink = bytearray(size)
        t0 = time.perf_counter()
        sock.sendall(signed("GET", port, f"/{bucket}/large"))
        status, got = _read_response(sock, sink)
        get = time.perf_counter() - t0
        if status != 200 or got != size or sink[:MIB] != data[:MIB] or sink[-MIB:] != data[-MIB:]:
            raise RuntimeError(f"large GET: HTTP {status}, {got} bytes")
    return {"put_mbs": mib / put, "get_mbs": mib / get}


def rss_kb(pid: int) -> dict:
    values = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                values[name] = int(value.split()[0])
    return values


def rss_through_upload(port: int, pid: int, bucket: str, mib: int) -> dict:
    before = rss_kb(pid)["VmRSS"]
    piece = os.urandom(MIB)
    size = mib * MIB
    peak = before
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(signed("PUT", port, f"/{bucket}/huge", payload_hash="UNSIGNED-PAYLOAD", length=size))
        for i in range(mib):
            sock.sendall(piece)
            if i % 64 == 0:
                peak = max(peak, rss_kb(pid)["VmRSS"])
        status, _ = _read_response(sock)
        peak = max(peak, rss_kb(pid)["VmRSS"])
        if status != 200:
            raise RuntimeError(f"huge PUT: HTTP {status}")
    return {"before_mb": before / 1024, "peak_mb": peak / 1024, "after_mb": rss_kb(pid)["VmRSS"] / 1024}


def run_server(name: str, args) -> dict:
    srv = server(name).start()
    try:
        wait_ready(srv.port, sts_request(srv.port))
        bucket = "bench"
        setup(srv.port, bucket)
        result: dict = {"PUT": {}, "GET": {}}
        requests = {"PUT": signed("PUT", srv.port, f"/{bucket}/small", SMALL),
                    "GET": signed("GET", srv.port, f"/{bucket}/small")}
        for op in ("PUT", "GET"):
            for c in args.levels:
                r = load(srv.port, requests[op], c, args.seconds)
                result[op][c] = r
                print(f"  {name:10s} {op} 1 KiB c={c:<3d} {r['rps']:8,.0f} ops/s  p50 {r['p50']:6.2f} ms  "
                      f"p99 {r['p99']:7.2f} ms  errors {r['errors']}", flush=True)
        try:
            result["large"] = large(srv.port, bucket, args.large_mib)
            print(f"  {name:10s} {args.large_mib} MiB  PUT {result['large']['put_mbs']:,.0f} MB/s  "
                  f"GET {result['large']['get_mbs']:,.0f} MB/s", flush=True)
        except (RuntimeError, ConnectionError) as exc:
            result["large"] = None
            print(f"  {name:10s} large object failed: {exc}", flush=True)
        if name == "cloudlet" and args.rss_mib:
            result["rss"] = rss_through_upload(srv.port, srv.proc.pid, bucket, args.rss_mib)
            r = result["rss"]
            print(f"  {name:10s} RSS through a {args.rss_mib} MiB upload: {r['before_mb']:.0f} MB before, "
                  f"{r['peak_mb']:.0f} MB peak, {r['after_mb']:.0f} MB after", flush=True)
        return result
    finally:
        srv.stop()


def main() -> int:
    args = arguments(__doc__, [("--large-mib", {"type": int, "default": 256}),
                               ("--rss-mib", {"type": int, "default": 1024})])
    names = args.servers.split(",")
    results = run_all(names, run_server, args)
    lows = [ratio_table(f"{op} 1 KiB", results, names, op, args.levels) for op in ("PUT", "GET")]
    worst = min((w for w in lows if w is not None), default=None)
    if 1 in args.levels and "cloudlet" in results and "ministack" in results:
        print("\nOne connection: each request waits for the last answer (bench/nullserver.py is the floor)")
        for op, answer in (("PUT", b""), ("GET", SMALL)):
            srv = null_server(answer).start()
            try:
                wait_listening(srv.port)
                floor = load(srv.port, signed(op, srv.port, "/bench/small", SMALL if op == "PUT" else b""), 1,
                             args.seconds)["rps"]
            finally:
                srv.stop()
            for line in floor_lines(f"{op} 1 KiB", floor, results["cloudlet"][op][1]["rps"],
                                    results["ministack"][op][1]["rps"]):
                print("  " + line)
    print(f"\n{args.large_mib} MiB object (MB/s)")
    for n in names:
        r = results[n]["large"]
        print(f"  {n:10s} " + (f"PUT {r['put_mbs']:,.0f}  GET {r['get_mbs']:,.0f}" if r else "failed"))
    if "cloudlet" in results:
        get = (results["cloudlet"]["large"] or {}).get("get_mbs", 0)
        rss = results["cloudlet"].get("rss")
        growth = (rss["peak_mb"] - rss["before_mb"]) if rss else None
        print("\nTargets: small ops >= 3x ministack: " + (f"{'met' if worst >= 3 else 'NOT met'} (lowest {worst:.1f}x)"
                                                        if worst is not None else "n/a")
              + f"; large GET >= 500 MB/s: {'met' if get >= 500 else 'NOT met'} ({get:,.0f})"
              + (f"; RSS within 50 MB through the upload: {'met' if growth <= 50 else 'NOT met'} (+{growth:.0f} MB)"
                 if growth is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
