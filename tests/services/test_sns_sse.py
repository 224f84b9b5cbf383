"""SNS server-side encryption: a topic's KmsMasterKeyId makes Publish ask
KMS for the publisher's data key (kms:GenerateDataKey and kms:Decrypt
through SNS, reused for 5 minutes), pending HTTP/S deliveries are sealed
at rest, SNS's KMS* errors; and SNS delivering into SSE-KMS queues, which
works when the queue's key policy lets sns.amazonaws.com use the key."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import Endpoint, fetch, queue_for_topic, receive_all
from tests.services.test_iam_enforcement import allow, doc, error, user_with

A = "000000000000"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def kms_suffix(code: str) -> str:
    return (r" \(Service: AWSKMS; Status Code: 400; Error Code: " + code + "; Request ID: " + UUID
            + r"; Proxy: null\)")


@pytest.fixture
def sns(cloudlet):
    return cloudlet.client("sns")


@pytest.fixture
def sqs(cloudlet):
    return cloudlet.client("sqs")


@pytest.fixture
def kms(cloudlet):
    return cloudlet.client("kms")


@pytest.fixture
def endpoint():
    server = Endpoint()
    yield server
    server.close()


def secret() -> str:
    return f"cloudlet-secret-{uuid.uuid4()}"


def on_disk(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(Path(data_dir).glob("cloudlet.db*")))


def rows(data_dir, sql: str, params=()) -> list:
    with sqlite3.connect(Path(data_dir) / "cloudlet.db") as db:
        return db.execute(sql, params).fetchall()


def confirm(sns, endpoint, topic: str, **attributes) -> str:
    out = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url, Attributes=attributes,
                        ReturnSubscriptionArn=True)
    doc_ = json.loads(endpoint.next()["body"])
    assert doc_["Type"] == "SubscriptionConfirmation"
    assert fetch(doc_["SubscribeURL"])[0] == 200
    return out["SubscriptionArn"]


def key_for_sns(kms, *, allow_sns: bool) -> dict:
    """A key whose policy is the default one, plus (allow_sns) the
    statement the SQS guide gives for AWS services as event sources."""
    statements = [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}]
    if allow_sns:
        statements.append({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                           "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"})
    return kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": statements}))["KeyMetadata"]


# -- Publish and KMS -----------------------------------------------------------------

def test_publish_needs_the_publishers_kms_permissions(cloudlet, sns, kms):
    key = kms.create_key()["KeyMetadata"]
    topic = sns.create_topic(Name="sealed", Attributes={"KmsMasterKeyId": key["KeyId"]})["TopicArn"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"] == key["KeyId"]
    publish_only = allow("sns:Publish", topic)
    me, arn = user_with(cloudlet, "publisher", doc(publish_only))
    with pytest.raises(ClientError) as exc:
        me("sns").publish(TopicArn=topic, Message="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMSAccessDenied", 400)
    assert re.fullmatch(re.escape(f"User: {arn} is not authorized to perform: kms:GenerateDataKey on resource: "
                                  f"{key['Arn']} because no identity-based policy allows the kms:GenerateDataKey "
                                  "action") + kms_suffix("AccessDeniedException"), message), message
    half, half_arn = user_with(cloudlet, "half", doc(publish_only, allow("kms:GenerateDataKey", key["Arn"])))
    with pytest.raises(ClientError) as exc:
        half("sns").publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "1", "Message": "x"}])
    code, status, message = error(exc)
    assert (code, status) == ("KMSAccessDenied", 400)
    assert message.startswith(f"User: {half_arn} is not authorized to perform: kms:Decrypt on resource: {key['Arn']}")
    full, _ = user_with(cloudlet, "full", doc(publish_only, allow(["kms:GenerateDataKey", "kms:Decrypt"],
                                                                  key["Arn"])))
    assert full("sns").publish(TopicArn=topic, Message="allowed")["MessageId"]
    # A topic without subscribers still asks KMS (AWS checks at publish time).
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=sns.create_topic(Name="missing-key", Attributes={
            "KmsMasterKeyId": "alias/missing"})["TopicArn"], Message="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMSNotFound", 400)
    assert re.fullmatch(re.escape(f"Alias arn:aws:kms:us-east-1:{A}:alias/missing is not found.")
                        + kms_suffix("NotFoundException"), message), message


def test_the_aws_managed_key_for_sns(cloudlet, sns):
    topic = sns.create_topic(Name="managed", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
    me, _ = user_with(cloudlet, "plain-publisher", doc(allow("sns:Publish", topic)))
    assert me("sns").publish(TopicArn=topic, Message="through sns")["MessageId"]


def test_disabled_key_after_the_reuse_period(cloudlet, sns, kms):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    key = kms.create_key()["KeyMetadata"]
    topic = sns.create_topic(Name="rotating", Attributes={"KmsMasterKeyId": key["Arn"]})["TopicArn"]
    sns.publish(TopicArn=topic, Message="first")
    kms.disable_key(KeyId=key["KeyId"])
    cloudlet.clock.advance(299)
    sns.publish(TopicArn=topic, Message="the data key is reused for 5 minutes")
    cloudlet.clock.advance(1)
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="x")
    code, status, message = error(exc)
    assert (code, status) == ("KMSDisabled", 400)
    assert re.fullmatch(re.escape(f"{key['Arn']} is disabled.") + kms_suffix("DisabledException"), message), message
    kms.enable_key(KeyId=key["KeyId"])
    sns.publish(TopicArn=topic, Message="enabled again")
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    cloudlet.clock.advance(300)
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="x")
    assert error(exc)[:2] == ("KMSInvalidState", 400)


# -- pending deliveries at rest ------------------------------------------------------

@pytest.mark.parametrize("raw", [False, True])
def test_pending_http_deliveries_are_sealed(cloudlet, sns, kms, endpoint, raw):
    cloudlet.clock.freeze()
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    plain_topic = sns.create_topic(Name="plain-web")["TopicArn"]
    topic = sns.create_topic(Name="sealed-web", Attributes={"KmsMasterKeyId": key})["TopicArn"]
    attributes = {"RawMessageDelivery": "true"} if raw else {}
    confirm(sns, endpoint, plain_topic, **attributes)
    confirm(sns, endpoint, topic, **attributes)
    endpoint.statuses = [500, 500]  # each first attempt fails; the retries wait 20 s
    visible, hidden = secret(), secret()
    sns.publish(TopicArn=plain_topic, Message=visible)
    sns.publish(TopicArn=topic, Message=hidden)
    first = [endpoint.next(), endpoint.next()]
    assert sorted(hidden in r["body"] for r in first) == [False, True]
    stored = rows(cloudlet.settings.data_dir, "SELECT topic_arn, body = '', data_key IS NOT NULL, "
                                              "sealed IS NOT NULL FROM sns_deliveries ORDER BY topic_arn")
    assert stored == [(plain_topic, 0, 0, 0), (topic, 1, 1, 1)]
    disk = on_disk(cloudlet.settings.data_dir)
    assert visible.encode() in disk
    assert hidden.encode() not in disk
    cloudlet.clock.advance(20)
    retried = [endpoint.next(), endpoint.next()]
    bodies = [r["body"] if raw else json.loads(r["body"])["Message"] for r in retried]
    assert sorted(bodies) == sorted([visible, hidden])
    assert rows(cloudlet.settings.data_dir, "SELECT COUNT(*) FROM sns_deliveries") == [(0,)]
    # The data key's KMS ciphertext goes once no delivery needs it (an hour
    # after its reuse period, when any delivery would be given up).
    assert len(rows(cloudlet.settings.data_dir, "SELECT id FROM sns_data_keys")) == 1
    cloudlet.clock.advance(3900)
    assert rows(cloudlet.settings.data_dir, "SELECT id FROM sns_data_keys") == []


def test_sealed_delivery_survives_a_restart(tmp_path, endpoint):
    """After a restart the data key is no longer in memory: SNS has KMS
    decrypt it, and the delivery is made."""
    from cloudlet.testing.server import CloudletServer

    with CloudletServer(str(tmp_path)) as first:
        first.clock.freeze()
        sns = first.client("sns")
        key = first.client("kms").create_key()["KeyMetadata"]["KeyId"]
        topic = sns.create_topic(Name="durable-sealed", Attributes={"KmsMasterKeyId": key})["TopicArn"]
        confirm(sns, endpoint, topic)
        endpoint.statuses = [500]
        body = secret()
        message_id = sns.publish(TopicArn=topic, Message=body)["MessageId"]
        assert json.loads(endpoint.next()["body"])["MessageId"] == message_id
    assert body.encode() not in on_disk(tmp_path)
    with CloudletServer(str(tmp_path)) as second:
        second.health()
        second.clock.advance(20)
        got = json.loads(endpoint.next()["body"])
        assert (got["MessageId"], got["Message"]) == (message_id, body)


# -- SNS into SSE-KMS queues -----------------------------------------------------------

def test_fan_out_into_sse_kms_queues(cloudlet, sns, sqs, kms):
    """SQS asks KMS for SNS's data key as sns.amazonaws.com: the queue's
    key policy must allow it (kms:GenerateDataKey and kms:Decrypt), else
    the delivery fails as a client error (dead-lettered if the
    subscription has a DLQ, else dropped). The AWS managed key's policy
    allows only the account's principals, so SNS cannot use it."""
    topic = sns.create_topic(Name="fan")["TopicArn"]
    good_key = key_for_sns(kms, allow_sns=True)
    bad_key = key_for_sns(kms, allow_sns=False)
    good_url, good_arn = queue_for_topic(sqs, "fan-good", topic, attributes={"KmsMasterKeyId": good_key["KeyId"]})
    bad_url, bad_arn = queue_for_topic(sqs, "fan-bad", topic, attributes={"KmsMasterKeyId": bad_key["Arn"]})
    managed_url, managed_arn = queue_for_topic(sqs, "fan-managed", topic,
                                               attributes={"KmsMasterKeyId": "alias/aws/sqs"})
    dlq_url, dlq_arn = queue_for_topic(sqs, "fan-dlq", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=good_arn,
                  Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=bad_arn,
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=managed_arn)
    body = secret()
    sns.publish(TopicArn=topic, Message=body,
                MessageAttributes={"Kind": {"DataType": "String", "StringValue": "order"}})
    assert body.encode() not in on_disk(cloudlet.settings.data_dir)
    [got] = receive_all(sqs, good_url, MessageAttributeNames=["All"])
    assert (got["Body"], got["MessageAttributes"]["Kind"]["StringValue"]) == (body, "order")
    assert receive_all(sqs, bad_url) == [] and receive_all(sqs, managed_url) == []
    [dead] = receive_all(sqs, dlq_url)
    assert json.loads(dead["Body"])["Message"] == body
    # Allowing SNS in the key policy makes the next delivery work.
    kms.put_key_policy(KeyId=bad_key["KeyId"], PolicyName="default",
                       Policy=kms.get_key_policy(KeyId=good_key["KeyId"], PolicyName="default")["Policy"])
    sns.publish(TopicArn=topic, Message="now allowed")
    assert [m["Body"] for m in receive_all(sqs, good_url)] == ["now allowed"]
    assert [json.loads(m["Body"])["Message"] for m in receive_all(sqs, bad_url)] == ["now allowed"]


