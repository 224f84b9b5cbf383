"""Metric-alarm evaluation (cloudlet.services.cloudwatch.evaluation).

The tables are AWS's, row by row: CloudWatch User Guide, "Configuring how
CloudWatch alarms treat missing data" ("How alarm state is evaluated when
data is missing"): the 3-of-3 and the 2-of-3 table, evaluation range 5,
period 5 minutes, data points written oldest to newest ("0" not breaching,
"X" breaching, "-" missing). Then the rows the page carried in 2019-2021
(awsdocs/amazon-cloudwatch-user-guide, doc_source/AlarmThatSendsEmail.md)
and no longer shows. "Retain current state" is checked from each state.

The reason tests rebuild StateReason / StateReasonData that AWS wrote
(quoted in public repositories, SNS messages and EventBridge events) from the
same alarm settings and datapoints, and compare the exact text.
"""

from __future__ import annotations

import calendar
import time

import pytest

from cloudlet.services.cloudwatch.evaluation import (
    AlarmSpec,
    Point,
    evaluate,
    evaluation_window,
    format_number,
    low_sample_minimum,
)

STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
RETAIN = "Retain current state"
COLUMNS = ("MISSING", "IGNORE", "BREACHING", "NOT BREACHING")
TREAT = {"MISSING": "missing", "IGNORE": "ignore", "BREACHING": "breaching", "NOT BREACHING": "notBreaching"}


def at(text: str) -> float:
    """'2030-01-01 00:05:12.345' (UTC) as epoch seconds."""
    whole, _, frac = text.partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%d %H:%M:%S")) + (float("0." + frac) if frac else 0.0)


# -- AWS's tables -----------------------------------------------------------------

