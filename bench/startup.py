"""Median time from process start to the first successful request
(STS GetCallerIdentity) for cloudlet, ministack and moto, in one run.

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import peer_versions, server, sts_request, wait_ready  # noqa: E402


def measure(name: str, runs: int) -> list[float]:
    times = []
    for i in range(runs + 1):  # the first run warms caches and is dropped
        srv = server(name)
        request = sts_request(srv.port)
        t0 = time.perf_counter()
        srv.start()
        try:
            wait_ready(srv.port, request)
            elapsed = time.perf_counter() - t0
        finally:
            srv.stop()
        if i:
            times.append(elapsed)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--servers", default="cloudlet,ministack,moto")
    args = parser.parse_args()
    print("peers:", peer_versions())
    results = {}
    for name in args.servers.split(","):
        times = measure(name, args.runs)
        results[name] = statistics.median(times)
        print(f"{name:10s} median {results[name]*1000:7.0f} ms   runs: " + " ".join(f"{t*1000:.0f}" for t in times))
    if "cloudlet" in results:
        for name, value in results.items():
            if name != "cloudlet":
                print(f"cloudlet starts {value / results['cloudlet']:.1f}x faster than {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
