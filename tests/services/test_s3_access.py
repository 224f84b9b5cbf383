"""Who may use a bucket and its objects: IAM policies, bucket policies,
anonymous callers, other accounts, Block Public Access, ACLs and S3's
condition keys, against a live server. S3 explains a denial only to callers
of the bucket owner's account (the resource quoted); others read "Access
Denied"."""

from __future__ import annotations

import json

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import allow, doc, user_with

A = "000000000000"
B = "222222222222"


def err(exc) -> tuple:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message")


def fails(call, *args, **kw):
    with pytest.raises(ClientError) as exc:
        call(*args, **kw)
    return exc


def denied(arn: str, action: str, resource: str | None, why: str) -> tuple:
    where = f' on resource: "{resource}"' if resource else ""
    return "AccessDenied", 403, f"User: {arn} is not authorized to perform: {action}{where} {why}"


NO_IDENTITY = "because no identity-based policy allows the {} action"
PLAIN = ("AccessDenied", 403, "Access Denied")


def bucket_policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def open_to_policies(s3, bucket: str) -> None:
    """Lift Block Public Access so a public policy may be set."""
    s3.delete_public_access_block(Bucket=bucket)


@pytest.fixture
def s3(cloudlet):
    return cloudlet.client("s3")


@pytest.fixture
def anonymous(cloudlet):
    return cloudlet.client("s3", signature_version=UNSIGNED)


# -- identity policies --------------------------------------------------------------

def test_identity_policy_on_one_bucket(cloudlet, s3):
    for name in ("mine", "theirs"):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "k", "Value": name}]})
    me, arn = user_with(cloudlet, "reader", doc(allow("s3:GetBucketTagging", "arn:aws:s3:::mine")))
    user = me("s3")
    assert user.get_bucket_tagging(Bucket="mine")["TagSet"] == [{"Key": "k", "Value": "mine"}]
    exc = fails(user.get_bucket_tagging, Bucket="theirs")
    assert err(exc) == denied(arn, "s3:GetBucketTagging", "arn:aws:s3:::theirs",
                              NO_IDENTITY.format("s3:GetBucketTagging"))
    exc = fails(user.put_bucket_tagging, Bucket="mine", Tagging={"TagSet": []})
    assert err(exc) == denied(arn, "s3:PutBucketTagging", "arn:aws:s3:::mine",
                              NO_IDENTITY.format("s3:PutBucketTagging"))
    exc = fails(user.list_buckets)
    assert err(exc) == denied(arn, "s3:ListAllMyBuckets", None, NO_IDENTITY.format("s3:ListAllMyBuckets"))
    exc = fails(user.head_bucket, Bucket="mine")  # HeadBucket is s3:ListBucket; HEAD answers have no body
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_operations_map_to_s3_actions(cloudlet, s3):
    s3.create_bucket(Bucket="mapped")
    me, arn = user_with(cloudlet, "mapper", doc(allow(["s3:ListBucket", "s3:GetEncryptionConfiguration",
                                                        "s3:GetLifecycleConfiguration"], "arn:aws:s3:::mapped")))
    user = me("s3")
    assert user.head_bucket(Bucket="mapped")["BucketRegion"] == "us-east-1"
    assert user.get_bucket_encryption(Bucket="mapped")["ServerSideEncryptionConfiguration"]["Rules"]
    assert err(fails(user.get_bucket_lifecycle_configuration, Bucket="mapped"))[0] == "NoSuchLifecycleConfiguration"
    exc = fails(user.delete_bucket_encryption, Bucket="mapped")
    assert err(exc) == denied(arn, "s3:PutEncryptionConfiguration", "arn:aws:s3:::mapped",
                              NO_IDENTITY.format("s3:PutEncryptionConfiguration"))
    exc = fails(user.delete_public_access_block, Bucket="mapped")
    assert err(exc) == denied(arn, "s3:PutBucketPublicAccessBlock", "arn:aws:s3:::mapped",
                              NO_IDENTITY.format("s3:PutBucketPublicAccessBlock"))


