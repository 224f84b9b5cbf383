"""CloudTrail against a live server: every call recorded (who, what, from
where, how it ended), read back with LookupEvents; trails, their
validation and their event selectors deciding which data events are kept."""

from __future__ import annotations

import gzip
import json

import pytest
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import allow, doc, user_with

ACCOUNT = "000000000000"
REGION = "us-east-1"


def events(cloudlet, **kw) -> list[dict]:
    ct = cloudlet.client("cloudtrail")
    out = []
    for page in ct.get_paginator("lookup_events").paginate(**kw):
        out.extend(page["Events"])
    return out


def records(cloudlet, **kw) -> list[dict]:
    return [json.loads(e["CloudTrailEvent"]) for e in events(cloudlet, **kw)]


def by_name(cloudlet, name: str) -> list[dict]:
    return records(cloudlet, LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}])


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def trail_bucket_policy(bucket: str, trail: str, prefix: str = "") -> str:
    source = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/{trail}"
    where = f"{prefix}/" if prefix else ""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringEquals": {"aws:SourceArn": source}}},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/{where}AWSLogs/{ACCOUNT}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control",
                                        "aws:SourceArn": source}}},
    ]})


def make_trail(cloudlet, name: str = "main", bucket: str = "trail-logs", **kw) -> dict:
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=trail_bucket_policy(bucket, name, kw.get("S3KeyPrefix", "")))
    ct = cloudlet.client("cloudtrail")
    return ct.create_trail(Name=name, S3BucketName=bucket, **kw)


# -- recording -----------------------------------------------------------------

