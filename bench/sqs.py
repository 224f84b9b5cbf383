"""SQS throughput and latency for cloudlet, ministack and moto in one run.
The load generator (bench/sqsload.py) runs in its own process: raw
HTTP/1.1 keep-alive connections on uvloop, SQS JSON protocol, SigV4.

  send     SendMessage (64-byte body) at 1, 16, 64 connections: req/s,
           p50/p99 ms; a fresh queue per level
  consume  ReceiveMessage(MaxNumberOfMessages=10) + DeleteMessageBatch of
           what came back, at 1, 16, 64 connections: messages/s consumed,
           cycle p50/p99 ms; a fresh queue per level, filled beforehand
           (SendMessageBatch) with what the level will consume, estimated
           by a short probe (for moto: 3 s of filling, no warm-up)
  shallow  the same cycle with at most --refill (1,000) messages waiting:
           rounds of "fill, consume until dry", only the consuming timed
           (--seconds / 2 per level)
           (cloudlet and ministack; the peers' receive cost grows with the
           number of messages waiting, so this is their best case)
  depth    ReceiveMessage(MaxNumberOfMessages=10, VisibilityTimeout=0) at 16
           connections on a queue of 100 and of 100,000 messages (the depth
           stays constant); a server whose fill rate would take longer than
           --fill-budget seconds for 100,000 messages is skipped
  rss      cloudlet only: VmRSS of the server with 1,000,000 small messages
           (32 bytes) in one queue, filled by SendMessageBatch on 8
           connections; the fill time; receive speed at that depth

    .venv/bin/python bench/sqs.py [--seconds 5] [--concurrency 1,16,64]
        [--servers cloudlet,ministack,moto] [--skip-rss] [--million 1000000]
        [--queue-attributes '{"SqsManagedSseEnabled": "false"}']

New SQS queues are encrypted at rest by default (SSE-SQS, as on AWS);
--queue-attributes gives every queue the bench makes other attributes
(an unencrypted queue, a KMS key, ...).
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from peers import null_server, peer_versions, server, sts_request, wait_listening, wait_ready  # noqa: E402
from report import floor_lines  # noqa: E402
from sqsload import botocore_request  # noqa: E402

WARMUP = 1.0


def call(port: int, operation: str, payload: dict) -> dict:
    """One SQS JSON call on its own connection; the decoded answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(botocore_request(port, operation, payload))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            body += chunk
        status = int(head[9:12])
        if status != 200:
            raise RuntimeError(f"{operation}: HTTP {status}: {body[:300]!r}")
        return json.loads(body) if body else {}


def load(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, str(HERE / "sqsload.py")], input=json.dumps(spec).encode(),
                          capture_output=True, check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr.decode())
    return json.loads(proc.stdout)


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                values[key] = int(value.split()[0])
    return values["VmRSS"], values["VmHWM"]


