"""The HTTP layer's per-request cost: requests/s of cloudlet's health
endpoint (GET /_cloudlet/health) and STS GetCallerIdentity with its own
server (CLOUDLET_HTTP=native, the default) and with uvicorn's protocol and
AsgiApp (CLOUDLET_HTTP=asgi), in alternating rounds (this machine's noise
is larger than the difference between two runs of one), next to two
ceilings: a bare asyncio + httptools hello world and a bare uvicorn ASGI
hello world (both uvloop). Load from bench/loadgen.py in its own process.

    .venv/bin/python bench/httplayer.py [--seconds 3] [--concurrency 1,16,64] [--rounds 2]
        [--modes native,asgi,bare,uvicorn]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gateway import load  # noqa: E402
from peers import Server, free_port, server, sts_request, wait_ready  # noqa: E402

BARE = r'''
import asyncio, sys, httptools, uvloop
BODY = b'{"status":"running"}'
RESP = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(BODY)) + BODY
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t
        self.p = httptools.HttpRequestParser(self)
    def data_received(self, data):
        self.p.feed_data(data)
    def on_message_complete(self):
        self.t.write(RESP)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    await srv.serve_forever()
uvloop.run(main())
'''

UVICORN = r'''
import sys, uvicorn
BODY = b'{"status":"running"}'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools", lifespan="off",
            log_level="warning", access_log=False, server_header=False, proxy_headers=False)
'''


def health_request(port: int) -> bytes:
    return f"GET /_cloudlet/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def start(mode: str, tmp: str):
    if mode in ("native", "asgi"):
        os.environ["CLOUDLET_HTTP"] = mode
        try:
            return server("cloudlet", tmpdir=tmp).start()
        finally:
            os.environ.pop("CLOUDLET_HTTP", None)
    port = free_port()
    return Server(mode, [sys.executable, "-c", BARE if mode == "bare" else UVICORN, str(port)],
                  dict(os.environ), port).start()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--modes", default="native,asgi,bare,uvicorn")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    modes = args.modes.split(",")
    results: dict = {}
    for rnd in range(args.rounds):
        order = modes if rnd % 2 == 0 else list(reversed(modes))
        for mode in order:
            with tempfile.TemporaryDirectory() as tmp:
                srv = start(mode, tmp)
                try:
                    probe = health_request(srv.port)
                    wait_ready(srv.port, probe)
                    kinds = [("health", probe)]
                    if mode in ("native", "asgi"):
                        kinds.append(("sts", sts_request(srv.port)))
                    for kind, req in kinds:
                        for c in levels:
                            r = load(srv.port, req, c, args.seconds)
                            results.setdefault((mode, kind, c), []).append(r["rps"])
                            print(f"round {rnd + 1} {mode:8s} {kind:6s} c={c:<3d} {r['rps']:8.0f} req/s  "
                                  f"p50 {r['p50_ms']:5.2f} ms  p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}",
                                  flush=True)
                finally:
                    srv.stop()
    print("\nmedian req/s over rounds")
    for (mode, kind, c), values in sorted(results.items()):
        print(f"  {mode:8s} {kind:6s} c={c:<3d} {statistics.median(values):8.0f}   ({', '.join(f'{v:.0f}' for v in values)})")
    for kind in ("health", "sts"):
        for c in levels:
            a, b = results.get(("native", kind, c)), results.get(("asgi", kind, c))
            if a and b:
                print(f"native / asgi {kind:6s} c={c:<3d} {statistics.median(a) / statistics.median(b):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
