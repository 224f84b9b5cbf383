"""CloudWatch Logs resource policies through boto3: Put / Describe /
DeleteResourcePolicy with AWS's limits, errors and stored form, and their
enforcement: an AWS service (a call through the gateway's internal
dispatcher, as EventBridge or vended-log delivery make them) may create
streams in and put events into a group only once a resource policy grants
it; IAM users and other accounts are not granted anything by one, as AWS
documents."""

from __future__ import annotations

import asyncio
import json

import pytest
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import user_with

A = "000000000000"
B = "222222222222"
REGION = "us-east-1"
START = "2030-06-01T12:00:00Z"
T0 = 1_906_545_600_000  # START in milliseconds
GROUP = "/aws/events/orders"
GROUP_ARN = f"arn:aws:logs:{REGION}:{A}:log-group:{GROUP}"
EVENTS = "events.amazonaws.com"
RULE_ARN = f"arn:aws:events:{REGION}:{A}:rule/orders"


@pytest.fixture
def logs(cloudlet):
    cloudlet.clock.set(START)
    client = cloudlet.client("logs")
    client.create_log_group(logGroupName=GROUP)
    return client


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def policy(*statements, version="2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


def grant(services, actions=("logs:CreateLogStream", "logs:PutLogEvents"), resource=f"{GROUP_ARN}:*", **extra):
    return {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": list(actions),
            "Resource": resource, **extra}


def as_service(cloudlet, operation: str, params: dict, service: str = EVENTS, source_arn: str | None = RULE_ARN):
    """A call to Logs by an AWS service principal, through the gateway's
    internal dispatcher on the server's own loop (what a service's delivery
    does); raises the AwsError a refused call meets."""
    call = cloudlet.cloud.gateway.call("logs", operation, params, account_id=A, region=REGION, invoked_by=service,
                                       source_arn=source_arn)
    return asyncio.run_coroutine_threadsafe(call, cloudlet._loop).result(30)


def service_error(exc) -> tuple[str, str]:
    return exc.value.code, exc.value.message


def put_event(cloudlet, stream: str, message: str, group: str = GROUP, **kw):
    return as_service(cloudlet, "PutLogEvents", {"logGroupName": group, "logStreamName": stream,
                                                 "logEvents": [{"timestamp": T0, "message": message}]}, **kw)


def denial(service: str, action: str, resource: str, why: str = "no resource-based policy allows") -> tuple:
    return ("AccessDeniedException", f"User: {service} is not authorized to perform: logs:{action} on resource: "
                                     f"{resource} because {why} the logs:{action} action")


# -- the API -----------------------------------------------------------------------


def test_put_describe_update_delete(cloudlet, logs):
    document = policy(grant([EVENTS], resource=f"{GROUP_ARN}:*") | {"Sid": "TrustEvents"})
    out = logs.put_resource_policy(policyName="events-to-logs", policyDocument=document)
    # Put answers with the document as sent...
    assert out["resourcePolicy"] == {"policyName": "events-to-logs", "policyDocument": document,
                                     "lastUpdatedTime": T0, "policyScope": "ACCOUNT"}
    assert "revisionId" not in out
    # ...Describe with it as Logs stores it (canonical order, no spaces).
    stored = ('{"Version":"2012-10-17","Statement":[{"Sid":"TrustEvents","Effect":"Allow","Principal":'
              '{"Service":"events.amazonaws.com"},"Action":["logs:CreateLogStream","logs:PutLogEvents"],'
              f'"Resource":"{GROUP_ARN}:*"}}]}}')
    assert logs.describe_resource_policies()["resourcePolicies"] == [
        {"policyName": "events-to-logs", "policyDocument": stored, "lastUpdatedTime": T0, "policyScope": "ACCOUNT"}]

    # Replacing a policy: what AWS showed for a document without Version,
    # its keys in another order and one-element lists.
    cloudlet.clock.advance(60)
    update = ('{"Statement":[{"Action":"logs:*","Effect":"Allow","Principal":{"Service": '
              '["route53.amazonaws.com"]},"Resource":"*"}]}')
    out = logs.put_resource_policy(policyName="events-to-logs", policyDocument=update)
    assert out["resourcePolicy"]["policyDocument"] == update
    assert out["resourcePolicy"]["lastUpdatedTime"] == T0 + 60_000
    [described] = logs.describe_resource_policies()["resourcePolicies"]
    assert described["lastUpdatedTime"] == T0 + 60_000
    assert described["policyDocument"] == ('{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":'
                                           '{"Service":"route53.amazonaws.com"},"Action":"logs:*","Resource":"*"}]}')

    logs.delete_resource_policy(policyName="events-to-logs")
    assert logs.describe_resource_policies()["resourcePolicies"] == []
    with pytest.raises(ClientError) as exc:
        logs.delete_resource_policy(policyName="events-to-logs")
    assert error(exc) == ("ResourceNotFoundException", "Policy with name [events-to-logs] does not exist.")


def test_describe_pages_in_name_order(logs):
    for name in ("c", "a", "b"):
        logs.put_resource_policy(policyName=name, policyDocument=policy(grant([EVENTS])))
    first = logs.describe_resource_policies(limit=2)
    assert [p["policyName"] for p in first["resourcePolicies"]] == ["a", "b"]
    rest = logs.describe_resource_policies(limit=2, nextToken=first["nextToken"])
    assert [p["policyName"] for p in rest["resourcePolicies"]] == ["c"]
    assert "nextToken" not in rest
    with pytest.raises(ClientError) as exc:
        logs.describe_resource_policies(nextToken="nope")
    assert error(exc) == ("InvalidParameterException", "The specified nextToken is invalid.")


def test_ten_policies_per_account_and_region(cloudlet, logs):
    document = policy(grant([EVENTS]))
    for i in range(10):
        logs.put_resource_policy(policyName=f"p{i}", policyDocument=document)
    with pytest.raises(ClientError) as exc:
        logs.put_resource_policy(policyName="p10", policyDocument=document)
    assert error(exc) == ("LimitExceededException", "Resource limit exceeded.")
    # Replacing one at the limit is fine; other Regions and accounts have their own ten.
    assert logs.put_resource_policy(policyName="p3", policyDocument=policy(grant(["route53.amazonaws.com"])))
    cloudlet.client("logs", region="eu-west-1").put_resource_policy(policyName="p10", policyDocument=document)
    cloudlet.client("logs", access_key=B).put_resource_policy(policyName="p10", policyDocument=document)
    assert len(logs.describe_resource_policies()["resourcePolicies"]) == 10
    logs.delete_resource_policy(policyName="p0")
    logs.put_resource_policy(policyName="p10", policyDocument=document)


@pytest.mark.parametrize("document", [
    "not json",
    "[]",
    json.dumps({"Version": "2012-10-17"}),
    json.dumps({"Version": "2012-10-17", "Statement": []}),
    json.dumps({"Version": "2012-10-18", "Statement": [grant([EVENTS])]}),
    policy({"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}),  # no Principal
    policy({"Effect": "Allow", "Principal": {"Service": EVENTS}, "Resource": "*"}),  # no Action
    policy(grant([EVENTS]) | {"Effect": "allow"}),
    policy(grant([EVENTS]) | {"Extra": 1}),
    # a service named as an AWS principal (what Terraform users met)
    policy({"Effect": "Allow", "Principal": {"AWS": "delivery.logs.amazonaws.com"}, "Action": "logs:PutLogEvents",
            "Resource": "*"}),
    policy({"Effect": "Allow", "Principal": {"Group": "x"}, "Action": "logs:PutLogEvents", "Resource": "*"}),
])
def test_documents_that_are_no_policy(logs, document):
    with pytest.raises(ClientError) as exc:
        logs.put_resource_policy(policyName="bad", policyDocument=document)
    assert error(exc) == ("InvalidParameterException", "Could not convert to persistable policy.")
    assert logs.describe_resource_policies()["resourcePolicies"] == []


def test_parameter_errors(raw_client, logs):
    raw = raw_client("logs")
    # The document's length: 1 to 51200 characters (the current model; it was 5120).
    padded = policy(grant([EVENTS]) | {"Sid": "x" * 51200})[:51201]
    with pytest.raises(ClientError) as exc:
        raw.put_resource_policy(policyName="big", policyDocument=padded)
    assert error(exc) == ("InvalidParameterException", f"1 validation error detected: Value '{padded}' at "
                          "'policyDocument' failed to satisfy constraint: Member must have length less than or "
                          "equal to 51200")
    document = policy(grant([EVENTS]) | {"Sid": "x" * 51200})
    fits = document.replace("x" * (len(document) - 51200), "", 1)
    assert len(fits) == 51200
    logs.put_resource_policy(policyName="big", policyDocument=fits)
    with pytest.raises(ClientError) as exc:
        raw.put_resource_policy(policyName="empty", policyDocument="")
    assert error(exc) == ("InvalidParameterException", "1 validation error detected: Value '' at 'policyDocument' "
                          "failed to satisfy constraint: Member must have length greater than or equal to 1")
    with pytest.raises(ClientError) as exc:
        raw.put_resource_policy(policyDocument=policy(grant([EVENTS])))
    assert error(exc) == ("InvalidParameterException", "1 validation error detected: Value null at 'policyName' "
                          "failed to satisfy constraint: Member must not be null")
    with pytest.raises(ClientError) as exc:
        raw.put_resource_policy(policyName="p")
    assert error(exc) == ("InvalidParameterException", "1 validation error detected: Value null at "
                          "'policyDocument' failed to satisfy constraint: Member must not be null")
    with pytest.raises(ClientError) as exc:
        raw.delete_resource_policy()
    assert error(exc) == ("InvalidParameterException", "1 validation error detected: Value null at 'policyName' "
                          "failed to satisfy constraint: Member must not be null")
    for limit, constraint in ((0, "greater than or equal to 1"), (51, "less than or equal to 50")):
        with pytest.raises(ClientError) as exc:
            raw.describe_resource_policies(limit=limit)
        assert error(exc) == ("InvalidParameterException", f"1 validation error detected: Value '{limit}' at "
                              f"'limit' failed to satisfy constraint: Member must have value {constraint}")
    with pytest.raises(ClientError) as exc:
        raw.describe_resource_policies(policyScope="GLOBAL")
    assert error(exc) == ("InvalidParameterException", "1 validation error detected: Value 'GLOBAL' at "
                          "'policyScope' failed to satisfy constraint: Member must satisfy enum value set: "
                          "[ACCOUNT, RESOURCE]")


# -- resource-scoped policies ---------------------------------------------------------


def test_resource_scoped_policy_and_its_revisions(cloudlet, logs):
    document = policy(grant([EVENTS]))
    out = logs.put_resource_policy(policyName="orders", policyDocument=document, resourceArn=GROUP_ARN)
    revision = out["revisionId"]
    assert out["resourcePolicy"] == {"policyName": "orders", "policyDocument": document, "lastUpdatedTime": T0,
                                     "policyScope": "RESOURCE", "resourceArn": GROUP_ARN, "revisionId": revision}
    # Account-level listings leave it out; RESOURCE and its ARN find it.
    assert logs.describe_resource_policies()["resourcePolicies"] == []
    [scoped] = logs.describe_resource_policies(policyScope="RESOURCE")["resourcePolicies"]
    assert scoped == {**out["resourcePolicy"], "policyDocument": (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},'
        f'"Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"{GROUP_ARN}:*"}}]}}')}
    assert logs.describe_resource_policies(resourceArn=GROUP_ARN + ":*")["resourcePolicies"] == [scoped]
    with pytest.raises(ClientError) as exc:
        logs.describe_resource_policies(resourceArn=GROUP_ARN, policyScope="ACCOUNT")
    assert error(exc) == ("InvalidParameterException", "policyScope ACCOUNT cannot be used with a resourceArn.")

    # Replacing it needs its current revision; creating needs none.
    for expected in ({}, {"expectedRevisionId": "0" * 32}):
        with pytest.raises(ClientError) as exc:
            logs.put_resource_policy(policyName="orders", policyDocument=document, resourceArn=GROUP_ARN, **expected)
        assert error(exc) == ("OperationAbortedException",
                              "Multiple concurrent requests to update the same resource were in conflict.")
    second = logs.put_resource_policy(policyName="orders", policyDocument=document, resourceArn=GROUP_ARN,
                                      expectedRevisionId=revision)["revisionId"]
    assert second != revision

    # One per group, besides the ten of the account.
    for i in range(10):
        logs.put_resource_policy(policyName=f"p{i}", policyDocument=document)
    logs.create_log_group(logGroupName="/other")
    other_arn = f"arn:aws:logs:{REGION}:{A}:log-group:/other"
    logs.put_resource_policy(policyName="other", policyDocument=document, resourceArn=other_arn)

    with pytest.raises(ClientError) as exc:
        logs.delete_resource_policy(policyName="orders", resourceArn=GROUP_ARN)
    assert error(exc) == ("InvalidParameterException", "1 validation error detected: Value null at "
                          "'expectedRevisionId' failed to satisfy constraint: Member must not be null")
    with pytest.raises(ClientError) as exc:
        logs.delete_resource_policy(policyName="orders", resourceArn=GROUP_ARN, expectedRevisionId=revision)
    assert error(exc)[0] == "OperationAbortedException"
    with pytest.raises(ClientError) as exc:
        logs.delete_resource_policy(policyName="other", resourceArn=GROUP_ARN, expectedRevisionId=second)
    assert error(exc) == ("ResourceNotFoundException", "Policy with name [other] does not exist.")
    logs.delete_resource_policy(policyName="orders", resourceArn=GROUP_ARN, expectedRevisionId=second)
    assert logs.describe_resource_policies(resourceArn=GROUP_ARN)["resourcePolicies"] == []

    # A group's policy goes with the group.
    logs.delete_log_group(logGroupName="/other")
    logs.create_log_group(logGroupName="/other")
    assert logs.describe_resource_policies(resourceArn=other_arn)["resourcePolicies"] == []
    missing = f"arn:aws:logs:{REGION}:{A}:log-group:/missing"
    with pytest.raises(ClientError) as exc:
        logs.put_resource_policy(policyName="x", policyDocument=document, resourceArn=missing)
    assert error(exc) == ("ResourceNotFoundException", f"The specified resource does not exist: {missing}")


# -- enforcement ---------------------------------------------------------------------


def test_account_policy_grants_services_streams_and_events(cloudlet, logs):
    stream_arn = f"{GROUP_ARN}:log-stream:rule-1"
    with pytest.raises(Exception) as exc:
        as_service(cloudlet, "CreateLogStream", {"logGroupName": GROUP, "logStreamName": "rule-1"})
    assert service_error(exc) == denial(EVENTS, "CreateLogStream", stream_arn)

    # The policy EventBridge's console writes: its group prefix, both services.
    logs.put_resource_policy(policyName="TrustEventsToStoreLogEvent", policyDocument=policy(grant(
        [EVENTS, "delivery.logs.amazonaws.com"], resource=f"arn:aws:logs:{REGION}:{A}:log-group:/aws/events/*:*")))
    as_service(cloudlet, "CreateLogStream", {"logGroupName": GROUP, "logStreamName": "rule-1"})
    put_event(cloudlet, "rule-1", '{"detail-type": "Order Placed"}')
    put_event(cloudlet, "rule-1", "vended", service="delivery.logs.amazonaws.com", source_arn=None)
    got = logs.get_log_events(logGroupName=GROUP, logStreamName="rule-1", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ['{"detail-type": "Order Placed"}', "vended"]

    # Another service, another group, another action: not granted.
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "rule-1", "x", service="sns.amazonaws.com")
    assert service_error(exc) == denial("sns.amazonaws.com", "PutLogEvents", stream_arn)
    logs.create_log_group(logGroupName="/app/web")
    logs.create_log_stream(logGroupName="/app/web", logStreamName="s")
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "s", "x", group="/app/web")
    assert service_error(exc) == denial(EVENTS, "PutLogEvents", f"arn:aws:logs:{REGION}:{A}:log-group:/app/web"
                                                                ":log-stream:s")

    # A resource policy grants only CreateLogStream and PutLogEvents, whatever it says.
    logs.put_resource_policy(policyName="everything", policyDocument=policy(grant([EVENTS], ["logs:*"], "*")))
    with pytest.raises(Exception) as exc:
        as_service(cloudlet, "DeleteLogStream", {"logGroupName": GROUP, "logStreamName": "rule-1"})
    assert service_error(exc) == denial(EVENTS, "DeleteLogStream", stream_arn)
    put_event(cloudlet, "s", "now granted by the second policy", group="/app/web")

    # Deleting the policies takes the grants away at once.
    logs.delete_resource_policy(policyName="everything")
    logs.delete_resource_policy(policyName="TrustEventsToStoreLogEvent")
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "rule-1", "x")
    assert service_error(exc) == denial(EVENTS, "PutLogEvents", stream_arn)


