"""CloudWatch metrics through boto3 (its default protocol, Smithy RPC v2
CBOR) against a real server, on the virtual clock: PutMetricData, then
GetMetricStatistics / GetMetricData / ListMetrics with exact answers."""

from __future__ import annotations

import base64
import random
import re
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
NS = "App/Orders"
DIMS = [{"Name": "Service", "Value": "checkout"}]


@pytest.fixture
def cw(cloudlet):
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    return cloudlet.client("cloudwatch")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def put(cw, name, seconds, value=None, dims=DIMS, **extra):
    datum = {"MetricName": name, "Dimensions": dims, "Timestamp": at(seconds), **extra}
    if value is not None:
        datum["Value"] = value
    cw.put_metric_data(Namespace=NS, MetricData=[datum])


def test_statistics_per_period_aligned_to_the_minute(cw):
    put(cw, "Latency", 5, 10.0, Unit="Milliseconds")
    put(cw, "Latency", 50, 30.0, Unit="Milliseconds")
    put(cw, "Latency", 61, 5.0, Unit="Milliseconds")
    put(cw, "Latency", 119, 7.0, Unit="Milliseconds")
    put(cw, "Latency", 200, 99.0, Unit="Milliseconds")  # outside [start, end)
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Latency", Dimensions=DIMS, StartTime=at(20),
                                   EndTime=at(140), Period=60,
                                   Statistics=["Sum", "Average", "Minimum", "Maximum", "SampleCount"])
    assert out["Label"] == "Latency"
    points = [(p["Timestamp"], p["Sum"], p["Average"], p["Minimum"], p["Maximum"], p["SampleCount"], p["Unit"])
              for p in sorted(out["Datapoints"], key=lambda p: p["Timestamp"])]
    # StartTime 00:00:20 is rounded down to 00:00:00; periods start there.
    assert points == [(at(0), 40.0, 20.0, 10.0, 30.0, 2.0, "Milliseconds"),
                      (at(60), 12.0, 6.0, 5.0, 7.0, 2.0, "Milliseconds")]


def test_values_counts_statistic_sets_and_percentiles(cw):
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Size", "Timestamp": at(10), "Values": [float(v) for v in range(1, 51)]},
        {"MetricName": "Size", "Timestamp": at(20), "Values": [float(v) for v in range(51, 101)],
         "Counts": [1.0] * 50},
    ])
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Size", StartTime=at(0), EndTime=at(60), Period=60,
                                   ExtendedStatistics=["p50", "p90", "p99.9", "p100"])
    [point] = out["Datapoints"]
    assert point["ExtendedStatistics"] == {"p50": 50.0, "p90": 90.0, "p99.9": 100.0, "p100": 100.0}
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Weighted", "Timestamp": at(10), "Values": [1.0, 2.0], "Counts": [3.0, 1.0]},
        {"MetricName": "Weighted", "Timestamp": at(15),
         "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 5, "Maximum": 5}},
    ])
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Weighted", StartTime=at(0), EndTime=at(60),
                                   Period=60, Statistics=["Sum", "SampleCount", "Average"])
    [point] = out["Datapoints"]
    assert (point["Sum"], point["SampleCount"], point["Average"]) == (25.0, 8.0, 3.125)
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Weighted", StartTime=at(0), EndTime=at(60),
                                   Period=60, ExtendedStatistics=["p50", "p75"])
    assert out["Datapoints"][0]["ExtendedStatistics"] == {"p50": 2.0, "p75": 5.0}
    # A statistic set whose minimum and maximum differ has no percentiles.
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Set", "Timestamp": at(10), "StatisticValues": {
        "SampleCount": 2, "Sum": 3, "Minimum": 1, "Maximum": 2}}])
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Set", StartTime=at(0), EndTime=at(60),
                                   Period=60, ExtendedStatistics=["p50"])
    assert out["Datapoints"][0]["ExtendedStatistics"] == {}


