"""CloudWatch metric math, the evaluator alone: every function against
hand-computed answers. Series are on a 60-second grid from t=0."""

from __future__ import annotations

import math

import pytest

from cloudlet.services.cloudwatch import mathexpr as mx
from cloudlet.services.cloudwatch.mathexpr import Band, MathError, Series


def ts(*points, label="s", period=60):
    """Series from (t, v) pairs or from values at t = 0, 60, 120..."""
    if points and isinstance(points[0], tuple):
        return Series([float(t) for t, _ in points], [float(v) for _, v in points], label, period)
    return Series([i * 60.0 for i in range(len(points))], [float(v) for v in points], label, period)


class Ctx(mx.Context):
    def __init__(self, period=None, grid_end=300, **series):
        self.series = series
        self.period = period
        self.grid_end = grid_end

    def ref(self, name):
        if name not in self.series:
            raise MathError(f"Unrecognized identifier {name}")
        return self.series[name]

    def metrics(self, contains):
        return [s for k, s in self.series.items() if isinstance(s, Series) and (contains is None or contains in k)]

    def grid(self, period):
        return [float(t) for t in range(0, self.grid_end, period)]

    def band(self, name, k):
        s = self.series[name]
        return Band([s.derive(s.ts, [v + k for v in s.vals]), s.derive(s.ts, [v - k for v in s.vals])])


def ev(expr, **kw):
    return mx.evaluate(mx.parse(expr), Ctx(**kw))


def pts(series):
    return list(zip(series.ts, series.vals))


M1 = ts(30, 20, 0, 0)
M2 = ts((0, 20), (120, 20))
A = ts(1, 2, 3, 4)
B = ts(10, 20, 30, 40)


# -- parsing ---------------------------------------------------------------------------

def test_precedence_and_associativity():
    assert ev("1 + 2 * 3") == 7.0
    assert ev("(1 + 2) * 3") == 9.0
    assert ev("2 ^ 3 ^ 2") == 512.0  # right-associative
    assert ev("-2 ^ 2") == -4.0
    assert ev("10 - 4 - 3") == 3.0
    assert ev("8 / 4 / 2") == 1.0
    assert ev("1 + 2 > 2 AND 0 < 1") == 1.0
    assert ev("1e-3 * 1000") == 1.0


@pytest.mark.parametrize("expr", ["m1 +", "(m1", "m1 m2", "FOO(", "[m1,", "1 $ 2", ")"])
def test_syntax_errors(expr):
    with pytest.raises(MathError):
        mx.parse(expr)


def test_references():
    assert mx.references(mx.parse("SUM(METRICS('x')) + m1 * IF(e2 > 1, m3)")) == {"METRICS", "m1", "e2", "m3"}


def test_unknown_function():
    with pytest.raises(MathError, match="Unrecognized function NOPE"):
        ev("NOPE(m1)", m1=M1)


# -- arithmetic --------------------------------------------------------------------------

def test_arithmetic_scalars_and_series():
    assert pts(ev("m1 * 2 + 1", m1=A)) == [(0, 3), (60, 5), (120, 7), (180, 9)]
    assert pts(ev("10 - m1", m1=A)) == [(0, 9), (60, 8), (120, 7), (180, 6)]
    assert pts(ev("m1 ^ 2", m1=A)) == [(0, 1), (60, 4), (120, 9), (180, 16)]
    assert pts(ev("-m1", m1=A)) == [(0, -1), (60, -2), (120, -3), (180, -4)]
    assert pts(ev("b / a", a=A, b=B)) == [(0, 10), (60, 10), (120, 10), (180, 10)]


def test_mismatched_timestamps_count_missing_as_zero():
    # m1 [30, 20, 0, 0], m2 [20, -, 20, -]
    assert pts(ev("m1 + m2", m1=M1, m2=M2)) == [(0, 50), (60, 20), (120, 20), (180, 0)]
    assert pts(ev("m2 - m1", m1=M1, m2=M2)) == [(0, -10), (60, -20), (120, 20), (180, 0)]