def test_create_bucket_with_object_lock_needs_more_than_create_bucket(cloudlet):
    me, arn = user_with(cloudlet, "creator", doc(allow("s3:CreateBucket")))
    user = me("s3")
    user.create_bucket(Bucket="plain-new")
    exc = fails(user.create_bucket, Bucket="locked-new", ObjectLockEnabledForBucket=True)
    assert err(exc) == denied(arn, "s3:PutBucketObjectLockConfiguration", "arn:aws:s3:::locked-new",
                              NO_IDENTITY.format("s3:PutBucketObjectLockConfiguration"))


# -- bucket policies ------------------------------------------------------------------

def test_bucket_policy_denies_a_user(cloudlet, s3):
    s3.create_bucket(Bucket="shared")
    me, arn = user_with(cloudlet, "blocked", doc(allow("s3:*")))
    s3.put_bucket_policy(Bucket="shared", Policy=bucket_policy({
        "Effect": "Deny", "Principal": {"AWS": arn}, "Action": "s3:PutBucketTagging",
        "Resource": "arn:aws:s3:::shared"}))
    user = me("s3")
    user.get_bucket_versioning(Bucket="shared")
    exc = fails(user.put_bucket_tagging, Bucket="shared", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert err(exc) == denied(arn, "s3:PutBucketTagging", "arn:aws:s3:::shared",
                              "with an explicit deny in a resource-based policy")
    s3.put_bucket_tagging(Bucket="shared", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})  # the root is not named


def test_bucket_policy_alone_lets_a_user_of_the_account_in(cloudlet, s3):
    s3.create_bucket(Bucket="granted")
    me, arn = user_with(cloudlet, "nobody")
    s3.put_bucket_policy(Bucket="granted", Policy=bucket_policy({
        "Effect": "Allow", "Principal": {"AWS": arn}, "Action": "s3:GetBucketVersioning",
        "Resource": "arn:aws:s3:::granted"}))
    assert me("s3").get_bucket_versioning(Bucket="granted")["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_owner_root_keeps_the_policy_operations(s3):
    s3.create_bucket(Bucket="locked-out")
    s3.put_bucket_policy(Bucket="locked-out", Policy=bucket_policy({
        "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::locked-out", "arn:aws:s3:::locked-out/*"]}))
    exc = fails(s3.get_bucket_versioning, Bucket="locked-out")
    assert err(exc) == denied(f"arn:aws:iam::{A}:root", "s3:GetBucketVersioning", "arn:aws:s3:::locked-out",
                              "with an explicit deny in a resource-based policy")
    assert json.loads(s3.get_bucket_policy(Bucket="locked-out")["Policy"])["Statement"][0]["Effect"] == "Deny"
    s3.delete_bucket_policy(Bucket="locked-out")
    s3.get_bucket_versioning(Bucket="locked-out")


