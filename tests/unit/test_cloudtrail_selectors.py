"""The event selector matcher and the record shaping, as pure functions."""

from __future__ import annotations

import pytest

from cloudlet.errors import AwsError
from cloudlet.services.cloudtrail import events as ev
from cloudlet.services.cloudtrail.selectors import check_advanced, check_basic, matches, wants_data


def record(category="Management", source="s3.amazonaws.com", name="PutObject", read_only=False, resources=()):
    return {"eventCategory": category, "eventSource": source, "eventName": name, "readOnly": read_only,
            "resources": list(resources), "eventType": "AwsApiCall", "userIdentity": {"arn": "arn:aws:iam::1:root"}}


OBJ = [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::logs/a/b.txt"},
       {"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs", "accountId": "1"}]
BUCKET_ONLY = [{"type": "AWS::S3::Bucket", "ARN": "arn:aws:s3:::logs", "accountId": "1"}]


def test_default_trail_logs_management_events_only():
    trail = {}
    assert matches(trail, record())
    assert not matches(trail, record("Data", resources=OBJ))


@pytest.mark.parametrize("rw, read_only, expected", [
    ("All", True, True), ("All", False, True), ("ReadOnly", True, True), ("ReadOnly", False, False),
    ("WriteOnly", True, False), ("WriteOnly", False, True)])
def test_basic_read_write_type(rw, read_only, expected):
    trail = {"EventSelectors": [{"ReadWriteType": rw, "IncludeManagementEvents": True}]}
    assert matches(trail, record(read_only=read_only)) is expected


def test_basic_management_switches():
    assert not matches({"EventSelectors": [{"IncludeManagementEvents": False}]}, record())
    excluded = {"EventSelectors": [{"ExcludeManagementEventSources": ["kms.amazonaws.com"]}]}
    assert not matches(excluded, record(source="kms.amazonaws.com"))
    assert matches(excluded, record(source="sqs.amazonaws.com"))


@pytest.mark.parametrize("value, resources, expected", [
    ("arn:aws:s3", OBJ, True), ("arn:aws:s3:::logs/", OBJ, True), ("arn:aws:s3:::logs/a/", OBJ, True),
    ("arn:aws:s3:::logs/b/", OBJ, False), ("arn:aws:s3:::other/", OBJ, False),
    ("arn:aws:s3:::logs/", BUCKET_ONLY, True), ("arn:aws:s3:::other/", BUCKET_ONLY, False)])
def test_basic_s3_data_resources(value, resources, expected):
    trail = {"EventSelectors": [{"IncludeManagementEvents": False,
                                 "DataResources": [{"Type": "AWS::S3::Object", "Values": [value]}]}]}
    assert matches(trail, record("Data", resources=resources)) is expected


def test_basic_lambda_is_exact_or_all():
    fn = [{"type": "AWS::Lambda::Function", "ARN": "arn:aws:lambda:us-east-1:1:function:f"}]
    for value, expected in (("arn:aws:lambda", True), ("arn:aws:lambda:us-east-1:1:function:f", True),
                            ("arn:aws:lambda:us-east-1:1:function:g", False)):
        trail = {"EventSelectors": [{"DataResources": [{"Type": "AWS::Lambda::Function", "Values": [value]}]}]}
        assert matches(trail, record("Data", "lambda.amazonaws.com", "Invoke", resources=fn)) is expected


def adv(*fields):
    return {"AdvancedEventSelectors": [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                                                           {"Field": "resources.type",
                                                            "Equals": ["AWS::S3::Object"]}, *fields]}]}