class Bench:
    def __init__(self, name: str, port: int, seconds: float, queue_attributes: dict | None = None):
        self.name, self.port, self.seconds = name, port, seconds
        self.fill_rate = 0.0  # messages/s seen while filling
        self.queue_attributes = queue_attributes or {}

    def queue(self, name: str) -> str:
        payload = {"QueueName": name}
        if self.queue_attributes:
            payload["Attributes"] = self.queue_attributes
        return call(self.port, "CreateQueue", payload)["QueueUrl"]

    def depth(self, url: str) -> int:
        attrs = call(self.port, "GetQueueAttributes", {"QueueUrl": url,
                                                       "AttributeNames": ["ApproximateNumberOfMessages"]})
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def fill(self, url: str, messages: int, concurrency: int = 8, max_seconds: float | None = None,
             body_size: int = 64) -> dict:
        spec = {"port": self.port, "mode": "fill", "queue_url": url, "concurrency": concurrency,
                "requests": math.ceil(messages / 10), "body_size": body_size}
        if max_seconds is not None:
            spec["max_seconds"] = max_seconds
        r = load(spec)
        if r["errors"]:
            raise RuntimeError(f"{self.name}: {r['errors']} errors while filling")
        if r["seconds"] > 0.2:
            self.fill_rate = r["mps"]
        return r

    def run(self, url: str, mode: str, concurrency: int, seconds: float | None = None, warmup: float = WARMUP) -> dict:
        return load({"port": self.port, "mode": mode, "queue_url": url, "concurrency": concurrency,
                     "seconds": self.seconds if seconds is None else seconds, "warmup": warmup})

    # -- the measurements -------------------------------------------------

    def send(self, c: int) -> dict:
        return self.run(self.queue(f"send-{c}"), "send", c)

    def consume(self, c: int, fill_cap: float) -> dict:
        """The cycle at `c` connections on a fresh queue filled beforehand with
        what it will consume (x1.3), as a 0.3 s probe on another queue (filled
        for 0.5 s) estimates. If the queue runs dry (the load generator then
        stops at the first empty receive) before 80% of the time, again with
        1.6x as many: the peers' receive slows down with every message
        waiting, so as few as the run needs.

        A server too slow to fill the probe's queue in 0.5 s (moto, whose
        SendMessageBatch and ReceiveMessage slow down with every message
        waiting): no probe, its fill rate is the estimate, filling stops after
        `fill_cap` seconds, and no warm-up (a warm-up would last a whole cycle
        of several seconds and take what the measurement needs)."""
        probe = self.queue(f"probe-{c}")
        probe_fill = self.fill(probe, 1_000_000, max_seconds=0.5)["messages"]
        slow = probe_fill < 20 * c + 200
        if slow:
            estimate = max(probe_fill / 0.5, 10.0)
        else:
            estimate = max(self.run(probe, "consume", c, seconds=0.3, warmup=0)["mps"], 10.0)
        warmup = 0.0 if slow else WARMUP
        for attempt in range(4):
            url = self.queue(f"consume-{c}-{attempt}")
            least = 10 * c + 50  # a receive's worth per connection
            need = max(int(estimate * (warmup + self.seconds) * 1.3), least)
            t0 = time.perf_counter()
            filled = self.fill(url, least)["messages"]
            if need > least:
                filled += self.fill(url, need - least, max_seconds=fill_cap if slow else None)["messages"]
            filled_seconds = time.perf_counter() - t0
            r = self.run(url, "consume", c, warmup=warmup)
            r.update(depth=filled, fill_seconds=filled_seconds, estimate=estimate, slow=slow)
            if not r["dry"] or r["seconds"] >= 0.8 * self.seconds or filled < need:
                break
            estimate *= 1.6
        return r

    def shallow(self, c: int, refill: int) -> dict:
        """The same cycle, the queue never holding more than `refill`
        messages: rounds of "fill, then consume until dry", only the
        consuming timed."""
        return load({"port": self.port, "mode": "consume", "queue_url": self.queue(f"shallow-{c}"),
                     "concurrency": c, "seconds": max(self.seconds / 2, 1.0), "warmup": WARMUP / 2,
                     "refill": refill})

    def deep(self, budget: float) -> dict:
        """Receive-only (VisibilityTimeout=0) at 16 connections, 100 vs
        100,000 messages waiting."""
        out = {}
        shallow = self.queue("depth-100")
        self.fill(shallow, 100)
        out["shallow"] = self.run(shallow, "receive", 16, warmup=WARMUP / 2)
        if self.fill_rate and 100_000 / self.fill_rate > budget:
            out["skipped"] = (f"filling 100,000 messages at {self.fill_rate:,.0f} msg/s (its rate on a small queue) "
                              f"would take over {budget:.0f} s")
            return out
        deep = self.queue("depth-100000")
        t0 = time.perf_counter()
        filled = self.fill(deep, 100_000, max_seconds=budget)
        out["fill_seconds"] = time.perf_counter() - t0
        if filled["messages"] < 100_000:
            out["skipped"] = f"only {filled['messages']:,} messages filled in {budget:.0f} s"
            return out
        out["deep"] = self.run(deep, "receive", 16, warmup=WARMUP / 2)
        out["deep_depth"] = self.depth(deep)
        return out