def test_key_policy_conditions_on_the_queue_and_topic(sns, sqs, kms):
    """A key policy may name the topic (aws:SourceArn) and the queue (the
    encryption context SQS uses, kms:EncryptionContext:aws:sqs:arn);
    each delivery is decided on its own."""
    topic = sns.create_topic(Name="scoped")["TopicArn"]
    other_topic = sns.create_topic(Name="scoped-other")["TopicArn"]
    allowed_queue = f"arn:aws:sqs:us-east-1:{A}:scoped-a"
    key = kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
         "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*",
         "Condition": {"ArnEquals": {"aws:SourceArn": topic},
                       "StringEquals": {"kms:EncryptionContext:aws:sqs:arn": allowed_queue,
                                        "kms:ViaService": "sqs.us-east-1.amazonaws.com"}}}]}))["KeyMetadata"]
    urls = {}
    for name in ("scoped-a", "scoped-b"):
        url, arn = queue_for_topic(sqs, name, None, attributes={"KmsMasterKeyId": key["KeyId"]})
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                    "Action": "sqs:SendMessage", "Resource": arn}]})})
        urls[name] = url
        for t in (topic, other_topic):
            sns.subscribe(TopicArn=t, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="from the allowed topic")
    sns.publish(TopicArn=other_topic, Message="from the other topic")
    assert [m["Body"] for m in receive_all(sqs, urls["scoped-a"])] == ["from the allowed topic"]
    assert receive_all(sqs, urls["scoped-b"]) == []