def test_calls_as_root_user_and_role_are_recorded(cloudlet):
    sqs, iam, sts, s3, kms, sns = (cloudlet.client(s) for s in ("sqs", "iam", "sts", "s3", "kms", "sns"))
    # the root user
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    sqs.list_queues()
    s3.create_bucket(Bucket="ct-accept")
    s3.list_buckets()
    key_id = kms.create_key(Description="k")["KeyMetadata"]["KeyId"]
    kms.describe_key(KeyId=key_id)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.list_topics()
    iam.create_role(RoleName="worker", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    iam.put_role_policy(RoleName="worker", PolicyName="p", PolicyDocument=doc(allow("sqs:*")))
    # an IAM user
    me, user_arn = user_with(cloudlet, "alice", doc(allow(["sqs:ListQueues", "iam:GetUser", "sts:AssumeRole"])))
    user_key = me.key["AccessKeyId"]
    me("sqs").list_queues()
    me("iam").get_user(UserName="alice")
    with pytest.raises(ClientError):
        me("iam").list_users()
    me("sts").get_caller_identity()
    creds = me("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/worker",
                                  RoleSessionName="job-1")["Credentials"]
    # an assumed role
    role = dict(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                session_token=creds["SessionToken"])
    cloudlet.client("sqs", **role).create_queue(QueueName="jobs")
    cloudlet.client("sqs", **role).list_queues()
    with pytest.raises(ClientError):
        cloudlet.client("sns", **role).list_topics()

    everything = events(cloudlet)
    names = [e["EventName"] for e in everything]
    assert len(everything) >= 20
    # newest first
    assert names[0] == "ListTopics" and names[-1] == "CreateQueue"

    created = by_name(cloudlet, "CreateQueue")
    assert len(created) == 2
    jobs, orders = created  # newest first
    ua = orders.pop("userAgent")
    assert "Boto3" in ua
    for record in (orders, jobs):
        assert record.pop("eventTime").endswith("Z")
        assert len(record.pop("eventID")) == 36
        assert len(record.pop("requestID")) == 36
    assert orders == {
        "eventVersion": "1.11",
        "userIdentity": {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root",
                         "accountId": ACCOUNT, "accessKeyId": "test"},
        "eventSource": "sqs.amazonaws.com", "eventName": "CreateQueue", "awsRegion": REGION,
        "sourceIPAddress": "127.0.0.1",
        "requestParameters": {"queueName": "orders"},
        "responseElements": {"queueUrl": url},
        "readOnly": False, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": ACCOUNT, "eventCategory": "Management",
    }
    identity = jobs["userIdentity"]
    role_id = identity["principalId"].split(":")[0]
    assert role_id.startswith("AROA")
    created_at = identity["sessionContext"]["attributes"].pop("creationDate")
    assert created_at.endswith("Z")
    assert identity == {
        "type": "AssumedRole", "principalId": f"{role_id}:job-1",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/worker/job-1", "accountId": ACCOUNT,
        "accessKeyId": creds["AccessKeyId"],
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": role_id, "arn": f"arn:aws:iam::{ACCOUNT}:role/worker",
                              "accountId": ACCOUNT, "userName": "worker"},
            "attributes": {"mfaAuthenticated": "false"}},
    }
    assert jobs["requestParameters"] == {"queueName": "jobs"}

    # the IAM user's denied call: AccessDenied, in AWS's words
    denied, = by_name(cloudlet, "ListUsers")
    assert denied["userIdentity"] == {"type": "IAMUser", "principalId": denied["userIdentity"]["principalId"],
                                      "arn": user_arn, "accountId": ACCOUNT, "accessKeyId": user_key,
                                      "userName": "alice"}
    assert denied["userIdentity"]["principalId"].startswith("AIDA")
    assert denied["errorCode"] == "AccessDenied"
    assert denied["errorMessage"] == (
        f"User: {user_arn} is not authorized to perform: iam:ListUsers on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/ because no identity-based policy allows the iam:ListUsers action")
    assert denied["requestParameters"] is None and denied["responseElements"] is None
    assert denied["readOnly"] is True and denied["eventSource"] == "iam.amazonaws.com"
    role_denied = by_name(cloudlet, "ListTopics")[0]
    assert role_denied["errorCode"] == "AuthorizationError"
    assert role_denied["userIdentity"]["type"] == "AssumedRole"

    # the secret access key is never recorded; the request is
    key_event, = [r for r in by_name(cloudlet, "CreateAccessKey")]
    assert key_event["requestParameters"] == {"userName": "alice"}
    access = key_event["responseElements"]["accessKey"]
    assert set(access) == {"accessKeyId", "status", "userName", "createDate"}
    assert access["accessKeyId"] == user_key
    assume, = by_name(cloudlet, "AssumeRole")
    assert assume["readOnly"] is True
    assert assume["requestParameters"] == {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/worker",
                                           "roleSessionName": "job-1"}
    assert assume["responseElements"] is None  # read-only calls have none

    # S3 names things its own way; KMS is management
    bucket, = by_name(cloudlet, "CreateBucket")
    assert bucket["requestParameters"]["bucketName"] == "ct-accept"
    assert bucket["requestParameters"]["Host"].startswith("127.0.0.1") or "ct-accept" in \
        bucket["requestParameters"]["Host"] or bucket["requestParameters"]["Host"]
    assert bucket["resources"] == [{"accountId": ACCOUNT, "type": "AWS::S3::Bucket",
                                    "ARN": "arn:aws:s3:::ct-accept"}]
    describe, = by_name(cloudlet, "DescribeKey")
    assert describe["eventCategory"] == "Management" and describe["readOnly"] is True
    assert describe["requestParameters"] == {"keyId": key_id}
    assert describe["resources"] == [{"accountId": ACCOUNT, "type": "AWS::KMS::Key",
                                      "ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"}]
    topic_event, = by_name(cloudlet, "CreateTopic")
    assert topic_event["responseElements"] == {"topicArn": topic}

    # LookupEvents' own fields
    mine = events(cloudlet, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "alice"}])
    assert [e["EventName"] for e in mine] == ["AssumeRole", "GetCallerIdentity", "ListUsers", "GetUser",
                                              "ListQueues"]
    assert all(e["AccessKeyId"] == user_key and e["Username"] == "alice" for e in mine)
    assert mine[3]["Resources"] == [{"ResourceType": "AWS::IAM::User", "ResourceName": "alice"}]
    assert mine[2]["ReadOnly"] == "true" and mine[1]["EventSource"] == "sts.amazonaws.com"
    by_key = events(cloudlet, LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": user_key}])
    assert [e["EventId"] for e in by_key] == [e["EventId"] for e in mine]
    writes = events(cloudlet, LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}])
    assert "ListQueues" not in {e["EventName"] for e in writes} and "CreateQueue" in {e["EventName"] for e in writes}
    one = events(cloudlet, LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": mine[0]["EventId"]}])
    assert [e["EventId"] for e in one] == [mine[0]["EventId"]]
    kms_only = events(cloudlet, LookupAttributes=[{"AttributeKey": "EventSource",
                                                   "AttributeValue": "kms.amazonaws.com"}])
    assert [e["EventName"] for e in kms_only] == ["DescribeKey", "CreateKey"]
    queues = events(cloudlet, LookupAttributes=[{"AttributeKey": "ResourceType",
                                                 "AttributeValue": "AWS::KMS::Key"}])
    assert [e["EventName"] for e in queues] == ["DescribeKey"]
    named = events(cloudlet, LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "ct-accept"}])
    assert [e["EventName"] for e in named] == ["CreateBucket"]


