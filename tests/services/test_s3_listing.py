"""ListObjects, ListObjectsV2 and ListObjectVersions through boto3:
order, prefixes and delimiters, paging (markers, continuation tokens,
key/version markers), URL encoding, and that listings read the index
rather than the whole bucket."""

from __future__ import annotations

import urllib.parse

import pytest
from botocore.exceptions import ClientError

from tests.services.s3_object_helpers import CANONICAL_ID, error, etag, make_bucket

BUCKET = "listing-bucket"
KEYS = ["a.txt", "b/1", "b/2", "b/c/3", "c", "d/4", "e+f g", "z/z/z"]


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    make_bucket(client, BUCKET)
    for key in KEYS:
        client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    return client


def keys(out) -> list[str]:
    return [o["Key"] for o in out.get("Contents", [])]


def prefixes(out) -> list[str]:
    return [p["Prefix"] for p in out.get("CommonPrefixes", [])]


def test_list_v2_everything(s3):
    out = s3.list_objects_v2(Bucket=BUCKET)
    assert keys(out) == KEYS
    assert (out["KeyCount"], out["IsTruncated"], out["MaxKeys"], out["Name"], out["Prefix"]) == (
        8, False, 1000, BUCKET, "")
    first = out["Contents"][0]
    assert (first["ETag"], first["Size"], first["StorageClass"], first["ChecksumAlgorithm"],
            first["ChecksumType"]) == (etag(b"a.txt"), 5, "STANDARD", ["CRC32"], "FULL_OBJECT")
    assert "Owner" not in first
    assert "NextContinuationToken" not in out
    owned = s3.list_objects_v2(Bucket=BUCKET, FetchOwner=True)["Contents"][0]
    assert owned["Owner"] == {"ID": CANONICAL_ID}


def test_list_v2_prefix_and_delimiter(s3):
    out = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    assert keys(out) == ["a.txt", "c", "e+f g"]
    assert prefixes(out) == ["b/", "d/", "z/"]
    assert out["KeyCount"] == 6
    assert out["Delimiter"] == "/"
    inside = s3.list_objects_v2(Bucket=BUCKET, Prefix="b/", Delimiter="/")
    assert (keys(inside), prefixes(inside), inside["Prefix"]) == (["b/1", "b/2"], ["b/c/"], "b/")
    assert keys(s3.list_objects_v2(Bucket=BUCKET, Prefix="b")) == ["b/1", "b/2", "b/c/3"]
    assert keys(s3.list_objects_v2(Bucket=BUCKET, Prefix="nothing")) == []
    other = s3.list_objects_v2(Bucket=BUCKET, Delimiter=".")
    assert prefixes(other) == ["a."]


def test_list_v2_pages_with_common_prefixes_counted(s3):
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/", MaxKeys=2, **kwargs)
        pages += 1
        assert out["KeyCount"] == len(keys(out)) + len(prefixes(out)) <= 2
        seen += keys(out) + prefixes(out)
        if not out["IsTruncated"]:
            assert "NextContinuationToken" not in out
            break
        token = out["NextContinuationToken"]
        assert out.get("ContinuationToken") == (kwargs.get("ContinuationToken"))
    assert sorted(seen) == ["a.txt", "b/", "c", "d/", "e+f g", "z/"]
    assert pages == 3


def test_list_v2_start_after(s3):
    assert keys(s3.list_objects_v2(Bucket=BUCKET, StartAfter="b/2")) == ["b/c/3", "c", "d/4", "e+f g", "z/z/z"]
    out = s3.list_objects_v2(Bucket=BUCKET, StartAfter="b/1", Delimiter="/")
    # a start inside b/ skips the whole common prefix
    assert (keys(out), prefixes(out), out["StartAfter"]) == (["c", "e+f g"], ["d/", "z/"], "b/1")


def test_list_v2_bad_token_and_max_keys(s3):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=BUCKET, ContinuationToken="not-a-token")
    assert error(exc) == {"Code": "InvalidArgument", "Message": "The continuation token provided is incorrect",
                          "ArgumentName": "continuation-token", "ArgumentValue": "not-a-token", "Status": 400}
    out = s3.list_objects_v2(Bucket=BUCKET, MaxKeys=0)
    assert (keys(out), out["KeyCount"], out["IsTruncated"]) == ([], 0, True)
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=BUCKET, MaxKeys=-1)
    assert error(exc)["Message"] == "Argument maxKeys must be an integer between 0 and 2147483647"


