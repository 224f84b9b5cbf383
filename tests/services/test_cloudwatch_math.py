"""CloudWatch metric math through boto3 against a real server, on the
virtual clock: GetMetricData Expression queries (arithmetic, METRICS(),
FILL, TIME_SERIES, SEARCH, ANOMALY_DETECTION_BAND), labels and errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from cloudlet.services.cloudwatch.provider import CloudWatchService

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
NS = "App/Math"


@pytest.fixture
def cw(cloudlet):
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    return cloudlet.client("cloudwatch")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def put(cw, name, values, dims=(), namespace=NS):
    """values: {minute: value}"""
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": list(dims), "Timestamp": at(m * 60 + 1), "Value": float(v)}
        for m, v in values.items()])


def stat(qid, name, dims=(), stat_name="Sum", **extra):
    return {"Id": qid, "MetricStat": {"Metric": {"Namespace": NS, "MetricName": name, "Dimensions": list(dims)},
                                      "Period": 60, "Stat": stat_name}, **extra}


def expr(qid, expression, **extra):
    return {"Id": qid, "Expression": expression, **extra}


def query(cw, queries, start=0, end=300, **kw):
    out = cw.get_metric_data(MetricDataQueries=queries, StartTime=at(start), EndTime=at(end),
                             ScanBy="TimestampAscending", **kw)
    return [(r["Id"], r["Label"], [int((t - T0).total_seconds()) for t in r["Timestamps"]], r["Values"])
            for r in out["MetricDataResults"]]


def error(cw, queries, **kw):
    with pytest.raises(ClientError) as exc:
        cw.get_metric_data(MetricDataQueries=queries, StartTime=at(0), EndTime=at(300), **kw)
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_error_rate_from_hidden_metrics(cw):
    put(cw, "Errors", {0: 1, 1: 3, 3: 2})
    put(cw, "Requests", {0: 10, 1: 30, 2: 20, 3: 0})
    out = query(cw, [stat("errors", "Errors", ReturnData=False), stat("requests", "Requests", ReturnData=False),
                     expr("rate", "100 * errors / requests", Label="Error rate")])
    # minute 2: no errors counts as 0; minute 3 divides by zero and is dropped
    assert out == [("rate", "Error rate", [0, 60, 120], [10.0, 10.0, 0.0])]
    # Without a Label an expression's result is labelled with its Id.
    out = query(cw, [stat("m1", "Errors", ReturnData=False), expr("e1", "m1 - AVG(m1)")])
    assert out == [("e1", "e1", [0, 60, 180], [-1.0, 1.0, 0.0])]


def test_expressions_referencing_expressions_and_descending_order(cw):
    put(cw, "Load", {0: 1, 1: 2, 2: 3})
    queries = [stat("m1", "Load", ReturnData=False), expr("e1", "m1 * 2", ReturnData=False),
               expr("e2", "e1 + RUNNING_SUM(m1)")]
    out = cw.get_metric_data(MetricDataQueries=queries, StartTime=at(0), EndTime=at(300))
    [r] = out["MetricDataResults"]
    assert r["Id"] == "e2" and r["Values"] == [12.0, 7.0, 3.0]  # descending by default
    assert r["Timestamps"] == [at(120), at(60), at(0)]


def test_metrics_function_yields_one_result_per_series(cw):
    put(cw, "Hits", {0: 1, 1: 2}, dims=[{"Name": "Host", "Value": "a"}])
    put(cw, "Hits", {0: 10, 2: 30}, dims=[{"Name": "Host", "Value": "b"}])
    a = stat("hits_a", "Hits", [{"Name": "Host", "Value": "a"}], Label="A", ReturnData=False)
    b = stat("hits_b", "Hits", [{"Name": "Host", "Value": "b"}], Label="B", ReturnData=False)
    out = query(cw, [a, b, expr("x", "METRICS('hits') * 10", Label="Tenfold"), expr("total", "SUM(METRICS())")])
    assert out == [("x", "Tenfold A", [0, 60], [10.0, 20.0]),
                   ("x", "Tenfold B", [0, 120], [100.0, 300.0]),
                   ("total", "total", [0, 60, 120], [11.0, 2.0, 30.0])]
    out = query(cw, [a, b, expr("top", "SLICE(SORT(METRICS(), SUM, DESC), 0, 1)")])
    assert out == [("top", "B", [0, 120], [10.0, 30.0])]


def test_fill_and_time_functions_cover_the_whole_range(cw):
    put(cw, "Sparse", {1: 4, 3: 8})
    out = query(cw, [stat("m1", "Sparse", ReturnData=False), expr("f", "FILL(m1, 0)"),
                     expr("r", "FILL(m1, REPEAT)"), expr("lin", "FILL(m1, LINEAR)"),
                     expr("minute", "MINUTE(m1)"), expr("k", "TIME_SERIES(7)", Period=120)])
    assert out == [("f", "f", [0, 60, 120, 180, 240], [0.0, 4.0, 0.0, 8.0, 0.0]),
                   ("r", "r", [60, 120, 180, 240], [4.0, 4.0, 8.0, 8.0]),
                   ("lin", "lin", [60, 120, 180], [4.0, 6.0, 8.0]),
                   ("minute", "minute", [0, 60, 120, 180, 240], [0.0, 1.0, 2.0, 3.0, 4.0]),
                   ("k", "k", [0, 120, 240], [7.0, 7.0, 7.0])]


def test_if_and_comparisons(cw):
    put(cw, "Latency", {0: 100, 1: 500, 2: 300})
    out = query(cw, [stat("lat", "Latency", ReturnData=False), expr("slow", "IF(lat > 250, 1, 0)"),
                     expr("low", "IF(lat < 400, lat)"), expr("band", "lat >= 300 AND lat != 500")])
    assert out == [("slow", "slow", [0, 60, 120], [0.0, 1.0, 1.0]),
                   ("low", "low", [0, 120], [100.0, 300.0]),
                   ("band", "band", [0, 60, 120], [0.0, 0.0, 1.0])]


def test_search_finds_stored_metrics(cw):
    for fn, v in (("orders-api", 1), ("orders-worker", 2), ("billing", 4)):
        put(cw, "Errors", {0: v, 1: v}, dims=[{"Name": "FunctionName", "Value": fn}])
    put(cw, "Invocations", {0: 100}, dims=[{"Name": "FunctionName", "Value": "billing"}])
    put(cw, "Errors", {0: 1000}, dims=[{"Name": "FunctionName", "Value": "x"}, {"Name": "Stage", "Value": "dev"}])
    search = f"SEARCH('{{{NS},FunctionName}} MetricName=\"Errors\"', 'Sum', 60)"
    out = query(cw, [expr("e1", search)])
    assert out == [("e1", "billing Errors", [0, 60], [4.0, 4.0]),
                   ("e1", "orders-api Errors", [0, 60], [1.0, 1.0]),
                   ("e1", "orders-worker Errors", [0, 60], [2.0, 2.0])]
    out = query(cw, [expr("e1", f"SEARCH('{{{NS},FunctionName}} orders NOT worker', 'Sum', 60)")])
    assert [r[1] for r in out] == ["orders-api Errors"]
    out = query(cw, [expr("s", search, ReturnData=False), expr("total", "SUM(s)")])
    assert out == [("total", "total", [0, 60], [7.0, 7.0])]
    assert query(cw, [expr("none", "SEARCH('MetricName=\"Nope\"', 'Sum', 60)")]) == []


def test_dynamic_labels_with_timezone(cw):
    put(cw, "Temp", {0: 2, 1: 6})
    out = query(cw, [stat("t", "Temp", Label="max ${MAX} avg ${AVG} last at ${LAST_TIME}")],
                LabelOptions={"Timezone": "+0130"})
    assert out[0][1] == "max 6 avg 4 last at 2030-01-01T01:31:00+01:30"


def test_pagination_spans_expression_results(cw):
    put(cw, "P", {m: m + 1 for m in range(5)})
    queries = [stat("m1", "P", ReturnData=False), expr("e1", "m1 * 10"), expr("e2", "m1 + 1")]
    first = cw.get_metric_data(MetricDataQueries=queries, StartTime=at(0), EndTime=at(300),
                               ScanBy="TimestampAscending", MaxDatapoints=7)
    assert [(r["Id"], r["Values"], r["StatusCode"]) for r in first["MetricDataResults"]] == [
        ("e1", [10.0, 20.0, 30.0, 40.0, 50.0], "Complete"), ("e2", [2.0, 3.0], "PartialData")]
    second = cw.get_metric_data(MetricDataQueries=queries, StartTime=at(0), EndTime=at(300),
                                ScanBy="TimestampAscending", MaxDatapoints=7, NextToken=first["NextToken"])
    assert [r["Values"] for r in second["MetricDataResults"] if r["Values"]] == [[4.0, 5.0, 6.0]]
    assert "NextToken" not in second


def test_anomaly_detection_band(cw):
    put(cw, "Cpu", {m: 50 for m in range(5)})
    queries = [stat("m1", "Cpu"), expr("ad1", "ANOMALY_DETECTION_BAND(m1, 2)")]
    if getattr(CloudWatchService, "anomaly_band", None) is None:
        code, message = error(cw, queries)
        assert (code, message) == ("ValidationError",
                                   "Error in expression ad1: Unrecognized function ANOMALY_DETECTION_BAND")
        return
    out = query(cw, queries)
    upper, lower = [r for r in out if r[0] == "ad1"]  # the upper bound first, then the lower
    assert upper[2] == lower[2] and all(u >= lo for u, lo in zip(upper[3], lower[3]))


@pytest.mark.parametrize("queries, message", [
    ([expr("e1", "m1 +")], "Error in expression e1: Unexpected end of expression"),
    ([expr("e1", "m1 $ 2")], "Error in expression e1: Unexpected character '$' at position 3"),
    ([expr("e1", "m9 * 2")], "Error in expression e1: Unrecognized identifier m9"),
    ([expr("e1", "e2 + 1"), expr("e2", "e1 * 2")], "Error in expression e1: Circular reference: e1 -> e2 -> e1"),
    ([stat("m1", "Any"), expr("e1", "AVG(m1)")],
     "Error in expression e1: The expression must return a time series or an array of time series"),
    ([stat("m1", "Any"), expr("e1", "ABS(AVG(m1))")],
     "Error in expression e1: Unsupported operand type(s) for ABS: '[Scalar]'"),
    ([stat("m1", "Any"), expr("e1", "FIRST(m1)")],
     "Error in expression e1: Unsupported operand type(s) for FIRST: '[TimeSeries]'"),
    ([stat("m1", "Any"), expr("e1", "MEDIAN(m1)")], "Error in expression e1: Unrecognized function MEDIAN"),
    ([expr("e1", "TIME_SERIES(1)")],
     "Error in expression e1: Period must be specified for an expression that references no metric"),
    ([expr("e1", "SEARCH('{" + NS + "} x', 'Sum', 90)")],
     "Error in expression e1: Invalid period 90 in SEARCH: it must be 1, 5, 10, 20, 30, or a multiple of 60"),
])
def test_expression_errors(cw, queries, message):
    assert error(cw, queries) == ("ValidationError", message)
