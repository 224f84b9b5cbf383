"""A small closed-loop HTTP/1.1 load generator on asyncio (uvloop when
available): C keep-alive connections each send one request, wait for the
whole response, and repeat. boto3 would be the bottleneck; this is not.

    python bench/loadgen.py PORT CONCURRENCY SECONDS  (request read from stdin)
prints a JSON line: {"requests": n, "errors": e, "seconds": s, "latencies_ms": [p50, p99]}
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


async def _connection(port: int, request: bytes, stop_at: float, latencies: list, counts: list) -> None:
    """One client connection. A server may close a keep-alive connection
    (hypercorn does after 1,000 requests): reconnect and go on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            status_ok = head.startswith(b"HTTP/1.1 200")
            length = 0
            chunked = close = False
            for line in head.split(b"\r\n"):
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
                elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                    chunked = True
                elif lower.startswith(b"connection:") and b"close" in lower:
                    close = True
            if chunked:
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            counts[0 if status_ok else 1] += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def run(port: int, request: bytes, concurrency: int, seconds: float, warmup: float = 1.0) -> dict:
    # Warm-up connections, then the measured run.
    await asyncio.gather(*(_connection(port, request, time.perf_counter() + warmup, [], [0, 0])
                           for _ in range(concurrency)))
    latencies: list[float] = []
    counts = [0, 0]
    start = time.perf_counter()
    await asyncio.gather(*(_connection(port, request, start + seconds, latencies, counts)
                           for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    return {"requests": counts[0], "errors": counts[1], "seconds": elapsed,
            "rps": counts[0] / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def main() -> int:
    port, concurrency, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    request = sys.stdin.buffer.read()
    if not os.environ.get("LOADGEN_NO_UVLOOP"):
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
    print(json.dumps(asyncio.run(run(port, request, concurrency, seconds))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
