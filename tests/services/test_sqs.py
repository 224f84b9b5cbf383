"""SQS through boto3 over both protocols: JSON (boto3's default) and query
(the model older SDKs use). Time moves with the virtual clock."""

from __future__ import annotations

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs_clients import sqs_client

ACCOUNT = "000000000000"


@pytest.fixture
def raw_sqs(request, cloudlet, query_models):
    """Clients without client-side validation, to send what boto3 refuses."""
    def make(protocol: str):
        return sqs_client(cloudlet.endpoint, protocol, query_models, validate=False)
    return make


def code(exc) -> str:
    return exc.value.response["Error"]["Code"]


def message(exc) -> str:
    return exc.value.response["Error"]["Message"]


def status(exc) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


# -- queues ------------------------------------------------------------------

def test_create_get_list_delete(sqs, cloudlet):
    url = sqs.create_queue(QueueName="orders")["QueueUrl"]
    assert url == f"http://sqs.us-east-1.localhost:{cloudlet.port}/{ACCOUNT}/orders"
    assert sqs.create_queue(QueueName="orders")["QueueUrl"] == url  # idempotent
    assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
    assert sqs.get_queue_url(QueueName="orders", QueueOwnerAWSAccountId=ACCOUNT)["QueueUrl"] == url
    sqs.create_queue(QueueName="orders-dlq")
    sqs.create_queue(QueueName="billing")
    assert sqs.list_queues(QueueNamePrefix="orders")["QueueUrls"] == [url, url + "-dlq"]
    page = sqs.list_queues(MaxResults=2)
    assert len(page["QueueUrls"]) == 2 and page["NextToken"]
    rest = sqs.list_queues(MaxResults=2, NextToken=page["NextToken"])
    assert len(rest["QueueUrls"]) == 1 and "NextToken" not in rest
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as exc:
        sqs.get_queue_url(QueueName="orders")
    assert code(exc) == "AWS.SimpleQueueService.NonExistentQueue"
    assert message(exc) == "The specified queue does not exist."
    assert status(exc) == 400
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="orders")
    assert code(exc) == "AWS.SimpleQueueService.QueueDeletedRecently"
    cloudlet.clock.advance(61)
    sqs.create_queue(QueueName="orders")


def test_queue_exists_with_other_attributes(sqs):
    sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "10"})
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "20"})
    assert code(exc) == "QueueAlreadyExists"
    assert message(exc) == "A queue already exists with the same name and a different value for attribute VisibilityTimeout"


@pytest.mark.parametrize("name", ["has space", "x" * 81, "dots.here", ""])
def test_bad_queue_names(raw_sqs, name):
    for protocol in ("json", "query"):
        with pytest.raises(ClientError) as exc:
            raw_sqs(protocol).create_queue(QueueName=name)
        assert code(exc) in ("InvalidParameterValue", "MissingParameter")


def test_fifo_name_rules(sqs):
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="plain", Attributes={"FifoQueue": "true"})
    assert code(exc) == "InvalidParameterValue"
    url = sqs.create_queue(QueueName="ordered.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["DeduplicationScope"] == "queue"
    assert attrs["FifoThroughputLimit"] == "perQueue"
    assert attrs["ContentBasedDeduplication"] == "false"


def test_attribute_validation(sqs):
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="a1", Attributes={"DelaySeconds": "901"})
    assert (code(exc), message(exc)) == ("InvalidAttributeValue", "Invalid value for the parameter DelaySeconds.")
    url = sqs.create_queue(QueueName="a1")["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"})
    assert (code(exc), message(exc)) == ("InvalidAttributeName", "Unknown Attribute ContentBasedDeduplication.")
    with pytest.raises(ClientError) as exc:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:nope", "maxReceiveCount": 3})})
    assert code(exc) == "InvalidParameterValue"
    assert message(exc).endswith("Reason: Dead letter target does not exist.")