def test_division_by_zero_drops_the_point():
    assert pts(ev("100 / m1", m1=M1)) == [(0, 100 / 30), (60, 5)]
    assert pts(ev("m1 / 0", m1=M1)) == []
    assert math.isnan(ev("1 / 0"))


def test_arrays_and_operators():
    out = ev("METRICS() * 10", a=A, b=B)
    assert [pts(s) for s in out] == [[(0, 10), (60, 20), (120, 30), (180, 40)],
                                     [(0, 100), (60, 200), (120, 300), (180, 400)]]
    out = ev("[a, b] - a", a=A, b=B)
    assert [s.vals for s in out] == [[0, 0, 0, 0], [9, 18, 27, 36]]
    assert [s.vals for s in ev("-[a, b]", a=A, b=B)] == [[-1, -2, -3, -4], [-10, -20, -30, -40]]
    with pytest.raises(MathError, match=r"Unsupported operand type\(s\) for \+: '\[Array\[TimeSeries\], "
                                        r"Array\[TimeSeries\]\]'"):
        ev("METRICS() + METRICS()", a=A)


# -- comparison and logic ---------------------------------------------------------------

def test_comparisons_as_documented():
    # AWS's table: metric1 [30, 20, 0, 0], metric2 [20, -, 20, -]
    assert ev("m1 < m2", m1=M1, m2=M2).vals == [0, 0, 1, 0]
    assert ev("m1 >= 30", m1=M1).vals == [1, 0, 0, 0]
    assert ev("m1 > 15 AND m2 > 15", m1=M1, m2=M2).vals == [1, 0, 0, 0]
    assert ev("m1 > 15 && m2 > 15", m1=M1, m2=M2).vals == [1, 0, 0, 0]


def test_every_comparison_and_logical_operator():
    assert ev("a == 2", a=A).vals == [0, 1, 0, 0]
    assert ev("a != 2", a=A).vals == [1, 0, 1, 1]
    assert ev("a <= 2", a=A).vals == [1, 1, 0, 0]
    assert ev("a > 2", a=A).vals == [0, 0, 1, 1]
    assert ev("a < 2 OR a > 3", a=A).vals == [1, 0, 0, 1]
    assert ev("a < 2 || a > 3", a=A).vals == [1, 0, 0, 1]
    assert ev("NOT a > 2", a=A).vals == [1, 1, 0, 0]
    assert ev("NOT 0") == 1.0 and ev("3 >= 3") == 1.0 and ev("1 AND 0") == 0.0


# -- functions of series ---------------------------------------------------------------

def test_abs_ceil_floor():
    s = ts(-1.5, 2.25, -0.5)
    assert ev("ABS(s)", s=s).vals == [1.5, 2.25, 0.5]
    assert ev("CEIL(s)", s=s).vals == [-1, 3, 0]
    assert ev("FLOOR(s)", s=s).vals == [-2, 2, -1]
    assert [x.vals for x in ev("ABS(METRICS())", s=s)] == [[1.5, 2.25, 0.5]]
    with pytest.raises(MathError, match=r"for ABS: '\[Scalar\]'"):
        ev("ABS(-1)")


def test_log_and_log10_drop_undefined_points():
    s = ts(1, math.e, 100, 0, -1)
    assert ev("LOG(s)", s=s).vals == [0.0, 1.0, math.log(100)]
    assert ev("LOG10(s)", s=s).vals == [0.0, math.log10(math.e), 2.0]


def test_aggregates_of_one_series_are_scalars():
    assert ev("SUM(a)", a=A) == 10.0
    assert ev("AVG(a)", a=A) == 2.5
    assert ev("MIN(a)", a=A) == 1.0
    assert ev("MAX(a)", a=A) == 4.0
    assert ev("STDDEV(a)", a=A) == math.sqrt(1.25)  # population: mean 2.5, squares 2.25+.25+.25+2.25
    assert ev("DATAPOINT_COUNT(m2)", m2=M2) == 2.0
    assert ev("a - AVG(a)", a=A).vals == [-1.5, -0.5, 0.5, 1.5]
    assert ev("SUM(e)", e=ts()) == 0.0 and math.isnan(ev("AVG(e)", e=ts()))


