"""Condition operators, row by row from "IAM JSON policy elements: Condition
operators" and "Conditions with multiple context keys or values": each row is
a Condition block, a request context, and whether the block holds."""

from __future__ import annotations

import calendar

import pytest

from cloudlet.iam import AuthzRequest, PolicySet, PrincipalInfo, evaluate, parse_policy

ACCOUNT = "123456789012"
ALICE = PrincipalInfo(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, "IAMUser", "AIDAALICE", "alice",
                      tags={"job-category": "iamuser-admin", "team": "blue"})
NOW = calendar.timegm((2019, 4, 25, 11, 0, 0))
MISSING = object()


def holds(block: dict, context: dict, principal: PrincipalInfo = ALICE, now: float = NOW) -> bool:
    """The block holds iff an Allow statement guarded by it allows."""
    policy = parse_policy({"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": block}})
    decision = evaluate(AuthzRequest(principal, "s3:GetObject", "*", context), PolicySet(identity=[policy]), now)
    return decision.allowed


def one(operator: str, key: str, policy_value, request_value) -> bool:
    context = {} if request_value is MISSING else {key: request_value}
    return holds({operator: {key: policy_value}}, context)


ROWS = [
    # String
    ("StringEquals", "aws:PrincipalTag/job-category", "iamuser-admin", MISSING, True),  # from the principal
    ("StringEquals", "ec2:InstanceType", "t2.micro", "t2.micro", True),
    ("StringEquals", "ec2:InstanceType", "t2.micro", "T2.micro", False),
    ("StringEquals", "ec2:InstanceType", "t2.micro", MISSING, False),
    ("StringEquals", "ec2:InstanceType", ["t2.micro", "t3.micro"], "t3.micro", True),
    ("StringEquals", "ec2:InstanceType", "t2.*", "t2.micro", False),
    ("StringNotEquals", "ec2:InstanceType", "t2.micro", "t3.micro", True),
    ("StringNotEquals", "ec2:InstanceType", "t2.micro", "t2.micro", False),
    ("StringNotEquals", "ec2:InstanceType", "t2.micro", MISSING, True),
    # Several values under a negated operator: NOR.
    ("StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "audit", False),
    ("StringNotEquals", "aws:PrincipalTag/role", ["audit", "security"], "dev", True),
    ("StringEqualsIgnoreCase", "ec2:InstanceType", "T2.Micro", "t2.MICRO", True),
    ("StringNotEqualsIgnoreCase", "ec2:InstanceType", "T2.Micro", "t2.micro", False),
    ("StringNotEqualsIgnoreCase", "ec2:InstanceType", "T2.Micro", MISSING, True),
    ("StringLike", "s3:prefix", "home/*", "home/alice/x", True),
    ("StringLike", "s3:prefix", "home/*", "Home/alice", False),
    ("StringLike", "s3:prefix", ["", "home/"], "", True),
    ("StringLike", "ec2:InstanceType", "t?.micro", "t2.micro", True),
    ("StringLike", "ec2:InstanceType", "t?.micro", "t22.micro", False),
    ("StringNotLike", "ec2:InstanceType", ["t1.*", "t2.*"], "m5.large", True),
    ("StringNotLike", "ec2:InstanceType", ["t1.*", "t2.*"], "t2.large", False),
    ("StringNotLike", "ec2:InstanceType", ["t1.*", "t2.*"], MISSING, True),
    # Numeric
    ("NumericLessThanEquals", "s3:max-keys", "10", "10", True),
    ("NumericLessThanEquals", "s3:max-keys", "10", "11", False),
    ("NumericLessThanEquals", "s3:max-keys", "10", MISSING, False),
    ("NumericLessThan", "s3:max-keys", 10, 9, True),
    ("NumericEquals", "s3:max-keys", "10", "10.0", True),
    ("NumericNotEquals", "s3:max-keys", "10", "11", True),
    ("NumericNotEquals", "s3:max-keys", ["10", "11"], "11", False),
    ("NumericNotEquals", "s3:max-keys", "10", MISSING, True),
    ("NumericGreaterThan", "s3:max-keys", "5", "6", True),
    ("NumericGreaterThan", "s3:max-keys", "5", "five", False),
    ("NumericGreaterThanEquals", "s3:max-keys", "5", "5", True),
    # Date: ISO 8601 or epoch, on either side.
    ("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", "2020-06-01T00:00:00Z", True),
    ("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", "2019-12-31T23:59:59Z", False),
    ("DateGreaterThan", "aws:TokenIssueTime", "2020-01-01T00:00:01Z", MISSING, False),
    ("DateLessThan", "aws:TokenIssueTime", "2018-08-16T12:00:00Z", "1500000000", True),
    ("DateEquals", "aws:TokenIssueTime", "1534420800", "2018-08-16T12:00:00Z", True),
    ("DateEquals", "aws:TokenIssueTime", "2018-08-16T14:00:00+02:00", "2018-08-16T12:00:00Z", True),
    ("DateEquals", "aws:TokenIssueTime", "2018-08-16", "2018-08-16T00:00:00Z", True),
    ("DateNotEquals", "aws:TokenIssueTime", "2018-08-16T12:00:00Z", MISSING, True),
    ("DateLessThanEquals", "aws:TokenIssueTime", "2018-08-16T12:00:00Z", "2018-08-16T12:00:00Z", True),
    ("DateGreaterThanEquals", "aws:TokenIssueTime", "2018-08-16T12:00:00Z", "2018-08-16T11:59:59Z", False),
    # Bool
    ("Bool", "aws:SecureTransport", "false", "false", True),
    ("Bool", "aws:SecureTransport", "false", True, False),
    ("Bool", "aws:SecureTransport", "true", "TRUE", True),
    ("Bool", "aws:SecureTransport", True, "true", True),
    ("Bool", "aws:SecureTransport", "false", MISSING, False),
    # Binary
    ("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", True),
    ("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", "QmluYXJ5", False),
    ("BinaryEquals", "key", "QmluYXJ5VmFsdWVJbkJhc2U2NA==", MISSING, False),
    # IP addresses (IPv4 and IPv6 CIDR; no prefix means one address)
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.114.1", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", MISSING, False),
    ("IpAddress", "aws:SourceIp", ["203.0.113.0/24", "2001:DB8:1234:5678::/64"], "2001:db8:1234:5678::9", True),
    ("IpAddress", "aws:SourceIp", "2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.5", "203.0.113.5", True),
    ("IpAddress", "aws:SourceIp", "203.0.113.5", "203.0.113.6", False),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", "not-an-ip", False),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.1", False),
    ("NotIpAddress", "aws:SourceIp", "203.0.113.0/24", MISSING, True),
    # ARN
    ("ArnEquals", "aws:SourceArn", "arn:aws:sns:us-east-1:123456789012:topic",
     "arn:aws:sns:us-east-1:123456789012:topic", True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:sns:*:123456789012:*", "arn:aws:sns:us-east-1:123456789012:t", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", False),
    ("StringLike", "aws:SourceArn", "arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", True),
    ("ArnLike", "aws:SourceArn", "arn:aws:sns:*:123456789012:t", MISSING, False),
    ("ArnNotEquals", "aws:SourceArn", "arn:aws:sns:*:123456789012:t", "arn:aws:sns:us-east-1:123456789012:t", False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:123456789012:t", "arn:aws:sns:us-east-1:999999999999:t", True),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:sns:*:123456789012:t", MISSING, True),
    # Null
    ("Null", "aws:TokenIssueTime", "true", MISSING, True),
    ("Null", "aws:TokenIssueTime", "true", "2020-01-01T00:00:00Z", False),
    ("Null", "aws:TokenIssueTime", "false", "2020-01-01T00:00:00Z", True),
    ("Null", "aws:TokenIssueTime", "false", MISSING, False),
    ("Null", "aws:TokenIssueTime", True, MISSING, True),
    # ...IfExists: a missing key passes; a present one is tested.
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], MISSING, True),
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], "t2.micro", True),
    ("StringLikeIfExists", "ec2:InstanceType", ["t1.*", "t2.*", "m3.*"], "c5.large", False),
    ("StringNotEqualsIfExists", "ec2:InstanceType", "t2.micro", MISSING, True),
    ("StringNotEqualsIfExists", "ec2:InstanceType", "t2.micro", "t2.micro", False),
    ("NumericLessThanIfExists", "s3:max-keys", "10", MISSING, True),
    ("DateLessThanIfExists", "aws:TokenIssueTime", "2020-01-01T00:00:00Z", MISSING, True),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "false", MISSING, True),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "false", "true", False),
    ("IpAddressIfExists", "aws:SourceIp", "203.0.113.0/24", MISSING, True),
    ("ArnLikeIfExists", "aws:SourceArn", "arn:aws:sns:*:*:t", MISSING, True),
    ("BinaryEqualsIfExists", "key", "QmluYXJ5", MISSING, True),
    # Set qualifiers (the DynamoDB examples).
    ("ForAllValues:StringLike", "dynamodb:requestedAttributes", ["PostDateTime", "Message", "Tags"],
     ["PostDateTime", "Message"], True),
    ("ForAllValues:StringLike", "dynamodb:requestedAttributes", ["PostDateTime", "Message", "Tags"],
     ["PostDateTime", "UserName"], False),
    ("ForAllValues:StringLike", "dynamodb:requestedAttributes", ["PostDateTime", "Message", "Tags"], MISSING, True),
    ("ForAllValues:StringLike", "dynamodb:requestedAttributes", ["PostDateTime", "Message", "Tags"], [], True),
    ("ForAnyValue:StringLike", "dynamodb:requestedAttributes", ["ID", "PostDateTime"],
     ["UserName", "Message", "PostDateTime"], True),
    ("ForAnyValue:StringLike", "dynamodb:requestedAttributes", ["ID", "PostDateTime"], ["UserName"], False),
    ("ForAnyValue:StringLike", "dynamodb:requestedAttributes", ["ID", "PostDateTime"], MISSING, False),
    ("ForAnyValue:StringLike", "dynamodb:requestedAttributes", ["ID", "PostDateTime"], [], False),
    # "Multivalued context keys" examples: ForAllValues with a negated operator.
    ("ForAllValues:StringNotLike", "aws:TagKeys", "key1*", ["key1:legal"], False),
    ("ForAllValues:StringNotLike", "aws:TagKeys", "key1*", ["key1:hr", "key1:personnel"], False),
    ("ForAllValues:StringNotLike", "aws:TagKeys", "key1*", ["key2:audit"], True),
    ("ForAllValues:StringNotLike", "aws:TagKeys", "key1*", MISSING, True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a", "b"], ["a", "c"], True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["a", "b"], ["a", "b"], False),
    ("ForAllValues:StringEquals", "aws:TagKeys", "CostCenter", ["CostCenter"], True),
    ("ForAllValues:StringEquals", "aws:TagKeys", "CostCenter", ["CostCenter", "Other"], False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["Environment", "CostCenter"], ["Owner", "CostCenter"], True),
    ("ForAnyValue:IpAddress", "aws:SourceIp", "10.0.0.0/8", ["192.168.0.1", "10.1.2.3"], True),
    ("ForAllValues:NumericLessThan", "k", "5", ["1", "2", "9"], False),
    # A plain operator against a multivalued key: any value may match.
    ("StringEquals", "aws:TagKeys", "a", ["b", "a"], True),
    ("StringNotEquals", "aws:TagKeys", "a", ["b", "a"], False),
]


