"""IAM on SQS: identity policies, queue policies, accounts."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import allow, doc, error, user_with

A = "000000000000"
B = "222222222222"


def test_send_only_to_one_queue(cloudlet):
    admin = cloudlet.client("sqs")
    allowed = admin.create_queue(QueueName="allowed")["QueueUrl"]
    other = admin.create_queue(QueueName="other")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{A}:allowed"
    me, arn = user_with(cloudlet, "sender", doc(allow("sqs:SendMessage", queue_arn)))
    sqs = me("sqs")
    sqs.send_message(QueueUrl=allowed, MessageBody="ok")
    sqs.send_message_batch(QueueUrl=allowed, Entries=[{"Id": "1", "MessageBody": "batch is SendMessage too"}])
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=allowed)
    assert error(exc) == ("AccessDenied", 403,
                          f"User: {arn} is not authorized to perform: sqs:ReceiveMessage on resource: {queue_arn} "
                          "because no identity-based policy allows the sqs:ReceiveMessage action")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=other, MessageBody="no")
    assert error(exc)[0] == "AccessDenied"
    assert exc.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-query-error"] == "AccessDenied;Sender"


def test_cross_account_needs_queue_policy_and_identity_policy(cloudlet):
    owner = cloudlet.client("sqs", access_key=B)
    url = owner.create_queue(QueueName="shared")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{B}:shared"
    me, arn = user_with(cloudlet, "outsider", doc(allow("sqs:SendMessage")))
    sqs = me("sqs")
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="no policy yet")
    assert error(exc)[2] == (f"User: {arn} is not authorized to perform: sqs:SendMessage on resource: {queue_arn} "
                             "because no resource-based policy allows the sqs:SendMessage action")
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                                               "Action": "sqs:SendMessage", "Resource": queue_arn}]})})
    sqs.send_message(QueueUrl=url, MessageBody="both sides allow")
    no_identity, arn2 = user_with(cloudlet, "no-identity")
    with pytest.raises(ClientError) as exc:
        no_identity("sqs").send_message(QueueUrl=url, MessageBody="queue allows, identity does not")
    assert error(exc)[2].endswith("because no identity-based policy allows the sqs:SendMessage action")
    got = owner.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in got] == ["both sides allow"]


def test_queue_policy_explicit_deny_applies_to_root(cloudlet):
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName="locked")["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{A}:locked"
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage",
                                               "Resource": arn}]})})
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error(exc)[2] == (f"User: arn:aws:iam::{A}:root is not authorized to perform: sqs:SendMessage on resource: "
                             f"{arn} with an explicit deny in a resource-based policy")