def test_aggregates_of_arrays_are_series():
    # m1 [30, 20, 0, 0], m2 [20, -, 20, -]
    env = dict(m1=M1, m2=M2)
    assert ev("SUM(METRICS())", **env).vals == [50, 20, 20, 0]
    assert ev("AVG([m1, m2])", **env).vals == [25, 10, 10, 0]  # a missing value counts as 0
    assert ev("MIN(METRICS())", **env).vals == [20, 20, 0, 0]
    assert ev("MAX(METRICS())", **env).vals == [30, 20, 20, 0]
    assert ev("STDDEV(METRICS())", **env).vals == [5, 0, 10, 0]
    assert ev("DATAPOINT_COUNT(METRICS())", **env).vals == [2, 1, 2, 1]
    assert ev("SUM(METRICS('zzz'))", **env).ts == []


def test_diff_diff_time_rate_running_sum():
    s = ts((0, 1), (60, 4), (180, 10))
    assert pts(ev("DIFF(s)", s=s)) == [(60, 3), (180, 6)]
    assert pts(ev("DIFF_TIME(s)", s=s)) == [(60, 60), (180, 120)]
    assert pts(ev("RATE(s)", s=s)) == [(60, 0.05), (180, 0.05)]
    assert pts(ev("RUNNING_SUM(s)", s=s)) == [(0, 1), (60, 5), (180, 15)]
    assert [x.vals for x in ev("RUNNING_SUM([a, b])", a=A, b=B)] == [[1, 3, 6, 10], [10, 30, 60, 100]]


def test_fill_value_series_repeat_linear():
    s = ts((60, 2), (240, 8))  # grid 0..240: -, 2, -, -, 8
    assert pts(ev("FILL(s, 0)", s=s)) == [(0, 0), (60, 2), (120, 0), (180, 0), (240, 8)]
    assert pts(ev("FILL(s, REPEAT)", s=s)) == [(60, 2), (120, 2), (180, 2), (240, 8)]
    assert pts(ev("FILL(s, LINEAR)", s=s)) == [(60, 2), (120, 4), (180, 6), (240, 8)]
    f = ts((0, 7), (120, 9))
    assert pts(ev("FILL(s, f)", s=s, f=f)) == [(0, 7), (60, 2), (120, 9), (240, 8)]
    assert pts(ev("FILL(s, MIN(s))", s=s)) == [(0, 2), (60, 2), (120, 2), (180, 2), (240, 8)]
    out = ev("FILL(METRICS(), 1)", s=s, f=f)
    assert [x.vals for x in out] == [[1, 2, 1, 1, 8], [7, 1, 9, 1, 1]]
    with pytest.raises(MathError, match="for FILL"):
        ev("FILL(s, ASC)", s=s)


def test_if_as_documented():
    c = ts(1, 1, 0, 0)  # the fifth point is missing
    m2 = ts((0, 30), (120, 0), (180, 0), (240, 30))
    m3 = ts((0, 0), (60, 0), (120, 20), (240, 20))
    assert ev("IF(c, m2, m3)", c=c, m2=m2, m3=m3).vals == [30, 0, 20]
    assert ev("IF(c, 5, m3)", c=c, m3=m3).vals == [5, 5, 20]
    assert ev("IF(c, m2, 5)", c=c, m2=m2).vals == [30, 0, 5, 5]
    assert pts(ev("IF(c, m2)", c=c, m2=m2)) == [(0, 30), (60, 0)]
    assert ev("IF(a < 3, 10, 2)", a=A).vals == [10, 10, 2, 2]
    assert ev("IF(1, a, b)", a=A, b=B) is A
    assert ev("IF(0, a, b)", a=A, b=B) is B
    assert ev("IF(0, a)", a=A).ts == []
    with pytest.raises(MathError, match="for IF"):
        ev("IF(METRICS(), 1, 0)", a=A)


