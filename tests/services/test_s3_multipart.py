"""S3 multipart uploads through boto3 against a real server: ETags and
checksums computed here with hashlib / zlib / awscrt, every error of the
upload lifecycle, part copies, encryption, and the part files swept away
once an upload is aborted, completed or a part replaced."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import zlib

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from cloudlet.services.s3.multipart import crc_combine_py

MiB = 1024 * 1024
ACCOUNT = "000000000000"
CANONICAL_ID = hashlib.sha256(f"cloudlet-canonical-user:{ACCOUNT}".encode()).hexdigest()
NO_SUCH_UPLOAD = ("The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
                  "aborted or completed.")
INVALID_PART = ("One or more of the specified parts could not be found.  The part may not have been uploaded, or "
                "the specified entity tag may not match the part's entity tag.")
BUCKET = "mpu-bucket"


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def error(exc) -> dict:
    """The <Error> document's fields, plus the HTTP status."""
    err = dict(exc.value.response["Error"])
    err["Status"] = exc.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return err


def etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


def multipart_etag(parts: list[bytes]) -> str:
    return '"' + hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f'-{len(parts)}"'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "big")


def crc32c(data: bytes) -> bytes:
    return crt.crc32c(data).to_bytes(4, "big")


def crc64nvme(data: bytes) -> bytes:
    return crt.crc64nvme(data).to_bytes(8, "big")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def blob_files(cloudlet) -> list[str]:
    """The stored pieces: files in the blob store (the temp directory
    aside) and small pieces kept as rows."""
    root = os.path.join(cloudlet.settings.data_dir, "blobs")
    files = [name for entry in os.listdir(root) if len(entry) == 2 for name in os.listdir(os.path.join(root, entry))]
    rows = [r[0] for r in cloudlet.cloud.storage.all("SELECT blob FROM s3_inline", ())]
    rows += [f"r:{r[0]}" for r in cloudlet.cloud.storage.all("SELECT id FROM s3_pieces", ())]
    return sorted(files + rows)


def sweep(cloudlet) -> None:
    """Run the s3-sweep job (every 30 s) by moving the clock past it."""
    cloudlet.clock.advance(31)


def upload(s3, key: str, parts: list[bytes], **create) -> tuple[str, list[dict]]:
    """An upload with `parts` uploaded as parts 1..n: (upload id, Parts list)."""
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key, **create)["UploadId"]
    done = []
    for number, body in enumerate(parts, 1):
        out = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        done.append({"PartNumber": number, "ETag": out["ETag"]})
    return upload_id, done


def complete(s3, key: str, upload_id: str, parts: list[dict], **kw) -> dict:
    return s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts}, **kw)


# -- the whole path --------------------------------------------------------------------

def test_three_part_upload_of_5_mib_parts(cloudlet, s3):
    data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(123_456)]
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="big/file.bin", ContentType="application/x-big",
                                         Metadata={"Purpose": "test"}, CacheControl="no-cache")
    assert {k: created[k] for k in ("Bucket", "Key", "ServerSideEncryption")} == {
        "Bucket": BUCKET, "Key": "big/file.bin", "ServerSideEncryption": "AES256"}
    assert "ChecksumAlgorithm" not in created and "ChecksumType" not in created
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(data, 1):
        out = s3.upload_part(Bucket=BUCKET, Key="big/file.bin", UploadId=upload_id, PartNumber=number, Body=body)
        assert out["ETag"] == etag(body)
        assert out["ServerSideEncryption"] == "AES256"
        # boto3 sends a CRC32 with each part; S3 checks and echoes it.
        assert out["ChecksumCRC32"] == b64(crc32(body))
        parts.append({"PartNumber": number, "ETag": out["ETag"]})

    listed = s3.list_parts(Bucket=BUCKET, Key="big/file.bin", UploadId=upload_id)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == [
        (1, etag(data[0]), 5 * MiB), (2, etag(data[1]), 5 * MiB), (3, etag(data[2]), 123_456)]
    assert {k: listed[k] for k in ("Bucket", "Key", "UploadId", "PartNumberMarker", "NextPartNumberMarker",
                                   "MaxParts", "IsTruncated", "StorageClass", "Initiator", "Owner")} == {
        "Bucket": BUCKET, "Key": "big/file.bin", "UploadId": upload_id, "PartNumberMarker": 0,
        "NextPartNumberMarker": 3, "MaxParts": 1000, "IsTruncated": False, "StorageClass": "STANDARD",
        "Initiator": {"ID": CANONICAL_ID}, "Owner": {"ID": CANONICAL_ID}}
    assert len(blob_files(cloudlet)) == 3

    done = complete(s3, "big/file.bin", upload_id, parts)
    whole = b"".join(data)
    assert done["ETag"] == multipart_etag(data)
    assert done["Location"] == f"{cloudlet.endpoint}/{BUCKET}/big/file.bin"
    assert (done["Bucket"], done["Key"], done["ServerSideEncryption"]) == (BUCKET, "big/file.bin", "AES256")
    # No algorithm asked: S3's default full-object CRC64NVME, of the whole object.
    assert done["ChecksumCRC64NVME"] == b64(crc64nvme(whole))
    assert done["ChecksumType"] == "FULL_OBJECT"
    assert "VersionId" not in done

    got = s3.get_object(Bucket=BUCKET, Key="big/file.bin")
    assert got["Body"].read() == whole
    assert (got["ContentLength"], got["ETag"], got["ContentType"], got["Metadata"], got["CacheControl"]) == (
        len(whole), multipart_etag(data), "application/x-big", {"purpose": "test"}, "no-cache")
    part = s3.get_object(Bucket=BUCKET, Key="big/file.bin", PartNumber=2)
    assert (part["Body"].read(), part["PartsCount"], part["ContentRange"]) == (
        data[1], 3, f"bytes {5 * MiB}-{10 * MiB - 1}/{len(whole)}")
    # The object is the parts' pieces: nothing was copied.
    assert len(blob_files(cloudlet)) == 3
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=BUCKET, Key="big/file.bin", UploadId=upload_id)
    assert (error(exc)["Code"], error(exc)["Status"]) == ("NoSuchUpload", 404)