# (data points, # of data points that must be filled, MISSING, IGNORE, BREACHING, NOT BREACHING)
TABLE_3_OF_3 = [
    ("0 - X - X", 0, "OK", "OK", "OK", "OK"),
    ("0 - - - -", 2, "OK", "OK", "OK", "OK"),
    ("- - - - -", 3, "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
    ("0 X X - X", 0, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("- - X - -", 2, "ALARM", RETAIN, "ALARM", "OK"),
]
TABLE_2_OF_3 = [
    ("0 - X - X", 0, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 0 X 0 X", 0, "ALARM", "ALARM", "ALARM", "ALARM"),
    ("0 - X - -", 1, "OK", "OK", "ALARM", "OK"),
    ("- - - - 0", 2, "OK", "OK", "ALARM", "OK"),
    ("- - - X -", 2, "ALARM", RETAIN, "ALARM", "OK"),
]
# Rows of the 2019-2021 page that the current one dropped.
OLD_3_OF_3 = [
    ("- - - - X", 2, "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
    ("X - - - -", 2, "ALARM", RETAIN, "ALARM", "OK"),
]
OLD_2_OF_3 = [
    ("- - - - X", 2, "INSUFFICIENT_DATA", RETAIN, "ALARM", "OK"),
]


def _cases():
    for name, m, table in (("3 of 3", 3, TABLE_3_OF_3), ("2 of 3", 2, TABLE_2_OF_3),
                           ("3 of 3, 2019 page", 3, OLD_3_OF_3), ("2 of 3, 2019 page", 2, OLD_2_OF_3)):
        for row, fill, *results in table:
            for column, expected in zip(COLUMNS, results):
                yield pytest.param(m, row, fill, column, expected, id=f"{name} | {row} | {column} -> {expected}")


TABLE_NOW = at("2030-01-01 00:30:12.345")


def _table_points(row: str) -> list[Point]:
    end = at("2030-01-01 00:30:00")
    marks = row.split()
    assert len(marks) == 5  # the evaluation range
    points = []
    for i, mark in enumerate(marks):  # oldest first, newest on the right
        age = len(marks) - 1 - i
        if mark != "-":
            points.append(Point(ts=end - (age + 1) * 300, value=5.0 if mark == "X" else 0.0, sample_count=1.0))
    return points


@pytest.mark.parametrize("m, row, fill, column, expected", list(_cases()))
def test_treat_missing_data_table(m, row, fill, column, expected):
    spec = AlarmSpec(period=300, evaluation_periods=3, datapoints_to_alarm=m, comparison="GreaterThanThreshold",
                     threshold=1.0, treat_missing=TREAT[column])
    for current in STATES:
        outcome = evaluate(spec, _table_points(row), TABLE_NOW, current)
        if expected == RETAIN:
            assert outcome is None
        else:
            assert outcome is not None and outcome.state == expected
            if column == "BREACHING":  # column 2: how many periods were filled in
                if fill:
                    assert f"{fill} missing datapoint" in outcome.reason
                    assert "treated as [Breaching]" in outcome.reason
                else:
                    assert "treated as" not in outcome.reason


def test_premature_alarm_examples():
    # "Avoiding premature transitions to alarm state": with 3 of 3 the alarm does not go to ALARM on
    # "- - - - X" or "- - - X -"; it does on "- - X - -".
    spec = AlarmSpec(period=300, evaluation_periods=3, datapoints_to_alarm=3, comparison="GreaterThanThreshold",
                     threshold=1.0)
    assert evaluate(spec, _table_points("- - - - X"), TABLE_NOW, "OK").state == "INSUFFICIENT_DATA"
    assert evaluate(spec, _table_points("- - - X -"), TABLE_NOW, "OK").state == "INSUFFICIENT_DATA"
    assert evaluate(spec, _table_points("- - X - -"), TABLE_NOW, "OK").state == "ALARM"
    # "... false positives are avoided when the next data point is non-breaching": "- - - X 0", "- - X - 0"
    assert evaluate(spec, _table_points("- - - X 0"), TABLE_NOW, "OK").state == "OK"
    assert evaluate(spec, _table_points("- - X - 0"), TABLE_NOW, "OK").state == "OK"
    # Second row: "The next time this alarm is evaluated, if the data is still missing it will go to ALARM, as
    # that non-breaching data point will no longer be in the evaluation range."
    breaching = AlarmSpec(period=300, evaluation_periods=3, datapoints_to_alarm=3,
                          comparison="GreaterThanThreshold", threshold=1.0, treat_missing="breaching")
    row2 = _table_points("0 - - - -")
    assert evaluate(breaching, row2, TABLE_NOW, "OK").state == "OK"
    assert evaluate(breaching, row2, TABLE_NOW + 300, "OK").state == "ALARM"


# -- the window ----------------------------------------------------------------------


def test_window_is_the_evaluation_range_of_whole_minute_aligned_periods():
    spec = AlarmSpec(period=60, evaluation_periods=3, datapoints_to_alarm=3, comparison="GreaterThanThreshold",
                     threshold=1.0)
    assert evaluation_window(spec, at("2030-01-01 00:05:12.345")) == (at("2030-01-01 00:00:00"),
                                                                       at("2030-01-01 00:05:00"))
    # Periods are aligned to the evaluation minute, not to multiples of the period (a 300 s alarm evaluated
    # at 17:07:38 reported the datapoint of 17:02:00).
    five = AlarmSpec(period=300, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanThreshold",
                     threshold=3.0)
    assert evaluation_window(five, at("2026-01-17 17:07:38.154")) == (at("2026-01-17 16:52:00"),
                                                                       at("2026-01-17 17:07:00"))
    ten = AlarmSpec(period=10, evaluation_periods=2, datapoints_to_alarm=2, comparison="GreaterThanThreshold",
                    threshold=1.0)
    assert evaluation_window(ten, at("2030-01-01 00:00:37.5")) == (at("2029-12-31 23:59:50"),
                                                                    at("2030-01-01 00:00:30"))


def test_period_in_progress_and_points_outside_the_range_are_not_evaluated():
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanThreshold",
                     threshold=1.0)
    now = at("2030-01-01 00:05:12")
    in_progress = Point(at("2030-01-01 00:05:00"), 9.0, 1.0)
    too_old = Point(at("2030-01-01 00:01:00"), 9.0, 1.0)  # the range is 00:02 .. 00:05
    assert evaluate(spec, [in_progress, too_old], now, "OK").state == "INSUFFICIENT_DATA"
    oldest_in_range = Point(at("2030-01-01 00:02:00"), 9.0, 1.0)
    assert evaluate(spec, [in_progress, oldest_in_range], now, "OK").state == "ALARM"


def test_m_out_of_n_counts_breaches_among_the_most_recent_real_datapoints():
    spec = AlarmSpec(period=60, evaluation_periods=5, datapoints_to_alarm=3, comparison="GreaterThanThreshold",
                     threshold=10.0)
    end = at("2030-01-01 01:00:00")

    def run(values):  # oldest first, one per minute up to `end`
        points = [Point(end - (len(values) - i) * 60, v, 1.0) for i, v in enumerate(values) if v is not None]
        return evaluate(spec, points, end + 5, "OK").state

    assert run([12, 1, 12, 1, 12]) == "ALARM"  # not consecutive
    assert run([12, 1, 1, 1, 12]) == "OK"
    # 7 periods of range, 5 evaluated: breaches older than the 5 most recent real datapoints do not count
    assert run([12, 12, 1, 1, 1, 12, 12]) == "OK"
    # the most recent periods missing: older real datapoints of the range stand in for them
    assert run([12, 12, 12, 1, 1, None, None]) == "ALARM"


def test_datapoints_to_alarm_is_clamped_to_evaluation_periods():
    spec = AlarmSpec(period=60, evaluation_periods=2, datapoints_to_alarm=0, comparison="LessThanThreshold",
                     threshold=0.0)
    end = at("2030-01-01 01:00:00")
    points = [Point(end - 60, -1.0), Point(end - 120, 3.0)]
    assert evaluate(spec, points, end, "OK").state == "OK"  # M = N = 2


def test_ignore_keeps_the_state_when_everything_is_missing():
    spec = AlarmSpec(period=60, evaluation_periods=2, datapoints_to_alarm=2, comparison="GreaterThanThreshold",
                     threshold=1.0, treat_missing="ignore")
    for state in STATES:
        assert evaluate(spec, [], at("2030-01-01 00:05:00"), state) is None


# -- band alarms ------------------------------------------------------------------------


@pytest.mark.parametrize("comparison, value, breaches", [
    ("LessThanLowerOrGreaterThanUpperThreshold", 1.0, True),
    ("LessThanLowerOrGreaterThanUpperThreshold", 5.0, False),
    ("LessThanLowerOrGreaterThanUpperThreshold", 9.0, True),
    ("LessThanLowerThreshold", 1.0, True),
    ("LessThanLowerThreshold", 9.0, False),
    ("GreaterThanUpperThreshold", 9.0, True),
    ("GreaterThanUpperThreshold", 1.0, False),
    ("LessThanLowerOrGreaterThanUpperThreshold", 2.0, False),  # on the band's edge: inside
])
def test_band_comparisons(comparison, value, breaches):
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1, comparison=comparison,
                     threshold=None, statistic=None)
    now = at("2030-01-01 00:05:12")
    point = Point(at("2030-01-01 00:04:00"), value, 1.0, lower=2.0, upper=8.0)
    assert evaluate(spec, [point], now, "OK").state == ("ALARM" if breaches else "OK")


def test_band_period_without_a_band_point_is_missing():
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1,
                     comparison="LessThanLowerOrGreaterThanUpperThreshold", threshold=None, statistic=None)
    point = Point(at("2030-01-01 00:04:00"), 100.0, 1.0)
    assert evaluate(spec, [point], at("2030-01-01 00:05:12"), "OK").state == "INSUFFICIENT_DATA"


# -- low-sample percentiles ---------------------------------------------------------------


def test_low_sample_minimum():
    # "fewer than 10/(1-percentile) ... fewer than 1000 samples for an alarm on a p99 percentile.
    # For percentiles between 0 and 0.5, the setting is used when there are fewer than 10/percentile."
    assert low_sample_minimum("p99") == pytest.approx(1000)
    assert low_sample_minimum("p90") == pytest.approx(100)
    assert low_sample_minimum("p50") == pytest.approx(20)
    assert low_sample_minimum("p10") == pytest.approx(100)
    assert low_sample_minimum("p99.9") == pytest.approx(10000)
    assert low_sample_minimum("Average") is None
    assert low_sample_minimum("tm99") is None
    assert low_sample_minimum(None) is None


@pytest.mark.parametrize("setting, samples, expected", [
    ("ignore", 999, None),
    ("ignore", 1000, "ALARM"),
    ("evaluate", 5, "ALARM"),
    (None, 5, "ALARM"),
])
def test_low_sample_percentile(setting, samples, expected):
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanThreshold",
                     threshold=1.0, statistic="p99", evaluate_low_sample_count_percentile=setting)
    point = Point(at("2030-01-01 00:04:00"), 5.0, float(samples))
    outcome = evaluate(spec, [point], at("2030-01-01 00:05:12"), "OK")
    assert (outcome.state if outcome else None) == expected


