"""S3 objects through boto3 against a real server: PutObject, GetObject,
HeadObject, DeleteObject(s), CopyObject, versions and delete markers,
ranges, preconditions, checksums, tagging, Object Lock, attributes and
ACLs, with AWS's exact codes, messages, statuses and headers."""

from __future__ import annotations

import datetime as dt
import hashlib
import os

import pytest
from botocore.exceptions import ClientError

from tests.services.s3_object_helpers import (
    CANONICAL_ID,
    LOCK_PROTECTED,
    NO_SUCH_KEY,
    PRECONDITION,
    b64,
    checksum,
    error,
    etag,
    headers_of,
    make_bucket,
    with_headers,
)

BUCKET = "objects-bucket"
BODY = b"The quick brown fox jumps over the lazy dog"


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    make_bucket(client, BUCKET)
    return client


def put(s3, key="k", body=BODY, bucket=BUCKET, **kw):
    return s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)


# -- PutObject / GetObject / HeadObject --------------------------------------------------

def test_put_get_head_round_trip(s3):
    out = put(s3, "dir/file.txt", Metadata={"Color": "Blue", "size-Hint": "big"}, ContentType="text/plain",
              ContentEncoding="identity", ContentDisposition="attachment; filename=f.txt", ContentLanguage="en",
              CacheControl="max-age=60", WebsiteRedirectLocation="/other",
              Expires=dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC))
    assert out["ETag"] == etag(BODY)
    assert out["ServerSideEncryption"] == "AES256"
    assert out["ChecksumCRC32"] == checksum("CRC32", BODY)      # boto3 sends CRC32 by default
    assert out["ChecksumType"] == "FULL_OBJECT"
    assert "VersionId" not in out

    got = s3.get_object(Bucket=BUCKET, Key="dir/file.txt")
    assert got["Body"].read() == BODY
    assert got["ContentLength"] == len(BODY)
    assert got["ETag"] == etag(BODY)
    assert got["AcceptRanges"] == "bytes"
    assert got["ContentType"] == "text/plain"
    assert got["ContentEncoding"] == "identity"
    assert got["ContentDisposition"] == "attachment; filename=f.txt"
    assert got["ContentLanguage"] == "en"
    assert got["CacheControl"] == "max-age=60"
    assert got["WebsiteRedirectLocation"] == "/other"
    assert headers_of(got)["expires"] == "Tue, 06 May 2031 07:08:09 GMT"
    assert got["Metadata"] == {"color": "Blue", "size-hint": "big"}
    assert got["ServerSideEncryption"] == "AES256"
    assert "VersionId" not in got and "StorageClass" not in got and "TagCount" not in got
    assert got["ChecksumCRC32"] == checksum("CRC32", BODY)      # boto3 asks (ChecksumMode ENABLED)
    assert got["LastModified"].tzinfo is not None

    head = s3.head_object(Bucket=BUCKET, Key="dir/file.txt")
    assert head["ContentLength"] == len(BODY)
    assert head["ETag"] == etag(BODY)
    assert head["Metadata"] == {"color": "Blue", "size-hint": "big"}
    assert head["LastModified"] == got["LastModified"]
    assert headers_of(head)["content-type"] == "text/plain"
    assert "ChecksumCRC32" not in head      # only with ChecksumMode ENABLED


def test_default_content_type_and_empty_body(s3):
    s3.put_object(Bucket=BUCKET, Key="empty")
    got = s3.get_object(Bucket=BUCKET, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == etag(b"")


def test_get_missing_key_and_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="missing")
    assert error(exc) == {"Code": "NoSuchKey", "Message": NO_SUCH_KEY, "Key": "missing", "Status": 404}
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert error(exc)["Code"] == "NoSuchBucket"
    assert error(exc)["Status"] == 404
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="missing")
    assert error(exc)["Status"] == 404     # HEAD: no body, botocore names the status


def test_overwrite_replaces_object(s3):
    put(s3, body=b"one")
    put(s3, body=b"two", Metadata={"v": "2"})
    got = s3.get_object(Bucket=BUCKET, Key="k")
    assert got["Body"].read() == b"two"
    assert got["Metadata"] == {"v": "2"}


def test_a_piece_read_then_deleted_is_not_read_again_under_its_reused_id(cloudlet, s3):
    # Small objects' pieces are rows remembered once read; deleting the
    # newest row lets SQLite give its id to the next piece.
    put(s3, key="a", body=b"first body")
    assert s3.get_object(Bucket=BUCKET, Key="a")["Body"].read() == b"first body"
    (before,) = cloudlet.cloud.storage.one("SELECT MAX(id) FROM s3_pieces")
    s3.delete_object(Bucket=BUCKET, Key="a")
    put(s3, key="b", body=b"second body, longer")
    assert cloudlet.cloud.storage.one("SELECT MAX(id) FROM s3_pieces") == (before,)  # the id was reused
    assert s3.get_object(Bucket=BUCKET, Key="b")["Body"].read() == b"second body, longer"
    assert s3.get_object(Bucket=BUCKET, Key="b", Range="bytes=7-10")["Body"].read() == b"body"


def test_metadata_limit(s3):
    put(s3, Metadata={"a": "x" * 2047})      # 1 + 2047 = 2048 bytes: at the limit
    with pytest.raises(ClientError) as exc:
        put(s3, Metadata={"a": "x" * 2048})
    assert error(exc) == {"Code": "MetadataTooLarge", "Status": 400, "Size": "2049", "MaxSizeAllowed": "2048",
                          "Message": "Your metadata headers exceed the maximum allowed metadata size."}


def test_key_too_long(s3):
    put(s3, key="k" * 1024)
    with pytest.raises(ClientError) as exc:
        put(s3, key="k" * 1025)
    assert error(exc) == {"Code": "KeyTooLongError", "Message": "Your key is too long", "MaxSizeAllowed": "1024",
                          "Size": "1025", "Status": 400}


def test_storage_class(s3):
    put(s3, "ia", StorageClass="STANDARD_IA")
    assert s3.head_object(Bucket=BUCKET, Key="ia")["StorageClass"] == "STANDARD_IA"
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [o["StorageClass"] for o in listed] == ["STANDARD_IA"]
    with pytest.raises(ClientError) as exc:
        put(s3, "x", StorageClass="OUTPOSTS")
    assert error(exc) == {"Code": "InvalidStorageClass", "Message": "The storage class you specified is not valid",
                          "StorageClassRequested": "OUTPOSTS", "Status": 400}


