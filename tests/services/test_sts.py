"""STS through the whole path: boto3 and the AWS CLI against a live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from botocore.exceptions import ClientError


def test_get_caller_identity_default_root(cloudlet):
    out = cloudlet.client("sts").get_caller_identity()
    assert out["Account"] == "000000000000"
    assert out["UserId"] == "000000000000"
    assert out["Arn"] == "arn:aws:iam::000000000000:root"
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(out["ResponseMetadata"]["RequestId"]) == 36


def test_twelve_digit_key_is_that_accounts_root(cloudlet):
    out = cloudlet.client("sts", access_key="123456789012").get_caller_identity()
    assert out["Account"] == "123456789012"
    assert out["Arn"] == "arn:aws:iam::123456789012:root"


def test_unknown_key_is_default_root(cloudlet):
    out = cloudlet.client("sts", access_key="AKIAIOSFODNN7EXAMPLE").get_caller_identity()
    assert out["Account"] == "000000000000"


def test_region_does_not_change_identity(cloudlet):
    out = cloudlet.client("sts", region="eu-west-1").get_caller_identity()
    assert out["Arn"] == "arn:aws:iam::000000000000:root"


def test_aws_cli_get_caller_identity(cloudlet):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=cloudlet.endpoint,
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.pop("AWS_PROFILE", None)
    proc = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--output", "json"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "UserId": "000000000000",
        "Account": "000000000000",
        "Arn": "arn:aws:iam::000000000000:root",
    }


def test_missing_required_member_is_validation_error(raw_client):
    sts = raw_client("sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/r")
    err = exc.value.response["Error"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Code"] == "ValidationError"
    assert err["Type"] == "Sender"
    assert err["Message"] == ("1 validation error detected: Value null at 'roleSessionName' "
                              "failed to satisfy constraint: Member must not be null")


def test_out_of_range_value_is_validation_error(raw_client):
    sts = raw_client("sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/role-name", RoleSessionName="s1",
                        DurationSeconds=100)
    err = exc.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == ("1 validation error detected: Value '100' at 'durationSeconds' failed to "
                              "satisfy constraint: Member must have value greater than or equal to 900")


def test_several_violations_are_all_reported(raw_client):
    sts = raw_client("sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn="arn", RoleSessionName="x", DurationSeconds=100)
    message = exc.value.response["Error"]["Message"]
    assert message.startswith("3 validation errors detected: ")
    assert "Value 'arn' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20" in message
    assert "Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2" in message
    assert "Value '100' at 'durationSeconds'" in message