def test_dimensions_and_unit_select_the_series(cw):
    put(cw, "Hits", 10, 1.0, Unit="Count")
    put(cw, "Hits", 11, 2.0, dims=[{"Name": "Service", "Value": "other"}], Unit="Count")
    put(cw, "Hits", 12, 4.0, dims=[], Unit="Count")
    put(cw, "Hits", 13, 8.0, Unit="Seconds")
    def total(dims, **kw):
        out = cw.get_metric_statistics(Namespace=NS, MetricName="Hits", Dimensions=dims, StartTime=at(0),
                                       EndTime=at(60), Period=60, Statistics=["Sum"], **kw)
        return sorted((p["Sum"], p["Unit"]) for p in out["Datapoints"])
    assert total(DIMS) == [(1.0, "Count"), (8.0, "Seconds")]
    assert total(DIMS, Unit="Count") == [(1.0, "Count")]
    assert total([]) == [(4.0, "Count")]
    assert total([{"Name": "Service", "Value": "nope"}]) == []


def test_get_metric_data_metric_stat_scan_by_and_pagination(cw):
    for minute in range(5):
        put(cw, "Requests", minute * 60 + 1, float(minute + 1))
        put(cw, "Requests", minute * 60 + 2, float(minute + 1))
    query = {"Id": "r", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Requests", "Dimensions": DIMS},
                                       "Period": 60, "Stat": "Sum"}}
    out = cw.get_metric_data(MetricDataQueries=[query], StartTime=at(0), EndTime=at(300))
    [result] = out["MetricDataResults"]
    assert result["Id"] == "r" and result["Label"] == "Requests" and result["StatusCode"] == "Complete"
    assert result["Timestamps"] == [at(240), at(180), at(120), at(60), at(0)]
    assert result["Values"] == [10.0, 8.0, 6.0, 4.0, 2.0]
    out = cw.get_metric_data(MetricDataQueries=[dict(query, Label="mine")], StartTime=at(0), EndTime=at(300),
                             ScanBy="TimestampAscending", MaxDatapoints=3)
    [result] = out["MetricDataResults"]
    assert (result["Label"], result["Values"], result["StatusCode"]) == ("mine", [2.0, 4.0, 6.0], "PartialData")
    out = cw.get_metric_data(MetricDataQueries=[query], StartTime=at(0), EndTime=at(300),
                             ScanBy="TimestampAscending", MaxDatapoints=3, NextToken=out["NextToken"])
    [result] = out["MetricDataResults"]
    assert (result["Values"], result["StatusCode"]) == ([8.0, 10.0], "Complete")
    assert "NextToken" not in out
    hidden = dict(query, Id="h", ReturnData=False)
    out = cw.get_metric_data(MetricDataQueries=[hidden], StartTime=at(0), EndTime=at(300))
    assert out["MetricDataResults"] == []


def test_list_metrics_filters_and_recently_active(cw, cloudlet):
    put(cw, "A", 10, 1.0)
    put(cw, "B", 10, 1.0, dims=[{"Name": "Host", "Value": "h1"}, {"Name": "Service", "Value": "checkout"}])
    cw.put_metric_data(Namespace="Other", MetricData=[{"MetricName": "A", "Value": 1.0, "Timestamp": at(10)}])
    # (AWS/Usage CallCount, counting these very calls, is left out: test_cloudwatch_usage.py covers it.)
    names = lambda **kw: sorted((m["Namespace"], m["MetricName"]) for m in cw.list_metrics(**kw)["Metrics"]  # noqa: E731
                                if m["Namespace"] != "AWS/Usage")
    assert names() == [(NS, "A"), (NS, "B"), ("Other", "A")]
    assert names(Namespace=NS) == [(NS, "A"), (NS, "B")]
    assert names(MetricName="A") == [(NS, "A"), ("Other", "A")]
    assert names(Dimensions=[{"Name": "Host"}]) == [(NS, "B")]
    assert names(Dimensions=[{"Name": "Service", "Value": "checkout"}]) == [(NS, "A"), (NS, "B")]
    b = cw.list_metrics(MetricName="B")["Metrics"][0]
    assert b["Dimensions"] == [{"Name": "Host", "Value": "h1"}, {"Name": "Service", "Value": "checkout"}]
    cloudlet.clock.advance(3 * 3600)
    put(cw, "C", 3 * 3600 + 10, 1.0)
    assert names(RecentlyActive="PT3H") == [(NS, "C")]


