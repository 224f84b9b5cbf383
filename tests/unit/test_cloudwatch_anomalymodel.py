"""The anomaly detection model (cloudwatch/anomalymodel.py), pure: profiles,
spreads, floors, exclusions and time zones, with exact values where the
method is exact."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from cloudlet.services.cloudwatch import anomalymodel
from cloudlet.services.cloudwatch.anomalymodel import DAILY, GLOBAL, WEEKLY, median, state, train

DAY = 86400
T0 = datetime(2030, 1, 1, tzinfo=timezone.utc).timestamp()  # a Tuesday


def series(days: float, f, start=T0, step=300) -> list[tuple[float, float]]:
    return [(start + i * step, f(i, start + i * step)) for i in range(int(days * DAY / step))]


def test_no_points_no_model():
    assert train([], end=T0, period=300) is None
    assert state(None) == "PENDING_TRAINING"
    # Points outside the two weeks before `end` are not read.
    old = series(1, lambda i, t: 1.0, start=T0 - 20 * DAY)
    assert train(old, end=T0, period=300) is None


def test_flat_series_band_is_the_level_plus_minus_the_floor():
    model = train(series(7, lambda i, t: 10.0), end=T0 + 7 * DAY, period=300)
    assert model.mode == DAILY and state(model) == "TRAINED"
    assert model.levels == [10.0] * 24
    assert model.spreads == [0.5] * 24  # 5% of the level: no residual at all
    assert model.band([T0 + 7 * DAY, T0 + 7 * DAY + 3600], 2, 300) == ([9.0, 9.0], [11.0, 11.0])
    # All zeros: the floor is 1.0.
    zero = train(series(7, lambda i, t: 0.0), end=T0 + 7 * DAY, period=300)
    assert zero.band([T0], 3, 300) == ([-3.0], [3.0])


def test_mad_floor():
    # Level 100 with ±1 alternating noise: sigma 1.4826 < the floor, 5.
    small = train(series(7, lambda i, t: 100.0 + (1 if i % 2 else -1)), end=T0 + 7 * DAY, period=300)
    assert small.levels == [100.0] * 24
    assert small.spreads == [5.0] * 24
    # ±10: the residuals' median absolute value, 10, times 1.4826.
    wide = train(series(7, lambda i, t: 100.0 + (10 if i % 2 else -10)), end=T0 + 7 * DAY, period=300)
    assert wide.spreads == [pytest.approx(14.826)] * 24
    assert wide.band([T0], 1, 300) == ([pytest.approx(85.174)], [pytest.approx(114.826)])


def test_daily_sine_band_holds_the_pattern_and_not_a_spike():
    amplitude = 20.0

    def sine(i, t):
        return 100.0 + amplitude * math.sin(2 * math.pi * ((t - T0) % DAY) / DAY)

    end = T0 + 7 * DAY
    model = train(series(7, sine), end=end, period=300)
    assert model.mode == DAILY
    # Each hour's level is the median of that hour's values.
    for h in range(24):
        hour = [sine(0, T0 + h * 3600 + m * 300) for m in range(12)]
        assert model.levels[h] == pytest.approx(median(hour))
    for i in range(288):
        ts = end + i * 300
        value = sine(i, ts)
        [lo], [hi] = model.band([ts], 2, 300)
        assert lo <= value <= hi
        assert not lo <= value + 3 * amplitude <= hi
        assert not lo <= value - 3 * amplitude <= hi


def test_excluded_ranges_are_left_out_of_training():
    # Two ordinary days at 10, two incident days at 1000.
    def f(i, t):
        return 1000.0 if T0 + 2 * DAY <= t < T0 + 4 * DAY else 10.0

    points = series(4, f)
    end = T0 + 4 * DAY
    assert train(points, end=end, period=300).levels == [505.0] * 24
    model = train(points, end=end, period=300, excluded=[(T0 + 2 * DAY, T0 + 4 * DAY)])
    assert model.levels == [10.0] * 24
    assert model.points == 2 * 288
    # A period overlapping a range at all is left out (here the point at
    # 23:55 of day two, whose period ends inside the range).
    edge = train(points, end=end, period=300, excluded=[(T0 + 2 * DAY - 1, T0 + 4 * DAY)])
    assert edge.points == 2 * 288 - 1


def test_metric_timezone_shifts_the_daily_profile():
    new_york = ZoneInfo("America/New_York")

    def local_hour(i, t):
        return float(datetime.fromtimestamp(t, new_york).hour)

    points = series(7, local_hour)
    end = T0 + 7 * DAY
    local = train(points, end=end, period=300, tz="America/New_York")
    assert local.levels == [float(h) for h in range(24)]
    utc = train(points, end=end, period=300)
    assert utc.levels == [float((h - 5) % 24) for h in range(24)]  # January: UTC-5
    assert local.spreads == pytest.approx([utc.spreads[(h + 5) % 24] for h in range(24)])


def test_metric_timezone_follows_daylight_saving_time():
    # Two weeks around the switch to summer time (Sunday 10 March 2030): the
    # value is the local hour, so only a model in local time sees one profile.
    new_york = ZoneInfo("America/New_York")
    start = datetime(2030, 3, 3, tzinfo=timezone.utc).timestamp()

    def local_hour(i, t):
        return float(datetime.fromtimestamp(t, new_york).hour)

    points = series(14, local_hour, start=start)
    end = start + 14 * DAY
    model = train(points, end=end, period=300, tz="America/New_York")
    # Sunday 02:00 did not happen on the 10th: that hour of the week has one
    # date only, so the profile is daily.
    assert model.mode == DAILY
    assert model.levels == [float(h) for h in range(24)]
    for day in (4, 12):  # local noon-thirty before and after the switch
        noon = datetime(2030, 3, day, 12, 30, tzinfo=new_york).timestamp()
        assert model.expected(noon) == 12.0
    utc = train(points, end=end, period=300)
    noon_after = datetime(2030, 3, 12, 12, 30, tzinfo=new_york).timestamp()
    assert utc.expected(noon_after) != 12.0


def test_weekly_profile_with_two_weeks_of_history():
    # Weekdays at 100, weekends at 40.
    def f(i, t):
        return 40.0 if datetime.fromtimestamp(t, timezone.utc).weekday() >= 5 else 100.0

    model = train(series(14, f), end=T0 + 14 * DAY, period=300)
    assert model.mode == WEEKLY
    assert model.levels == [100.0] * 120 + [40.0] * 48
    saturday_noon = datetime(2030, 1, 19, 12, 30, tzinfo=timezone.utc).timestamp()
    assert model.expected(saturday_noon) == 40.0
    # A week of history is not enough for a weekly profile.
    assert train(series(7, f), end=T0 + 7 * DAY, period=300).mode == DAILY


def test_short_history_is_a_global_level():
    model = train(series(0.5, lambda i, t: float(i)), end=T0 + DAY, period=300)
    assert model.mode == GLOBAL and state(model) == "TRAINED_INSUFFICIENT_DATA"
    assert model.levels == [71.5]  # the median of 0..143
    assert model.band([T0 + DAY], 0, 300) == ([71.5], [71.5])


def test_points_are_read_at_their_midpoints():
    # Hourly points: each is placed at hh:30, its period's middle.
    model = train(series(7, lambda i, t: float(i % 24), step=3600), end=T0 + 7 * DAY, period=3600)
    assert model.levels == [float(h) for h in range(24)]
    assert model.band([T0 + 5 * 3600], 0, 3600) == ([5.0], [5.0])


def test_unknown_timezone():
    with pytest.raises(ValueError):
        anomalymodel.zone("Mars/Olympus_Mons")
    assert anomalymodel.zone(None) is timezone.utc
