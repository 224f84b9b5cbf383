"""CloudWatch metrics for cloudlet, ministack and moto in one run.

  ingest  PutMetricData requests of 1,000 datapoints, the same signed
          request over and over from bench/loadgen.py in its own process,
          at 1 and 16 keep-alive connections (1 s of warm-up, --seconds
          measured): datapoints/s (requests/s x 1,000) and p50/p99 ms.
          Two shapes: `Value`  1,000 datums of one Value each (10 metric
                               names x 10 Host dimension values = 100
                               metrics, Unit Milliseconds, no Timestamp:
                               the server's now), what most SDK code sends;
                       `Values` 10 datums (one per metric) of a Values
                               array of 100 (the 150-value maximum is
                               what the load below uses).
  query   GetMetricData over 1,000,000 stored datapoints of one metric (a
          fresh server): 6,667 datums of Values arrays of 150 (values 0..999),
          timestamps every ~175 s over the last 13.5 days, loaded in
          requests of 20 datums; then one query at a time over the last 14
          days, Period 60 and 3600, Stat Average and p99: p50/p99 ms over
          --samples queries (fewer for a server slower than --budget
          seconds a combination; a query unanswered in --timeout seconds
          fails the combination), answers checked (HTTP 200, values there).
  alarms  cloudlet only (moto evaluates no alarm; ministack's are not
          comparable): 1,000 metric alarms (10 on each of 100 metrics:
          Average/Maximum/p90, M of N 3/5 and 1/1, every TreatMissingData)
          on a virtual clock; each minute one datapoint per metric is put,
          then the clock advances 60 s (the admin call returns once the
          evaluation job has run). The server's CPU seconds (/proc utime +
          stime) spent in those advances, per evaluation minute, as a share
          of one core.

Requests are raw HTTP/1.1, made and signed by botocore itself (`wire`), in
the protocol boto3 picks for CloudWatch (awsJson 1.0 in query-compatible
mode with botocore 1.44; CBOR or query with others: all three servers speak
all three); latency is measured from the bench process without parsing, so
a client's decoding of a large answer is not counted.

    .venv/bin/python bench/cloudwatch.py [--seconds 5] [--concurrency 1,16]
        [--samples 20] [--budget 30] [--timeout 60] [--servers cloudlet,ministack,moto]
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import boto3  # noqa: E402
import cbor2  # noqa: E402
from botocore.config import Config  # noqa: E402

from peers import server, sts_request, wait_ready  # noqa: E402
from report import arguments, ratio_table, run_all  # noqa: E402

NS = "Bench/App"
DAY = 86400
POINTS = 1_000_050          # 6,667 datums x 150 values
DATUMS, PER_DATUM, PER_REQUEST = 6_667, 150, 20
SPAN = 13.5 * DAY
QUERIES = [(60, "Average"), (60, "p99"), (3600, "Average"), (3600, "p99")]


class _Captured(Exception):
    pass


def client(port: int):
    return boto3.client("cloudwatch", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


def wire(cw, port: int, op: str, **params) -> bytes:
    """The raw HTTP/1.1 request botocore would send for `op` (signed now)."""
    seen = {}

    def grab(request, **_):
        seen["request"] = request
        raise _Captured()

    cw.meta.events.register_first("before-send.cloudwatch.*", grab)
    try:
        getattr(cw, op)(**params)
    except _Captured:
        pass
    finally:
        cw.meta.events.unregister("before-send.cloudwatch.*", grab)
    req = seen["request"]
    body = req.body if isinstance(req.body, bytes) else (req.body or b"")
    if not isinstance(body, bytes):
        body = body.read()
    parts = urlsplit(req.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    for k, v in req.headers.items():
        if k.lower() not in ("host", "content-length"):
            lines.append(f"{k}: {v.decode() if isinstance(v, bytes) else v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One blocking keep-alive connection: send a request, read the whole answer."""

    def __init__(self, port: int, timeout: float = 600.0):
        self.port, self.timeout = port, timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("closed")
        self.buf += data

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self, sep=b"\r\n") -> bytes:
        while sep not in self.buf:
            self._fill()
        out, self.buf = self.buf.split(sep, 1)
        return out

    def roundtrip(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        head = self._line(b"\r\n\r\n").split(b"\r\n")
        status = int(head[0].split()[1])
        length, chunked, close = 0, False, False
        for line in head[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                length = int(v)
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
            elif k == b"connection" and b"close" in v.lower():
                close = True
        if chunked:
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                body += self._take(size + 2)[:size]
                if size == 0:
                    break
        else:
            body = self._take(length)
        if close:
            self.close()
            self.__init__(self.port, self.timeout)
        return status, body

    def close(self) -> None:
        self.sock.close()


# -- ingestion ----------------------------------------------------------------

def ingest_params(shape: str) -> dict:
    if shape == "Value":
        data = [{"MetricName": f"m{i % 10}", "Dimensions": [{"Name": "Host", "Value": f"h{i // 10 % 10}"}],
                 "Value": float(i % 97), "Unit": "Milliseconds"} for i in range(1000)]
    else:
        data = [{"MetricName": f"m{i}", "Dimensions": [{"Name": "Host", "Value": "h0"}],
                 "Values": [float((i * 100 + k) % 97) for k in range(100)], "Unit": "Milliseconds"}
                for i in range(10)]
    return {"Namespace": NS, "MetricData": data}


def load(port: int, req: bytes, concurrency: int, seconds: float) -> dict:
    """Closed-loop load from bench/loadgen.py, in its own process (uvloop)."""
    proc = subprocess.run([sys.executable, str(HERE / "loadgen.py"), str(port), str(concurrency), str(seconds)],
                          input=req, capture_output=True, check=True)
    out = json.loads(proc.stdout)
    return {"rps": out["rps"] * 1000, "p50": out["p50_ms"], "p99": out["p99_ms"], "errors": out["errors"]}


# -- 1,000,000 datapoints -------------------------------------------------------

def fill(port: int, cw, now: float) -> float:
    """Load POINTS datapoints into one metric; returns seconds taken."""
    rng = random.Random(7)
    start = now - SPAN
    step = SPAN / DATUMS
    conn = Connection(port)
    t0 = time.perf_counter()
    try:
        for first in range(0, DATUMS, PER_REQUEST):
            data = [{"MetricName": "Big", "Timestamp": start + k * step, "Unit": "Milliseconds",
                     "Values": [float(rng.randrange(1000)) for _ in range(PER_DATUM)]}
                    for k in range(first, min(first + PER_REQUEST, DATUMS))]
            status, body = conn.roundtrip(wire(cw, port, "put_metric_data", Namespace=NS, MetricData=data))
            if status != 200:
                raise RuntimeError(f"PutMetricData: HTTP {status}: {body[:300]!r}")
    finally:
        conn.close()
    return time.perf_counter() - t0


def query(port: int, cw, now: float, period: int, stat: str, samples: int, budget: float, timeout: float) -> dict:
    params = {"MetricDataQueries": [{"Id": "q", "MetricStat": {
        "Metric": {"Namespace": NS, "MetricName": "Big"}, "Period": period, "Stat": stat}}],
        "StartTime": now - 14 * DAY, "EndTime": now + 60}
    conn = Connection(port, timeout)
    times: list[float] = []
    values = None
    began = time.perf_counter()
    try:
        while len(times) < samples and (len(times) < 3 or time.perf_counter() - began < budget):
            req = wire(cw, port, "get_metric_data", **params)
            t0 = time.perf_counter()
            status, body = conn.roundtrip(req)
            elapsed = time.perf_counter() - t0
            if status != 200:
                return {"failed": f"HTTP {status}", "samples": len(times)}
            if values is None:
                out = json.loads(body) if body[:1] == b"{" else cbor2.loads(body)
                results = out.get("MetricDataResults") or []
                values = len(results[0].get("Values") or []) if results else 0
                if not values:
                    return {"failed": "no values", "samples": len(times)}
            times.append(elapsed)
    except socket.timeout:
        return {"failed": f"no answer in {timeout:.0f} s", "samples": len(times)}
    except (OSError, ConnectionError) as exc:
        return {"failed": type(exc).__name__, "samples": len(times)}
    finally:
        conn.close()
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))] * 1000  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99), "samples": len(times), "values": values}


