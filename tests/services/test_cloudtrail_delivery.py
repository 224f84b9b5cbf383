"""CloudTrail delivery against a live server: log files in the trail's
bucket, digests that the real `aws cloudtrail validate-logs` accepts (and
rejects once a log file is changed or a digest deleted), delivery errors
from the bucket policy, ListPublicKeys."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import rsa

from tests.services.test_cloudtrail import ACCOUNT, REGION, make_trail, trail_bucket_policy

BUCKET = "trail-logs"
TRAIL = "main"
TRAIL_ARN = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{TRAIL}"
LOG_KEY = re.compile(rf"^AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/(\d{{4}})/(\d{{2}})/(\d{{2}})/"
                     rf"{ACCOUNT}_CloudTrail_{REGION}_(\d{{8}}T\d{{4}}Z)_[A-Za-z0-9]{{16}}\.json\.gz$")


def round_hour(hours_back: int = 6) -> int:
    """A round hour some hours before the real now (validate-logs and
    request signatures live in real time)."""
    return (int(time.time()) // 3600 - hours_back) * 3600


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(epoch: float, fmt: str) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime(fmt)


def validate_logs(cloudlet, start: float, end: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
               AWS_ENDPOINT_URL=cloudlet.endpoint, AWS_CONFIG_FILE=os.devnull,
               AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return subprocess.run([sys.executable, "-m", "awscli", "cloudtrail", "validate-logs", "--trail-arn", TRAIL_ARN,
                           "--start-time", iso(start), "--end-time", iso(end), "--verbose"],
                          env=env, capture_output=True, text=True, timeout=120)


def keys(cloudlet, prefix: str) -> list[str]:
    s3 = cloudlet.client("s3")
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return out


def read_gz(cloudlet, key: str) -> tuple[bytes, dict]:
    got = cloudlet.client("s3").get_object(Bucket=BUCKET, Key=key)
    return gzip.decompress(got["Body"].read()), got


def flush(cloudlet) -> dict:
    return cloudlet.admin("POST", "/_cloudlet/cloudtrail/flush")


def test_log_files_are_delivered_with_aws_names_and_records(cloudlet):
    t0 = round_hour()
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET)
    ct = cloudlet.client("cloudtrail")
    ct.start_logging(Name=TRAIL)
    sqs = cloudlet.client("sqs")
    cloudlet.clock.set(t0 + 61)
    sqs.create_queue(QueueName="q1")
    sqs.list_queues()
    assert keys(cloudlet, "AWSLogs/") == []           # nothing before the delivery interval
    cloudlet.clock.advance(300)                         # the 5-minute delivery
    delivered = keys(cloudlet, "AWSLogs/")
    assert len(delivered) == 1
    m = LOG_KEY.match(delivered[0])
    assert m, delivered[0]
    assert m.groups() == (stamp(t0, "%Y"), stamp(t0, "%m"), stamp(t0, "%d"), stamp(t0 + 361, "%Y%m%dT%H%MZ"))
    raw, got = read_gz(cloudlet, delivered[0])
    records = json.loads(raw)["Records"]
    names = [(r["eventSource"], r["eventName"]) for r in records]
    assert names == [("cloudtrail.amazonaws.com", "StartLogging"), ("sqs.amazonaws.com", "CreateQueue"),
                     ("sqs.amazonaws.com", "ListQueues")]
    create = records[1]
    assert create["eventTime"] == iso(t0 + 61)
    assert create["awsRegion"] == REGION
    assert create["recipientAccountId"] == ACCOUNT
    assert create["userIdentity"]["type"] == "Root"
    assert create["requestParameters"] == {"queueName": "q1"}
    assert create["eventCategory"] == "Management"
    # nothing twice: another delivery has only what came after
    sqs.list_queues()
    assert flush(cloudlet) == {"logFiles": 1, "digestFiles": 0}
    later = [k for k in keys(cloudlet, "AWSLogs/") if k not in delivered]
    assert len(later) == 1
    records = json.loads(read_gz(cloudlet, later[0])[0])["Records"]
    assert [r["eventName"] for r in records] == ["ListQueues"]
    status = ct.get_trail_status(Name=TRAIL)
    assert status["IsLogging"] is True
    assert status["LatestDeliveryTime"].timestamp() == t0 + 361
    assert status["LatestDeliveryAttemptTime"] == iso(t0 + 361)
    assert status["LatestDeliveryAttemptSucceeded"] == "true"
    assert "LatestDeliveryError" not in status
    assert status["TimeLoggingStarted"] == iso(t0)
    # the delivery's own S3 PutObject is CloudTrail's, not in the trail's management events
    assert all(r["eventSource"] != "s3.amazonaws.com" for r in records)


def test_policy_that_denies_cloudtrail_holds_delivery_until_fixed(cloudlet):
    t0 = round_hour()
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET, S3KeyPrefix="ct")
    ct, s3, sqs = (cloudlet.client(s) for s in ("cloudtrail", "s3", "sqs"))
    ct.start_logging(Name=TRAIL)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "s3:*",
         "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    sqs.create_queue(QueueName="pending")
    cloudlet.clock.advance(300)
    assert keys(cloudlet, "") == []
    status = ct.get_trail_status(Name=TRAIL)
    assert status["LatestDeliveryError"] == "AccessDenied"
    assert status["LatestDeliveryAttemptSucceeded"] == "false"
    assert status["LatestDeliveryAttemptTime"] == iso(t0 + 300)
    assert "LatestDeliveryTime" not in status
    s3.put_bucket_policy(Bucket=BUCKET, Policy=trail_bucket_policy(BUCKET, TRAIL, "ct"))
    cloudlet.clock.advance(300)
    delivered = keys(cloudlet, "")
    assert len(delivered) == 1 and delivered[0].startswith(f"ct/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/")
    names = [r["eventName"] for r in json.loads(read_gz(cloudlet, delivered[0])[0])["Records"]]
    assert names[:2] == ["StartLogging", "PutBucketPolicy"] and "CreateQueue" in names
    status = ct.get_trail_status(Name=TRAIL)
    assert "LatestDeliveryError" not in status
    assert status["LatestDeliveryAttemptSucceeded"] == "true"


def test_stopped_trail_delivers_what_came_before_and_nothing_after(cloudlet):
    t0 = round_hour()
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET)
    ct, sqs = cloudlet.client("cloudtrail"), cloudlet.client("sqs")
    sqs.create_queue(QueueName="before-start")
    ct.start_logging(Name=TRAIL)
    sqs.create_queue(QueueName="while-logging")
    ct.stop_logging(Name=TRAIL)
    sqs.create_queue(QueueName="after-stop")
    flush(cloudlet)
    (key,) = keys(cloudlet, "AWSLogs/")
    records = json.loads(read_gz(cloudlet, key)[0])["Records"]
    # (StopLogging's own record comes after the stop: not delivered)
    assert [(r["eventName"], (r.get("requestParameters") or {}).get("queueName")) for r in records] == [
        ("StartLogging", None), ("CreateQueue", "while-logging")]
    status = ct.get_trail_status(Name=TRAIL)
    assert status["IsLogging"] is False and status["TimeLoggingStopped"] == iso(t0)
    assert flush(cloudlet) == {"logFiles": 0, "digestFiles": 0}


def test_digests_validate_with_the_aws_cli(cloudlet):
    t0 = round_hour(8)
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET, EnableLogFileValidation=True)
    ct, sqs = cloudlet.client("cloudtrail"), cloudlet.client("sqs")
    ct.start_logging(Name=TRAIL)
    # hour 1: calls, delivered every 5 minutes; hour 2: nothing; hour 3: calls
    sqs.create_queue(QueueName="a")
    cloudlet.clock.advance(600)
    sqs.list_queues()
    cloudlet.clock.advance(3000)                          # t0 + 1h: the first digest
    cloudlet.clock.advance(3600)                          # t0 + 2h: a digest with no log files
    sqs.create_queue(QueueName="b")
    cloudlet.clock.advance(3600)                          # t0 + 3h
    digest_keys = sorted(keys(cloudlet, f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/"))
    day = stamp(t0 + 3600, "%Y/%m/%d")
    assert digest_keys[0] == (f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{day}/{ACCOUNT}_CloudTrail-Digest_"
                              f"{REGION}_{TRAIL}_{REGION}_{stamp(t0 + 3600, '%Y%m%dT%H%M%SZ')}.json.gz")
    assert len(digest_keys) == 3
    log_keys = keys(cloudlet, f"AWSLogs/{ACCOUNT}/CloudTrail/")
    assert len(log_keys) == 3

    # the digests' fields, chain and signatures
    pub = ct.list_public_keys(StartTime=t0, EndTime=t0 + 4 * 3600)["PublicKeyList"]
    assert len(pub) == 1
    der = pub[0]["Value"]                                # boto3 decodes the blob: DER PKCS #1
    assert pub[0]["Fingerprint"] == hashlib.md5(der).hexdigest()
    assert pub[0]["ValidityStartTime"].timestamp() == t0 + 3600
    public_key = rsa.PublicKey.load_pkcs1(der, format="DER")
    previous = None
    for i, key in enumerate(sorted(digest_keys)):
        raw, got = read_gz(cloudlet, key)
        doc = json.loads(raw)
        assert list(doc) == ["awsAccountId", "digestStartTime", "digestEndTime", "digestS3Bucket", "digestS3Object",
                             "digestPublicKeyFingerprint", "digestSignatureAlgorithm", "newestEventTime",
                             "oldestEventTime", "previousDigestS3Bucket", "previousDigestS3Object",
                             "previousDigestHashValue", "previousDigestHashAlgorithm", "previousDigestSignature",
                             "logFiles"]
        assert doc["digestStartTime"] == iso(t0 + i * 3600)
        assert doc["digestEndTime"] == iso(t0 + (i + 1) * 3600)
        assert doc["digestS3Bucket"] == BUCKET and doc["digestS3Object"] == key
        assert doc["digestSignatureAlgorithm"] == "SHA256withRSA"
        assert got["Metadata"]["signature-algorithm"] == "SHA256withRSA"
        signature = got["Metadata"]["signature"]
        to_sign = (f"{doc['digestEndTime']}\n{BUCKET}/{key}\n{hashlib.sha256(raw).hexdigest()}\n"
                   f"{doc['previousDigestSignature'] or 'null'}").encode()
        assert rsa.verify(to_sign, bytes.fromhex(signature), public_key) == "SHA-256"
        if previous is None:
            assert doc["previousDigestS3Object"] is None and doc["previousDigestSignature"] is None
        else:
            assert doc["previousDigestS3Bucket"] == BUCKET
            assert doc["previousDigestS3Object"] == previous[0]
            assert doc["previousDigestHashValue"] == hashlib.sha256(previous[1]).hexdigest()
            assert doc["previousDigestHashAlgorithm"] == "SHA-256"
            assert doc["previousDigestSignature"] == previous[2]
        for f in doc["logFiles"]:
            assert f["hashAlgorithm"] == "SHA-256"
            assert f["hashValue"] == hashlib.sha256(read_gz(cloudlet, f["s3Object"])[0]).hexdigest()
        previous = (key, raw, signature)
    counts = [len(json.loads(read_gz(cloudlet, k)[0])["logFiles"]) for k in digest_keys]
    assert counts == [2, 0, 1]
    status = ct.get_trail_status(Name=TRAIL)
    assert status["LatestDigestDeliveryTime"].timestamp() == t0 + 3 * 3600

    # the real validator
    proc = validate_logs(cloudlet, t0, t0 + 3 * 3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"Results requested for {iso(t0)} to {iso(t0 + 3 * 3600)}\n" in out
    assert f"Results found for {iso(t0)} to {iso(t0 + 3 * 3600)}:\n" in out
    assert "\n3/3 digest files valid\n3/3 log files valid\n" in out
    for key in digest_keys:
        assert f"Digest file\ts3://{BUCKET}/{key}\tvalid\n" in out
    for key in log_keys:
        assert f"Log file\ts3://{BUCKET}/{key}\tvalid\n" in out

    # one byte changed inside one log file: exactly that file is invalid
    s3 = cloudlet.client("s3")
    victim = sorted(log_keys)[1]
    raw = bytearray(read_gz(cloudlet, victim)[0])
    at = raw.index(b"ListQueues")
    raw[at] = ord("l")
    s3.put_object(Bucket=BUCKET, Key=victim, Body=gzip.compress(bytes(raw)))
    proc = validate_logs(cloudlet, t0, t0 + 3 * 3600)
    assert proc.returncode == 1
    assert proc.stderr.strip("\n") == f"Log file\ts3://{BUCKET}/{victim}\tINVALID: hash value doesn't match"
    assert "\n3/3 digest files valid\n2/3 log files valid, 1/3 log files INVALID\n" in proc.stdout

    # a digest deleted: the validator reports it missing
    s3.put_object(Bucket=BUCKET, Key=victim, Body=gzip.compress(bytes(raw).replace(b"listQueues", b"ListQueues", 1)))
    middle = sorted(digest_keys)[1]
    s3.delete_object(Bucket=BUCKET, Key=middle)
    proc = validate_logs(cloudlet, t0, t0 + 3 * 3600)
    assert proc.returncode == 1
    assert proc.stderr.strip("\n") == f"Digest file\ts3://{BUCKET}/{middle}\tINVALID: not found"
    assert "\n2/3 digest files valid, 1/3 digest files INVALID\n3/3 log files valid\n" in proc.stdout


def test_list_public_keys_ranges(cloudlet):
    t0 = round_hour()
    cloudlet.clock.set(t0)
    ct = cloudlet.client("cloudtrail")
    assert ct.list_public_keys()["PublicKeyList"] == []
    make_trail(cloudlet, TRAIL, BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name=TRAIL)
    cloudlet.clock.advance(3600)
    (key,) = ct.list_public_keys()["PublicKeyList"]
    assert key["ValidityStartTime"].timestamp() == t0 + 3600
    assert key["ValidityEndTime"].timestamp() == t0 + 3600 + 30 * 86400
    assert ct.list_public_keys(StartTime=t0 - 7200, EndTime=t0)["PublicKeyList"] == []
    assert ct.list_public_keys(StartTime=t0, EndTime=t0 + 7200)["PublicKeyList"] == [key]


def test_delivery_notification_is_published_to_the_trail_topic(cloudlet):
    t0 = round_hour()
    cloudlet.clock.set(t0)
    sns, sqs = cloudlet.client("sns"), cloudlet.client("sqs")
    topic = sns.create_topic(Name="trail-news")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "SNS:Publish",
             "Resource": topic, "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}}]}))
    url = sqs.create_queue(QueueName="trail-news")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:trail-news"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
             "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    make_trail(cloudlet, TRAIL, BUCKET, SnsTopicName="trail-news")
    ct = cloudlet.client("cloudtrail")
    ct.start_logging(Name=TRAIL)
    cloudlet.clock.advance(300)
    (key,) = keys(cloudlet, "AWSLogs/")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [{"s3Bucket": BUCKET, "s3ObjectKey": [key]}]
    status = ct.get_trail_status(Name=TRAIL)
    assert status["LatestNotificationTime"].timestamp() == t0 + 300
    assert status["LatestNotificationAttemptTime"] == iso(t0 + 300)
    assert status["LatestNotificationAttemptSucceeded"] == "true"


def digests_of(cloudlet) -> list[dict]:
    return [json.loads(read_gz(cloudlet, k)[0]) for k in sorted(keys(cloudlet, f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/"))]


def test_stop_logging_ends_the_digest_chain_with_a_last_digest(cloudlet):
    t0 = round_hour(8)
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET, EnableLogFileValidation=True)
    ct, sqs = cloudlet.client("cloudtrail"), cloudlet.client("sqs")
    ct.start_logging(Name=TRAIL)
    sqs.create_queue(QueueName="a")
    cloudlet.clock.advance(1800)                          # delivered at t0 + 5 min
    sqs.create_queue(QueueName="b")
    ct.stop_logging(Name=TRAIL)                           # t0 + 30 min
    cloudlet.clock.advance(300)                           # what came before the stop is delivered
    cloudlet.clock.advance(1500)                          # t0 + 1h: the chain's last digest
    docs = digests_of(cloudlet)
    assert [(d["digestStartTime"], d["digestEndTime"], len(d["logFiles"])) for d in docs] == [
        (iso(t0), iso(t0 + 3600), 2)]
    cloudlet.clock.advance(3600)                          # t0 + 2h: stopped, no more digests
    assert len(digests_of(cloudlet)) == 1
    assert ct.get_trail_status(Name=TRAIL)["LatestDigestDeliveryTime"].timestamp() == t0 + 3600

    # logging again: a new chain (no previous digest), from the restart
    ct.start_logging(Name=TRAIL)
    sqs.create_queue(QueueName="c")
    cloudlet.clock.advance(3600)                          # t0 + 3h
    docs = digests_of(cloudlet)
    assert [(d["digestStartTime"], d["digestEndTime"], len(d["logFiles"])) for d in docs] == [
        (iso(t0), iso(t0 + 3600), 2), (iso(t0 + 7200), iso(t0 + 3 * 3600), 1)]
    assert docs[1]["previousDigestS3Object"] is None and docs[1]["previousDigestSignature"] is None
    delivered = sorted(keys(cloudlet, f"AWSLogs/{ACCOUNT}/CloudTrail/"))
    assert sorted(f["s3Object"] for d in docs for f in d["logFiles"]) == delivered

    proc = validate_logs(cloudlet, t0, t0 + 3 * 3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\n2/2 digest files valid\n3/3 log files valid\n" in proc.stdout
    assert f"Results found for {iso(t0)} to {iso(t0 + 3 * 3600)}:\n" in proc.stdout
    assert proc.stderr.strip("\n") == (f"No log files were delivered by CloudTrail between {iso(t0 + 3600)} and "
                                       f"{iso(t0 + 7200)}")


def test_turning_validation_off_ends_the_chain_and_on_starts_a_new_one(cloudlet):
    t0 = round_hour(8)
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET, EnableLogFileValidation=True)
    ct, sqs = cloudlet.client("cloudtrail"), cloudlet.client("sqs")
    ct.start_logging(Name=TRAIL)
    sqs.create_queue(QueueName="a")
    cloudlet.clock.advance(1200)                          # delivered at t0 + 5 min
    ct.update_trail(Name=TRAIL, EnableLogFileValidation=False)
    sqs.create_queue(QueueName="b")                       # delivered, never digested
    cloudlet.clock.advance(2400)                          # t0 + 1h: the chain's last digest
    cloudlet.clock.advance(3600)                          # t0 + 2h: none
    docs = digests_of(cloudlet)
    assert [(d["digestEndTime"], len(d["logFiles"])) for d in docs] == [(iso(t0 + 3600), 1)]
    assert len(keys(cloudlet, f"AWSLogs/{ACCOUNT}/CloudTrail/")) == 2
    ct.update_trail(Name=TRAIL, EnableLogFileValidation=True)   # t0 + 2h: a new chain
    sqs.create_queue(QueueName="c")
    cloudlet.clock.advance(3600)
    docs = digests_of(cloudlet)
    assert [(d["digestStartTime"], d["digestEndTime"], len(d["logFiles"])) for d in docs] == [
        (iso(t0), iso(t0 + 3600), 1), (iso(t0 + 7200), iso(t0 + 3 * 3600), 1)]
    assert docs[1]["previousDigestS3Object"] is None
    proc = validate_logs(cloudlet, t0, t0 + 3 * 3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\n2/2 digest files valid\n2/2 log files valid\n" in proc.stdout


def test_validation_turned_off_and_on_within_the_period_keeps_the_chain(cloudlet):
    t0 = round_hour(8)
    cloudlet.clock.set(t0)
    make_trail(cloudlet, TRAIL, BUCKET, EnableLogFileValidation=True)
    ct = cloudlet.client("cloudtrail")
    ct.start_logging(Name=TRAIL)
    cloudlet.clock.advance(600)
    ct.update_trail(Name=TRAIL, EnableLogFileValidation=False)
    ct.update_trail(Name=TRAIL, EnableLogFileValidation=True)
    cloudlet.clock.advance(3000 + 3600)                   # t0 + 1h, t0 + 2h
    docs = digests_of(cloudlet)
    assert [d["digestEndTime"] for d in docs] == [iso(t0 + 3600), iso(t0 + 7200)]
    assert docs[1]["previousDigestS3Object"] == docs[0]["digestS3Object"]