def test_archived_object_is_not_readable(s3):
    put(s3, "cold", StorageClass="GLACIER")
    assert s3.head_object(Bucket=BUCKET, Key="cold")["StorageClass"] == "GLACIER"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="cold")
    assert error(exc) == {"Code": "InvalidObjectState", "StorageClass": "GLACIER", "Status": 403,
                          "Message": "The operation is not valid for the object's storage class"}


def test_website_redirect_location_must_be_a_path_or_url(s3):
    with pytest.raises(ClientError) as exc:
        put(s3, WebsiteRedirectLocation="elsewhere")
    assert error(exc) == {"Code": "InvalidArgument", "Status": 400,
                          "Message": "The website redirect location must have a prefix of 'http://' or 'https://' "
                                     "or '/'",
                          "ArgumentName": "x-amz-website-redirect-location", "ArgumentValue": "elsewhere"}


# -- checksums -----------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "XXHASH64",
                                       "XXHASH3", "XXHASH128"])
def test_checksum_algorithms(s3, algorithm):
    value = checksum(algorithm, BODY)
    # (a value computed here: the test client signs without the CRT, which
    # botocore needs for the CRC32C, CRC64NVME and xxHash algorithms)
    out = put(s3, **{f"Checksum{algorithm}": value})
    assert out[f"Checksum{algorithm}"] == value
    assert out["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == value
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert s3.list_objects_v2(Bucket=BUCKET)["Contents"][0]["ChecksumAlgorithm"] == [algorithm]


def test_md5_checksum_given_by_value(s3):
    out = put(s3, ChecksumMD5=checksum("MD5", BODY))
    assert out["ChecksumMD5"] == checksum("MD5", BODY)


def test_s3_computes_crc64nvme_when_the_client_sends_no_checksum(cloudlet, s3):
    plain = cloudlet.client("s3", request_checksum_calculation="when_required")
    out = plain.put_object(Bucket=BUCKET, Key="k", Body=BODY)
    assert out["ChecksumCRC64NVME"] == checksum("CRC64NVME", BODY)
    assert out["ChecksumType"] == "FULL_OBJECT"
    head = plain.head_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == checksum("CRC64NVME", BODY)


def test_checksum_mismatch_is_bad_digest_and_stores_nothing(s3):
    with pytest.raises(ClientError) as exc:
        put(s3, ChecksumCRC32=checksum("CRC32", b"other"))
    assert error(exc) == {"Code": "BadDigest", "Status": 400,
                          "Message": "The CRC32 you specified did not match the calculated checksum."}
    with pytest.raises(ClientError) as exc:
        put(s3, ChecksumSHA256=checksum("SHA256", b"other"))
    assert error(exc)["Message"] == "The SHA256 you specified did not match the calculated checksum."
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=BUCKET, Key="k")
    assert error(exc)["Status"] == 404


def test_malformed_checksum_value(s3):
    with pytest.raises(ClientError) as exc:
        put(s3, ChecksumCRC32="AAAA")      # 3 bytes, not 4
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "Value for x-amz-checksum-crc32 header is invalid."}


def test_two_checksum_headers(s3):
    with_headers(s3, "PutObject", {"x-amz-checksum-sha1": checksum("SHA1", BODY)})
    with pytest.raises(ClientError) as exc:
        put(s3)
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "Expecting a single x-amz-checksum- header. Multiple checksum Types are not "
                                     "allowed."}


def test_sdk_checksum_algorithm_without_a_value(s3):
    with_headers(s3, "PutObject", {"x-amz-sdk-checksum-algorithm": "CRC32"}, drop=("x-amz-checksum-crc32",))
    with pytest.raises(ClientError) as exc:
        put(s3)
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* "
                                     "or x-amz-trailer headers were found."}


def test_sdk_checksum_algorithm_naming_another_algorithm(s3):
    with_headers(s3, "PutObject", {"x-amz-sdk-checksum-algorithm": "SHA256"})
    with pytest.raises(ClientError) as exc:
        put(s3)
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "Value for x-amz-sdk-checksum-algorithm header is invalid."}


def test_content_md5(s3):
    good = b64(hashlib.md5(BODY).digest())
    assert put(s3, ContentMD5=good)["ETag"] == etag(BODY)
    wrong = hashlib.md5(b"other").digest()
    with pytest.raises(ClientError) as exc:
        put(s3, ContentMD5=b64(wrong))
    assert error(exc) == {"Code": "BadDigest", "Status": 400,
                          "Message": "The Content-MD5 you specified did not match what we received.",
                          "ExpectedDigest": wrong.hex(), "CalculatedDigest": good}
    with pytest.raises(ClientError) as exc:
        put(s3, ContentMD5="not-an-md5")
    assert error(exc)["Code"] == "InvalidDigest"
    assert error(exc)["Message"] == "The Content-MD5 you specified was invalid."


# -- tagging on PutObject ------------------------------------------------------------

def test_tagging_header(s3):
    put(s3, Tagging="b=2&a=1&empty=&spaced=a%20b")
    assert s3.head_object(Bucket=BUCKET, Key="k")["TagCount"] == 4
    assert s3.get_object_tagging(Bucket=BUCKET, Key="k")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}, {"Key": "empty", "Value": ""},
        {"Key": "spaced", "Value": "a b"}]


@pytest.mark.parametrize("header, code, message", [
    ("&".join(f"k{i}=v" for i in range(11)), "BadRequest", "Object tags cannot be greater than 10"),
    ("aws:x=1", "InvalidTag", "Your TagKey cannot be prefixed with aws:"),
    ("a=1&a=2", "InvalidArgument", ("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
                                    "parameters without tag name duplicates.")),
    ("k" * 129 + "=v", "InvalidTag", "The TagKey you have provided is too long, max 128"),
    ("k=" + "v" * 257, "InvalidTag", "The TagValue you have provided is too long, max 256"),
    ("k%21=v", "InvalidTag", "The TagKey you have provided is invalid"),
])
def test_tagging_header_errors(s3, header, code, message):
    with pytest.raises(ClientError) as exc:
        put(s3, Tagging=header)
    assert (error(exc)["Code"], error(exc)["Message"], error(exc)["Status"]) == (code, message, 400)