def test_time_functions_are_non_sparse_utc():
    # 2030-01-06 is a Sunday: grid 23:58, 23:59 Sunday, 00:00 Monday 2030-01-07
    base = 1893974280.0  # 2030-01-06T23:58:00Z
    s = Series([base], [1.0], "s", 60)

    class Late(Ctx):
        def grid(self, period):
            return [base, base + 60, base + 120]
    run = lambda e: mx.evaluate(mx.parse(e), Late(s=s)).vals  # noqa: E731
    assert run("MINUTE(s)") == [58, 59, 0]
    assert run("HOUR(s)") == [23, 23, 0]
    assert run("DAY(s)") == [7, 7, 1]
    assert run("DATE(s)") == [6, 6, 7]
    assert run("MONTH(s)") == [1, 1, 1]
    assert run("YEAR(s)") == [2030, 2030, 2030]
    assert run("EPOCH(s)") == [base, base + 60, base + 120]


def test_time_series_and_period():
    assert pts(ev("TIME_SERIES(5)", period=120)) == [(0, 5), (120, 5), (240, 5)]
    assert ev("TIME_SERIES(MAX(a))", a=A, period=60).vals == [4, 4, 4, 4, 4]
    with pytest.raises(MathError, match="Period must be specified"):
        ev("TIME_SERIES(5)")
    assert ev("PERIOD(a)", a=A) == 60.0
    assert ev("a / PERIOD(a)", a=ts(60, 120)).vals == [1, 2]
    with pytest.raises(MathError, match="for PERIOD"):
        ev("PERIOD(5)")


# -- functions of arrays -------------------------------------------------------------------

def test_metrics_and_metric_count():
    env = dict(errors4xx=A, errors5xx=B, requests=M1)
    assert ev("METRICS()", **env) == [A, B, M1]
    assert ev("METRICS('errors')", **env) == [A, B]
    assert ev('[METRICS("4xx"), METRICS("5xx")]', **env) == [A, B]
    assert ev("METRIC_COUNT(METRICS('errors'))", **env) == 2.0


def test_first_last_remove_empty():
    e = ts()
    assert ev("FIRST([a, b])", a=A, b=B) is A
    assert ev("LAST([a, b])", a=A, b=B) is B
    assert ev("REMOVE_EMPTY([e, a, e])", a=A, e=e) == [A]
    with pytest.raises(MathError, match="for FIRST"):
        ev("FIRST(a)", a=A)


def test_sort_every_function_and_limit():
    x, y, z = ts(1, 9, label="x"), ts(4, 4, label="y"), ts(0, 5, 0, 5, label="z")  # sums 10 8 10
    env = dict(x=x, y=y, z=z)
    labels = lambda e: [s.label for s in ev(e, **env)]  # noqa: E731
    assert labels("SORT(METRICS(), SUM, DESC)") == ["x", "z", "y"]  # ties keep their order
    assert labels("SORT(METRICS(), SUM, ASC)") == ["y", "x", "z"]
    assert labels("SORT(METRICS(), AVG, DESC)") == ["x", "y", "z"]  # 5, 4, 2.5
    assert labels("SORT(METRICS(), MIN, ASC)") == ["z", "x", "y"]  # 0, 1, 4
    assert labels("SORT(METRICS(), MAX, ASC)") == ["y", "z", "x"]  # 4, 5, 9
    assert labels("SORT(METRICS(), STDDEV, ASC)") == ["y", "z", "x"]  # 0, 2.5, 4
    assert labels("SORT(METRICS(), MAX, DESC, 2)") == ["x", "z"]
    with pytest.raises(MathError, match="for SORT"):
        ev("SORT(METRICS(), MEDIAN, ASC)", **env)


def test_slice():
    env = dict(x=ts(1, label="x"), y=ts(2, label="y"), z=ts(3, label="z"))
    assert [s.label for s in ev("SLICE(METRICS(), 1)", **env)] == ["y", "z"]
    assert [s.label for s in ev("SLICE(METRICS(), 0, 2)", **env)] == ["x", "y"]
    assert [s.label for s in ev("SLICE(SORT(METRICS(), SUM, DESC), 0, 1)", **env)] == ["z"]


