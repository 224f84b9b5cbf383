"""CloudWatch Logs metric filters through boto3: matched log events become
CloudWatch metric data in the minute of each event, values and dimensions
come from JSON selectors or space-delimited fields, and an alarm on the
metric fires on the virtual clock."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.test_cloudwatch_alarms import topic_into_queue
from tests.services.sns_helpers import receive_all

START = "2030-06-01T12:00:00Z"
T0 = 1_906_545_600_000  # START in milliseconds
MINUTE = 60_000
NS = "App/Web"


@pytest.fixture
def clients(cloudlet):
    cloudlet.clock.set(START)
    logs = cloudlet.client("logs")
    logs.create_log_group(logGroupName="/app/web")
    logs.create_log_stream(logGroupName="/app/web", logStreamName="i-1")
    return logs, cloudlet.client("cloudwatch")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def put(logs, *events):
    logs.put_log_events(logGroupName="/app/web", logStreamName="i-1",
                        logEvents=[{"timestamp": ts, "message": m} for ts, m in events])


def sums(cw, name, dims=(), stat="Sum") -> list[tuple[datetime, float]]:
    out = cw.get_metric_statistics(Namespace=NS, MetricName=name, Dimensions=list(dims),
                                   StartTime=datetime(2030, 6, 1, 11, tzinfo=timezone.utc),
                                   EndTime=datetime(2030, 6, 1, 13, tzinfo=timezone.utc),
                                   Period=60, Statistics=[stat])
    return sorted((p["Timestamp"], p[stat]) for p in out["Datapoints"])


def minute(n: int) -> datetime:
    return datetime(2030, 6, 1, 12, n, tzinfo=timezone.utc)


def test_term_filter_counts_matches_in_each_events_minute(clients):
    logs, cw = clients
    logs.put_metric_filter(logGroupName="/app/web", filterName="errors", filterPattern="ERROR -Retrying",
                           metricTransformations=[{"metricName": "Errors", "metricNamespace": NS,
                                                   "metricValue": "1", "unit": "Count"}])
    put(logs, (T0 + 1_000, "ERROR disk full"), (T0 + 2_000, "INFO ok"), (T0 + 3_000, "ERROR Retrying upload"),
        (T0 + MINUTE + 5, "ERROR again"), (T0 + MINUTE + 6, "ERROR and again"))
    assert sums(cw, "Errors") == [(minute(0), 1.0), (minute(1), 2.0)]
    [metric] = cw.list_metrics(Namespace=NS)["Metrics"]
    assert metric == {"Namespace": NS, "MetricName": "Errors", "Dimensions": []}
    units = cw.get_metric_statistics(Namespace=NS, MetricName="Errors", StartTime=minute(0), EndTime=minute(2),
                                     Period=120, Statistics=["SampleCount"], Unit="Count")["Datapoints"]
    assert [(p["SampleCount"], p["Unit"]) for p in units] == [(3.0, "Count")]
    [described] = logs.describe_log_groups(logGroupNamePrefix="/app/web")["logGroups"]
    assert described["metricFilterCount"] == 1


def test_json_values_and_dimensions(clients):
    logs, cw = clients
    logs.put_metric_filter(
        logGroupName="/app/web", filterName="latency", filterPattern='{ $.path = "/api/*" && $.latency > 0 }',
        metricTransformations=[{"metricName": "Latency", "metricNamespace": NS, "metricValue": "$.latency",
                                "unit": "Milliseconds", "dimensions": {"Path": "$.path", "Verb": "$.verb"}}])
    put(logs, (T0, json.dumps({"path": "/api/orders", "verb": "GET", "latency": 120})),
        (T0 + 1, json.dumps({"path": "/api/orders", "verb": "GET", "latency": 80.5})),
        (T0 + 2, json.dumps({"path": "/api/users", "verb": "POST", "latency": 30})),
        (T0 + 3, json.dumps({"path": "/health", "verb": "GET", "latency": 1})),
        (T0 + 4, json.dumps({"path": "/api/orders", "latency": 7})),  # no verb: no datapoint
        (T0 + 5, "not json at all"))
    orders = [{"Name": "Path", "Value": "/api/orders"}, {"Name": "Verb", "Value": "GET"}]
    assert sums(cw, "Latency", orders) == [(minute(0), 200.5)]
    assert sums(cw, "Latency", orders, stat="Maximum") == [(minute(0), 120.0)]
    users = [{"Name": "Path", "Value": "/api/users"}, {"Name": "Verb", "Value": "POST"}]
    assert sums(cw, "Latency", users) == [(minute(0), 30.0)]
    listed = cw.list_metrics(Namespace=NS, MetricName="Latency")["Metrics"]
    assert sorted(m["Dimensions"][0]["Value"] for m in listed) == ["/api/orders", "/api/users"]


def test_space_delimited_fields_give_the_value(clients):
    logs, cw = clients
    logs.put_metric_filter(
        logGroupName="/app/web", filterName="bytes",
        filterPattern="[ip, identity, user, timestamp, request, status_code = 2*, bytes]",
        metricTransformations=[{"metricName": "BytesSent", "metricNamespace": NS, "metricValue": "$bytes",
                                "dimensions": {"Status": "$status_code"}}])
    put(logs, (T0, '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /a.gif HTTP/1.0" 200 1534'),
        (T0 + 1, '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /b.gif HTTP/1.0" 200 2000'),
        (T0 + 2, '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /c.gif HTTP/1.0" 404 10'),
        (T0 + 3, '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /d.gif HTTP/1.0" 206 -'))
    assert sums(cw, "BytesSent", [{"Name": "Status", "Value": "200"}]) == [(minute(0), 3534.0)]
    assert sums(cw, "BytesSent", [{"Name": "Status", "Value": "404"}]) == []
    # "-" is not a number: the event matched but reports nothing.
    assert sums(cw, "BytesSent", [{"Name": "Status", "Value": "206"}]) == []


def test_default_value_is_reported_for_a_batch_without_matches(cloudlet, clients):
    logs, cw = clients
    logs.put_metric_filter(logGroupName="/app/web", filterName="errors", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "Errors", "metricNamespace": NS,
                                                   "metricValue": "1", "defaultValue": 0.0}])
    put(logs, (T0, "INFO fine"), (T0 + 1, "INFO still fine"))
    cloudlet.clock.advance(60)
    put(logs, (T0 + MINUTE, "ERROR boom"))
    assert sums(cw, "Errors") == [(minute(0), 0.0), (minute(1), 1.0)]


def test_put_describe_delete_and_errors(clients):
    logs, _ = clients
    transformation = {"metricName": "Errors", "metricNamespace": NS, "metricValue": "1"}
    logs.put_metric_filter(logGroupName="/app/web", filterName="b-errors", filterPattern="ERROR",
                           metricTransformations=[transformation])
    logs.put_metric_filter(logGroupName="/app/web", filterName="a-warn", filterPattern="WARN",
                           metricTransformations=[dict(transformation, metricName="Warnings")])
    # Putting again replaces the pattern.
    logs.put_metric_filter(logGroupName="/app/web", filterName="b-errors", filterPattern="?ERROR ?FATAL",
                           metricTransformations=[transformation])
    found = logs.describe_metric_filters(logGroupName="/app/web")["metricFilters"]
    assert [(f["filterName"], f["filterPattern"]) for f in found] == [("a-warn", "WARN"),
                                                                      ("b-errors", "?ERROR ?FATAL")]
    assert found[1]["metricTransformations"] == [transformation]
    assert found[1]["logGroupName"] == "/app/web" and found[1]["creationTime"] == T0
    assert [f["filterName"] for f in logs.describe_metric_filters(
        logGroupName="/app/web", filterNamePrefix="a-")["metricFilters"]] == ["a-warn"]
    assert [f["filterName"] for f in logs.describe_metric_filters(
        metricName="Errors", metricNamespace=NS)["metricFilters"]] == ["b-errors"]

    cases = [
        (dict(filterPattern='{ $.a = }'), "InvalidParameterException"),
        (dict(metricTransformations=[dict(transformation, defaultValue=0.0,
                                          dimensions={"Path": "$.path"})]), "InvalidParameterException"),
        (dict(logGroupName="/missing"), "ResourceNotFoundException"),
    ]
    for override, code in cases:
        kwargs = dict(logGroupName="/app/web", filterName="x", filterPattern="ERROR",
                      metricTransformations=[transformation])
        kwargs.update(override)
        with pytest.raises(ClientError) as exc:
            logs.put_metric_filter(**kwargs)
        assert exc.value.response["Error"]["Code"] == code
    with pytest.raises(ClientError) as exc:
        logs.describe_metric_filters(metricName="Errors")
    assert error(exc) == ("InvalidParameterException", "metricName and metricNamespace must be specified together.")

    logs.delete_metric_filter(logGroupName="/app/web", filterName="a-warn")
    with pytest.raises(ClientError) as exc:
        logs.delete_metric_filter(logGroupName="/app/web", filterName="a-warn")
    assert error(exc) == ("ResourceNotFoundException", "The specified metric filter does not exist.")
    assert [f["filterName"] for f in logs.describe_metric_filters()["metricFilters"]] == ["b-errors"]
    # Deleting the group deletes its filters.
    logs.delete_log_group(logGroupName="/app/web")
    assert logs.describe_metric_filters()["metricFilters"] == []


def test_test_metric_filter_reports_matches_and_extracted_values(clients):
    logs, _ = clients
    out = logs.test_metric_filter(filterPattern="[ip, user, status = 5*, ...]",
                                  logEventMessages=["10.0.0.1 bob 500 x y", "10.0.0.2 amy 200 z", "1.1.1.1 al 503"])
    assert out["matches"] == [
        {"eventNumber": 1, "eventMessage": "10.0.0.1 bob 500 x y",
         "extractedValues": {"$ip": "10.0.0.1", "$user": "bob", "$status": "500"}},
        {"eventNumber": 3, "eventMessage": "1.1.1.1 al 503",
         "extractedValues": {"$ip": "1.1.1.1", "$user": "al", "$status": "503"}},
    ]
    out = logs.test_metric_filter(filterPattern="ERROR", logEventMessages=["ERROR x", "fine"])
    assert out["matches"] == [{"eventNumber": 1, "eventMessage": "ERROR x", "extractedValues": {}}]


def test_alarm_on_a_metric_filter_notifies(cloudlet, clients):
    logs, cw = clients
    sns, sqs = cloudlet.client("sns"), cloudlet.client("sqs")
    topic, url = topic_into_queue(sns, sqs, "log-alarms")
    logs.put_metric_filter(logGroupName="/app/web", filterName="errors", filterPattern="ERROR",
                           metricTransformations=[{"metricName": "Errors", "metricNamespace": NS,
                                                   "metricValue": "1"}])
    cw.put_metric_alarm(AlarmName="errors", Namespace=NS, MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=2, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic])
    put(logs, (T0 + 10_000, "ERROR one"), (T0 + 20_000, "ERROR two"), (T0 + 30_000, "INFO three"))
    cloudlet.clock.advance(60)
    [fired] = cw.describe_alarms(AlarmNames=["errors"])["MetricAlarms"]
    assert fired["StateValue"] == "ALARM"
    [notice] = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert notice["NewStateValue"] == "ALARM" and notice["Trigger"]["MetricName"] == "Errors"