def test_single_small_part_is_a_whole_object(s3):
    upload_id, parts = upload(s3, "one", [b"just one part"])
    done = complete(s3, "one", upload_id, parts)
    assert done["ETag"] == multipart_etag([b"just one part"])
    assert s3.get_object(Bucket=BUCKET, Key="one")["Body"].read() == b"just one part"


def test_versioned_bucket_gets_a_version_id(s3):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    upload_id, parts = upload(s3, "v", [b"first"])
    first = complete(s3, "v", upload_id, parts)["VersionId"]
    upload_id, parts = upload(s3, "v", [b"second"])
    second = complete(s3, "v", upload_id, parts)["VersionId"]
    assert first != second and "null" not in (first, second)
    assert s3.get_object(Bucket=BUCKET, Key="v", VersionId=first)["Body"].read() == b"first"
    assert s3.get_object(Bucket=BUCKET, Key="v")["Body"].read() == b"second"


# -- CreateMultipartUpload -----------------------------------------------------------------

@pytest.mark.parametrize("algorithm, kind, expected", [
    ("CRC32", None, "COMPOSITE"), ("CRC32", "FULL_OBJECT", "FULL_OBJECT"), ("CRC32C", None, "COMPOSITE"),
    ("CRC64NVME", None, "FULL_OBJECT"), ("SHA1", None, "COMPOSITE"), ("SHA256", "COMPOSITE", "COMPOSITE"),
])
def test_checksum_algorithm_and_type(s3, algorithm, kind, expected):
    extra = {"ChecksumType": kind} if kind else {}
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ChecksumAlgorithm=algorithm, **extra)
    assert (created["ChecksumAlgorithm"], created["ChecksumType"]) == (algorithm, expected)
    listed = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=created["UploadId"])
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == (algorithm, expected)
    [entry] = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    assert (entry["ChecksumAlgorithm"], entry["ChecksumType"]) == (algorithm, expected)


@pytest.mark.parametrize("params, message", [
    ({"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"},
     "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."),
    ({"ChecksumAlgorithm": "SHA1", "ChecksumType": "FULL_OBJECT"},
     "The FULL_OBJECT checksum type cannot be used with the sha1 checksum algorithm."),
    ({"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"},
     "The FULL_OBJECT checksum type cannot be used with the sha256 checksum algorithm."),
    ({"ChecksumType": "FULL_OBJECT"},
     "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."),
    ({"ChecksumAlgorithm": "CRC32", "ChecksumType": "TEST"}, "Value for x-amz-checksum-type header is invalid."),
    ({"ChecksumAlgorithm": "nope"},
     ("Checksum algorithm provided is unsupported. Please try again with any of the valid types: "
      "[CRC32, CRC32C, SHA1, SHA256]")),
    ({"ChecksumAlgorithm": "CRC32,CRC32C"}, "Invalid types are specified in x-amz-checksum-algorithm header."),
])
def test_checksum_settings_s3_refuses(cloudlet, raw_client, params, message):
    s3 = raw_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=BUCKET, Key="k", **params)
    assert error(exc) == {"Code": "InvalidRequest", "Message": message, "Status": 400}


def test_create_in_a_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket="no-such-bucket-here", Key="k")
    assert error(exc) == {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist",
                          "BucketName": "no-such-bucket-here", "Status": 404}


def test_invalid_storage_class(raw_client, s3):
    with pytest.raises(ClientError) as exc:
        raw_client("s3").create_multipart_upload(Bucket=BUCKET, Key="k", StorageClass="PLATINUM")
    assert error(exc) == {"Code": "InvalidStorageClass", "Message": "The storage class you specified is not valid",
                          "StorageClassRequested": "PLATINUM", "Status": 400}


def test_headers_tags_and_storage_class_reach_the_object(s3):
    upload_id = s3.create_multipart_upload(
        Bucket=BUCKET, Key="doc.txt", ContentType="text/plain", ContentLanguage="en", ContentDisposition="inline",
        Metadata={"Color": "blue"}, Tagging="project=alpha&team=red", StorageClass="STANDARD_IA")["UploadId"]
    assert s3.list_parts(Bucket=BUCKET, Key="doc.txt", UploadId=upload_id)["StorageClass"] == "STANDARD_IA"
    [entry] = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    assert (entry["Key"], entry["StorageClass"], entry["Owner"], entry["Initiator"]) == (
        "doc.txt", "STANDARD_IA", {"ID": CANONICAL_ID}, {"ID": CANONICAL_ID})
    part = s3.upload_part(Bucket=BUCKET, Key="doc.txt", UploadId=upload_id, PartNumber=1, Body=b"hello")
    complete(s3, "doc.txt", upload_id, [{"PartNumber": 1, "ETag": part["ETag"]}])
    head = s3.head_object(Bucket=BUCKET, Key="doc.txt")
    assert (head["ContentType"], head["ContentLanguage"], head["ContentDisposition"], head["Metadata"],
            head["StorageClass"]) == ("text/plain", "en", "inline", {"color": "blue"}, "STANDARD_IA")
    assert s3.get_object_tagging(Bucket=BUCKET, Key="doc.txt")["TagSet"] == [
        {"Key": "project", "Value": "alpha"}, {"Key": "team", "Value": "red"}]