def test_low_sample_ignore_applies_to_percentiles_only():
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanThreshold",
                     threshold=1.0, statistic="Average", evaluate_low_sample_count_percentile="ignore")
    point = Point(at("2030-01-01 00:04:00"), 5.0, 1.0)
    assert evaluate(spec, [point], at("2030-01-01 00:05:12"), "OK").state == "ALARM"


# -- StateReason / StateReasonData --------------------------------------------------------


@pytest.mark.parametrize("x, text", [
    (1.0, "1.0"), (0.0, "0.0"), (0.005, "0.005"), (40000.0, "40000.0"), (-2.0, "-2.0"),
    (99.50160229693434, "99.50160229693434"), (0.001, "0.001"), (1e7, "1.0E7"), (1.5e-4, "1.5E-4"),
    (12345678.9, "1.23456789E7"), (9999999.0, "9999999.0"), (-3.25e-9, "-3.25E-9"),
])
def test_numbers_are_written_as_java_doubles(x, text):
    assert format_number(x) == text


def test_reason_one_datapoint():
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1,
                     comparison="GreaterThanOrEqualToThreshold", threshold=1.0)
    out = evaluate(spec, [Point(at("2030-01-01 00:04:00"), 5.0, 1.0)], at("2030-01-01 00:05:12.345"), "OK")
    assert out.state == "ALARM"
    assert out.reason == ("Threshold Crossed: 1 datapoint [5.0 (01/01/30 00:04:00)] was greater than or equal to "
                          "the threshold (1.0).")
    assert out.reason_data == {
        "version": "1.0", "queryDate": "2030-01-01T00:05:12.345+0000", "startDate": "2030-01-01T00:04:00.000+0000",
        "statistic": "Average", "period": 60, "recentDatapoints": [5.0], "threshold": 1.0,
        "evaluatedDatapoints": [{"timestamp": "2030-01-01T00:04:00.000+0000", "sampleCount": 1.0, "value": 5.0}]}
    assert list(out.reason_data) == ["version", "queryDate", "startDate", "statistic", "period",
                                     "recentDatapoints", "threshold", "evaluatedDatapoints"]