def test_conditions_and_explicit_deny_across_policies(cloudlet, logs):
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    stream_arn = f"{GROUP_ARN}:log-stream:s"
    logs.put_resource_policy(policyName="from-orders-rule", policyDocument=policy(grant(
        [EVENTS], Sid="Same", Condition={"ArnLike": {"aws:SourceArn": RULE_ARN},
                                         "StringEquals": {"aws:SourceAccount": A}})))
    put_event(cloudlet, "s", "from the rule")
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "s", "x", source_arn=f"arn:aws:events:{REGION}:{A}:rule/other")
    assert service_error(exc) == denial(EVENTS, "PutLogEvents", stream_arn)

    # The same Sid in two policies is fine; a Deny in either wins.
    logs.put_resource_policy(policyName="lockdown", policyDocument=policy(
        {"Sid": "Same", "Effect": "Deny", "Principal": "*", "Action": "logs:PutLogEvents", "Resource": "*"}))
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "s", "x")
    assert service_error(exc) == ("AccessDeniedException", f"User: {EVENTS} is not authorized to perform: "
                                  f"logs:PutLogEvents on resource: {stream_arn} with an explicit deny in a "
                                  "resource-based policy")
    logs.delete_resource_policy(policyName="lockdown")
    put_event(cloudlet, "s", "again")
    assert [e["message"] for e in logs.get_log_events(logGroupName=GROUP, logStreamName="s",
                                                      startFromHead=True)["events"]] == ["from the rule", "again"]