def test_url_encoding_on_the_wire(cloudlet, s3):
    s3.put_object(Bucket=BUCKET, Key="sp ace/ü", Body=b"")
    raw = {}
    s3.meta.events.register("after-call.s3.ListObjectsV2",
                            lambda http_response, **_: raw.setdefault("body", http_response.content))
    out = s3.list_objects_v2(Bucket=BUCKET, Prefix="sp ace/")      # botocore asks for EncodingType=url
    assert keys(out) == ["sp ace/ü"]                                  # ... and decodes it
    body = raw["body"].decode()
    assert "<Key>sp%20ace/%C3%BC</Key>" in body
    assert "<Prefix>sp%20ace/</Prefix>" in body
    assert "<EncodingType>url</EncodingType>" in body
    plus = s3.list_objects_v2(Bucket=BUCKET, Prefix="e+")
    assert keys(plus) == ["e+f g"]


def test_delete_markers_are_not_listed(s3):
    make_bucket(s3, "versioned-list", versioning="Enabled")
    for key in ("x", "y"):
        s3.put_object(Bucket="versioned-list", Key=key, Body=b"1")
    s3.delete_object(Bucket="versioned-list", Key="x")
    assert keys(s3.list_objects_v2(Bucket="versioned-list")) == ["y"]


def test_list_v1(s3):
    out = s3.list_objects(Bucket=BUCKET, MaxKeys=3)
    assert keys(out) == ["a.txt", "b/1", "b/2"]
    assert (out["IsTruncated"], out["Marker"], out["MaxKeys"]) == (True, "", 3)
    assert "NextMarker" not in out                  # only with a delimiter
    assert out["Contents"][0]["Owner"] == {"ID": CANONICAL_ID}
    rest = s3.list_objects(Bucket=BUCKET, Marker="b/2")
    assert keys(rest) == ["b/c/3", "c", "d/4", "e+f g", "z/z/z"]
    assert rest["Marker"] == "b/2"
    paged = s3.list_objects(Bucket=BUCKET, Delimiter="/", MaxKeys=2)
    assert (keys(paged), prefixes(paged), paged["NextMarker"]) == (["a.txt"], ["b/"], "b/")
    after = s3.list_objects(Bucket=BUCKET, Delimiter="/", Marker=paged["NextMarker"])
    assert (keys(after), prefixes(after), after["IsTruncated"]) == (["c", "e+f g"], ["d/", "z/"], False)


def test_listing_a_missing_bucket(s3):
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket="no-such-bucket-x")
    assert error(exc)["Code"] == "NoSuchBucket"


def test_large_folder_is_skipped_not_scanned(cloudlet, s3):
    """A delimiter listing of a bucket with 3000 keys under one prefix reads
    a handful of rows: the folder is jumped over, not read."""
    storage = cloudlet.cloud.storage
    with storage.tx():
        for i in range(3000):
            storage.execute(
                "INSERT INTO s3_objects (bucket, key, version_id, seq, is_latest, last_modified, owner, pieces) "
                "VALUES (?, ?, 'null', 1, 1, 0, '', '[]')", (BUCKET, f"logs/{i:05d}"))
    fetched = []
    original = storage.all

    def counting(sql, args=()):
        rows = original(sql, args)
        if "FROM s3_objects" in sql:
            fetched.append(len(rows))
        return rows

    storage.all = counting
    try:
        out = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    finally:
        storage.all = original
    assert prefixes(out) == ["b/", "d/", "logs/", "z/"]
    assert sum(fetched) < 30
    plan = storage.all("EXPLAIN QUERY PLAN SELECT key FROM s3_objects WHERE bucket = ? AND key >= ? AND key < ? "
                       "AND is_latest = 1 AND delete_marker = 0 ORDER BY key LIMIT 10", (BUCKET, "b/", "b0"))
    assert any("USING INDEX" in str(row[-1]) and "key>" in str(row[-1]) for row in plan)


# -- ListObjectVersions --------------------------------------------------------------------