@pytest.mark.parametrize("operator,key,policy_value,request_value,expected", ROWS)
def test_operator(operator, key, policy_value, request_value, expected):
    assert one(operator, key, policy_value, request_value) is expected


def test_keys_are_anded_values_are_ored():
    block = {"StringEquals": {"aws:PrincipalTag/department": ["hr", "legal"], "aws:PrincipalTag/role": "audit"},
             "ArnLike": {"aws:PrincipalArn": ["arn:aws:iam::*:user/a*", "arn:aws:iam::*:user/b*"]}}
    tagged = PrincipalInfo(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, "IAMUser", "AIDA1", "alice",
                           tags={"department": "legal", "role": "audit"})
    assert holds(block, {}, tagged)
    tagged.tags = {"department": "sales", "role": "audit"}
    assert not holds(block, {}, tagged)
    tagged.tags = {"department": "hr"}
    assert not holds(block, {}, tagged)
    tagged.tags = {"department": "hr", "role": "audit"}
    tagged.arn = f"arn:aws:iam::{ACCOUNT}:user/carol"
    assert not holds(block, {}, tagged)


def test_condition_key_names_are_case_insensitive():
    assert holds({"IpAddress": {"AWS:SOURCEIP": "10.0.0.0/8"}}, {"aws:sourceip": "10.1.1.1"})
    assert holds({"StringEquals": {"aws:principaltag/TEAM": "blue"}}, {})
    # Values stay case-sensitive.
    assert not holds({"StringEquals": {"aws:PrincipalTag/team": "Blue"}}, {})


