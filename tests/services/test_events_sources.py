"""Events EventBridge gets from the clock and from other services:
scheduled rules on the virtual clock, "AWS API Call via CloudTrail",
"CloudWatch Alarm State Change", S3's EventBridge notifications."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.services.test_events import ACCOUNT, REGION, bodies, queue_for_rules

START = "2030-06-01T12:00:00Z"


@pytest.fixture
def clients(cloudlet):
    cloudlet.clock.set(START)
    return cloudlet.client("events"), cloudlet.client("sqs")


def wait_bodies(sqs, url: str, count: int) -> list:
    """Messages that arrive after the call that caused them returned (the
    service events are routed right after it): long polling, not sleeping."""
    out = []
    while len(out) < count:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5).get("Messages", [])
        assert got, f"only {len(out)} of {count} messages arrived"
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            out.append(json.loads(m["Body"]))
    return out


def test_rate_and_cron_rules_fire_on_the_clock(cloudlet, clients):
    events, sqs = clients
    rate = events.put_rule(Name="every-5", ScheduleExpression="rate(5 minutes)")["RuleArn"]
    cron = events.put_rule(Name="at-13h", ScheduleExpression="cron(0 13 * * ? *)")["RuleArn"]
    url, queue_arn = queue_for_rules(sqs, "ticks")
    events.put_targets(Rule="every-5", Targets=[{"Id": "q", "Arn": queue_arn}])
    events.put_targets(Rule="at-13h", Targets=[{"Id": "q", "Arn": queue_arn, "Input": '{"job": "report"}'}])
    cloudlet.clock.advance(4 * 60)
    assert bodies(sqs, url) == []
    cloudlet.clock.advance(60)
    [tick] = bodies(sqs, url)
    assert {k: v for k, v in tick.items() if k != "id"} == {
        "version": "0", "detail-type": "Scheduled Event", "source": "aws.events", "account": ACCOUNT,
        "time": "2030-06-01T12:05:00Z", "region": REGION, "resources": [rate], "detail": {}}
    # An hour at once: eleven more ticks at their own times, and the 13:00 job.
    cloudlet.clock.set("2030-06-01T13:00:00Z")
    got = bodies(sqs, url)
    ticks = sorted(b["time"] for b in got if b.get("source") == "aws.events")
    assert ticks == [f"2030-06-01T{12 + m // 60:02d}:{m % 60:02d}:00Z" for m in range(10, 61, 5)]
    assert [b for b in got if "job" in b] == [{"job": "report"}]
    events.disable_rule(Name="every-5")
    cloudlet.clock.advance(600)
    assert bodies(sqs, url) == []
    assert cron.endswith(":rule/at-13h")


def test_api_calls_via_cloudtrail(cloudlet, clients):
    events, sqs = clients
    arn = events.put_rule(Name="queue-changes", EventPattern=json.dumps({
        "source": ["aws.sqs"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": [{"prefix": "Create"}, "DeleteQueue", "ListQueues"]}}))["RuleArn"]
    url, queue_arn = queue_for_rules(sqs, "audit", [arn])
    events.put_targets(Rule="queue-changes", Targets=[{"Id": "q", "Arn": queue_arn}])
    sqs.create_queue(QueueName="orders")
    sqs.list_queues()  # read-only: not for an ENABLED rule
    [created] = wait_bodies(sqs, url, 1)
    assert created["source"] == "aws.sqs" and created["detail-type"] == "AWS API Call via CloudTrail"
    assert created["time"] == "2030-06-01T12:00:00Z" and created["resources"] == []
    detail = created["detail"]
    assert detail["eventName"] == "CreateQueue" and detail["eventSource"] == "sqs.amazonaws.com"
    assert detail["requestParameters"] == {"queueName": "orders"}
    assert detail["userIdentity"]["type"] == "Root" and detail["recipientAccountId"] == ACCOUNT
    # ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS also gets the read-only calls.
    events.put_rule(Name="queue-changes", State="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
                    EventPattern=json.dumps({"source": ["aws.sqs"], "detail": {"eventName": ["ListQueues"]}}))
    sqs.list_queues()
    [listed] = wait_bodies(sqs, url, 1)
    assert listed["detail"]["eventName"] == "ListQueues" and listed["detail"]["readOnly"] is True


def test_alarm_state_change_events(cloudlet, clients):
    events, sqs = clients
    cw = cloudlet.client("cloudwatch")
    arn = events.put_rule(Name="alarms", EventPattern=json.dumps({
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"state": {"value": ["ALARM"]}}}))["RuleArn"]
    url, queue_arn = queue_for_rules(sqs, "alarms", [arn])
    events.put_targets(Rule="alarms", Targets=[{"Id": "q", "Arn": queue_arn}])
    cw.put_metric_alarm(AlarmName="errors", AlarmDescription="too many errors", Namespace="App", MetricName="Errors",
                        Dimensions=[{"Name": "Service", "Value": "web"}], Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching")
    cloudlet.clock.advance(60)  # INSUFFICIENT_DATA -> OK: not wanted by the pattern
    cw.put_metric_data(Namespace="App", MetricData=[{
        "MetricName": "Errors", "Dimensions": [{"Name": "Service", "Value": "web"}], "Value": 3,
        "Timestamp": datetime(2030, 6, 1, 12, 1, 10, tzinfo=timezone.utc)}])
    cloudlet.clock.advance(60)
    [changed] = bodies(sqs, url)
    assert changed["source"] == "aws.cloudwatch" and changed["time"] == "2030-06-01T12:02:00Z"
    assert changed["resources"] == [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:errors"]
    detail = changed["detail"]
    assert detail["alarmName"] == "errors"
    assert detail["state"]["value"] == "ALARM" and detail["state"]["timestamp"] == "2030-06-01T12:02:00.000+0000"
    assert detail["previousState"]["value"] == "OK"
    assert detail["state"]["reason"] == cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"][0]["StateReason"]
    assert detail["configuration"] == {"description": "too many errors", "metrics": [{
        "id": "m1", "metricStat": {"metric": {"namespace": "App", "name": "Errors", "dimensions": {"Service": "web"}},
                                   "period": 60, "stat": "Sum"}, "returnData": True}]}


def test_s3_eventbridge_notifications(cloudlet, clients):
    events, sqs = clients
    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="uploads")
    s3.put_bucket_notification_configuration(Bucket="uploads",
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    arn = events.put_rule(Name="uploads", EventPattern=json.dumps({
        "source": ["aws.s3"], "detail-type": ["Object Created", "Object Deleted"],
        "detail": {"bucket": {"name": ["uploads"]}, "object": {"key": [{"prefix": "in/"}]}}}))["RuleArn"]
    url, queue_arn = queue_for_rules(sqs, "uploads", [arn])
    events.put_targets(Rule="uploads", Targets=[{"Id": "q", "Arn": queue_arn}])
    put = s3.put_object(Bucket="uploads", Key="in/a.txt", Body=b"hello")
    s3.put_object(Bucket="uploads", Key="other/b.txt", Body=b"x")
    s3.delete_object(Bucket="uploads", Key="in/a.txt")
    created, deleted = wait_bodies(sqs, url, 2)
    assert created["detail-type"] == "Object Created" and created["source"] == "aws.s3"
    assert created["resources"] == ["arn:aws:s3:::uploads"]
    detail = created["detail"]
    assert detail["bucket"] == {"name": "uploads"} and detail["reason"] == "PutObject"
    assert {k: detail["object"][k] for k in ("key", "size", "etag")} == {
        "key": "in/a.txt", "size": 5, "etag": put["ETag"].strip('"')}
    assert detail["requester"] == ACCOUNT
    assert deleted["detail-type"] == "Object Deleted"
    assert deleted["detail"]["deletion-type"] == "Permanently Deleted"
    assert deleted["detail"]["reason"] == "DeleteObject"


def test_rules_and_schedules_survive_a_restart(tmp_path):
    """Rules, targets and a schedule's next time are in storage: a new
    process fires the schedule when its time comes, and routes events."""
    from cloudlet.testing.server import CloudletServer

    with CloudletServer(str(tmp_path)) as first:
        first.clock.set(START)
        events, sqs = first.client("events"), first.client("sqs")
        events.put_rule(Name="every-10", ScheduleExpression="rate(10 minutes)")
        events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["app.orders"]}))
        url, queue_arn = queue_for_rules(sqs, "durable")
        for rule in ("every-10", "orders"):
            events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queue_arn}])
    with CloudletServer(str(tmp_path)) as second:
        second.clock.set("2030-06-01T12:10:00Z")
        events, sqs = second.client("events"), second.client("sqs")
        [tick] = bodies(sqs, url)
        assert (tick["detail-type"], tick["time"]) == ("Scheduled Event", "2030-06-01T12:10:00Z")
        events.put_events(Entries=[{"Source": "app.orders", "DetailType": "Order", "Detail": "{}"}])
        assert [b["source"] for b in bodies(sqs, url)] == ["app.orders"]
