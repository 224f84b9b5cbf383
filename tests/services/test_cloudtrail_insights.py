"""CloudTrail Insights against a live server: a sparse seven-day baseline
built with real calls on the virtual clock, a burst of one write API and of
one error, the Start and End Insights events (LookupEvents
EventCategory=insight, the trail's bucket) and ListInsightsMetricData."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re

import pytest
from botocore.exceptions import ClientError

from tests.services.test_cloudtrail import ACCOUNT, REGION, error, make_trail

BUCKET = "insight-logs"
DAY = 86400
T0 = 1_767_225_600                      # 2026-01-01T00:00:00Z
BURST = T0 + 7 * DAY + 2 * 3600         # a round minute, seven days and two hours later
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY = re.compile(rf"^AWSLogs/{ACCOUNT}/CloudTrail-Insight/{REGION}/2026/01/08/"
                 rf"{ACCOUNT}_CloudTrail-Insight_{REGION}_20260108T02\d\dZ_[A-Za-z0-9]{{16}}\.json\.gz$")


def utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def iso(epoch: float) -> str:
    return utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def insights(cloudlet, **kw) -> list[dict]:
    ct = cloudlet.client("cloudtrail")
    out = []
    for page in ct.get_paginator("lookup_events").paginate(EventCategory="insight", **kw):
        out.extend(page["Events"])
    return out


def records(cloudlet) -> list[dict]:
    return [json.loads(e["CloudTrailEvent"]) for e in insights(cloudlet)]


def attributions(record: dict) -> dict:
    return {a["attribute"]: (a["insight"], a["baseline"])
            for a in record["insightDetails"]["insightContext"]["attributions"]}


def user_agent_of(cloudlet, name: str) -> str:
    ct = cloudlet.client("cloudtrail")
    found = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": name}], MaxResults=1)
    return json.loads(found["Events"][0]["CloudTrailEvent"])["userAgent"]


def test_insight_selectors_are_validated_and_read_back(cloudlet):
    make_trail(cloudlet, bucket=BUCKET)
    ct = cloudlet.client("cloudtrail")
    with pytest.raises(ClientError) as exc:
        ct.get_insight_selectors(TrailName="main")
    assert error(exc)[0] == "InsightNotEnabledException"
    with pytest.raises(ClientError) as exc:
        ct.put_insight_selectors(TrailName="main", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}] * 2)
    assert error(exc)[0] == "InvalidInsightSelectorsException"
    got = ct.put_insight_selectors(TrailName="main", InsightSelectors=[{"InsightType": "ApiErrorRateInsight"}])
    assert got["InsightSelectors"] == [{"InsightType": "ApiErrorRateInsight"}]
    assert ct.get_insight_selectors(TrailName="main")["InsightSelectors"] == [{"InsightType": "ApiErrorRateInsight"}]
    assert ct.get_trail(Name="main")["Trail"]["HasInsightSelectors"] is True
    with pytest.raises(ClientError) as exc:
        ct.list_insights_metric_data(EventSource="s3.amazonaws.com", EventName="GetBucketAcl",
                                     InsightType="ApiErrorRateInsight")
    assert error(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        ct.list_insights_metric_data(EventSource="s3.amazonaws.com", EventName="GetBucketAcl",
                                     InsightType="ApiCallRateInsight", Period=120)
    assert error(exc)[0] == "InvalidParameterException"


def test_a_burst_over_a_seven_day_baseline_opens_and_closes_insights(cloudlet):
    cloudlet.clock.set(T0)
    make_trail(cloudlet, bucket=BUCKET)
    ct, sqs, s3 = (cloudlet.client(s) for s in ("cloudtrail", "sqs", "s3"))
    ct.start_logging(Name="main")
    ct.put_insight_selectors(TrailName="main", InsightSelectors=[{"InsightType": "ApiCallRateInsight"},
                                                                 {"InsightType": "ApiErrorRateInsight"}])
    # the baseline: one CreateQueue and one failed GetBucketAcl a day, at 01:00, for eight days
    for day in range(8):
        cloudlet.clock.set(T0 + day * DAY + 3600)
        sqs.create_queue(QueueName=f"daily-{day}")
        with pytest.raises(ClientError):
            s3.get_bucket_acl(Bucket="no-such-bucket")
    cloudlet.clock.set(BURST - 600)
    assert records(cloudlet) == []                      # steady so far: no insight

    # the burst: 50 CreateQueue and 20 NoSuchBucket in one minute, 30 more CreateQueue in the next
    cloudlet.clock.set(BURST + 5)
    for i in range(50):
        sqs.create_queue(QueueName=f"burst-{i}")
    for _ in range(20):
        with pytest.raises(ClientError):
            s3.get_bucket_acl(Bucket="no-such-bucket")
    cloudlet.clock.set(BURST + 65)                      # the burst minute is over: both insights start
    for i in range(30):
        sqs.create_queue(QueueName=f"more-{i}")
    started = {r["insightDetails"]["insightType"]: r for r in records(cloudlet)}
    assert sorted(started) == ["ApiCallRateInsight", "ApiErrorRateInsight"]
    agent = user_agent_of(cloudlet, "CreateQueue")
    s3_agent = user_agent_of(cloudlet, "GetBucketAcl")

    calls = started["ApiCallRateInsight"]
    assert list(calls) == ["eventVersion", "eventTime", "awsRegion", "eventID", "eventType", "recipientAccountId",
                           "sharedEventID", "insightDetails", "eventCategory"]
    assert calls["eventVersion"] == "1.08"
    assert calls["eventTime"] == iso(BURST)
    assert (calls["awsRegion"], calls["eventType"], calls["recipientAccountId"], calls["eventCategory"]) == \
        (REGION, "AwsCloudTrailInsight", ACCOUNT, "Insight")
    details = calls["insightDetails"]
    assert {k: details[k] for k in ("state", "eventSource", "eventName", "insightType")} == {
        "state": "Start", "eventSource": "sqs.amazonaws.com", "eventName": "CreateQueue",
        "insightType": "ApiCallRateInsight"}
    assert "errorCode" not in details
    # seven calls fell in the seven days before the burst (the first day's is older)
    base = round(7 / 10080, 10)
    assert details["insightContext"]["statistics"] == {
        "baseline": {"average": base}, "insight": {"average": 50}, "baselineDuration": 10080}
    assert attributions(calls) == {
        "userIdentityArn": ([{"value": ROOT, "average": 50}], [{"value": ROOT, "average": base}]),
        "userAgent": ([{"value": agent, "average": 50}], [{"value": agent, "average": base}]),
        "errorCode": ([{"value": "null", "average": 50}], [{"value": "null", "average": base}]),
    }

    errors = started["ApiErrorRateInsight"]
    details = errors["insightDetails"]
    assert list(details) == ["state", "eventSource", "eventName", "insightType", "errorCode", "insightContext"]
    assert (details["state"], details["eventSource"], details["eventName"], details["errorCode"]) == \
        ("Start", "s3.amazonaws.com", "GetBucketAcl", "NoSuchBucket")
    assert details["insightContext"]["statistics"] == {
        "baseline": {"average": base}, "insight": {"average": 20}, "baselineDuration": 10080}
    assert attributions(errors)["errorCode"] == ([{"value": "NoSuchBucket", "average": 20}],
                                                 [{"value": "NoSuchBucket", "average": base}])
    assert attributions(errors)["userAgent"][0] == [{"value": s3_agent, "average": 20}]

    # the next minute: errors are back to normal (End); CreateQueue is still busy
    cloudlet.clock.set(BURST + 125)
    ended = [r for r in records(cloudlet) if r["insightDetails"]["state"] == "End"]
    assert [r["insightDetails"]["insightType"] for r in ended] == ["ApiErrorRateInsight"]
    assert ended[0]["sharedEventID"] == errors["sharedEventID"]
    assert ended[0]["eventID"] != errors["eventID"]
    assert ended[0]["eventTime"] == iso(BURST + 60)
    assert ended[0]["insightDetails"]["insightContext"]["statistics"] == {
        "baseline": {"average": base}, "insight": {"average": 20}, "insightDuration": 1, "baselineDuration": 10080}

    # two minutes later the CreateQueue insight ends: 80 calls over 2 minutes
    cloudlet.clock.set(BURST + 185)
    ended = {r["insightDetails"]["insightType"]: r for r in records(cloudlet)
             if r["insightDetails"]["state"] == "End"}
    end = ended["ApiCallRateInsight"]
    assert end["sharedEventID"] == calls["sharedEventID"]
    assert end["eventTime"] == iso(BURST + 120)
    assert end["insightDetails"]["insightContext"]["statistics"] == {
        "baseline": {"average": base}, "insight": {"average": 40}, "insightDuration": 2, "baselineDuration": 10080}
    assert attributions(end)["userIdentityArn"] == ([{"value": ROOT, "average": 40}], [{"value": ROOT, "average": base}])

    # LookupEvents: newest first (the last stored first at equal times), the lookup attributes that apply, pages
    found = insights(cloudlet)
    assert [(e["EventName"], json.loads(e["CloudTrailEvent"])["insightDetails"]["state"]) for e in found] == [
        ("CreateQueue", "End"), ("GetBucketAcl", "End"), ("GetBucketAcl", "Start"), ("CreateQueue", "Start")]
    assert found[0]["EventSource"] == "sqs.amazonaws.com"
    assert found[0]["EventTime"] == utc(BURST + 120)
    by_source = insights(cloudlet, LookupAttributes=[{"AttributeKey": "EventSource",
                                                      "AttributeValue": "s3.amazonaws.com"}])
    assert [e["EventName"] for e in by_source] == ["GetBucketAcl", "GetBucketAcl"]
    assert insights(cloudlet, LookupAttributes=[{"AttributeKey": "EventId",
                                                 "AttributeValue": calls["eventID"]}])[0]["EventId"] == calls["eventID"]
    assert insights(cloudlet, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "root"}]) == []
    page = ct.lookup_events(EventCategory="insight", MaxResults=3)
    rest = ct.lookup_events(EventCategory="insight", MaxResults=3, NextToken=page["NextToken"])
    assert [e["EventId"] for e in page["Events"] + rest["Events"]] == [e["EventId"] for e in found]
    assert "NextToken" not in rest
    # ordinary lookups do not show them
    assert all(json.loads(e["CloudTrailEvent"])["eventCategory"] == "Management"
               for e in ct.lookup_events(MaxResults=50)["Events"])

    # delivered to the trail's bucket, one file per run that found something
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"AWSLogs/{ACCOUNT}/CloudTrail-Insight/")["Contents"]
    keys = [o["Key"] for o in listed]
    assert len(keys) == 3 and all(KEY.match(k) for k in keys), keys
    delivered = []
    for key in keys:
        delivered.extend(json.loads(gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))["Records"])
    assert sorted(r["eventID"] for r in delivered) == sorted(e["EventId"] for e in found)

    # ListInsightsMetricData: per-minute counts, filled with zeros
    got = ct.list_insights_metric_data(EventSource="sqs.amazonaws.com", EventName="CreateQueue",
                                       InsightType="ApiCallRateInsight", StartTime=utc(BURST - 120),
                                       EndTime=utc(BURST + 180), Period=60, DataType="FillWithZeros")
    assert (got["EventSource"], got["EventName"], got["InsightType"]) == \
        ("sqs.amazonaws.com", "CreateQueue", "ApiCallRateInsight")
    assert got["Timestamps"] == [utc(BURST + m * 60) for m in range(-2, 3)]
    assert got["Values"] == [0.0, 0.0, 50.0, 30.0, 0.0]
    assert "ErrorCode" not in got and "NextToken" not in got
    # hourly, non-zero only, paged
    kw = dict(EventSource="sqs.amazonaws.com", EventName="CreateQueue", InsightType="ApiCallRateInsight",
              StartTime=utc(T0), EndTime=utc(BURST + 3600), Period=3600, MaxResults=5)
    first = ct.list_insights_metric_data(**kw)
    second = ct.list_insights_metric_data(NextToken=first["NextToken"], **kw)
    assert first["Timestamps"] + second["Timestamps"] == \
        [utc(T0 + d * DAY + 3600) for d in range(8)] + [utc(BURST)]
    assert first["Values"] + second["Values"] == [1.0] * 8 + [80.0]
    assert "NextToken" not in second
    got = ct.list_insights_metric_data(EventSource="s3.amazonaws.com", EventName="GetBucketAcl",
                                       InsightType="ApiErrorRateInsight", ErrorCode="NoSuchBucket",
                                       StartTime=utc(BURST - 60), EndTime=utc(BURST + 120), Period=60)
    assert (got["ErrorCode"], got["Timestamps"], got["Values"]) == ("NoSuchBucket", [utc(BURST)], [20.0])
    got = ct.list_insights_metric_data(EventSource="s3.amazonaws.com", EventName="GetBucketAcl",
                                       InsightType="ApiCallRateInsight", StartTime=utc(BURST - 60),
                                       EndTime=utc(BURST + 120), Period=60)
    assert got["Values"] == []                          # a read-only API has no call-rate data


def test_no_insight_without_enough_history(cloudlet):
    """An API first seen less than 36 hours ago has no baseline: a burst
    is not an insight."""
    cloudlet.clock.set(T0)
    make_trail(cloudlet, bucket=BUCKET)
    ct, sqs = cloudlet.client("cloudtrail"), cloudlet.client("sqs")
    ct.start_logging(Name="main")
    ct.put_insight_selectors(TrailName="main", InsightSelectors=[{"InsightType": "ApiCallRateInsight"}])
    cloudlet.clock.set(T0 + 3600)
    sqs.create_queue(QueueName="first")
    cloudlet.clock.set(T0 + DAY)
    for i in range(40):
        sqs.create_queue(QueueName=f"q{i}")
    cloudlet.clock.set(T0 + DAY + 120)
    assert records(cloudlet) == []