def test_bad_input_and_unknown_callers(cloudlet, raw_client):
    sqs = raw_client("sqs")
    with pytest.raises(ClientError):
        sqs.create_queue(QueueName="bad name!")
    failed, = by_name(cloudlet, "CreateQueue")
    assert failed["errorCode"] == "InvalidParameterValue"
    assert failed["requestParameters"] == {"queueName": "bad name!"}
    # a credential cloudlet cannot verify is refused before any operation: not recorded
    before = len(events(cloudlet))
    iam, _ = user_with(cloudlet, "eve")
    bad = cloudlet.client("sts", access_key=iam.key["AccessKeyId"], secret_key="wrong")
    with pytest.raises(ClientError):
        bad.get_caller_identity()
    assert "GetCallerIdentity" not in [e["EventName"] for e in events(cloudlet)]
    assert len(events(cloudlet)) > before


def test_lookup_events_paging_and_errors(cloudlet):
    sqs = cloudlet.client("sqs")
    for i in range(7):
        sqs.create_queue(QueueName=f"q{i}")
    ct = cloudlet.client("cloudtrail")
    attrs = [{"AttributeKey": "EventName", "AttributeValue": "CreateQueue"}]
    first = ct.lookup_events(LookupAttributes=attrs, MaxResults=3)
    assert len(first["Events"]) == 3 and "NextToken" in first
    second = ct.lookup_events(LookupAttributes=attrs, MaxResults=3, NextToken=first["NextToken"])
    third = ct.lookup_events(LookupAttributes=attrs, MaxResults=3, NextToken=second["NextToken"])
    assert "NextToken" not in third
    names = [json.loads(e["CloudTrailEvent"])["requestParameters"]["queueName"]
             for page in (first, second, third) for e in page["Events"]]
    assert names == [f"q{i}" for i in reversed(range(7))]

    with pytest.raises(ClientError) as exc:
        ct.lookup_events(LookupAttributes=attrs, MaxResults=3, NextToken="garbage")
    assert error(exc) == ("InvalidNextTokenException", "Invalid NextToken.")
    with pytest.raises(ClientError) as exc:  # a token from other parameters
        ct.lookup_events(MaxResults=3, NextToken=first["NextToken"])
    assert error(exc)[0] == "InvalidNextTokenException"
    with pytest.raises(ClientError) as exc:
        ct.lookup_events(LookupAttributes=attrs + [{"AttributeKey": "ReadOnly", "AttributeValue": "true"}])
    assert error(exc)[0] == "InvalidLookupAttributesException"
    with pytest.raises(ClientError) as exc:
        ct.lookup_events(LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "maybe"}])
    assert error(exc)[0] == "InvalidLookupAttributesException"
    with pytest.raises(ClientError) as exc:
        ct.lookup_events(StartTime=2000000000, EndTime=1000000000)
    assert error(exc)[0] == "InvalidTimeRangeException"
    raw = cloudlet.client("cloudtrail", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.lookup_events(MaxResults=51)
    assert error(exc)[0] == "InvalidMaxResultsException"
    assert ct.lookup_events(EventCategory="insight")["Events"] == []


def test_retention_is_ninety_days_of_clock(cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    cloudlet.client("sqs").create_queue(QueueName="old")
    cloudlet.clock.advance(89 * 86400)
    cloudlet.client("sqs").create_queue(QueueName="newer")
    assert [r["requestParameters"]["queueName"] for r in by_name(cloudlet, "CreateQueue")] == ["newer", "old"]
    cloudlet.clock.advance(2 * 86400)  # the first is now 91 days old
    assert [r["requestParameters"]["queueName"] for r in by_name(cloudlet, "CreateQueue")] == ["newer"]
    # and it is gone, not just out of the default window
    left = cloudlet.cloud.storage.scalar("SELECT COUNT(*) FROM cloudtrail_events WHERE name = 'CreateQueue'")
    assert left == 1


# -- trails --------------------------------------------------------------------

def test_trail_lifecycle(cloudlet):
    created = make_trail(cloudlet, "main", "trail-logs", S3KeyPrefix="logs", IsMultiRegionTrail=True,
                         EnableLogFileValidation=True, TagsList=[{"Key": "team", "Value": "sec"}])
    arn = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main"
    created.pop("ResponseMetadata")
    assert created == {"Name": "main", "S3BucketName": "trail-logs", "S3KeyPrefix": "logs",
                       "IncludeGlobalServiceEvents": True, "IsMultiRegionTrail": True, "TrailARN": arn,
                       "LogFileValidationEnabled": True, "IsOrganizationTrail": False}
    ct = cloudlet.client("cloudtrail")
    trail = ct.get_trail(Name="main")["Trail"]
    assert trail["HomeRegion"] == REGION and trail["HasCustomEventSelectors"] is False
    assert ct.get_trail(Name=arn)["Trail"]["TrailARN"] == arn
    # a multi-region trail is seen from every region (a shadow trail)
    west = cloudlet.client("cloudtrail", region="us-west-2")
    assert [t["TrailARN"] for t in west.describe_trails()["trailList"]] == [arn]
    assert west.describe_trails(includeShadowTrails=False)["trailList"] == []
    assert ct.list_trails()["Trails"] == [{"TrailARN": arn, "Name": "main", "HomeRegion": REGION}]
    with pytest.raises(ClientError) as exc:
        west.stop_logging(Name="main")
    assert error(exc)[0] == "InvalidHomeRegionException"

    status = ct.get_trail_status(Name="main")
    assert status["IsLogging"] is False and "LatestDeliveryTime" not in status
    ct.start_logging(Name="main")
    status = ct.get_trail_status(Name="main")
    assert status["IsLogging"] is True and status["TimeLoggingStarted"].endswith("Z")
    ct.stop_logging(Name=arn)
    assert ct.get_trail_status(Name="main")["IsLogging"] is False

    ct.add_tags(ResourceId=arn, TagsList=[{"Key": "env", "Value": "prod"}])
    ct.remove_tags(ResourceId=arn, TagsList=[{"Key": "team"}])
    assert ct.list_tags(ResourceIdList=[arn])["ResourceTagList"] == [
        {"ResourceId": arn, "TagsList": [{"Key": "env", "Value": "prod"}]}]

    updated = ct.update_trail(Name="main", EnableLogFileValidation=False)
    assert updated["LogFileValidationEnabled"] is False
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="main", IncludeGlobalServiceEvents=False)
    assert error(exc) == ("InvalidParameterCombinationException",
                          "Multi-Region trail must include global service events.")
    ct.delete_trail(Name="main")
    with pytest.raises(ClientError) as exc:
        ct.get_trail(Name="main")
    assert error(exc) == ("TrailNotFoundException", f"Unknown trail: {arn} for the user: {ACCOUNT}")


@pytest.mark.parametrize("name, message", [
    ("ab", "Trail name too short. Minimum allowed length: 3 characters. Specified name length: 2 characters."),
    ("-abc", "Trail name must starts with a letter or number."),
    ("abc-", "Trail name must ends with a letter or number."),
    ("ab!c", "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), "
             "hyphens (-), and underscores (_)."),
    ("my--trail", "Trail name cannot contain adjacent periods (.), hyphens (-), or underscores (_)."),
    ("192.168.5.4", "Trail name cannot be formatted as an IP address."),
])
def test_trail_names(cloudlet, name, message):
    with pytest.raises(ClientError) as exc:
        cloudlet.client("cloudtrail").create_trail(Name=name, S3BucketName="whatever")
    assert error(exc) == ("InvalidTrailNameException", message)


def test_trail_destinations_must_allow_cloudtrail(cloudlet):
    ct = cloudlet.client("cloudtrail")
    s3 = cloudlet.client("s3")
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="trail1", S3BucketName="no-such-bucket")
    assert error(exc) == ("S3BucketDoesNotExistException", "S3 bucket no-such-bucket does not exist.")
    s3.create_bucket(Bucket="plain")
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="trail1", S3BucketName="plain")
    assert error(exc) == ("InsufficientS3BucketPolicyException",
                          "Incorrect S3 bucket policy is detected for bucket: plain")
    # a policy for another trail (aws:SourceArn) or another prefix does not do
    s3.put_bucket_policy(Bucket="plain", Policy=trail_bucket_policy("plain", "other"))
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="trail1", S3BucketName="plain")
    assert error(exc)[0] == "InsufficientS3BucketPolicyException"
    s3.put_bucket_policy(Bucket="plain", Policy=trail_bucket_policy("plain", "trail1"))
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="trail1", S3BucketName="plain", S3KeyPrefix="elsewhere")
    assert error(exc)[0] == "InsufficientS3BucketPolicyException"
    ct.create_trail(Name="trail1", S3BucketName="plain")
    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="trail1", S3BucketName="plain")
    assert error(exc) == ("TrailAlreadyExistsException", f"Trail trail1 already exists for customer: {ACCOUNT}")

    # SNS: the topic's policy must let cloudtrail publish
    sns = cloudlet.client("sns")
    topic = sns.create_topic(Name="trail-news")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="trail1", SnsTopicName="trail-news")
    assert error(exc) == ("InsufficientSnsTopicPolicyException",
                          "SNS Topic does not exist or the topic policy is incorrect!")
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                                "Action": "SNS:Publish", "Resource": topic}]}))
    updated = ct.update_trail(Name="trail1", SnsTopicName="trail-news")
    assert updated["SnsTopicARN"] == topic

    # KMS: the key policy must let cloudtrail make data keys
    kms = cloudlet.client("kms")
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="trail1", KmsKeyId="alias/none")
    assert error(exc)[0] == "KmsKeyNotFoundException"
    key = kms.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="trail1", KmsKeyId=key["KeyId"])
    assert error(exc) == ("InsufficientEncryptionPolicyException",
                          f"Insufficient permissions to access S3 bucket plain or KMS key {key['Arn']}.")
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "kms:GenerateDataKey*", "Resource": "*",
             "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn":
                                          f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"}}}]}))
    assert ct.update_trail(Name="trail1", KmsKeyId=key["KeyId"])["KmsKeyId"] == key["Arn"]

    with pytest.raises(ClientError) as exc:
        ct.create_trail(Name="org", S3BucketName="plain", IsOrganizationTrail=True)
    assert error(exc)[0] == "OrganizationsNotInUseException"