def test_reason_m_out_of_n():
    spec = AlarmSpec(period=60, evaluation_periods=5, datapoints_to_alarm=3, comparison="GreaterThanThreshold",
                     threshold=10.0, datapoints_to_alarm_given=True)
    end = at("2030-01-01 00:05:00")
    values = [12.0, 3.0, 14.0, 2.0, 16.0]  # 00:00 .. 00:04
    points = [Point(end - (5 - i) * 60, v, 1.0) for i, v in enumerate(values)]
    out = evaluate(spec, points, end + 12.345, "OK")
    assert out.state == "ALARM"
    assert out.reason == ("Threshold Crossed: 3 out of the last 5 datapoints [16.0 (01/01/30 00:04:00), "
                          "14.0 (01/01/30 00:02:00), 12.0 (01/01/30 00:00:00)] were greater than the threshold "
                          "(10.0) (minimum 3 datapoints for OK -> ALARM transition).")
    assert out.reason_data["recentDatapoints"] == values
    assert out.reason_data["startDate"] == "2030-01-01T00:00:00.000+0000"
    points[0].value = 1.0  # now 2 breaching of 5: OK needs N - M + 1 = 3 non-breaching
    out = evaluate(spec, points, end + 12.345, "ALARM")
    assert out.reason == ("Threshold Crossed: 3 out of the last 5 datapoints [2.0 (01/01/30 00:03:00), "
                          "3.0 (01/01/30 00:01:00), 1.0 (01/01/30 00:00:00)] were not greater than the threshold "
                          "(10.0) (minimum 3 datapoints for ALARM -> OK transition).")