@pytest.mark.parametrize("field, expected", [
    ({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::logs/"]}, True),
    ({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::other/"]}, False),
    ({"Field": "resources.ARN", "EndsWith": [".txt"]}, True),
    ({"Field": "resources.ARN", "NotEndsWith": [".txt"]}, False),
    ({"Field": "resources.ARN", "Equals": ["arn:aws:s3:::logs/a/b.txt"]}, True),
    ({"Field": "resources.ARN", "NotEquals": ["arn:aws:s3:::logs/a/b.txt"]}, False),
    ({"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::other/"]}, True),
    ({"Field": "eventName", "Equals": ["PutObject", "GetObject"]}, True),
    ({"Field": "eventName", "NotEquals": ["PutObject"]}, False),
    ({"Field": "readOnly", "Equals": ["true"]}, False),
    ({"Field": "readOnly", "Equals": ["false"]}, True),
    ({"Field": "eventSource", "Equals": ["s3.amazonaws.com"]}, True),
    ({"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::logs/"], "NotEndsWith": [".txt"]}, False),
])
def test_advanced_operators(field, expected):
    assert matches(adv(field), record("Data", resources=OBJ)) is expected


def test_advanced_category_and_type_must_match():
    assert not matches(adv(), record("Management"))
    sqs = [{"type": "AWS::SQS::Queue", "ARN": "arn:aws:sqs:us-east-1:1:q"}]
    assert not matches(adv(), record("Data", "sqs.amazonaws.com", "SendMessage", resources=sqs))
    assert matches({"AdvancedEventSelectors": [{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Management"]}]}]}, record())


def test_wants_data():
    assert not wants_data({})
    assert wants_data(adv())
    assert wants_data({"EventSelectors": [{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3"]}]}]})


@pytest.mark.parametrize("selectors", [
    [{"FieldSelectors": [{"Field": "eventName", "Equals": ["x"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Nope"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                         {"Field": "resources.type", "StartsWith": ["AWS::S3"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]},
                         {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]}],
    [{"FieldSelectors": [{"Field": "eventCategory"}]}],
])
def test_advanced_validation(selectors):
    with pytest.raises(AwsError) as exc:
        check_advanced(selectors)
    assert exc.value.code == "InvalidEventSelectorsException"


def test_basic_validation():
    check_basic([{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]}])
    for bad in ([{}] * 6, [{"DataResources": [{"Type": "AWS::SQS::Queue", "Values": ["arn:aws:sqs"]}]}],
                [{"DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b"]}]}]):
        with pytest.raises(AwsError) as exc:
            check_basic(bad)
        assert exc.value.code == "InvalidEventSelectorsException"


def test_time_text_and_identity():
    assert ev.aws_time_text(0) == "Jan 1, 1970, 12:00:00 AM"
    assert ev.aws_time_text(13 * 3600 + 5) == "Jan 1, 1970, 1:00:05 PM"
    assert ev.user_identity({"t": "AWSService", "by": "sns.amazonaws.com"}) == \
        {"type": "AWSService", "invokedBy": "sns.amazonaws.com"}
    assert ev.user_identity({"t": "Root", "arn": "arn:aws:iam::1:root", "id": "1", "acct": "1", "key": "AK",
                             "by": "sqs.amazonaws.com"}) == {
        "type": "Root", "principalId": "1", "arn": "arn:aws:iam::1:root", "accountId": "1", "accessKeyId": "AK",
        "invokedBy": "sqs.amazonaws.com"}


def test_resources_of():
    assert ev.resources_of("sqs", "SendMessage", {"QueueUrl": "http://h/123456789012/q"}, "1", "eu-west-1") == [
        {"accountId": "123456789012", "type": "AWS::SQS::Queue", "ARN": "arn:aws:sqs:eu-west-1:123456789012:q"}]
    assert ev.lookup_resources(OBJ) == [{"ResourceType": "AWS::S3::Object", "ResourceName": "arn:aws:s3:::logs/a/b.txt"},
                                        {"ResourceType": "AWS::S3::Bucket", "ResourceName": "logs"}]


def test_referenced_fields_name_what_a_decision_depends_on():
    """The recorder remembers a trail's decisions by these fields only."""
    from cloudlet.services.cloudtrail.selectors import referenced_fields

    advanced = {"AdvancedEventSelectors": [
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::S3::Object"]}]},
        {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Data"]},
                            {"Field": "resources.type", "Equals": ["AWS::SQS::Queue"]},
                            {"Field": "eventName", "Equals": ["SendMessage"]},
                            {"Field": "userIdentity.arn", "StartsWith": ["arn:aws:iam::1"]}]}]}
    assert referenced_fields(advanced) == {"eventCategory", "resources", "eventName", "userIdentity.arn"}
    by_arn = {"AdvancedEventSelectors": [{"FieldSelectors": [
        {"Field": "eventCategory", "Equals": ["Data"]}, {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::b/"]},
        {"Field": "errorCode", "NotEquals": ["AccessDenied"]}]}]}
    assert referenced_fields(by_arn) == {"eventCategory", "resources", "errorCode"}
    assert referenced_fields({"EventSelectors": [{"ReadWriteType": "All", "IncludeManagementEvents": True}]}) == {
        "readOnly", "eventCategory", "eventSource"}
    assert referenced_fields({"EventSelectors": [{"ReadWriteType": "All", "DataResources": [
        {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::b/"]}]}]}) == {
        "readOnly", "eventCategory", "eventSource", "resources"}