def test_list_metrics_pages_of_500(cw):
    for start in range(0, 600, 200):
        cw.put_metric_data(Namespace=NS, MetricData=[
            {"MetricName": f"m{i:03d}", "Value": 1.0, "Timestamp": at(10)} for i in range(start, start + 200)])
    first = cw.list_metrics(Namespace=NS)
    assert len(first["Metrics"]) == 500
    second = cw.list_metrics(Namespace=NS, NextToken=first["NextToken"])
    assert len(second["Metrics"]) == 100 and "NextToken" not in second


@pytest.mark.parametrize("datum, code, message", [
    ({"MetricName": "x", "Value": 1.0, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}},
     "InvalidParameterCombination", "The parameters MetricData.member.1.Value and "
     "MetricData.member.1.StatisticValues are mutually exclusive and you have specified both."),
    ({"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]},
     "InvalidParameterValue", "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be "
     "of the same size."),
    ({"MetricName": "x", "Value": 1.0, "StorageResolution": 30},
     "InvalidParameterValue", "The value 30 for parameter MetricData.member.1.StorageResolution is invalid."),
    ({"MetricName": "x", "Value": 1.0, "Timestamp": T0 - timedelta(days=15)},
     "InvalidParameterValue", "The parameter MetricData.member.1.Timestamp must specify a time no more than two "
     "weeks in the past."),
    ({"MetricName": "x", "Value": 1.0, "Timestamp": T0 + timedelta(hours=4)},
     "InvalidParameterValue", "The parameter MetricData.member.1.Timestamp must specify a time no more than two "
     "hours in the future."),
    ({"MetricName": "x"}, "MissingParameter", "The parameter MetricData.member.1.Value is required."),
    ({"MetricName": "x", "Values": [1.0] * 151},
     "InvalidParameterValue", "The collection MetricData.member.1.Values must not have a size greater than 150."),
])
def test_put_metric_data_validation(cw, datum, code, message):
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace=NS, MetricData=[datum])
    assert error(exc) == (code, message)


def test_put_metric_data_limits(cw, raw_client):
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "x", "Value": 1.0}] * 1001)
    assert error(exc) == ("InvalidParameterValue", "The collection MetricData must not have a size greater than 1000.")
    raw = raw_client("cloudwatch")
    with pytest.raises(ClientError) as exc:
        raw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "x", "Value": 1.0, "Dimensions": [
            {"Name": f"d{i}", "Value": "v"} for i in range(31)]}])
    # The model's constraint (at most 30 dimensions), in AWS's validation words.
    code, message = error(exc)
    assert code == "ValidationError" and "Member must have length less than or equal to 30" in message


def test_get_metric_statistics_validation(cw):
    base = dict(Namespace=NS, MetricName="x", StartTime=at(0), EndTime=at(3600))
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, Period=60, Statistics=["Sum"], ExtendedStatistics=["p90"])
    assert error(exc) == ("InvalidParameterCombination",
                          "Must specify either Statistics or ExtendedStatistics, but not both.")
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, Period=1, Statistics=["Sum"])
    assert error(exc) == ("InvalidParameterCombination",
                          "You have requested up to 3,600 datapoints, which exceeds the limit of 1,440. You may "
                          "reduce the datapoints requested by increasing Period, or decreasing the time range.")
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**base, Period=90, Statistics=["Sum"])
    assert error(exc)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(**dict(base, EndTime=at(0)), Period=60, Statistics=["Sum"])
    assert error(exc) == ("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")


def test_query_protocol_too(cloudlet):
    """The AWS CLI's older paths and old SDKs speak the query protocol."""
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    import boto3
    from botocore.config import Config
    session = boto3.session.Session()
    client = session.client("cloudwatch", endpoint_url=cloudlet.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 0}))
    client.meta.service_model._service_description["metadata"]["protocol"] = "query"
    client.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "q", "Value": 3.0, "Timestamp": at(10)}])
    out = client.get_metric_statistics(Namespace=NS, MetricName="q", StartTime=at(0), EndTime=at(60), Period=60,
                                       Statistics=["Sum"])
    assert [p["Sum"] for p in out["Datapoints"]] == [3.0]