def test_reason_3_of_3_then_ok_as_aws_wrote_them():
    # "Threshold Crossed: 3 out of the last 3 datapoints [0.01 (17/07/26 04:04:00), 0.01 (17/07/26 03:59:00),
    # 0.01 (17/07/26 03:54:00)] were greater than the threshold (0.005) (minimum 3 datapoints for OK -> ALARM
    # transition)." then "... 2 out of the last 3 datapoints [0.002 (17/07/26 04:13:00), 0.002 (17/07/26
    # 04:08:00)] were not greater than the threshold (0.005) (minimum 1 datapoint for ALARM -> OK transition)."
    spec = AlarmSpec(period=300, evaluation_periods=3, datapoints_to_alarm=3, comparison="GreaterThanThreshold",
                     threshold=0.005, datapoints_to_alarm_given=True)
    up = [Point(at(f"2026-07-17 {t}"), 0.01, 1.0) for t in ("03:54:00", "03:59:00", "04:04:00")]
    out = evaluate(spec, up, at("2026-07-17 04:09:08"), "OK")
    assert out.reason == ("Threshold Crossed: 3 out of the last 3 datapoints [0.01 (17/07/26 04:04:00), 0.01 "
                          "(17/07/26 03:59:00), 0.01 (17/07/26 03:54:00)] were greater than the threshold (0.005) "
                          "(minimum 3 datapoints for OK -> ALARM transition).")
    down = [Point(at("2026-07-17 04:03:00"), 0.01, 1.0), Point(at("2026-07-17 04:08:00"), 0.002, 1.0),
            Point(at("2026-07-17 04:13:00"), 0.002, 1.0)]
    out = evaluate(spec, down, at("2026-07-17 04:18:08"), "ALARM")
    assert out.state == "OK"
    assert out.reason == ("Threshold Crossed: 2 out of the last 3 datapoints [0.002 (17/07/26 04:13:00), 0.002 "
                          "(17/07/26 04:08:00)] were not greater than the threshold (0.005) (minimum 1 datapoint "
                          "for ALARM -> OK transition).")


def test_reason_and_data_of_an_ok_2_of_2_with_the_newest_period_missing():
    # EventBridge event, 2021-04-13: the 16:05 period is missing, 16:04 and 16:03 come from the range.
    spec = AlarmSpec(period=60, evaluation_periods=2, datapoints_to_alarm=2, comparison="GreaterThanThreshold",
                     threshold=40.0, datapoints_to_alarm_given=True)
    points = [Point(at("2021-04-13 16:03:00"), 0.01575357001274824, 1.0),
              Point(at("2021-04-13 16:04:00"), 0.01758096118768056, 1.0)]
    out = evaluate(spec, points, at("2021-04-13 16:06:38.066"), "ALARM")
    assert out.state == "OK"
    assert out.reason == ("Threshold Crossed: 2 out of the last 2 datapoints [0.01758096118768056 (13/04/21 "
                          "16:04:00), 0.01575357001274824 (13/04/21 16:03:00)] were not greater than the threshold "
                          "(40.0) (minimum 1 datapoint for ALARM -> OK transition).")
    assert out.reason_data == {
        "version": "1.0", "queryDate": "2021-04-13T16:06:38.066+0000", "startDate": "2021-04-13T16:03:00.000+0000",
        "statistic": "Average", "period": 60, "recentDatapoints": [0.01575357001274824, 0.01758096118768056],
        "threshold": 40.0, "evaluatedDatapoints": [
            {"timestamp": "2021-04-13T16:04:00.000+0000", "sampleCount": 1.0, "value": 0.01758096118768056}]}


