"""Scheduler timing: at() in a zone, cron on a zone's wall clock across a
DST change, rate from StartDate, EndDate."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cloudlet.services.scheduler.timing import Timing, TimingError


def ts(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def test_at_in_a_zone():
    t = Timing("at(2030-01-15T09:00:00)", "America/New_York", None, None, 0)
    assert t.one_time and t.next_after(ts(2030, 1, 1)) == ts(2030, 1, 15, 14)  # EST is UTC-5
    assert t.next_after(ts(2030, 1, 15, 14)) is None


def test_cron_keeps_the_wall_clock_across_dst():
    t = Timing("cron(0 9 * * ? *)", "Europe/Paris", None, None, 0)
    # The last Sunday of March 2030 is the 31st: CET (UTC+1) before, CEST (UTC+2) after.
    assert t.next_after(ts(2030, 3, 30, 12)) == ts(2030, 3, 31, 7)
    assert t.next_after(ts(2030, 3, 29, 12)) == ts(2030, 3, 30, 8)


def test_rate_counts_from_the_start_date_until_the_end_date():
    t = Timing("rate(1 hour)", None, ts(2030, 1, 1, 0, 30), ts(2030, 1, 1, 3), 0)
    assert t.next_after(ts(2029, 12, 31)) == ts(2030, 1, 1, 0, 30)
    assert t.next_after(ts(2030, 1, 1, 0, 30)) == ts(2030, 1, 1, 1, 30)
    assert t.next_after(ts(2030, 1, 1, 2, 30)) is None


@pytest.mark.parametrize("expression, tz, message", [
    ("at(2030-02-30T00:00:00)", None, "Invalid Schedule Expression at(2030-02-30T00:00:00)."),
    ("every day", None, "Invalid Schedule Expression every day."),
    ("rate(5 minutes)", "Nowhere/City", "Invalid timezone: Nowhere/City"),
])
def test_invalid(expression, tz, message):
    with pytest.raises(TimingError) as exc:
        Timing(expression, tz, None, None, 0)
    assert str(exc.value) == message
