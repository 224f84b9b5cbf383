"""SNS through boto3 against a real server: topics, subscriptions, publish
validation, and fan-out to SQS (filter policies, raw delivery, FIFO, the
queue policy deciding)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from cloudlet.services.sns.signing import verify
from tests.services.sns_helpers import ACCOUNT, fetch, outbox, queue_for_topic, receive_all

TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:"


@pytest.fixture
def sns(cloudlet):
    return cloudlet.client("sns")


@pytest.fixture
def sqs(cloudlet):
    return cloudlet.client("sqs")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


# -- topics --------------------------------------------------------------------

def test_create_topic_is_idempotent_and_has_aws_attributes(sns):
    arn = sns.create_topic(Name="orders")["TopicArn"]
    assert arn == TOPIC_ARN + "orders"
    assert sns.create_topic(Name="orders")["TopicArn"] == arn
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    policy = json.loads(attributes.pop("Policy"))
    effective = json.loads(attributes.pop("EffectiveDeliveryPolicy"))
    assert attributes == {"TopicArn": arn, "Owner": ACCOUNT, "DisplayName": "", "SubscriptionsConfirmed": "0",
                          "SubscriptionsPending": "0", "SubscriptionsDeleted": "0"}
    assert policy["Statement"][0]["Principal"] == {"AWS": "*"}
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    assert effective["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    assert effective["http"]["defaultHealthyRetryPolicy"]["minDelayTarget"] == 20


def test_create_topic_with_different_attributes_is_refused(sns):
    sns.create_topic(Name="t1", Attributes={"DisplayName": "one"})
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name="t1", Attributes={"DisplayName": "two"})
    assert error(exc) == ("InvalidParameter",
                          "Invalid parameter: Attributes Reason: Topic already exists with different attributes")


@pytest.mark.parametrize("name, attributes", [
    ("bad name", {}), ("x" * 257, {}), ("", {}), ("plain", {"FifoTopic": "true"}), ("f.fifo", {}),
])
def test_topic_names(sns, name, attributes):
    with pytest.raises(ClientError) as exc:
        sns.create_topic(Name=name, Attributes=attributes)
    assert error(exc) == ("InvalidParameter", "Invalid parameter: Topic Name")


def test_fifo_topic_attributes(sns):
    arn = sns.create_topic(Name="jobs.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})[
        "TopicArn"]
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["FifoTopic"] == "true" and attributes["ContentBasedDeduplication"] == "true"
    std = sns.create_topic(Name="std")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=std, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    assert error(exc)[0] == "InvalidParameter"


def test_list_topics_pages_by_100(sns):
    arns = sorted(sns.create_topic(Name=f"t{i:03d}")["TopicArn"] for i in range(105))
    first = sns.list_topics()
    assert [t["TopicArn"] for t in first["Topics"]] == arns[:100]
    second = sns.list_topics(NextToken=first["NextToken"])
    assert [t["TopicArn"] for t in second["Topics"]] == arns[100:]
    assert "NextToken" not in second


def test_delete_topic_removes_subscriptions(sns, sqs):
    arn = sns.create_topic(Name="gone")["TopicArn"]
    _, queue_arn = queue_for_topic(sqs, "gone-q", arn)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # a second delete succeeds
    assert sns.list_topics()["Topics"] == []
    assert sns.list_subscriptions()["Subscriptions"] == []
    with pytest.raises(ClientError) as exc:
        sns.get_topic_attributes(TopicArn=arn)
    assert error(exc) == ("NotFound", "Topic does not exist")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_set_topic_attributes(sns):
    arn = sns.create_topic(Name="attrs")["TopicArn"]
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Attrs")
    sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
    attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attributes["DisplayName"] == "Attrs" and attributes["SignatureVersion"] == "2"
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Nope", AttributeValue="x")
    assert error(exc) == ("InvalidParameter", "Invalid parameter: AttributeName")
    with pytest.raises(ClientError) as exc:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue="{not json")
    assert error(exc)[0] == "InvalidParameter"


def test_tags(sns):
    arn = sns.create_topic(Name="tagged", Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "b"}])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "b"},
                                                                   {"Key": "env", "Value": "dev"}]
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as exc:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "k", "Value": "1"}, {"Key": "k", "Value": "2"}])
    assert error(exc) == ("InvalidParameter", "Invalid parameter: Duplicated keys are not allowed.")
    with pytest.raises(ClientError) as exc:
        sns.list_tags_for_resource(ResourceArn=TOPIC_ARN + "missing")
    assert error(exc) == ("ResourceNotFound", "Resource does not exist")


def test_permissions(sns):
    arn = sns.create_topic(Name="shared")["TopicArn"]
    sns.add_permission(TopicArn=arn, Label="pub", AWSAccountId=["111122223333"], ActionName=["Publish"])
    statements = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]
    assert statements[1] == {"Sid": "pub", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                             "Action": "SNS:Publish", "Resource": arn}
    with pytest.raises(ClientError) as exc:
        sns.add_permission(TopicArn=arn, Label="pub", AWSAccountId=["111122223333"], ActionName=["Publish"])
    assert error(exc) == ("InvalidParameter", "Invalid parameter: Statement already exists")
    sns.remove_permission(TopicArn=arn, Label="pub")
    assert len(json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"]["Policy"])["Statement"]) == 1


def test_data_protection_policy_is_stored(sns):
    arn = sns.create_topic(Name="dp")["TopicArn"]
    assert "DataProtectionPolicy" not in sns.get_data_protection_policy(ResourceArn=arn)
    doc = json.dumps({"Name": "p", "Version": "2021-06-01", "Statement": []})
    sns.put_data_protection_policy(ResourceArn=arn, DataProtectionPolicy=doc)
    assert sns.get_data_protection_policy(ResourceArn=arn)["DataProtectionPolicy"] == doc


# -- subscriptions -------------------------------------------------------------

def test_subscribe_sqs_and_list(sns, sqs):
    arn = sns.create_topic(Name="subs")["TopicArn"]
    _, queue_arn = queue_for_topic(sqs, "subs-q", arn)
    sub_arn = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    assert re.fullmatch(re.escape(arn) + r":[0-9a-f-]{36}", sub_arn)
    # Subscribing again returns the same subscription.
    assert sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"] == sub_arn
    entry = {"SubscriptionArn": sub_arn, "Owner": ACCOUNT, "Protocol": "sqs", "Endpoint": queue_arn, "TopicArn": arn}
    assert sns.list_subscriptions()["Subscriptions"] == [entry]
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"] == [entry]
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
    assert attributes == {"SubscriptionArn": sub_arn, "TopicArn": arn, "Owner": ACCOUNT, "Protocol": "sqs",
                          "Endpoint": queue_arn, "PendingConfirmation": "false", "RawMessageDelivery": "false",
                          "ConfirmationWasAuthenticated": "true",
                          "SubscriptionPrincipal": f"arn:aws:iam::{ACCOUNT}:root"}
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["SubscriptionsConfirmed"] == "1"
    sns.unsubscribe(SubscriptionArn=sub_arn)
    sns.unsubscribe(SubscriptionArn=sub_arn)  # idempotent
    with pytest.raises(ClientError) as exc:
        sns.get_subscription_attributes(SubscriptionArn=sub_arn)
    assert error(exc) == ("NotFound", "Subscription does not exist")


def test_subscribe_with_different_attributes_is_refused(sns, sqs):
    arn = sns.create_topic(Name="diff")["TopicArn"]
    _, queue_arn = queue_for_topic(sqs, "diff-q", arn)
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    assert error(exc) == ("InvalidParameter",
                          "Invalid parameter: Attributes Reason: Subscription already exists with different attributes")


@pytest.mark.parametrize("protocol, endpoint, expected", [
    ("carrier-pigeon", "x", "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"),
    ("http", "https://example.com", "Invalid parameter: Endpoint must match the specified protocol"),
    ("sqs", "not-an-arn", "Invalid parameter: SQS endpoint ARN"),
    ("sms", "call-me", "Invalid parameter: Invalid SMS endpoint: call-me"),
    ("sqs", f"arn:aws:sqs:us-east-1:{ACCOUNT}:q.fifo",
     "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard "
     "SNS topics"),
])
def test_subscribe_endpoint_checks(sns, protocol, endpoint, expected):
    arn = sns.create_topic(Name="checks")["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=endpoint)
    assert error(exc) == ("InvalidParameter", expected)


def test_subscription_attribute_errors(sns, sqs):
    arn = sns.create_topic(Name="subattrs")["TopicArn"]
    _, queue_arn = queue_for_topic(sqs, "subattrs-q", arn)
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    cases = [
        ("RawMessageDelivery", "maybe", "Invalid parameter: RawMessageDelivery: Invalid value [maybe]. "
                                        "Must be true or false."),
        ("FilterPolicyScope", "Body", "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use "
                                      "either MessageBody or MessageAttributes"),
        ("FilterPolicy", "{nope", "Invalid parameter: FilterPolicy: failed to parse JSON."),
        ("FilterPolicy", json.dumps({"a": {"b": ["c"]}}),
         "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy"),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "nope"}),
         "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
        ("Nope", "x", "Invalid parameter: AttributeName"),
    ]
    for name, value, expected in cases:
        with pytest.raises(ClientError) as exc:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=name, AttributeValue=value)
        assert error(exc) == ("InvalidParameter", expected), name
    with pytest.raises(ClientError) as exc:
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn + "2",
                      Attributes={"FilterPolicy": json.dumps({"a": "b"})})
    code, text = error(exc)
    assert code == "InvalidParameter"
    assert text.startswith("Invalid parameter: Attributes Reason: FilterPolicy: ")
    # A nested policy becomes valid once the scope is the message body.
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicyScope",
                                    AttributeValue="MessageBody")
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"a": {"b": ["c"]}}))
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attributes["FilterPolicyScope"] == "MessageBody"
    assert json.loads(attributes["FilterPolicy"]) == {"a": {"b": ["c"]}}


# -- fan-out to SQS -----------------------------------------------------------------

def test_fan_out_with_filter_policies(sns, sqs, cloudlet):
    topic = sns.create_topic(Name="events")["TopicArn"]
    red_url, red_arn = queue_for_topic(sqs, "red", topic)
    big_url, big_arn = queue_for_topic(sqs, "big", topic)
    all_url, all_arn = queue_for_topic(sqs, "all", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=red_arn, Attributes={
        "FilterPolicy": json.dumps({"color": ["red", {"prefix": "crim"}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=big_arn, Attributes={
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps({"order": {"size": [{"numeric": [">", 10]}]}})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=all_arn)

    def publish(body, color=None):
        attrs = {"color": {"DataType": "String", "StringValue": color}} if color else {}
        return sns.publish(TopicArn=topic, Message=json.dumps(body), MessageAttributes=attrs)["MessageId"]

    m1 = publish({"order": {"size": 5}}, "red")
    m2 = publish({"order": {"size": 50}}, "blue")
    m3 = publish({"order": {"size": 11}}, "crimson")
    m4 = publish({"order": {"size": 1}})

    def ids(url):
        return [json.loads(m["Body"])["MessageId"] for m in receive_all(sqs, url)]

    assert sorted(ids(red_url)) == sorted([m1, m3])
    assert sorted(ids(big_url)) == sorted([m2, m3])
    assert sorted(ids(all_url)) == sorted([m1, m2, m3, m4])


def test_envelope_is_signed_and_verifiable(sns, sqs, cloudlet):
    topic = sns.create_topic(Name="signed")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "signed-q", topic)
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"]
    message_id = sns.publish(TopicArn=topic, Message="hello", Subject="Greeting", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "greeting"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})["MessageId"]
    [received] = receive_all(sqs, url)
    body = received["Body"]
    assert body.startswith('{\n  "Type" : "Notification",\n  "MessageId" : ')
    doc = json.loads(body)
    assert list(doc) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                         "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]
    assert doc["MessageId"] == message_id and doc["TopicArn"] == topic
    assert doc["Subject"] == "Greeting" and doc["Message"] == "hello"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["Timestamp"])
    assert doc["SignatureVersion"] == "1"
    assert doc["MessageAttributes"] == {"kind": {"Type": "String", "Value": "greeting"},
                                        "count": {"Type": "Number", "Value": "3"},
                                        "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()}}
    assert doc["UnsubscribeURL"] == (f"http://localhost:{cloudlet.port}/?Action=Unsubscribe&SubscriptionArn={sub}"
                                     "&Version=2010-03-31")
    # The certificate at SigningCertURL verifies the signature.
    assert doc["SigningCertURL"].endswith(".pem")
    status, pem = fetch(doc["SigningCertURL"])
    assert status == 200
    x509.load_pem_x509_certificate(pem)
    assert verify(doc, pem)
    assert not verify(dict(doc, Message="tampered"), pem)
    # SignatureVersion 2 (SHA256withRSA) once the topic asks for it.
    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="again")
    [again] = receive_all(sqs, url)
    doc2 = json.loads(again["Body"])
    assert doc2["SignatureVersion"] == "2" and verify(doc2, pem)
    assert "Subject" not in doc2 and "MessageAttributes" not in doc2


def test_concurrent_publishes_are_signed_too(sns, sqs, cloudlet):
    """A publish alone signs on the event loop; publishes in flight
    together sign on the worker pool. Both give verifiable envelopes."""
    from concurrent.futures import ThreadPoolExecutor

    topic = sns.create_topic(Name="busy")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "busy-q", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    clients = [cloudlet.client("sns") for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda i: clients[i % 8].publish(TopicArn=topic, Message=f"m{i}")["MessageId"],
                           range(40)))
    docs = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert {d["MessageId"] for d in docs} == ids and len(docs) == 40
    _, pem = fetch(docs[0]["SigningCertURL"])
    assert all(verify(d, pem) for d in docs)
    assert sorted(d["Message"] for d in docs) == sorted(f"m{i}" for i in range(40))


def test_raw_delivery_maps_attributes(sns, sqs):
    topic = sns.create_topic(Name="raw")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "raw-q", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="just the body", MessageAttributes={
        "s": {"DataType": "String", "StringValue": "v"}, "n": {"DataType": "Number", "StringValue": "1.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\xff"},
        "a": {"DataType": "String.Array", "StringValue": '["x", 1]'}})
    [received] = receive_all(sqs, url, MessageAttributeNames=["All"])
    assert received["Body"] == "just the body"
    assert received["MessageAttributes"] == {
        "s": {"DataType": "String", "StringValue": "v"}, "n": {"DataType": "Number", "StringValue": "1.5"},
        "b": {"DataType": "Binary", "BinaryValue": b"\xff"},
        "a": {"DataType": "String.Array", "StringValue": '["x", 1]'}}


def test_message_structure_per_protocol(sns, sqs, cloudlet):
    topic = sns.create_topic(Name="structured")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "structured-q", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15555550100")
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "for everyone", "sqs": "for queues", "email": 3}))
    assert [m["Body"] for m in receive_all(sqs, url)] == ["for queues"]
    [sms] = outbox(cloudlet, protocol="sms")
    assert sms["message"] == "for everyone" and sms["endpoint"] == "+15555550100"


def test_queue_policy_decides_delivery(sns, sqs):
    topic = sns.create_topic(Name="guarded")["TopicArn"]
    other = sns.create_topic(Name="other")["TopicArn"]
    open_url, open_arn = queue_for_topic(sqs, "allowed", topic)
    closed_url, closed_arn = queue_for_topic(sqs, "no-policy", topic, allow=False)
    wrong_url, wrong_arn = queue_for_topic(sqs, "other-topic-only", other)
    for arn in (open_arn, closed_arn, wrong_arn):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    assert sns.publish(TopicArn=topic, Message="m")["MessageId"]  # publishing succeeds regardless
    assert len(receive_all(sqs, open_url)) == 1
    assert receive_all(sqs, closed_url) == []  # no policy: SNS may not send, even in the same account
    assert receive_all(sqs, wrong_url) == []  # the policy names another topic


OTHER = "222222222222"


def test_a_queue_of_another_account_subscribed_by_the_topic_owner_waits_for_its_owners_confirmation(sns, cloudlet):
    topic = sns.create_topic(Name="shared")["TopicArn"]
    their_sqs = cloudlet.client("sqs", access_key=OTHER)
    url, queue_arn = queue_for_topic(their_sqs, "theirs", topic)
    assert queue_arn == f"arn:aws:sqs:us-east-1:{OTHER}:theirs"
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"] == \
        "pending confirmation"
    [pending] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (pending["SubscriptionArn"], pending["Owner"]) == ("PendingConfirmation", ACCOUNT)
    sns.publish(TopicArn=topic, Message="before confirmation")  # not delivered

    [message] = receive_all(their_sqs, url)
    doc = json.loads(message["Body"])
    assert list(doc) == ["Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp",
                         "SignatureVersion", "Signature", "SigningCertURL"]
    assert (doc["Type"], doc["TopicArn"]) == ("SubscriptionConfirmation", topic)
    assert doc["Message"] == (f"You have chosen to subscribe to the topic {topic}.\n"
                              "To confirm the subscription, visit the SubscribeURL included in this message.")
    status, pem = fetch(doc["SigningCertURL"])
    assert status == 200 and verify(doc, pem)
    # The queue owner confirms (ConfirmSubscription needs no credentials of the topic's account).
    confirmed = cloudlet.client("sns", access_key=OTHER).confirm_subscription(TopicArn=topic, Token=doc["Token"])
    [entry] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert entry["SubscriptionArn"] == confirmed["SubscriptionArn"] and entry["SubscriptionArn"].startswith(topic)
    sns.publish(TopicArn=topic, Message="after confirmation")
    assert [json.loads(m["Body"])["Message"] for m in receive_all(their_sqs, url)] == ["after confirmation"]


def test_the_queue_owners_own_subscription_to_another_accounts_topic_needs_no_confirmation(sns, cloudlet):
    topic = sns.create_topic(Name="open-topic")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                                               "Action": "sns:Subscribe", "Resource": topic}]}))
    their_sqs = cloudlet.client("sqs", access_key=OTHER)
    url, queue_arn = queue_for_topic(their_sqs, "self-subscribed", topic)
    out = cloudlet.client("sns", access_key=OTHER).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    assert out["SubscriptionArn"].startswith(topic + ":")
    sns.publish(TopicArn=topic, Message="straight in")
    assert [json.loads(m["Body"])["Type"] for m in receive_all(their_sqs, url)] == ["Notification"]


def test_a_confirmation_the_queue_policy_refuses_is_dropped(sns, cloudlet):
    topic = sns.create_topic(Name="refused")["TopicArn"]
    their_sqs = cloudlet.client("sqs", access_key=OTHER)
    url, queue_arn = queue_for_topic(their_sqs, "closed", topic, allow=False)
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)["SubscriptionArn"] == \
        "pending confirmation"
    assert receive_all(their_sqs, url) == []
    [pending] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert pending["SubscriptionArn"] == "PendingConfirmation"


def test_dead_letter_for_a_deleted_queue(sns, sqs):
    topic = sns.create_topic(Name="dlq-topic")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "doomed", topic)
    dlq_url, dlq_arn = queue_for_topic(sqs, "dlq", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}), "RawMessageDelivery": "true"})
    sqs.delete_queue(QueueUrl=url)
    sns.publish(TopicArn=topic, Message="lost", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    [dead] = receive_all(sqs, dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == "lost"
    assert dead["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}


def test_fifo_topic_to_fifo_queues_keeps_order_and_deduplicates(sns, sqs):
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "orders.fifo", topic, fifo=True)
    # A standard queue may subscribe to a FIFO topic too (without ordering).
    std_url, std_arn = queue_for_topic(sqs, "orders-standard", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=std_arn, Attributes={"RawMessageDelivery": "true"})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sent = []
    for i in range(4):
        group = "a" if i % 2 == 0 else "b"
        out = sns.publish(TopicArn=topic, Message=f"{group}{i}", MessageGroupId=group, MessageDeduplicationId=f"d{i}")
        sent.append(out)
    again = sns.publish(TopicArn=topic, Message="dup", MessageGroupId="a", MessageDeduplicationId="d0")
    assert again == {"MessageId": sent[0]["MessageId"], "SequenceNumber": sent[0]["SequenceNumber"],
                     "ResponseMetadata": again["ResponseMetadata"]}
    sequences = [int(s["SequenceNumber"]) for s in sent]
    assert sequences == sorted(sequences) and all(len(s["SequenceNumber"]) == 20 for s in sent)
    got = receive_all(sqs, url, AttributeNames=["MessageGroupId", "MessageDeduplicationId"])
    by_group: dict = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert by_group == {"a": ["a0", "a2"], "b": ["b1", "b3"]}
    assert sorted(m["Attributes"]["MessageDeduplicationId"] for m in got) == ["d0", "d1", "d2", "d3"]
    assert sorted(m["Body"] for m in receive_all(sqs, std_url)) == ["a0", "a2", "b1", "b3"]


def test_fifo_content_based_deduplication(sns, sqs):
    topic = sns.create_topic(Name="cbd.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})[
        "TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "cbd.fifo", topic, fifo=True)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    first = sns.publish(TopicArn=topic, Message="same", MessageGroupId="g")["MessageId"]
    assert sns.publish(TopicArn=topic, Message="same", MessageGroupId="g")["MessageId"] == first
    sns.publish(TopicArn=topic, Message="different", MessageGroupId="g")
    bodies = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert [b["Message"] for b in bodies] == ["same", "different"]
    assert all(len(b["SequenceNumber"]) == 20 for b in bodies)


def test_fifo_deduplication_window_is_five_minutes_of_clock(sns, sqs, cloudlet):
    cloudlet.clock.freeze()
    topic = sns.create_topic(Name="window.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    first = sns.publish(TopicArn=topic, Message="x", MessageGroupId="g", MessageDeduplicationId="d")["MessageId"]
    cloudlet.clock.advance(299)
    assert sns.publish(TopicArn=topic, Message="x", MessageGroupId="g", MessageDeduplicationId="d")[
        "MessageId"] == first
    cloudlet.clock.advance(1)
    assert sns.publish(TopicArn=topic, Message="x", MessageGroupId="g", MessageDeduplicationId="d")[
        "MessageId"] != first


def test_standard_topic_forwards_group_id_to_standard_queues(sns, sqs):
    topic = sns.create_topic(Name="fair")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "fair-q", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Message="m", MessageGroupId="tenant-1")
    [m] = receive_all(sqs, url, AttributeNames=["MessageGroupId"])
    assert m["Attributes"]["MessageGroupId"] == "tenant-1"


# -- publish validation -------------------------------------------------------------

@pytest.mark.parametrize("kwargs, expected", [
    ({"Message": ""}, ("InvalidParameter", "Invalid parameter: Empty message")),
    ({"Message": "m", "Subject": ""}, ("InvalidParameter", "Invalid parameter: Subject")),
    ({"Message": "m", "Subject": "line\nbreak"}, ("InvalidParameter", "Invalid parameter: Subject")),
    ({"Message": "m", "Subject": "s" * 100}, ("InvalidParameter", "Invalid parameter: Subject")),
    ({"Message": "x" * 262_145}, ("InvalidParameter", "Invalid parameter: Message too long")),
    ({"Message": "{", "MessageStructure": "json"},
     ("InvalidParameter", "Invalid parameter: Message Structure - JSON message body failed to parse")),
    ({"Message": '{"sqs": "x"}', "MessageStructure": "json"},
     ("InvalidParameter", "Invalid parameter: Message Structure - No default entry in JSON message body")),
    ({"Message": "m", "MessageDeduplicationId": "d"},
     ("InvalidParameter", "Invalid parameter: MessageDeduplicationId Reason: The request includes "
                          "MessageDeduplicationId parameter that is not valid for this topic type")),
    ({"Message": "m", "MessageAttributes": {"a": {"DataType": "Integer", "StringValue": "1"}}},
     ("ParameterValueInvalid", "The message attribute 'a' has an invalid message attribute type, the set of "
                               "supported type prefixes is Binary, Number, and String.")),
    ({"Message": "m", "MessageAttributes": {"a": {"DataType": "String", "BinaryValue": b"1"}}},
     ("ParameterValueInvalid", "The message attribute 'a' with type 'String' must use field 'String'.")),
    ({"Message": "m", "MessageAttributes": {".a": {"DataType": "String", "StringValue": "1"}}},
     ("ParameterValueInvalid", "Invalid message attribute name starting with character '.' was found.")),
    ({"Message": "m", "MessageAttributes": {"a b": {"DataType": "String", "StringValue": "1"}}},
     ("ParameterValueInvalid", "Invalid non-alphanumeric character '#x20' was found in the message attribute "
                               "name. Can only include alphanumeric characters, hyphens, underscores, or dots.")),
])
def test_publish_validation(sns, cloudlet, kwargs, expected):
    topic = sns.create_topic(Name="validate")["TopicArn"]
    raw = cloudlet.client("sns", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.publish(TopicArn=topic, **kwargs)
    assert error(exc) == expected


def test_publish_needs_a_destination(cloudlet, sns):
    raw = cloudlet.client("sns", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.publish(Message="m")
    assert error(exc) == ("InvalidParameter",
                          "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=TOPIC_ARN + "nowhere", Message="m")
    assert error(exc) == ("NotFound", "Topic does not exist")


def test_fifo_publish_rules(sns):
    topic = sns.create_topic(Name="rules.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="m")
    assert error(exc) == ("InvalidParameter",
                          "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
    with pytest.raises(ClientError) as exc:
        sns.publish(TopicArn=topic, Message="m", MessageGroupId="g")
    assert error(exc) == ("InvalidParameter", "Invalid parameter: The topic should either have "
                                              "ContentBasedDeduplication enabled or MessageDeduplicationId provided "
                                              "explicitly")


def test_publish_batch(sns, sqs):
    topic = sns.create_topic(Name="batch")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "batch-q", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "one", "Message": "1"}, {"Id": "two", "Message": "2"}])
    assert [e["Id"] for e in out["Successful"]] == ["one", "two"] and out["Failed"] == []
    assert sorted(m["Body"] for m in receive_all(sqs, url)) == ["1", "2"]
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[{"Id": "a", "Message": "1"},
                                                                      {"Id": "a", "Message": "2"}])
    assert error(exc) == ("BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": f"e{i}", "Message": "m"} for i in range(11)])
    assert error(exc) == ("TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
    with pytest.raises(ClientError) as exc:
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[])
    assert error(exc)[0] == "EmptyBatchRequest"


# -- email, SMS and the outbox --------------------------------------------------------

def test_email_subscription_confirms_through_the_outbox(sns, cloudlet):
    topic = sns.create_topic(Name="mail")["TopicArn"]
    assert sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="ops@example.com")["SubscriptionArn"] == \
        "pending confirmation"
    [pending] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert pending["SubscriptionArn"] == "PendingConfirmation"
    [confirmation] = outbox(cloudlet, endpoint="ops@example.com")
    assert confirmation["subject"] == "AWS Notification - Subscription Confirmation"
    subscribe_url = re.search(r"http://\S+", confirmation["message"]).group()
    status, body = fetch(subscribe_url)
    assert status == 200 and b"<ConfirmSubscriptionResult>" in body
    [confirmed] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert confirmed["SubscriptionArn"].startswith(topic + ":")
    sns.publish(TopicArn=topic, Message="disk full")
    mails = outbox(cloudlet, endpoint="ops@example.com")
    assert [(m["subject"], m["message"]) for m in mails[1:]] == [("AWS Notification Message", "disk full")]
    # The same mail is in SES's outbox, where all the cloud's mail is.
    inbox = cloudlet.admin("GET", "/_cloudlet/ses/messages?to=ops@example.com")["messages"]
    assert [(m["source"], m["subject"], m["text"].strip()) for m in inbox][-1] == (
        "AWS Notifications <no-reply@sns.amazonaws.com>", "AWS Notification Message", "disk full")
    assert inbox[0]["subject"] == "AWS Notification - Subscription Confirmation"


def test_sms_publish_and_opt_out(sns, cloudlet):
    sns.publish(PhoneNumber="+15555550123", Message="code 1234")
    cloudlet.admin("POST", "/_cloudlet/sns/opt-out", {"phoneNumber": "+15555550123"})
    assert sns.check_if_phone_number_is_opted_out(phoneNumber="+15555550123")["isOptedOut"] is True
    sns.publish(PhoneNumber="+15555550123", Message="not delivered")
    assert [m["message"] for m in outbox(cloudlet, protocol="sms")] == ["code 1234"]
    with pytest.raises(ClientError) as exc:
        sns.publish(PhoneNumber="12", Message="m")
    assert error(exc) == ("InvalidParameter", "Invalid parameter: PhoneNumber Reason: 12 is not valid to publish to")


# -- access control -----------------------------------------------------------------

def test_iam_decides_publish(cloudlet, sns):
    topic = sns.create_topic(Name="locked")["TopicArn"]
    iam = cloudlet.client("iam")
    iam.create_user(UserName="pub")
    key = iam.create_access_key(UserName="pub")["AccessKey"]
    user = cloudlet.client("sns", access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        user.publish(TopicArn=topic, Message="m")
    code, text = error(exc)
    assert code == "AuthorizationError"
    assert text == (f"User: arn:aws:iam::{ACCOUNT}:user/pub is not authorized to perform: SNS:Publish on resource: "
                    f"{topic} because no identity-based policy allows the SNS:Publish action")
    iam.put_user_policy(UserName="pub", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]}))
    assert user.publish(TopicArn=topic, Message="m")["MessageId"]


def test_aws_cli_publish_with_attributes(cloudlet, sqs):
    """What users type: the AWS CLI's shorthand for message attributes."""
    from tests.services.test_iam_simulation import aws

    topic = aws(cloudlet, "sns", "create-topic", "--name", "cli")["TopicArn"]
    url, queue_arn = queue_for_topic(sqs, "cli-q", topic)
    sub = aws(cloudlet, "sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint",
              queue_arn, "--attributes", "RawMessageDelivery=true")["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    out = aws(cloudlet, "sns", "publish", "--topic-arn", topic, "--message", "from the cli", "--message-attributes",
              '{"env": {"DataType": "String", "StringValue": "dev"}}')
    [m] = receive_all(sqs, url, MessageAttributeNames=["All"])
    assert m["Body"] == "from the cli"
    assert m["MessageAttributes"] == {"env": {"DataType": "String", "StringValue": "dev"}}
    assert re.fullmatch(r"[0-9a-f-]{36}", out["MessageId"])
