"""S3 buckets and their configurations through boto3: creation rules
(names, regions, re-creation), listing, deletion, and every bucket
configuration's validation, defaults and missing-configuration errors."""

from __future__ import annotations

import datetime
import json

import pytest
from botocore.exceptions import ClientError

from cloudlet.services.s3.common import canonical_id

A = "000000000000"
B = "222222222222"
NO_VALIDATION = {"parameter_validation": False}


@pytest.fixture
def s3(cloudlet):
    return cloudlet.client("s3")


def err(exc) -> tuple:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message")


def fails(call, *args, **kw):
    with pytest.raises(ClientError) as exc:
        call(*args, **kw)
    return exc


def queue_with_policy(cloudlet, name: str, policy: bool = True) -> str:
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{A}:{name}"
    if policy:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": arn, "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::*"}}}]})})
    return arn


# -- creating, finding, listing, deleting --------------------------------------------

def test_create_head_list_delete(s3):
    assert s3.create_bucket(Bucket="first")["Location"] == "/first"
    head = s3.head_bucket(Bucket="first")
    assert head["BucketRegion"] == "us-east-1"
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert head["AccessPointAlias"] is False
    listed = s3.list_buckets()
    assert [(b["Name"], b["BucketRegion"]) for b in listed["Buckets"]] == [("first", "us-east-1")]
    assert isinstance(listed["Buckets"][0]["CreationDate"], datetime.datetime)
    assert listed["Owner"]["ID"] == canonical_id(A)
    assert s3.get_bucket_location(Bucket="first")["LocationConstraint"] is None
    assert s3.delete_bucket(Bucket="first")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_buckets()["Buckets"] == []
    exc = fails(s3.head_bucket, Bucket="first")
    assert exc.value.response["Error"]["Code"] == "404"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    exc = fails(s3.delete_bucket, Bucket="first")
    assert err(exc) == ("NoSuchBucket", 404, "The specified bucket does not exist")
    assert exc.value.response["Error"]["BucketName"] == "first"


@pytest.mark.parametrize("name", ["ab", "a" * 64, "UpperCase", "under_score", "-dash-first", "dot-last.",
                                  "two..dots", "192.168.5.4", "xn--punycode", "sthree-bucket", "amzn-s3-demo-x",
                                  "name-s3alias", "name--ol-s3", "name.mrap", "name--table-s3"])
def test_invalid_bucket_names(raw_client, name):
    s3 = raw_client("s3")
    exc = fails(s3.create_bucket, Bucket=name)
    assert err(exc) == ("InvalidBucketName", 400, "The specified bucket is not valid.")
    assert exc.value.response["Error"]["BucketName"] == name


def test_valid_bucket_names(s3):
    for name in ("abc", "a" * 63, "my.bucket-1", "0numbers9"):
        s3.create_bucket(Bucket=name)
    assert len(s3.list_buckets()["Buckets"]) == 4