def test_resource_scoped_policy_grants_its_group_only(cloudlet, logs):
    logs.create_log_group(logGroupName="/aws/events/other")
    for group in (GROUP, "/aws/events/other"):
        logs.create_log_stream(logGroupName=group, logStreamName="s")
    # Its statements name every group; it applies to its own.
    revision = logs.put_resource_policy(
        policyName="orders", resourceArn=GROUP_ARN,
        policyDocument=policy(grant([EVENTS], resource=f"arn:aws:logs:{REGION}:{A}:log-group:*")))["revisionId"]
    put_event(cloudlet, "s", "granted")
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "s", "x", group="/aws/events/other")
    assert service_error(exc) == denial(EVENTS, "PutLogEvents",
                                        f"arn:aws:logs:{REGION}:{A}:log-group:/aws/events/other:log-stream:s")
    logs.delete_resource_policy(policyName="orders", resourceArn=GROUP_ARN, expectedRevisionId=revision)
    with pytest.raises(Exception) as exc:
        put_event(cloudlet, "s", "x")
    assert service_error(exc) == denial(EVENTS, "PutLogEvents", f"{GROUP_ARN}:log-stream:s")


def test_policies_grant_nothing_to_users_or_other_accounts(cloudlet, logs):
    """As AWS documents: a Logs resource policy is enforced for AWS service
    principals only; IAM users, roles and other accounts need IAM policies
    (and cross-account reading goes through CloudWatch's observability
    access manager, not a resource policy)."""
    logs.create_log_stream(logGroupName=GROUP, logStreamName="s")
    me, user_arn = user_with(cloudlet, "writer")
    logs.put_resource_policy(policyName="people", policyDocument=policy(
        {"Effect": "Allow", "Principal": {"AWS": [user_arn, f"arn:aws:iam::{B}:root"]}, "Action": "logs:*",
         "Resource": "*"}))
    with pytest.raises(ClientError) as exc:
        me("logs").put_log_events(logGroupName=GROUP, logStreamName="s",
                                  logEvents=[{"timestamp": T0, "message": "x"}])
    assert error(exc) == ("AccessDeniedException", f"User: {user_arn} is not authorized to perform: "
                          f"logs:PutLogEvents on resource: {GROUP_ARN}:log-stream:s because no identity-based "
                          "policy allows the logs:PutLogEvents action")
    outsider = cloudlet.client("logs", access_key=B)
    with pytest.raises(ClientError) as exc:
        outsider.get_log_events(logGroupIdentifier=GROUP_ARN, logStreamName="s")
    assert error(exc) == ("AccessDeniedException", f"User: arn:aws:iam::{B}:root is not authorized to perform: "
                          f"logs:GetLogEvents on resource: {GROUP_ARN}:log-stream:s because no resource-based "
                          "policy allows the logs:GetLogEvents action")