def test_one_request_many_datums_of_one_timestamp(cw):
    """Datums of one metric and timestamp in a request are stored together;
    every statistic and percentile is as if each were stored alone."""
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Mixed", "Timestamp": at(10), "Value": 4.0},
        {"MetricName": "Mixed", "Timestamp": at(10), "Values": [3.0, 1.0], "Counts": [2.0, 1.0]},
        {"MetricName": "Mixed", "Timestamp": at(10), "Values": [9.0, 2.0]},
        {"MetricName": "Mixed", "Timestamp": at(10), "StatisticValues": {
            "SampleCount": 2, "Sum": 10, "Minimum": 5, "Maximum": 5}},
        {"MetricName": "Mixed", "Timestamp": at(10), "Value": 6.0, "Unit": "Seconds"},
    ])
    def stats(**kw):
        out = cw.get_metric_statistics(Namespace=NS, MetricName="Mixed", StartTime=at(0), EndTime=at(60),
                                       Period=60, **kw)
        return sorted(out["Datapoints"], key=lambda p: p["Unit"])
    none, seconds = stats(Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"])
    # values 1, 2, 3, 3, 4, 5, 5, 9 (None) and 6 (Seconds)
    assert (none["SampleCount"], none["Sum"], none["Minimum"], none["Maximum"], none["Average"]) == \
        (8.0, 32.0, 1.0, 9.0, 4.0)
    assert (seconds["SampleCount"], seconds["Sum"]) == (1.0, 6.0)
    none, seconds = stats(ExtendedStatistics=["p25", "p50", "p75", "p100"])
    assert none["ExtendedStatistics"] == {"p25": 2.0, "p50": 3.0, "p75": 5.0, "p100": 9.0}
    assert seconds["ExtendedStatistics"] == {"p25": 6.0, "p50": 6.0, "p75": 6.0, "p100": 6.0}
    # A statistic set whose min and max differ takes the percentiles of its timestamp away.
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Inexact", "Timestamp": at(10), "Values": [1.0, 2.0]},
        {"MetricName": "Inexact", "Timestamp": at(10), "StatisticValues": {
            "SampleCount": 2, "Sum": 7, "Minimum": 3, "Maximum": 4}},
    ])
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Inexact", StartTime=at(0), EndTime=at(60), Period=60,
                                   ExtendedStatistics=["p50"])
    assert out["Datapoints"][0]["ExtendedStatistics"] == {}
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Inexact", StartTime=at(0), EndTime=at(60), Period=60,
                                   Statistics=["Sum", "SampleCount"])
    assert (out["Datapoints"][0]["Sum"], out["Datapoints"][0]["SampleCount"]) == (10.0, 4.0)


def test_minute_roll_up_and_raw_points_agree(cw):
    """Whole-minute periods of the basic statistics read the per-minute
    roll-up; an EndTime inside a minute counts that minute's points before
    it from the raw points."""
    data = [(s, float(s % 7)) for s in range(0, 600, 13)]
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Agree", "Timestamp": at(s), "Value": v} for s, v in data])
    def expected(period, end, stat):
        out = {}
        for s, v in data:
            if s < end:
                out.setdefault(s // period * period, []).append(v)
        pick = {"Sum": sum, "SampleCount": len, "Minimum": min, "Maximum": max,
                "Average": lambda vs: sum(vs) / len(vs)}[stat]
        return [(at(k), float(pick(vs))) for k, vs in sorted(out.items())]
    for period in (60, 120, 300):
        for end in (600, 590, 301):
            for stat in ("Sum", "SampleCount", "Minimum", "Maximum", "Average"):
                out = cw.get_metric_statistics(Namespace=NS, MetricName="Agree", StartTime=at(0), EndTime=at(end),
                                               Period=period, Statistics=[stat])
                got = sorted((p["Timestamp"], p[stat]) for p in out["Datapoints"])
                assert got == expected(period, end, stat), (period, end, stat)
    query = {"Id": "a", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "Agree"}, "Period": 300,
                                       "Stat": "Sum"}}
    out = cw.get_metric_data(MetricDataQueries=[query], StartTime=at(0), EndTime=at(590),
                             ScanBy="TimestampAscending")
    assert out["MetricDataResults"][0]["Values"] == [v for _, v in expected(300, 590, "Sum")]