def test_location_constraints(cloudlet, s3):
    exc = fails(s3.create_bucket, Bucket="here", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert err(exc) == ("InvalidLocationConstraint", 400, "The specified location-constraint is not valid")
    assert exc.value.response["Error"]["LocationConstraint"] == "us-east-1"
    west = cloudlet.client("s3", region="us-west-2")
    exc = fails(west.create_bucket, Bucket="nowhere")
    assert err(exc) == ("IllegalLocationConstraintException", 400, "The unspecified location constraint is "
                        "incompatible for the region specific endpoint this request was sent to.")
    exc = fails(west.create_bucket, Bucket="elsewhere", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert err(exc) == ("IllegalLocationConstraintException", 400, "The eu-west-1 location constraint is "
                        "incompatible for the region specific endpoint this request was sent to.")
    created = west.create_bucket(Bucket="in-oregon", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert created["Location"] == "http://in-oregon.s3.amazonaws.com/"
    assert west.head_bucket(Bucket="in-oregon")["BucketRegion"] == "us-west-2"
    # The us-east-1 endpoint places a bucket in any region.
    s3.create_bucket(Bucket="from-virginia", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert s3.head_bucket(Bucket="from-virginia")["BucketRegion"] == "eu-central-1"
    regions = {b["Name"]: b["BucketRegion"] for b in s3.list_buckets()["Buckets"]}
    assert regions == {"in-oregon": "us-west-2", "from-virginia": "eu-central-1"}


def test_get_bucket_location_outside_us_east_1(cloudlet):
    west = cloudlet.client("s3", region="us-west-2")
    west.create_bucket(Bucket="in-oregon", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert west.get_bucket_location(Bucket="in-oregon")["LocationConstraint"] == "us-west-2"
    ireland = cloudlet.client("s3", region="eu-west-1")
    ireland.create_bucket(Bucket="old-style", CreateBucketConfiguration={"LocationConstraint": "EU"})
    assert ireland.head_bucket(Bucket="old-style")["BucketRegion"] == "eu-west-1"
    assert ireland.get_bucket_location(Bucket="old-style")["LocationConstraint"] == "EU"


def test_directory_bucket_configuration_is_refused(s3):
    exc = fails(s3.create_bucket, Bucket="dir-bucket", CreateBucketConfiguration={
        "Location": {"Type": "AvailabilityZone", "Name": "use1-az4"},
        "Bucket": {"Type": "Directory", "DataRedundancy": "SingleAvailabilityZone"}})
    assert err(exc)[:2] == ("InvalidRequest", 400)


def test_creating_again(cloudlet, s3):
    s3.create_bucket(Bucket="mine")
    # us-east-1's legacy: creating your own bucket again succeeds.
    assert s3.create_bucket(Bucket="mine")["ResponseMetadata"]["HTTPStatusCode"] == 200
    west = cloudlet.client("s3", region="us-west-2")
    west.create_bucket(Bucket="mine-west", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    exc = fails(west.create_bucket, Bucket="mine-west", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert err(exc) == ("BucketAlreadyOwnedByYou", 409, "Your previous request to create the named bucket succeeded "
                        "and you already own it.")
    other = cloudlet.client("s3", access_key=B)
    exc = fails(other.create_bucket, Bucket="mine")
    assert err(exc) == ("BucketAlreadyExists", 409, "The requested bucket name is not available. The bucket "
                        "namespace is shared by all users of the system. Please select a different name and try "
                        "again.")
    assert other.list_buckets()["Buckets"] == []


def test_list_buckets_pages_prefix_and_region(cloudlet, s3, raw_client):
    for name in ("alpha", "beta", "gamma", "delta", "epsilon"):
        s3.create_bucket(Bucket=name)
    s3.create_bucket(Bucket="far-away", CreateBucketConfiguration={"LocationConstraint": "ap-south-1"})
    names, token, pages = [], None, 0
    while True:
        page = s3.list_buckets(MaxBuckets=2, **({"ContinuationToken": token} if token else {}))
        pages += 1
        names += [b["Name"] for b in page["Buckets"]]
        token = page.get("ContinuationToken")
        if not token:
            break
    assert pages == 3
    assert names == ["alpha", "beta", "delta", "epsilon", "far-away", "gamma"]
    with_prefix = s3.list_buckets(Prefix="e")
    assert [b["Name"] for b in with_prefix["Buckets"]] == ["epsilon"]
    assert with_prefix["Prefix"] == "e"
    assert [b["Name"] for b in s3.list_buckets(BucketRegion="ap-south-1")["Buckets"]] == ["far-away"]
    paginated = [b["Name"] for p in s3.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 4})
                 for b in p["Buckets"]]
    assert paginated == names
    exc = fails(raw_client("s3").list_buckets, MaxBuckets=0)
    assert err(exc) == ("InvalidArgument", 400, "Argument max-buckets must be an integer between 1 and 10000")
    exc = fails(s3.list_buckets, ContinuationToken="not-a-token")
    assert err(exc)[:2] == ("InvalidArgument", 400)
    assert cloudlet.client("s3", access_key=B).list_buckets()["Buckets"] == []


def test_expected_bucket_owner(s3):
    s3.create_bucket(Bucket="owned")
    assert s3.get_bucket_versioning(Bucket="owned", ExpectedBucketOwner=A)["ResponseMetadata"]["HTTPStatusCode"] == 200
    exc = fails(s3.get_bucket_versioning, Bucket="owned", ExpectedBucketOwner=B)
    assert err(exc) == ("AccessDenied", 403, "Access Denied")
    exc = fails(s3.get_bucket_versioning, Bucket="owned", ExpectedBucketOwner="not-an-account")
    assert err(exc) == ("InvalidBucketOwnerAWSAccountID", 400, "The value of the expected bucket owner parameter "
                                                               "must be an AWS Account ID... [not-an-account]")


def test_a_deleted_bucket_takes_its_configuration_along(s3):
    s3.create_bucket(Bucket="reborn")
    s3.put_bucket_tagging(Bucket="reborn", Tagging={"TagSet": [{"Key": "life", "Value": "first"}]})
    s3.delete_public_access_block(Bucket="reborn")
    s3.delete_bucket(Bucket="reborn")
    s3.create_bucket(Bucket="reborn")
    assert err(fails(s3.get_bucket_tagging, Bucket="reborn"))[0] == "NoSuchTagSet"
    assert s3.get_public_access_block(Bucket="reborn")["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def test_delete_bucket_that_holds_an_object(s3):
    s3.create_bucket(Bucket="full")
    s3.put_object(Bucket="full", Key="k", Body=b"x")
    exc = fails(s3.delete_bucket, Bucket="full")
    assert err(exc) == ("BucketNotEmpty", 409, "The bucket you tried to delete is not empty")
    s3.delete_object(Bucket="full", Key="k")
    s3.delete_bucket(Bucket="full")


def test_delete_versioned_bucket_with_only_a_delete_marker(s3):
    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="versions", Key="k", Body=b"x")
    s3.delete_object(Bucket="versions", Key="k")  # a delete marker on top
    exc = fails(s3.delete_bucket, Bucket="versions")
    assert err(exc) == ("BucketNotEmpty", 409, "The bucket you tried to delete is not empty. You must delete all "
                                               "versions in the bucket.")
    for v in s3.list_object_versions(Bucket="versions").get("Versions", []):
        s3.delete_object(Bucket="versions", Key="k", VersionId=v["VersionId"])
    exc = fails(s3.delete_bucket, Bucket="versions")  # the marker is still there
    assert err(exc)[0] == "BucketNotEmpty"
    for m in s3.list_object_versions(Bucket="versions").get("DeleteMarkers", []):
        s3.delete_object(Bucket="versions", Key="k", VersionId=m["VersionId"])
    s3.delete_bucket(Bucket="versions")


def test_uploads_in_progress_do_not_keep_a_bucket(s3):
    s3.create_bucket(Bucket="uploading")
    upload = s3.create_multipart_upload(Bucket="uploading", Key="big")["UploadId"]
    s3.upload_part(Bucket="uploading", Key="big", UploadId=upload, PartNumber=1, Body=b"part")
    s3.delete_bucket(Bucket="uploading")
    s3.create_bucket(Bucket="uploading")
    assert s3.list_multipart_uploads(Bucket="uploading").get("Uploads", []) == []


# -- what a new bucket starts with -------------------------------------------------

def test_new_bucket_defaults(s3):
    s3.create_bucket(Bucket="fresh")
    assert s3.get_bucket_ownership_controls(Bucket="fresh")["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert s3.get_public_access_block(Bucket="fresh")["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_encryption(Bucket="fresh")["ServerSideEncryptionConfiguration"] == {
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]}
    acl = s3.get_bucket_acl(Bucket="fresh")
    assert acl["Owner"] == {"ID": canonical_id(A)}
    assert acl["Grants"] == [{"Grantee": {"ID": canonical_id(A), "Type": "CanonicalUser"},
                              "Permission": "FULL_CONTROL"}]
    assert "Status" not in s3.get_bucket_versioning(Bucket="fresh")
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="fresh")
    assert s3.get_bucket_request_payment(Bucket="fresh")["Payer"] == "BucketOwner"
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket="fresh")
    notification = s3.get_bucket_notification_configuration(Bucket="fresh")
    assert set(notification) == {"ResponseMetadata"}
    missing = [
        (s3.get_bucket_tagging, "NoSuchTagSet", 404, "The TagSet does not exist"),
        (s3.get_bucket_policy, "NoSuchBucketPolicy", 404, "The bucket policy does not exist"),
        (s3.get_bucket_policy_status, "NoSuchBucketPolicy", 404, "The bucket policy does not exist"),
        (s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"),
        (s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", 404,
         "The lifecycle configuration does not exist"),
        (s3.get_bucket_website, "NoSuchWebsiteConfiguration", 404,
         "The specified bucket does not have a website configuration"),
        (s3.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError", 404,
         "Object Lock configuration does not exist for this bucket"),
        (s3.get_bucket_replication, "ReplicationConfigurationNotFoundError", 404,
         "The replication configuration was not found"),
    ]
    for call, code, status, message in missing:
        exc = fails(call, Bucket="fresh")
        assert err(exc) == (code, status, message), call
        assert exc.value.response["Error"]["BucketName"] == "fresh"


def test_deleted_settings_answer_their_errors(s3):
    s3.create_bucket(Bucket="bare")
    s3.delete_public_access_block(Bucket="bare")
    exc = fails(s3.get_public_access_block, Bucket="bare")
    assert err(exc) == ("NoSuchPublicAccessBlockConfiguration", 404,
                        "The public access block configuration was not found")
    s3.delete_bucket_ownership_controls(Bucket="bare")
    exc = fails(s3.get_bucket_ownership_controls, Bucket="bare")
    assert err(exc) == ("OwnershipControlsNotFoundError", 404, "The bucket ownership controls were not found")
    s3.put_bucket_encryption(Bucket="bare", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
    s3.delete_bucket_encryption(Bucket="bare")  # back to SSE-S3, never "not found"
    assert s3.get_bucket_encryption(Bucket="bare")["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


# -- tagging ---------------------------------------------------------------------------

def test_bucket_tagging(s3):
    s3.create_bucket(Bucket="tagged")
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost center", "Value": "42/a+b=c@d"},
            {"Key": "empty", "Value": ""}]
    s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket="tagged")["TagSet"] == tags
    s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert s3.get_bucket_tagging(Bucket="tagged")["TagSet"] == [{"Key": "only", "Value": "one"}]
    assert s3.delete_bucket_tagging(Bucket="tagged")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert err(fails(s3.get_bucket_tagging, Bucket="tagged"))[0] == "NoSuchTagSet"


@pytest.mark.parametrize("tags,expected", [
    ([{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
     ("InvalidTag", 400, "Cannot provide multiple Tags with the same key")),
    ([{"Key": "aws:reserved", "Value": "x"}], ("InvalidTag", 400, "System tags cannot be added/updated by requester")),
    ([{"Key": "k" * 129, "Value": "x"}], ("InvalidTag", 400, "The TagKey you have provided is invalid")),
    ([{"Key": "k", "Value": "v" * 257}], ("InvalidTag", 400, "The TagValue you have provided is invalid")),
    ([{"Key": "semi;colon", "Value": "x"}], ("InvalidTag", 400, "The TagKey you have provided is invalid")),
    ([{"Key": f"k{i}", "Value": "v"} for i in range(51)],
     ("BadRequest", 400, "Bucket tag count cannot be greater than 50")),
])
def test_bucket_tagging_limits(s3, tags, expected):
    s3.create_bucket(Bucket="tagged")
    assert err(fails(s3.put_bucket_tagging, Bucket="tagged", Tagging={"TagSet": tags})) == expected


def test_tags_given_at_creation(s3):
    s3.create_bucket(Bucket="born-tagged", CreateBucketConfiguration={"Tags": [{"Key": "env", "Value": "test"}]})
    assert s3.get_bucket_tagging(Bucket="born-tagged")["TagSet"] == [{"Key": "env", "Value": "test"}]
    exc = fails(s3.create_bucket, Bucket="badly-tagged",
                CreateBucketConfiguration={"Tags": [{"Key": "aws:x", "Value": "y"}]})
    assert err(exc) == ("InvalidTag", 400, 'User-defined tag keys can\'t start with "aws:". This prefix is reserved '
                                           'for system tags. Remove "aws:" from your tag keys and try again.')


# -- versioning ---------------------------------------------------------------------------

def test_versioning_states(s3):
    s3.create_bucket(Bucket="ver")
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
    got = s3.get_bucket_versioning(Bucket="ver")
    assert got["Status"] == "Enabled" and "MFADelete" not in got
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Suspended"


def test_mfa_delete_needs_mfa(s3):
    s3.create_bucket(Bucket="mfa")
    exc = fails(s3.put_bucket_versioning, Bucket="mfa",
                VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    assert err(exc) == ("AccessDenied", 403, "Mfa Authentication must be used for this request")
    s3.put_bucket_versioning(Bucket="mfa", MFA="arn:aws:iam::000000000000:mfa/root-account-mfa-device 123456",
                             VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="mfa") | {"ResponseMetadata": None} == {
        "Status": "Enabled", "MFADelete": "Enabled", "ResponseMetadata": None}
    exc = fails(s3.put_bucket_versioning, Bucket="mfa", VersioningConfiguration={"Status": "Suspended"})
    assert err(exc)[0] == "AccessDenied"


def test_object_lock_bucket(s3):
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket="locked")["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket="locked")["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"}
    exc = fails(s3.put_bucket_versioning, Bucket="locked", VersioningConfiguration={"Status": "Suspended"})
    assert err(exc) == ("InvalidBucketState", 409, "An Object Lock configuration is present on this bucket, so the "
                                                   "versioning state cannot be changed.")
    rule = {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 5}}
    s3.put_object_lock_configuration(Bucket="locked", ObjectLockConfiguration={"ObjectLockEnabled": "Enabled",
                                                                                "Rule": rule})
    assert s3.get_object_lock_configuration(Bucket="locked")["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled", "Rule": rule}
    exc = fails(s3.put_object_lock_configuration, Bucket="locked", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1, "Years": 1}}})
    assert err(exc)[:2] == ("MalformedXML", 400)
    exc = fails(s3.put_object_lock_configuration, Bucket="locked", ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 0}}})
    assert err(exc) == ("InvalidArgument", 400, "Default retention period must be a positive integer value")