def test_reason_of_two_datapoints_without_datapoints_to_alarm():
    # "Threshold Crossed: 2 datapoints [99.97497497497497 (07/09/26 06:14:00), 65.61771561771562 (07/09/26
    # 06:13:00)] were greater than the threshold (40.0)." recentDatapoints [65.61771561771562,99.97497497497497]
    spec = AlarmSpec(period=60, evaluation_periods=2, datapoints_to_alarm=2, comparison="GreaterThanThreshold",
                     threshold=40.0)
    points = [Point(at("2026-09-07 06:13:00"), 65.61771561771562, 1.0),
              Point(at("2026-09-07 06:14:00"), 99.97497497497497, 1.0)]
    out = evaluate(spec, points, at("2026-09-07 06:15:02.213"), "OK")
    assert out.reason == ("Threshold Crossed: 2 datapoints [99.97497497497497 (07/09/26 06:14:00), "
                          "65.61771561771562 (07/09/26 06:13:00)] were greater than the threshold (40.0).")
    assert out.reason_data["queryDate"] == "2026-09-07T06:15:02.213+0000"
    assert out.reason_data["startDate"] == "2026-09-07T06:13:00.000+0000"
    assert out.reason_data["recentDatapoints"] == [65.61771561771562, 99.97497497497497]


def test_reason_data_with_a_unit():
    # 'Threshold Crossed: 1 datapoint [0.0 (07/04/23 09:08:00)] was not greater than or equal to the threshold
    # (1.0).' with StateReasonData as DescribeAlarms returned it.
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1,
                     comparison="GreaterThanOrEqualToThreshold", threshold=1.0, statistic="Minimum", unit="Count")
    out = evaluate(spec, [Point(at("2023-04-07 09:08:00"), 0.0, 1.0)], at("2023-04-07 09:09:15.917"), "ALARM")
    assert out.state == "OK"
    assert out.reason == ("Threshold Crossed: 1 datapoint [0.0 (07/04/23 09:08:00)] was not greater than or equal "
                          "to the threshold (1.0).")
    assert out.reason_data == {
        "version": "1.0", "queryDate": "2023-04-07T09:09:15.917+0000", "startDate": "2023-04-07T09:08:00.000+0000",
        "unit": "Count", "statistic": "Minimum", "period": 60, "recentDatapoints": [0.0], "threshold": 1.0,
        "evaluatedDatapoints": [{"timestamp": "2023-04-07T09:08:00.000+0000", "sampleCount": 1.0, "value": 0.0}]}
    assert list(out.reason_data)[:6] == ["version", "queryDate", "startDate", "unit", "statistic", "period"]


def test_reason_insufficient_data():
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanThreshold",
                     threshold=1.0)
    assert evaluate(spec, [], at("2030-01-01 00:05:12"), "OK").reason == "Insufficient Data: 1 datapoint was unknown."
    # EventBridge event, 2023-08-04: "Insufficient Data: 5 datapoints were unknown." and its reason data.
    five = AlarmSpec(period=60, evaluation_periods=5, datapoints_to_alarm=5, comparison="GreaterThanThreshold",
                     threshold=5.0)
    out = evaluate(five, [], at("2023-08-04 12:31:29.591"), "OK")
    assert out.state == "INSUFFICIENT_DATA"
    assert out.reason == "Insufficient Data: 5 datapoints were unknown."
    assert out.reason_data == {
        "version": "1.0", "queryDate": "2023-08-04T12:31:29.591+0000", "statistic": "Average", "period": 60,
        "recentDatapoints": [], "threshold": 5.0,
        "evaluatedDatapoints": [{"timestamp": f"2023-08-04T12:{m}:00.000+0000"} for m in (30, 29, 28, 27, 26)]}