def test_anomaly_detection_band_first_is_upper_last_is_lower():
    band = ev("ANOMALY_DETECTION_BAND(a, 3)", a=A)
    assert isinstance(band, Band) and [s.vals for s in band] == [[4, 5, 6, 7], [-2, -1, 0, 1]]
    assert ev("LAST(ANOMALY_DETECTION_BAND(a))", a=A).vals == [-1, 0, 1, 2]  # k defaults to 2
    assert ev("a > FIRST(ANOMALY_DETECTION_BAND(a, 1))", a=A).vals == [0, 0, 0, 0]
    with pytest.raises(MathError, match="for ANOMALY_DETECTION_BAND"):
        ev("ANOMALY_DETECTION_BAND(a * 2)", a=A)
    with pytest.raises(MathError, match="Unrecognized function ANOMALY_DETECTION_BAND"):
        mx.evaluate(mx.parse("ANOMALY_DETECTION_BAND(a)"), mx.Context())


# -- SEARCH ---------------------------------------------------------------------------------

CATALOG = [
    ("AWS/EC2", "CPUUtilization", [("InstanceId", "i-1")]),
    ("AWS/EC2", "CPUUtilization", [("InstanceId", "i-2"), ("InstanceType", "t2.micro")]),
    ("AWS/EC2", "NetworkPacketsIn", [("InstanceId", "i-1")]),
    ("App", "CustomCount1", []),
    ("App", "Network-Errors-2", [("Project", "ProjectA")]),
    ("App", "ReadOps", [("Project", "ProjectB")]),
]


def found(text):
    return mx.search_matches(mx.parse_search(text), CATALOG)


def test_tokens_as_documented():
    assert mx.subtokens("CustomCount1") == ["custom", "count", "1"]
    assert mx.subtokens("SDBFailure") == ["sdb", "failure"]
    assert mx.subtokens("Project2-trial333") == ["project", "2", "trial", "333"]
    for term in ("count", "Count", "COUNT", "CustomCount", "Count1", "customcount1"):
        assert mx.partial_match(term, "CustomCount1"), term
    for term in ("couNT", "customcount", "count1"):
        assert not mx.partial_match(term, "CustomCount1"), term
    for term in ("network/errors", "network+errors", "network-errors", "Network_Errors"):
        assert mx.partial_match(term, "Network-Errors-2") and mx.partial_match(term, "NetworkErrors2")


def test_search_schema_exact_partial_designators_and_booleans():
    assert found('{AWS/EC2,InstanceId} MetricName="CPUUtilization"') == [0]  # exactly those dimension names
    assert found('{AWS/EC2, InstanceId, InstanceType}') == [1]
    assert found('"CPUUtilization"') == [0, 1]
    assert found('"cpuutilization"') == []
    assert found("cpu") == [0, 1]
    assert found("InstanceType=micro") == [1]
    assert found('InstanceType="t2.micro" Namespace="AWS/EC2"') == [1]
    assert found("{AWS/EC2,InstanceId} network AND packets") == [2]
    assert found("{AWS/EC2,InstanceId} network packets") == [2]
    assert found('MetricName="CPUUtilization" NOT i-1') == [1]
    assert found("NOT Namespace=AWS") == [3, 4, 5]
    assert found('MetricName="ReadOps" OR (MetricName="CustomCount1" AND (ProjectA OR ProjectB))') == [5]
    assert found('(ProjectA OR ProjectB) AND Network') == [4]
    assert found('{App}, "CustomCount1"') == [3]
    with pytest.raises(MathError):
        mx.parse_search("")
    with pytest.raises(MathError):
        mx.parse_search("(a OR b")


# -- labels ---------------------------------------------------------------------------------

def test_dynamic_labels_and_timezone():
    t, v = [1893456000.0, 1893456060.0], [2.0, 5.5]  # 2030-01-01T00:00:00Z
    label = "x ${MIN} ${MAX} ${SUM} ${AVG} ${DATAPOINT_COUNT} ${FIRST} ${LAST} ${MAX_MIN_RANGE} ${NOPE}"
    assert mx.dynamic_label(label, t, v) == "x 2 5.5 7.5 3.75 2 2 5.5 3.5 ${NOPE}"
    assert mx.dynamic_label("${FIRST_TIME}/${LAST_TIME}", t, v) == "2030-01-01T00:00:00Z/2030-01-01T00:01:00Z"
    assert mx.dynamic_label("${LAST_TIME}", t, v, "-0130") == "2029-12-31T22:31:00-01:30"