# -- conditional writes -----------------------------------------------------------------

def test_if_none_match_star(s3):
    assert put(s3, IfNoneMatch="*")["ETag"] == etag(BODY)
    with pytest.raises(ClientError) as exc:
        put(s3, body=b"again", IfNoneMatch="*")
    assert error(exc) == {"Code": "PreconditionFailed", "Message": PRECONDITION, "Condition": "If-None-Match",
                          "Status": 412}
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == BODY


def test_if_match_write(s3):
    first = put(s3)["ETag"]
    with pytest.raises(ClientError) as exc:
        put(s3, body=b"x", IfMatch=etag(b"something else"))
    assert error(exc) == {"Code": "PreconditionFailed", "Message": PRECONDITION, "Condition": "If-Match",
                          "Status": 412}
    assert put(s3, body=b"second", IfMatch=first)["ETag"] == etag(b"second")
    with pytest.raises(ClientError) as exc:
        put(s3, key="absent", IfMatch=first)
    assert error(exc) == {"Code": "NoSuchKey", "Message": NO_SUCH_KEY, "Key": "absent", "Status": 404}


def test_conditional_write_forms_s3_does_not_take(s3):
    with pytest.raises(ClientError) as exc:
        put(s3, IfNoneMatch=etag(BODY))
    assert error(exc) == {"Code": "NotImplemented", "Status": 501, "Header": "If-None-Match",
                          "Message": "A header you provided implies functionality that is not implemented",
                          "additionalMessage": "We don't accept the provided value of If-None-Match header for this "
                                               "API"}
    with pytest.raises(ClientError) as exc:
        put(s3, IfNoneMatch="*", IfMatch=etag(BODY))
    assert error(exc)["Header"] == "If-Match,If-None-Match"


# -- ranges and parts -----------------------------------------------------------------

@pytest.mark.parametrize("spec, start, end", [("bytes=0-4", 0, 4), ("bytes=4-8", 4, 8), ("bytes=40-", 40, 42),
                                              ("bytes=-3", 40, 42), ("bytes=10-1000", 10, 42),
                                              ("bytes=-1000", 0, 42)])
def test_range(s3, spec, start, end):
    put(s3)
    got = s3.get_object(Bucket=BUCKET, Key="k", Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == BODY[start:end + 1]
    assert got["ContentRange"] == f"bytes {start}-{end}/{len(BODY)}"
    assert got["ContentLength"] == end - start + 1
    head = s3.head_object(Bucket=BUCKET, Key="k", Range=spec)
    assert head["ContentLength"] == end - start + 1
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "items=0-3", "bytes=5-2", "garbage"])
def test_ranges_s3_ignores(s3, spec):
    put(s3)
    got = s3.get_object(Bucket=BUCKET, Key="k", Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == BODY
    assert "ContentRange" not in got


def test_unsatisfiable_range(s3):
    put(s3)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", Range="bytes=43-50")
    assert error(exc) == {"Code": "InvalidRange", "Message": "The requested range is not satisfiable",
                          "RangeRequested": "bytes=43-50", "ActualObjectSize": "43", "Status": 416}


def test_large_object_ranges_cross_segments(s3):
    body = bytes(range(256)) * (3 * 4096 + 17)       # > 3 MiB: several segments, written off the loop
    put(s3, body=body)
    assert s3.get_object(Bucket=BUCKET, Key="k")["Body"].read() == body
    got = s3.get_object(Bucket=BUCKET, Key="k", Range="bytes=1048570-2097160")
    assert got["Body"].read() == body[1048570:2097161]


def test_part_number_of_a_simple_object(s3):
    put(s3)
    got = s3.get_object(Bucket=BUCKET, Key="k", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == BODY
    assert got["ContentRange"] == f"bytes 0-42/{len(BODY)}"
    assert "PartsCount" not in got
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", PartNumber=2)
    assert error(exc) == {"Code": "InvalidPartNumber", "Message": "The requested partnumber is not satisfiable",
                          "PartNumberRequested": "2", "ActualPartCount": "1", "Status": 416}
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", PartNumber=1, Range="bytes=0-1")
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "Cannot specify both Range header and partNumber query parameter"}


def test_part_number_of_a_multipart_object(s3):
    part1, part2 = b"a" * (5 * 1024 * 1024), b"tail"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    etags = [s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=n, Body=data)["ETag"]
             for n, data in ((1, part1), (2, part2))]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags)]})
    got = s3.get_object(Bucket=BUCKET, Key="mp", PartNumber=2)
    assert got["Body"].read() == part2
    assert got["PartsCount"] == 2
    assert got["ContentRange"] == f"bytes {len(part1)}-{len(part1) + 3}/{len(part1) + 4}"
    head = s3.head_object(Bucket=BUCKET, Key="mp", PartNumber=1)
    assert head["ContentLength"] == len(part1)
    assert head["PartsCount"] == 2


# -- preconditions on reads ---------------------------------------------------------------