# -- alarm evaluation CPU (cloudlet) ----------------------------------------------------

ALARMS_PER_METRIC = 10


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _admin(port: int, body: dict) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/_cloudlet/clock", data=json.dumps(body).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def alarm_cpu(args) -> dict:
    srv = server("cloudlet").start()
    try:
        wait_ready(srv.port, sts_request(srv.port))
        cw = client(srv.port)
        t0 = 1_893_456_000.0  # 2030-01-01T00:00:00Z
        _admin(srv.port, {"set": t0})
        metrics = [(f"M{i % 10}", f"h{i // 10}") for i in range(100)]

        def put_minute(ts: float) -> None:
            cw.put_metric_data(Namespace=NS, MetricData=[
                {"MetricName": m, "Dimensions": [{"Name": "Host", "Value": h}], "Timestamp": ts,
                 "Value": random.uniform(0, 100)} for m, h in metrics])

        for minute in range(10):  # ten minutes of history
            put_minute(t0 - 600 + minute * 60 + 5)
        variants = [("Average", 3, 5, "missing"), ("Maximum", 1, 1, "breaching"), ("p90", 3, 5, "ignore"),
                    ("Average", 2, 3, "notBreaching"), ("Maximum", 5, 5, "missing")]
        n = 0
        for m, h in metrics:
            for k in range(ALARMS_PER_METRIC):
                stat, dp, ev, missing = variants[k % len(variants)]
                extra = {"ExtendedStatistic": stat} if stat.startswith("p") else {"Statistic": stat}
                cw.put_metric_alarm(AlarmName=f"a-{m}-{h}-{k}", Namespace=NS, MetricName=m,
                                    Dimensions=[{"Name": "Host", "Value": h}], Period=60, EvaluationPeriods=ev,
                                    DatapointsToAlarm=dp, Threshold=float(10 * k), TreatMissingData=missing,
                                    ComparisonOperator="GreaterThanThreshold", **extra)
                n += 1
        spent = []
        for minute in range(args.alarm_minutes):
            put_minute(t0 + minute * 60 + 5)
            before = _cpu_seconds(srv.proc.pid)
            _admin(srv.port, {"advance": 60})
            spent.append(_cpu_seconds(srv.proc.pid) - before)
        states: dict = {}
        for page in cw.get_paginator("describe_alarms").paginate():
            for a in page["MetricAlarms"]:
                states[a["StateValue"]] = states.get(a["StateValue"], 0) + 1
        per_minute = sum(spent) / len(spent)
        out = {"alarms": n, "minutes": len(spent), "cpu_per_minute": per_minute, "core_share": per_minute / 60,
               "states": states}
        print(f"  cloudlet   {n:,} alarms: {per_minute:.3f} CPU s per evaluation minute = "
              f"{per_minute / 60 * 100:.2f}% of one core (over {len(spent)} minutes; states {states})", flush=True)
        return out
    finally:
        srv.stop()