def test_current_time_comes_from_now():
    window = {"DateGreaterThan": {"aws:CurrentTime": "2018-08-16T12:00:00Z"},
              "DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}
    assert holds(window, {})
    assert not holds(window, {}, now=calendar.timegm((2014, 4, 25, 11, 0, 0)))
    assert holds({"DateLessThan": {"aws:EpochTime": str(NOW + 1)}}, {})
    assert not holds({"DateLessThan": {"aws:EpochTime": str(NOW)}}, {})
    # A context value wins over the derived one.
    assert not holds(window, {"aws:CurrentTime": "2014-04-25T11:00:00Z"})


def test_policy_variables_in_conditions():
    assert holds({"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/*"]}}, {"s3:prefix": "home/alice/a"})
    assert not holds({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home/bob/a"})
    assert holds({"StringEquals": {"ec2:ResourceTag/VolumeUser": "${aws:username}"}},
                 {"ec2:ResourceTag/VolumeUser": "alice"})
    assert holds({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:${aws:PrincipalAccount}:*"}},
                 {"aws:SourceArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:t"})
    # A default fills in for a missing key.
    assert holds({"StringEquals": {"s3:prefix": "${aws:PrincipalTag/costcenter, 'none'}"}}, {"s3:prefix": "none"})
    # Without one, the value matches nothing.
    assert not holds({"StringEquals": {"s3:prefix": "${aws:PrincipalTag/costcenter}"}}, {"s3:prefix": ""})
    # Numeric operators take no variables: the text stays literal.
    assert not holds({"NumericEquals": {"s3:max-keys": "${aws:PrincipalTag/limit}"}}, {"s3:max-keys": "5"})


def test_old_version_has_no_variables():
    # (IAM refuses 2008-10-17 identity policies; a session policy may be one.)
    policy = parse_policy({"Version": "2008-10-17", "Statement": {
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"StringEquals": {"s3:prefix": "${aws:username}"}}}}, "session")
    for prefix, expected in (("alice", False), ("${aws:username}", True)):
        request = AuthzRequest(ALICE, "s3:GetObject", "*", {"s3:prefix": prefix})
        assert evaluate(request, PolicySet(identity=[policy]), NOW).allowed is expected