def test_read_preconditions(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T12:00:00Z")
    tag = put(s3)["ETag"]
    before, after = dt.datetime(2030, 1, 1, 11, tzinfo=dt.UTC), dt.datetime(2030, 1, 1, 13,
                                                                                        tzinfo=dt.UTC)
    cloudlet.clock.set("2030-01-01T14:00:00Z")
    ok = {"Bucket": BUCKET, "Key": "k"}
    assert s3.get_object(**ok, IfMatch=tag)["ETag"] == tag
    assert s3.get_object(**ok, IfMatch="*")["ETag"] == tag
    assert s3.get_object(**ok, IfNoneMatch=etag(b"other"))["ETag"] == tag
    assert s3.get_object(**ok, IfModifiedSince=before)["ETag"] == tag
    assert s3.get_object(**ok, IfUnmodifiedSince=after)["ETag"] == tag
    # If-Match true wins over a false If-Unmodified-Since (RFC 7232, S3's API reference)
    assert s3.get_object(**ok, IfMatch=tag, IfUnmodifiedSince=before)["ETag"] == tag
    for kwargs, condition in (({"IfMatch": etag(b"other")}, "If-Match"),
                              ({"IfUnmodifiedSince": before}, "If-Unmodified-Since")):
        with pytest.raises(ClientError) as exc:
            s3.get_object(**ok, **kwargs)
        assert error(exc) == {"Code": "PreconditionFailed", "Message": PRECONDITION, "Condition": condition,
                              "Status": 412}
    for kwargs in ({"IfNoneMatch": tag}, {"IfModifiedSince": after},
                   {"IfNoneMatch": tag, "IfModifiedSince": before}):
        with pytest.raises(ClientError) as exc:
            s3.get_object(**ok, **kwargs)
        assert error(exc)["Status"] == 304
        assert headers_of(exc.value.response)["etag"] == tag
    # If-None-Match false: If-Modified-Since is not looked at.
    assert s3.get_object(**ok, IfNoneMatch=etag(b"other"), IfModifiedSince=after)["ETag"] == tag
    with pytest.raises(ClientError) as exc:
        s3.head_object(**ok, IfMatch=etag(b"other"))
    assert error(exc)["Status"] == 412


# -- response header overrides ------------------------------------------------------------

def test_response_overrides(s3):
    put(s3, ContentType="text/plain")
    got = s3.get_object(Bucket=BUCKET, Key="k", ResponseContentType="application/json",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
                        ResponseContentLanguage="fr", ResponseContentEncoding="gzip",
                        ResponseExpires=dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.UTC))
    h = headers_of(got)
    assert (h["content-type"], h["content-disposition"], h["cache-control"], h["content-language"],
            h["content-encoding"], h["expires"]) == ("application/json", "inline", "no-cache", "fr", "gzip",
                                                     "Tue, 06 May 2031 07:08:09 GMT")
    assert s3.head_object(Bucket=BUCKET, Key="k")["ContentType"] == "text/plain"


# -- versions and delete markers ------------------------------------------------------------

def test_versions_in_a_versioned_bucket(s3):
    make_bucket(s3, "versioned-bucket", versioning="Enabled")
    v1 = put(s3, bucket="versioned-bucket", body=b"one")["VersionId"]
    v2 = put(s3, bucket="versioned-bucket", body=b"two")["VersionId"]
    assert v1 != v2 and len(v1) == 32
    got = s3.get_object(Bucket="versioned-bucket", Key="k")
    assert (got["Body"].read(), got["VersionId"]) == (b"two", v2)
    old = s3.get_object(Bucket="versioned-bucket", Key="k", VersionId=v1)
    assert (old["Body"].read(), old["VersionId"]) == (b"one", v1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="versioned-bucket", Key="k", VersionId="A" * 32)
    assert error(exc) == {"Code": "NoSuchVersion", "Message": "The specified version does not exist.", "Key": "k",
                          "VersionId": "A" * 32, "Status": 404}


def test_version_ids_in_an_unversioned_bucket(s3):
    put(s3)
    assert s3.get_object(Bucket=BUCKET, Key="k", VersionId="null")["Body"].read() == BODY
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=BUCKET, Key="k", VersionId="abc")
    assert error(exc) == {"Code": "InvalidArgument", "Message": "Invalid version id specified",
                          "ArgumentName": "versionId", "ArgumentValue": "abc", "Status": 400}


def test_delete_markers(s3):
    make_bucket(s3, "versioned-bucket", versioning="Enabled")
    v1 = put(s3, bucket="versioned-bucket")["VersionId"]
    deleted = s3.delete_object(Bucket="versioned-bucket", Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker != v1
    assert headers_of(deleted)["x-amz-delete-marker"] == "true"

    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="versioned-bucket", Key="k")
    assert error(exc) == {"Code": "NoSuchKey", "Message": NO_SUCH_KEY, "Key": "k", "Status": 404}
    assert headers_of(exc.value.response)["x-amz-delete-marker"] == "true"
    assert headers_of(exc.value.response)["x-amz-version-id"] == marker

    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="versioned-bucket", Key="k", VersionId=marker)
    assert error(exc) == {"Code": "MethodNotAllowed", "Status": 405, "Method": "GET", "ResourceType": "DeleteMarker",
                          "Message": "The specified method is not allowed against this resource."}
    h = headers_of(exc.value.response)
    assert (h["x-amz-delete-marker"], h["allow"], h["x-amz-version-id"]) == ("true", "DELETE", marker)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="versioned-bucket", Key="k", VersionId=marker)
    assert error(exc)["Status"] == 405

    # the old version is still there; removing the marker brings it back
    assert s3.get_object(Bucket="versioned-bucket", Key="k", VersionId=v1)["Body"].read() == BODY
    removed = s3.delete_object(Bucket="versioned-bucket", Key="k", VersionId=marker)
    assert (removed["DeleteMarker"], removed["VersionId"]) == (True, marker)
    assert s3.get_object(Bucket="versioned-bucket", Key="k")["VersionId"] == v1

    gone = s3.delete_object(Bucket="versioned-bucket", Key="k", VersionId=v1)
    assert gone["VersionId"] == v1 and "DeleteMarker" not in gone
    assert "Versions" not in s3.list_object_versions(Bucket="versioned-bucket")


def test_suspended_versioning_writes_null_versions(s3):
    make_bucket(s3, "suspended-bucket", versioning="Enabled")
    kept = put(s3, bucket="suspended-bucket", body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket="suspended-bucket", VersioningConfiguration={"Status": "Suspended"})
    out = put(s3, bucket="suspended-bucket", body=b"null one")
    assert "VersionId" not in out
    assert s3.head_object(Bucket="suspended-bucket", Key="k")["VersionId"] == "null"
    put(s3, bucket="suspended-bucket", body=b"null two")
    deleted = s3.delete_object(Bucket="suspended-bucket", Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    versions = s3.list_object_versions(Bucket="suspended-bucket")
    assert [v["VersionId"] for v in versions["Versions"]] == [kept]
    assert [(m["VersionId"], m["IsLatest"]) for m in versions["DeleteMarkers"]] == [("null", True)]


def test_delete_in_an_unversioned_bucket(s3):
    put(s3)
    out = s3.delete_object(Bucket=BUCKET, Key="k")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "DeleteMarker" not in out and "VersionId" not in out
    assert s3.delete_object(Bucket=BUCKET, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=BUCKET, Key="k", VersionId="abc")
    assert error(exc)["Code"] == "InvalidArgument"
    assert error(exc)["Message"] == "Invalid version id specified"


def test_conditional_delete(s3):
    tag = put(s3)["ETag"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=BUCKET, Key="k", IfMatch=etag(b"other"))
    assert error(exc)["Code"] == "PreconditionFailed"
    assert error(exc)["Condition"] == "If-Match"
    s3.delete_object(Bucket=BUCKET, Key="k", IfMatch=tag)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="k")