# -- one server -------------------------------------------------------------------

def run_server(name: str, args) -> dict:
    result: dict = {}
    srv = server(name).start()
    try:
        wait_ready(srv.port, sts_request(srv.port))
        cw = client(srv.port)
        for shape in ("Value", "Values"):
            op = f"PutMetricData {shape}"
            result[op] = {}
            req = wire(cw, srv.port, "put_metric_data", **ingest_params(shape))
            status, body = Connection(srv.port).roundtrip(req)
            if status != 200:
                raise RuntimeError(f"{name} PutMetricData: HTTP {status}: {body[:300]!r}")
            for c in args.levels:
                r = load(srv.port, wire(cw, srv.port, "put_metric_data", **ingest_params(shape)), c, args.seconds)
                result[op][c] = r
                print(f"  {name:10s} {op:21s} c={c:<3d} {r['rps']:10,.0f} datapoints/s  p50 {r['p50']:7.2f} ms  "
                      f"p99 {r['p99']:7.2f} ms  errors {r['errors']}", flush=True)
    finally:
        srv.stop()
    if name == "cloudlet":
        result["alarms"] = alarm_cpu(args)

    srv = server(name).start()  # a fresh server: only the 1,000,000 points
    try:
        wait_ready(srv.port, sts_request(srv.port))
        cw = client(srv.port)
        now = time.time()
        took = fill(srv.port, cw, now)
        result["fill"] = took
        print(f"  {name:10s} loaded {POINTS:,} datapoints in {took:6.1f} s ({POINTS / took:,.0f}/s)", flush=True)
        for period, stat in QUERIES:
            r = query(srv.port, cw, now, period, stat, args.samples, args.budget, args.timeout)
            result[f"GetMetricData {period} {stat}"] = r
            if "failed" in r:
                print(f"  {name:10s} GetMetricData Period {period:<4d} {stat:7s} failed: {r['failed']}", flush=True)
            else:
                print(f"  {name:10s} GetMetricData Period {period:<4d} {stat:7s} p50 {r['p50']:8.1f} ms  "
                      f"p99 {r['p99']:8.1f} ms  ({r['samples']} queries, {r['values']:,} values)", flush=True)
    finally:
        srv.stop()
    return result


