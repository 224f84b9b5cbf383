"""Browser-based uploads (POST Object with a signed POST policy, SigV4 and
the legacy SigV2 form) and presigned PUT URLs, against a live server. The
forms come from botocore's generate_presigned_post and are sent as a
browser sends them: multipart/form-data, the file last."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from cloudlet.testing.server import CloudletServer

from tests.http import send
from tests.services.s3_object_helpers import CANONICAL_ID, checksum, etag
from tests.services.test_iam_enforcement import allow, doc, user_with
from tests.services.test_s3_lifecycle import messages, queue_for_bucket

BOUNDARY = "----cloudletFormBoundary7MA4YWxkTrZu0gW"


@pytest.fixture
def s3(cloudlet):
    client = cloudlet.client("s3")
    client.create_bucket(Bucket="uploads")
    return client


@pytest.fixture
def s3v4(cloudlet, s3):
    return cloudlet.client("s3", signature_version="s3v4")


def encode(fields, file=("hello.txt", b"hello world", "text/plain"), after=()) -> tuple[bytes, str]:
    """A multipart/form-data body as a browser writes it: the fields, the
    file part (name "file"), then whatever comes after it."""
    out = []
    for name, value in fields:
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                   + value.encode() + b"\r\n")
    if file is not None:
        filename, data, ctype = file
        disposition = 'form-data; name="file"' + (f'; filename="{filename}"' if filename is not None else "")
        out.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: {ctype}\r\n\r\n".encode()
                   + data + b"\r\n")
    for name, value in after:
        out.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                   + value.encode() + b"\r\n")
    out.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={BOUNDARY}"


def post(cloudlet, presigned: dict | str, fields=None, *, file=("hello.txt", b"hello world", "text/plain"),
         after=(), headers=None, drop=(), extra=()):
    """POST a form to a bucket URL (presigned: generate_presigned_post's
    answer, its fields sent first, less `drop`, plus `extra`)."""
    if isinstance(presigned, dict):
        url = presigned["url"]
        fields = [(k, v) for k, v in presigned["fields"].items() if k not in drop] + list(extra)
    else:
        url = cloudlet.endpoint + presigned
    body, ctype = encode(fields, file, after)
    return send(cloudlet.endpoint, "POST", urlsplit(url).path, body=body,
                headers={"Content-Type": ctype, **(headers or {})})


def xml_error(resp) -> dict:
    root = ET.fromstring(resp.body)
    out = {child.tag: child.text or "" for child in root if child.tag not in ("RequestId", "HostId")}
    out["Status"] = resp.status
    return out


def policy_of(presigned: dict) -> dict:
    return json.loads(base64.b64decode(presigned["fields"]["policy"]))


def signed_v4(secret: str, credential: str, policy: dict) -> dict:
    """Fields of a SigV4 form for a hand-written policy."""
    text = base64.b64encode(json.dumps(policy).encode()).decode()
    _, date, region, service, _ = credential.split("/")
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return {"policy": text, "x-amz-signature": hmac.new(key, text.encode(), "sha256").hexdigest()}


# -- the upload and its answers -------------------------------------------------------------

def test_sigv4_upload_answers_204(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "docs/report.txt")
    assert presigned["url"] == cloudlet.endpoint + "/uploads"
    assert sorted(presigned["fields"]) == ["key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
                                           "x-amz-signature"]
    resp = post(cloudlet, presigned)
    assert resp.status == 204
    assert resp.body == b""
    assert resp.header("etag") == etag(b"hello world")
    assert resp.header("location") == cloudlet.endpoint + "/uploads/docs%2Freport.txt"
    assert resp.header("content-type") is None
    assert resp.header("x-amz-server-side-encryption") == "AES256"
    assert resp.header("x-amz-checksum-crc64nvme") == checksum("CRC64NVME", b"hello world")
    assert resp.header("x-amz-checksum-type") == "FULL_OBJECT"
    got = s3.get_object(Bucket="uploads", Key="docs/report.txt")
    assert got["Body"].read() == b"hello world"
    # The file part's own Content-Type is not the object's: only the field is.
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == etag(b"hello world")


def test_success_action_status_201_and_200(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "a b/é.txt", Fields={"success_action_status": "201"},
                                             Conditions=[{"success_action_status": "201"}])
    resp = post(cloudlet, presigned)
    assert resp.status == 201
    assert resp.header("content-type") == "application/xml"
    location = cloudlet.endpoint + "/uploads/a%20b%2F%C3%A9.txt"
    assert resp.body.decode() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
        f'<Location>{location}</Location><Bucket>uploads</Bucket><Key>a b/é.txt</Key>'
        f'<ETag>{etag(b"hello world")}</ETag></PostResponse>')
    assert resp.header("location") == location
    presigned = s3v4.generate_presigned_post("uploads", "ok", Fields={"success_action_status": "200"},
                                             Conditions=[{"success_action_status": "200"}])
    resp = post(cloudlet, presigned)
    assert (resp.status, resp.body, resp.header("content-length")) == (200, b"", "0")
    # Any other status: 204.
    presigned = s3v4.generate_presigned_post("uploads", "ok", Fields={"success_action_status": "404"},
                                             Conditions=[{"success_action_status": "404"}])
    assert post(cloudlet, presigned).status == 204


def test_success_action_redirect(cloudlet, s3, s3v4):
    target = "https://app.example.com/done?from=upload"
    presigned = s3v4.generate_presigned_post(
        "uploads", "in/${filename}", Fields={"success_action_redirect": target},
        Conditions=[["starts-with", "$success_action_redirect", "https://app.example.com/"]])
    resp = post(cloudlet, presigned, file=("my photo.jpg", b"\xff\xd8jpeg", "image/jpeg"))
    assert resp.status == 303
    assert resp.body == b""
    tag = etag(b"\xff\xd8jpeg").strip('"')
    assert resp.header("location") == (f"{target}&bucket=uploads&key=in%2Fmy+photo.jpg&etag=%22{tag}%22")
    # A relative URL is no redirect.
    presigned = s3v4.generate_presigned_post("uploads", "x", Fields={"success_action_redirect": "/done"},
                                             Conditions=[{"success_action_redirect": "/done"}])
    assert post(cloudlet, presigned).status == 204


def test_filename_variable(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "user/eric/${filename}",
                                             Fields={"x-amz-meta-source": "${filename}"},
                                             Conditions=[["starts-with", "$x-amz-meta-source", ""]])
    assert policy_of(presigned)["conditions"][2] == ["starts-with", "$key", "user/eric/"]
    resp = post(cloudlet, presigned, file=("C:\\Users\\eric\\photo.jpg", b"jpeg", "image/jpeg"))
    assert resp.status == 204
    head = s3.head_object(Bucket="uploads", Key="user/eric/photo.jpg")
    assert head["Metadata"] == {"source": "photo.jpg"}
    # Without a filename parameter, the variable stays as written.
    resp = post(cloudlet, presigned, file=(None, b"raw", "text/plain"))
    assert resp.status == 204
    assert s3.get_object(Bucket="uploads", Key="user/eric/${filename}")["Body"].read() == b"raw"


def test_fields_become_the_objects_headers(cloudlet, s3, s3v4):
    tagging = ("<Tagging><TagSet><Tag><Key>team</Key><Value>web app</Value></Tag>"
               "<Tag><Key>tier</Key><Value>1</Value></Tag></TagSet></Tagging>")
    fields = {"Content-Type": "image/png", "Cache-Control": "max-age=60", "Content-Disposition": "inline",
              "Expires": "Thu, 01 Jan 2032 00:00:00 GMT", "x-amz-meta-Owner-ID": "42",
              "x-amz-storage-class": "STANDARD_IA", "tagging": tagging, "acl": "bucket-owner-full-control",
              "x-amz-server-side-encryption": "aws:kms"}
    presigned = s3v4.generate_presigned_post("uploads", "img.png", Fields=fields,
                                             Conditions=[{k: v} for k, v in fields.items()])
    resp = post(cloudlet, presigned, file=("img.png", b"\x89PNG", "application/octet-stream"))
    assert resp.status == 204, resp.body
    assert resp.header("x-amz-server-side-encryption") == "aws:kms"
    key_arn = resp.header("x-amz-server-side-encryption-aws-kms-key-id")
    kms = cloudlet.client("kms")
    assert key_arn == kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    head = s3.head_object(Bucket="uploads", Key="img.png")
    assert (head["ContentType"], head["CacheControl"], head["ContentDisposition"]) == \
        ("image/png", "max-age=60", "inline")
    assert head["Expires"].isoformat() == "2032-01-01T00:00:00+00:00"
    assert head["Metadata"] == {"owner-id": "42"}
    assert head["StorageClass"] == "STANDARD_IA"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object_tagging(Bucket="uploads", Key="img.png")["TagSet"] == [
        {"Key": "team", "Value": "web app"}, {"Key": "tier", "Value": "1"}]
    assert s3.get_object(Bucket="uploads", Key="img.png")["Body"].read() == b"\x89PNG"


def test_acl_follows_object_ownership(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "pub", Fields={"acl": "public-read"},
                                             Conditions=[{"acl": "public-read"}])
    resp = post(cloudlet, presigned)
    assert xml_error(resp) == {"Code": "AccessControlListNotSupported", "Message": "The bucket does not allow ACLs",
                               "Status": 400}
    s3.put_bucket_ownership_controls(Bucket="uploads", OwnershipControls={
        "Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket="uploads")
    assert post(cloudlet, presigned).status == 204
    grants = s3.get_object_acl(Bucket="uploads", Key="pub")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
            "Permission": "READ"} in grants
    assert send(cloudlet.endpoint, "GET", "/uploads/pub").body == b"hello world"


def test_checksum_fields(cloudlet, s3, s3v4):
    data = b"checked"
    good = checksum("SHA256", data)
    fields = {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-sha256": good}
    presigned = s3v4.generate_presigned_post("uploads", "c", Fields=fields,
                                             Conditions=[["starts-with", "$x-amz-checksum-algorithm", ""],
                                                         ["starts-with", "$x-amz-checksum-sha256", ""]])
    resp = post(cloudlet, presigned, file=("c", data, "text/plain"))
    assert resp.status == 204
    assert resp.header("x-amz-checksum-sha256") == good
    wrong = dict(presigned, fields=dict(presigned["fields"], **{"x-amz-checksum-sha256": checksum("SHA256", b"x")}))
    resp = post(cloudlet, wrong, file=("c", data, "text/plain"))
    assert xml_error(resp) == {"Code": "BadDigest", "Status": 400,
                               "Message": "The SHA256 you specified did not match the calculated checksum."}


def test_versioned_bucket_and_notification(cloudlet, s3, s3v4):
    s3.put_bucket_versioning(Bucket="uploads", VersioningConfiguration={"Status": "Enabled"})
    url, arn = queue_for_bucket(cloudlet, "posted", bucket="uploads")
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": arn, "Events": ["s3:ObjectCreated:Post"]}]})
    messages(cloudlet, url, 1)  # the test event
    s3.put_object(Bucket="uploads", Key="put-is-not-post", Body=b"x")
    resp = post(cloudlet, s3v4.generate_presigned_post("uploads", "v"))
    assert resp.status == 204
    version = resp.header("x-amz-version-id")
    assert version and version != "null"
    assert s3.head_object(Bucket="uploads", Key="v")["VersionId"] == version
    record = messages(cloudlet, url, 1)[0]["Records"][0]
    assert record["eventName"] == "ObjectCreated:Post"
    assert record["s3"]["object"] == {**record["s3"]["object"], "key": "v", "size": 11,
                                      "eTag": etag(b"hello world").strip('"'), "versionId": version}


def test_large_upload_streams_from_the_spooled_body(cloudlet, s3, s3v4):
    data = os.urandom(3 * 1024 * 1024 + 17)
    presigned = s3v4.generate_presigned_post("uploads", "big.bin",
                                             Conditions=[["content-length-range", 1, 10 * 1024 * 1024]])
    resp = post(cloudlet, presigned, file=("big.bin", data, "application/octet-stream"),
                after=[("submit", "Upload")])
    assert resp.status == 204
    assert resp.header("etag") == etag(data)
    got = s3.get_object(Bucket="uploads", Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


def test_virtual_hosted_upload(cloudlet, s3, s3v4):
    port = cloudlet.endpoint.rsplit(":", 1)[1]
    presigned = s3v4.generate_presigned_post("uploads", "vh.txt")
    body, ctype = encode(list(presigned["fields"].items()))
    resp = send(cloudlet.endpoint, "POST", "/", body=body,
                headers={"Content-Type": ctype, "Host": f"uploads.localhost:{port}"})
    assert resp.status == 204
    assert resp.header("location") == f"http://uploads.localhost:{port}/vh.txt"
    assert s3.get_object(Bucket="uploads", Key="vh.txt")["Body"].read() == b"hello world"


def test_cors_on_the_upload_answer(cloudlet, s3, s3v4):
    s3.put_bucket_cors(Bucket="uploads", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["POST"], "ExposeHeaders": ["ETag"]}]})
    resp = post(cloudlet, s3v4.generate_presigned_post("uploads", "x"),
                headers={"Origin": "https://app.example.com"})
    assert resp.status == 204
    assert resp.header("access-control-allow-origin") == "https://app.example.com"
    assert resp.header("access-control-expose-headers") == "ETag"


# -- the policy -------------------------------------------------------------------------------

def test_expired_policy(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "late", ExpiresIn=60)
    cloudlet.clock.advance(61)
    resp = post(cloudlet, presigned)
    assert xml_error(resp) == {"Code": "AccessDenied", "Message": "Invalid according to Policy: Policy expired.",
                               "Status": 403}
    with pytest.raises(ClientError):
        s3.head_object(Bucket="uploads", Key="late")


def test_condition_failures(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post(
        "uploads", "user/${filename}",
        Fields={"Content-Type": "image/jpeg", "success_action_redirect": "http://localhost.test/random"},
        Conditions=[["starts-with", "$Content-Type", "image/"],
                    ["eq", "$success_action_redirect", "http://localhost.test/random"]])
    fields = presigned["fields"]

    def failed(condition: str, **changes):
        form = dict(presigned, fields={**fields, **changes})
        return xml_error(post(cloudlet, form)) == {
            "Code": "AccessDenied", "Status": 403,
            "Message": f"Invalid according to Policy: Policy Condition failed: {condition}"}

    assert failed('["starts-with", "$Content-Type", "image/"]', **{"Content-Type": "text/html"})
    assert failed('["starts-with", "$Content-Type", "image/"]', **{"Content-Type": "image/png,text/plain"})
    assert failed('["eq", "$success_action_redirect", "http://localhost.test/random"]',
                  success_action_redirect="HTTP://localhost.test/random")  # values are case-sensitive
    assert failed('["starts-with", "$key", "user/"]', key="admin/${filename}")
    # A list of content types passes when each does; names match in any case.
    form = dict(presigned, fields={**{k: v for k, v in fields.items() if k != "Content-Type"},
                                   "CONTENT-TYPE": "image/png, image/gif"})
    assert post(cloudlet, form).status == 303


def test_bucket_condition(cloudlet, s3, s3v4):
    s3.create_bucket(Bucket="other")
    presigned = s3v4.generate_presigned_post("uploads", "k")
    resp = post(cloudlet, dict(presigned, url=cloudlet.endpoint + "/other"))
    assert xml_error(resp) == {"Code": "AccessDenied", "Status": 403,
                               "Message": 'Invalid according to Policy: Policy Condition failed: '
                                          '["eq", "$bucket", "uploads"]'}


def test_extra_input_fields(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "k")
    resp = post(cloudlet, presigned, extra=[("Content-Type", "text/plain"), ("x-amz-meta-note", "hi")])
    assert xml_error(resp) == {"Code": "AccessDenied", "Status": 403,
                               "Message": "Invalid according to Policy: Extra input fields: Content-Type, "
                                          "x-amz-meta-note"}
    # x-ignore-* fields and whatever follows the file are not the policy's concern.
    resp = post(cloudlet, presigned, extra=[("x-ignore-tracker", "1")], after=[("submit", "Upload"), ("Extra", "x")])
    assert resp.status == 204


def test_content_length_range(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "sized", Conditions=[["content-length-range", 5, 10]])
    resp = post(cloudlet, presigned, file=("f", b"x" * 12, "text/plain"))
    assert xml_error(resp) == {"Code": "EntityTooLarge", "Status": 400, "ProposedSize": "12",
                               "MaxSizeAllowed": "10", "Message": "Your proposed upload exceeds the maximum allowed size"}
    resp = post(cloudlet, presigned, file=("f", b"x", "text/plain"))
    assert xml_error(resp) == {"Code": "EntityTooSmall", "Status": 400, "ProposedSize": "1", "MinSizeAllowed": "5",
                               "Message": "Your proposed upload is smaller than the minimum allowed size"}
    for size in (5, 10):
        assert post(cloudlet, presigned, file=("f", b"x" * size, "text/plain")).status == 204
    # Bounds may be strings; a bound that is no number fails the condition.
    presigned = s3v4.generate_presigned_post("uploads", "sized", Conditions=[["content-length-range", "5", "10"]])
    assert post(cloudlet, presigned, file=("f", b"x" * 7, "text/plain")).status == 204
    presigned = s3v4.generate_presigned_post("uploads", "sized", Conditions=[["content-length-range", "test", "10"]])
    assert xml_error(post(cloudlet, presigned))["Message"] == \
        'Invalid according to Policy: Policy Condition failed: ["content-length-range", "test", "10"]'


def test_malformed_policies(cloudlet, s3):
    fields = [("key", "k"), ("AWSAccessKeyId", "test"), ("signature", "unverified")]

    def answer(policy) -> tuple:
        text = policy if isinstance(policy, str) else base64.b64encode(json.dumps(policy).encode()).decode()
        resp = post(cloudlet, "/uploads", fields + [("policy", text)])
        err = xml_error(resp)
        return err["Status"], err["Code"], err["Message"]

    later = "2099-01-01T00:00:00.000Z"
    assert answer("%%%") == (400, "InvalidPolicyDocument", "Invalid Policy: invalid Base64 encoding.")
    assert answer(base64.b64encode(b"{not json").decode()) == (400, "InvalidPolicyDocument",
                                                               "Invalid Policy: Invalid JSON.")
    assert answer({"conditions": []}) == (400, "InvalidPolicyDocument", "Invalid Policy: Policy missing expiration.")
    assert answer({"expiration": later}) == (400, "InvalidPolicyDocument",
                                             "Invalid Policy: Policy missing conditions.")
    assert answer({"EXPIRATION": later, "conditions": []}) == (400, "InvalidPolicyDocument",
                                                               "Invalid Policy: Unexpected: 'expiration'")
    assert answer({"expiration": "2099-01-01 00:00:00 UTC", "conditions": []}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value: '2099-01-01 00:00:00 UTC'")
    assert answer({"expiration": later, "conditions": {}}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid 'conditions' value: must be a List.")
    assert answer({"expiration": later, "conditions": [{"bucket": "uploads", "key": "k"}]}) == (
        400, "InvalidPolicyDocument",
        "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
    assert answer({"expiration": later, "conditions": [{"content-length": 5}]}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid Simple-Condition: value must be a string.")
    assert answer({"expiration": later, "conditions": [[]]}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition: missing operation identifier.")
    assert answer({"expiration": later, "conditions": [["in", "$key", "k"]]}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition: unknown operation 'in'.")
    assert answer({"expiration": later, "conditions": [["content-length-range", 0]]}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range: wrong number of arguments.")
    assert answer({"expiration": later, "conditions": [["content-length-range", 0, 512.0]]}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
    assert answer({"expiration": later, "conditions": ["key"]}) == (
        400, "InvalidPolicyDocument", "Invalid Policy: Invalid condition test: must be a List or Object.")
    # Well-formed, with operators and names in any case: stored.
    ok = {"expiration": later, "conditions": [{"bUcKeT": "uploads"}, ["StArTs-WiTh", "$KeY", ""],
                                              ["eq", "$AWSAccessKeyId", "test"]]}
    assert post(cloudlet, "/uploads", fields + [("policy", base64.b64encode(json.dumps(ok).encode()).decode())]
                ).status == 204


# -- the form ---------------------------------------------------------------------------------

def test_form_shape_errors(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "k")
    resp = send(cloudlet.endpoint, "POST", "/uploads", body=b"key=k", headers={"Content-Type": "text/html"})
    assert xml_error(resp) == {"Code": "PreconditionFailed", "Status": 412,
                               "Message": "At least one of the pre-conditions you specified did not hold",
                               "Condition": "Bucket POST must be of the enclosure-type multipart/form-data"}
    resp = send(cloudlet.endpoint, "POST", "/uploads", body=b"x", headers={"Content-Type": "multipart/form-data"})
    assert xml_error(resp) == {"Code": "MalformedPOSTRequest", "Status": 400,
                               "Message": "The body of your POST request is not well-formed multipart/form-data."}
    resp = post(cloudlet, presigned, file=None)
    assert xml_error(resp) == {"Code": "InvalidArgument", "Status": 400, "ArgumentName": "file", "ArgumentValue": "0",
                               "Message": "POST requires exactly one file upload per request."}
    resp = post(cloudlet, presigned, drop=("key",), after=[("key", "k")])  # fields after the file are ignored
    assert xml_error(resp) == {"Code": "InvalidArgument", "Status": 400, "ArgumentName": "key", "ArgumentValue": "",
                               "Message": "Bucket POST must contain a field named 'key'.  If it is specified, "
                                          "please check the order of the fields."}
    for dropped, name in (("x-amz-signature", "X-Amz-Signature"), ("x-amz-credential", "X-Amz-Credential"),
                          ("policy", "Policy")):
        resp = post(cloudlet, presigned, drop=(dropped,))
        assert xml_error(resp) == {"Code": "InvalidArgument", "Status": 400, "ArgumentName": name,
                                   "ArgumentValue": "",
                                   "Message": f"Bucket POST must contain a field named '{name}'.  If it is "
                                              "specified, please check the order of the fields."}
    resp = post(cloudlet, presigned, fields=None, extra=[("pad", "x" * 21000)])
    assert xml_error(resp) == {"Code": "MaxPostPreDataLengthExceeded", "Status": 400,
                               "MaxPostPreDataLengthBytes": "20480",
                               "Message": "Your POST request fields preceeding the upload file was too large."}
    resp = post(cloudlet, dict(presigned, url=cloudlet.endpoint + "/no-such-bucket"))
    assert xml_error(resp) == {"Code": "NoSuchBucket", "Status": 404, "BucketName": "no-such-bucket",
                               "Message": "The specified bucket does not exist"}


def test_credential_scope(cloudlet, s3):
    west = cloudlet.client("s3", region="us-west-2", signature_version="s3v4")
    presigned = west.generate_presigned_post("uploads", "k")
    credential = presigned["fields"]["x-amz-credential"]
    assert xml_error(post(cloudlet, presigned)) == {
        "Code": "InvalidArgument", "Status": 400, "Message": "the region 'us-west-2' is wrong; expecting 'us-east-1'",
        "ArgumentName": "X-Amz-Credential", "ArgumentValue": credential, "Region": "us-east-1"}
    form = dict(presigned, fields=dict(presigned["fields"], **{"x-amz-date": "yesterday"}))
    form["fields"]["x-amz-credential"] = credential.replace("us-west-2", "us-east-1")
    assert xml_error(post(cloudlet, form)) == {
        "Code": "InvalidArgument", "Status": 400, "Message": "X-Amz-Date must be formated via ISO8601 Long format",
        "ArgumentName": "X-Amz-Date", "ArgumentValue": "yesterday"}


# -- who uploads ------------------------------------------------------------------------------

def test_issued_keys_are_verified_and_authorized(cloudlet, s3):
    me, arn = user_with(cloudlet, "uploader", doc(allow("s3:PutObject", "arn:aws:s3:::uploads/public/*")))
    user = me("s3", signature_version="s3v4")
    assert post(cloudlet, user.generate_presigned_post("uploads", "public/a.txt")).status == 204
    owner = s3.get_object_acl(Bucket="uploads", Key="public/a.txt")["Owner"]["ID"]
    assert owner == CANONICAL_ID
    # Outside what the user may write.
    resp = post(cloudlet, user.generate_presigned_post("uploads", "private/a.txt"))
    assert xml_error(resp) == {
        "Code": "AccessDenied", "Status": 403,
        "Message": f'User: {arn} is not authorized to perform: s3:PutObject on resource: '
                   '"arn:aws:s3:::uploads/private/a.txt" because no identity-based policy allows the s3:PutObject '
                   "action"}
    # A policy changed after signing.
    presigned = user.generate_presigned_post("uploads", "public/b.txt")
    policy = policy_of(presigned)
    policy["conditions"][1] = ["starts-with", "$key", "public/"]
    tampered = base64.b64encode(json.dumps(policy).encode()).decode()
    sig = presigned["fields"]["x-amz-signature"]
    resp = post(cloudlet, presigned, drop=("policy",), extra=[("policy", tampered)])
    assert xml_error(resp) == {
        "Code": "SignatureDoesNotMatch", "Status": 403,
        "Message": "The request signature we calculated does not match the signature you provided. Check your key "
                   "and signing method.",
        "AWSAccessKeyId": me.key["AccessKeyId"], "StringToSign": tampered, "SignatureProvided": sig,
        "StringToSignBytes": " ".join(f"{b:02x}" for b in tampered.encode())}
    # The same policy signed with the right secret by hand passes.
    credential = presigned["fields"]["x-amz-credential"]
    resigned = signed_v4(me.key["SecretAccessKey"], credential, policy)
    resp = post(cloudlet, presigned, drop=("policy", "x-amz-signature"), extra=list(resigned.items()))
    assert resp.status == 204
    # A deactivated key.
    cloudlet.client("iam").update_access_key(UserName="uploader", AccessKeyId=me.key["AccessKeyId"],
                                             Status="Inactive")
    resp = post(cloudlet, user.generate_presigned_post("uploads", "public/c.txt"))
    assert xml_error(resp) == {"Code": "InvalidAccessKeyId", "Status": 403, "AWSAccessKeyId": me.key["AccessKeyId"],
                               "Message": "The AWS Access Key Id you provided does not exist in our records."}


def test_session_credentials(cloudlet, s3):
    me, _ = user_with(cloudlet, "temp", doc(allow("s3:PutObject", "arn:aws:s3:::uploads/*"),
                                            allow("sts:GetSessionToken")))
    creds = me("sts").get_session_token()["Credentials"]
    client = cloudlet.client("s3", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                             session_token=creds["SessionToken"], signature_version="s3v4")
    presigned = client.generate_presigned_post("uploads", "t.txt")
    assert presigned["fields"]["x-amz-security-token"] == creds["SessionToken"]
    assert post(cloudlet, presigned).status == 204
    resp = post(cloudlet, presigned, drop=("x-amz-security-token",))
    assert xml_error(resp)["Code"] == "InvalidAccessKeyId"


def test_sigv2_form(cloudlet, s3):
    me, _ = user_with(cloudlet, "legacy", doc(allow("s3:PutObject", "arn:aws:s3:::uploads/*")))
    v2 = me("s3", signature_version="s3")
    presigned = v2.generate_presigned_post("uploads", "v2.txt")
    assert sorted(presigned["fields"]) == ["AWSAccessKeyId", "key", "policy", "signature"]
    assert post(cloudlet, presigned).status == 204
    resp = post(cloudlet, presigned, drop=("signature",), extra=[("signature", "AAAA" + presigned["fields"]
                                                                  ["signature"][4:])])
    assert xml_error(resp)["Code"] == "SignatureDoesNotMatch"
    resp = post(cloudlet, presigned, drop=("signature",))
    assert xml_error(resp)["ArgumentName"] == "Signature"


def test_anonymous_uploads_need_a_bucket_that_allows_them(cloudlet, s3):
    fields = [("key", "anon.txt")]
    assert xml_error(post(cloudlet, "/uploads", fields)) == {"Code": "AccessDenied", "Message": "Access Denied",
                                                             "Status": 403}
    s3.delete_public_access_block(Bucket="uploads")
    s3.put_bucket_policy(Bucket="uploads", Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::uploads/anon*"}]}))
    resp = post(cloudlet, "/uploads", fields + [("success_action_status", "201")])
    assert resp.status == 201
    assert s3.get_object(Bucket="uploads", Key="anon.txt")["Body"].read() == b"hello world"


def test_strict_auth_refuses_unknown_keys(tmp_path):
    with CloudletServer(str(tmp_path), strict_auth=True) as server:
        server.client("s3").create_bucket(Bucket="uploads")
        unknown = server.client("s3", access_key="AKIDEXAMPLEUNKNOWN", secret_key="x", signature_version="s3v4")
        resp = post(server, unknown.generate_presigned_post("uploads", "k"))
        assert xml_error(resp) == {"Code": "InvalidAccessKeyId", "Status": 403,
                                   "AWSAccessKeyId": "AKIDEXAMPLEUNKNOWN",
                                   "Message": "The AWS Access Key Id you provided does not exist in our records."}
        # The default root's key still works.
        assert post(server, server.client("s3", signature_version="s3v4")
                    .generate_presigned_post("uploads", "k")).status == 204


# -- presigned PUT URLs ------------------------------------------------------------------------

def test_presigned_put_url(cloudlet, s3):
    me, arn = user_with(cloudlet, "putter", doc(allow("s3:PutObject", "arn:aws:s3:::uploads/*")))
    client = me("s3", signature_version="s3v4")
    url = client.generate_presigned_url("put_object", Params={"Bucket": "uploads", "Key": "via url.txt",
                                                              "ContentType": "text/csv"}, ExpiresIn=300)
    parts = urlsplit(url)
    resp = send(cloudlet.endpoint, "PUT", f"{parts.path}?{parts.query}", body=b"a,b\n",
                headers={"Content-Type": "text/csv"})
    assert resp.status == 200, resp.body
    assert resp.header("etag") == etag(b"a,b\n")
    got = s3.get_object(Bucket="uploads", Key="via url.txt")
    assert (got["Body"].read(), got["ContentType"]) == (b"a,b\n", "text/csv")
    # Content-Type was signed: another one breaks the signature.
    resp = send(cloudlet.endpoint, "PUT", f"{parts.path}?{parts.query}", body=b"x",
                headers={"Content-Type": "text/plain"})
    assert (resp.status, xml_error(resp)["Code"]) == (403, "SignatureDoesNotMatch")
    cloudlet.clock.advance(301)
    resp = send(cloudlet.endpoint, "PUT", f"{parts.path}?{parts.query}", body=b"a,b\n",
                headers={"Content-Type": "text/csv"})
    err = xml_error(resp)
    assert (err["Status"], err["Code"], err["Message"], err["X-Amz-Expires"]) == \
        (403, "AccessDenied", "Request has expired", "300")


# -- what no header can carry, and broken forms ------------------------------------------------

def test_values_no_header_can_carry(cloudlet, s3):
    def form(name: str, value: str) -> list:
        policy = {"expiration": "2099-01-01T00:00:00Z", "conditions": [["starts-with", "$key", ""],
                                                                       ["starts-with", "$" + name, ""]]}
        return [("key", "k"), ("AWSAccessKeyId", "test"), ("signature", "unverified"),
                ("policy", base64.b64encode(json.dumps(policy).encode()).decode()), (name, value)]

    resp = post(cloudlet, "/uploads", form("x-amz-meta-a", "line1\r\nline2"))
    assert xml_error(resp) == {"Code": "InvalidArgument", "Status": 400, "ArgumentName": "x-amz-meta-a",
                               "ArgumentValue": "line1\r\nline2",
                               "Message": "Form fields sent as headers cannot contain control characters."}
    # A redirect S3 cannot use is as good as none.
    resp = post(cloudlet, "/uploads", form("success_action_redirect", "http://x/\r\nSet-Cookie: a=b"))
    assert (resp.status, resp.header("set-cookie")) == (204, None)


def test_broken_forms_never_fail_the_server(cloudlet, s3, s3v4):
    presigned = s3v4.generate_presigned_post("uploads", "k")
    body, ctype = encode(list(presigned["fields"].items()))
    bodies = [body[:n] for n in range(0, len(body), 7)]
    bodies += [body.replace(b"\r\n", b"\n"), b"--" + BOUNDARY.encode() + b"\r\n\r\n\r\n", b"\r\n" * 50,
               b"preamble\r\n" + body, body.replace(b'name="file"', b'name="FILE"')]
    for data in bodies:
        resp = send(cloudlet.endpoint, "POST", "/uploads", body=data, headers={"Content-Type": ctype})
        assert resp.status in (204, 400, 403), (data, resp.body)
    policy = ("policy", base64.b64encode(b"[" * 5000).decode())
    resp = post(cloudlet, "/uploads", [("key", "k"), ("AWSAccessKeyId", "test"), ("signature", "x"), policy])
    assert xml_error(resp)["Message"] == "Invalid Policy: Invalid JSON."


def test_auth_type_is_post(cloudlet, s3):
    me, arn = user_with(cloudlet, "formsonly", doc(allow("s3:PutObject", "arn:aws:s3:::uploads/*",
                                                         Condition={"StringEquals": {"s3:authType": "POST"}})))
    user = me("s3", signature_version="s3v4")
    assert post(cloudlet, user.generate_presigned_post("uploads", "form.txt")).status == 204
    with pytest.raises(ClientError) as exc:
        user.put_object(Bucket="uploads", Key="put.txt", Body=b"x")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