def test_an_iam_user_initiates(cloudlet, s3):
    iam = cloudlet.client("iam")
    iam.create_user(UserName="uploader")
    iam.put_user_policy(UserName="uploader", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="uploader")["AccessKey"]
    user = cloudlet.client("s3", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    upload_id = user.create_multipart_upload(Bucket=BUCKET, Key="k")["UploadId"]
    listed = user.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)
    assert listed["Initiator"] == {"ID": f"arn:aws:iam::{ACCOUNT}:user/uploader", "DisplayName": "uploader"}
    assert listed["Owner"] == {"ID": CANONICAL_ID}


def test_abort_date_from_a_lifecycle_rule(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T10:00:00Z")
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": [
        {"ID": "tidy-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}]})
    kept = s3.create_multipart_upload(Bucket=BUCKET, Key="keep/k")
    assert "AbortDate" not in kept and "AbortRuleId" not in kept
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="tmp/k")
    # Two days after initiation, at the next midnight UTC.
    assert (created["AbortDate"].isoformat(), created["AbortRuleId"]) == ("2030-01-04T00:00:00+00:00", "tidy-tmp")
    s3.upload_part(Bucket=BUCKET, Key="tmp/k", UploadId=created["UploadId"], PartNumber=1, Body=b"x")
    listed = s3.list_parts(Bucket=BUCKET, Key="tmp/k", UploadId=created["UploadId"])
    assert (listed["AbortDate"].isoformat(), listed["AbortRuleId"]) == ("2030-01-04T00:00:00+00:00", "tidy-tmp")
    cloudlet.clock.set("2030-01-04T01:00:00Z")
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]] == ["keep/k"]
    sweep(cloudlet)
    assert blob_files(cloudlet) == []


def test_completion_is_an_event(cloudlet, s3):
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": arn}]})})
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [
        {"Id": "made", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)   # the s3:TestEvent
    upload_id, parts = upload(s3, "done.bin", [b"abc"])
    done = complete(s3, "done.bin", upload_id, parts)
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    [record] = json.loads(got[0]["Body"])["Records"]
    assert record["eventName"] == "ObjectCreated:CompleteMultipartUpload"
    assert {k: record["s3"]["object"][k] for k in ("key", "size", "eTag")} == {
        "key": "done.bin", "size": 3, "eTag": done["ETag"].strip('"')}


# -- UploadPart ----------------------------------------------------------------------

@pytest.mark.parametrize("number", [0, 10001, -1])
def test_part_number_out_of_range(raw_client, s3, number):
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="k")["UploadId"]
    with pytest.raises(ClientError) as exc:
        raw_client("s3").upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
    assert error(exc) == {"Code": "InvalidArgument",
                          "Message": "Part number must be an integer between 1 and 10000, inclusive",
                          "ArgumentName": "partNumber", "ArgumentValue": str(number), "Status": 400}


def test_no_such_upload_everywhere(s3):
    real = s3.create_multipart_upload(Bucket=BUCKET, Key="k")["UploadId"]
    calls = [
        lambda: s3.upload_part(Bucket=BUCKET, Key="k", UploadId="nope", PartNumber=1, Body=b"x"),
        lambda: s3.upload_part(Bucket=BUCKET, Key="other-key", UploadId=real, PartNumber=1, Body=b"x"),
        lambda: s3.list_parts(Bucket=BUCKET, Key="k", UploadId="nope"),
        lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId="nope"),
        lambda: complete(s3, "k", "nope", [{"PartNumber": 1, "ETag": etag(b"x")}]),
        lambda: s3.upload_part_copy(Bucket=BUCKET, Key="k", UploadId="nope", PartNumber=1,
                                    CopySource={"Bucket": BUCKET, "Key": "src"}),
    ]
    s3.put_object(Bucket=BUCKET, Key="src", Body=b"source")
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        err = error(exc)
        assert (err["Code"], err["Message"], err["Status"]) == ("NoSuchUpload", NO_SUCH_UPLOAD, 404)
        assert err["UploadId"] in ("nope", real)


def test_content_md5_is_checked(s3):
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="k")["UploadId"]
    good = b64(hashlib.md5(b"body").digest())
    out = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=1, Body=b"body", ContentMD5=good)
    assert out["ETag"] == etag(b"body")
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=2, Body=b"other", ContentMD5=good)
    err = error(exc)
    assert (err["Code"], err["Message"], err["Status"]) == (
        "BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=2, Body=b"other", ContentMD5="abc")
    assert error(exc) == {"Code": "InvalidDigest", "Message": "The Content-MD5 you specified was invalid.",
                          "Content-MD5": "abc", "Status": 400}
    # Refused parts leave nothing behind.
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)["Parts"]] == [1]