def test_all_attributes(sqs, cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    url = sqs.create_queue(QueueName="attrs", Attributes={"VisibilityTimeout": "45", "DelaySeconds": "5"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="delayed")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs == {
        "QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:attrs",
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "1",
        "CreatedTimestamp": "1893456000",
        "LastModifiedTimestamp": "1893456000",
        "VisibilityTimeout": "45",
        "MaximumMessageSize": "1048576",
        "MessageRetentionPeriod": "345600",
        "DelaySeconds": "5",
        "ReceiveMessageWaitTimeSeconds": "0",
        "SqsManagedSseEnabled": "true",
    }
    cloudlet.clock.advance(5)
    only = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert only == {"ApproximateNumberOfMessages": "1"}


# -- messages ----------------------------------------------------------------

def test_send_receive_delete(sqs, cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    url = sqs.create_queue(QueueName="work")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello world", MessageAttributes={
        "Kind": {"DataType": "String", "StringValue": "greeting"},
        "Count": {"DataType": "Number.int", "StringValue": "3"},
        "Blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}})
    assert sent["MD5OfMessageBody"] == "5eb63bbbe01eeed093cb22bb8f5acdc3"
    # The last query-protocol model predates MessageSystemAttributeNames.
    names = {"AttributeNames": ["All"]} if sqs.protocol == "query" else {"MessageSystemAttributeNames": ["All"]}
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], **names)
    [msg] = got["Messages"]
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["Body"] == "hello world"
    assert msg["MessageAttributes"]["Blob"]["BinaryValue"] == b"\x00\x01"
    assert msg["MessageAttributes"]["Count"] == {"StringValue": "3", "DataType": "Number.int"}
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert msg["Attributes"] == {"SenderId": ACCOUNT, "SentTimestamp": "1893456000000",
                                 "ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": "1893456000000",
                                 "AWSTraceHeader": "Root=1-abc"}
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])  # again: still fine
    cloudlet.clock.advance(3600)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_message_attribute_filters(sqs):
    url = sqs.create_queue(QueueName="filters")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
        "app.id": {"DataType": "String", "StringValue": "1"}, "app.name": {"DataType": "String", "StringValue": "n"},
        "other": {"DataType": "String", "StringValue": "o"}})
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["app.*"], VisibilityTimeout=0)["Messages"][0]
    assert sorted(msg["MessageAttributes"]) == ["app.id", "app.name"]
    msg = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["other"], AttributeNames=["SentTimestamp"],
                              VisibilityTimeout=0)["Messages"][0]
    assert list(msg["MessageAttributes"]) == ["other"]
    assert list(msg["Attributes"]) == ["SentTimestamp"]


def test_bad_messages(raw_sqs, sqs):
    url = sqs.create_queue(QueueName="strict")["QueueUrl"]
    client = raw_sqs(sqs.protocol)
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="bad \x01 char")
    assert code(exc) == "InvalidMessageContents"
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024 + 1))
    assert (code(exc), message(exc)) == ("InvalidParameterValue", "One or more parameters are invalid. Reason: Message "
                                                                  "must be shorter than 1048576 bytes.")
    many = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=many)
    assert message(exc) == "Number of message attributes [11] exceeds the allowed maximum [10]."
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "n": {"DataType": "Number", "StringValue": "abc"}})
    assert code(exc) == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url)
    assert (code(exc), message(exc)) == ("MissingParameter", "The request must contain the parameter MessageBody.")
    with pytest.raises(ClientError) as exc:
        client.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert (code(exc), message(exc)) == ("InvalidParameterValue", "Value 11 for parameter MaxNumberOfMessages is "
                                                                  "invalid. Reason: Must be between 1 and 10, if provided.")


def test_batches(sqs):
    url = sqs.create_queue(QueueName="batch")["QueueUrl"]
    out = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "bad \x02"}, {"Id": "c", "MessageBody": "three"}])
    assert [e["Id"] for e in out["Successful"]] == ["a", "c"]
    assert out["Failed"] == [{"Id": "b", "SenderFault": True, "Code": "InvalidMessageContents",
                              "Message": out["Failed"][0]["Message"]}]
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}])
    assert (code(exc), message(exc)) == ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.")
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)])
    assert code(exc) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "bad id!", "MessageBody": "x"}])
    assert code(exc) == "AWS.SimpleQueueService.InvalidBatchEntryId"
    with pytest.raises(ClientError) as exc:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 200_000} for i in range(6)])
    assert code(exc) == "AWS.SimpleQueueService.BatchRequestTooLong"
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == ["one", "three"]
    result = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": received[0]["ReceiptHandle"]}, {"Id": "y", "ReceiptHandle": "garbage"}])
    assert result["Successful"] == [{"Id": "x"}]
    assert result["Failed"][0]["Id"] == "y" and result["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"


def test_visibility_timeout_with_the_clock(sqs, cloudlet):
    cloudlet.clock.freeze()
    url = sqs.create_queue(QueueName="vis", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    first = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    cloudlet.clock.advance(29)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    cloudlet.clock.advance(1)
    again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != first["ReceiptHandle"]
    with pytest.raises(ClientError) as exc:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=60)
    assert code(exc) == "InvalidParameterValue"
    assert message(exc).endswith("Reason: Message does not exist or is not available for visibility timeout change.")
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=100)
    cloudlet.clock.advance(99)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    with pytest.raises(ClientError) as exc:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=43200)
    assert message(exc) == ("Value 43200 for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout "
                            "for the message is beyond the limit [43200 seconds]")
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    assert len(sqs.receive_message(QueueUrl=url)["Messages"]) == 1
    with pytest.raises(ClientError) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="not-a-handle")
    assert code(exc) == "ReceiptHandleIsInvalid"


