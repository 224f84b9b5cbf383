"""Requests/s and p50/p99 latency of STS GetCallerIdentity at 1, 16 and 64
concurrent connections, for cloudlet, ministack and moto in one run. The
load generator (bench/loadgen.py) runs in its own process.

    .venv/bin/python bench/gateway.py [--seconds 5] [--concurrency 1,16,64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from peers import peer_versions, server, sts_request, wait_ready  # noqa: E402


def load(port: int, request: bytes, concurrency: int, seconds: float) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "loadgen.py"), str(port), str(concurrency), str(seconds)],
                          input=request, capture_output=True, check=True)
    return json.loads(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--servers", default="cloudlet,ministack,moto")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    print("peers:", peer_versions())
    results: dict[str, dict[int, dict]] = {}
    for name in args.servers.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            srv = server(name, tmpdir=tmp if name == "cloudlet" else None).start()
            try:
                request = sts_request(srv.port)
                wait_ready(srv.port, request)
                results[name] = {}
                for c in levels:
                    r = load(srv.port, request, c, args.seconds)
                    results[name][c] = r
                    print(f"{name:10s} c={c:<3d} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                          f"p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}", flush=True)
            finally:
                srv.stop()
    if "cloudlet" in results:
        for name in results:
            if name == "cloudlet":
                continue
            ratios = ", ".join(f"c={c}: {results['cloudlet'][c]['rps'] / max(results[name][c]['rps'], 1e-9):.1f}x"
                               for c in levels)
            print(f"cloudlet vs {name}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