def test_part_checksums_are_checked(s3):
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ChecksumAlgorithm="CRC32C")["UploadId"]
    body = b"123456789"
    ok = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=1, Body=body,
                        ChecksumCRC32C=b64(crc32c(body)))
    assert ok["ChecksumCRC32C"] == b64(crc32c(body)) == "4waSgw=="
    cases = [
        ({"ChecksumCRC32": b64(crc32(body))}, "InvalidRequest",
         "Checksum Type mismatch occurred, expected checksum Type: crc32c, actual checksum Type: crc32"),
        ({"ChecksumCRC32C": "5waSgw=="}, "BadDigest",
         "The CRC32C you specified did not match the calculated checksum."),
        ({"ChecksumCRC32C": "short==="}, "InvalidRequest", "Value for x-amz-checksum-crc32c header is invalid."),
        ({"ChecksumCRC32": b64(crc32(body)), "ChecksumCRC32C": b64(crc32c(body))}, "InvalidRequest",
         "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."),
    ]
    for extra, code, message in cases:
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=2, Body=body, **extra)
        assert error(exc) == {"Code": code, "Message": message, "Status": 400}, extra
    # boto3's default CRC32 does not fit a CRC32C upload either.
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=2, Body=body)
    assert error(exc)["Message"] == ("Checksum Type mismatch occurred, expected checksum Type: crc32c, "
                                     "actual checksum Type: crc32")
    listed = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ChecksumCRC32C"]) for p in listed] == [(1, "4waSgw==")]


def test_a_part_uploaded_again_replaces_the_first(cloudlet, s3):
    upload_id, parts = upload(s3, "k", [b"first version"])
    again = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=1, Body=b"second version")
    [listed] = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)["Parts"]
    assert (listed["ETag"], listed["Size"]) == (etag(b"second version"), 14)
    sweep(cloudlet)
    assert len(blob_files(cloudlet)) == 1
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, parts)
    assert error(exc) == {"Code": "InvalidPart", "Message": INVALID_PART, "UploadId": upload_id, "PartNumber": "1",
                          "ETag": etag(b"first version").strip('"'), "Status": 400}
    complete(s3, "k", upload_id, [{"PartNumber": 1, "ETag": again["ETag"]}])
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"second version"


# -- ListParts -----------------------------------------------------------------------------

def test_list_parts_pages(s3):
    upload_id, _ = upload(s3, "k", [bytes([n]) * n for n in range(1, 6)])
    page = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id, MaxParts=2)
    assert ([p["PartNumber"] for p in page["Parts"]], page["IsTruncated"], page["NextPartNumberMarker"],
            page["MaxParts"]) == ([1, 2], True, 2, 2)
    page = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id, MaxParts=2, PartNumberMarker=2)
    assert ([p["PartNumber"] for p in page["Parts"]], page["IsTruncated"], page["NextPartNumberMarker"],
            page["PartNumberMarker"]) == ([3, 4], True, 4, 2)
    page = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id, MaxParts=2, PartNumberMarker=4)
    assert ([(p["PartNumber"], p["Size"], p["ETag"]) for p in page["Parts"]], page["IsTruncated"],
            page["NextPartNumberMarker"]) == ([(5, 5, etag(bytes([5]) * 5))], False, 5)
    paginator = s3.get_paginator("list_parts")
    numbers = [p["PartNumber"] for page in paginator.paginate(Bucket=BUCKET, Key="k", UploadId=upload_id,
                                                              PaginationConfig={"PageSize": 2})
               for p in page["Parts"]]
    assert numbers == [1, 2, 3, 4, 5]


# -- ListMultipartUploads -----------------------------------------------------------------

def test_list_multipart_uploads(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    ids = {}
    for key in ("photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "docs/x.txt", "readme", "readme"):
        ids.setdefault(key, []).append(s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"])
        cloudlet.clock.advance(1)
    listed = s3.list_multipart_uploads(Bucket=BUCKET)
    assert [(u["Key"], u["UploadId"]) for u in listed["Uploads"]] == [
        ("docs/x.txt", ids["docs/x.txt"][0]), ("photos/2024/a.jpg", ids["photos/2024/a.jpg"][0]),
        ("photos/2024/b.jpg", ids["photos/2024/b.jpg"][0]), ("photos/2025/c.jpg", ids["photos/2025/c.jpg"][0]),
        ("readme", ids["readme"][0]), ("readme", ids["readme"][1])]
    assert listed["Uploads"][0]["Initiated"].isoformat() == "2030-01-01T00:00:03+00:00"
    assert (listed["IsTruncated"], listed["MaxUploads"], listed["KeyMarker"], listed["UploadIdMarker"]) == (
        False, 1000, "", "")

    by_prefix = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="photos/", Delimiter="/")
    assert by_prefix.get("Uploads", []) == []
    assert by_prefix["CommonPrefixes"] == [{"Prefix": "photos/2024/"}, {"Prefix": "photos/2025/"}]
    assert (by_prefix["Prefix"], by_prefix["Delimiter"]) == ("photos/", "/")
    top = s3.list_multipart_uploads(Bucket=BUCKET, Delimiter="/")
    assert [u["Key"] for u in top["Uploads"]] == ["readme", "readme"]
    assert top["CommonPrefixes"] == [{"Prefix": "docs/"}, {"Prefix": "photos/"}]

    page = s3.list_multipart_uploads(Bucket=BUCKET, MaxUploads=2)
    assert ([u["Key"] for u in page["Uploads"]], page["IsTruncated"], page["NextKeyMarker"],
            page["NextUploadIdMarker"]) == (["docs/x.txt", "photos/2024/a.jpg"], True, "photos/2024/a.jpg",
                                            ids["photos/2024/a.jpg"][0])
    page = s3.list_multipart_uploads(Bucket=BUCKET, MaxUploads=4, KeyMarker="photos/2024/a.jpg",
                                     UploadIdMarker=ids["photos/2024/a.jpg"][0])
    assert [u["Key"] for u in page["Uploads"]] == ["photos/2024/b.jpg", "photos/2025/c.jpg", "readme", "readme"]
    assert page["IsTruncated"] is False
    # Within one key, after a given upload.
    page = s3.list_multipart_uploads(Bucket=BUCKET, KeyMarker="readme", UploadIdMarker=ids["readme"][0])
    assert [u["UploadId"] for u in page["Uploads"]] == [ids["readme"][1]]
    # A key marker alone skips that key entirely.
    page = s3.list_multipart_uploads(Bucket=BUCKET, KeyMarker="photos/2025/c.jpg")
    assert [u["Key"] for u in page["Uploads"]] == ["readme", "readme"]
    paginator = s3.get_paginator("list_multipart_uploads")
    keys = [u["Key"] for p in paginator.paginate(Bucket=BUCKET, PaginationConfig={"PageSize": 2})
            for u in p.get("Uploads", [])]
    assert keys == ["docs/x.txt", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "readme", "readme"]


def test_list_multipart_uploads_url_encoding(s3):
    s3.create_multipart_upload(Bucket=BUCKET, Key="a b/ü.txt")
    raw = s3.list_multipart_uploads(Bucket=BUCKET, EncodingType="url", Prefix="a b/")
    # (boto3 decodes the object listings' keys, not this one's.)
    assert [u["Key"] for u in raw["Uploads"]] == ["a%20b/%C3%BC.txt"]
    assert (raw["EncodingType"], raw["Prefix"], raw["NextKeyMarker"]) == ("url", "a%20b/", "a%20b/%C3%BC.txt")
    assert s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"][0]["Key"] == "a b/ü.txt"


# -- AbortMultipartUpload -----------------------------------------------------------------

def test_abort_leaves_no_blobs(cloudlet, s3):
    upload_id, _ = upload(s3, "k", [os.urandom(1000), os.urandom(2000), os.urandom(3000)])
    assert len(blob_files(cloudlet)) == 3
    out = s3.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId=upload_id)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)
    assert error(exc)["Code"] == "NoSuchUpload"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    sweep(cloudlet)
    assert blob_files(cloudlet) == []
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId=upload_id)
    assert error(exc) == {"Code": "NoSuchUpload", "Message": NO_SUCH_UPLOAD, "UploadId": upload_id, "Status": 404}