def test_delays(sqs, cloudlet):
    cloudlet.clock.freeze()
    url = sqs.create_queue(QueueName="delay", Attributes={"DelaySeconds": "10"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="queue-delay")
    sqs.send_message(QueueUrl=url, MessageBody="message-delay", DelaySeconds=20)
    sqs.send_message(QueueUrl=url, MessageBody="no-delay", DelaySeconds=0)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["no-delay"]
    cloudlet.clock.advance(10)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["queue-delay"]
    cloudlet.clock.advance(10)
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["message-delay"]


def test_long_poll_returns_when_a_message_arrives(sqs, cloudlet):
    url = sqs.create_queue(QueueName="poll")["QueueUrl"]
    result = {}

    def receive():
        started = time.monotonic()
        result["messages"] = sqs_client(cloudlet.endpoint, "json").receive_message(
            QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])
        result["waited"] = time.monotonic() - started

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.3)
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    thread.join(25)
    assert [m["Body"] for m in result["messages"]] == ["wake up"]
    assert result["waited"] < 10  # woken by the send, not by the 20 s deadline


def test_long_poll_ends_when_the_clock_passes_the_wait(sqs, cloudlet):
    cloudlet.clock.freeze()
    url = sqs.create_queue(QueueName="poll2")["QueueUrl"]
    result = {}

    def receive():
        result["messages"] = sqs_client(cloudlet.endpoint, "json").receive_message(
            QueueUrl=url, WaitTimeSeconds=20).get("Messages", [])

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(0.3)
    cloudlet.clock.advance(21)
    thread.join(10)
    assert not thread.is_alive()
    assert result["messages"] == []


def test_retention(sqs, cloudlet):
    cloudlet.clock.freeze()
    url = sqs.create_queue(QueueName="short", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="soon gone")
    cloudlet.clock.advance(60)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_purge(sqs, cloudlet):
    cloudlet.clock.freeze()
    url = sqs.create_queue(QueueName="purge")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(5)])
    sqs.purge_queue(QueueUrl=url)
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []
    with pytest.raises(ClientError) as exc:
        sqs.purge_queue(QueueUrl=url)
    assert code(exc) == "AWS.SimpleQueueService.PurgeQueueInProgress"
    cloudlet.clock.advance(60)
    sqs.purge_queue(QueueUrl=url)


# -- FIFO --------------------------------------------------------------------

def test_fifo_order_groups_and_dedup(sqs, cloudlet):
    cloudlet.clock.freeze()
    url = sqs.create_queue(QueueName="jobs.fifo", Attributes={"FifoQueue": "true",
                                                              "ContentBasedDeduplication": "true"})["QueueUrl"]
    seqs = [sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="A")["SequenceNumber"] for i in range(3)]
    assert seqs == sorted(seqs)
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="A")
    assert dup["SequenceNumber"] == seqs[0]
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="B")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in first] == ["a0", "a1"]
    assert first[0]["Attributes"]["MessageGroupId"] == "A"
    # Group A is in flight: only group B is available.
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in second] == ["b0"]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    for m in first:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["a2"]
    cloudlet.clock.advance(301)  # past the deduplication window
    again = sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="A")
    assert again["SequenceNumber"] > seqs[-1]


def test_fifo_rules(raw_sqs, sqs):
    url = sqs.create_queue(QueueName="rules.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    client = raw_sqs(sqs.protocol)
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert (code(exc), message(exc)) == ("MissingParameter", "The request must contain the parameter MessageGroupId.")
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert message(exc) == ("The queue should either have ContentBasedDeduplication enabled or "
                            "MessageDeduplicationId provided explicitly")
    with pytest.raises(ClientError) as exc:
        client.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d",
                            DelaySeconds=5)
    assert code(exc) == "InvalidParameterValue"


