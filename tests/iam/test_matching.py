"""Wildcards, ARN matching and policy-variable templates."""

from __future__ import annotations

import pytest

from cloudlet.iam.matching import ArnPattern, Wildcards, wildcard_match
from cloudlet.iam.variables import LITERAL, TEXT, VAR, parse_template, resolve


@pytest.mark.parametrize("pattern,value,ignore_case,expected", [
    ("*", "", False, True),
    ("*", "anything:at/all", False, True),
    ("s3:Get*", "s3:GetObject", True, True),
    ("s3:get*", "S3:GETOBJECT", True, True),
    ("s3:Get*", "s3:PutObject", True, False),
    ("iam:*AccessKey*", "iam:CreateAccessKey", True, True),
    ("iam:*Report", "iam:GetOrganizationsAccessReport", True, True),
    ("iam:*Report", "iam:GetOrganizationsAccessReports", True, False),
    ("ec2:Describe?", "ec2:DescribeX", True, True),
    ("ec2:Describe?", "ec2:Describe", True, False),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c", False, True),
    ("arn:aws:s3:::Bucket/*", "arn:aws:s3:::bucket/a", False, False),
    ("arn:aws:s3:::*log*", "arn:aws:s3:::carlossalazar-logs", False, True),
    ("arn:aws:sqs:*:123456789012:q", "arn:aws:sqs:us-east-1:123456789012:q", False, True),
    ("a.b(c)[d]+", "a.b(c)[d]+", False, True),
    ("a.b", "axb", False, False),
])
def test_wildcards(pattern, value, ignore_case, expected):
    assert wildcard_match(pattern, value, ignore_case) is expected


def test_wildcard_sets_compile_exact_and_patterns():
    w = Wildcards([((TEXT, "s3:GetObject"),), ((TEXT, "sqs:*"),)], ignore_case=True)
    assert w.exact == {"s3:getobject"}
    assert w.match("s3:getobject") and w.match("sqs:sendmessage")
    assert not w.match("s3:putobject")
    assert not Wildcards([]).match("")


@pytest.mark.parametrize("pattern,value,expected", [
    # The IAM User Guide's ARN-operator example: ArnLike matches part by part.
    ("arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", False),
    ("arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:111122223333:finance/document.txt", True),
    ("arn:aws:sns:*:123456789012:topic", "arn:aws:sns:eu-west-1:123456789012:topic", True),
    ("arn:aws:iam::*:role/Admin*", "arn:aws:iam::123456789012:role/AdminOps", True),
    ("arn:aws:iam::*:role/Admin*", "arn:aws:iam::123456789012:user/AdminOps", False),
    ("arn:aws:s3:::bucket", "arn:aws:s3:::bucket", True),
    ("arn:aws:s3:::bucket", "arn:aws:s3:::Bucket", False),
    ("arn:aws:lambda:us-east-1:1:function:f:*", "arn:aws:lambda:us-east-1:1:function:f:prod", True),
    ("*", "not-an-arn", True),
    ("arn:aws:sqs:*:*:q", "not:an:arn", False),
])
def test_arn_like(pattern, value, expected):
    assert ArnPattern(parse_template(pattern, False)).match(value) is expected
    # StringLike differs exactly where a wildcard would cross a colon.
    if pattern.startswith("arn:aws:someservice") and not expected:
        assert wildcard_match(pattern, value)


def test_templates():
    assert parse_template("plain", True) == ((TEXT, "plain"),)
    assert parse_template("${aws:username}", False) == ((TEXT, "${aws:username}"),)
    t = parse_template("home/${aws:username}/*", True)
    assert t == ((TEXT, "home/"), (VAR, "aws:username", "aws:username", None), (TEXT, "/*"))
    t = parse_template("${aws:PrincipalTag/team, 'none'}", True)
    assert t == ((VAR, "aws:principaltag/team", "aws:PrincipalTag/team", "none"),)
    assert parse_template("a${*}b${?}c${$}", True) == ((TEXT, "a"), (LITERAL, "*"), (TEXT, "b"), (LITERAL, "?"),
                                                       (TEXT, "c"), (LITERAL, "$"))


def test_resolve():
    values = {"aws:username": ["alice"], "aws:tagkeys": ["a", "b"]}
    lookup = values.get
    assert resolve(parse_template("home/${aws:username}/*", True), lookup) == (
        (TEXT, "home/"), (LITERAL, "alice"), (TEXT, "/*"))
    # Missing key: unresolvable, unless there is a default.
    assert resolve(parse_template("${aws:userid}", True), lookup) is None
    assert resolve(parse_template("${aws:userid, 'anonymous'}", True), lookup) == ((LITERAL, "anonymous"),)
    # A multivalued key cannot be a variable.
    assert resolve(parse_template("${aws:TagKeys}", True), lookup) is None


def test_substituted_values_and_escapes_are_literal():
    star = Wildcards([parse_template("arn:aws:s3:::b/${*}", True)])
    assert star.match("arn:aws:s3:::b/*")
    assert not star.match("arn:aws:s3:::b/x")
    t = resolve(parse_template("arn:aws:s3:::b/${aws:username}", True), {"aws:username": ["a*"]}.get)
    w = Wildcards([t])
    assert w.match("arn:aws:s3:::b/a*")
    assert not w.match("arn:aws:s3:::b/abc")
