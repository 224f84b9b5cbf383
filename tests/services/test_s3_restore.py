"""RestoreObject on the virtual clock: a GLACIER / DEEP_ARCHIVE object is
unreadable until a restore completes (by its tier's time), readable until
the copy expires (the first midnight UTC after completion + Days); HEAD,
GET and listings say where it stands; copies need the restored copy; the
restore's events reach SQS in S3's event shape."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError

from tests.services.test_s3_lifecycle import messages, queue_for_bucket

START = "2030-01-01T10:00:00Z"  # a Tuesday, mid-morning
ONGOING = 'ongoing-request="true"'


@pytest.fixture
def s3(cloudlet):
    cloudlet.clock.set(START)
    client = cloudlet.client("s3")
    client.create_bucket(Bucket="cold")
    return client


def put(s3, key="k", body=b"frozen bytes", storage_class="GLACIER", **kw):
    return s3.put_object(Bucket="cold", Key=key, Body=body, StorageClass=storage_class, **kw)


def restore(s3, key="k", days=1, tier="Standard", **kw) -> int:
    out = s3.restore_object(Bucket="cold", Key=key, RestoreRequest={
        "Days": days, "GlacierJobParameters": {"Tier": tier}}, **kw)
    return out["ResponseMetadata"]["HTTPStatusCode"]


def error(exc) -> tuple:
    err = exc.value.response["Error"]
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err.get("Message")


def unreadable(s3, key="k") -> tuple:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="cold", Key=key)
    return error(exc)


NOT_READABLE = (403, "InvalidObjectState", "The operation is not valid for the object's storage class")


def test_a_standard_restore_runs_five_hours_and_the_copy_expires_at_midnight(cloudlet, s3):
    put(s3)
    assert unreadable(s3) == NOT_READABLE
    head = s3.head_object(Bucket="cold", Key="k")
    assert head["StorageClass"] == "GLACIER" and "Restore" not in head

    assert restore(s3, days=2) == 202
    assert s3.head_object(Bucket="cold", Key="k")["Restore"] == ONGOING
    with pytest.raises(ClientError) as exc:
        restore(s3, days=2)
    assert error(exc) == (409, "RestoreAlreadyInProgress", "Object restore is already in progress")
    assert unreadable(s3) == NOT_READABLE

    cloudlet.clock.advance(5 * 3600 - 1)
    assert s3.head_object(Bucket="cold", Key="k")["Restore"] == ONGOING
    cloudlet.clock.advance(1)  # 15:00: done; 15:00 + 2 days, rounded up to midnight UTC
    restored = 'ongoing-request="false", expiry-date="Fri, 04 Jan 2030 00:00:00 GMT"'
    assert s3.head_object(Bucket="cold", Key="k")["Restore"] == restored
    got = s3.get_object(Bucket="cold", Key="k")
    assert (got["Body"].read(), got["Restore"], got["StorageClass"]) == (b"frozen bytes", restored, "GLACIER")

    # A request while the copy exists answers 200 and counts Days from now.
    assert restore(s3, days=5) == 200
    assert s3.head_object(Bucket="cold", Key="k")["Restore"] == \
        'ongoing-request="false", expiry-date="Mon, 07 Jan 2030 00:00:00 GMT"'

    cloudlet.clock.set("2030-01-06T23:59:59Z")
    assert s3.get_object(Bucket="cold", Key="k")["Body"].read() == b"frozen bytes"
    cloudlet.clock.advance(61)
    assert unreadable(s3) == NOT_READABLE
    assert "Restore" not in s3.head_object(Bucket="cold", Key="k")
    assert restore(s3) == 202  # a new restore, from the archive again


@pytest.mark.parametrize("storage_class, tier, hours", [
    ("GLACIER", "Expedited", 5 / 60), ("GLACIER", "Bulk", 12), ("DEEP_ARCHIVE", "Standard", 12),
    ("DEEP_ARCHIVE", "Bulk", 48)])
def test_each_tier_takes_its_time(cloudlet, s3, storage_class, tier, hours):
    put(s3, storage_class=storage_class)
    assert restore(s3, tier=tier) == 202
    cloudlet.clock.advance(round(hours * 3600) - 1)
    assert s3.head_object(Bucket="cold", Key="k")["Restore"] == ONGOING
    cloudlet.clock.advance(1)
    assert s3.head_object(Bucket="cold", Key="k")["Restore"].startswith('ongoing-request="false", expiry-date=')
    assert s3.get_object(Bucket="cold", Key="k")["Body"].read() == b"frozen bytes"


def test_restore_errors(s3):
    put(s3, key="warm", storage_class="STANDARD")
    put(s3, key="instant", storage_class="GLACIER_IR")
    for key in ("warm", "instant"):
        with pytest.raises(ClientError) as exc:
            restore(s3, key=key)
        assert error(exc) == (403, "InvalidObjectState", "Restore is not allowed for the object's current storage "
                                                         "class")
    put(s3, key="deep", storage_class="DEEP_ARCHIVE")
    with pytest.raises(ClientError) as exc:
        restore(s3, key="deep", tier="Expedited")
    assert error(exc)[:2] == (400, "InvalidArgument")
    with pytest.raises(ClientError) as exc:
        s3.restore_object(Bucket="cold", Key="deep", RestoreRequest={"GlacierJobParameters": {"Tier": "Bulk"}})
    assert error(exc)[:2] == (400, "MalformedXML")
    with pytest.raises(ClientError) as exc:
        restore(s3, key="deep", days=0)
    assert error(exc)[:2] == (400, "MalformedXML")
    with pytest.raises(ClientError) as exc:
        restore(s3, key="missing")
    assert error(exc)[:2] == (404, "NoSuchKey")
    # nothing above started a restore
    assert "Restore" not in s3.head_object(Bucket="cold", Key="deep")


def test_listings_show_restore_status_when_asked(cloudlet, s3):
    put(s3, key="a")
    put(s3, key="b")
    put(s3, key="c", storage_class="STANDARD")
    restore(s3, key="a", days=1)

    def statuses(**kw):
        return {o["Key"]: o.get("RestoreStatus") for o in s3.list_objects_v2(Bucket="cold", **kw)["Contents"]}

    assert statuses() == {"a": None, "b": None, "c": None}
    asked = {"OptionalObjectAttributes": ["RestoreStatus"]}
    assert statuses(**asked) == {"a": {"IsRestoreInProgress": True}, "b": None, "c": None}
    cloudlet.clock.advance(5 * 3600)
    expiry = dt.datetime(2030, 1, 3, tzinfo=dt.timezone.utc)
    assert statuses(**asked) == {"a": {"IsRestoreInProgress": False, "RestoreExpiryDate": expiry}, "b": None,
                                 "c": None}
    versions = s3.list_object_versions(Bucket="cold", **asked)["Versions"]
    assert {v["Key"]: v.get("RestoreStatus") for v in versions}["a"] == \
        {"IsRestoreInProgress": False, "RestoreExpiryDate": expiry}
    listed = s3.list_objects(Bucket="cold", **asked)["Contents"]
    assert [o.get("RestoreStatus") is not None for o in listed] == [True, False, False]


def test_copies_of_an_archived_object_need_its_restored_copy(cloudlet, s3):
    put(s3, key="src")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="cold", Key="dst", CopySource={"Bucket": "cold", "Key": "src"})
    assert error(exc) == (403, "InvalidObjectState", "Operation is not valid for the source object's storage class")
    upload = s3.create_multipart_upload(Bucket="cold", Key="parts")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket="cold", Key="parts", UploadId=upload, PartNumber=1,
                            CopySource={"Bucket": "cold", "Key": "src"})
    assert error(exc)[:2] == (403, "InvalidObjectState")

    restore(s3, key="src", tier="Expedited")
    cloudlet.clock.advance(300)
    s3.copy_object(Bucket="cold", Key="dst", CopySource={"Bucket": "cold", "Key": "src"}, StorageClass="STANDARD")
    got = s3.get_object(Bucket="cold", Key="dst")
    assert (got["Body"].read(), got.get("StorageClass"), "Restore" in got) == (b"frozen bytes", None, False)
    s3.upload_part_copy(Bucket="cold", Key="parts", UploadId=upload, PartNumber=1,
                        CopySource={"Bucket": "cold", "Key": "src"})


def test_a_new_object_under_the_key_starts_without_the_restore(cloudlet, s3):
    put(s3)
    restore(s3, tier="Expedited")
    cloudlet.clock.advance(300)
    assert s3.get_object(Bucket="cold", Key="k")["Body"].read() == b"frozen bytes"
    put(s3, body=b"a newer archive")  # replaces the null version
    assert "Restore" not in s3.head_object(Bucket="cold", Key="k")
    assert unreadable(s3) == NOT_READABLE


def test_a_version_is_restored_on_its_own(cloudlet, s3):
    s3.put_bucket_versioning(Bucket="cold", VersioningConfiguration={"Status": "Enabled"})
    old = put(s3, body=b"old")["VersionId"]
    put(s3, body=b"new")
    assert restore(s3, VersionId=old, tier="Expedited") == 202
    cloudlet.clock.advance(300)
    assert s3.get_object(Bucket="cold", Key="k", VersionId=old)["Body"].read() == b"old"
    assert unreadable(s3) == NOT_READABLE
    assert "Restore" not in s3.head_object(Bucket="cold", Key="k")


def test_restore_events_reach_sqs(cloudlet, s3):
    url, arn = queue_for_bucket(cloudlet, "restores", bucket="cold")
    s3.put_bucket_notification_configuration(Bucket="cold", NotificationConfiguration={"QueueConfigurations": [{
        "Id": "thaw", "QueueArn": arn, "Events": ["s3:ObjectRestore:*"]}]})
    messages(cloudlet, url, 1)  # the test event
    etag = put(s3)["ETag"].strip('"')
    restore(s3, tier="Expedited", days=1)
    post = messages(cloudlet, url, 1)[0]["Records"][0]
    assert (post["eventName"], post["eventVersion"], post["eventTime"]) == \
        ("ObjectRestore:Post", "2.1", "2030-01-01T10:00:00.000Z")
    assert post["userIdentity"]["principalId"].startswith("AWS:")
    assert post["s3"]["object"]["key"] == "k" and post["s3"]["object"]["eTag"] == etag
    assert "glacierEventData" not in post

    cloudlet.clock.advance(300)
    done = messages(cloudlet, url, 1)[0]["Records"][0]
    assert (done["eventName"], done["eventVersion"]) == ("ObjectRestore:Completed", "2.1")
    assert done["userIdentity"] == {"principalId": "s3.amazonaws.com"}
    assert done["glacierEventData"] == {"restoreEventData": {
        "lifecycleRestorationExpiryTime": "2030-01-03T00:00:00.000Z", "lifecycleRestoreStorageClass": "GLACIER"}}

    cloudlet.clock.set("2030-01-03T00:01:00Z")
    gone = messages(cloudlet, url, 1)[0]["Records"][0]
    assert (gone["eventName"], gone["eventVersion"]) == ("ObjectRestore:Delete", "2.3")
    assert "glacierEventData" not in gone
    assert unreadable(s3) == NOT_READABLE
