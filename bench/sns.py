"""SNS fan-out for cloudlet, ministack and moto in one run.

  publish  Publish (64-byte message) to a topic with 10 SQS subscriptions
           (JSON envelope, the default), at 1, 16 and 64 keep-alive
           connections: publishes/s and p50/p99 ms. Afterwards each queue
           must hold one message per publish; the "delivered" column says
           what share of them arrived within 30 s of the run.
  latency  publish -> visible in SQS: one Publish at a time, then
           ReceiveMessage (WaitTimeSeconds=0) on one of the 10 queues in a
           tight loop until the message is there; the time from sending the
           Publish to the receive that returns it, p50/p99 over --samples.

Requests are raw HTTP/1.1 signed with SigV4 (SNS query protocol, SQS JSON),
as the SDKs send them; topics and queues are set up with boto3.

    .venv/bin/python bench/sns.py [--seconds 5] [--concurrency 1,16,64]
        [--samples 300] [--servers cloudlet,ministack,moto]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

from peers import null_server, peer_versions, server, sts_request, wait_listening, wait_ready  # noqa: E402
from report import floor_lines  # noqa: E402
from sqsload import Connection  # noqa: E402

QUEUES = 10
WARMUP = 1.0
FORM = "application/x-www-form-urlencoded; charset=utf-8"


def signed(port: int, service: str, body: bytes, headers: dict) -> bytes:
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers=headers)
    SigV4Auth(Credentials("test", "test"), service, "us-east-1").add_auth(req)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Requests:
    """Signed requests, re-signed once a second (x-amz-date moves on)."""

    def __init__(self, port: int, topic_arn: str):
        self.port, self.topic_arn = port, topic_arn
        self._second = -1
        self._publish = b""

    def publish(self, message: str | None = None) -> bytes:
        if message is not None:
            return signed(self.port, "sns", self._publish_body(message), {"Content-Type": FORM})
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._publish = signed(self.port, "sns", self._publish_body("x" * 64), {"Content-Type": FORM})
        return self._publish

    def _publish_body(self, message: str) -> bytes:
        return (f"Action=Publish&Version=2010-03-31&TopicArn={quote(self.topic_arn, safe='')}"
                f"&Message={quote(message, safe='')}").encode()

    def receive(self, queue_url: str) -> bytes:
        body = json.dumps({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0}).encode()
        return signed(self.port, "sqs", body, {"Content-Type": "application/x-amz-json-1.0",
                                               "X-Amz-Target": "AmazonSQS.ReceiveMessage"})


def setup(port: int, name: str) -> tuple[str, list[str]]:
    """A topic with QUEUES SQS subscriptions whose policies let it deliver."""
    cfg = Config(retries={"max_attempts": 1})
    kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=cfg)
    sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
    topic = sns.create_topic(Name=name)["TopicArn"]
    urls = []
    for i in range(QUEUES):
        url = sqs.create_queue(QueueName=f"{name}-{i}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        urls.append(url)
    return topic, urls


def depth(port: int, url: str) -> int:
    sqs = boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


async def publish_load(port: int, topic: str, concurrency: int, seconds: float) -> dict:
    requests = Requests(port, topic)
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0, "warm": 0}
    samples: list[str] = []
    start = time.perf_counter()
    measure_from = start + WARMUP
    stop_at = measure_from + seconds

    async def worker():
        conn = Connection(port)
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                status, body = await conn.call(requests.publish())
                t1 = time.perf_counter()
                if status != 200:
                    counts["errors"] += 1
                    if len(samples) < 3:
                        samples.append(f"{status} {body[:200]!r}")
                    continue
                if t0 < measure_from:
                    counts["warm"] += 1
                else:
                    counts["ok"] += 1
                    latencies.append(t1 - t0)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    return {"rps": counts["ok"] / seconds, "p50": _pct(latencies, 0.5), "p99": _pct(latencies, 0.99),
            "published": counts["ok"] + counts["warm"], "errors": counts["errors"], "samples": samples}


async def visible_latency(port: int, topic: str, queue_url: str, samples: int) -> dict:
    requests = Requests(port, topic)
    pub, recv = Connection(port), Connection(port)
    out: list[float] = []
    missing = 0
    try:
        for i in range(samples):
            marker = f"latency-{i}-{time.time_ns()}"
            t0 = time.perf_counter()
            status, body = await pub.call(requests.publish(marker))
            if status != 200:
                raise RuntimeError(f"Publish: HTTP {status} {body[:200]!r}")
            found = False
            while time.perf_counter() - t0 < 5.0:
                status, body = await recv.call(requests.receive(queue_url))
                if status == 200 and marker.encode() in body:
                    out.append(time.perf_counter() - t0)
                    found = True
                    break
            if not found:
                missing += 1
    finally:
        pub.close()
        recv.close()
    out.sort()
    return {"p50": _pct(out, 0.5), "p99": _pct(out, 0.99), "mean": statistics.mean(out) if out else float("nan"),
            "samples": len(out), "missing": missing}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def run_server(name: str, args) -> dict:
    srv = server(name).start()
    try:
        wait_ready(srv.port, sts_request(srv.port))
        result: dict = {"publish": {}, "latency": None}
        for c in args.levels:
            topic, urls = setup(srv.port, f"fanout-{c}")
            r = asyncio.run(publish_load(srv.port, topic, c, args.seconds))
            deadline = time.time() + 30
            delivered = [depth(srv.port, u) for u in urls]
            while min(delivered) < r["published"] and time.time() < deadline:
                time.sleep(0.2)
                delivered = [depth(srv.port, u) for u in urls]
            r["delivered"] = sum(min(d, r["published"]) for d in delivered) / (QUEUES * r["published"]) \
                if r["published"] else 0.0
            result["publish"][c] = r
            print(f"  {name:10s} c={c:<3d} {r['rps']:8,.0f} publish/s  p50 {r['p50']:6.2f} ms  "
                  f"p99 {r['p99']:7.2f} ms  delivered {r['delivered']:.0%}  errors {r['errors']}", flush=True)
            for s in r["samples"]:
                print(f"      error: {s}")
        topic, urls = setup(srv.port, "latency")
        result["latency"] = asyncio.run(visible_latency(srv.port, topic, urls[0], args.samples))
        lat = result["latency"]
        print(f"  {name:10s} publish->visible p50 {lat['p50']:.2f} ms  p99 {lat['p99']:.2f} ms  "
              f"({lat['samples']} samples, {lat['missing']} never seen)", flush=True)
        return result
    finally:
        srv.stop()


def publish_floor(seconds: float) -> float:
    """Publish/s at one connection against a server that does no work."""
    srv = null_server(b"<PublishResponse><PublishResult><MessageId>5fea7756-0ea4-451a-a703-a558b933e274"
                      b"</MessageId></PublishResult></PublishResponse>").start()
    try:
        wait_listening(srv.port)
        return asyncio.run(publish_load(srv.port, "arn:aws:sns:us-east-1:000000000000:floor", 1, seconds))["rps"]
    finally:
        srv.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--servers", default="cloudlet,ministack,moto")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.concurrency.split(",")]
    names = args.servers.split(",")
    if any(n != "cloudlet" for n in names):
        print("peers:", ", ".join(f"{k} {v}" for k, v in peer_versions().items()))
    results = {}
    for name in names:
        print(f"{name}:", flush=True)
        results[name] = run_server(name, args)

    print("\nPublish with fan-out to 10 SQS queues (publishes/s; ratio = cloudlet / peer)")
    for c in args.levels:
        row = [f"c={c:<3d}"]
        for name in names:
            r = results[name]["publish"][c]
            row.append(f"{name} {r['rps']:,.0f} ({r['delivered']:.0%} delivered)")
        if "cloudlet" in results:
            base = results["cloudlet"]["publish"][c]["rps"]
            for name in names:
                if name != "cloudlet" and results[name]["publish"][c]["rps"]:
                    row.append(f"{base / results[name]['publish'][c]['rps']:.1f}x {name}")
        print("  " + "  |  ".join(row))
    print("\nPublish -> visible in SQS (ms)")
    for name in names:
        lat = results[name]["latency"]
        print(f"  {name:10s} p50 {lat['p50']:.2f}  p99 {lat['p99']:.2f}")
    if 1 in args.levels and "cloudlet" in results and "ministack" in results:
        print("\nOne connection: each request waits for the last answer (bench/nullserver.py is the floor)")
        floor = publish_floor(args.seconds)
        for line in floor_lines("Publish", floor, results["cloudlet"]["publish"][1]["rps"],
                                results["ministack"]["publish"][1]["rps"]):
            print("  " + line)
    if "cloudlet" in results and "ministack" in results:
        worst = min(results["cloudlet"]["publish"][c]["rps"] / max(results["ministack"]["publish"][c]["rps"], 1e-9)
                    for c in args.levels)
        p99 = results["cloudlet"]["latency"]["p99"]
        print(f"\nTargets: throughput >= 3x ministack at every level: {'met' if worst >= 3 else 'NOT met'} "
              f"(lowest {worst:.1f}x); publish->visible p99 < 20 ms: {'met' if p99 < 20 else 'NOT met'} "
              f"({p99:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