def test_secure_transport_condition(s3):
    s3.create_bucket(Bucket="tls-only")
    s3.put_bucket_policy(Bucket="tls-only", Policy=bucket_policy({
        "Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}))
    # cloudlet serves plain HTTP: the condition holds.
    exc = fails(s3.put_bucket_tagging, Bucket="tls-only", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert err(exc) == denied(f"arn:aws:iam::{A}:root", "s3:PutBucketTagging", "arn:aws:s3:::tls-only",
                              "with an explicit deny in a resource-based policy")

    def behind_tls(request, **_):
        request.headers["X-Forwarded-Proto"] = "https"  # a TLS-terminating proxy in front

    s3.meta.events.register("before-sign.s3.PutBucketTagging", behind_tls)
    s3.put_bucket_tagging(Bucket="tls-only", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})


def test_condition_on_a_request_value(cloudlet, s3):
    s3.create_bucket(Bucket="conditional")
    me, arn = user_with(cloudlet, "creator", doc(allow("s3:CreateBucket", "*", Condition={
        "StringEquals": {"s3:LocationConstraint": "eu-west-1"}})))
    user = me("s3")
    user.create_bucket(Bucket="in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    exc = fails(user.create_bucket, Bucket="in-virginia")
    assert err(exc) == denied(arn, "s3:CreateBucket", "arn:aws:s3:::in-virginia",
                              NO_IDENTITY.format("s3:CreateBucket"))


# -- anonymous callers and Block Public Access ---------------------------------------------

def test_anonymous_needs_a_public_policy(s3, anonymous):
    s3.create_bucket(Bucket="open")
    exc = fails(anonymous.head_bucket, Bucket="open")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    exc = fails(anonymous.get_bucket_tagging, Bucket="open")
    assert err(exc) == PLAIN
    public = bucket_policy({"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket",
                            "Resource": "arn:aws:s3:::open"})
    exc = fails(s3.put_bucket_policy, Bucket="open", Policy=public)  # BlockPublicPolicy, on by default
    assert err(exc)[:2] == ("AccessDenied", 403)
    open_to_policies(s3, "open")
    s3.put_bucket_policy(Bucket="open", Policy=public)
    assert anonymous.head_bucket(Bucket="open")["BucketRegion"] == "us-east-1"
    assert err(fails(anonymous.get_bucket_tagging, Bucket="open")) == PLAIN
    exc = fails(anonymous.list_buckets)
    assert err(exc) == PLAIN
    # RestrictPublicBuckets: a public policy no longer serves outsiders.
    s3.put_public_access_block(Bucket="open", PublicAccessBlockConfiguration={"RestrictPublicBuckets": True})
    exc = fails(anonymous.head_bucket, Bucket="open")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_anonymous_get_object_through_a_public_policy(s3, anonymous):
    s3.create_bucket(Bucket="website")
    s3.put_object(Bucket="website", Key="index.html", Body=b"<h1>hello</h1>")
    s3.put_object(Bucket="website", Key="private/secret.txt", Body=b"no")
    exc = fails(anonymous.get_object, Bucket="website", Key="index.html")
    assert err(exc) == PLAIN
    open_to_policies(s3, "website")
    s3.put_bucket_policy(Bucket="website", Policy=bucket_policy({
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::website/*"}, {
        "Sid": "NotThat", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::website/private/*"}))
    assert anonymous.get_object(Bucket="website", Key="index.html")["Body"].read() == b"<h1>hello</h1>"
    assert err(fails(anonymous.get_object, Bucket="website", Key="private/secret.txt")) == PLAIN
    assert err(fails(anonymous.put_object, Bucket="website", Key="vandal.html", Body=b"x")) == PLAIN


def test_bucket_acl_grants_anonymous_read(s3, anonymous):
    s3.create_bucket(Bucket="acl-read", ObjectOwnership="ObjectWriter")
    s3.delete_public_access_block(Bucket="acl-read")
    s3.put_bucket_acl(Bucket="acl-read", ACL="public-read")
    assert anonymous.head_bucket(Bucket="acl-read")["BucketRegion"] == "us-east-1"  # READ is s3:ListBucket
    assert err(fails(anonymous.get_bucket_acl, Bucket="acl-read")) == PLAIN  # READ_ACP was not granted
    s3.put_public_access_block(Bucket="acl-read", PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    exc = fails(anonymous.head_bucket, Bucket="acl-read")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    s3.delete_public_access_block(Bucket="acl-read")
    s3.put_bucket_ownership_controls(Bucket="acl-read", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    assert anonymous.head_bucket(Bucket="acl-read")["BucketRegion"] == "us-east-1"


# -- other accounts ---------------------------------------------------------------------------

def test_cross_account_needs_both_sides(cloudlet):
    owner = cloudlet.client("s3", access_key=B)
    owner.create_bucket(Bucket="b-data")
    owner.put_bucket_tagging(Bucket="b-data", Tagging={"TagSet": [{"Key": "owner", "Value": "b"}]})
    me, arn = user_with(cloudlet, "visitor", doc(allow("s3:GetBucketTagging", "arn:aws:s3:::b-data")))
    user = me("s3")
    root_a = cloudlet.client("s3", access_key=A)
    assert err(fails(user.get_bucket_tagging, Bucket="b-data")) == PLAIN
    assert err(fails(root_a.get_bucket_tagging, Bucket="b-data")) == PLAIN
    owner.put_bucket_policy(Bucket="b-data", Policy=bucket_policy({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "s3:GetBucketTagging",
        "Resource": "arn:aws:s3:::b-data"}))
    assert user.get_bucket_tagging(Bucket="b-data")["TagSet"] == [{"Key": "owner", "Value": "b"}]
    assert root_a.get_bucket_tagging(Bucket="b-data")["TagSet"] == [{"Key": "owner", "Value": "b"}]
    no_identity, _ = user_with(cloudlet, "stranger")
    assert err(fails(no_identity("s3").get_bucket_tagging, Bucket="b-data")) == PLAIN
    assert err(fails(root_a.put_bucket_tagging, Bucket="b-data", Tagging={"TagSet": []})) == PLAIN
    assert [b["Name"] for b in root_a.list_buckets()["Buckets"]] == []


def test_cross_account_object_access(cloudlet):
    owner = cloudlet.client("s3", access_key=B)
    owner.create_bucket(Bucket="b-objects")
    owner.put_object(Bucket="b-objects", Key="shared/report.csv", Body=b"a,b\n")
    owner.put_object(Bucket="b-objects", Key="other/x", Body=b"x")
    me, arn = user_with(cloudlet, "analyst", doc(allow("s3:GetObject", "arn:aws:s3:::b-objects/*")))
    user = me("s3")
    assert err(fails(user.get_object, Bucket="b-objects", Key="shared/report.csv")) == PLAIN
    owner.put_bucket_policy(Bucket="b-objects", Policy=bucket_policy({
        "Effect": "Allow", "Principal": {"AWS": A}, "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::b-objects/shared/*"}))
    assert user.get_object(Bucket="b-objects", Key="shared/report.csv")["Body"].read() == b"a,b\n"
    assert err(fails(user.get_object, Bucket="b-objects", Key="other/x")) == PLAIN


# -- objects ------------------------------------------------------------------------------------

def test_user_reads_one_prefix_only(cloudlet, s3):
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="public/a.txt", Body=b"a")
    s3.put_object(Bucket="data", Key="private/b.txt", Body=b"b")
    me, arn = user_with(cloudlet, "prefix-reader", doc(
        allow("s3:GetObject", "arn:aws:s3:::data/public/*"),
        allow("s3:ListBucket", "arn:aws:s3:::data", Condition={"StringLike": {"s3:prefix": "public/*"}})))
    user = me("s3")
    assert user.get_object(Bucket="data", Key="public/a.txt")["Body"].read() == b"a"
    assert user.head_object(Bucket="data", Key="public/a.txt")["ContentLength"] == 1
    exc = fails(user.get_object, Bucket="data", Key="private/b.txt")
    assert err(exc) == denied(arn, "s3:GetObject", "arn:aws:s3:::data/private/b.txt",
                              NO_IDENTITY.format("s3:GetObject"))
    exc = fails(user.head_object, Bucket="data", Key="private/b.txt")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    listed = user.list_objects_v2(Bucket="data", Prefix="public/")
    assert [o["Key"] for o in listed["Contents"]] == ["public/a.txt"]
    exc = fails(user.list_objects_v2, Bucket="data")
    assert err(exc) == denied(arn, "s3:ListBucket", "arn:aws:s3:::data", NO_IDENTITY.format("s3:ListBucket"))
    exc = fails(user.put_object, Bucket="data", Key="public/new.txt", Body=b"n")
    assert err(exc) == denied(arn, "s3:PutObject", "arn:aws:s3:::data/public/new.txt",
                              NO_IDENTITY.format("s3:PutObject"))


def test_a_version_needs_the_version_action(cloudlet, s3):
    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="versioned", Key="doc", Body=b"v1")["VersionId"]
    me, arn = user_with(cloudlet, "latest-only", doc(allow("s3:GetObject", "arn:aws:s3:::versioned/*")))
    user = me("s3")
    assert user.get_object(Bucket="versioned", Key="doc")["Body"].read() == b"v1"
    exc = fails(user.get_object, Bucket="versioned", Key="doc", VersionId=version)
    assert err(exc) == denied(arn, "s3:GetObjectVersion", "arn:aws:s3:::versioned/doc",
                              NO_IDENTITY.format("s3:GetObjectVersion"))


def test_delete_objects_checks_each_key(cloudlet, s3):
    s3.create_bucket(Bucket="cleanup")
    for key in ("tmp/a", "keep/b"):
        s3.put_object(Bucket="cleanup", Key=key, Body=b"x")
    me, arn = user_with(cloudlet, "janitor", doc(allow("s3:DeleteObject", "arn:aws:s3:::cleanup/tmp/*")))
    result = me("s3").delete_objects(Bucket="cleanup", Delete={"Objects": [{"Key": "tmp/a"}, {"Key": "keep/b"}]})
    assert [d["Key"] for d in result["Deleted"]] == ["tmp/a"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("keep/b", "AccessDenied")]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="cleanup")["Contents"]] == ["keep/b"]


def test_copy_needs_read_on_the_source(cloudlet, s3):
    s3.create_bucket(Bucket="copies")
    s3.put_object(Bucket="copies", Key="secret", Body=b"s")
    s3.put_object(Bucket="copies", Key="open", Body=b"o")
    me, arn = user_with(cloudlet, "copier", doc(allow("s3:PutObject", "arn:aws:s3:::copies/*"),
                                                allow("s3:GetObject", "arn:aws:s3:::copies/open")))
    user = me("s3")
    user.copy_object(Bucket="copies", Key="open-copy", CopySource={"Bucket": "copies", "Key": "open"})
    exc = fails(user.copy_object, Bucket="copies", Key="secret-copy", CopySource={"Bucket": "copies", "Key": "secret"})
    assert err(exc) == denied(arn, "s3:GetObject", "arn:aws:s3:::copies/secret", NO_IDENTITY.format("s3:GetObject"))


def test_object_tag_conditions(cloudlet, s3):
    s3.create_bucket(Bucket="tagged-objects")
    s3.put_object(Bucket="tagged-objects", Key="public", Body=b"p", Tagging="class=public")
    s3.put_object(Bucket="tagged-objects", Key="secret", Body=b"s", Tagging="class=secret")
    me, arn = user_with(cloudlet, "tag-reader", doc(
        allow("s3:GetObject", "arn:aws:s3:::tagged-objects/*",
              Condition={"StringEquals": {"s3:ExistingObjectTag/class": "public"}}),
        allow("s3:PutObject", "arn:aws:s3:::tagged-objects/*",
              Condition={"StringEquals": {"s3:RequestObjectTag/class": "draft"}})))
    user = me("s3")
    assert user.get_object(Bucket="tagged-objects", Key="public")["Body"].read() == b"p"
    assert err(fails(user.get_object, Bucket="tagged-objects", Key="secret"))[0] == "AccessDenied"
    user.put_object(Bucket="tagged-objects", Key="new", Body=b"n", Tagging="class=draft")
    assert err(fails(user.put_object, Bucket="tagged-objects", Key="newer", Body=b"n"))[0] == "AccessDenied"