def million(seconds: float, count: int, queue_attributes: dict | None = None) -> dict:
    """A fresh cloudlet; `count` 32-byte messages in one queue; its RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        srv = server("cloudlet", tmpdir=tmp).start()
        try:
            wait_ready(srv.port, sts_request(srv.port))
            b = Bench("cloudlet", srv.port, seconds, queue_attributes)
            url = b.queue("million")
            before = rss_kb(srv.proc.pid)
            t0 = time.perf_counter()
            r = b.fill(url, count, concurrency=8, body_size=32)
            fill_seconds = time.perf_counter() - t0
            after_fill = rss_kb(srv.proc.pid)
            depth = b.depth(url)
            receive = b.run(url, "receive", 16, seconds=min(seconds, 3.0), warmup=WARMUP / 2)
            after_receive = rss_kb(srv.proc.pid)
            db = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
            return {"messages": r["messages"], "errors": r["errors"], "fill_seconds": fill_seconds,
                    "fill_mps": r["messages"] / fill_seconds, "depth": depth, "rss_before_kb": before[0],
                    "rss_after_fill_kb": after_fill[0], "rss_after_receive_kb": after_receive[0],
                    "hwm_kb": after_receive[1], "receive": receive, "disk_bytes": db}
        finally:
            srv.stop()


def show_errors(r: dict) -> None:
    for sample in r.get("error_samples") or ():
        print(f"             error: {sample[:200]}")


def fmt_level(r: dict) -> str:
    return f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"


def table(title: str, unit: str, results: dict, levels: list[int], key: str) -> None:
    print(f"\n{title}")
    head = "| server    |" + "".join(f" c={c} {unit} | p50 / p99 ms |" for c in levels)
    print(head)
    print("|" + "|".join("-" * (len(part)) for part in head.split("|")[1:-1]) + "|")
    for name, per in results.items():
        cells = "".join(f" {per[c][key]:>{len(f'c={c} {unit}')},.0f} | {fmt_level(per[c]):>12s} |" for c in levels)
        print(f"| {name:9s} |{cells}")
    if "cloudlet" in results:
        for name in results:
            if name != "cloudlet":
                ratios = ", ".join(f"c={c}: {results['cloudlet'][c][key] / results[name][c][key]:.1f}x"
                                   if results[name][c][key] else f"c={c}: n/a" for c in levels)
                print(f"cloudlet vs {name}: {ratios}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per level (after 1 s warm-up)")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--servers", default="cloudlet,ministack,moto")
    parser.add_argument("--fill-budget", type=float, default=45.0,
                        help="longest a server may take to fill the 100,000-message queue")
    parser.add_argument("--fill-cap", type=float, default=3.0,
                        help="longest a slow server's (moto's) queue is filled before a consume level")
    parser.add_argument("--shallow-servers", default="cloudlet,ministack",
                        help="servers also measured with a shallow queue (moto's pre-filled queue is shallow anyway)")
    parser.add_argument("--refill", type=int, default=1000, help="messages per round of the shallow measurement")
    parser.add_argument("--million", type=int, default=1_000_000, help="messages for the RSS measurement")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--queue-attributes", type=json.loads, default={},
                        help='attributes of every queue made, as JSON (e.g. {"SqsManagedSseEnabled": "false"})')
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    started = time.perf_counter()
    print("peers:", peer_versions())
    sends: dict[str, dict[int, dict]] = {}
    consumes: dict[str, dict[int, dict]] = {}
    shallows: dict[str, dict[int, dict]] = {}
    depths: dict[str, dict] = {}
    for name in args.servers.split(","):
        server_started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            srv = server(name, tmpdir=tmp if name == "cloudlet" else None).start()
            try:
                wait_ready(srv.port, sts_request(srv.port))
                b = Bench(name, srv.port, args.seconds, args.queue_attributes)
                sends[name] = {}
                for c in levels:
                    r = sends[name][c] = b.send(c)
                    print(f"{name:10s} send    c={c:<3d} {r['rps']:9,.0f} msg/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}", flush=True)
                    show_errors(r)
                consumes[name] = {}
                for c in levels:
                    r = consumes[name][c] = b.consume(c, args.fill_cap)
                    dry = f"  ran dry after {r['seconds']:.1f} s" if r["dry"] else ""
                    dry += ", no warm-up" if r["slow"] else ""
                    print(f"{name:10s} consume c={c:<3d} {r['mps']:9,.0f} msg/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}  (queue filled with "
                          f"{r['depth']:,} in {r['fill_seconds']:.1f} s){dry}", flush=True)
                    show_errors(r)
                if name in args.shallow_servers.split(","):
                    shallows[name] = {}
                    for c in levels:
                        r = shallows[name][c] = b.shallow(c, args.refill)
                        print(f"{name:10s} shallow c={c:<3d} {r['mps']:9,.0f} msg/s  p50 {r['p50_ms']:7.2f} ms  "
                              f"p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}  ({r['rounds']} rounds of "
                              f"{args.refill:,})", flush=True)
                        show_errors(r)
                d = depths[name] = b.deep(args.fill_budget)
                line = f"{name:10s} receive c=16  depth 100: {d['shallow']['mps']:9,.0f} msg/s " \
                       f"p99 {d['shallow']['p99_ms']:.2f} ms"
                if "deep" in d:
                    line += (f" | depth {d['deep_depth']:,}: {d['deep']['mps']:9,.0f} msg/s p99 "
                             f"{d['deep']['p99_ms']:.2f} ms (filled in {d['fill_seconds']:.1f} s)")
                else:
                    line += f" | depth 100,000: skipped ({d['skipped']})"
                errors = d["shallow"]["errors"] + d.get("deep", {}).get("errors", 0)
                print(line + f"  errors {errors}", flush=True)
            finally:
                srv.stop()
        print(f"{name:10s} ({time.perf_counter() - server_started:.0f} s)", flush=True)

    table("SendMessage", "msg/s", sends, levels, "rps")
    table("ReceiveMessage(10) + DeleteMessageBatch (messages consumed; latency of the cycle)", "msg/s",
          consumes, levels, "mps")

    print("\nstarting depth of each consume level: " + "; ".join(
        f"{name} " + ", ".join(f"c={c}: {per[c]['depth']:,}" for c in levels) for name, per in consumes.items()))
    if shallows:
        table(f"The same cycle, at most {args.refill:,} messages waiting (rounds of: fill, consume until dry)",
              "msg/s", shallows, levels, "mps")
    print("\nReceiveMessage(10, VisibilityTimeout=0), 16 connections, messages/s received")
    print("| server    | 100 waiting | 100,000 waiting | ratio |")
    print("|-----------|-------------|-----------------|-------|")
    for name, d in depths.items():
        if "deep" in d:
            print(f"| {name:9s} | {d['shallow']['mps']:11,.0f} | {d['deep']['mps']:15,.0f} | "
                  f"{d['deep']['mps'] / max(d['shallow']['mps'], 1e-9):5.2f} |")
        else:
            print(f"| {name:9s} | {d['shallow']['mps']:11,.0f} | {'skipped':>15s} |       |  {d['skipped']}")

    if 1 in levels and "cloudlet" in sends and "ministack" in sends:
        floor = send_floor(args.seconds)
        print("\nOne connection: each request waits for the last answer (bench/nullserver.py is the floor)")
        for line in floor_lines("SendMessage", floor, sends["cloudlet"][1]["rps"], sends["ministack"][1]["rps"]):
            print("  " + line)
        if "cloudlet" in shallows and "ministack" in shallows:
            # A cycle is two round trips and consumes ten messages.
            for line in floor_lines("receive(10)+DeleteMessageBatch cycle", floor,
                                    shallows["cloudlet"][1]["mps"] / 10, shallows["ministack"][1]["mps"] / 10,
                                    per_op=2):
                print("  " + line)

    if not args.skip_rss and "cloudlet" in args.servers.split(","):
        m = million(args.seconds, args.million, args.queue_attributes)
        print(f"\ncloudlet with {m['depth']:,} messages (32 bytes) waiting in one queue:")
        print(f"  filled {m['messages']:,} messages in {m['fill_seconds']:.1f} s ({m['fill_mps']:,.0f} msg/s, "
              f"SendMessageBatch on 8 connections, errors {m['errors']})")
        print(f"  server VmRSS: {m['rss_before_kb'] / 1024:.1f} MB before, {m['rss_after_fill_kb'] / 1024:.1f} MB "
              f"after the fill, {m['rss_after_receive_kb'] / 1024:.1f} MB after receiving; peak (VmHWM) "
              f"{m['hwm_kb'] / 1024:.1f} MB; data dir {m['disk_bytes'] / 2**20:.0f} MiB")
        r = m["receive"]
        print(f"  ReceiveMessage(10, VisibilityTimeout=0) c=16 at that depth: {r['mps']:,.0f} msg/s, "
              f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, errors {r['errors']}")
    else:
        m = None
    targets(sends, consumes, shallows, depths, m, levels)
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    return 0


def send_floor(seconds: float) -> float:
    """SendMessage/s at one connection against a server that does no work."""
    srv = null_server(b'{"MD5OfMessageBody":"d41d8cd98f00b204e9800998ecf8427e",'
                      b'"MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}').start()
    try:
        wait_listening(srv.port)
        return load({"port": srv.port, "mode": "send", "queue_url": f"http://127.0.0.1:{srv.port}/000000000000/q",
                     "concurrency": 1, "seconds": seconds, "warmup": WARMUP})["rps"]
    finally:
        srv.stop()


def targets(sends, consumes, shallows, depths, m, levels) -> None:
    """The issue's targets, as this run measured them."""
    if "cloudlet" not in sends:
        return
    print("\ntargets")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    if "ministack" in sends:
        for label, table_ in (("SendMessage", sends), ("receive+delete (pre-filled)", consumes),
                              ("receive+delete (<= 1,000 waiting)", shallows)):
            if "ministack" not in table_:
                continue
            key = "rps" if table_ is sends else "mps"
            ratios = [table_["cloudlet"][c][key] / max(table_["ministack"][c][key], 1e-9) for c in levels]
            text = ", ".join(f"c={c} {r:.1f}x" for c, r in zip(levels, ratios))
            print(f"  3x ministack, {label}: {text}: {verdict(min(ratios) >= 3)}")
    if 16 in levels:
        for label, table_ in (("SendMessage", sends), ("receive+delete cycle", consumes)):
            p99 = table_["cloudlet"][16]["p99_ms"]
            print(f"  p99 < 10 ms at c=16, {label}: {p99:.2f} ms: {verdict(p99 < 10)}")
    d = depths.get("cloudlet", {})
    if "deep" in d:
        sh, dp = d["shallow"], d["deep"]
        print(f"  receive speed with 100,000 waiting: {dp['mps']:,.0f} vs {sh['mps']:,.0f} msg/s with 100 "
              f"({dp['mps'] / sh['mps']:.2f}x; p50 {dp['p50_ms']:.2f} vs {sh['p50_ms']:.2f} ms, p99 "
              f"{dp['p99_ms']:.2f} vs {sh['p99_ms']:.2f} ms; run-to-run noise is about 15%)")
    if m is not None:
        rss = max(m["rss_after_fill_kb"], m["rss_after_receive_kb"]) / 1024
        print(f"  RSS < 200 MB with {m['depth']:,} waiting: {rss:.1f} MB: {verdict(rss < 200)}")


if __name__ == "__main__":
    sys.exit(main())
