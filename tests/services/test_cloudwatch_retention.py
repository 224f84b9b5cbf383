"""CloudWatch's retention and roll-up on the virtual clock (retention.py,
an hourly job on whole clock hours): 1-second points merged into minutes
after 3 hours, minute rows into 5-minute rows after 15 days (raw points,
and so percentiles, gone), 5-minute rows into hours after 63 days, hours
deleted after 455 days; ListMetrics forgets metrics without data for two
weeks. Each boundary is checked one job run before and one after."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)  # a whole hour: jobs run at T0 + k hours
NS = "App/Retention"
HOUR = 3600
DAY = 86400


@pytest.fixture
def cw(cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    return cloudlet.client("cloudwatch")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def series(cw, name, start, end, period, stat) -> list[tuple[float, float]]:
    """[(seconds from T0, value)] ascending, from GetMetricStatistics."""
    kw = {"ExtendedStatistics": [stat]} if stat.startswith("p") else {"Statistics": [stat]}
    out = cw.get_metric_statistics(Namespace=NS, MetricName=name, StartTime=at(start), EndTime=at(end),
                                   Period=period, **kw)
    points = []
    for p in out["Datapoints"]:
        value = p["ExtendedStatistics"].get(stat) if stat.startswith("p") else p[stat]
        if value is not None:
            points.append(((p["Timestamp"] - T0).total_seconds(), value))
    return sorted(points)


def test_one_second_points_are_merged_into_minutes_after_three_hours(cw, cloudlet):
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Hi", "Timestamp": at(s), "Value": v, "StorageResolution": 1}
        for s, v in ((-2, 1.0), (-1, 3.0), (0, 5.0), (1, 7.0))])
    per_second = [(-2, 1.0), (-1, 3.0), (0, 5.0), (1, 7.0)]
    assert series(cw, "Hi", -60, 2, 1, "Sum") == per_second
    cloudlet.clock.advance(2 * HOUR)  # the job at T0+2h: nothing is 3 hours old
    assert series(cw, "Hi", -60, 2, 1, "Sum") == per_second
    cloudlet.clock.advance(HOUR)  # T0+3h: points before T0 are merged into their minute
    assert series(cw, "Hi", -60, 2, 1, "Sum") == [(-60, 4.0), (0, 5.0), (1, 7.0)]
    # Minutes (and their percentiles) are unchanged.
    assert series(cw, "Hi", -60, 60, 60, "Sum") == [(-60, 4.0), (0, 12.0)]
    assert series(cw, "Hi", -60, 60, 60, "p100") == [(-60, 3.0), (0, 7.0)]
    assert series(cw, "Hi", -60, 60, 60, "p50") == [(-60, 1.0), (0, 5.0)]
    cloudlet.clock.advance(HOUR)
    assert series(cw, "Hi", -60, 2, 1, "Sum") == [(-60, 4.0), (0, 12.0)]
    assert series(cw, "Hi", -60, 60, 60, "SampleCount") == [(-60, 2.0), (0, 2.0)]


def test_roll_up_to_five_minutes_hours_and_deletion(cw, cloudlet):
    # Two 5-minute windows: W1 = [B, B+300) ends at T0-14d+1h, W2 after it.
    h0 = -14 * DAY        # the hour holding W1
    b = h0 + 3300
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "Lat", "Timestamp": at(b), "Value": 1.0},
        {"MetricName": "Lat", "Timestamp": at(b + 60), "Value": 2.0},
        {"MetricName": "Lat", "Timestamp": at(b + 240), "Value": 4.0},
        {"MetricName": "Lat", "Timestamp": at(b + 300), "Value": 8.0},
        {"MetricName": "Lat", "Timestamp": at(b + 310), "Values": [10.0, 20.0]},
    ])
    minutes = [(b, 1.0), (b + 60, 2.0), (b + 240, 4.0), (b + 300, 38.0)]
    assert series(cw, "Lat", b, b + 600, 60, "Sum") == minutes
    assert series(cw, "Lat", b, b + 600, 60, "p100") == [(b, 1.0), (b + 60, 2.0), (b + 240, 4.0), (b + 300, 20.0)]

    # 15 days: the job at T0+24h leaves both windows (W1 ends 15 days minus an hour ago).
    cloudlet.clock.advance(24 * HOUR)
    assert series(cw, "Lat", b, b + 600, 60, "Sum") == minutes
    assert series(cw, "Lat", b, b + 600, 60, "p100")[-1] == (b + 300, 20.0)
    # T0+25h: W1 is 15 days old: one 5-minute row, its raw points (percentiles) gone.
    cloudlet.clock.advance(HOUR)
    assert series(cw, "Lat", b, b + 600, 60, "Sum") == [(b, 7.0), (b + 300, 38.0)]
    assert series(cw, "Lat", b, b + 600, 60, "p100") == [(b + 300, 20.0)]
    assert series(cw, "Lat", b, b + 600, 300, "Minimum") == [(b, 1.0), (b + 300, 8.0)]
    assert series(cw, "Lat", b, b + 600, 300, "Maximum") == [(b, 4.0), (b + 300, 20.0)]
    assert series(cw, "Lat", b, b + 600, 300, "SampleCount") == [(b, 3.0), (b + 300, 3.0)]
    cloudlet.clock.advance(HOUR)  # T0+26h: W2 too
    assert series(cw, "Lat", b, b + 600, 60, "p100") == []
    assert series(cw, "Lat", b, b + 600, 300, "Sum") == [(b, 7.0), (b + 300, 38.0)]
    assert series(cw, "Lat", b, b + 600, 300, "Average") == [(b, 7.0 / 3), (b + 300, 38.0 / 3)]
    # No data for two weeks: not listed any more, still readable.
    assert cw.list_metrics(Namespace=NS)["Metrics"] == []

    # 63 days: the job at T0+49d leaves the hour h0; at T0+49d+1h its 5-minute row becomes an hour row.
    cloudlet.clock.advance(49 * DAY - 26 * HOUR)
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 300, "Sum") == [(b, 7.0), (b + 300, 38.0)]
    cloudlet.clock.advance(HOUR)
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 300, "Sum") == [(h0, 7.0), (b + 300, 38.0)]
    cloudlet.clock.advance(HOUR)
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 3600, "Sum") == [(h0, 7.0), (h0 + HOUR, 38.0)]
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 3600, "Maximum") == [(h0, 4.0), (h0 + HOUR, 20.0)]

    # 455 days: the job at T0+441d keeps both hours, the next ones delete one each.
    cloudlet.clock.advance(441 * DAY - 49 * DAY - 2 * HOUR)
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 3600, "Sum") == [(h0, 7.0), (h0 + HOUR, 38.0)]
    cloudlet.clock.advance(HOUR)
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 3600, "Sum") == [(h0 + HOUR, 38.0)]
    cloudlet.clock.advance(HOUR)
    assert series(cw, "Lat", h0, h0 + 2 * HOUR, 3600, "Sum") == []
    # The metric is gone; putting to it again makes it anew.
    now = 441 * DAY + 2 * HOUR
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Lat", "Timestamp": at(now), "Value": 9.0}])
    assert series(cw, "Lat", now, now + 60, 60, "Sum") == [(now, 9.0)]
    assert [m["MetricName"] for m in cw.list_metrics(Namespace=NS)["Metrics"]] == ["Lat"]


def test_list_metrics_forgets_metrics_without_data_for_two_weeks(cw, cloudlet):
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Old", "Timestamp": at(0), "Value": 1.0},
                                                 {"MetricName": "Older", "Timestamp": at(-60), "Value": 1.0}])
    listed = lambda: sorted(m["MetricName"] for m in cw.list_metrics(Namespace=NS)["Metrics"])  # noqa: E731
    cloudlet.clock.advance(14 * DAY - 60)
    assert listed() == ["Old", "Older"]
    cloudlet.clock.advance(1)
    assert listed() == ["Old"]
    cloudlet.clock.advance(60)
    assert listed() == []
    # Its data is still there (a minute 14 days old), and a new datapoint lists it again.
    assert series(cw, "Old", 0, 60, 60, "Sum") == [(0, 1.0)]
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Old", "Value": 2.0}])
    assert listed() == ["Old"]