def test_percentiles_over_sorted_runs_match_nearest_rank(cw):
    """Each stored point keeps its values sorted; a period's percentile
    reads only the ends of those runs. Against a plain nearest-rank."""
    import math
    import random
    rng = random.Random(11)
    datums, every = [], []
    for k in range(7):
        values = [float(rng.randrange(500)) for _ in range(150 if k < 5 else 1)]
        every += values
        datums.append({"MetricName": "Runs", "Timestamp": at(k * 7), "Values": values} if len(values) > 1 else
                      {"MetricName": "Runs", "Timestamp": at(k * 7), "Value": values[0]})
    cw.put_metric_data(Namespace=NS, MetricData=datums)
    every.sort()
    wanted = ["p0.1", "p1", "p10", "p25", "p50", "p75", "p90", "p99", "p99.9", "p100"]
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Runs", StartTime=at(0), EndTime=at(60), Period=60,
                                   ExtendedStatistics=wanted)
    [point] = out["Datapoints"]
    n = len(every)
    assert point["ExtendedStatistics"] == {
        p: every[min(max(1, math.ceil(float(p[1:]) / 100 * n - 1e-9)), n) - 1] for p in wanted}


# -- extended statistics: TM, WM, TC, TS, PR, IQM ------------------------------------------------------------

ONE_TO_TEN = [float(v) for v in range(1, 11)]  # N = 10, Sum = 55


def extended(cw, name, wanted, start=0, end=60):
    """{statistic: value} of the one datapoint of [start, end), asking ten at a time."""
    got = {}
    for i in range(0, len(wanted), 10):
        out = cw.get_metric_statistics(Namespace=NS, MetricName=name, StartTime=at(start), EndTime=at(end),
                                       Period=60, ExtendedStatistics=wanted[i:i + 10])
        [point] = out["Datapoints"]
        got.update(point["ExtendedStatistics"])
    return got


def test_trimmed_winsorized_count_sum_and_rank_over_percentages(cw):
    """Percentage bounds keep the part of the sorted values between the two
    percentiles' places in their cumulative count: 1..10 in [a*N/100,
    b*N/100], a value straddling a place counting for its share."""
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Ext", "Timestamp": at(10),
                                                  "Values": ONE_TO_TEN[::-1]}])
    expected = {
        "p90": 9.0,
        # tm90 = TM(:90%): places [0, 9] -> 1..9
        "tm90": 5.0, "tc90": 9.0, "ts90": 45.0,
        "TM(:90%)": 5.0,
        # wm90: 10 counts as 9 (the 90th percentile): (45 + 9) / 10
        "wm90": 5.4, "WM(:90%)": 5.4,
        # tm95: places [0, 9.5] -> 1..9 and half of 10: (45 + 5) / 9.5
        "tm95": 50.0 / 9.5, "tc95": 9.5, "ts95": 50.0,
        # tm1: places [0, 0.1] -> a tenth of 1
        "tm1": 1.0, "tc1": 0.1, "ts1": 0.1,
        # IQM = TM(25%:75%): places [2.5, 7.5] -> half of 3, 4..7, half of 8: 27.5 / 5
        "IQM": 5.5, "TM(25%:75%)": 5.5, "TC(25%:75%)": 5.0, "TS(25%:75%)": 27.5,
        # TM(10%:90%): places [1, 9] -> 2..9
        "TM(10%:90%)": 5.5, "TC(10%:90%)": 8.0, "TS(10%:90%)": 44.0,
        # WM(20%:70%): places [2, 7] -> 3..7 (25); 1, 2 count as 3; 8, 9, 10 as 7: (25 + 6 + 21) / 10
        "WM(20%:70%)": 5.2,
        # WM(25%:75%): 1, 2, 3 count as 3 and 8, 9, 10 as 8: (9 + 22 + 24) / 10
        "WM(25%:75%)": 5.5,
        # one bound: TM(20%:) -> 3..10; TS(80%:) -> 9, 10; WM(80%:): 1..8 count as 9: (72 + 19) / 10
        "TM(20%:)": 6.5, "TS(80%:)": 19.0, "TC(80%:)": 2.0, "WM(80%:)": 9.1,
        "TM(0%:100%)": 5.5, "tm100": 5.5, "TC(0%:100%)": 10.0,
    }
    assert extended(cw, "Ext", list(expected)) == expected


