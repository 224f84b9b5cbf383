"""EventBridge Scheduler through boto3: groups, schedules that fire on the
virtual clock (at, rate, cron in a time zone, start and end dates) and call
their target as the target's role; universal targets; dead-letter queues
for what the role may not do; AWS's errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import receive_all
from tests.services.test_iam_enforcement import doc

ACCOUNT = "000000000000"
REGION = "us-east-1"
OFF = {"Mode": "OFF"}


@pytest.fixture
def setup(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    iam, sqs = cloudlet.client("iam"), cloudlet.client("sqs")
    role = iam.create_role(RoleName="scheduler-role", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    iam.put_role_policy(RoleName="scheduler-role", PolicyName="send", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["sqs:SendMessage", "events:PutEvents"], "Resource": "*"}))
    url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    return cloudlet.client("scheduler"), sqs, role["Role"]["Arn"], url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def bodies(sqs, url) -> list[str]:
    return [m["Body"] for m in receive_all(sqs, url)]


def test_one_time_schedule_fires_once_and_deletes_itself(cloudlet, setup):
    scheduler, sqs, role, url, queue = setup
    arn = scheduler.create_schedule(
        Name="reminder", ScheduleExpression="at(2030-06-01T12:30:00)", FlexibleTimeWindow=OFF,
        ActionAfterCompletion="DELETE",
        Target={"Arn": queue, "RoleArn": role,
                "Input": '{"schedule": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>"}'})[
        "ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/reminder"
    got = scheduler.get_schedule(Name="reminder")
    assert (got["GroupName"], got["State"], got["ActionAfterCompletion"], got["Target"]["Arn"]) == (
        "default", "ENABLED", "DELETE", queue)
    cloudlet.clock.set("2030-06-01T12:29:59Z")
    assert bodies(sqs, url) == []
    cloudlet.clock.set("2030-06-01T12:30:00Z")
    assert [json.loads(b) for b in bodies(sqs, url)] == [{"schedule": arn, "at": "2030-06-01T12:30:00Z"}]
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name="reminder")
    assert error(exc) == ("ResourceNotFoundException", "Schedule reminder does not exist.")
    cloudlet.clock.advance(3600)
    assert bodies(sqs, url) == []


def test_rate_with_dates_and_cron_in_a_time_zone(cloudlet, setup):
    scheduler, sqs, role, url, queue = setup
    scheduler.create_schedule(
        Name="every-10", ScheduleExpression="rate(10 minutes)", FlexibleTimeWindow=OFF,
        StartDate=datetime(2030, 6, 1, 12, 5, tzinfo=timezone.utc),
        EndDate=datetime(2030, 6, 1, 12, 40, tzinfo=timezone.utc),
        Target={"Arn": queue, "RoleArn": role, "Input": "tick <aws.scheduler.scheduled-time>"})
    # 09:00 in Paris is 07:00 UTC in June (CEST): tomorrow morning.
    scheduler.create_schedule(
        Name="paris-morning", ScheduleExpression="cron(0 9 * * ? *)", ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={"Arn": queue, "RoleArn": role, "Input": "bonjour <aws.scheduler.scheduled-time>"})
    cloudlet.clock.set("2030-06-02T08:00:00Z")
    assert sorted(bodies(sqs, url)) == [
        "bonjour 2030-06-02T07:00:00Z", "tick 2030-06-01T12:05:00Z", "tick 2030-06-01T12:15:00Z",
        "tick 2030-06-01T12:25:00Z", "tick 2030-06-01T12:35:00Z"]  # from StartDate on, until EndDate
    # The rate schedule ended but stays (ActionAfterCompletion NONE).
    assert scheduler.get_schedule(Name="every-10")["ActionAfterCompletion"] == "NONE"
    scheduler.update_schedule(Name="paris-morning", ScheduleExpression="cron(0 9 * * ? *)",
                              ScheduleExpressionTimezone="Europe/Paris", FlexibleTimeWindow=OFF, State="DISABLED",
                              Target={"Arn": queue, "RoleArn": role, "Input": "x"})
    cloudlet.clock.set("2030-06-03T08:00:00Z")
    assert bodies(sqs, url) == []


def test_universal_and_eventbridge_targets(cloudlet, setup):
    scheduler, sqs, role, url, queue = setup
    scheduler.create_schedule(
        Name="sdk", ScheduleExpression="at(2030-06-01T12:01:00)", FlexibleTimeWindow=OFF,
        Target={"Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "RoleArn": role,
                "Input": json.dumps({"QueueUrl": url, "MessageBody": "via the SDK target"})})
    events = cloudlet.client("events")
    rule = events.put_rule(Name="from-scheduler", EventPattern=json.dumps({"source": ["app.jobs"]}))["RuleArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                               "Action": "sqs:SendMessage", "Resource": queue,
                                               "Condition": {"ArnEquals": {"aws:SourceArn": rule}}}]})})
    events.put_targets(Rule="from-scheduler", Targets=[{"Id": "q", "Arn": queue}])
    scheduler.create_schedule(
        Name="bus", ScheduleExpression="at(2030-06-01T12:02:00)", FlexibleTimeWindow=OFF,
        Target={"Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default", "RoleArn": role,
                "EventBridgeParameters": {"Source": "app.jobs", "DetailType": "Job Due"},
                "Input": json.dumps({"job": 7})})
    cloudlet.clock.set("2030-06-01T12:05:00Z")
    got = bodies(sqs, url)
    assert got[0] == "via the SDK target"
    event = json.loads(got[1])
    assert (event["source"], event["detail-type"], event["detail"]) == ("app.jobs", "Job Due", {"job": 7})
    assert event["resources"] == [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/bus"]


def test_the_role_decides_and_failures_are_dead_lettered(cloudlet, setup):
    scheduler, sqs, role, url, queue = setup
    iam = cloudlet.client("iam")
    iam.create_role(RoleName="weak", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    dlq_url = sqs.create_queue(QueueName="scheduler-dlq")["QueueUrl"]
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:scheduler-dlq"
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                                               "Action": "sqs:SendMessage", "Resource": dlq}]})})
    scheduler.create_schedule(Name="denied", ScheduleExpression="at(2030-06-01T12:01:00)", FlexibleTimeWindow=OFF,
                              Target={"Arn": queue, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/weak", "Input": "no",
                                      "DeadLetterConfig": {"Arn": dlq}})
    cloudlet.clock.set("2030-06-01T12:02:00Z")
    assert bodies(sqs, url) == []
    [dead] = receive_all(sqs, dlq_url, MessageAttributeNames=["All"])
    assert dead["Body"] == "no"
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "AccessDenied"
    assert attributes["SCHEDULE_ARN"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/denied"
    assert attributes["TARGET_ARN"] == queue


def test_groups_and_errors(setup):
    scheduler, _, role, _, queue = setup
    assert [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]] == ["default"]
    group = scheduler.create_schedule_group(Name="nightly", Tags=[{"Key": "team", "Value": "data"}])
    assert group["ScheduleGroupArn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/nightly"
    assert scheduler.list_tags_for_resource(ResourceArn=group["ScheduleGroupArn"])["Tags"] == [
        {"Key": "team", "Value": "data"}]
    target = {"Arn": queue, "RoleArn": role}
    scheduler.create_schedule(Name="s", GroupName="nightly", ScheduleExpression="cron(0 2 * * ? *)",
                              FlexibleTimeWindow=OFF, Target=target)
    assert [(s["Name"], s["GroupName"]) for s in scheduler.list_schedules(GroupName="nightly")["Schedules"]] == [
        ("s", "nightly")]
    cases = [
        (dict(Name="s", GroupName="nightly"), ("ConflictException", "Schedule s already exists.")),
        (dict(Name="x", GroupName="nope"), ("ResourceNotFoundException", "Schedule group nope does not exist.")),
        (dict(Name="x", ScheduleExpression="rate(1 minutes)"),
         ("ValidationException", "Invalid Schedule Expression rate(1 minutes).")),
        (dict(Name="x", FlexibleTimeWindow={"Mode": "FLEXIBLE"}),
         ("ValidationException", "MaximumWindowInMinutes must be provided when Mode is FLEXIBLE.")),
        (dict(Name="x", ScheduleExpressionTimezone="Mars/Olympus"),
         ("ValidationException", "Invalid timezone: Mars/Olympus")),
    ]
    for override, expected in cases:
        kwargs = dict(ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow=OFF, Target=target)
        kwargs.update(override)
        with pytest.raises(ClientError) as exc:
            scheduler.create_schedule(**kwargs)
        assert error(exc) == expected, override
    with pytest.raises(ClientError) as exc:
        scheduler.delete_schedule_group(Name="default")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    scheduler.delete_schedule_group(Name="nightly")
    assert scheduler.list_schedules()["Schedules"] == []