def main() -> int:
    args = arguments(__doc__, extra=[("--samples", {"type": int, "default": 20}),
                                     ("--budget", {"type": float, "default": 30.0}),
                                     ("--timeout", {"type": float, "default": 60.0}),
                                     ("--alarm-minutes", {"type": int, "default": 10})])
    if args.concurrency == "1,16,64":  # report.arguments' default; this bench's levels are 1 and 16
        args.levels = [1, 16]
    names = args.servers.split(",")
    results = run_all(names, run_server, args)
    lows = [ratio_table(f"PutMetricData, datums of one {shape}" if shape == "Value" else
                        "PutMetricData, datums of Values arrays of 100", results, names,
                        f"PutMetricData {shape}", args.levels) for shape in ("Value", "Values")]
    print("\nGetMetricData over 1,000,000 datapoints (p50 / p99 ms)")
    for period, stat in QUERIES:
        row = [f"Period {period:<4d} {stat:7s}"]
        for n in names:
            r = results[n][f"GetMetricData {period} {stat}"]
            row.append(f"{n} failed ({r['failed']})" if "failed" in r else f"{n} {r['p50']:,.1f} / {r['p99']:,.1f}")
        base = results.get("cloudlet", {}).get(f"GetMetricData {period} {stat}", {})
        for n in names:
            peer = results[n][f"GetMetricData {period} {stat}"]
            if n != "cloudlet" and "p50" in base and "p50" in peer:
                row.append(f"{peer['p50'] / base['p50']:.0f}x faster than {n}")
        print("  " + "  |  ".join(row))
    worst = min((w for w in lows if w is not None), default=None)
    if worst is not None:
        print(f"\nTarget: ingestion >= 3x ministack's datapoints/s: {'met' if worst >= 3 else 'NOT met'} "
              f"(lowest {worst:.1f}x)")
    if "cloudlet" in results:
        slowest = max(results["cloudlet"][f"GetMetricData {p} {s}"].get("p99", float("inf")) for p, s in QUERIES)
        print(f"Target: GetMetricData over 1,000,000 datapoints under 200 ms: "
              f"{'met' if slowest < 200 else 'NOT met'} (slowest p99 {slowest:.1f} ms)")
    alarms = results.get("cloudlet", {}).get("alarms")
    if alarms:
        print(f"Target: {alarms['alarms']:,} alarms cost under 10% of one core: "
              f"{'met' if alarms['core_share'] < 0.10 else 'NOT met'} ({alarms['core_share'] * 100:.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
