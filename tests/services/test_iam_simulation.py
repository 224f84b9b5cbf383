"""Simulation (AWS CLI and boto3) agrees with enforcement; bad policies and
bad credentials answer AWS's errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError

from tests.http import send

ACCOUNT = "000000000000"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Groups", "Effect": "Allow", "Action": ["iam:ListGroups", "iam:ListUsers"], "Resource": "*"},
    {"Sid": "NoUsers", "Effect": "Deny", "Action": "iam:ListUsers", "Resource": "*"}]})
ACTIONS = ["iam:ListGroups", "iam:ListUsers", "iam:ListRoles"]
EXPECTED = {"iam:ListGroups": "allowed", "iam:ListUsers": "explicitDeny", "iam:ListRoles": "implicitDeny"}


def aws(cloudlet, *args) -> dict:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_ENDPOINT_URL=cloudlet.endpoint, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    proc = subprocess.run([sys.executable, "-m", "awscli", *args, "--output", "json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_simulations_agree_with_enforcement(cloudlet):
    iam = cloudlet.client("iam")
    user_arn = iam.create_user(UserName="sim")["User"]["Arn"]
    iam.put_user_policy(UserName="sim", PolicyName="p", PolicyDocument=POLICY)
    key = iam.create_access_key(UserName="sim")["AccessKey"]
    as_user = cloudlet.client("iam", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    enforced = {}
    for action, call in (("iam:ListGroups", as_user.list_groups), ("iam:ListUsers", as_user.list_users),
                         ("iam:ListRoles", as_user.list_roles)):
        try:
            call()
            enforced[action] = "allowed"
        except ClientError as exc:
            message = exc.response["Error"]["Message"]
            enforced[action] = "explicitDeny" if "explicit deny" in message else "implicitDeny"
    assert enforced == EXPECTED

    custom = aws(cloudlet, "iam", "simulate-custom-policy", "--policy-input-list", POLICY,
                 "--action-names", *ACTIONS)
    assert {r["EvalActionName"]: r["EvalDecision"] for r in custom["EvaluationResults"]} == EXPECTED
    groups = next(r for r in custom["EvaluationResults"] if r["EvalActionName"] == "iam:ListGroups")
    assert groups["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    assert groups["MatchedStatements"][0]["StartPosition"]["Line"] == 1

    principal = aws(cloudlet, "iam", "simulate-principal-policy", "--policy-source-arn", user_arn,
                    "--action-names", *ACTIONS)
    assert {r["EvalActionName"]: r["EvalDecision"] for r in principal["EvaluationResults"]} == EXPECTED


def test_simulation_reports_missing_context(cloudlet):
    iam = cloudlet.client("iam")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
    out = iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:GetObject"])
    assert out["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    assert out["EvaluationResults"][0]["MissingContextValues"] == ["aws:SourceIp"]
    out = iam.simulate_custom_policy(PolicyInputList=[policy], ActionNames=["s3:GetObject"], ContextEntries=[
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"}])
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"


@pytest.mark.parametrize("document,message", [
    ('{"Version": "2012-10-17", "Statement": [', "Syntax errors in policy."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                         "Condition": {"StringFuzzy": {"aws:username": "x"}}}]}),
     "Syntax errors in policy."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),
     "Policy statement must contain resources."),
    (json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                         "Principal": "*"}]}),
     "Policy document should not specify a principal."),
])
def test_malformed_policies(cloudlet, document, message):
    with pytest.raises(ClientError) as exc:
        cloudlet.client("iam").create_policy(PolicyName="bad", PolicyDocument=document)
    assert exc.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    assert exc.value.response["Error"]["Message"] == message


def test_garbage_authorization_header(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": "garbage!!"})
    assert resp.status == 400
    assert b"<Code>IncompleteSignature</Code>" in resp.body


def test_signature_over_the_wrong_body(cloudlet):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import http.client

    iam = cloudlet.client("iam")
    iam.create_user(UserName="signer")
    key = iam.create_access_key(UserName="signer")["AccessKey"]
    req = AWSRequest(method="POST", url=cloudlet.endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "sts", "us-east-1").add_auth(req)
    headers = dict(req.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", cloudlet.port, timeout=10)
    conn.request("POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-16", headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    assert resp.status == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in body


def test_context_keys(cloudlet):
    iam = cloudlet.client("iam")
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:username}/*",
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"}}}]})
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[policy])["ContextKeyNames"]
    assert keys == ["aws:username", "aws:SourceIp", "aws:SecureTransport"]
    arn = iam.create_user(UserName="ck")["User"]["Arn"]
    iam.put_user_policy(UserName="ck", PolicyName="p", PolicyDocument=policy)
    assert iam.get_context_keys_for_principal_policy(PolicySourceArn=arn)["ContextKeyNames"] == keys


def test_presigned_url_expires_with_the_clock(cloudlet):
    import urllib.error
    import urllib.request

    iam = cloudlet.client("iam")
    iam.create_user(UserName="presigner")
    key = iam.create_access_key(UserName="presigner")["AccessKey"]
    sts = cloudlet.client("sts", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    cloudlet.clock.freeze()
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=300, HttpMethod="GET")
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert b"<Arn>arn:aws:iam::000000000000:user/presigner</Arn>" in resp.read()
    cloudlet.clock.advance(301)
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(url, timeout=10)
    body = exc.value.read()
    assert exc.value.code == 400
    assert b"<Code>RequestExpired</Code>" in body
