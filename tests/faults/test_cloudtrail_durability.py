"""CloudTrail delivery across SIGKILL: what was recorded before the kill is
delivered after the restart, once."""

from __future__ import annotations

import gzip
import json
import signal
import sys
import time

import boto3
import pytest

from tests.faults.test_restart import admin, free_port, start
from tests.services.test_cloudtrail import trail_bucket_policy


def client(port: int, service: str):
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def delivered(port: int) -> list[list[str]]:
    s3 = client(port, "s3")
    out = []
    for o in sorted(s3.list_objects_v2(Bucket="trail-logs").get("Contents", []), key=lambda o: o["Key"]):
        body = gzip.decompress(s3.get_object(Bucket="trail-logs", Key=o["Key"])["Body"].read())
        out.append([(r.get("requestParameters") or {}).get("queueName") or r["eventName"]
                    for r in json.loads(body)["Records"]])
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_pending_records_survive_sigkill_and_are_delivered_once(tmp_path):
    port = free_port()
    proc = start(str(tmp_path), port)
    t0 = (int(time.time()) // 3600 - 4) * 3600
    try:
        admin(port, "POST", "/_cloudlet/clock", {"set": t0})
        s3, ct, sqs = (client(port, s) for s in ("s3", "cloudtrail", "sqs"))
        s3.create_bucket(Bucket="trail-logs")
        s3.put_bucket_policy(Bucket="trail-logs", Policy=trail_bucket_policy("trail-logs", "main"))
        ct.create_trail(Name="main", S3BucketName="trail-logs")
        ct.start_logging(Name="main")
        sqs.create_queue(QueueName="one")
        admin(port, "POST", "/_cloudlet/clock", {"advance": 300})     # delivered
        sqs.create_queue(QueueName="two")                             # pending at the kill
        sqs.create_queue(QueueName="three")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert delivered_after_restart(tmp_path, port) == [["StartLogging", "one"], ["two", "three"]]


def delivered_after_restart(tmp_path, port: int) -> list:
    proc = start(str(tmp_path), port)
    try:
        admin(port, "POST", "/_cloudlet/clock", {"advance": 300})
        admin(port, "POST", "/_cloudlet/cloudtrail/flush")
        # everything was delivered: nothing is left to send again
        assert admin(port, "POST", "/_cloudlet/cloudtrail/flush") == {"logFiles": 0, "digestFiles": 0}
        return [names for names in delivered(port) if names != ["ListObjectsV2"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