def test_object_lock_on_an_existing_bucket(s3):
    s3.create_bucket(Bucket="later")
    config = {"ObjectLockEnabled": "Enabled"}
    exc = fails(s3.put_object_lock_configuration, Bucket="later", ObjectLockConfiguration=config)
    assert err(exc) == ("InvalidBucketState", 409,
                        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    s3.put_bucket_versioning(Bucket="later", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket="later", ObjectLockConfiguration=config)
    assert s3.get_object_lock_configuration(Bucket="later")["ObjectLockConfiguration"] == config


# -- default encryption ---------------------------------------------------------------------

def test_default_encryption(s3):
    s3.create_bucket(Bucket="enc")
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                             "KMSMasterKeyID": "alias/my-key"},
                      "BucketKeyEnabled": True}]}
    s3.put_bucket_encryption(Bucket="enc", ServerSideEncryptionConfiguration=kms)
    assert s3.get_bucket_encryption(Bucket="enc")["ServerSideEncryptionConfiguration"] == kms
    exc = fails(s3.put_bucket_encryption, Bucket="enc", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}}]})
    assert err(exc) == ("InvalidArgument", 400, "a KMSMasterKeyID is not applicable if the default sse algorithm is "
                                                "not aws:kms or aws:kms:dsse")
    dsse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms:dsse"},
                       "BucketKeyEnabled": False}]}
    s3.put_bucket_encryption(Bucket="enc", ServerSideEncryptionConfiguration=dsse)
    assert s3.get_bucket_encryption(Bucket="enc")["ServerSideEncryptionConfiguration"] == dsse


