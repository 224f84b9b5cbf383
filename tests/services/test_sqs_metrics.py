"""AWS/SQS and AWS/SNS metrics in CloudWatch, exact, on the virtual clock."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
MINUTE = datetime(2030, 1, 1, 0, 1, tzinfo=timezone.utc)


@pytest.fixture
def clients(cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    return cloudlet.client("sqs"), cloudlet.client("cloudwatch")


def stats(cw, namespace, name, dims, stat="Sum", start=T0, end=MINUTE):
    out = cw.get_metric_statistics(Namespace=namespace, MetricName=name, Dimensions=dims, StartTime=start,
                                   EndTime=end, Period=60, Statistics=[stat])
    return [(p["Timestamp"], p[stat], p["Unit"]) for p in out["Datapoints"]]


def test_sqs_counts_per_minute(clients, cloudlet):
    sqs, cw = clients
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 10)
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "y" * 20},
                                                   {"Id": "b", "MessageBody": "z" * 30}])
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "1", "ReceiptHandle": got[1]["ReceiptHandle"]}])
    sqs.receive_message(QueueUrl=url)  # the third message
    sqs.receive_message(QueueUrl=url)
    sqs.receive_message(QueueUrl=url)  # two empty receives
    cloudlet.clock.advance(60)
    q = [{"Name": "QueueName", "Value": "jobs"}]
    assert stats(cw, "AWS/SQS", "NumberOfMessagesSent", q) == [(T0, 3.0, "Count")]
    assert stats(cw, "AWS/SQS", "NumberOfMessagesReceived", q) == [(T0, 3.0, "Count")]
    assert stats(cw, "AWS/SQS", "NumberOfMessagesDeleted", q) == [(T0, 2.0, "Count")]
    assert stats(cw, "AWS/SQS", "NumberOfEmptyReceives", q) == [(T0, 2.0, "Count")]
    assert stats(cw, "AWS/SQS", "SentMessageSize", q, "Average") == [(T0, 20.0, "Bytes")]
    assert stats(cw, "AWS/SQS", "SentMessageSize", q, "Maximum") == [(T0, 30.0, "Bytes")]
    names = sorted(m["MetricName"] for m in cw.list_metrics(Namespace="AWS/SQS", Dimensions=q)["Metrics"])
    assert names == ["ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesDelayed",
                     "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesVisible",
                     "NumberOfEmptyReceives", "NumberOfMessagesDeleted", "NumberOfMessagesReceived",
                     "NumberOfMessagesSent", "SentMessageSize"]


def test_sqs_gauges_sampled_each_minute(clients, cloudlet):
    sqs, cw = clients
    url = sqs.create_queue(QueueName="gauges")["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=600)
    cloudlet.clock.advance(60)  # the sampling job runs at 00:01:00
    q = [{"Name": "QueueName", "Value": "gauges"}]
    end = datetime(2030, 1, 1, 0, 2, tzinfo=timezone.utc)
    def gauge(name):
        return stats(cw, "AWS/SQS", name, q, "Maximum", start=MINUTE, end=end)
    assert gauge("ApproximateNumberOfMessagesVisible") == [(MINUTE, 2.0, "Count")]
    assert gauge("ApproximateNumberOfMessagesNotVisible") == [(MINUTE, 1.0, "Count")]
    assert gauge("ApproximateNumberOfMessagesDelayed") == [(MINUTE, 1.0, "Count")]
    assert gauge("ApproximateAgeOfOldestMessage") == [(MINUTE, 60.0, "Seconds")]
    assert stats(cw, "AWS/SQS", "NumberOfMessagesSent", q) == [(T0, 4.0, "Count")]


def test_sns_metrics_are_visible(clients, cloudlet):
    sqs, cw = clients
    sns = cloudlet.client("sns")
    arn = sns.create_topic(Name="news")["TopicArn"]
    sns.publish(TopicArn=arn, Message="hello")
    sns.publish(TopicArn=arn, Message="hello world")
    cloudlet.clock.advance(60)
    t = [{"Name": "TopicName", "Value": "news"}]
    assert stats(cw, "AWS/SNS", "NumberOfMessagesPublished", t) == [(T0, 2.0, "Count")]
    assert stats(cw, "AWS/SNS", "PublishSize", t, "Sum") == [(T0, 16.0, "Bytes")]
