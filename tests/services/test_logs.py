"""CloudWatch Logs through boto3: log groups and streams, PutLogEvents'
rules and rejections, GetLogEvents' paging tokens, retention on the
virtual clock, tags, IAM on log-group and log-stream ARNs."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import allow, doc, user_with

ACCOUNT = "000000000000"
START = "2030-06-01T12:00:00Z"
T0 = 1_906_545_600_000  # START in milliseconds
DAY = 86_400_000


@pytest.fixture
def logs(cloudlet):
    cloudlet.clock.set(START)
    client = cloudlet.client("logs")
    client.create_log_group(logGroupName="/app/web")
    client.create_log_stream(logGroupName="/app/web", logStreamName="i-1")
    return client


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def put(logs, *events, stream="i-1", group="/app/web"):
    return logs.put_log_events(logGroupName=group, logStreamName=stream,
                               logEvents=[{"timestamp": ts, "message": m} for ts, m in events])


def test_groups_and_streams(logs):
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="/app/web")
    assert error(exc) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    logs.create_log_group(logGroupName="/app/worker", logGroupClass="INFREQUENT_ACCESS", tags={"team": "b"})
    logs.create_log_group(logGroupName="/other")
    groups = logs.describe_log_groups(logGroupNamePrefix="/app/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/app/web", "/app/worker"]
    web = groups[0]
    assert web == {"logGroupName": "/app/web", "creationTime": T0, "metricFilterCount": 0,
                   "arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/web:*", "storedBytes": 0,
                   "logGroupClass": "STANDARD", "logGroupArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/web"}
    assert groups[1]["logGroupClass"] == "INFREQUENT_ACCESS"
    assert [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="WORK")["logGroups"]] == \
        ["/app/worker"]
    page = logs.describe_log_groups(limit=2)
    assert len(page["logGroups"]) == 2
    assert [g["logGroupName"] for g in logs.describe_log_groups(nextToken=page["nextToken"])["logGroups"]] == \
        ["/other"]

    for name in ("b", "a", "c"):
        logs.create_log_stream(logGroupName="/app/web", logStreamName=name)
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="/app/web", logStreamName="a")
    assert error(exc) == ("ResourceAlreadyExistsException", "The specified log stream already exists")
    put(logs, (T0 - 5000, "late"), stream="b")
    put(logs, (T0 - 9000, "early"), stream="c")
    names = lambda **kw: [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/app/web",  # noqa: E731
                                                                                **kw)["logStreams"]]
    assert names() == ["a", "b", "c", "i-1"]
    assert names(orderBy="LastEventTime", descending=True)[:2] == ["b", "c"]
    assert names(logStreamNamePrefix="i-") == ["i-1"]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="/app/web", orderBy="LastEventTime", logStreamNamePrefix="a")
    assert error(exc) == ("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/web"
    [b] = logs.describe_log_streams(logGroupIdentifier=arn, logStreamNamePrefix="b")["logStreams"]
    assert b == {"logStreamName": "b", "creationTime": T0, "firstEventTimestamp": T0 - 5000,
                 "lastEventTimestamp": T0 - 5000, "lastIngestionTime": T0, "arn": f"{arn}:log-stream:b",
                 "storedBytes": 4}

    logs.delete_log_stream(logGroupName="/app/web", logStreamName="b")
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName="/app/web", logStreamName="b")
    assert error(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    logs.delete_log_group(logGroupName="/app/web")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="/app/web")
    assert error(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_put_log_events_rules_and_rejections(logs):
    with pytest.raises(ClientError) as exc:
        put(logs, (T0, "b"), (T0 - 1, "a"))
    assert error(exc) == ("InvalidParameterException", "Log events in a single PutLogEvents request must be in "
                                                        "chronological order.")
    with pytest.raises(ClientError) as exc:
        put(logs, (T0 - DAY - 1, "a"), (T0, "b"))
    assert error(exc) == ("InvalidParameterException", "The batch of log events in a single PutLogEvents request "
                                                        "cannot span more than 24 hours.")
    with pytest.raises(ClientError) as exc:
        put(logs, (T0, "x" * 1_048_551))
    assert error(exc)[0] == "InvalidParameterException"
    assert put(logs, (T0 - 15 * DAY, "too old"))["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    assert "rejectedLogEventsInfo" not in put(logs, (T0 - 14 * DAY + 1000, "kept 1"))
    out = put(logs, (T0, "kept 2"), (T0 + 3 * 3_600_000, "too new"))
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    logs.put_retention_policy(logGroupName="/app/web", retentionInDays=1)
    out = put(logs, (T0 - DAY - 1000, "expired"), (T0 - DAY + 1000, "kept 3"))
    assert out["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    got = logs.get_log_events(logGroupName="/app/web", logStreamName="i-1", startFromHead=True)["events"]
    assert [(e["timestamp"], e["message"], e["ingestionTime"]) for e in got] == [
        (T0 - 14 * DAY + 1000, "kept 1", T0), (T0 - DAY + 1000, "kept 3", T0), (T0, "kept 2", T0)]
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName="/app/web", retentionInDays=2)
    assert error(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        put(logs, (T0, "x"), stream="missing")
    assert error(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")


def test_get_log_events_pages_with_tokens(logs):
    put(logs, *[(T0 + i, f"event {i}") for i in range(25)])
    # Without a token: the newest events; with startFromHead, the oldest.
    newest = logs.get_log_events(logGroupName="/app/web", logStreamName="i-1", limit=10)
    assert [e["message"] for e in newest["events"]] == [f"event {i}" for i in range(15, 25)]
    older = logs.get_log_events(logGroupName="/app/web", logStreamName="i-1", limit=10,
                                nextToken=newest["nextBackwardToken"])
    assert [e["message"] for e in older["events"]] == [f"event {i}" for i in range(5, 15)]
    seen, token = [], None
    while True:
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName="/app/web", logStreamName="i-1", limit=10, **kw)
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break  # the end: the same token back
        token = page["nextForwardToken"]
    assert seen == [f"event {i}" for i in range(25)]
    # A tail picks up what arrives later.
    put(logs, (T0 + 100, "later"))
    assert [e["message"] for e in logs.get_log_events(logGroupName="/app/web", logStreamName="i-1",
                                                      nextToken=token)["events"]] == ["later"]
    window = logs.get_log_events(logGroupName="/app/web", logStreamName="i-1", startTime=T0 + 3, endTime=T0 + 6,
                                 startFromHead=True)["events"]
    assert [e["message"] for e in window] == ["event 3", "event 4", "event 5"]


def test_retention_deletes_old_events_on_the_clock(cloudlet, logs):
    put(logs, (T0 - 3000, "old"), (T0, "new"))
    logs.put_retention_policy(logGroupName="/app/web", retentionInDays=1)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 1
    cloudlet.clock.set("2030-06-02T12:00:01Z")  # a day after "old" (and the hourly job ran)
    cloudlet.clock.advance(3600)
    assert [e["message"] for e in logs.get_log_events(logGroupName="/app/web", logStreamName="i-1",
                                                      startFromHead=True)["events"]] == []
    logs.delete_retention_policy(logGroupName="/app/web")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]


def test_tags(logs):
    arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/web"
    logs.tag_resource(resourceArn=arn, tags={"team": "a", "env": "dev"})
    logs.untag_resource(resourceArn=arn, tagKeys=["env"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}
    logs.tag_log_group(logGroupName="/app/web", tags={"owner": "ops"})
    assert logs.list_tags_log_group(logGroupName="/app/web")["tags"] == {"team": "a", "owner": "ops"}
    with pytest.raises(ClientError) as exc:
        logs.list_tags_for_resource(resourceArn=arn + "-missing")
    assert error(exc)[0] == "ResourceNotFoundException"


def test_iam_on_log_groups_and_streams(cloudlet, logs):
    logs.create_log_group(logGroupName="/secret")
    logs.create_log_stream(logGroupName="/secret", logStreamName="s")
    group_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/app/web"
    me, _ = user_with(cloudlet, "shipper", doc(allow(["logs:PutLogEvents", "logs:GetLogEvents"],
                                                     f"{group_arn}:log-stream:*")))
    mine = me("logs")
    mine.put_log_events(logGroupName="/app/web", logStreamName="i-1",
                        logEvents=[{"timestamp": T0, "message": "allowed"}])
    with pytest.raises(ClientError) as exc:
        mine.put_log_events(logGroupName="/secret", logStreamName="s",
                            logEvents=[{"timestamp": T0, "message": "denied"}])
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        mine.create_log_group(logGroupName="/new")
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"


def test_cloudtrail_records_log_group_changes_but_not_log_events(cloudlet, logs):
    put(logs, (T0, "hello"))
    logs.get_log_events(logGroupName="/app/web", logStreamName="i-1")
    trail = cloudlet.client("cloudtrail")
    names = {e["EventName"] for e in trail.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventSource", "AttributeValue": "logs.amazonaws.com"}])["Events"]}
    assert names == {"CreateLogGroup", "CreateLogStream"}


def test_filter_log_events_across_streams(logs):
    logs.create_log_stream(logGroupName="/app/web", logStreamName="i-2")
    put(logs, (T0 + 1, '{"level": "ERROR", "latency": 120}'), (T0 + 3, "[INFO 200] OK"))
    put(logs, (T0 + 2, '{"level": "INFO", "latency": 1500}'), (T0 + 4, "[ERROR 500] failed"), stream="i-2")

    def found(**kw):
        out = logs.filter_log_events(logGroupName="/app/web", **kw)
        return [(e["logStreamName"], e["timestamp"]) for e in out["events"]]

    assert found() == [("i-1", T0 + 1), ("i-2", T0 + 2), ("i-1", T0 + 3), ("i-2", T0 + 4)]
    assert found(filterPattern="ERROR") == [("i-1", T0 + 1), ("i-2", T0 + 4)]
    assert found(filterPattern="{ $.latency > 1000 }") == [("i-2", T0 + 2)]
    assert found(filterPattern="ERROR", logStreamNames=["i-2"]) == [("i-2", T0 + 4)]
    assert found(logStreamNamePrefix="i-1", startTime=T0 + 2) == [("i-1", T0 + 3)]
    first = logs.filter_log_events(logGroupName="/app/web", limit=3)
    assert len(first["events"]) == 3 and first["events"][0]["eventId"]
    rest = logs.filter_log_events(logGroupName="/app/web", nextToken=first["nextToken"])
    assert [e["timestamp"] for e in rest["events"]] == [T0 + 4] and "nextToken" not in rest
    assert list(logs.get_paginator("filter_log_events").paginate(logGroupName="/app/web", PaginationConfig={
        "PageSize": 1}).search("events[].message")) == [
        '{"level": "ERROR", "latency": 120}', '{"level": "INFO", "latency": 1500}', "[INFO 200] OK",
        "[ERROR 500] failed"]
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName="/app/web", filterPattern="{ $.latency > }")
    assert error(exc)[0] == "InvalidParameterException"
