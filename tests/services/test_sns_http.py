"""SNS to a real HTTP endpoint run by the test: the confirmation flow
through SubscribeURL, signatures checked against the certificate fetched
from SigningCertURL, retries on the delivery policy's schedule (on the
virtual clock), dead-lettering, and the UnsubscribeURL."""

from __future__ import annotations

import json
import queue

import pytest

from cloudlet.services.sns.signing import verify
from tests.services.sns_helpers import Endpoint, fetch, queue_for_topic, receive_all


@pytest.fixture
def endpoint():
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture
def sns(cloudlet):
    return cloudlet.client("sns")


@pytest.fixture
def sqs(cloudlet):
    return cloudlet.client("sqs")


def confirm(sns, endpoint, topic: str, **attributes) -> str:
    """Subscribe `endpoint` and confirm through the SubscribeURL it gets."""
    out = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url, Attributes=attributes,
                        ReturnSubscriptionArn=True)
    request = endpoint.next()
    doc = json.loads(request["body"])
    assert doc["Type"] == "SubscriptionConfirmation"
    status, _ = fetch(doc["SubscribeURL"])
    assert status == 200
    return out["SubscriptionArn"]


def test_confirmation_flow_and_signed_notifications(sns, endpoint, cloudlet):
    topic = sns.create_topic(Name="web")["TopicArn"]
    sub = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)
    assert sub["SubscriptionArn"] == "pending confirmation"
    request = endpoint.next()
    headers = request["headers"]
    assert request["path"] == "/sns"
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    assert "x-amz-sns-subscription-arn" not in headers
    doc = json.loads(request["body"])
    assert list(doc) == ["Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp",
                         "SignatureVersion", "Signature", "SigningCertURL"]
    assert headers["x-amz-sns-message-id"] == doc["MessageId"]
    assert doc["Message"] == (f"You have chosen to subscribe to the topic {topic}.\n"
                              "To confirm the subscription, visit the SubscribeURL included in this message.")
    assert len(doc["Token"]) == 288
    # What a subscriber does: fetch the certificate, verify, then confirm.
    status, pem = fetch(doc["SigningCertURL"])
    assert status == 200 and verify(doc, pem)
    status, body = fetch(doc["SubscribeURL"])
    assert status == 200 and b"<SubscriptionArn>" + topic.encode() in body
    [entry] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    sub_arn = entry["SubscriptionArn"]
    assert sub_arn.startswith(topic + ":")
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub_arn)["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "false"

    message_id = sns.publish(TopicArn=topic, Message="deployed", Subject="CI")["MessageId"]
    note = endpoint.next()
    assert note["headers"]["x-amz-sns-message-type"] == "Notification"
    assert note["headers"]["x-amz-sns-message-id"] == message_id
    assert note["headers"]["x-amz-sns-subscription-arn"] == sub_arn
    doc = json.loads(note["body"])
    assert (doc["Type"], doc["MessageId"], doc["Subject"], doc["Message"]) == ("Notification", message_id, "CI",
                                                                              "deployed")
    assert verify(doc, pem)
    assert not verify(dict(doc, Message="forged"), pem)


def test_signature_version_2_and_raw_delivery(sns, endpoint):
    topic = sns.create_topic(Name="web2", Attributes={"SignatureVersion": "2"})["TopicArn"]
    sub_arn = confirm(sns, endpoint, topic)
    sns.publish(TopicArn=topic, Message="v2")
    doc = json.loads(endpoint.next()["body"])
    _, pem = fetch(doc["SigningCertURL"])
    assert doc["SignatureVersion"] == "2" and verify(doc, pem)
    sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery",
                                    AttributeValue="true")
    sns.publish(TopicArn=topic, Message="raw body")
    raw = endpoint.next()
    assert raw["body"] == "raw body"
    assert raw["headers"]["x-amz-sns-rawdelivery"] == "true"


