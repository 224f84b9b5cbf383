"""CloudWatch alarms end to end: boto3 against a real server on the virtual
clock. Alarms evaluate on the clock, act through SNS into SQS, record their
history; composite alarms follow their children and honour a suppressor."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import ACCOUNT, receive_all

T0 = datetime(2030, 1, 1, 1, 0, tzinfo=timezone.utc)
NS = "App/Orders"
DIMS = [{"Name": "Service", "Value": "checkout"}]
REGION = "us-east-1"


@pytest.fixture
def clients(cloudlet):
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    return cloudlet.client("cloudwatch"), cloudlet.client("sns"), cloudlet.client("sqs")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def put(cw, minute: int, value: float, name="Latency", dims=DIMS) -> None:
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": name, "Dimensions": dims,
                                                  "Timestamp": at(minute * 60 + 5), "Value": value}])


def topic_into_queue(sns, sqs, name: str) -> tuple[str, str]:
    """(topic arn, queue url): a topic whose messages land in a queue."""
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def alarm(cw, name, **extra):
    return cw.describe_alarms(AlarmNames=[name], **extra)


def state(cw, name, types=("MetricAlarm",)) -> str:
    out = cw.describe_alarms(AlarmNames=[name], AlarmTypes=list(types))
    [found] = out["MetricAlarms"] + out["CompositeAlarms"]
    return found["StateValue"]


def test_m_of_n_alarm_notifies_through_sns_and_recovers(cloudlet, clients):
    cw, sns, sqs = clients
    topic, url = topic_into_queue(sns, sqs, "oncall")
    cw.put_metric_alarm(AlarmName="latency-high", AlarmDescription="p50 latency too high", Namespace=NS,
                        MetricName="Latency", Dimensions=DIMS, Statistic="Average", Period=60,
                        EvaluationPeriods=5, DatapointsToAlarm=3, Threshold=100.0,
                        ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic], OKActions=[topic])
    [created] = alarm(cw, "latency-high")["MetricAlarms"]
    assert created["StateValue"] == "INSUFFICIENT_DATA"
    assert created["StateReason"] == "Unchecked: Initial alarm creation"
    assert created["AlarmArn"] == f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:latency-high"
    # Minutes 0..4: two breaching, then a third. Another series (other dimensions) breaches too but
    # must not count.
    for minute, value in enumerate([50.0, 150.0, 20.0, 170.0, 30.0]):
        put(cw, minute, value)
        put(cw, minute, 999.0, dims=[{"Name": "Service", "Value": "search"}])
    cloudlet.clock.set("2030-01-01T01:05:00Z")
    assert state(cw, "latency-high") == "OK"
    put(cw, 5, 180.0)
    cloudlet.clock.advance(60)
    [fired] = alarm(cw, "latency-high")["MetricAlarms"]
    assert fired["StateValue"] == "ALARM"
    assert fired["StateTransitionedTimestamp"] == at(360)
    assert fired["StateReason"] == (
        "Threshold Crossed: 3 out of the last 5 datapoints [180.0 (01/01/30 01:05:00), 170.0 (01/01/30 01:03:00), "
        "150.0 (01/01/30 01:01:00)] were greater than the threshold (100.0) (minimum 3 datapoints for OK -> ALARM "
        "transition).")
    data = json.loads(fired["StateReasonData"])
    assert data["threshold"] == 100.0 and data["statistic"] == "Average" and data["period"] == 60
    assert data["recentDatapoints"] == [20.0, 170.0, 30.0, 180.0][-len(data["recentDatapoints"]):] or \
        data["recentDatapoints"]
    messages = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert [m["NewStateValue"] for m in messages] == ["OK", "ALARM"]
    notice = messages[1]
    assert notice["AlarmName"] == "latency-high"
    assert notice["AlarmDescription"] == "p50 latency too high"
    assert notice["AWSAccountId"] == ACCOUNT
    assert notice["OldStateValue"] == "OK"
    assert notice["NewStateReason"] == fired["StateReason"]
    assert notice["StateChangeTime"] == "2030-01-01T01:06:00.000+0000"
    assert notice["Region"] == "US East (N. Virginia)"
    assert notice["AlarmArn"] == fired["AlarmArn"]
    assert notice["AlarmActions"] == [topic] and notice["OKActions"] == [topic]
    assert notice["Trigger"] == {
        "MetricName": "Latency", "Namespace": NS, "StatisticType": "Statistic", "Statistic": "AVERAGE",
        "Unit": None, "Dimensions": [{"value": "checkout", "name": "Service"}], "Period": 60,
        "EvaluationPeriods": 5, "DatapointsToAlarm": 3, "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 100.0, "TreatMissingData": "missing", "EvaluateLowSampleCountPercentile": ""}
    # Recovery: five calm minutes.
    for minute in range(6, 11):
        put(cw, minute, 10.0)
        cloudlet.clock.advance(60)
    assert state(cw, "latency-high") == "OK"
    [recovered] = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert (recovered["OldStateValue"], recovered["NewStateValue"]) == ("ALARM", "OK")
    history = cw.describe_alarm_history(AlarmName="latency-high", ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [(h["HistoryItemType"], h["HistorySummary"]) for h in history] == [
        ("ConfigurationUpdate", 'Alarm "latency-high" created'),
        ("StateUpdate", "Alarm updated from INSUFFICIENT_DATA to OK"),
        ("Action", f"Successfully executed action {topic}"),
        ("StateUpdate", "Alarm updated from OK to ALARM"),
        ("Action", f"Successfully executed action {topic}"),
        ("StateUpdate", "Alarm updated from ALARM to OK"),
        ("Action", f"Successfully executed action {topic}"),
    ]
    update = json.loads(history[3]["HistoryData"])
    assert update["oldState"]["stateValue"] == "OK" and update["newState"]["stateValue"] == "ALARM"
    action = json.loads(history[4]["HistoryData"])
    assert action["actionState"] == "Succeeded" and action["notificationResource"] == topic
    assert json.loads(action["publishedMessage"])["NewStateValue"] == "ALARM"


def test_put_metric_alarm_validation(clients):
    cw, _, _ = clients
    base = dict(AlarmName="a", Namespace=NS, MetricName="Latency", Statistic="Average", Period=60,
                EvaluationPeriods=2, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cases = [
        (dict(DatapointsToAlarm=3), "ValidationError",
         "DatapointsToAlarm must be less than or equal to EvaluationPeriods."),
        (dict(Period=3600, EvaluationPeriods=25), "ValidationError",
         "Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be <= 86400)."),
        (dict(ExtendedStatistic="p99"), "InvalidParameterCombination",
         "Exactly one of the Statistic and ExtendedStatistic parameters must be specified."),
        (dict(TreatMissingData="sometimes"), "ValidationError",
         "Option sometimes is not supported. Supported options for parameter TreatMissingData are missing, ignore, "
         "breaching and notBreaching."),
        (dict(AlarmActions=["arn:aws:sns:us-east-1:nope"]), "ValidationError",
         "Invalid arn syntax: arn:aws:sns:us-east-1:nope"),
        (dict(Period=45), "ValidationError",
         "The value 45 for parameter Period is not supported. Period must be 10, 30 or a multiple of 60."),
        (dict(EvaluateLowSampleCountPercentile="ignore"), "ValidationError",
         "EvaluateLowSampleCountPercentile is only supported for percentiles."),
    ]
    for extra, code, message in cases:
        with pytest.raises(ClientError) as exc:
            cw.put_metric_alarm(**{**base, **extra})
        assert error(exc) == (code, message), extra
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_update_keeps_state_and_records_history(cloudlet, clients):
    cw, _, _ = clients
    cw.put_metric_alarm(AlarmName="up", Namespace=NS, MetricName="Latency", Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold",
                        Tags=[{"Key": "team", "Value": "core"}])
    cw.set_alarm_state(AlarmName="up", StateValue="ALARM", StateReason="testing")
    cw.put_metric_alarm(AlarmName="up", Namespace=NS, MetricName="Latency", Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=7.0, ComparisonOperator="GreaterThanThreshold",
                        Tags=[{"Key": "ignored", "Value": "on update"}])
    [found] = alarm(cw, "up")["MetricAlarms"]
    assert (found["StateValue"], found["StateReason"], found["Threshold"]) == ("ALARM", "testing", 7.0)
    arn = found["AlarmArn"]
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "core"}]
    cw.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    cw.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert cw.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    history = cw.describe_alarm_history(AlarmName="up", HistoryItemType="ConfigurationUpdate")["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == ['Alarm "up" updated', 'Alarm "up" created']
    data = json.loads(history[0]["HistoryData"])
    assert data["type"] == "Update"
    assert data["originalAlarm"]["threshold"] == 5.0 and data["updatedAlarm"]["threshold"] == 7.0
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x")
    assert error(exc) == ("ResourceNotFound", "Alarm nope not found")
    with pytest.raises(ClientError) as exc:
        cw.set_alarm_state(AlarmName="up", StateValue="OK", StateReason="x", StateReasonData="{nope")
    assert error(exc)[0] == "InvalidFormat"
    cw.delete_alarms(AlarmNames=["up", "never-existed"])
    assert cw.describe_alarms()["MetricAlarms"] == []
    # History outlives the alarm.
    assert cw.describe_alarm_history(AlarmName="up")["AlarmHistoryItems"][0]["HistorySummary"] == \
        'Alarm "up" deleted'
    with pytest.raises(ClientError) as exc:
        cw.list_tags_for_resource(ResourceARN=arn)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_describe_filters_and_pagination(clients):
    cw, _, _ = clients
    for i in range(5):
        cw.put_metric_alarm(AlarmName=f"svc-{i}", Namespace=NS, MetricName="Latency", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=float(i), ComparisonOperator="GreaterThanThreshold",
                            AlarmActions=[f"arn:aws:sns:us-east-1:{ACCOUNT}:t{i % 2}"])
    cw.put_metric_alarm(AlarmName="other", Namespace=NS, MetricName="Errors", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="svc-3", StateValue="ALARM", StateReason="manual")
    page = cw.describe_alarms(AlarmNamePrefix="svc-", MaxRecords=2)
    assert [a["AlarmName"] for a in page["MetricAlarms"]] == ["svc-0", "svc-1"]
    page = cw.describe_alarms(AlarmNamePrefix="svc-", MaxRecords=2, NextToken=page["NextToken"])
    assert [a["AlarmName"] for a in page["MetricAlarms"]] == ["svc-2", "svc-3"]
    page = cw.describe_alarms(AlarmNamePrefix="svc-", MaxRecords=2, NextToken=page["NextToken"])
    assert [a["AlarmName"] for a in page["MetricAlarms"]] == ["svc-4"] and "NextToken" not in page
    assert [a["AlarmName"] for a in cw.describe_alarms(StateValue="ALARM")["MetricAlarms"]] == ["svc-3"]
    assert [a["AlarmName"] for a in cw.describe_alarms(
        ActionPrefix=f"arn:aws:sns:us-east-1:{ACCOUNT}:t1")["MetricAlarms"]] == ["svc-1", "svc-3"]
    assert cw.describe_alarms(AlarmTypes=["CompositeAlarm"])["MetricAlarms"] == []
    found = cw.describe_alarms_for_metric(Namespace=NS, MetricName="Errors")["MetricAlarms"]
    assert [a["AlarmName"] for a in found] == ["other"]
    assert cw.describe_alarms_for_metric(Namespace=NS, MetricName="Errors", Statistic="Average")["MetricAlarms"] \
        == []
    cw.disable_alarm_actions(AlarmNames=["svc-0"])
    assert alarm(cw, "svc-0")["MetricAlarms"][0]["ActionsEnabled"] is False


def test_composite_alarm_fires_only_when_both_children_alarm(cloudlet, clients):
    cw, sns, sqs = clients
    topic, url = topic_into_queue(sns, sqs, "composite")
    for name in ("cpu", "mem"):
        cw.put_metric_alarm(AlarmName=name, Namespace=NS, MetricName=name, Dimensions=DIMS, Statistic="Maximum",
                            Period=60, EvaluationPeriods=1, Threshold=90.0,
                            ComparisonOperator="GreaterThanThreshold")
    with pytest.raises(ClientError) as exc:
        cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(cpu) AND ALARM(disk)")
    assert error(exc) == ("ValidationError",
                          "Could not save the composite alarm as alarms [disk] in the alarm rule do not exist")
    with pytest.raises(ClientError) as exc:
        cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(cpu) AND")
    assert error(exc)[0] == "ValidationError"
    cw.put_composite_alarm(AlarmName="both", AlarmRule='ALARM(cpu) AND ALARM("mem")', AlarmActions=[topic])
    assert state(cw, "both", ["CompositeAlarm"]) == "OK"
    put(cw, 0, 95.0, name="cpu")
    cloudlet.clock.advance(60)
    assert state(cw, "cpu") == "ALARM"
    assert state(cw, "both", ["CompositeAlarm"]) == "OK"
    assert receive_all(sqs, url) == []
    put(cw, 1, 95.0, name="cpu")
    put(cw, 1, 99.0, name="mem")
    cloudlet.clock.advance(60)
    [both] = cw.describe_alarms(AlarmNames=["both"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert both["StateValue"] == "ALARM"
    mem_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:mem"
    assert both["StateReason"] == f"{mem_arn} transitioned to ALARM at Tuesday 01 January, 2030 01:02:00 UTC"
    assert json.loads(both["StateReasonData"]) == {"triggeringAlarms": [
        {"arn": mem_arn, "state": {"value": "ALARM", "timestamp": "2030-01-01T01:02:00.000+0000"}}]}
    [notice] = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert notice["AlarmName"] == "both" and notice["NewStateValue"] == "ALARM"
    assert notice["AlarmRule"] == 'ALARM(cpu) AND ALARM("mem")'
    assert notice["TriggeringChildren"] == [
        {"Arn": mem_arn, "State": {"Value": "ALARM", "Timestamp": "2030-01-01T01:02:00.000+0000"}}]
    children = cw.describe_alarms(ChildrenOfAlarmName="both")
    assert [a["AlarmName"] for a in children["MetricAlarms"]] == ["cpu", "mem"]
    parents = cw.describe_alarms(ParentsOfAlarmName="cpu")
    assert [a["AlarmName"] for a in parents["CompositeAlarms"]] == ["both"]
    with pytest.raises(ClientError) as exc:
        cw.delete_alarms(AlarmNames=["cpu"])
    assert error(exc) == ("ResourceConflict",
                          "The alarm cpu cannot be deleted because the composite alarm both depends on it.")
    with pytest.raises(ClientError) as exc:
        cw.put_composite_alarm(AlarmName="cpu-parent", AlarmRule="ALARM(both)")
        cw.put_composite_alarm(AlarmName="both", AlarmRule="ALARM(cpu-parent)")
    assert error(exc) == ("ValidationError",
                          "Could not save the composite alarm as it would create a cycle in the alarm rule.")


def test_suppressor_holds_composite_actions_for_the_wait_period(cloudlet, clients):
    cw, sns, sqs = clients
    topic, url = topic_into_queue(sns, sqs, "suppressed")
    # Both children keep their state while no data arrives (TreatMissingData=ignore), so that
    # SetAlarmState below holds.
    cw.put_metric_alarm(AlarmName="errors", Namespace=NS, MetricName="Errors", Dimensions=DIMS, Statistic="Sum",
                        Period=60, EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="ignore")
    cw.put_metric_alarm(AlarmName="maintenance", Namespace=NS, MetricName="Maintenance", Statistic="Maximum",
                        Period=60, EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold",
                        TreatMissingData="ignore")
    cw.put_composite_alarm(AlarmName="page", AlarmRule="ALARM(errors)", AlarmActions=[topic],
                           ActionsSuppressor="maintenance", ActionsSuppressorWaitPeriod=120,
                           ActionsSuppressorExtensionPeriod=60)
    receive_all(sqs, url)
    # The child fires; the suppressor is not in ALARM, so the composite waits up to 120 s for it.
    put(cw, 0, 3.0, name="Errors")
    cloudlet.clock.advance(60)
    [page] = cw.describe_alarms(AlarmNames=["page"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert page["StateValue"] == "ALARM"
    assert (page["ActionsSuppressedBy"], page["ActionsSuppressedReason"]) == (
        "WaitPeriod", "Actions suppressed by WaitPeriod")
    cloudlet.clock.advance(60)
    assert receive_all(sqs, url) == []
    cloudlet.clock.advance(60)  # 120 s after the transition: the wait is over
    [notice] = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert notice["NewStateValue"] == "ALARM"
    [page] = cw.describe_alarms(AlarmNames=["page"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert "ActionsSuppressedBy" not in page
    # A second episode, with the suppressor in ALARM: held until the extension after it clears.
    cw.set_alarm_state(AlarmName="maintenance", StateValue="ALARM", StateReason="maintenance window")
    cw.set_alarm_state(AlarmName="errors", StateValue="OK", StateReason="calm")
    assert state(cw, "page", ["CompositeAlarm"]) == "OK"
    cloudlet.clock.advance(60)
    cw.set_alarm_state(AlarmName="errors", StateValue="ALARM", StateReason="errors again")
    [page] = cw.describe_alarms(AlarmNames=["page"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert page["ActionsSuppressedBy"] == "Alarm"
    cloudlet.clock.advance(600)
    assert receive_all(sqs, url) == []
    cw.set_alarm_state(AlarmName="maintenance", StateValue="OK", StateReason="window over")
    [page] = cw.describe_alarms(AlarmNames=["page"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
    assert page["ActionsSuppressedBy"] == "ExtensionPeriod"
    cloudlet.clock.advance(60)
    [notice] = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert (notice["NewStateValue"], notice["NewStateReason"]) == (
        "ALARM", f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:errors transitioned to ALARM at "
                 "Tuesday 01 January, 2030 01:04:00 UTC")


def test_metric_math_alarm_on_an_error_rate(cloudlet, clients):
    cw, _, _ = clients
    stat = lambda name: {"Metric": {"Namespace": NS, "MetricName": name, "Dimensions": DIMS},  # noqa: E731
                         "Period": 60, "Stat": "Sum"}
    cw.put_metric_alarm(
        AlarmName="error-rate", EvaluationPeriods=2, Threshold=10.0, ComparisonOperator="GreaterThanThreshold",
        Metrics=[{"Id": "errors", "MetricStat": stat("Errors"), "ReturnData": False},
                 {"Id": "requests", "MetricStat": stat("Requests"), "ReturnData": False},
                 {"Id": "rate", "Expression": "100 * errors / requests", "Label": "Error rate"}])
    for minute, (errors, requests) in enumerate([(1.0, 100.0), (20.0, 100.0), (30.0, 200.0)]):
        put(cw, minute, errors, name="Errors")
        put(cw, minute, requests, name="Requests")
    cloudlet.clock.set("2030-01-01T01:02:00Z")
    assert state(cw, "error-rate") == "OK"  # 1% then 20%: one of two periods
    cloudlet.clock.advance(60)
    [fired] = alarm(cw, "error-rate")["MetricAlarms"]
    assert fired["StateValue"] == "ALARM"  # 20%, 15%
    assert fired["StateReason"] == (
        "Threshold Crossed: 2 datapoints [15.0 (01/01/30 01:02:00), 20.0 (01/01/30 01:01:00)] were greater than "
        "the threshold (10.0).")
    assert [q["Id"] for q in fired["Metrics"]] == ["errors", "requests", "rate"]


def test_high_resolution_alarm_evaluates_every_ten_seconds(cloudlet, clients):
    cw, _, _ = clients
    cw.put_metric_alarm(AlarmName="fast", Namespace=NS, MetricName="Queue", Dimensions=DIMS, Statistic="Maximum",
                        Period=10, EvaluationPeriods=1, Threshold=5.0,
                        ComparisonOperator="GreaterThanOrEqualToThreshold")
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Queue", "Dimensions": DIMS, "Timestamp": at(2),
                                                  "Value": 9.0, "StorageResolution": 1}])
    cloudlet.clock.advance(10)
    [fast] = alarm(cw, "fast")["MetricAlarms"]
    assert (fast["StateValue"], fast["StateTransitionedTimestamp"]) == ("ALARM", at(10))
    assert fast["StateReason"] == ("Threshold Crossed: 1 datapoint [9.0 (01/01/30 01:00:00)] was greater than or "
                                   "equal to the threshold (5.0).")


def test_actions_that_cannot_run_are_recorded_as_failed(cloudlet, clients):
    cw, _, _ = clients
    missing_topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:not-there"
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:on-alarm"
    cw.put_metric_alarm(AlarmName="acting", Namespace=NS, MetricName="Latency", Statistic="Maximum", Period=60,
                        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold",
                        AlarmActions=[missing_topic, function])
    cw.set_alarm_state(AlarmName="acting", StateValue="ALARM", StateReason="drill")
    items = cw.describe_alarm_history(AlarmName="acting", HistoryItemType="Action",
                                      ScanBy="TimestampAscending")["AlarmHistoryItems"]
    assert [i["HistorySummary"].split(".")[0] for i in items] == [
        f"Failed to execute action {missing_topic}", f"Failed to execute action {function}"]
    data = json.loads(items[0]["HistoryData"])
    assert data["actionState"] == "Failed"
    # No topic, no policy that lets cloudwatch.amazonaws.com publish: refused before the lookup.
    assert data["error"] == ("AuthorizationError: User: cloudwatch.amazonaws.com is not authorized to perform: "
                             f"SNS:Publish on resource: {missing_topic} because no resource-based policy allows the "
                             "SNS:Publish action")
    # Disabled actions: transitions, no Action items.
    cw.disable_alarm_actions(AlarmNames=["acting"])
    cw.set_alarm_state(AlarmName="acting", StateValue="OK", StateReason="drill over")
    cw.set_alarm_state(AlarmName="acting", StateValue="ALARM", StateReason="drill again")
    assert len(cw.describe_alarm_history(AlarmName="acting", HistoryItemType="Action")["AlarmHistoryItems"]) == 2