# -- DeleteObjects ----------------------------------------------------------------------

def test_delete_objects(s3):
    for key in ("a", "b", "c"):
        put(s3, key)
    out = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"},
                                                               {"Key": "c", "VersionId": "bogus"}]})
    assert out["Deleted"] == [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}]
    assert out["Errors"] == [{"Key": "c", "VersionId": "bogus", "Code": "NoSuchVersion",
                              "Message": "The specified version does not exist."}]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["c"]
    quiet = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_delete_objects_in_a_versioned_bucket(s3):
    make_bucket(s3, "versioned-bucket", versioning="Enabled")
    v1 = put(s3, bucket="versioned-bucket", key="a")["VersionId"]
    put(s3, bucket="versioned-bucket", key="b")
    out = s3.delete_objects(Bucket="versioned-bucket", Delete={"Objects": [{"Key": "a", "VersionId": v1},
                                                                           {"Key": "b"}]})
    by_key = {d["Key"]: d for d in out["Deleted"]}
    assert by_key["a"] == {"Key": "a", "VersionId": v1}
    assert by_key["b"]["DeleteMarker"] is True
    marker = by_key["b"]["DeleteMarkerVersionId"]
    versions = s3.list_object_versions(Bucket="versioned-bucket")
    assert [m["VersionId"] for m in versions["DeleteMarkers"]] == [marker]


def test_delete_objects_limits_and_integrity(s3):
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert error(exc) == {"Code": "MalformedXML", "Status": 400,
                          "Message": "The XML you provided was not well-formed or did not validate against our "
                                     "published schema"}
    with_headers(s3, "DeleteObjects", drop=("x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm", "Content-MD5"))
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "a"}]})
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"}


def test_delete_objects_checksum_must_match(s3):
    with_headers(s3, "DeleteObjects", {"x-amz-checksum-crc32": checksum("CRC32", b"not the body")})
    with pytest.raises(ClientError) as exc:
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "a"}]})
    assert error(exc)["Code"] == "BadDigest"


# -- CopyObject -------------------------------------------------------------------------

def test_copy_object_copies_data_and_metadata(s3):
    put(s3, "src", ContentType="text/plain", Metadata={"a": "1"}, Tagging="t=1", CacheControl="no-store",
        WebsiteRedirectLocation="/x")
    out = s3.copy_object(Bucket=BUCKET, Key="dst", CopySource=f"{BUCKET}/src")
    result = out["CopyObjectResult"]
    assert result["ETag"] == etag(BODY)
    assert result["ChecksumCRC32"] == checksum("CRC32", BODY)
    assert result["ChecksumType"] == "FULL_OBJECT"
    assert out["ServerSideEncryption"] == "AES256"
    assert "CopySourceVersionId" not in out and "VersionId" not in out
    got = s3.get_object(Bucket=BUCKET, Key="dst")
    assert got["Body"].read() == BODY
    assert (got["ContentType"], got["Metadata"], got["CacheControl"]) == ("text/plain", {"a": "1"}, "no-store")
    assert "WebsiteRedirectLocation" not in got     # not copied
    assert got["LastModified"] == result["LastModified"].replace(microsecond=0)   # (the header is to the second)
    assert s3.get_object_tagging(Bucket=BUCKET, Key="dst")["TagSet"] == [{"Key": "t", "Value": "1"}]


def test_copy_object_replace_directives(s3):
    put(s3, "src", ContentType="text/plain", Metadata={"a": "1"}, Tagging="t=1")
    s3.copy_object(Bucket=BUCKET, Key="dst", CopySource={"Bucket": BUCKET, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, TaggingDirective="REPLACE", Tagging="u=2",
                   StorageClass="ONEZONE_IA")
    head = s3.head_object(Bucket=BUCKET, Key="dst")
    assert (head["ContentType"], head["Metadata"], head["StorageClass"]) == ("binary/octet-stream", {"b": "2"},
                                                                               "ONEZONE_IA")
    assert s3.get_object_tagging(Bucket=BUCKET, Key="dst")["TagSet"] == [{"Key": "u", "Value": "2"}]


def test_copy_object_onto_itself(s3):
    put(s3, "src", Metadata={"a": "1"})
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="src", CopySource=f"{BUCKET}/src")
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "This copy request is illegal because it is trying to copy an object to itself "
                                     "without changing the object's metadata, storage class, website redirect "
                                     "location or encryption attributes."}
    s3.copy_object(Bucket=BUCKET, Key="src", CopySource=f"{BUCKET}/src", MetadataDirective="REPLACE",
                   Metadata={"a": "2"})
    assert s3.head_object(Bucket=BUCKET, Key="src")["Metadata"] == {"a": "2"}


def test_copy_object_from_a_version(s3):
    make_bucket(s3, "versioned-bucket", versioning="Enabled")
    v1 = put(s3, bucket="versioned-bucket", key="src", body=b"first")["VersionId"]
    put(s3, bucket="versioned-bucket", key="src", body=b"second")
    out = s3.copy_object(Bucket="versioned-bucket", Key="src",
                         CopySource={"Bucket": "versioned-bucket", "Key": "src", "VersionId": v1})
    assert out["CopySourceVersionId"] == v1
    assert out["VersionId"] not in (v1, None)
    assert s3.get_object(Bucket="versioned-bucket", Key="src")["Body"].read() == b"first"
    marker = s3.delete_object(Bucket="versioned-bucket", Key="src")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="dst", CopySource={"Bucket": "versioned-bucket", "Key": "src",
                                                             "VersionId": marker})
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "The source of a copy request may not specifically refer to a delete marker by "
                                     "version id."}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="dst", CopySource="versioned-bucket/src")
    assert error(exc)["Code"] == "NoSuchKey"