def test_trimmed_statistics_and_percentile_rank_over_fixed_values(cw):
    """Fixed bounds keep lower < v <= upper (the lower bound exclusive, the
    upper inclusive); PR is the percentage of values in that range."""
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Fixed", "Timestamp": at(10),
                                                  "Values": ONE_TO_TEN}])
    expected = {
        # (3, 7] -> 4, 5, 6, 7
        "TM(3:7)": 5.5, "TC(3:7)": 4.0, "TS(3:7)": 22.0,
        # WM(3:7): 1, 2, 3 count as 3; 8, 9, 10 as 7: (9 + 22 + 21) / 10
        "WM(3:7)": 5.2,
        # WM(:4): 1..4, then 5..10 count as 4: (10 + 24) / 10
        "TM(:4)": 2.5, "TC(:4)": 4.0, "TM(8:)": 9.5, "TS(8:)": 19.0, "WM(:4)": 3.4,
        "TM(2.5:4.5)": 3.5, "TC(0.005:0.030)": 0.0, "TS(:0.5)": 0.0, "TC(10:)": 0.0,
        "PR(:3)": 30.0, "PR(3:7)": 40.0, "PR(9:)": 10.0, "PR(0:10)": 100.0, "PR(10:20)": 0.0,
        "PR(2.5:3)": 10.0,
    }
    assert extended(cw, "Fixed", list(expected) + ["TM(:0.5)", "TM(10:)"]) == expected  # empty TMs: no value


def test_extended_statistics_with_counts_statistic_sets_and_negatives(cw):
    # Values 1, 2, 3 with counts 2, 5, 3 (N = 10): 1 spans places [0, 2], 2 [2, 7], 3 [7, 10].
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Counted", "Timestamp": at(10),
                                                  "Values": [3.0, 1.0, 2.0], "Counts": [3.0, 2.0, 5.0]}])
    assert extended(cw, "Counted", ["tm90", "tc90", "ts90", "IQM", "WM(25%:75%)", "PR(1:2)", "TM(1:3)",
                                    "WM(1:2)", "p50"]) == {
        "tm90": 2.0, "tc90": 9.0, "ts90": 18.0,  # 1*2 + 2*5 + 3*2 over 9
        "IQM": 2.1,  # 2*4.5 + 3*0.5 over 5
        "WM(25%:75%)": 2.3,  # (10.5 + 2.5*2 + 2.5*3) / 10
        "PR(1:2)": 50.0, "TM(1:3)": 2.375, "WM(1:2)": 1.8, "p50": 2.0}
    # A statistic set whose minimum equals its maximum is its value that many times: 1, 3, 5, 5.
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "WithSet", "Timestamp": at(10), "Values": [1.0, 3.0]},
        {"MetricName": "WithSet", "Timestamp": at(20), "StatisticValues": {
            "SampleCount": 2, "Sum": 10, "Minimum": 5, "Maximum": 5}},
    ])
    assert extended(cw, "WithSet", ["tm75", "PR(:3)", "TS(50%:)", "WM(25%:75%)", "TC(3:5)"]) == {
        "tm75": 3.0, "PR(:3)": 50.0, "TS(50%:)": 10.0, "WM(25%:75%)": 4.0, "TC(3:5)": 2.0}
    # A statistic set whose minimum and maximum differ, or a negative value: none of them.
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Spread", "Timestamp": at(10), "Values": [1.0, 3.0]},
        {"MetricName": "Spread", "Timestamp": at(20), "StatisticValues": {
            "SampleCount": 2, "Sum": 7, "Minimum": 3, "Maximum": 4}},
        {"MetricName": "Negative", "Timestamp": at(10), "Values": [-1.0, 2.0, 3.0]},
    ])
    for name in ("Spread", "Negative"):
        assert extended(cw, name, ["tm90", "IQM", "wm90", "tc90", "ts90", "PR(:5)", "TM(0:5)"]) == {}, name


