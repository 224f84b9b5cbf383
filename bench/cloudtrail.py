"""Gateway throughput with CloudTrail recording off and on, in one run, at
1, 16 and 64 concurrent connections, for two calls:

  STS GetCallerIdentity  a management event: recorded for the event history
                         in every mode but "off"
  S3 GetObject (1 KiB)   a data event: recorded only when a trail wants it

and the servers

  off     CLOUDLET_CLOUDTRAIL=off: nothing recorded (no AWS account is
          like this: event history is always on)
  on      every management event recorded (the default), no trail
  trail   recorded, and a logging trail whose selectors take all management
          and all data events (S3 objects, SQS queues, SNS topics)

The issue's target: with the trail, at least 85% of the no-trail figure
("trail vs on"); also printed against recording off.

    .venv/bin/python bench/cloudtrail.py [--seconds 5] [--concurrency 1,16,64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gateway import load  # noqa: E402
from peers import server, sts_request, wait_ready  # noqa: E402
from s3 import setup as s3_setup, signed  # noqa: E402


def add_trail(port: int) -> None:
    import boto3

    kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
              aws_access_key_id="test", aws_secret_access_key="test")
    s3, ct = boto3.client("s3", **kw), boto3.client("cloudtrail", **kw)
    s3.create_bucket(Bucket="bench-trail")
    s3.put_bucket_policy(Bucket="bench-trail", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": ["s3:GetBucketAcl", "s3:PutObject"], "Resource": ["arn:aws:s3:::bench-trail",
                                                                      "arn:aws:s3:::bench-trail/*"]}]}))
    ct.create_trail(Name="everything", S3BucketName="bench-trail", IsMultiRegionTrail=True)
    ct.put_event_selectors(TrailName="everything", AdvancedEventSelectors=[
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        *({"Name": kind, "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                            {"Field": "resources.type", "Equals": [kind]}]}
          for kind in ("AWS::S3::Object", "AWS::SQS::Queue", "AWS::SNS::Topic"))])
    ct.start_logging(Name="everything")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    calls = ("STS GetCallerIdentity", "S3 GetObject 1 KiB")
    results: dict[tuple[str, str], dict[int, dict]] = {}
    for mode in ("off", "on", "trail"):
        with tempfile.TemporaryDirectory() as tmp:
            srv = server("cloudlet", tmpdir=tmp)
            srv.env["CLOUDLET_CLOUDTRAIL"] = "off" if mode == "off" else "on"
            srv.start()
            try:
                requests = {calls[0]: sts_request(srv.port)}
                wait_ready(srv.port, requests[calls[0]])
                s3_setup(srv.port, "bench")
                requests[calls[1]] = signed("GET", srv.port, "/bench/small")
                if mode == "trail":
                    add_trail(srv.port)
                for call in calls:
                    results[(call, mode)] = {}
                    for c in levels:
                        r = load(srv.port, requests[call], c, args.seconds)
                        results[(call, mode)][c] = r
                        print(f"{call:22s} {mode:6s} c={c:<3d} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                              f"p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}", flush=True)
            finally:
                srv.stop()
    print()
    for call in calls:
        for mode, base in (("trail", "on"), ("on", "off"), ("trail", "off")):
            ratios = ", ".join(
                f"c={c}: {results[(call, mode)][c]['rps'] / max(results[(call, base)][c]['rps'], 1e-9):.0%}"
                for c in levels)
            print(f"{call:22s} {mode} vs {base}: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
