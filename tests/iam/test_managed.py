"""AWS managed policies: real ARNs, paths and documents, loaded once."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import orjson

from cloudlet.iam.managed import (
    DATA_FILE,
    ManagedPolicy,
    managed_policies,
    managed_policy_by_arn,
)

REQUIRED = (
    "AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess",
    "IAMUserChangePassword", "AmazonSQSFullAccess", "AmazonSQSReadOnlyAccess", "AmazonSNSFullAccess",
    "AmazonSNSReadOnlyAccess", "AmazonS3FullAccess", "AmazonS3ReadOnlyAccess", "CloudWatchFullAccess",
    "CloudWatchFullAccessV2", "CloudWatchReadOnlyAccess", "CloudWatchLogsFullAccess",
    "CloudWatchLogsReadOnlyAccess", "AWSCloudTrail_FullAccess", "AWSCloudTrail_ReadOnlyAccess",
    "AWSKeyManagementServicePowerUser", "AmazonEventBridgeFullAccess", "AmazonEventBridgeReadOnlyAccess",
    "AmazonSESFullAccess", "AmazonSESReadOnlyAccess", "AWSLambda_FullAccess", "AWSLambda_ReadOnlyAccess",
    "AWSLambdaBasicExecutionRole", "AdministratorAccess-AWSElasticBeanstalk", "AWSElasticBeanstalkReadOnly",
    "AmazonECS_FullAccess", "AmazonEC2ContainerRegistryFullAccess", "AmazonEC2ContainerRegistryReadOnly",
)


def _epoch(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def _actions(document: str, key: str = "Action") -> list[str]:
    out: list[str] = []
    for statement in orjson.loads(document)["Statement"]:
        value = statement.get(key, [])
        out.extend([value] if isinstance(value, str) else value)
    return out


def test_required_policies_present():
    missing = [name for name in REQUIRED if name not in managed_policies()]
    assert missing == []


def test_administrator_access_is_allow_everything():
    policy = managed_policies()["AdministratorAccess"]
    assert policy.arn == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert policy.path == "/"
    assert policy.version == "v1"
    assert policy.description == "Provides full access to AWS services and resources."
    assert policy.created == policy.updated == _epoch(2015, 2, 6, 18, 39, 46)
    assert policy.document == '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'


def test_sqs_full_access_allows_sqs_star():
    policy = managed_policies()["AmazonSQSFullAccess"]
    assert policy.arn == "arn:aws:iam::aws:policy/AmazonSQSFullAccess"
    assert policy.version == "v1"
    assert orjson.loads(policy.document) == {
        "Version": "2012-10-17",
        "Statement": [{"Action": ["sqs:*"], "Effect": "Allow", "Resource": "*"}],
    }
    # Key order is AWS's own (Action before Effect in this one).
    assert policy.document == '{"Version":"2012-10-17","Statement":[{"Action":["sqs:*"],"Effect":"Allow","Resource":"*"}]}'


def test_lambda_basic_execution_role_lives_under_service_role():
    arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    policy = managed_policy_by_arn(arn)
    assert policy is managed_policies()["AWSLambdaBasicExecutionRole"]
    assert policy.arn == arn
    assert policy.path == "/service-role/"
    assert policy.version == "v1"
    assert policy.created == policy.updated == _epoch(2015, 4, 9, 15, 3, 43)
    assert orjson.loads(policy.document) == {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }],
    }
    # Without its path the ARN names no policy.
    assert managed_policy_by_arn("arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole") is None


def test_power_user_access_excludes_iam_organizations_and_account():
    policy = managed_policies()["PowerUserAccess"]
    first = orjson.loads(policy.document)["Statement"][0]
    assert first == {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"}
    assert "iam:CreateServiceLinkedRole" in _actions(policy.document)


def test_read_only_access_is_the_whole_document():
    policy = managed_policies()["ReadOnlyAccess"]
    statements = orjson.loads(policy.document)["Statement"]
    assert statements[0]["Sid"] == "ReadOnlyActionsGroup1"
    actions = _actions(policy.document)
    assert len(actions) > 2000
    assert {"s3:Get*", "s3:List*", "sqs:Get*", "sqs:List*", "iam:Get*", "iam:List*"} <= set(actions)
    assert not any(action.startswith(("s3:Put", "iam:Create", "sqs:Send")) for action in actions)


def test_every_document_is_valid_policy_json():
    for name, policy in managed_policies().items():
        document = orjson.loads(policy.document)
        assert document["Version"] == "2012-10-17", name
        assert isinstance(document["Statement"], list) and document["Statement"], name
        for statement in document["Statement"]:
            assert statement["Effect"] in ("Allow", "Deny"), name
            assert ("Action" in statement) != ("NotAction" in statement), name


def test_every_document_is_kept_exactly_as_stored():
    text = DATA_FILE.read_text()
    for name, policy in managed_policies().items():
        assert policy.document in text, name
        assert orjson.dumps(orjson.loads(policy.document)).decode() == policy.document, name


def test_every_arn_is_path_plus_name():
    for name, policy in managed_policies().items():
        assert policy.name == name
        assert policy.path.startswith("/") and policy.path.endswith("/"), name
        assert policy.arn == f"arn:aws:iam::aws:policy{policy.path}{name}", name
        assert managed_policy_by_arn(policy.arn) is policy


def test_metadata_is_well_formed():
    for name, policy in managed_policies().items():
        assert re.fullmatch(r"v[1-9][0-9]*", policy.version), name
        assert policy.description, name
        assert _epoch(2015, 1, 1) <= policy.created <= policy.updated, name


def test_loaded_once_and_immutable():
    assert managed_policies() is managed_policies()
    policy = managed_policies()["IAMFullAccess"]
    assert isinstance(policy, ManagedPolicy)
    try:
        policy.version = "v99"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("ManagedPolicy should be frozen")
    assert managed_policy_by_arn("arn:aws:iam::aws:policy/NoSuchPolicy") is None