def test_extended_statistics_per_period_names_as_given(cw):
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Periods", "Timestamp": at(10), "Values": ONE_TO_TEN},
        {"MetricName": "Periods", "Timestamp": at(70), "Values": [v + 10 for v in ONE_TO_TEN]},
    ])
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Periods", StartTime=at(0), EndTime=at(120),
                                   Period=60, ExtendedStatistics=["tm90", "TM(10%:90%)", "PR(:12)"])
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert [p["ExtendedStatistics"] for p in points] == [
        {"tm90": 5.0, "TM(10%:90%)": 5.5, "PR(:12)": 100.0},
        {"tm90": 15.0, "TM(10%:90%)": 15.5, "PR(:12)": 20.0}]
    # One period over both minutes: 1..20.
    out = cw.get_metric_statistics(Namespace=NS, MetricName="Periods", StartTime=at(0), EndTime=at(120),
                                   Period=120, ExtendedStatistics=["tm90", "IQM", "tc90"])
    # tm90: places [0, 18] -> 1..18; IQM: places [5, 15] -> 6..15
    assert out["Datapoints"][0]["ExtendedStatistics"] == {"tm90": 9.5, "IQM": 10.5, "tc90": 18.0}


def test_get_metric_data_and_metric_math_take_extended_statistics(cw):
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Gmd", "Timestamp": at(10),
                                                  "Values": ONE_TO_TEN}])
    metric = {"Namespace": NS, "MetricName": "Gmd"}
    stats = {"a": "tm90", "b": "IQM", "c": "PR(3:7)", "d": "TM(10%:90%)", "e": "WM(3:7)", "f": "ts95",
             "g": "TC(:4)", "h": "wm90"}
    queries = [{"Id": qid, "MetricStat": {"Metric": metric, "Period": 60, "Stat": stat}}
               for qid, stat in stats.items()]
    queries.append({"Id": "twice", "Expression": "a * 2"})
    out = cw.get_metric_data(MetricDataQueries=queries, StartTime=at(0), EndTime=at(60))
    got = {r["Id"]: r["Values"] for r in out["MetricDataResults"]}
    assert got == {"a": [5.0], "b": [5.5], "c": [40.0], "d": [5.5], "e": [5.2], "f": [50.0], "g": [4.0],
                   "h": [5.4], "twice": [10.0]}
    out = cw.get_metric_data(MetricDataQueries=[{"Id": "s", "Expression": f"SEARCH('{{{NS}}} Gmd', 'IQM', 60)"}],
                             StartTime=at(0), EndTime=at(60))
    assert [r["Values"] for r in out["MetricDataResults"]] == [[5.5]]
    for bad in ("TM(10%:500)", "tm(1:2)", "TM90", "PR(10%:20%)", "IQM(25%:75%)", "TM(:)"):
        with pytest.raises(ClientError) as exc:
            cw.get_metric_data(MetricDataQueries=[{"Id": "x", "MetricStat": {"Metric": metric, "Period": 60,
                                                                              "Stat": bad}}],
                               StartTime=at(0), EndTime=at(60))
        assert error(exc) == ("ValidationError",
                              f"The value {bad} for parameter MetricDataQueries.member.1.MetricStat.Stat is "
                              "invalid."), bad