def test_abort_if_match_initiated_time(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="k")["UploadId"]
    initiated = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"][0]["Initiated"]
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId=upload_id,
                                  IfMatchInitiatedTime="2029-12-31T00:00:00Z")
    assert error(exc) == {"Code": "PreconditionFailed",
                          "Message": "At least one of the pre-conditions you specified did not hold",
                          "Condition": "x-amz-if-match-initiated-time", "Status": 412}
    s3.abort_multipart_upload(Bucket=BUCKET, Key="k", UploadId=upload_id, IfMatchInitiatedTime=initiated)


# -- CompleteMultipartUpload -----------------------------------------------------------

def test_complete_refuses_bad_part_lists(s3):
    data = [os.urandom(5 * MiB), b"small", b"last"]
    upload_id, parts = upload(s3, "k", data)

    def refused(part_list, **kw) -> dict:
        with pytest.raises(ClientError) as exc:
            complete(s3, "k", upload_id, part_list, **kw)
        return error(exc)

    assert refused([{"PartNumber": 4, "ETag": parts[0]["ETag"]}]) == {
        "Code": "InvalidPart", "Message": INVALID_PART, "UploadId": upload_id, "PartNumber": "4",
        "ETag": parts[0]["ETag"].strip('"'), "Status": 400}
    assert refused([{"PartNumber": 1, "ETag": etag(b"not it")}]) == {
        "Code": "InvalidPart", "Message": INVALID_PART, "UploadId": upload_id, "PartNumber": "1",
        "ETag": etag(b"not it").strip('"'), "Status": 400}
    ordered = {"Code": "InvalidPartOrder", "Message": "The list of parts was not in ascending order. Parts must be "
               "ordered by part number.", "UploadId": upload_id, "Status": 400}
    assert refused([parts[1], parts[0]]) == ordered
    assert refused([parts[0], parts[0]]) == ordered
    assert refused(parts) == {
        "Code": "EntityTooSmall", "Message": "Your proposed upload is smaller than the minimum allowed size",
        "ETag": parts[1]["ETag"].strip('"'), "PartNumber": "2", "MinSizeAllowed": str(5 * MiB),
        "ProposedSize": "5", "Status": 400}
    assert refused([]) == {"Code": "InvalidRequest", "Message": "You must specify at least one part", "Status": 400}
    assert refused([parts[0], parts[2]], MpuObjectSize=10) == {
        "Code": "InvalidRequest", "Status": 400,
        "Message": f"The provided 'x-amz-mp-object-size' header value 10 does not match what was computed: "
                   f"{5 * MiB + 4}"}
    # Nothing was completed by the refusals.
    assert len(s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)["Parts"]) == 3
    # Quotes around an ETag are optional; part 2 is left out (its file goes).
    done = complete(s3, "k", upload_id, [{"PartNumber": 1, "ETag": parts[0]["ETag"].strip('"')}, parts[2]],
                    MpuObjectSize=5 * MiB + 4)
    assert done["ETag"] == multipart_etag([data[0], data[2]])
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == data[0] + data[2]


def test_parts_left_out_are_discarded(cloudlet, s3):
    data = [os.urandom(5 * MiB), os.urandom(100), os.urandom(200)]
    upload_id, parts = upload(s3, "k", data)
    complete(s3, "k", upload_id, [parts[0], parts[2]])
    sweep(cloudlet)
    assert len(blob_files(cloudlet)) == 2
    s3.delete_object(Bucket=BUCKET, Key="k")
    sweep(cloudlet)
    assert blob_files(cloudlet) == []