def test_event_selectors_validation(cloudlet):
    make_trail(cloudlet)
    ct = cloudlet.client("cloudtrail")
    assert ct.get_event_selectors(TrailName="main")["EventSelectors"] == [
        {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
         "ExcludeManagementEventSources": []}]
    bad = [
        dict(EventSelectors=[{"DataResources": [{"Type": "AWS::SQS::Queue", "Values": ["arn:aws:sqs"]}]}]),
        dict(EventSelectors=[{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b"]}]}]),
        dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventName", "Equals": ["PutObject"]}]}]),
        dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}]),
        dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "StartsWith": ["Da"]}]}]),
        dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                                                         {"Field": "eventName", "Equals": ["X"]}]}]),
        dict(AdvancedEventSelectors=[{"FieldSelectors": [{"Field": "colour", "Equals": ["red"]}]}]),
    ]
    for kwargs in bad:
        with pytest.raises(ClientError) as exc:
            ct.put_event_selectors(TrailName="main", **kwargs)
        assert error(exc)[0] == "InvalidEventSelectorsException", kwargs
    advanced = [{"Name": "objects", "FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::watched/"]}]}]
    out = ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=advanced)
    assert out["AdvancedEventSelectors"] == advanced
    assert ct.get_event_selectors(TrailName="main")["AdvancedEventSelectors"] == advanced
    assert ct.get_trail(Name="main")["Trail"]["HasCustomEventSelectors"] is True
    with pytest.raises(ClientError) as exc:
        ct.get_insight_selectors(TrailName="main")
    assert error(exc)[0] == "InsightNotEnabledException"