def test_copy_source_preconditions(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T12:00:00Z")
    tag = put(s3, "src")["ETag"]
    cloudlet.clock.set("2030-01-01T14:00:00Z")
    before = dt.datetime(2030, 1, 1, 11, tzinfo=dt.UTC)
    after = dt.datetime(2030, 1, 1, 13, tzinfo=dt.UTC)
    src = f"{BUCKET}/src"
    s3.copy_object(Bucket=BUCKET, Key="d", CopySource=src, CopySourceIfMatch=tag,
                   CopySourceIfUnmodifiedSince=before)
    s3.copy_object(Bucket=BUCKET, Key="d", CopySource=src, CopySourceIfModifiedSince=before)
    for kwargs, condition in (({"CopySourceIfMatch": etag(b"x")}, "x-amz-copy-source-If-Match"),
                              ({"CopySourceIfNoneMatch": tag}, "x-amz-copy-source-If-None-Match"),
                              ({"CopySourceIfUnmodifiedSince": before}, "x-amz-copy-source-If-Unmodified-Since"),
                              ({"CopySourceIfModifiedSince": after}, "x-amz-copy-source-If-Modified-Since")):
        with pytest.raises(ClientError) as exc:
            s3.copy_object(Bucket=BUCKET, Key="d", CopySource=src, **kwargs)
        assert error(exc) == {"Code": "PreconditionFailed", "Message": PRECONDITION, "Condition": condition,
                              "Status": 412}


def test_copy_of_a_multipart_object_is_one_part(s3):
    part = b"p" * (5 * 1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    e1 = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=1, Body=part)["ETag"]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
    out = s3.copy_object(Bucket=BUCKET, Key="copy", CopySource=f"{BUCKET}/mp")
    assert out["CopyObjectResult"]["ETag"] == etag(part)
    assert s3.get_object(Bucket=BUCKET, Key="copy")["Body"].read() == part


def test_copy_source_must_name_a_key(s3):
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="d", CopySource="just-a-bucket")
    assert error(exc) == {"Code": "InvalidArgument", "Message": "Invalid copy source object key", "Status": 400,
                          "ArgumentName": "x-amz-copy-source", "ArgumentValue": "x-amz-copy-source"}


# -- object tagging ---------------------------------------------------------------------

def test_object_tagging(s3):
    put(s3)
    assert s3.get_object_tagging(Bucket=BUCKET, Key="k")["TagSet"] == []
    s3.put_object_tagging(Bucket=BUCKET, Key="k", Tagging={"TagSet": [{"Key": "z", "Value": "1"},
                                                                       {"Key": "a", "Value": "2"}]})
    assert s3.get_object_tagging(Bucket=BUCKET, Key="k")["TagSet"] == [{"Key": "a", "Value": "2"},
                                                                        {"Key": "z", "Value": "1"}]
    assert s3.head_object(Bucket=BUCKET, Key="k")["TagCount"] == 2
    assert s3.delete_object_tagging(Bucket=BUCKET, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=BUCKET, Key="k")["TagSet"] == []
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=BUCKET, Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "1"},
                                                                           {"Key": "a", "Value": "2"}]})
    assert error(exc) == {"Code": "InvalidTag", "Message": "Cannot provide multiple Tags with the same key",
                          "TagKey": "a", "Status": 400}
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(Bucket=BUCKET, Key="k",
                              Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert error(exc)["Code"] == "BadRequest"
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket=BUCKET, Key="missing")
    assert error(exc)["Code"] == "NoSuchKey"


def test_object_tagging_of_versions(s3):
    make_bucket(s3, "versioned-bucket", versioning="Enabled")
    v1 = put(s3, bucket="versioned-bucket", Tagging="v=1")["VersionId"]
    v2 = put(s3, bucket="versioned-bucket", Tagging="v=2")["VersionId"]
    out = s3.put_object_tagging(Bucket="versioned-bucket", Key="k", VersionId=v1,
                                Tagging={"TagSet": [{"Key": "v", "Value": "one"}]})
    assert out["VersionId"] == v1
    assert s3.get_object_tagging(Bucket="versioned-bucket", Key="k", VersionId=v1)["TagSet"] == [
        {"Key": "v", "Value": "one"}]
    latest = s3.get_object_tagging(Bucket="versioned-bucket", Key="k")
    assert (latest["VersionId"], latest["TagSet"]) == (v2, [{"Key": "v", "Value": "2"}])
    marker = s3.delete_object(Bucket="versioned-bucket", Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object_tagging(Bucket="versioned-bucket", Key="k")
    assert error(exc)["Code"] == "MethodNotAllowed"
    assert error(exc)["Status"] == 405
    assert headers_of(exc.value.response)["x-amz-version-id"] == marker


# -- Object Lock ------------------------------------------------------------------------

def test_object_lock_retention_and_legal_hold(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    make_bucket(s3, "locked-bucket", lock=True)
    until = dt.datetime(2030, 1, 10, tzinfo=dt.UTC)
    out = put(s3, bucket="locked-bucket", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until,
              ObjectLockLegalHoldStatus="OFF")
    version = out["VersionId"]
    head = s3.head_object(Bucket="locked-bucket", Key="k")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == (
        "GOVERNANCE", until, "OFF")
    assert s3.get_object_retention(Bucket="locked-bucket", Key="k")["Retention"] == {
        "Mode": "GOVERNANCE", "RetainUntilDate": until}

    # a delete marker needs no permission; deleting the version does
    s3.delete_object(Bucket="locked-bucket", Key="k")
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="locked-bucket", Key="k", VersionId=version)
    assert error(exc) == {"Code": "AccessDenied", "Message": LOCK_PROTECTED, "Status": 403}

    # shortening GOVERNANCE retention needs the bypass
    with pytest.raises(ClientError) as exc:
        s3.put_object_retention(Bucket="locked-bucket", Key="k", VersionId=version, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": dt.datetime(2030, 1, 5, tzinfo=dt.UTC)})
    assert error(exc)["Code"] == "AccessDenied"
    s3.put_object_retention(Bucket="locked-bucket", Key="k", VersionId=version, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE",
                                       "RetainUntilDate": dt.datetime(2030, 1, 5, tzinfo=dt.UTC)})

    s3.put_object_legal_hold(Bucket="locked-bucket", Key="k", VersionId=version, LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket="locked-bucket", Key="k", VersionId=version)["LegalHold"] == {
        "Status": "ON"}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="locked-bucket", Key="k", VersionId=version, BypassGovernanceRetention=True)
    assert error(exc)["Message"] == LOCK_PROTECTED
    s3.put_object_legal_hold(Bucket="locked-bucket", Key="k", VersionId=version, LegalHold={"Status": "OFF"})
    with pytest.raises(ClientError):
        s3.delete_object(Bucket="locked-bucket", Key="k", VersionId=version)
    s3.delete_object(Bucket="locked-bucket", Key="k", VersionId=version, BypassGovernanceRetention=True)