def test_composite_crc32(s3):
    data = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"the end"]
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ChecksumAlgorithm="CRC32")
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(data, 1):
        out = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=number, Body=body,
                             ChecksumAlgorithm="CRC32")
        assert out["ChecksumCRC32"] == b64(crc32(body))
        parts.append({"PartNumber": number, "ETag": out["ETag"], "ChecksumCRC32": out["ChecksumCRC32"]})
    listed = s3.list_parts(Bucket=BUCKET, Key="k", UploadId=upload_id)["Parts"]
    assert [p["ChecksumCRC32"] for p in listed] == [b64(crc32(b)) for b in data]
    expected = b64(crc32(b"".join(crc32(b) for b in data))) + "-3"
    done = complete(s3, "k", upload_id, parts, ChecksumCRC32=expected)
    assert (done["ChecksumCRC32"], done["ChecksumType"], done["ETag"]) == (expected, "COMPOSITE",
                                                                          multipart_etag(data))
    head = s3.head_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (expected, "COMPOSITE")
    head = s3.head_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED", PartNumber=3)
    assert (head["ChecksumCRC32"], head["PartsCount"], head["ContentLength"]) == (b64(crc32(b"the end")), 3, 7)


def test_composite_sha256_single_part(s3):
    body = b"123456789"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ChecksumAlgorithm="SHA256")["UploadId"]
    out = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=1, Body=body,
                         ChecksumAlgorithm="SHA256")
    assert out["ChecksumSHA256"] == b64(sha256(body)) == "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU="
    part = {"PartNumber": 1, "ETag": out["ETag"], "ChecksumSHA256": out["ChecksumSHA256"]}
    composite = b64(sha256(sha256(body)))
    assert composite == "KSsNAHVmgy25S/rmic1w0at3KBH9RLn0nYVQ7p6mpJQ="

    def refused(parts, **kw) -> dict:
        with pytest.raises(ClientError) as exc:
            complete(s3, "k", upload_id, parts, **kw)
        return error(exc)

    assert refused([part], ChecksumSHA256=b64(sha256(b"other"))) == {
        "Code": "BadDigest", "Message": "The sha256 you specified did not match the calculated checksum.",
        "Status": 400}
    assert refused([part], ChecksumSHA256=composite + "-2")["Code"] == "BadDigest"
    assert refused([part], ChecksumSHA256=composite + "-a") == {
        "Code": "InvalidRequest", "Message": "Value for x-amz-checksum-sha256 header is invalid.", "Status": 400}
    assert refused([{"PartNumber": 1, "ETag": out["ETag"]}]) == {
        "Code": "InvalidRequest", "Status": 400,
        "Message": "The upload was created using a sha256 checksum. The complete request must include the checksum "
                   "for each part. It was missing for part 1 in the request."}
    assert refused([{**part, "ChecksumSHA256": b64(sha256(b"x"))}]) == {
        "Code": "InvalidPart", "Message": INVALID_PART, "UploadId": upload_id, "PartNumber": "1",
        "ETag": out["ETag"].strip('"'), "Status": 400}
    assert refused([{"PartNumber": 1, "ETag": out["ETag"], "ChecksumCRC32": b64(crc32(body))}]) == {
        "Code": "BadDigest", "Message": "The crc32 you specified for part 1 did not match what we received.",
        "Status": 400}
    assert refused([{**part, "ChecksumSHA256": "not base64!"}]) == {
        "Code": "InvalidArgument", "Message": "Invalid Base64 or multiple checksums present in request",
        "ArgumentName": "Checksum", "ArgumentValue": "SHA256:not base64!;", "Status": 400}
    assert refused([part], ChecksumType="FULL_OBJECT") == {
        "Code": "InvalidRequest", "Status": 400,
        "Message": "The upload was created using the COMPOSITE checksum mode. The complete request must use the "
                   "same checksum mode."}
    done = complete(s3, "k", upload_id, [part], ChecksumSHA256=composite)
    assert (done["ChecksumSHA256"], done["ChecksumType"]) == (composite + "-1", "COMPOSITE")


def test_full_object_crc32c(s3):
    data = [os.urandom(5 * MiB), os.urandom(777)]
    whole = b"".join(data)
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ChecksumAlgorithm="CRC32C",
                                         ChecksumType="FULL_OBJECT")
    upload_id = created["UploadId"]
    parts = []
    for number, body in enumerate(data, 1):
        # (boto3 computes CRC32C only with CRT; the tests' boto3 has none.)
        out = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=number, Body=body,
                             ChecksumCRC32C=b64(crc32c(body)))
        parts.append({"PartNumber": number, "ETag": out["ETag"]})   # part checksums are optional here
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, parts, ChecksumType="FULL_OBJECT", ChecksumCRC32C=b64(crc32c(b"wrong")))
    assert error(exc) == {"Code": "BadDigest", "Status": 400,
                          "Message": "The crc32c you specified did not match the calculated checksum."}
    done = complete(s3, "k", upload_id, parts, ChecksumType="FULL_OBJECT", ChecksumCRC32C=b64(crc32c(whole)))
    assert (done["ChecksumCRC32C"], done["ChecksumType"]) == (b64(crc32c(whole)), "FULL_OBJECT")


def test_full_object_crc64nvme(s3):
    data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1)]
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ChecksumAlgorithm="CRC64NVME")["UploadId"]
    parts = []
    for number, body in enumerate(data, 1):
        out = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=number, Body=body,
                             ChecksumCRC64NVME=b64(crc64nvme(body)))
        assert out["ChecksumCRC64NVME"] == b64(crc64nvme(body))
        parts.append({"PartNumber": number, "ETag": out["ETag"], "ChecksumCRC64NVME": out["ChecksumCRC64NVME"]})
    done = complete(s3, "k", upload_id, parts)
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == (b64(crc64nvme(b"".join(data))), "FULL_OBJECT")