def test_selectors_decide_which_s3_data_events_are_recorded(cloudlet):
    make_trail(cloudlet)
    ct = cloudlet.client("cloudtrail")
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[
        {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]},
        {"Name": "watched objects", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::watched/"]}]}])
    s3 = cloudlet.client("s3")
    for bucket in ("watched", "ignored"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="watched", Key="a.txt", Body=b"secret body")
    s3.put_object(Bucket="ignored", Key="a.txt", Body=b"x")
    table = cloudlet.cloud.storage

    def data_events():
        ct.lookup_events(MaxResults=1)  # (records of reads wait up to 50 ms; readers write them first)
        return table.all("SELECT name, params FROM cloudtrail_event_fields WHERE category = 1 ORDER BY seq")
    assert data_events() == []  # the trail is not logging yet
    ct.start_logging(Name="main")
    s3.put_object(Bucket="watched", Key="a.txt", Body=b"secret body")
    s3.get_object(Bucket="watched", Key="a.txt")["Body"].read()
    s3.put_object(Bucket="ignored", Key="a.txt", Body=b"x")
    s3.get_object(Bucket="ignored", Key="a.txt")["Body"].read()
    s3.delete_object(Bucket="watched", Key="a.txt")
    rows = data_events()
    assert [name for name, _ in rows] == ["PutObject", "GetObject", "DeleteObject"]
    assert all("secret body" not in params for _, params in rows)
    assert all(json.loads(params)["Bucket"] == "watched" for _, params in rows)
    # data events are not in the event history
    assert by_name(cloudlet, "PutObject") == []
    # new selectors take effect at once (decisions are remembered per
    # selector set): now the other bucket, reads only
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[
        {"Name": "ignored reads", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
            {"Field": "readOnly", "Equals": ["true"]},
            {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::ignored/"]}]}])
    s3.put_object(Bucket="watched", Key="c.txt", Body=b"x")
    s3.get_object(Bucket="watched", Key="c.txt")["Body"].read()
    s3.put_object(Bucket="ignored", Key="c.txt", Body=b"x")
    s3.get_object(Bucket="ignored", Key="c.txt")["Body"].read()
    s3.get_object(Bucket="ignored", Key="a.txt")["Body"].read()
    assert [(n, json.loads(p)["Bucket"], json.loads(p)["Key"]) for n, p in data_events()[3:]] == [
        ("GetObject", "ignored", "c.txt"), ("GetObject", "ignored", "a.txt")]
    ct.stop_logging(Name="main")
    s3.put_object(Bucket="watched", Key="b.txt", Body=b"x")
    assert len(data_events()) == 5


def test_internal_calls_are_recorded_as_the_service(cloudlet):
    make_trail(cloudlet)
    ct = cloudlet.client("cloudtrail")
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]}]}])
    ct.start_logging(Name="main")
    sqs, sns = cloudlet.client("sqs"), cloudlet.client("sns")
    url = sqs.create_queue(QueueName="fanout")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:fanout"
    topic = sns.create_topic(Name="news")["TopicArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": queue_arn,
                                                "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Message="hello")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    from cloudlet.services.cloudtrail.events import COLUMNS, shape, unpack

    rows = cloudlet.cloud.storage.all(f"SELECT {COLUMNS} FROM cloudtrail_events WHERE category = 1 ORDER BY seq")
    shaped = [shape(unpack(row), cloudlet.cloud.models) for row in rows]
    assert [r["eventName"] for r in shaped] == ["SendMessage", "ReceiveMessage"]
    sent = shaped[0]
    assert sent["userIdentity"] == {"type": "AWSService", "invokedBy": "sns.amazonaws.com"}
    assert sent["sourceIPAddress"] == "sns.amazonaws.com" and sent["userAgent"] == "sns.amazonaws.com"
    assert sent["requestParameters"]["queueUrl"] == url
    assert sent["requestParameters"]["messageBody"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert sent["eventCategory"] == "Data" and sent["managementEvent"] is False
    assert sent["resources"] == [{"accountId": ACCOUNT, "type": "AWS::SQS::Queue", "ARN": queue_arn}]
    assert shaped[1]["readOnly"] is True and shaped[1]["responseElements"] is None


def test_recording_can_be_turned_off():
    from cloudlet.testing.server import CloudletServer

    server = CloudletServer(cloudtrail=False).start()
    try:
        server.client("sqs").create_queue(QueueName="quiet")
        assert server.client("cloudtrail").lookup_events()["Events"] == []
    finally:
        server.stop()


# -- sharedEventID ----------------------------------------------------------------

def test_cross_account_call_is_recorded_in_both_accounts_with_a_shared_event_id(cloudlet):
    other = "222222222222"
    kms_b = cloudlet.client("kms", access_key=other)
    key_id = kms_b.create_key()["KeyMetadata"]["KeyId"]
    key_arn = f"arn:aws:kms:{REGION}:{other}:key/{key_id}"
    kms_b.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:Encrypt",
             "Resource": "*"}]}))
    me, arn = user_with(cloudlet, "crypter", doc(allow("kms:Encrypt", key_arn)))
    me("kms").encrypt(KeyId=key_arn, Plaintext=b"secret")
    cloudlet.client("kms").create_key()                      # an own-account call: no sharedEventID
    mine = by_name(cloudlet, "Encrypt")
    ct_b = cloudlet.client("cloudtrail", access_key=other)
    theirs = [json.loads(e["CloudTrailEvent"]) for e in ct_b.lookup_events(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])["Events"]]
    assert len(mine) == 1 and len(theirs) == 1
    a, b = mine[0], theirs[0]
    assert a["recipientAccountId"] == ACCOUNT and b["recipientAccountId"] == other
    assert a["sharedEventID"] == b["sharedEventID"] and len(a["sharedEventID"]) == 36
    assert a["eventID"] != b["eventID"] and a["sharedEventID"] not in (a["eventID"], b["eventID"])
    assert a["userIdentity"] == b["userIdentity"]
    assert a["userIdentity"]["arn"] == arn
    assert a["requestID"] == b["requestID"]
    assert a["resources"] == b["resources"] == [{"accountId": other, "type": "AWS::KMS::Key", "ARN": key_arn}]
    assert list(a)[-3:] == ["recipientAccountId", "sharedEventID", "eventCategory"]
    (create,) = by_name(cloudlet, "CreateKey")
    assert "sharedEventID" not in create
    # what B did itself is B's alone
    assert [r["recipientAccountId"] for r in by_name(cloudlet, "PutKeyPolicy")] == []


