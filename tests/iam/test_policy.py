"""parse_policy: each malformed document answers the text AWS answers with,
valid ones compile, and statements know where they are in the text."""

from __future__ import annotations

import json

import pytest

from cloudlet.iam import PolicyError, parse_policy

V = "2012-10-17"
BUCKET = "arn:aws:s3:::example_bucket"


def doc(statement, **top) -> dict:
    return {"Version": V, "Statement": statement, **top}


def ok(**kw) -> dict:
    return {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": BUCKET, **kw}


IAM_PATH_MESSAGE = ('IAM resource path must either be "*", root, or start with user/, federated-user/, role/, '
                    'group/, instance-profile/, mfa/, server-certificate/, policy/, sms-mfa/, saml-provider/, '
                    'oidc-provider/, report/, access-report/.')

# Identity-based policies (CreatePolicy, Put*Policy): IAM's validator, in its order.
IDENTITY_MALFORMED = [
    ("This is not a json document", "Syntax errors in policy."),
    ('{"Version": "2012-10-17", "Statement": ', "Syntax errors in policy."),
    ({"Statement": ok()}, "Policy document must be version 2012-10-17 or greater."),
    ({"Version": "2008-10-17", "Statement": ok()}, "Policy document must be version 2012-10-17 or greater."),
    ({"Version": "2013-10-17", "Statement": ok()}, "Syntax errors in policy."),
    ({"Version": V}, "Syntax errors in policy."),
    (doc(["afd"]), "Syntax errors in policy."),
    (doc([]), "Syntax errors in policy."),
    (doc(ok(), **{"Extra field": "value"}), "Syntax errors in policy."),
    (doc(ok(**{"Extra field": "value"})), "Syntax errors in policy."),
    (doc(ok(), Id=["x"]), "Syntax errors in policy."),
    (doc(ok(), Id={}), "Syntax errors in policy."),
    (doc(ok(Effect="invalid")), "Syntax errors in policy."),
    (doc({"Action": "s3:ListBucket", "Resource": BUCKET}), "Syntax errors in policy."),
    (doc(ok(Resource={"a": BUCKET})), "Syntax errors in policy."),
    (doc(ok(Resource=["adfdf", {}])), "Syntax errors in policy."),
    (doc(ok(Action=[[]])), "Syntax errors in policy."),
    (doc(ok(Action={})), "Syntax errors in policy."),
    (doc({**ok(), "NotAction": "s3:ListBucket"}), "Syntax errors in policy."),
    (doc({**ok(), "NotResource": "*"}), "Syntax errors in policy."),
    (doc(ok(Condition=[])), "Syntax errors in policy."),
    (doc(ok(Condition="a")), "Syntax errors in policy."),
    (doc(ok(Condition={"a": "b"})), "Syntax errors in policy."),
    (doc(ok(Condition={"DateGreaterThan": "b"})), "Syntax errors in policy."),
    (doc(ok(Condition={"DateGreaterThan": []})), "Syntax errors in policy."),
    (doc(ok(Condition={"DateGreaterThan": {"a": {}}})), "Syntax errors in policy."),
    (doc(ok(Condition={"StringEquals": {"a": None}})), "Syntax errors in policy."),
    # An operator IAM does not know.
    (doc(ok(Condition={"Foo": {"a": "1"}})), "Syntax errors in policy."),
    (doc(ok(Condition={"ForAnyValue::StringEqualsIfExists": {"a": "asf"}})), "Syntax errors in policy."),
    (doc(ok(Condition=[{"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}}])),
     "Syntax errors in policy."),
    (doc(ok(Sid={})), "Syntax errors in policy."),
    (doc(ok(Sid=[])), "Syntax errors in policy."),
    (doc(ok(Principal={"AWS": "*"})), "Policy document should not specify a principal."),
    (doc(ok(NotPrincipal={"AWS": "arn:aws:iam::123456789012:root"})),
     "Policy document should not specify a principal."),
    (doc(ok(Effect="denY")), "The policy failed legacy parsing"),
    (doc({"Effect": "allow", "Resource": "arn:aws:s3:us-east-1::example_bucket"}),
     "The policy failed legacy parsing"),
    (doc(ok(Condition={"DateGreaterThan": {"a": "sdfdsf"}})), "The policy failed legacy parsing"),
    (doc({"Effect": "Allow", "Condition": {"DateGreaterThan": {"a": "sdfdsf"}}}),
     "The policy failed legacy parsing"),
    (doc(ok(Condition={"DateLessThanEquals": {"a": "234-13"}})), "The policy failed legacy parsing"),
    (doc(ok(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+1"}})),
     "The policy failed legacy parsing"),
    (doc(ok(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.1999999999+10:59"}})),
     "The policy failed legacy parsing"),
    (doc(ok(Condition={"DateLessThan": {"a": "9223372036854775808"}})), "The policy failed legacy parsing"),
    (doc(ok(Resource="arn:aws:s3::example_bucket")), "The policy failed legacy parsing"),
    (doc({"Effect": "Allow", "Resource": "arn:aws:s3::example_bucket"}), "The policy failed legacy parsing"),
    (doc({"Effect": "Allow", "NotAction": "s3:ListBucket", "NotResource": "arn:aws::::example_bucket"}),
     "The policy failed legacy parsing"),
    (doc(ok(Resource="arn:aws::fdsasf")), "The policy failed legacy parsing"),
    (doc(ok(Resource="arn:error:s3:::example_bucket", Condition={"DateGreaterThan": {"a": "sdfdsf"}})),
     "The policy failed legacy parsing"),
    (doc([ok(Sid="sdf", Effect="aLLow"), {"Sid": "sdf", "Effect": "Allow"}]), "The policy failed legacy parsing"),
    ({"Statement": ok(Effect="denY")}, "Policy document must be version 2012-10-17 or greater."),
    (doc([ok(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}]),
     "Statement IDs (SID) in a single policy must be unique."),
    ({"Statement": [ok(Sid="sdf"), {"Sid": "sdf", "Effect": "Allow"}]},
     "Policy document must be version 2012-10-17 or greater."),
    (doc({"Effect": "Allow", "Resource": BUCKET}), "Policy statement must contain actions."),
    (doc({"Effect": "Allow"}), "Policy statement must contain actions."),
    (doc(ok(Action=[])), "Policy statement must contain actions."),
    (doc([{"Effect": "Deny"}, ok()]), "Policy statement must contain actions."),
    (doc(ok(Resource="invalid resource")), 'Resource invalid resource must be in ARN format or "*".'),
    (doc(ok(Resource="")), 'Resource  must be in ARN format or "*".'),
    (doc(ok(Resource=["adf"])), 'Resource adf must be in ARN format or "*".'),
    (doc(ok(Action="s:3:ListBucket", Resource="sdfsadf")), 'Resource sdfsadf must be in ARN format or "*".'),
    (doc({"Effect": "Allow", "NotAction": "s3s:ListBucket", "Resource": "a:bsdfdsafsad"}),
     'Partition "bsdfdsafsad" is not valid for resource "arn:bsdfdsafsad:*:*:*:*".'),
    (doc({"Effect": "Allow", "NotAction": "s3s:ListBucket", "Resource": "a:b:cadfsdf"}),
     'Partition "b" is not valid for resource "arn:b:cadfsdf:*:*:*".'),
    (doc({"Effect": "Allow", "NotAction": "s3s:ListBucket", "Resource": "a:b:c:d:e:f:g:h"}),
     'Partition "b" is not valid for resource "arn:b:c:d:e:f:g:h".'),
    (doc(ok(Resource="aws:s3:::example_bucket")),
     'Partition "s3" is not valid for resource "arn:s3:::example_bucket:*".'),
    (doc(ok(Resource=["arn:error:s3:::example_bucket", "arn:error:s3::example_bucket"])),
     'Partition "error" is not valid for resource "arn:error:s3:::example_bucket".'),
    (doc(ok(Resource="arn:aws")), "Resource vendor must be fully qualified and cannot contain regexes."),
    (doc(ok(Resource="arn:aws:iam:::example_bucket")), IAM_PATH_MESSAGE),
    (doc(ok(Resource="arn:aws:iam:us-east-1::example_bucket")),
     "IAM resource arn:aws:iam:us-east-1::example_bucket cannot contain region information."),
    (doc(ok(Resource="arn:aws:s3:us-east-1::example_bucket")),
     "Resource arn:aws:s3:us-east-1::example_bucket can not contain region information."),
    (doc(ok(Action="invalid")), "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc({"Effect": "Allow", "NotAction": "", "Resource": BUCKET}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    # The vendor check comes before the check for resources.
    (doc({"Effect": "Allow", "Action": "invalid"}),
     "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
    (doc(ok(Action="a a:ListBucket")), "Vendor a a is not valid"),
    (doc(ok(Action="s3:List:Bucket")), "Actions/Condition can contain only one colon."),
    (doc([ok(Action="s3s:ListBucket"), ok(Action="s:3s:ListBucket")]),
     "Actions/Condition can contain only one colon."),
    (doc({"Effect": "Allow", "Action": "s3:ListBucket"}), "Policy statement must contain resources."),
    (doc(ok(Resource=[])), "Policy statement must contain resources."),
]


@pytest.mark.parametrize("document,message", IDENTITY_MALFORMED)
def test_identity_policy_messages(document, message):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "identity")
    assert exc.value.message == message
    # A permissions boundary is a managed policy: the same validator.
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "boundary")
    assert exc.value.message == message


IDENTITY_VALID = [
    doc(ok(Resource=[BUCKET])),
    doc(ok(Action="iam: asdf safdsf af ")),
    doc(ok(Resource=[BUCKET, "*"])),
    doc(ok(Action="*")),
    doc([ok()]),
    doc({"Effect": "Allow", "Action": "service-prefix:action-name", "Resource": "*",
         "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2017-07-01T00:00:00Z"},
                       "DateLessThan": {"aws:CurrentTime": "2017-12-31T23:59:59Z"}}}),
    doc(ok(Resource="arn:aws:iam:::user/example_bucket")),
    doc(ok(Resource="arn:aws:iam::123456789012:root")),
    doc(ok(Resource="arn:aws:s33:::example_bucket")),
    doc(ok(Resource="arn:aws:fdsasf")),
    doc(ok(Condition={})),
    doc(ok(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": "Department"}})),
    doc(ok(Resource="arn:aws:cloudwatch:us-east-1::example_bucket")),
    doc(ok(Resource="arn:aws:invalid-service:us-east-1::example_bucket")),
    doc(ok(Resource="arn:aws:s3:us-east-1:123456789012:accesspoint/ap")),
    doc(ok(Condition={"DateGreaterThan": {}})),
    doc(ok(Condition={"DateGreaterThan": {"a": []}})),
    doc(ok(Condition={"a": {}})),
    doc(ok(Condition={"x": {}, "y": {}})),
    doc(ok(Condition={"DateGreaterThan": {"a": "01T"}})),
    doc(ok(Condition={"DateLessThanEquals": {"a": "2016-12-13t2:00:00.593194+23"}})),
    doc(ok(Condition={"DateLessThanEquals": {"a": "2016-12-13T21:20:37.593194+00:00"}})),
    doc(ok(Condition={"DateLessThan": {"a": "-292275054"}})),
    doc(ok(Condition={"StringEqualsIfExists": {"a": "asf"}})),
    doc(ok(Condition={"ForAnyValue:StringEqualsIfExists": {"a": "asf"}})),
    doc(ok(Condition={"Bool": {"aws:SecureTransport": False}, "NumericLessThan": {"s3:max-keys": 10}})),
    doc({"Effect": "Allow", "NotAction": "s3:ListBucket", "NotResource": "*"}),
    doc({"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::HRBucket/Payroll",
                                                             "arn:aws:s3:::HRBucket/Payroll/*"]}),
    doc(ok(Action="aaaaaadsfdsafsadfsadfaaaaa:ListBucket")),
    doc(ok(Action="s3-s:ListBucket")),
    doc(ok(Action="s3.s:ListBucket")),
    doc(ok(), Id="sdfsdfsdf"),
    doc([ok(Sid="sdf"), ok()]),
    doc(ok(Resource="arn:aws:s3:::bucket/${aws:username}/*")),
]


@pytest.mark.parametrize("document", IDENTITY_VALID)
def test_identity_policy_valid(document):
    policy = parse_policy(json.dumps(document), "identity", source="p")
    assert policy.kind == "identity"
    assert policy.source == "p"


TRUST_OK = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}

# Role trust policies (CreateRole, UpdateAssumeRolePolicy): IAM's newer parser.
TRUST_MALFORMED = [
    ("{not json", "This policy contains invalid Json"),
    ({"Version": "2011-01-01", "Statement": TRUST_OK}, "The policy must contain a valid version string"),
    ({"Version": V, "Statement": []}, "Could not parse the policy: Statement is empty!"),
    ({"Version": V}, "Could not parse the policy: Statement is empty!"),
    (doc({"Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}), "Missing required field Effect"),
    (doc({**TRUST_OK, "Effect": "allow"}), "Invalid effect: allow"),
    (doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "Missing required field Principal"),
    (doc({**TRUST_OK, "Principal": {}}), "Missing required field Principal cannot be empty!"),
    (doc({**TRUST_OK, "Principal": "arn:aws:iam::123456789012:root"}), "Principal must be a JSON object."),
    (doc({**TRUST_OK, "Principal": {"Bogus": "x"}}), 'Invalid principal in policy: "Bogus"'),
    (doc({**TRUST_OK, "Principal": {"AWS": "alice"}}), 'Invalid principal in policy: "AWS":"alice"'),
    (doc({"Effect": "Allow", "NotPrincipal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
     "Allow with NotPrincipal is not allowed."),
    (doc({"Effect": "Deny", "NotPrincipal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
     "AssumeRole policy must not contain NotPrincipal field."),
    (doc({"Effect": "Allow", "Principal": {"AWS": "*"}}), "Missing required field Action"),
    (doc({**TRUST_OK, "Action": "*"}), "AssumeRole policy may only specify STS AssumeRole actions."),
    (doc({**TRUST_OK, "Action": ["sts:AssumeRole", "s3:GetObject"]}),
     "AssumeRole policy may only specify STS AssumeRole actions."),
    (doc({**TRUST_OK, "Resource": "*"}), "Has prohibited field Resource"),
    (doc({**TRUST_OK, "NotResource": "*"}), "AssumeRole policy must not contain resources."),
    (doc({**TRUST_OK, "Condition": {"Foo": {"a": "b"}}}), "Syntax error in policy."),
    (doc([{**TRUST_OK, "Sid": "a"}, {**TRUST_OK, "Sid": "a"}]), "The Statement Ids in the policy are not unique"),
]


@pytest.mark.parametrize("document,message", TRUST_MALFORMED)
def test_trust_policy_messages(document, message):
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, "trust")
    assert exc.value.message == message


def test_trust_policy_valid():
    for statement in (
        TRUST_OK,
        {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]},
         "Action": ["sts:AssumeRole", "sts:TagSession"]},
        {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/example.com"},
         "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {"example.com:aud": "app"}}},
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"},
    ):
        parse_policy(json.dumps({"Version": "2008-10-17", "Statement": statement}), "trust")
        parse_policy(json.dumps({"Statement": [statement]}), "trust")


RESOURCE_OK = {"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sqs:SendMessage",
               "Resource": "arn:aws:sqs:us-east-1:123456789012:q"}


def test_resource_policy_rules():
    # Older versions, an Id and no Resource are fine in a resource policy.
    parse_policy(json.dumps({"Version": "2008-10-17", "Id": "q/SQSDefaultPolicy", "Statement": RESOURCE_OK}),
                 "resource")
    parse_policy(json.dumps({"Statement": [{k: v for k, v in RESOURCE_OK.items() if k != "Resource"}]}), "resource")
    cases = [
        ({k: v for k, v in RESOURCE_OK.items() if k != "Principal"}, "Missing required field Principal"),
        ({**RESOURCE_OK, "Principal": {}}, "Missing required field Principal cannot be empty!"),
        ({**RESOURCE_OK, "Principal": {"Bogus": "x"}}, 'Invalid principal in policy: "Bogus"'),
        ({**RESOURCE_OK, "Action": "SendMessage"},
         "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."),
        ({**RESOURCE_OK, "Effect": "Maybe"}, "Syntax errors in policy."),
        ({k: v for k, v in RESOURCE_OK.items() if k != "Action"}, "Policy statement must contain actions."),
    ]
    for statement, message in cases:
        with pytest.raises(PolicyError) as exc:
            parse_policy(json.dumps(doc(statement)), "resource")
        assert exc.value.message == message, statement


def test_scp_and_session_policies():
    with pytest.raises(PolicyError) as exc:
        parse_policy(json.dumps(doc(ok(Principal="*"))), "scp")
    assert exc.value.message == ("The provided policy document does not meet the requirements of the specified "
                                 "policy type.")
    with pytest.raises(PolicyError) as exc:
        parse_policy("{", "scp")
    assert exc.value.message.startswith("The provided policy document")
    parse_policy(json.dumps({"Statement": ok()}), "scp")
    with pytest.raises(PolicyError) as exc:
        parse_policy(json.dumps(doc(ok(Principal="*"))), "session")
    assert exc.value.message == "Policy document should not specify a principal."
    parse_policy(json.dumps({"Statement": ok()}), "session")


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_policy(json.dumps(doc(ok())), "bucket")


def test_statement_forms():
    # Statement may be an object or a list; Action/Resource a string or a list.
    one = parse_policy(doc(ok(Sid="S1")))
    many = parse_policy(doc([ok(Sid="A", Action=["s3:Get*", "s3:List*"]), ok(Sid="B", Resource=[BUCKET, "*"])]))
    assert [s.sid for s in one.statements] == ["S1"]
    assert [s.sid for s in many.statements] == ["A", "B"]
    assert [s.effect for s in many.statements] == ["Allow", "Allow"]
    assert one.document["Statement"]["Sid"] == "S1"
    assert one.version == V


# The AWS CLI's own SimulateCustomPolicy example: the statement's position is
# reported from just after its "{" to just after its "}".
CLI_EXAMPLE = ('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*",'
               '"Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}')


def test_statement_positions_match_the_simulator():
    policy = parse_policy(CLI_EXAMPLE, source="PolicyInputList.1")
    assert policy.text == CLI_EXAMPLE
    (st,) = policy.statements
    assert (st.start, st.end) == ((1, 38), (1, 167))


def test_statement_positions_multiline():
    # The shape of the CLI's SimulatePrincipalPolicy example (Line 3, Column 19 to Line 9, Column 10).
    text = ('{\n'
            '    "Version": "2012-10-17",\n'
            '    "Statement": {\n'
            '        "Sid": "Grant-Access-To-CodeCommit-ListRepo",\n'
            '        "Effect": "Allow",\n'
            '        "Action": "codecommit:ListRepositories",\n'
            '        "Resource": "*",\n'
            '        "Condition": {}\n'
            '        }\n'
            '}')
    (st,) = parse_policy(text).statements
    assert (st.start, st.end) == ((3, 19), (9, 10))
    text = ('{"Version": "2012-10-17",\n "Statement": [\n  {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},\n'
            '  {"Sid": "two", "Effect": "Allow", "Action": "s3:*",\n   "Resource": "*"}\n ]\n}')
    first, second = parse_policy(text).statements
    assert (first.start, first.end) == ((3, 4), (3, 56))
    assert (second.start, second.end) == ((4, 4), (5, 20))
    assert second.sid == "two"


def test_dict_documents_are_serialized_for_positions():
    policy = parse_policy(doc(ok()))
    assert policy.text == json.dumps(doc(ok()))
    (st,) = policy.statements
    assert st.start == (1, policy.text.index('{"Effect"') + 2)


def test_context_keys():
    policy = parse_policy(doc([
        ok(Resource="arn:aws:s3:::bucket/${aws:username}/*", Condition={
            "StringLike": {"s3:prefix": "home/${aws:PrincipalTag/team, 'none'}/*"},
            "Bool": {"aws:SecureTransport": "true"}}),
        ok(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"}}),
    ]))
    assert policy.context_keys() == ["aws:username", "s3:prefix", "aws:PrincipalTag/team", "aws:SecureTransport",
                                     "aws:SourceIp"]