@pytest.fixture
def versioned(s3):
    make_bucket(s3, "versions-bucket", versioning="Enabled")
    ids = {}
    for key, body in (("a", b"1"), ("a", b"22"), ("b/x", b"3"), ("c", b"4")):
        ids.setdefault(key, []).append(s3.put_object(Bucket="versions-bucket", Key=key, Body=body)["VersionId"])
    marker = s3.delete_object(Bucket="versions-bucket", Key="c")["VersionId"]
    return ids, marker


def test_list_object_versions(s3, versioned):
    ids, marker = versioned
    out = s3.list_object_versions(Bucket="versions-bucket")
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in out["Versions"]] == [
        ("a", ids["a"][1], True, 2), ("a", ids["a"][0], False, 1), ("b/x", ids["b/x"][0], True, 1),
        ("c", ids["c"][0], False, 1)]
    assert [(m["Key"], m["VersionId"], m["IsLatest"], m["Owner"]) for m in out["DeleteMarkers"]] == [
        ("c", marker, True, {"ID": CANONICAL_ID})]
    assert out["Versions"][0]["ETag"] == etag(b"22")
    assert (out["IsTruncated"], out["KeyMarker"], out["VersionIdMarker"], out["MaxKeys"]) == (False, "", "", 1000)
    grouped = s3.list_object_versions(Bucket="versions-bucket", Delimiter="/")
    assert prefixes(grouped) == ["b/"]
    assert [v["Key"] for v in grouped["Versions"]] == ["a", "a", "c"]


def test_list_object_versions_pages(s3, versioned):
    ids, marker = versioned
    seen, kwargs = [], {}
    while True:
        out = s3.list_object_versions(Bucket="versions-bucket", MaxKeys=2, **kwargs)
        entries = [(v["Key"], v["VersionId"]) for v in out.get("Versions", [])] + \
                  [(m["Key"], m["VersionId"]) for m in out.get("DeleteMarkers", [])]
        assert len(entries) <= 2
        seen += entries
        if not out["IsTruncated"]:
            break
        kwargs = {"KeyMarker": out["NextKeyMarker"], "VersionIdMarker": out["NextVersionIdMarker"]}
    assert sorted(seen) == sorted([("a", ids["a"][0]), ("a", ids["a"][1]), ("b/x", ids["b/x"][0]),
                                   ("c", ids["c"][0]), ("c", marker)])
    after_a = s3.list_object_versions(Bucket="versions-bucket", KeyMarker="a")
    assert [v["Key"] for v in after_a["Versions"]] == ["b/x", "c"]
    assert after_a["KeyMarker"] == "a"


def test_list_object_versions_errors_and_null_versions(s3):
    with pytest.raises(ClientError) as exc:
        s3.list_object_versions(Bucket=BUCKET, VersionIdMarker="x")
    assert error(exc) == {"Code": "InvalidArgument", "Status": 400, "ArgumentName": "version-id-marker",
                          "ArgumentValue": "x",
                          "Message": "A version-id marker cannot be specified without a key marker."}
    out = s3.list_object_versions(Bucket=BUCKET, Prefix="b/")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in out["Versions"]] == [
        ("b/1", "null", True), ("b/2", "null", True), ("b/c/3", "null", True)]


def test_url_decoding_of_keys_with_plus(s3):
    assert urllib.parse.quote("e+f g", safe="/") == "e%2Bf%20g"
    out = s3.list_objects(Bucket=BUCKET, Prefix="e")
    assert keys(out) == ["e+f g"]


def test_version_markers_before_the_prefix(s3, versioned):
    ids, _ = versioned
    out = s3.list_object_versions(Bucket="versions-bucket", Prefix="b/", KeyMarker="a",
                                  VersionIdMarker=ids["a"][1])
    assert [(v["Key"], v["VersionId"]) for v in out["Versions"]] == [("b/x", ids["b/x"][0])]
    older = s3.list_object_versions(Bucket="versions-bucket", KeyMarker="a", VersionIdMarker=ids["a"][1])
    assert [(v["Key"], v["VersionId"]) for v in older["Versions"]][:2] == [("a", ids["a"][0]),
                                                                            ("b/x", ids["b/x"][0])]