def test_failed_deliveries_retry_on_the_policy_schedule_then_dead_letter(sns, sqs, endpoint, cloudlet):
    cloudlet.clock.freeze()
    topic = sns.create_topic(Name="flaky")["TopicArn"]
    dlq_url, dlq_arn = queue_for_topic(sqs, "flaky-dlq", topic)
    sub_arn = confirm(sns, endpoint, topic)
    policy = {"healthyRetryPolicy": {"numRetries": 3, "numNoDelayRetries": 1, "minDelayTarget": 10,
                                     "maxDelayTarget": 10, "numMinDelayRetries": 0, "numMaxDelayRetries": 0,
                                     "backoffFunction": "linear"}}
    sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="DeliveryPolicy",
                                    AttributeValue=json.dumps(policy))
    sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="RedrivePolicy",
                                    AttributeValue=json.dumps({"deadLetterTargetArn": dlq_arn}))
    endpoint.statuses = [500, 503, 500, 500]
    message_id = sns.publish(TopicArn=topic, Message="please retry")["MessageId"]
    # The first attempt and the one immediate retry come at once.
    first, second = endpoint.next(), endpoint.next()
    assert json.loads(first["body"])["MessageId"] == message_id == json.loads(second["body"])["MessageId"]
    cloudlet.clock.advance(9)
    assert endpoint.pending() == 0  # nothing before the policy's delay
    cloudlet.clock.advance(1)
    assert json.loads(endpoint.next()["body"])["MessageId"] == message_id
    assert receive_all(sqs, dlq_url) == []
    cloudlet.clock.advance(10)
    last = endpoint.next()
    assert json.loads(last["body"])["MessageId"] == message_id
    cloudlet.clock.advance(60)
    with pytest.raises(queue.Empty):
        endpoint.next(timeout=0.2)  # the policy is spent: four attempts in all
    [dead] = receive_all(sqs, dlq_url)
    assert json.loads(dead["Body"])["MessageId"] == message_id


def test_client_errors_are_not_retried(sns, endpoint, cloudlet):
    cloudlet.clock.freeze()
    topic = sns.create_topic(Name="gone-away")["TopicArn"]
    confirm(sns, endpoint, topic)
    endpoint.statuses = [404]
    sns.publish(TopicArn=topic, Message="m")
    assert endpoint.next()["headers"]["x-amz-sns-message-type"] == "Notification"
    cloudlet.clock.advance(3600)
    assert endpoint.pending() == 0


def test_unsubscribe_url_and_restoring(sns, endpoint):
    topic = sns.create_topic(Name="leaving")["TopicArn"]
    confirm(sns, endpoint, topic)
    sns.publish(TopicArn=topic, Message="hello")
    doc = json.loads(endpoint.next()["body"])
    status, _ = fetch(doc["UnsubscribeURL"])
    assert status == 200
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsDeleted"] == "1"
    goodbye = endpoint.next()
    assert goodbye["headers"]["x-amz-sns-message-type"] == "UnsubscribeConfirmation"
    farewell = json.loads(goodbye["body"])
    _, pem = fetch(farewell["SigningCertURL"])
    assert verify(farewell, pem)
    # Visiting the UnsubscribeConfirmation's SubscribeURL restores it.
    fetch(farewell["SubscribeURL"])
    [entry] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert entry["Endpoint"] == endpoint.url and entry["SubscriptionArn"] != "PendingConfirmation"


def test_delivery_survives_a_restart(tmp_path):
    """A delivery waiting for its retry is in storage: a new process picks
    it up and makes it when it falls due."""
    from cloudlet.testing.server import CloudletServer

    receiver = Endpoint()
    try:
        with CloudletServer(str(tmp_path)) as first:
            first.clock.freeze()
            sns = first.client("sns")
            topic = sns.create_topic(Name="durable")["TopicArn"]
            sub = confirm(sns, receiver, topic)
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="DeliveryPolicy", AttributeValue=
                                            json.dumps({"healthyRetryPolicy": {"numRetries": 1, "minDelayTarget": 30,
                                                                               "maxDelayTarget": 30}}))
            receiver.statuses = [500]
            message_id = sns.publish(TopicArn=topic, Message="after restart")["MessageId"]
            assert json.loads(receiver.next()["body"])["MessageId"] == message_id
        with CloudletServer(str(tmp_path)) as second:
            second.health()
            second.clock.advance(30)
            assert json.loads(receiver.next()["body"])["MessageId"] == message_id
    finally:
        receiver.close()