@pytest.mark.parametrize("treat, n, state, reason", [
    ("breaching", 1, "ALARM", ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
                              "was treated as [Breaching].")),
    ("breaching", 8, "ALARM", ("Threshold Crossed: no datapoints were received for 8 periods and 8 missing "
                              "datapoints were treated as [Breaching].")),
    ("notBreaching", 1, "OK", ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint "
                              "was treated as [NonBreaching].")),
    ("notBreaching", 2, "OK", ("Threshold Crossed: no datapoints were received for 2 periods and 2 missing "
                              "datapoints were treated as [NonBreaching].")),
])
def test_reason_no_datapoints_filled(treat, n, state, reason):
    spec = AlarmSpec(period=60, evaluation_periods=n, datapoints_to_alarm=n, comparison="GreaterThanThreshold",
                     threshold=1.0, treat_missing=treat)
    out = evaluate(spec, [], at("2017-12-06 02:07:44.354"), "OK")
    assert (out.state, out.reason) == (state, reason)
    assert out.reason_data["recentDatapoints"] == [] and "startDate" not in out.reason_data


def test_reason_real_datapoint_and_filled_ones():
    # A 900 s, 8 of 8 alarm treating missing data as breaching went back to OK at 09:51:49 with "Threshold
    # Crossed: 1 datapoint [2.0 (19/08/26 09:36:00)] was not less than or equal to the threshold (0.0) and 7
    # missing datapoints were treated as [Breaching]."
    spec = AlarmSpec(period=900, evaluation_periods=8, datapoints_to_alarm=8,
                     comparison="LessThanOrEqualToThreshold", threshold=0.0, statistic="Sum", treat_missing="breaching")
    out = evaluate(spec, [Point(at("2026-08-19 09:36:00"), 2.0, 2.0)], at("2026-08-19 09:51:49.318"), "ALARM")
    assert out.state == "OK"
    assert out.reason == ("Threshold Crossed: 1 datapoint [2.0 (19/08/26 09:36:00)] was not less than or equal to "
                          "the threshold (0.0) and 7 missing datapoints were treated as [Breaching].")


def test_range_of_that_900s_alarm():
    # Same alarm: last datapoint at 05:43:53; ALARM ("no datapoints were received for 8 periods") at the
    # evaluation of 08:14:49, so not at 08:13: a range of N + 2 = 10 periods.
    spec = AlarmSpec(period=900, evaluation_periods=8, datapoints_to_alarm=8,
                     comparison="LessThanOrEqualToThreshold", threshold=0.0, statistic="Sum", treat_missing="breaching")
    now = at("2026-08-19 08:14:49.319")
    start, end = evaluation_window(spec, now)
    assert (start, end) == (at("2026-08-19 05:44:00"), at("2026-08-19 08:14:00"))
    last = Point(at("2026-08-19 05:43:00"), 1.0, 1.0)  # the period holding 05:43:53
    assert evaluate(spec, [last], now - 60, "OK").state == "OK"
    out = evaluate(spec, [last], now, "OK")
    assert (out.state, out.reason) == ("ALARM", ("Threshold Crossed: no datapoints were received for 8 periods and "
                                                "8 missing datapoints were treated as [Breaching]."))


def test_reason_m_of_n_with_filled_datapoints():
    # "Threshold Crossed: 1 out of the last 20 datapoints [613.0 (16/03/24 12:15:00)] was greater than or equal to
    # the threshold (1.0) and 19 missing datapoints were treated as [NonBreaching] (minimum 1 datapoint for OK ->
    # ALARM transition)."
    spec = AlarmSpec(period=60, evaluation_periods=20, datapoints_to_alarm=1,
                     comparison="GreaterThanOrEqualToThreshold", threshold=1.0, statistic="Sum",
                     treat_missing="notBreaching", datapoints_to_alarm_given=True)
    out = evaluate(spec, [Point(at("2024-03-16 12:15:00"), 613.0, 613.0)], at("2024-03-16 12:16:45.770"), "OK")
    assert out.reason == ("Threshold Crossed: 1 out of the last 20 datapoints [613.0 (16/03/24 12:15:00)] was "
                          "greater than or equal to the threshold (1.0) and 19 missing datapoints were treated as "
                          "[NonBreaching] (minimum 1 datapoint for OK -> ALARM transition).")