def test_upload_without_algorithm_refuses_part_checksums(s3):
    upload_id, parts = upload(s3, "k", [b"123456789"])
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, [{**parts[0], "ChecksumCRC32C": "4waSgw=="}])
    assert error(exc) == {"Code": "InvalidPart", "Message": INVALID_PART, "UploadId": upload_id, "PartNumber": "1",
                          "ETag": parts[0]["ETag"].strip('"'), "Status": 400}
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, [{**parts[0], "ChecksumCRC32C": "4waSgx=="}])
    assert error(exc) == {"Code": "InvalidArgument", "Message": "Invalid Base64 or multiple checksums present in "
                          "request", "ArgumentName": "Checksum", "ArgumentValue": "CRC32C:4waSgx==;", "Status": 400}


def test_conditional_complete(s3):
    upload_id, parts = upload(s3, "k", [b"one"])
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, parts, IfMatch=etag(b"anything"))
    assert error(exc) == {"Code": "NoSuchKey", "Message": "The specified key does not exist.", "Key": "k",
                          "Status": 404}
    first = complete(s3, "k", upload_id, parts, IfNoneMatch="*")
    upload_id, parts = upload(s3, "k", [b"two"])
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, parts, IfNoneMatch="*")
    assert error(exc) == {"Code": "PreconditionFailed", "Condition": "If-None-Match", "Status": 412,
                          "Message": "At least one of the pre-conditions you specified did not hold"}
    with pytest.raises(ClientError) as exc:
        complete(s3, "k", upload_id, parts, IfMatch=etag(b"stale"))
    assert error(exc)["Condition"] == "If-Match"
    complete(s3, "k", upload_id, parts, IfMatch=first["ETag"])
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"two"


# -- UploadPartCopy ---------------------------------------------------------------------

def test_upload_part_copy_with_ranges(cloudlet, s3):
    source = os.urandom(6 * MiB + 10)
    s3.put_object(Bucket=BUCKET, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="copy")["UploadId"]
    first = s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=1,
                                CopySource={"Bucket": BUCKET, "Key": "source"},
                                CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert first["CopyPartResult"]["ETag"] == etag(source[:5 * MiB])
    assert first["ServerSideEncryption"] == "AES256"
    assert "CopySourceVersionId" not in first
    second = s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=2,
                                 CopySource=f"{BUCKET}/source", CopySourceRange=f"bytes={5 * MiB}-{len(source) - 1}")
    assert second["CopyPartResult"]["ETag"] == etag(source[5 * MiB:])
    listed = s3.list_parts(Bucket=BUCKET, Key="copy", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MiB), (2, MiB + 10)]
    done = complete(s3, "copy", upload_id, [{"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
                                            {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}])
    assert done["ETag"] == multipart_etag([source[:5 * MiB], source[5 * MiB:]])
    assert s3.get_object(Bucket=BUCKET, Key="copy")["Body"].read() == source


BAD_RANGE_FORM = ("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are "
                  "the zero-based offsets of the first and last bytes to copy")


@pytest.mark.parametrize("given, message", [
    ("bytes=5-1", "Range specified is not valid for source object of size: 100"),
    ("bytes=0-100", "Range specified is not valid for source object of size: 100"),
    ("0-5", BAD_RANGE_FORM),
    ("bytes=0-", BAD_RANGE_FORM),
])
def test_upload_part_copy_bad_ranges(s3, given, message):
    s3.put_object(Bucket=BUCKET, Key="source", Body=os.urandom(100))
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="copy")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": BUCKET, "Key": "source"}, CopySourceRange=given)
    assert error(exc) == {"Code": "InvalidArgument", "Message": message, "ArgumentName": "x-amz-copy-source-range",
                          "ArgumentValue": given, "Status": 400}


def test_upload_part_copy_of_a_version(s3):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=BUCKET, Key="source", Body=b"version one")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="source", Body=b"version two")
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="copy")["UploadId"]
    out = s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=1,
                              CopySource={"Bucket": BUCKET, "Key": "source", "VersionId": v1},
                              CopySourceRange="bytes=8-10")
    assert (out["CopySourceVersionId"], out["CopyPartResult"]["ETag"]) == (v1, etag(b"one"))
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=2,
                            CopySource={"Bucket": BUCKET, "Key": "source", "VersionId": "nope"})
    assert error(exc) == {"Code": "NoSuchVersion", "Message": "The specified version does not exist.",
                          "Key": "source", "VersionId": "nope", "Status": 404}
    complete(s3, "copy", upload_id, [{"PartNumber": 1, "ETag": out["CopyPartResult"]["ETag"]}])
    assert s3.get_object(Bucket=BUCKET, Key="copy")["Body"].read() == b"one"