@pytest.mark.parametrize("name", [
    "TM(10%:500)",  # one bound a percentage, the other a value
    "tm(10%:90%)",  # lower case takes one number
    "TM90",  # upper case takes a range
    "TM(:)", "TM()", "TM(90%:10%)", "TM(7:3)", "tm101", "TM(:100.5%)", "tm90%", "iqm", "PR(10%:20%)",
    "pr(:3)", "TM(:1.12345678901)", "TM( 1:2)", "XX(1:2)", "TM(-1:2)",
])
def test_invalid_extended_statistics(cw, name):
    with pytest.raises(ClientError) as exc:
        cw.get_metric_statistics(Namespace=NS, MetricName="x", StartTime=at(0), EndTime=at(60), Period=60,
                                 ExtendedStatistics=[name])
    assert error(exc) == ("InvalidParameterValue", f"The value {name} for parameter ExtendedStatistics is not "
                                                   "supported.")


def test_alarm_on_a_trimmed_mean(cloudlet, cw):
    """tm90 ignores the top 10%: an outlier that lifts the average does not
    breach; a shift of the whole distribution does."""
    cw.put_metric_alarm(AlarmName="tm", Namespace=NS, MetricName="Trimmed", ExtendedStatistic="tm90",
                        Period=60, EvaluationPeriods=1, Threshold=5.0, ComparisonOperator="GreaterThanThreshold")
    # 01:00: 1..9 and 100 (average 14.5; tm90 = 5.0)
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Trimmed", "Timestamp": at(3605),
                                                  "Values": ONE_TO_TEN[:9] + [100.0]}])
    cloudlet.clock.set("2030-01-01T01:01:00Z")
    [alarm] = cw.describe_alarms(AlarmNames=["tm"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["ExtendedStatistic"]) == ("OK", "tm90")
    # 01:01: 2..11 (tm90 = 54 / 9 = 6.0)
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Trimmed", "Timestamp": at(3665),
                                                  "Values": [v + 1 for v in ONE_TO_TEN]}])
    cloudlet.clock.advance(60)
    [alarm] = cw.describe_alarms(AlarmNames=["tm"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    assert "[6.0 (01/01/30 01:01:00)]" in alarm["StateReason"]
    found = cw.describe_alarms_for_metric(Namespace=NS, MetricName="Trimmed", ExtendedStatistic="tm90")
    assert [a["AlarmName"] for a in found["MetricAlarms"]] == ["tm"]
    assert cw.describe_alarms_for_metric(Namespace=NS, MetricName="Trimmed",
                                         ExtendedStatistic="p90")["MetricAlarms"] == []
    base = dict(AlarmName="bad", Namespace=NS, MetricName="Trimmed", Period=60, EvaluationPeriods=1,
                Threshold=5.0, ComparisonOperator="GreaterThanThreshold")
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(**base, ExtendedStatistic="TM(10%:500)")
    assert error(exc) == ("InvalidParameterValue",
                          "The value TM(10%:500) for parameter ExtendedStatistic is not supported.")
    # EvaluateLowSampleCountPercentile is for percentiles only (AWS's guide).
    with pytest.raises(ClientError) as exc:
        cw.put_metric_alarm(**base, ExtendedStatistic="tm90", EvaluateLowSampleCountPercentile="ignore")
    assert error(exc) == ("ValidationError", "EvaluateLowSampleCountPercentile is only supported for percentiles.")


def test_put_metric_data_over_one_megabyte_is_refused(cw):
    # Long random dimension values: over 1 MB even after boto3 gzips the request (the limit counts
    # the request as sent).
    rnd = random.Random(5)
    data = [{"MetricName": "Big", "Value": 1.0, "Timestamp": at(10),
             "Dimensions": [{"Name": f"D{k}", "Value": base64.b64encode(rnd.randbytes(750)).decode()}
                            for k in range(4)]} for _ in range(600)]
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace=NS, MetricData=data)
    code, message = error(exc)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert code == "RequestEntityTooLarge"
    assert re.fullmatch(r"Request size \d+ exceeded 1048576 bytes", message)
    assert cw.list_metrics(Namespace=NS, MetricName="Big")["Metrics"] == []