def test_compliance_retention_cannot_be_bypassed(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    make_bucket(s3, "locked-bucket", lock=True)
    version = put(s3, bucket="locked-bucket", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=dt.datetime(2030, 1, 2, tzinfo=dt.UTC))["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket="locked-bucket", Key="k", VersionId=version, BypassGovernanceRetention=True)
    assert error(exc)["Message"] == LOCK_PROTECTED
    cloudlet.clock.set("2030-01-03T00:00:00Z")       # retention over
    s3.delete_object(Bucket="locked-bucket", Key="k", VersionId=version)


def test_object_lock_errors(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    with pytest.raises(ClientError) as exc:
        put(s3, ObjectLockLegalHoldStatus="ON")
    assert error(exc) == {"Code": "InvalidRequest", "Message": "Bucket is missing Object Lock Configuration",
                          "Status": 400}
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket=BUCKET, Key="k")
    assert error(exc)["Message"] == "Bucket is missing Object Lock Configuration"
    make_bucket(s3, "locked-bucket", lock=True)
    with pytest.raises(ClientError) as exc:
        put(s3, bucket="locked-bucket", ObjectLockMode="GOVERNANCE")
    assert error(exc)["Code"] == "InvalidArgument"
    assert error(exc)["Message"] == ("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be "
                                     "supplied")
    with pytest.raises(ClientError) as exc:
        put(s3, bucket="locked-bucket", ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=dt.datetime(2029, 1, 1, tzinfo=dt.UTC))
    assert error(exc)["Message"] == "The retain until date must be in the future!"
    put(s3, bucket="locked-bucket")
    with pytest.raises(ClientError) as exc:
        s3.get_object_retention(Bucket="locked-bucket", Key="k")
    assert error(exc) == {"Code": "NoSuchObjectLockConfiguration", "Status": 404,
                          "Message": "The specified object does not have a ObjectLock configuration"}
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=BUCKET, Key="k", BypassGovernanceRetention=True)
    assert error(exc)["Message"] == ("x-amz-bypass-governance-retention is only applicable to Object Lock enabled "
                                     "buckets.")


def test_bucket_default_retention_applies(cloudlet, s3):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    make_bucket(s3, "locked-bucket", lock=True)
    s3.put_object_lock_configuration(Bucket="locked-bucket", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}})
    put(s3, bucket="locked-bucket")
    assert s3.get_object_retention(Bucket="locked-bucket", Key="k")["Retention"] == {
        "Mode": "COMPLIANCE", "RetainUntilDate": dt.datetime(2030, 1, 3, tzinfo=dt.UTC)}


# -- attributes and ACLs -------------------------------------------------------------------

def test_get_object_attributes(s3):
    put(s3, ChecksumAlgorithm="SHA256", StorageClass="STANDARD_IA")
    out = s3.get_object_attributes(Bucket=BUCKET, Key="k", ObjectAttributes=[
        "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"])
    assert out["ETag"] == hashlib.md5(BODY).hexdigest()          # unquoted, as S3 sends it
    assert out["Checksum"] == {"ChecksumSHA256": checksum("SHA256", BODY), "ChecksumType": "FULL_OBJECT"}
    assert (out["StorageClass"], out["ObjectSize"]) == ("STANDARD_IA", len(BODY))
    assert "ObjectParts" not in out
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=BUCKET, Key="missing", ObjectAttributes=["ETag"])
    assert error(exc)["Code"] == "NoSuchKey"