def test_upload_part_copy_source_errors(s3):
    s3.put_object(Bucket=BUCKET, Key="source", Body=b"data")
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="copy")["UploadId"]

    def refused(**kw) -> dict:
        with pytest.raises(ClientError) as exc:
            s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=1, **kw)
        return error(exc)

    assert refused(CopySource={"Bucket": BUCKET, "Key": "missing"}) == {
        "Code": "NoSuchKey", "Message": "The specified key does not exist.", "Key": "missing", "Status": 404}
    assert refused(CopySource={"Bucket": "no-such-source-bucket", "Key": "x"})["Code"] == "NoSuchBucket"
    assert refused(CopySource={"Bucket": BUCKET, "Key": "source"}, CopySourceIfMatch=etag(b"other")) == {
        "Code": "PreconditionFailed", "Message": "At least one of the pre-conditions you specified did not hold",
        "Condition": "x-amz-copy-source-If-Match", "Status": 412}
    assert refused(CopySource={"Bucket": BUCKET, "Key": "source"}, CopySourceIfNoneMatch=etag(b"data"))[
        "Condition"] == "x-amz-copy-source-If-None-Match"
    ok = s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=1,
                             CopySource={"Bucket": BUCKET, "Key": "source"}, CopySourceIfMatch=etag(b"data"))
    assert ok["CopyPartResult"]["ETag"] == etag(b"data")


def test_upload_part_copy_into_a_checksummed_upload(s3):
    s3.put_object(Bucket=BUCKET, Key="source", Body=b"123456789")
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="copy", ChecksumAlgorithm="CRC32C")["UploadId"]
    out = s3.upload_part_copy(Bucket=BUCKET, Key="copy", UploadId=upload_id, PartNumber=1,
                              CopySource={"Bucket": BUCKET, "Key": "source"})
    assert out["CopyPartResult"]["ChecksumCRC32C"] == "4waSgw=="
    done = complete(s3, "copy", upload_id, [{"PartNumber": 1, "ETag": out["CopyPartResult"]["ETag"],
                                             "ChecksumCRC32C": "4waSgw=="}])
    assert done["ChecksumCRC32C"] == b64(crc32c(crc32c(b"123456789"))) + "-1" == "pzJFoA==-1"


# -- encryption ------------------------------------------------------------------------

def test_sse_c_upload(s3):
    key = os.urandom(32)
    other = os.urandom(32)
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="secret", SSECustomerAlgorithm="AES256",
                                         SSECustomerKey=key)
    key_md5 = b64(hashlib.md5(key).digest())
    assert (created["SSECustomerAlgorithm"], created["SSECustomerKeyMD5"]) == ("AES256", key_md5)
    upload_id = created["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="secret", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "The multipart upload initiate requested encryption. Subsequent part requests "
                                     "must include the appropriate encryption parameters."}
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="secret", UploadId=upload_id, PartNumber=1, Body=b"x",
                       SSECustomerAlgorithm="AES256", SSECustomerKey=other)
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "The provided encryption parameters did not match the ones used originally."}
    part = s3.upload_part(Bucket=BUCKET, Key="secret", UploadId=upload_id, PartNumber=1, Body=b"classified",
                          SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert (part["SSECustomerAlgorithm"], part["SSECustomerKeyMD5"]) == ("AES256", key_md5)
    complete(s3, "secret", upload_id, [{"PartNumber": 1, "ETag": part["ETag"]}])
    got = s3.get_object(Bucket=BUCKET, Key="secret", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert got["Body"].read() == b"classified"


def test_sse_kms_upload(cloudlet, s3):
    kms = cloudlet.client("kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="k", ServerSideEncryption="aws:kms",
                                         SSEKMSKeyId=key_arn)
    assert (created["ServerSideEncryption"], created["SSEKMSKeyId"]) == ("aws:kms", key_arn)
    upload_id = created["UploadId"]
    data = [os.urandom(5 * MiB), b"kms tail"]
    parts = []
    for number, body in enumerate(data, 1):
        out = s3.upload_part(Bucket=BUCKET, Key="k", UploadId=upload_id, PartNumber=number, Body=body)
        assert (out["ServerSideEncryption"], out["SSEKMSKeyId"]) == ("aws:kms", key_arn)
        parts.append({"PartNumber": number, "ETag": out["ETag"]})
    done = complete(s3, "k", upload_id, parts)
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", key_arn)
    assert not any(name.startswith("Checksum") for name in done)   # as S3 answers for SSE-KMS
    got = s3.get_object(Bucket=BUCKET, Key="k")
    assert (got["Body"].read(), got["SSEKMSKeyId"]) == (b"".join(data), key_arn)


def test_bucket_default_kms_encryption(cloudlet, s3):
    key_arn = cloudlet.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True}]})
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="k")
    assert (created["ServerSideEncryption"], created["SSEKMSKeyId"], created["BucketKeyEnabled"]) == (
        "aws:kms", key_arn, True)


def test_unknown_kms_key(s3):
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=BUCKET, Key="k", ServerSideEncryption="aws:kms",
                                   SSEKMSKeyId="alias/does-not-exist")
    err = error(exc)
    assert (err["Code"], err["Status"]) == ("KMS.NotFoundException", 400)


# -- buckets ----------------------------------------------------------------------------

def test_uploads_in_progress_go_with_their_bucket(cloudlet, s3):
    upload(s3, "k", [b"part"])
    s3.delete_bucket(Bucket=BUCKET)
    sweep(cloudlet)
    assert blob_files(cloudlet) == []
    s3.create_bucket(Bucket=BUCKET)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


# -- CRC combination (pure) -----------------------------------------------------------------

@pytest.mark.parametrize("alg, fn", [("CRC32", zlib.crc32), ("CRC32C", crt.crc32c), ("CRC64NVME", crt.crc64nvme)])
def test_crc_combine(alg, fn):
    rng = random.Random(7)
    for n1, n2 in [(0, 0), (1, 0), (0, 1), (3, 5), (100, 1), (1000, 4097), (70_000, 123_457)]:
        a, b = rng.randbytes(n1), rng.randbytes(n2)
        assert crc_combine_py(alg, fn(a), fn(b), n2) == fn(a + b), (n1, n2)