def test_fifo_receive_attempt_id(sqs):
    url = sqs.create_queue(QueueName="attempts.fifo", Attributes={"FifoQueue": "true",
                                                                  "ContentBasedDeduplication": "true"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="only", MessageGroupId="g")
    first = sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="attempt-1")["Messages"]
    again = sqs.receive_message(QueueUrl=url, ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in first]
    assert again[0]["ReceiptHandle"] == first[0]["ReceiptHandle"]


# -- dead letters ------------------------------------------------------------

def test_dead_letter_queue_and_redrive(sqs, cloudlet):
    cloudlet.clock.freeze()
    dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq"
    src_url = sqs.create_queue(QueueName="src", Attributes={
        "VisibilityTimeout": "1", "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})})[
        "QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [src_url]
    sent = sqs.send_message(QueueUrl=src_url, MessageBody="poison")
    for _ in range(2):
        assert len(sqs.receive_message(QueueUrl=src_url)["Messages"]) == 1
        cloudlet.clock.advance(1)
    assert sqs.receive_message(QueueUrl=src_url).get("Messages", []) == []
    dead = sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"], VisibilityTimeout=0)["Messages"]
    assert [m["MessageId"] for m in dead] == [sent["MessageId"]]
    assert dead[0]["Attributes"]["DeadLetterQueueSourceArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:src"

    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    with pytest.raises(ClientError) as exc:
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert code(exc) == "AWS.SimpleQueueService.UnsupportedOperation"
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert tasks[0]["Status"] == "RUNNING" and tasks[0]["TaskHandle"] == handle
    assert tasks[0]["ApproximateNumberOfMessagesToMove"] == 1
    cloudlet.clock.advance(2)
    tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert tasks[0]["Status"] == "COMPLETED"
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    assert "TaskHandle" not in tasks[0]
    back = sqs.receive_message(QueueUrl=src_url)["Messages"]
    assert [m["Body"] for m in back] == ["poison"]


def test_redrive_allow_policy(sqs):
    dlq_url = sqs.create_queue(QueueName="closed-dlq", Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})["QueueUrl"]
    with pytest.raises(ClientError) as exc:
        sqs.create_queue(QueueName="wants-dlq", Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:closed-dlq", "maxReceiveCount": 1})})
    assert code(exc) == "InvalidParameterValue"
    assert dlq_url


# -- tags, permissions, urls -------------------------------------------------

def test_tags_and_permissions(sqs):
    url = sqs.create_queue(QueueName="tagged", tags={"team": "core"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "dev"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "dev"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}
    sqs.add_permission(QueueUrl=url, Label="share", AWSAccountIds=["111111111111"], Actions=["SendMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"] == [{"Sid": "share", "Effect": "Allow",
                                    "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                                    "Action": "SQS:SendMessage",
                                    "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:tagged"}]
    with pytest.raises(ClientError) as exc:
        sqs.add_permission(QueueUrl=url, Label="share", AWSAccountIds=["111111111111"], Actions=["SendMessage"])
    assert code(exc) == "InvalidParameterValue"
    sqs.remove_permission(QueueUrl=url, Label="share")
    assert "Policy" not in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_queue_url_forms(sqs, cloudlet):
    sqs.create_queue(QueueName="forms")
    for url in (f"http://localhost:4566/{ACCOUNT}/forms", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/forms",
                f"{cloudlet.endpoint}/{ACCOUNT}/forms"):
        sqs.send_message(QueueUrl=url, MessageBody=url)
    bodies = {m["Body"] for m in sqs.receive_message(QueueUrl=f"http://localhost:4566/{ACCOUNT}/forms",
                                                     MaxNumberOfMessages=10)["Messages"]}
    assert len(bodies) == 3


def test_query_request_names_the_queue_by_its_path(cloudlet):
    from tests.http import send

    sqs_client(cloudlet.endpoint, "json").create_queue(QueueName="by-path")
    resp = send(cloudlet.endpoint, "POST", f"/{ACCOUNT}/by-path", service="sqs",
                body=b"Action=SendMessage&Version=2012-11-05&MessageBody=hi",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200
    assert b"<MD5OfMessageBody>49f68a5c8493ec2c0bf489821c21fc3b</MD5OfMessageBody>" in resp.body
    resp = send(cloudlet.endpoint, "POST", "/", service="sqs", body=b"Action=GetQueueUrl&Version=2012-11-05",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 400
    assert b"<Code>MissingParameter</Code>" in resp.body