def test_get_object_attributes_of_a_multipart_object(s3):
    part = b"q" * (5 * 1024 * 1024)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp", ChecksumAlgorithm="SHA256")["UploadId"]
    parts = []
    for n, data in ((1, part), (2, b"end")):
        out = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=n, Body=data,
                             ChecksumAlgorithm="SHA256")
        parts.append({"PartNumber": n, "ETag": out["ETag"], "ChecksumSHA256": out["ChecksumSHA256"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    out = s3.get_object_attributes(Bucket=BUCKET, Key="mp", ObjectAttributes=["ObjectParts", "ObjectSize"],
                                   MaxParts=1)
    assert out["ObjectSize"] == len(part) + 3
    assert out["ObjectParts"]["TotalPartsCount"] == 2
    assert out["ObjectParts"]["IsTruncated"] is True
    assert out["ObjectParts"]["NextPartNumberMarker"] == 1
    assert out["ObjectParts"]["Parts"] == [{"PartNumber": 1, "Size": len(part),
                                            "ChecksumSHA256": checksum("SHA256", part)}]


def test_object_acls_under_bucket_owner_enforced(s3):
    put(s3)
    acl = s3.get_object_acl(Bucket=BUCKET, Key="k")
    assert acl["Owner"] == {"ID": CANONICAL_ID}
    assert acl["Grants"] == [{"Grantee": {"ID": CANONICAL_ID, "Type": "CanonicalUser"},
                              "Permission": "FULL_CONTROL"}]
    put(s3, "owner-full", ACL="bucket-owner-full-control")
    for call in (lambda: put(s3, "public", ACL="public-read"),
                 lambda: s3.put_object_acl(Bucket=BUCKET, Key="k", ACL="public-read")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == {"Code": "AccessControlListNotSupported", "Message": "The bucket does not allow ACLs",
                              "Status": 400}


def test_object_acls_when_acls_are_on(s3):
    make_bucket(s3, "acl-bucket")
    s3.put_bucket_ownership_controls(Bucket="acl-bucket", OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket="acl-bucket")
    put(s3, bucket="acl-bucket", ACL="public-read")
    grants = s3.get_object_acl(Bucket="acl-bucket", Key="k")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants
    s3.put_object_acl(Bucket="acl-bucket", Key="k", ACL="private")
    assert s3.get_object_acl(Bucket="acl-bucket", Key="k")["Grants"] == [
        {"Grantee": {"ID": CANONICAL_ID, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]


# -- per-key authorization ------------------------------------------------------------------

def _user_client(cloudlet, statements: list) -> object:
    import json

    iam = cloudlet.client("iam")
    iam.create_user(UserName="worker")
    iam.put_user_policy(UserName="worker", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": statements}))
    creds = iam.create_access_key(UserName="worker")["AccessKey"]
    return cloudlet.client("s3", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"])


def test_delete_objects_authorizes_each_key(cloudlet, s3):
    for key in ("ok/a", "protected/b"):
        put(s3, key)
    user = _user_client(cloudlet, [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{BUCKET}/protected/*"}])
    out = user.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "ok/a"}, {"Key": "protected/b"}]})
    assert out["Deleted"] == [{"Key": "ok/a"}]
    assert out["Errors"] == [{"Key": "protected/b", "Code": "AccessDenied", "Message": "Access Denied"}]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["protected/b"]


def test_copy_object_authorizes_the_source(cloudlet, s3):
    put(s3, "secret/x")
    put(s3, "public/y")
    user = _user_client(cloudlet, [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/secret/*"}])
    user.copy_object(Bucket=BUCKET, Key="copy-1", CopySource=f"{BUCKET}/public/y")
    with pytest.raises(ClientError) as exc:
        user.copy_object(Bucket=BUCKET, Key="copy-2", CopySource=f"{BUCKET}/secret/x")
    assert error(exc)["Code"] == "AccessDenied"
    assert error(exc)["Status"] == 403


# -- header values S3 judges itself ------------------------------------------------------------

def test_header_values_outside_the_model_enums(s3):
    with pytest.raises(ClientError) as exc:
        put(s3, StorageClass="FOO")
    assert error(exc)["Code"] == "InvalidStorageClass"
    put(s3, "src")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=BUCKET, Key="d", CopySource=f"{BUCKET}/src", MetadataDirective="MOVE")
    assert error(exc) == {"Code": "InvalidArgument", "Message": "Unknown metadata directive.", "Status": 400,
                          "ArgumentName": "x-amz-metadata-directive", "ArgumentValue": "MOVE"}
    with_headers(s3, "PutObject", {"x-amz-sdk-checksum-algorithm": "BOGUS"})
    with pytest.raises(ClientError) as exc:
        put(s3)
    assert error(exc)["Message"] == "Value for x-amz-sdk-checksum-algorithm header is invalid."


def test_download_survives_its_object_being_deleted(cloudlet, s3):
    parts = [b"1" * (5 * 1024 * 1024), b"2" * (5 * 1024 * 1024)]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big")["UploadId"]
    etags = [s3.upload_part(Bucket=BUCKET, Key="big", UploadId=upload, PartNumber=n, Body=data)["ETag"]
             for n, data in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=BUCKET, Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    body = s3.get_object(Bucket=BUCKET, Key="big")["Body"]
    first = body.read(1024)
    s3.delete_object(Bucket=BUCKET, Key="big")
    cloudlet.clock.advance(60)          # the sweep removes the deleted version's files
    blobs_dir = cloudlet.cloud.blobs.root
    assert not any(names for d, _, names in os.walk(blobs_dir) if not d.endswith("tmp"))
    assert first + body.read() == b"".join(parts)


def test_expected_bucket_owner(s3):
    put(s3, ExpectedBucketOwner="000000000000")
    for call in (lambda: put(s3, ExpectedBucketOwner="111111111111"),
                 lambda: s3.get_object(Bucket=BUCKET, Key="k", ExpectedBucketOwner="111111111111"),
                 lambda: s3.copy_object(Bucket=BUCKET, Key="c", CopySource=f"{BUCKET}/k",
                                        ExpectedSourceBucketOwner="111111111111")):
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == {"Code": "AccessDenied", "Message": "Access Denied", "Status": 403}


def test_response_overrides_need_a_signed_request(cloudlet, s3):
    import json

    from botocore import UNSIGNED

    put(s3)
    s3.delete_public_access_block(Bucket=BUCKET)
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    anonymous = cloudlet.client("s3", signature_version=UNSIGNED)
    assert anonymous.get_object(Bucket=BUCKET, Key="k")["Body"].read() == BODY
    with pytest.raises(ClientError) as exc:
        anonymous.get_object(Bucket=BUCKET, Key="k", ResponseContentType="text/html")
    assert error(exc) == {"Code": "InvalidRequest", "Status": 400,
                          "Message": "Request specific response headers cannot be used for anonymous GET requests."}


def test_reads_after_every_kind_of_write_see_it(s3):
    """The current version's row is remembered between reads; each kind of
    write forgets it (overwrite, tags, legal hold, delete, delete marker,
    removing a version)."""
    s3.create_bucket(Bucket="fresh", ObjectLockEnabledForBucket=True)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="fresh", Key="k")  # absent, and remembered as absent
    first = s3.put_object(Bucket="fresh", Key="k", Body=b"one")["VersionId"]
    assert s3.get_object(Bucket="fresh", Key="k")["Body"].read() == b"one"
    second = s3.put_object(Bucket="fresh", Key="k", Body=b"two")["VersionId"]
    assert s3.get_object(Bucket="fresh", Key="k")["Body"].read() == b"two"
    s3.put_object_tagging(Bucket="fresh", Key="k", Tagging={"TagSet": [{"Key": "a", "Value": "1"}]})
    assert s3.get_object(Bucket="fresh", Key="k")["TagCount"] == 1
    s3.put_object_legal_hold(Bucket="fresh", Key="k", LegalHold={"Status": "ON"})
    assert s3.head_object(Bucket="fresh", Key="k")["ObjectLockLegalHoldStatus"] == "ON"
    s3.put_object_legal_hold(Bucket="fresh", Key="k", LegalHold={"Status": "OFF"})
    assert s3.head_object(Bucket="fresh", Key="k")["ObjectLockLegalHoldStatus"] == "OFF"
    marker = s3.delete_object(Bucket="fresh", Key="k")["VersionId"]
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="fresh", Key="k")
    assert exc.value.response["Error"]["Code"] == "NoSuchKey"
    s3.delete_object(Bucket="fresh", Key="k", VersionId=marker)  # the marker goes: "two" is current again
    assert s3.get_object(Bucket="fresh", Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket="fresh", Key="k", VersionId=second)  # "one" is current again
    got = s3.get_object(Bucket="fresh", Key="k")
    assert (got["Body"].read(), got["VersionId"]) == (b"one", first)
