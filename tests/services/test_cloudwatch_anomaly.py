"""CloudWatch anomaly detection through boto3 against a real server, on the
virtual clock: PutAnomalyDetector / DescribeAnomalyDetectors /
DeleteAnomalyDetector with exact answers and errors, the training state
each detector reports, and the band GetMetricData draws with
ANOMALY_DETECTION_BAND."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

NOW = datetime(2030, 1, 8, tzinfo=timezone.utc)
NS = "App/Orders"
DIMS = [{"Name": "Service", "Value": "checkout"}]


@pytest.fixture
def cw(cloudlet):
    cloudlet.clock.set("2030-01-08T00:00:00Z")
    return cloudlet.client("cloudwatch")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def single(name="Latency", stat="Average", dims=DIMS, **extra) -> dict:
    return {"Namespace": NS, "MetricName": name, "Dimensions": dims, "Stat": stat, **extra}


def math_queries(label=True) -> list[dict]:
    m1 = {"Id": "m1", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Errors", "Dimensions": DIMS},
                                     "Period": 300, "Stat": "Sum"}, "ReturnData": False}
    e1 = {"Id": "e1", "Expression": "m1 * 2", "ReturnData": True}
    if label:
        e1["Label"] = "doubled"
    return [m1, e1]


def describe(cw, **kw) -> list[dict]:
    out = cw.describe_anomaly_detectors(**kw)
    assert "NextToken" not in out
    return out["AnomalyDetectors"]


def put_series(cw, name, values, start, step=300, dims=DIMS):
    data = [{"MetricName": name, "Dimensions": dims, "Timestamp": start + timedelta(seconds=i * step),
             "Value": float(v)} for i, v in enumerate(values)]
    for i in range(0, len(data), 1000):
        cw.put_metric_data(Namespace=NS, MetricData=data[i:i + 1000])


def sine(i: int, step=300, level=100.0, amplitude=20.0) -> float:
    return level + amplitude * math.sin(2 * math.pi * (i * step % 86400) / 86400)


# -- Put / Describe ---------------------------------------------------------------


def test_single_metric_detector_is_described_exactly(cw, cloudlet):
    account = cloudlet.client("sts").get_caller_identity()["Account"]
    out = cw.put_anomaly_detector(SingleMetricAnomalyDetector=single())
    assert describe(cw) == [{
        "AnomalyDetectorId": out["AnomalyDetectorId"],
        "Namespace": NS, "MetricName": "Latency", "Dimensions": DIMS, "Stat": "Average",
        "Configuration": {"ExcludedTimeRanges": []},
        "StateValue": "PENDING_TRAINING",
        "SingleMetricAnomalyDetector": {"AccountId": account, **single()},
    }]


def test_put_again_updates_the_configuration_and_keeps_the_id(cw):
    first = cw.put_anomaly_detector(SingleMetricAnomalyDetector=single())["AnomalyDetectorId"]
    ranges = [{"StartTime": NOW - timedelta(days=2), "EndTime": NOW - timedelta(days=1)}]
    again = cw.put_anomaly_detector(
        SingleMetricAnomalyDetector=single(),
        Configuration={"ExcludedTimeRanges": ranges, "MetricTimezone": "Europe/Paris"},
        MetricCharacteristics={"PeriodicSpikes": True})["AnomalyDetectorId"]
    assert again == first
    [d] = describe(cw)
    assert d["Configuration"] == {"ExcludedTimeRanges": ranges, "MetricTimezone": "Europe/Paris"}
    assert d["MetricCharacteristics"] == {"PeriodicSpikes": True}
    # The deprecated top-level form names the same detector.
    legacy = cw.put_anomaly_detector(Namespace=NS, MetricName="Latency", Dimensions=list(reversed(DIMS)),
                                     Stat="Average")["AnomalyDetectorId"]
    assert legacy == first
    [d] = describe(cw)
    assert d["Configuration"] == {"ExcludedTimeRanges": []}
    # Another statistic is another detector.
    other = cw.put_anomaly_detector(SingleMetricAnomalyDetector=single(stat="p99"))["AnomalyDetectorId"]
    assert other != first
    assert [d["Stat"] for d in describe(cw)] == ["Average", "p99"]


def test_metric_math_detector_is_listed_only_when_asked_for(cw):
    single_id = cw.put_anomaly_detector(SingleMetricAnomalyDetector=single())["AnomalyDetectorId"]
    math_id = cw.put_anomaly_detector(
        MetricMathAnomalyDetector={"MetricDataQueries": math_queries()})["AnomalyDetectorId"]
    assert [d["AnomalyDetectorId"] for d in describe(cw)] == [single_id]
    [d] = describe(cw, AnomalyDetectorTypes=["METRIC_MATH"])
    queries = math_queries(label=False)
    queries[0]["MetricStat"]["Metric"]["Dimensions"] = DIMS
    assert d == {"AnomalyDetectorId": math_id, "Configuration": {"ExcludedTimeRanges": []},
                 "StateValue": "PENDING_TRAINING", "MetricMathAnomalyDetector": {"MetricDataQueries": queries}}
    both = describe(cw, AnomalyDetectorTypes=["SINGLE_METRIC", "METRIC_MATH"])
    assert [d["AnomalyDetectorId"] for d in both] == [single_id, math_id]
    # The Label is cosmetic: the same queries relabelled are the same detector.
    relabelled = math_queries()
    relabelled[1]["Label"] = "other"
    again = cw.put_anomaly_detector(MetricMathAnomalyDetector={"MetricDataQueries": relabelled})
    assert again["AnomalyDetectorId"] == math_id


def test_describe_filters_and_pages(cw):
    ids = {}
    for name, dims in (("Latency", DIMS), ("Latency", [{"Name": "Service", "Value": "cart"}]), ("Errors", DIMS),
                       ("Latency", DIMS + [{"Name": "Zone", "Value": "a"}])):
        key = (name, tuple(d["Value"] for d in dims))
        ids[key] = cw.put_anomaly_detector(SingleMetricAnomalyDetector=single(name, dims=dims))["AnomalyDetectorId"]
    cw.put_anomaly_detector(SingleMetricAnomalyDetector={**single(), "Namespace": "Other"})
    got = lambda **kw: [(d["MetricName"], tuple(x["Value"] for x in d["Dimensions"]))  # noqa: E731
                        for d in describe(cw, **kw)]
    assert got(Namespace=NS, MetricName="Latency") == [("Latency", ("checkout",)), ("Latency", ("cart",)),
                                                        ("Latency", ("checkout", "a"))]
    assert got(Namespace=NS, Dimensions=[{"Name": "Service", "Value": "checkout"}]) == [
        ("Latency", ("checkout",)), ("Errors", ("checkout",)), ("Latency", ("checkout", "a"))]
    assert got(Dimensions=[{"Name": "Zone", "Value": "a"}]) == [("Latency", ("checkout", "a"))]
    assert got(MetricName="Errors") == [("Errors", ("checkout",))]
    assert got(AnomalyDetectorIds=[ids[("Errors", ("checkout",))]]) == [("Errors", ("checkout",))]
    # Pages of two, then the rest.
    page = cw.describe_anomaly_detectors(MaxResults=2)
    assert len(page["AnomalyDetectors"]) == 2
    rest = cw.describe_anomaly_detectors(MaxResults=2, NextToken=page["NextToken"])
    assert len(rest["AnomalyDetectors"]) == 2
    last = cw.describe_anomaly_detectors(MaxResults=2, NextToken=rest["NextToken"])
    assert len(last["AnomalyDetectors"]) == 1 and "NextToken" not in last
    seen = [d["AnomalyDetectorId"] for p in (page, rest, last) for d in p["AnomalyDetectors"]]
    assert len(set(seen)) == 5
    with pytest.raises(ClientError) as exc:
        cw.describe_anomaly_detectors(NextToken="garbage!")
    assert error(exc) == ("InvalidNextToken", "The service cannot complete the request.")


# -- errors -------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, expected", [
    ({"SingleMetricAnomalyDetector": single(), "MetricMathAnomalyDetector": {"MetricDataQueries": math_queries()}},
     ("InvalidParameterCombination", "The parameters SingleMetricAnomalyDetector and MetricMathAnomalyDetector are "
                                     "mutually exclusive and you have specified both.")),
    ({"SingleMetricAnomalyDetector": single(), "Namespace": NS},
     ("InvalidParameterCombination", "The parameters SingleMetricAnomalyDetector and Namespace are mutually "
                                     "exclusive and you have specified both.")),
    ({}, ("MissingParameter", "The parameter SingleMetricAnomalyDetector is required.")),
    ({"SingleMetricAnomalyDetector": {"Namespace": NS, "MetricName": "Latency"}},
     ("MissingParameter", "The parameter SingleMetricAnomalyDetector.Stat is required.")),
    ({"Namespace": NS, "Stat": "Average"}, ("MissingParameter", "The parameter MetricName is required.")),
    ({"MetricMathAnomalyDetector": {"MetricDataQueries": [dict(q, ReturnData=True) for q in math_queries()]}},
     ("InvalidParameterValue", "Exactly one element of the metrics list should return data.")),
    ({"SingleMetricAnomalyDetector": single(), "Configuration": {"MetricTimezone": "Mars/Olympus_Mons"}},
     ("InvalidParameterValue", "The value Mars/Olympus_Mons for parameter Configuration.MetricTimezone is invalid.")),
    ({"SingleMetricAnomalyDetector": single(), "Configuration": {"ExcludedTimeRanges": [
        {"StartTime": NOW, "EndTime": NOW - timedelta(hours=1)}]}},
     ("InvalidParameterValue", "The parameter Configuration.ExcludedTimeRanges.member.1.StartTime must be less "
                               "than the parameter Configuration.ExcludedTimeRanges.member.1.EndTime.")),
    ({"SingleMetricAnomalyDetector": single(), "Configuration": {"ExcludedTimeRanges": [
        {"StartTime": NOW - timedelta(hours=i + 1), "EndTime": NOW - timedelta(hours=i)} for i in range(11)]}},
     ("InvalidParameterValue", "The collection Configuration.ExcludedTimeRanges must not have a size greater "
                               "than 10.")),
])
def test_put_errors(cw, kwargs, expected):
    with pytest.raises(ClientError) as exc:
        cw.put_anomaly_detector(**kwargs)
    assert error(exc) == expected
    assert describe(cw, AnomalyDetectorTypes=["SINGLE_METRIC", "METRIC_MATH"]) == []


def test_describe_errors(cw):
    with pytest.raises(ClientError) as exc:
        cw.describe_anomaly_detectors(AnomalyDetectorIds=["x"], Namespace=NS)
    assert error(exc) == ("InvalidParameterCombination", "The parameters AnomalyDetectorIds and Namespace are "
                                                         "mutually exclusive and you have specified both.")
    with pytest.raises(ClientError) as exc:
        cw.describe_anomaly_detectors(MaxResults=101)
    assert error(exc) == ("InvalidParameterValue", "The value 101 for parameter MaxResults is invalid.")


# -- Delete ---------------------------------------------------------------------------


def test_delete_by_each_form_and_missing(cw):
    cw.put_anomaly_detector(SingleMetricAnomalyDetector=single())
    cw.delete_anomaly_detector(Namespace=NS, MetricName="Latency", Dimensions=DIMS, Stat="Average")
    assert describe(cw) == []
    with pytest.raises(ClientError) as exc:
        cw.delete_anomaly_detector(SingleMetricAnomalyDetector=single())
    assert error(exc) == ("ResourceNotFoundException", "The anomaly detector does not exist.")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    detector_id = cw.put_anomaly_detector(SingleMetricAnomalyDetector=single())["AnomalyDetectorId"]
    cw.delete_anomaly_detector(AnomalyDetectorId=detector_id)
    assert describe(cw) == []
    with pytest.raises(ClientError) as exc:
        cw.delete_anomaly_detector(AnomalyDetectorId=detector_id)
    assert error(exc)[0] == "ResourceNotFoundException"

    cw.put_anomaly_detector(MetricMathAnomalyDetector={"MetricDataQueries": math_queries()})
    cw.delete_anomaly_detector(MetricMathAnomalyDetector={"MetricDataQueries": math_queries(label=False)})
    assert describe(cw, AnomalyDetectorTypes=["METRIC_MATH"]) == []


# -- training state and the band -------------------------------------------------------


def test_state_follows_the_history_available(cw):
    start = NOW - timedelta(days=7)
    put_series(cw, "Latency", [sine(i) for i in range(7 * 288)], start)
    put_series(cw, "Short", [1.0] * 24, NOW - timedelta(hours=2))
    for name in ("Latency", "Short", "Empty"):
        cw.put_anomaly_detector(SingleMetricAnomalyDetector=single(name))
    states = {d["MetricName"]: d["StateValue"] for d in describe(cw)}
    assert states == {"Latency": "TRAINED", "Short": "TRAINED_INSUFFICIENT_DATA", "Empty": "PENDING_TRAINING"}
    put_series(cw, "Errors", [float(i % 3) for i in range(7 * 288)], start)
    cw.put_anomaly_detector(MetricMathAnomalyDetector={"MetricDataQueries": math_queries()})
    [d] = describe(cw, AnomalyDetectorTypes=["METRIC_MATH"])
    assert d["StateValue"] == "TRAINED"


def test_band_contains_the_daily_pattern_and_not_a_spike(cw, cloudlet):
    # Seven days of a daily sine (level 100, amplitude 20) at 5-minute points,
    # then a day more with a spike of three amplitudes at 12:00.
    start = NOW - timedelta(days=7)
    put_series(cw, "Latency", [sine(i) for i in range(7 * 288)], start)
    cloudlet.clock.set("2030-01-09T00:00:00Z")
    day = [sine(i) for i in range(288)]
    day[144] += 60.0
    put_series(cw, "Latency", day, NOW)
    out = cw.get_metric_data(
        MetricDataQueries=[
            {"Id": "m1", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Latency", "Dimensions": DIMS},
                                        "Period": 300, "Stat": "Average"}},
            {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"}],
        StartTime=NOW, EndTime=NOW + timedelta(days=1), ScanBy="TimestampAscending")
    results = out["MetricDataResults"]
    if len(results) < 3:  # pragma: no cover - metric math not there yet
        pytest.skip("GetMetricData does not return ANOMALY_DETECTION_BAND yet")
    values = dict(zip(results[0]["Timestamps"], results[0]["Values"]))
    upper, lower = results[1], results[2]
    assert [r["Id"] for r in results] == ["m1", "ad1", "ad1"]
    assert len(upper["Timestamps"]) == len(lower["Timestamps"]) == 288
    outside = [ts for ts, lo, hi in zip(upper["Timestamps"], lower["Values"], upper["Values"])
               if not lo <= values[ts] <= hi]
    assert outside == [NOW + timedelta(hours=12)]
    # The band is the profile ± 2 × the floored spread (5% of the level 100).
    noon = upper["Timestamps"].index(NOW + timedelta(hours=12))
    assert upper["Values"][noon] - lower["Values"][noon] == pytest.approx(20.0)


def test_alarm_on_the_band_fires_on_a_spike_and_not_on_the_pattern(cw, cloudlet):
    start = NOW - timedelta(days=7)
    put_series(cw, "Latency", [sine(i) for i in range(7 * 288 + 24)], start)  # two hours ahead too
    metric = {"Namespace": NS, "MetricName": "Latency", "Dimensions": DIMS}
    cw.put_metric_alarm(
        AlarmName="latency-anomaly", EvaluationPeriods=1, ThresholdMetricId="ad1",
        ComparisonOperator="LessThanLowerOrGreaterThanUpperThreshold",
        Metrics=[{"Id": "m1", "MetricStat": {"Metric": metric, "Period": 300, "Stat": "Average"}, "ReturnData": True},
                 {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)"}])
    # As on AWS, the alarm created the detector of the metric it bands.
    [detector] = cw.describe_anomaly_detectors()["AnomalyDetectors"]
    assert detector["SingleMetricAnomalyDetector"]["MetricName"] == "Latency"
    assert detector["SingleMetricAnomalyDetector"]["Stat"] == "Average"
    states = []
    for _ in range(12):  # an hour of the daily pattern
        cloudlet.clock.advance(300)
        [a] = cw.describe_alarms(AlarmNames=["latency-anomaly"])["MetricAlarms"]
        states.append(a["StateValue"])
    assert set(states) == {"OK"}
    # A spike of three amplitudes in the next period: a second point there
    # lifts its average from the pattern's value to that plus 60.
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Latency", "Dimensions": DIMS,
                                                  "Timestamp": NOW + timedelta(hours=1, seconds=10),
                                                  "Value": sine(12) + 120.0}])
    cloudlet.clock.advance(300)
    [a] = cw.describe_alarms(AlarmNames=["latency-anomaly"])["MetricAlarms"]
    assert a["StateValue"] == "ALARM"