# -- policies and Block Public Access ----------------------------------------------------------

def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_bucket_policy_round_trip(s3):
    s3.create_bucket(Bucket="pol")
    text = policy({"Sid": "ReadFromB", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                   "Action": ["s3:GetObject", "s3:ListBucket"],
                   "Resource": ["arn:aws:s3:::pol", "arn:aws:s3:::pol/*"]})
    s3.put_bucket_policy(Bucket="pol", Policy=text)
    assert s3.get_bucket_policy(Bucket="pol")["Policy"] == text
    assert s3.get_bucket_policy_status(Bucket="pol")["PolicyStatus"] == {"IsPublic": False}
    assert s3.delete_bucket_policy(Bucket="pol")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert err(fails(s3.get_bucket_policy, Bucket="pol"))[0] == "NoSuchBucketPolicy"


@pytest.mark.parametrize("text,message", [
    ("not json", "Policies must be valid JSON and the first byte must be '{'"),
    ('{"Version": "2012-10-17",', "This policy contains invalid Json"),
    ('{"Version": "2012-10-18", "Statement": []}', "The policy must contain a valid version string"),
    ('{"Version": "2012-10-17"}', "Missing required field Statement"),
    ('{"Version": "2012-10-17", "Statement": []}', "Could not parse the policy: Statement is empty!"),
    ('{"Version": "2012-10-17", "Extra": 1, "Statement": []}', "Invalid policy syntax."),
    (policy({"Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol/*"}),
     "Missing required field Effect"),
    (policy({"Effect": "Maybe", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol/*"}),
     "Invalid effect: Maybe"),
    (policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol/*"}),
     "Missing required field Principal"),
    (policy({"Effect": "Allow", "Principal": {"AWS": "not-an-arn"}, "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::pol/*"}), "Invalid principal in policy"),
    (policy({"Effect": "Allow", "Principal": "*", "Resource": "arn:aws:s3:::pol/*"}), "Missing required field Action"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:CreateMultipartUpload",
             "Resource": "arn:aws:s3:::pol/*"}), "Policy has invalid action"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "arn:aws:s3:::pol/*"}),
     "Policy has invalid action"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}), "Missing required field Resource"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}),
     "Policy has invalid resource"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}),
     "Policy has invalid resource"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol"}),
     "Action does not apply to any resource(s) in statement"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::pol/*"}),
     "Action does not apply to any resource(s) in statement"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:ListAllMyBuckets", "Resource": "arn:aws:s3:::pol"}),
     "Action does not apply to any resource(s) in statement"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol/*",
             "Condition": {"StringEqualz": {"aws:SourceIp": "1.2.3.4"}}}), "Invalid Condition type : StringEqualz"),
    (policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::pol/*",
             "Condition": {"StringEquals": {"s3:no-such-key": "x"}}}), "Policy has an invalid condition key"),
])
def test_malformed_bucket_policies(s3, text, message):
    s3.create_bucket(Bucket="pol")
    assert err(fails(s3.put_bucket_policy, Bucket="pol", Policy=text)) == ("MalformedPolicy", 400, message)


def test_block_public_policy(s3):
    s3.create_bucket(Bucket="public")
    public = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::public/*"})
    exc = fails(s3.put_bucket_policy, Bucket="public", Policy=public)
    assert err(exc) == ("AccessDenied", 403, f"User: arn:aws:iam::{A}:root is not authorized to perform: "
                        's3:PutBucketPolicy on resource: "arn:aws:s3:::public" because public policies are blocked by '
                        "the BlockPublicPolicy block public access setting.")
    # Tied to one source account, "*" is not public.
    fixed = policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public/*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": B}}})
    s3.put_bucket_policy(Bucket="public", Policy=fixed)
    assert s3.get_bucket_policy_status(Bucket="public")["PolicyStatus"]["IsPublic"] is False
    s3.put_public_access_block(Bucket="public", PublicAccessBlockConfiguration={"BlockPublicPolicy": False})
    assert s3.get_public_access_block(Bucket="public")["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": False}
    s3.put_bucket_policy(Bucket="public", Policy=public)
    assert s3.get_bucket_policy_status(Bucket="public")["PolicyStatus"]["IsPublic"] is True
    exc = fails(s3.put_public_access_block, Bucket="public", PublicAccessBlockConfiguration={})
    assert err(exc) == ("InvalidRequest", 400, "Must specify at least one configuration.")


def test_only_the_owner_account_handles_the_policy(cloudlet, s3):
    s3.create_bucket(Bucket="guarded")
    s3.put_bucket_policy(Bucket="guarded", Policy=policy({
        "Effect": "Allow", "Principal": {"AWS": B}, "Action": ["s3:GetBucketPolicy", "s3:PutBucketTagging"],
        "Resource": "arn:aws:s3:::guarded"}))
    other = cloudlet.client("s3", access_key=B)
    other.put_bucket_tagging(Bucket="guarded", Tagging={"TagSet": [{"Key": "from", "Value": "b"}]})
    exc = fails(other.get_bucket_policy, Bucket="guarded")
    assert err(exc) == ("MethodNotAllowed", 405, "The specified method is not allowed against this resource.")


# -- ACLs and Object Ownership ----------------------------------------------------------------

def test_acls_are_off_by_default(s3):
    s3.create_bucket(Bucket="no-acls")
    exc = fails(s3.put_bucket_acl, Bucket="no-acls", ACL="public-read")
    assert err(exc) == ("AccessControlListNotSupported", 400, "The bucket does not allow ACLs")
    s3.put_bucket_acl(Bucket="no-acls", ACL="private")  # the owner's full control is what it already has


def test_bucket_acls_with_object_writer(s3):
    s3.create_bucket(Bucket="acls", ObjectOwnership="ObjectWriter")
    exc = fails(s3.put_bucket_acl, Bucket="acls", ACL="public-read")
    assert err(exc) == ("AccessDenied", 403, "Access Denied")  # BlockPublicAcls
    s3.delete_public_access_block(Bucket="acls")
    s3.put_bucket_acl(Bucket="acls", ACL="public-read")
    owner_id = canonical_id(A)
    assert s3.get_bucket_acl(Bucket="acls")["Grants"] == [
        {"Grantee": {"ID": owner_id, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"}, "Permission": "READ"}]
    other = canonical_id(B)
    s3.put_bucket_acl(Bucket="acls", GrantRead=f'id="{other}"', GrantFullControl=f"id={owner_id}")
    assert s3.get_bucket_acl(Bucket="acls")["Grants"] == [
        {"Grantee": {"ID": owner_id, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"ID": other, "Type": "CanonicalUser"}, "Permission": "READ"}]
    s3.put_bucket_acl(Bucket="acls", AccessControlPolicy={
        "Owner": {"ID": owner_id},
        "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"},
                   {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"},
                    "Permission": "WRITE"}]})
    grants = s3.get_bucket_acl(Bucket="acls")["Grants"]
    assert grants[1] == {"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/s3/LogDelivery"},
                         "Permission": "WRITE"}
    exc = fails(s3.put_bucket_acl, Bucket="acls", GrantRead="uri=http://example.com/group")
    assert err(exc) == ("InvalidArgument", 400, "Invalid group uri")
    exc = fails(s3.put_bucket_acl, Bucket="acls", GrantRead="nonsense")
    assert err(exc) == ("InvalidArgument", 400, "Argument format not recognized")
    exc = fails(s3.put_bucket_acl, Bucket="acls", ACL="private", GrantRead=f"id={other}")
    assert err(exc) == ("InvalidRequest", 400, "Specifying both Canned ACLs and Header Grants is not allowed")
    # Enforcing bucket ownership needs the ACL back to private first.
    exc = fails(s3.put_bucket_ownership_controls, Bucket="acls",
                OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert err(exc) == ("InvalidBucketAclWithObjectOwnership", 400,
                        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    s3.put_bucket_acl(Bucket="acls", ACL="private")
    s3.put_bucket_ownership_controls(Bucket="acls",
                                     OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert s3.get_bucket_ownership_controls(Bucket="acls")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]


def test_acls_at_creation(s3):
    exc = fails(s3.create_bucket, Bucket="acl-create", ACL="public-read")
    assert err(exc) == ("InvalidBucketAclWithObjectOwnership", 400,
                        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    exc = fails(s3.create_bucket, Bucket="acl-create", ACL="public-read", ObjectOwnership="ObjectWriter")
    assert err(exc) == ("InvalidBucketAclWithBlockPublicAccessError", 400,
                        "Bucket cannot have public ACLs set with BlockPublicAccess enabled")
    # "private" is accepted (rclone sends it) and leaves ACLs on, owner preferred.
    s3.create_bucket(Bucket="acl-create", ACL="private")
    assert s3.get_bucket_ownership_controls(Bucket="acl-create")["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}]
    exc = fails(s3.create_bucket, Bucket="acl-bad-owner", ObjectOwnership="Nobody")
    assert err(exc)[:2] == ("InvalidArgument", 400)


# -- CORS ------------------------------------------------------------------------------------------

def test_cors(s3):
    s3.create_bucket(Bucket="cors")
    rules = [{"ID": "web", "AllowedHeaders": ["*"], "AllowedMethods": ["GET", "PUT"],
              "AllowedOrigins": ["https://*.example.com"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3000},
             {"AllowedMethods": ["HEAD"], "AllowedOrigins": ["*"]}]
    s3.put_bucket_cors(Bucket="cors", CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket="cors")["CORSRules"] == rules
    exc = fails(s3.put_bucket_cors, Bucket="cors", CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}]})
    assert err(exc) == ("InvalidRequest", 400, "Found unsupported HTTP method in CORS config. Unsupported method is "
                                               "PATCH")
    exc = fails(s3.put_bucket_cors, Bucket="cors", CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["https://*.*.example.com"]}]})
    assert err(exc) == ("InvalidRequest", 400, 'AllowedOrigin "https://*.*.example.com" can not have more than one '
                                               "wildcard.")
    exc = fails(s3.put_bucket_cors, Bucket="cors", CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}] * 101})
    assert err(exc)[:2] == ("MalformedXML", 400)
    s3.delete_bucket_cors(Bucket="cors")
    assert err(fails(s3.get_bucket_cors, Bucket="cors"))[0] == "NoSuchCORSConfiguration"


# -- lifecycle ---------------------------------------------------------------------------------------

def test_lifecycle_round_trip(s3):
    s3.create_bucket(Bucket="life")
    rules = [
        {"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 365},
         "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 90, "StorageClass": "GLACIER"}]},
        {"ID": "tmp", "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "t", "Value": "1"}],
                                         "ObjectSizeGreaterThan": 10}},
         "Status": "Disabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}},
        {"ID": "uploads", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3},
         "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)}},
    ]
    put = s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": rules})
    assert put["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    got = s3.get_bucket_lifecycle_configuration(Bucket="life")
    assert got["Rules"] == rules
    assert got["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    s3.delete_bucket_lifecycle(Bucket="life")
    assert err(fails(s3.get_bucket_lifecycle_configuration, Bucket="life"))[0] == "NoSuchLifecycleConfiguration"


def test_lifecycle_rule_without_an_id_gets_one(s3):
    s3.create_bucket(Bucket="life")
    s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [
        {"Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 1}}]})
    rule = s3.get_bucket_lifecycle_configuration(Bucket="life")["Rules"][0]
    assert len(rule["ID"]) > 0


@pytest.mark.parametrize("rule,expected", [
    ({"ID": "r", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 0}},
     ("InvalidArgument", "'Days' for Expiration action must be a positive integer")),
    ({"ID": "r", "Filter": {}, "Status": "Enabled",
      "Expiration": {"Date": datetime.datetime(2030, 1, 1, 12, tzinfo=datetime.timezone.utc)}},
     ("InvalidArgument", "'Date' must be at midnight GMT")),
    ({"ID": "r", "Filter": {}, "Status": "Enabled"},
     ("InvalidArgument", "At least one action needs to be specified in a rule")),
    ({"ID": "r", "Filter": {"Prefix": "a/"}, "Status": "Enabled", "Transitions": [{"Days": 10,
                                                                                  "StorageClass": "STANDARD_IA"}]},
     ("InvalidArgument", "'Days' in Transition action must be greater than or equal to 30 for storageClass "
                         "'STANDARD_IA'")),
    ({"ID": "r", "Filter": {"Prefix": "a/"}, "Status": "Enabled", "Expiration": {"Days": 30},
      "Transitions": [{"Days": 60, "StorageClass": "GLACIER"}]},
     ("InvalidArgument", "'Days' in the Expiration action for filter '(prefix=a/)' must be greater than 'Days' in "
                         "the Transition action")),
    ({"ID": "r", "Filter": {"Tag": {"Key": "k", "Value": "v"}}, "Status": "Enabled",
      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
     ("InvalidRequest", "AbortIncompleteMultipartUpload cannot be specified with Tags.")),
    ({"ID": "r", "Filter": {"And": {"Tags": [{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}]}},
      "Status": "Enabled", "Expiration": {"Days": 1}}, ("InvalidRequest", "Duplicate Tag Keys are not allowed.")),
    ({"ID": "x" * 256, "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}},
     ("InvalidArgument", "ID length should not exceed allowed limit of 255")),
    ({"ID": "r", "Filter": {"Prefix": "a"}, "Prefix": "b", "Status": "Enabled", "Expiration": {"Days": 1}},
     ("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")),
    ({"ID": "r", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1, "ExpiredObjectDeleteMarker": True}},
     ("MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")),
])
def test_lifecycle_rule_errors(s3, rule, expected):
    s3.create_bucket(Bucket="life")
    exc = fails(s3.put_bucket_lifecycle_configuration, Bucket="life", LifecycleConfiguration={"Rules": [rule]})
    assert (err(exc)[0], err(exc)[2]) == expected
    assert err(exc)[1] == 400


def test_lifecycle_duplicate_ids(s3):
    s3.create_bucket(Bucket="life")
    rule = {"ID": "same", "Filter": {}, "Status": "Enabled", "Expiration": {"Days": 1}}
    exc = fails(s3.put_bucket_lifecycle_configuration, Bucket="life", LifecycleConfiguration={"Rules": [rule, rule]})
    assert err(exc) == ("InvalidArgument", 400, "Rule ID must be unique. Found same ID for more than one rule")


# -- event notifications -------------------------------------------------------------------------------

def test_notification_configuration(cloudlet, s3):
    s3.create_bucket(Bucket="events")
    queue = queue_with_policy(cloudlet, "s3-events")
    config = {"QueueConfigurations": [{"Id": "new-logs", "QueueArn": queue, "Events": ["s3:ObjectCreated:*"],
                                       "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "logs/"},
                                                                          {"Name": "Suffix", "Value": ".gz"}]}}}]}
    s3.put_bucket_notification_configuration(Bucket="events", NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket="events")
    assert got["QueueConfigurations"] == [{
        "Id": "new-logs", "QueueArn": queue, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "Prefix", "Value": "logs/"}, {"Name": "Suffix", "Value": ".gz"}]}}}]
    # Without an Id, S3 makes one up; an empty configuration turns notifications off.
    s3.put_bucket_notification_configuration(Bucket="events", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectRemoved:Delete"]}]})
    assert s3.get_bucket_notification_configuration(Bucket="events")["QueueConfigurations"][0]["Id"]
    s3.put_bucket_notification_configuration(Bucket="events", NotificationConfiguration={})
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket="events")


def test_notification_destinations_are_validated(cloudlet, s3):
    s3.create_bucket(Bucket="events")
    missing = f"arn:aws:sqs:us-east-1:{A}:no-such-queue"
    config = {"QueueConfigurations": [{"QueueArn": missing, "Events": ["s3:ObjectCreated:Put"]}]}
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration=config)
    assert err(exc) == ("InvalidArgument", 400, "Unable to validate the following destination configurations")
    assert exc.value.response["Error"]["ArgumentName"] == missing
    assert exc.value.response["Error"]["ArgumentValue"] == "The destination queue does not exist"
    closed = queue_with_policy(cloudlet, "closed", policy=False)
    config = {"QueueConfigurations": [{"QueueArn": closed, "Events": ["s3:ObjectCreated:Put"]}]}
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration=config)
    assert exc.value.response["Error"]["ArgumentValue"] == ("Permissions on the destination queue do not allow S3 to "
                                                            "publish notifications from this bucket")
    s3.put_bucket_notification_configuration(Bucket="events", NotificationConfiguration=config,
                                             SkipDestinationValidation=True)
    topic = f"arn:aws:sns:us-east-1:{A}:no-topic"
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    assert exc.value.response["Error"]["ArgumentValue"] == "The destination topic does not exist"


def test_notification_configuration_errors(cloudlet, s3):
    s3.create_bucket(Bucket="events")
    queue = queue_with_policy(cloudlet, "q")
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:Everything"]}]})
    assert err(exc) == ("InvalidArgument", 400, "The event is not supported for notifications")
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "middle", "Value": "x"}]}}}]})
    assert err(exc) == ("InvalidArgument", 400, "filter rule name must be either prefix or suffix")
    overlapping = {"QueueConfigurations": [
        {"QueueArn": queue, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/"}]}}},
        {"QueueArn": queue, "Events": ["s3:ObjectCreated:Put"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "a/b/"}]}}}]}
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration=overlapping)
    assert err(exc) == ("InvalidArgument", 400, "Configuration is ambiguously defined. Cannot have overlapping "
                        "suffixes in two rules if the prefixes are overlapping for the same event type.")
    exc = fails(s3.put_bucket_notification_configuration, Bucket="events", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": "not-an-arn", "Events": ["s3:ObjectCreated:*"]}]})
    assert err(exc) == ("InvalidArgument", 400, "The ARN could not be parsed")


# -- website, logging, request payment, acceleration ------------------------------------------------------

def test_website(s3):
    s3.create_bucket(Bucket="site")
    config = {"IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "error.html"},
              "RoutingRules": [{"Condition": {"KeyPrefixEquals": "docs/"},
                                "Redirect": {"ReplaceKeyPrefixWith": "documents/", "HttpRedirectCode": "301"}}]}
    s3.put_bucket_website(Bucket="site", WebsiteConfiguration=config)
    got = s3.get_bucket_website(Bucket="site")
    assert {k: got[k] for k in config} == config
    exc = fails(s3.put_bucket_website, Bucket="site", WebsiteConfiguration={"ErrorDocument": {"Key": "e.html"}})
    assert err(exc) == ("InvalidArgument", 400, "A value for IndexDocument Suffix must be provided if "
                                                "RedirectAllRequestsTo is empty")
    exc = fails(s3.put_bucket_website, Bucket="site", WebsiteConfiguration={"IndexDocument": {"Suffix": "a/b"}})
    assert err(exc) == ("InvalidArgument", 400, "The IndexDocument Suffix is not well formed")
    s3.put_bucket_website(Bucket="site", WebsiteConfiguration={"RedirectAllRequestsTo": {"HostName": "example.com",
                                                                                         "Protocol": "https"}})
    assert s3.get_bucket_website(Bucket="site")["RedirectAllRequestsTo"] == {"HostName": "example.com",
                                                                            "Protocol": "https"}
    s3.delete_bucket_website(Bucket="site")
    assert err(fails(s3.get_bucket_website, Bucket="site"))[0] == "NoSuchWebsiteConfiguration"


def test_logging(cloudlet, s3):
    s3.create_bucket(Bucket="source")
    exc = fails(s3.put_bucket_logging, Bucket="source", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "no-such-target", "TargetPrefix": "logs/"}})
    assert err(exc) == ("InvalidTargetBucketForLogging", 400, "The target bucket for logging does not exist")
    cloudlet.client("s3", access_key=B).create_bucket(Bucket="someone-elses")
    exc = fails(s3.put_bucket_logging, Bucket="source", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "someone-elses", "TargetPrefix": "logs/"}})
    assert err(exc) == ("InvalidTargetBucketForLogging", 400, "The owner for the bucket to be logged and the target "
                                                              "bucket must be the same.")
    s3.create_bucket(Bucket="far-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    exc = fails(s3.put_bucket_logging, Bucket="source", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "far-logs", "TargetPrefix": "logs/"}})
    assert err(exc)[:2] == ("CrossLocationLoggingProhibitted", 403)
    s3.create_bucket(Bucket="logs")
    enabled = {"TargetBucket": "logs", "TargetPrefix": "source/",
               "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}
    s3.put_bucket_logging(Bucket="source", BucketLoggingStatus={"LoggingEnabled": enabled})
    assert s3.get_bucket_logging(Bucket="source")["LoggingEnabled"] == enabled
    s3.put_bucket_logging(Bucket="source", BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="source")


def test_request_payment_and_acceleration(s3):
    s3.create_bucket(Bucket="payer")
    s3.put_bucket_request_payment(Bucket="payer", RequestPaymentConfiguration={"Payer": "Requester"})
    assert s3.get_bucket_request_payment(Bucket="payer")["Payer"] == "Requester"
    s3.put_bucket_accelerate_configuration(Bucket="payer", AccelerateConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_accelerate_configuration(Bucket="payer")["Status"] == "Enabled"
    s3.create_bucket(Bucket="with.dots")
    exc = fails(s3.put_bucket_accelerate_configuration, Bucket="with.dots",
                AccelerateConfiguration={"Status": "Enabled"})
    assert err(exc) == ("InvalidRequest", 400, "S3 Transfer Acceleration is not supported for buckets with periods "
                                               "(.) in their names")


# -- replication -----------------------------------------------------------------------------------------------

def test_replication(s3):
    s3.create_bucket(Bucket="src")
    rule = {"ID": "all", "Priority": 1, "Filter": {"Prefix": ""}, "Status": "Enabled",
            "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": "arn:aws:s3:::dst"}}
    config = {"Role": f"arn:aws:iam::{A}:role/replication", "Rules": [rule]}
    exc = fails(s3.put_bucket_replication, Bucket="src", ReplicationConfiguration=config)
    assert err(exc) == ("InvalidRequest", 400, "Versioning must be 'Enabled' on the bucket to apply a replication "
                                               "configuration")
    s3.put_bucket_versioning(Bucket="src", VersioningConfiguration={"Status": "Enabled"})
    exc = fails(s3.put_bucket_replication, Bucket="src", ReplicationConfiguration=config)
    assert err(exc) == ("InvalidRequest", 400, "Destination bucket must exist.")
    s3.create_bucket(Bucket="dst")
    exc = fails(s3.put_bucket_replication, Bucket="src", ReplicationConfiguration=config)
    assert err(exc) == ("InvalidRequest", 400, "Destination bucket must have versioning enabled.")
    s3.put_bucket_versioning(Bucket="dst", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_replication(Bucket="src", ReplicationConfiguration=config)
    assert s3.get_bucket_replication(Bucket="src")["ReplicationConfiguration"] == config
    s3.delete_bucket_replication(Bucket="src")
    assert err(fails(s3.get_bucket_replication, Bucket="src"))[0] == "ReplicationConfigurationNotFoundError"


# -- configurations by Id ---------------------------------------------------------------------------------------

def test_metrics_configurations(s3):
    s3.create_bucket(Bucket="reports")
    for i in range(105):
        s3.put_bucket_metrics_configuration(Bucket="reports", Id=f"m{i:03d}", MetricsConfiguration={
            "Id": f"m{i:03d}", "Filter": {"Prefix": f"p{i}/"}})
    got = s3.get_bucket_metrics_configuration(Bucket="reports", Id="m007")["MetricsConfiguration"]
    assert got == {"Id": "m007", "Filter": {"Prefix": "p7/"}}
    first = s3.list_bucket_metrics_configurations(Bucket="reports")
    assert first["IsTruncated"] is True and len(first["MetricsConfigurationList"]) == 100
    second = s3.list_bucket_metrics_configurations(Bucket="reports",
                                                   ContinuationToken=first["NextContinuationToken"])
    assert second["IsTruncated"] is False
    assert [c["Id"] for c in second["MetricsConfigurationList"]] == ["m100", "m101", "m102", "m103", "m104"]
    s3.delete_bucket_metrics_configuration(Bucket="reports", Id="m007")
    exc = fails(s3.get_bucket_metrics_configuration, Bucket="reports", Id="m007")
    assert err(exc) == ("NoSuchConfiguration", 404, "The specified configuration does not exist.")
    exc = fails(s3.delete_bucket_metrics_configuration, Bucket="reports", Id="m007")
    assert err(exc)[0] == "NoSuchConfiguration"


def test_inventory_analytics_and_tiering_configurations(s3):
    s3.create_bucket(Bucket="reports")
    inventory = {"Id": "weekly", "IsEnabled": True, "IncludedObjectVersions": "Current",
                 "Destination": {"S3BucketDestination": {"Bucket": "arn:aws:s3:::reports", "Format": "CSV",
                                                         "Prefix": "inventory"}},
                 "Schedule": {"Frequency": "Weekly"}, "OptionalFields": ["Size", "ETag"]}
    s3.put_bucket_inventory_configuration(Bucket="reports", Id="weekly", InventoryConfiguration=inventory)
    assert s3.get_bucket_inventory_configuration(Bucket="reports", Id="weekly")["InventoryConfiguration"] == inventory
    exc = fails(s3.put_bucket_inventory_configuration, Bucket="reports", Id="other", InventoryConfiguration=inventory)
    assert err(exc) == ("IdMismatch", 400, "Document ID does not match the specified configuration ID.")
    bad = {**inventory, "Destination": {"S3BucketDestination": {"Bucket": "reports", "Format": "CSV"}}}
    exc = fails(s3.put_bucket_inventory_configuration, Bucket="reports", Id="weekly", InventoryConfiguration=bad)
    assert err(exc) == ("InvalidS3DestinationBucket", 400, "Invalid bucket ARN.")
    listed = s3.list_bucket_inventory_configurations(Bucket="reports")
    assert listed["InventoryConfigurationList"] == [inventory] and listed["IsTruncated"] is False
    analytics = {"Id": "a1", "Filter": {"Prefix": "data/"}, "StorageClassAnalysis": {}}
    s3.put_bucket_analytics_configuration(Bucket="reports", Id="a1", AnalyticsConfiguration=analytics)
    assert s3.get_bucket_analytics_configuration(Bucket="reports", Id="a1")["AnalyticsConfiguration"] == analytics
    exc = fails(s3.put_bucket_analytics_configuration, Bucket="reports", Id="a2", AnalyticsConfiguration=analytics)
    assert err(exc)[:2] == ("MalformedXML", 400)
    tiering = {"Id": "cold", "Status": "Enabled", "Tierings": [{"Days": 90, "AccessTier": "ARCHIVE_ACCESS"}]}
    s3.put_bucket_intelligent_tiering_configuration(Bucket="reports", Id="cold",
                                                    IntelligentTieringConfiguration=tiering)
    assert s3.list_bucket_intelligent_tiering_configurations(Bucket="reports")[
        "IntelligentTieringConfigurationList"] == [tiering]
    s3.delete_bucket_intelligent_tiering_configuration(Bucket="reports", Id="cold")
    assert "IntelligentTieringConfigurationList" not in s3.list_bucket_intelligent_tiering_configurations(
        Bucket="reports")