def test_cross_account_data_event_goes_to_each_account_whose_trail_wants_it(cloudlet):
    other = "222222222222"
    sqs_b = cloudlet.client("sqs", access_key=other)
    url = sqs_b.create_queue(QueueName="shared")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{other}:shared"
    sqs_b.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                               "Action": "sqs:SendMessage", "Resource": queue_arn}]})})
    # only B's trail wants SQS data events
    s3_b = cloudlet.client("s3", access_key=other)
    s3_b.create_bucket(Bucket="b-trail")
    ct_b = cloudlet.client("cloudtrail", access_key=other)
    s3_b.put_bucket_policy(Bucket="b-trail", Policy=trail_bucket_policy("b-trail", "btrail").replace(ACCOUNT, other))
    ct_b.create_trail(Name="btrail", S3BucketName="b-trail")
    ct_b.put_event_selectors(TrailName="btrail", AdvancedEventSelectors=[{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]}]}])
    ct_b.start_logging(Name="btrail")
    cloudlet.client("sqs").send_message(QueueUrl=url, MessageBody="hello")
    assert by_name(cloudlet, "SendMessage") == []            # A's account wants no data events
    cloudlet.admin("POST", "/_cloudlet/cloudtrail/flush")
    s3 = cloudlet.client("s3", access_key=other)
    found = []
    for obj in s3.list_objects_v2(Bucket="b-trail", Prefix=f"AWSLogs/{other}/CloudTrail/")["Contents"]:
        found.extend(json.loads(gzip.decompress(s3.get_object(Bucket="b-trail", Key=obj["Key"])["Body"].read()))
                     ["Records"])
    (sent,) = [r for r in found if r["eventName"] == "SendMessage"]
    assert sent["recipientAccountId"] == other
    assert sent["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert len(sent["sharedEventID"]) == 36
    assert sent["resources"] == [{"accountId": other, "type": "AWS::SQS::Queue", "ARN": queue_arn}]


# -- S3 requests outside the model -----------------------------------------------------

def test_browser_post_upload_is_the_data_event_post_object_and_preflights_are_not_recorded(cloudlet):
    from urllib.parse import urlsplit

    from tests.http import send
    from tests.services.test_s3_post import post

    make_trail(cloudlet)
    ct = cloudlet.client("cloudtrail")
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
        {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::uploads/"]}]}])
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_bucket_cors(Bucket="uploads", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://app.example"], "AllowedMethods": ["POST"]}]})
    ct.start_logging(Name="main")
    presigned = cloudlet.client("s3", signature_version="s3v4").generate_presigned_post("uploads", "in/a.txt")
    assert post(cloudlet, presigned).status == 204
    preflight = send(cloudlet.endpoint, "OPTIONS", "/uploads/in/a.txt",
                     headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status == 200
    table = cloudlet.cloud.storage
    cloudlet.cloud.gateway.recorder.write_batch()
    assert [n for (n,) in table.all("SELECT name FROM cloudtrail_events WHERE category = 1 ORDER BY seq")] == [
        "PostObject"]
    assert by_name(cloudlet, "PostObject") == []              # data events are not in the event history
    cloudlet.admin("POST", "/_cloudlet/cloudtrail/flush")
    found = []
    for obj in s3.list_objects_v2(Bucket="trail-logs", Prefix=f"AWSLogs/{ACCOUNT}/CloudTrail/")["Contents"]:
        body = s3.get_object(Bucket="trail-logs", Key=obj["Key"])["Body"].read()
        found.extend(json.loads(gzip.decompress(body))["Records"])
    (record,) = [r for r in found if r["eventSource"] == "s3.amazonaws.com"]
    assert record["eventName"] == "PostObject"
    assert record["userIdentity"]["type"] == "Root"
    assert record["userIdentity"]["accessKeyId"] == "test"
    assert record["requestParameters"] == {"bucketName": "uploads", "Host": urlsplit(cloudlet.endpoint).netloc,
                                           "key": "in/a.txt"}
    assert record["responseElements"]["x-amz-server-side-encryption"] == "AES256"
    assert record["resources"] == [
        {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::uploads/in/a.txt"},
        {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::uploads"}]
    assert (record["readOnly"], record["managementEvent"], record["eventCategory"]) == (False, False, "Data")
    assert "errorCode" not in record


def test_refused_browser_post_upload_is_recorded_with_its_error(cloudlet):
    from tests.services.test_s3_post import post

    make_trail(cloudlet)
    ct = cloudlet.client("cloudtrail")
    ct.put_event_selectors(TrailName="main", AdvancedEventSelectors=[{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}])
    ct.start_logging(Name="main")
    cloudlet.client("s3").create_bucket(Bucket="uploads")
    me, arn = user_with(cloudlet, "poster")
    presigned = me("s3", signature_version="s3v4").generate_presigned_post("uploads", "x.txt")
    assert post(cloudlet, presigned).status == 403
    cloudlet.cloud.gateway.recorder.write_batch()
    rows = cloudlet.cloud.storage.all("SELECT name, error_code, username FROM cloudtrail_event_fields "
                                      "WHERE category = 1")
    assert rows == [("PostObject", "AccessDenied", "poster")]
