"""S3 lifecycle rules run by the virtual clock: expiration (days, date,
delete markers), noncurrent versions, incomplete uploads, transitions,
filters; and event notifications to SQS in S3's event shape."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

DAY = 86_400
START = "2030-01-01T10:00:00Z"  # mid-morning: actions fall due at a later midnight


@pytest.fixture
def s3(cloudlet):
    cloudlet.clock.set(START)
    client = cloudlet.client("s3")
    client.create_bucket(Bucket="logs")
    return client


def keys(s3, bucket="logs") -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def lifecycle(s3, *rules, bucket="logs") -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def test_expiration_days_fall_due_at_midnight_utc(cloudlet, s3):
    for key in ("tmp/a", "tmp/b", "keep/c"):
        s3.put_object(Bucket="logs", Key=key, Body=b"x")
    lifecycle(s3, {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}})
    # Created 2030-01-01 10:00: due at 2030-01-03 00:00 (creation + 1 day, rounded up to midnight).
    cloudlet.clock.set("2030-01-02T23:59:00Z")
    assert keys(s3) == ["keep/c", "tmp/a", "tmp/b"]
    cloudlet.clock.advance(3600)  # the hourly job, past midnight
    assert keys(s3) == ["keep/c"]


def test_not_expired_before_due(cloudlet, s3):
    s3.put_object(Bucket="logs", Key="tmp/a", Body=b"x")
    lifecycle(s3, {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 2}})
    cloudlet.clock.set("2030-01-03T23:00:00Z")
    cloudlet.clock.advance(1800)
    assert keys(s3) == ["tmp/a"]
    cloudlet.clock.advance(3600)  # 2030-01-04 00:30: due
    assert keys(s3) == []


def test_disabled_rules_and_filters(cloudlet, s3):
    s3.put_object(Bucket="logs", Key="big", Body=b"x" * 2048)
    s3.put_object(Bucket="logs", Key="small", Body=b"x")
    s3.put_object(Bucket="logs", Key="tagged", Body=b"x", Tagging="class=temp")
    s3.put_object(Bucket="logs", Key="other", Body=b"x", Tagging="class=keep")
    lifecycle(s3,
              {"ID": "size", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 1024},
               "Expiration": {"Days": 1}},
              {"ID": "tag", "Status": "Enabled", "Filter": {"Tag": {"Key": "class", "Value": "temp"}},
               "Expiration": {"Days": 1}},
              {"ID": "off", "Status": "Disabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}})
    cloudlet.clock.advance(3 * DAY)
    assert keys(s3) == ["other", "small"]


def test_versioned_expiration_makes_delete_markers_then_noncurrent_go(cloudlet, s3):
    s3.put_bucket_versioning(Bucket="logs", VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket="logs", Key="doc", Body=b"one")["VersionId"]
    cloudlet.clock.advance(DAY)
    v2 = s3.put_object(Bucket="logs", Key="doc", Body=b"two")["VersionId"]
    lifecycle(s3, {"ID": "all", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 5},
                   "NoncurrentVersionExpiration": {"NoncurrentDays": 3}})
    # v1 became noncurrent on 2030-01-02 10:00: gone at 2030-01-06 00:00.
    cloudlet.clock.set("2030-01-06T01:00:00Z")
    versions = s3.list_object_versions(Bucket="logs")
    assert [v["VersionId"] for v in versions["Versions"]] == [v2]
    assert versions.get("DeleteMarkers", []) == []
    # v2 (created 2030-01-02 10:00) expires at 2030-01-08 00:00: a delete marker on top.
    cloudlet.clock.set("2030-01-08T01:00:00Z")
    versions = s3.list_object_versions(Bucket="logs")
    assert [(v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [(v2, False)]
    assert [m["IsLatest"] for m in versions["DeleteMarkers"]] == [True]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="logs", Key="doc")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
    assert v1 != v2


def test_expired_object_delete_marker_removed(cloudlet, s3):
    s3.put_bucket_versioning(Bucket="logs", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="logs", Key="doc", Body=b"one")
    s3.delete_object(Bucket="logs", Key="doc")
    lifecycle(s3, {"ID": "clean", "Status": "Enabled", "Filter": {},
                   "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                   "Expiration": {"ExpiredObjectDeleteMarker": True}})
    cloudlet.clock.advance(3 * DAY)
    versions = s3.list_object_versions(Bucket="logs")
    assert (versions.get("Versions", []), versions.get("DeleteMarkers", [])) == ([], [])


def test_newer_noncurrent_versions_kept(cloudlet, s3):
    s3.put_bucket_versioning(Bucket="logs", VersioningConfiguration={"Status": "Enabled"})
    ids = [s3.put_object(Bucket="logs", Key="doc", Body=str(i).encode())["VersionId"] for i in range(5)]
    lifecycle(s3, {"ID": "keep2", "Status": "Enabled", "Filter": {},
                   "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 2}})
    cloudlet.clock.advance(3 * DAY)
    assert [v["VersionId"] for v in s3.list_object_versions(Bucket="logs")["Versions"]] == ids[:1:-1]


def test_transition_recorded_as_storage_class(cloudlet, s3):
    s3.put_object(Bucket="logs", Key="old", Body=b"x")
    lifecycle(s3, {"ID": "ia", "Status": "Enabled", "Filter": {},
                   "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}]})
    cloudlet.clock.advance(31 * DAY)
    assert s3.head_object(Bucket="logs", Key="old")["StorageClass"] == "STANDARD_IA"
    assert s3.get_object(Bucket="logs", Key="old")["Body"].read() == b"x"


def test_incomplete_uploads_aborted(cloudlet, s3):
    upload = s3.create_multipart_upload(Bucket="logs", Key="big")["UploadId"]
    s3.upload_part(Bucket="logs", Key="big", UploadId=upload, PartNumber=1, Body=b"x" * 10)
    lifecycle(s3, {"ID": "abort", "Status": "Enabled", "Filter": {},
                   "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}})
    cloudlet.clock.advance(DAY)
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="logs").get("Uploads", [])] == [upload]
    cloudlet.clock.advance(2 * DAY)
    assert s3.list_multipart_uploads(Bucket="logs").get("Uploads", []) == []


def test_date_rule(cloudlet, s3):
    s3.put_object(Bucket="logs", Key="a", Body=b"x")
    lifecycle(s3, {"ID": "date", "Status": "Enabled", "Filter": {},
                   "Expiration": {"Date": "2030-02-01T00:00:00Z"}})
    cloudlet.clock.set("2030-01-31T23:00:00Z")
    assert keys(s3) == ["a"]
    cloudlet.clock.advance(2 * 3600)
    assert keys(s3) == []


# -- notifications ----------------------------------------------------------------

def queue_for_bucket(cloudlet, name: str, bucket: str = "logs") -> tuple[str, str]:
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}}]})})
    return url, arn


def messages(cloudlet, url: str, n: int) -> list[dict]:
    sqs = cloudlet.client("sqs")
    out: list[dict] = []
    while len(out) < n:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
        assert got, f"only {len(out)} of {n} messages arrived"
        out += [json.loads(m["Body"]) for m in got]
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(got)])
    return out


def test_notifications_to_sqs(cloudlet, s3):
    url, arn = queue_for_bucket(cloudlet, "events")
    s3.put_bucket_notification_configuration(Bucket="logs", NotificationConfiguration={"QueueConfigurations": [{
        "Id": "created", "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"},
                                           {"Name": "suffix", "Value": ".txt"}]}}}]})
    test_event = messages(cloudlet, url, 1)[0]
    assert (test_event["Service"], test_event["Event"], test_event["Bucket"]) == ("Amazon S3", "s3:TestEvent", "logs")
    etag = s3.put_object(Bucket="logs", Key="in/a b.txt", Body=b"hello")["ETag"].strip('"')
    s3.put_object(Bucket="logs", Key="in/skip.bin", Body=b"no")
    s3.put_object(Bucket="logs", Key="out/skip.txt", Body=b"no")
    s3.delete_object(Bucket="logs", Key="in/a b.txt")
    created, removed = (m["Records"][0] for m in messages(cloudlet, url, 2))
    assert created["eventName"] == "ObjectCreated:Put"
    assert (created["eventVersion"], created["eventSource"], created["awsRegion"]) == ("2.1", "aws:s3", "us-east-1")
    assert created["eventTime"] == "2030-01-01T10:00:00.000Z"
    assert created["s3"]["configurationId"] == "created"
    assert created["s3"]["bucket"]["name"] == "logs" and created["s3"]["bucket"]["arn"] == "arn:aws:s3:::logs"
    assert {k: created["s3"]["object"][k] for k in ("key", "size", "eTag")} == \
        {"key": "in/a+b.txt", "size": 5, "eTag": etag}
    assert removed["eventName"] == "ObjectRemoved:Delete"
    assert removed["s3"]["object"]["key"] == "in/a+b.txt" and "size" not in removed["s3"]["object"]


def test_notification_refused_without_queue_policy(cloudlet, s3):
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName="closed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_notification_configuration(Bucket="logs", NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    assert exc.value.response["Error"]["Code"] == "InvalidArgument"
    assert exc.value.response["Error"]["Message"] == "Unable to validate the following destination configurations"


def test_lifecycle_expiration_notified(cloudlet, s3):
    url, arn = queue_for_bucket(cloudlet, "expiry")
    s3.put_bucket_notification_configuration(Bucket="logs", NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": arn, "Events": ["s3:LifecycleExpiration:*"]}]})
    messages(cloudlet, url, 1)  # the test event
    s3.put_object(Bucket="logs", Key="old", Body=b"x")
    lifecycle(s3, {"ID": "x", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}})
    cloudlet.clock.advance(2 * DAY)
    record = messages(cloudlet, url, 1)[0]["Records"][0]
    assert (record["eventName"], record["eventVersion"]) == ("LifecycleExpiration:Delete", "2.3")
    assert record["userIdentity"] == {"principalId": "s3.amazonaws.com"}
    assert record["s3"]["object"]["key"] == "old"