def test_reason_when_only_filled_datapoints_breach():
    # "1 datapoint was received for 3 periods and 2 missing datapoints were treated as [Breaching]" (2 of 3)
    spec = AlarmSpec(period=60, evaluation_periods=3, datapoints_to_alarm=2, comparison="GreaterThanThreshold",
                     threshold=0.0, treat_missing="breaching")
    out = evaluate(spec, [Point(at("2030-01-01 00:04:00"), 0.0, 1.0)], at("2030-01-01 00:05:01"), "OK")
    assert out.state == "ALARM"
    assert out.reason == ("Threshold Crossed: 1 datapoint was received for 3 periods and 2 missing datapoints were "
                          "treated as [Breaching].")


def test_reason_band_alarm():
    # EventBridge "State Change for an Anomaly Detection Alarm" (2019-10-03).
    spec = AlarmSpec(period=60, evaluation_periods=1, datapoints_to_alarm=1,
                     comparison="LessThanLowerOrGreaterThanUpperThreshold", threshold=None, statistic=None,
                     datapoints_to_alarm_given=True)
    point = Point(at("2019-10-03 15:58:00"), 0.0, 1.0, lower=0.020599444741798756, upper=0.3006915352732461)
    out = evaluate(spec, [point], at("2019-10-03 16:00:04.650"), "OK")
    assert out.state == "ALARM"
    assert out.reason == ("Thresholds Crossed: 1 out of the last 1 datapoints [0.0 (03/10/19 15:58:00)] was less "
                          "than the lower thresholds [0.020599444741798756] or greater than the upper thresholds "
                          "[0.3006915352732461] (minimum 1 datapoint for OK -> ALARM transition).")
    data = dict(out.reason_data)
    data.pop("evaluatedDatapoints")  # the 2019 event predates evaluatedDatapoints
    assert data == {"version": "1.0", "queryDate": "2019-10-03T16:00:04.650+0000",
                    "startDate": "2019-10-03T15:58:00.000+0000", "period": 60, "recentDatapoints": [0.0],
                    "recentLowerThresholds": [0.020599444741798756], "recentUpperThresholds": [0.3006915352732461]}
    # "Thresholds Crossed: 1 out of the last 1 datapoints [17.0 (24/05/23 11:15:00)] was greater than the upper
    # thresholds [15.981390464586445] (minimum 1 datapoint for OK -> ALARM transition)."
    above = AlarmSpec(period=300, evaluation_periods=1, datapoints_to_alarm=1, comparison="GreaterThanUpperThreshold",
                      threshold=None, statistic=None, datapoints_to_alarm_given=True)
    point = Point(at("2023-05-24 11:15:00"), 17.0, 17.0, lower=1.0, upper=15.981390464586445)
    out = evaluate(above, [point], at("2023-05-24 11:20:30"), "OK")
    assert out.reason == ("Thresholds Crossed: 1 out of the last 1 datapoints [17.0 (24/05/23 11:15:00)] was greater "
                          "than the upper thresholds [15.981390464586445] (minimum 1 datapoint for OK -> ALARM "
                          "transition).")


def test_premature_alarm_reason_lists_the_real_breaching_datapoints():
    spec = AlarmSpec(period=300, evaluation_periods=3, datapoints_to_alarm=3, comparison="GreaterThanThreshold",
                     threshold=1.0)
    out = evaluate(spec, _table_points("- - X - -"), TABLE_NOW, "OK")
    assert out.state == "ALARM"
    assert out.reason == "Threshold Crossed: 1 datapoint [5.0 (01/01/30 00:15:00)] was greater than the threshold (1.0)."
    out = evaluate(spec, _table_points("- - - - X"), TABLE_NOW, "OK")
    assert out.reason == "Insufficient Data: 2 datapoints were unknown."
    assert out.reason_data["recentDatapoints"] == [5.0]
