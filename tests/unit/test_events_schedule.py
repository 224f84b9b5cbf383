"""EventBridge schedule expressions (cloudlet.services.events.schedule).

The grammar and the guide's examples are from the EventBridge User Guide
("Setting a schedule pattern for scheduled rules", "Rate expressions
reference"); the rows marked "issue" are expressions AWS was seen to refuse
with "Parameter ScheduleExpression is not valid." in public issue threads.
Rows on what the guide leaves open (wrap-around ranges, `L-n`, `nW` past a
month's end, rate bases) pin down the module's decisions.

Times are written "YYYY-MM-DD HH:MM[:SS]" UTC and compared exactly.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta

import pytest

from cloudlet.services.events.schedule import (
    MESSAGE,
    CronSchedule,
    RateSchedule,
    ScheduleError,
    parse,
)


def ts(text: str) -> float:
    """UTC epoch seconds of "YYYY-MM-DD HH:MM[:SS]"."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return float(calendar.timegm(time.strptime(text, fmt)))


def utc(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime(1970, 1, 1) + timedelta(seconds=epoch)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


# -- what parses -----------------------------------------------------------

VALID = [
    # the guide's rate examples
    ("rate(1 minute)", "rate"),
    ("rate(5 minutes)", "rate"),
    ("rate(1 hour)", "rate"),
    ("rate(5 hours)", "rate"),
    ("rate(1 day)", "rate"),
    ("rate(7 days)", "rate"),
    ("rate(2147483647 minutes)", "rate"),
    # the guide's cron examples
    ("cron(0 10 * * ? *)", "cron"),
    ("cron(15 12 * * ? *)", "cron"),
    ("cron(0 18 ? * MON-FRI *)", "cron"),
    ("cron(0 8 1 * ? *)", "cron"),
    ("cron(0/15 * * * ? *)", "cron"),
    ("cron(0/10 * ? * MON-FRI *)", "cron"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "cron"),
    ("cron(0 9 ? * 2#1 *)", "cron"),
    # wildcards field by field
    ("cron(* * * * ? *)", "cron"),
    ("cron(*/5 * * * ? *)", "cron"),
    ("cron(5-40/5 * * * ? *)", "cron"),
    ("cron(0,15,30,45 0-5,12 * * ? *)", "cron"),
    ("cron(0 11-23/2 * * ? *)", "cron"),
    ("cron(0 0 1 1-12/3 ? *)", "cron"),
    ("cron(0 0 1/7 * ? *)", "cron"),
    ("cron(0 0 L * ? *)", "cron"),
    ("cron(0 0 L-3 * ? *)", "cron"),
    ("cron(0 0 LW * ? *)", "cron"),
    ("cron(0 0 15W * ? *)", "cron"),
    ("cron(0 0 ? * L *)", "cron"),
    ("cron(0 0 ? * 6L *)", "cron"),
    ("cron(0 0 ? * FRIL *)", "cron"),
    ("cron(0 0 ? * MON#2 *)", "cron"),
    ("cron(0 0 ? * 7#5 *)", "cron"),
    ("cron(0 0 ? * * *)", "cron"),
    ("cron(0 0 ? * SUN,SAT *)", "cron"),
    ("cron(0 0 1 JAN,MAR,DEC ? *)", "cron"),
    ("cron(0 0 1 jan-mar ? *)", "cron"),
    ("cron(0 0 ? * mon-fri *)", "cron"),
    ("cron(0 0 l * ? *)", "cron"),
    ("cron(0 0 15w * ? *)", "cron"),
    ("cron(0 22-2 * * ? *)", "cron"),
    ("cron(0 0 ? * FRI-MON *)", "cron"),
    ("cron(0 0 1 NOV-FEB ? *)", "cron"),
    ("cron(0 0 1 1 ? 1970)", "cron"),
    ("cron(0 0 1 1 ? 2199)", "cron"),
    ("cron(0 0 1 1 ? 2020-2030/5,2100)", "cron"),
    ("cron(0 0 1 1 ? 2024/10)", "cron"),
    ("cron(0 0 30 2 ? *)", "cron"),
    ("cron(0  0\t1 * ? *)", "cron"),
]


@pytest.mark.parametrize("expression,kind", VALID)
def test_valid(expression, kind):
    schedule = parse(expression)
    assert schedule.kind == kind
    assert schedule.expression == expression
    assert isinstance(schedule, RateSchedule if kind == "rate" else CronSchedule)


@pytest.mark.parametrize("expression,interval", [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600),
    ("rate(12 hours)", 43200), ("rate(1 day)", 86400), ("rate(3 days)", 259200),
])
def test_rate_interval(expression, interval):
    assert parse(expression).interval == interval


INVALID = [
    # rate: value and unit
    "rate(0 minutes)",
    "rate(1 minutes)",                 # 1 takes the singular
    "rate(5 minute)",                  # more than 1 the plural
    "rate(1 hours)",                   # the guide's own invalid examples
    "rate(5 hour)",
    "rate(2 day)",
    "rate(5 seconds)",
    "rate(1 second)",
    "rate(1 week)",
    "rate(-5 minutes)",
    "rate(1.5 hours)",
    "rate(five minutes)",
    "rate(5)",
    "rate(minutes)",
    "rate(5 Minutes)",
    "Rate(5 minutes)",
    "rate(2147483648 minutes)",
    # rate: blanks
    "rate(5  minutes)",
    "rate( 5 minutes)",
    "rate(5 minutes )",
    " rate(5 minutes)",
    "rate(5 minutes)\n",
    "rate 5 minutes",
    "rate(5 minutes",
    "",
    "5 minutes",
    "at(2024-01-01T00:00:00)",
    # cron: day-of-month and day-of-week
    "cron(0 12 * * * *)",              # both specified
    "cron(0 12 ? * ? *)",              # neither
    "cron(0 12 1 * MON *)",
    "cron(* 1 * * * *)",               # issue: cfn-lint #1351
    "cron(55 7-23 * * * *)",           # issue: serverless #2781
    "cron(15 0 * * MON-FRI *)",        # issue: aws-cdk #1181
    "cron(* ? * * * *)",               # issue: aws-waf-security-automations #261
    # cron: shape
    "cron(0 12 * * ?)",                # 5 fields
    "cron(0 0 12 * * ? *)",            # 7 fields
    "cron()",
    "cron(0 12 * * ? *",
    "CRON(0 12 * * ? *)",
    # cron: out of range
    "cron(60 12 * * ? *)",
    "cron(0 24 * * ? *)",
    "cron(0 12 0 * ? *)",
    "cron(0 12 32 * ? *)",
    "cron(0 12 * 0 ? *)",
    "cron(0 12 * 13 ? *)",
    "cron(0 12 ? * 0 *)",
    "cron(0 12 ? * 8 *)",
    "cron(15 12 ? * -1 *)",            # issue: winglang/wing #7115
    "cron(30 1,8 ? * 1,2,5,6,0 *)",    # issue: elastic_whenever #70 (0 for Sunday)
    "cron(0 12 * * ? 1969)",
    "cron(0 12 * * ? 2200)",
    # cron: malformed lists, ranges, steps
    "cron(0,,5 12 * * ? *)",
    "cron(0, 12 * * ? *)",
    "cron(0- 12 * * ? *)",
    "cron(-5 12 * * ? *)",
    "cron(1-2-3 12 * * ? *)",
    "cron(*/0 12 * * ? *)",
    "cron(0/60 * * * ? *)",
    "cron(0/ * * * ? *)",
    "cron(*/* * * * ? *)",
    "cron(0 12 * * ? 2030-2025)",      # no wrap-around in years
    "cron(0 12 * JAN-FOO ? *)",
    "cron(0 12 * JANUARY ? *)",
    "cron(0 12 ? * MONDAY *)",
    "cron(0 12 * MON ? *)",            # weekday name in the month field
    "cron(0 12 ? * JAN *)",
    # cron: ? only in the day fields
    "cron(? 12 * * ? *)",
    "cron(0 ? * * ? *)",
    "cron(0 12 * ? ? *)",
    "cron(0 12 * * ? ?)",
    # cron: L W # where they are not allowed, or not alone
    "cron(0 12 ? * */2 *)",            # no step in day-of-week
    "cron(0 12 ? * 1/2 *)",
    "cron(0 12 ? * 3#1,6#3 *)",        # the guide's own invalid example
    "cron(0 12 ? * 2#6 *)",
    "cron(0 12 ? * 2#0 *)",
    "cron(0 12 ? * 8#1 *)",
    "cron(0 12 ? * #1 *)",
    "cron(0 12 2#1 * ? *)",
    "cron(0 12 ? * 5L,6 *)",
    "cron(0 12 ? * 8L *)",
    "cron(0 12 ? * LW *)",
    "cron(0 12 ? * 15W *)",
    "cron(0 12 5L * ? *)",
    "cron(0 12 L,15 * ? *)",
    "cron(0 12 1,15,L * ? *)",
    "cron(0 12 L-31 * ? *)",
    "cron(0 12 W * ? *)",
    "cron(0 12 0W * ? *)",
    "cron(0 12 32W * ? *)",
    "cron(0 12 15W,20 * ? *)",
    "cron(0 12 1-5W * ? *)",
    "cron(L 12 * * ? *)",
    "cron(0 L * * ? *)",
    "cron(0 12 * L ? *)",
    "cron(0 12 * * ? L)",
    "cron(0 12 * * ? 2024W)",
    # cron: characters that are not ASCII
    "cron(0 12 ? * ſat *)",            # U+017F, which upper-cases to S
    "cron(0 12 * * ? ２０２４)",
]


@pytest.mark.parametrize("expression", INVALID)
def test_invalid(expression):
    with pytest.raises(ScheduleError) as info:
        parse(expression)
    assert str(info.value) == MESSAGE
    assert info.value.message == "Parameter ScheduleExpression is not valid."
    assert isinstance(info.value, ValueError)


def test_not_a_string():
    with pytest.raises(ScheduleError):
        parse(None)


# -- when a cron fires -----------------------------------------------------

NEXT = [
    # expression, after, next fire
    # the guide's examples
    ("cron(0 10 * * ? *)", "2024-01-15 09:30", "2024-01-15 10:00"),
    ("cron(0 10 * * ? *)", "2024-01-15 10:00", "2024-01-16 10:00"),          # strictly after
    ("cron(0 10 * * ? *)", "2024-01-15 09:59:59", "2024-01-15 10:00"),
    ("cron(0 10 * * ? *)", "2024-12-31 10:00", "2025-01-01 10:00"),
    ("cron(15 12 * * ? *)", "2024-01-15 12:14", "2024-01-15 12:15"),
    ("cron(15 12 * * ? *)", "2024-01-15 12:15", "2024-01-16 12:15"),
    ("cron(15 12 * * ? *)", "2024-02-28 12:16", "2024-02-29 12:15"),
    ("cron(0 18 ? * MON-FRI *)", "2024-01-15 17:59", "2024-01-15 18:00"),    # Monday
    ("cron(0 18 ? * MON-FRI *)", "2024-01-19 18:00", "2024-01-22 18:00"),    # Friday -> Monday
    ("cron(0 18 ? * MON-FRI *)", "2024-01-20 09:00", "2024-01-22 18:00"),    # Saturday
    ("cron(0 8 1 * ? *)", "2024-01-01 08:00", "2024-02-01 08:00"),
    ("cron(0 8 1 * ? *)", "2023-12-31 23:59", "2024-01-01 08:00"),
    ("cron(0 8 1 * ? *)", "2024-12-15 00:00", "2025-01-01 08:00"),
    ("cron(0/15 * * * ? *)", "2024-01-15 09:46", "2024-01-15 10:00"),
    ("cron(0/15 * * * ? *)", "2024-01-15 10:00", "2024-01-15 10:15"),
    ("cron(0/15 * * * ? *)", "2024-01-15 23:50", "2024-01-16 00:00"),
    ("cron(0/10 * ? * MON-FRI *)", "2024-01-15 09:41", "2024-01-15 09:50"),
    ("cron(0/10 * ? * MON-FRI *)", "2024-01-19 23:50", "2024-01-22 00:00"),  # Friday night
    ("cron(0/10 * ? * MON-FRI *)", "2024-01-21 12:00", "2024-01-22 00:00"),  # Sunday
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-01-15 07:59", "2024-01-15 08:00"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-01-15 17:52", "2024-01-15 17:55"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-01-15 17:55", "2024-01-16 08:00"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-01-19 17:55", "2024-01-22 08:00"),
    ("cron(0 9 ? * 2#1 *)", "2024-01-15 00:00", "2024-02-05 09:00"),          # 1 Feb is a Thursday
    ("cron(0 9 ? * 2#1 *)", "2024-01-01 00:00", "2024-01-01 09:00"),          # 1 Jan 2024 is a Monday
    ("cron(0 9 ? * 2#1 *)", "2024-01-01 09:00", "2024-02-05 09:00"),
    ("cron(0 9 ? * MON#2 *)", "2024-01-01 00:00", "2024-01-08 09:00"),
    # increments and lists
    ("cron(*/5 * * * ? *)", "2024-01-15 09:41", "2024-01-15 09:45"),
    ("cron(5-40/5 * * * ? *)", "2024-01-15 09:40", "2024-01-15 10:05"),
    ("cron(5-40/5 * * * ? *)", "2024-01-15 09:36", "2024-01-15 09:40"),
    ("cron(1/10 * * * ? *)", "2024-01-15 09:51", "2024-01-15 10:01"),
    ("cron(0 11-23/2 * * ? *)", "2024-01-15 12:00", "2024-01-15 13:00"),
    ("cron(0 11-23/2 * * ? *)", "2024-01-15 23:00", "2024-01-16 11:00"),
    ("cron(0 0 1 1-12/3 ? *)", "2024-01-01 00:00", "2024-04-01 00:00"),
    ("cron(0 0 1 1-12/3 ? *)", "2024-10-01 00:00", "2025-01-01 00:00"),
    ("cron(0 0 1/10 * ? *)", "2024-01-21 00:00", "2024-01-31 00:00"),
    ("cron(0 0 1/10 * ? *)", "2024-02-21 00:00", "2024-03-01 00:00"),       # no 31 February
    ("cron(0 0 1 JAN,JUL ? *)", "2024-01-01 00:00", "2024-07-01 00:00"),
    ("cron(0 0 ? * SUN,SAT *)", "2024-01-15 00:00", "2024-01-20 00:00"),
    # wrap-around ranges
    ("cron(0 22-2 * * ? *)", "2024-01-15 02:00", "2024-01-15 22:00"),
    ("cron(0 22-2 * * ? *)", "2024-01-15 23:00", "2024-01-16 00:00"),
    ("cron(0 0 ? * FRI-MON *)", "2024-01-15 00:00", "2024-01-19 00:00"),     # Mon -> Fri
    ("cron(0 0 1 NOV-FEB ? *)", "2024-02-01 00:00", "2024-11-01 00:00"),
    ("cron(50-10/5 * * * ? *)", "2024-01-15 09:10", "2024-01-15 09:50"),
    ("cron(50-10/5 * * * ? *)", "2024-01-15 09:55", "2024-01-15 10:00"),
    # L: the last day of the month
    ("cron(0 0 L * ? *)", "2024-02-01 00:00", "2024-02-29 00:00"),
    ("cron(0 0 L * ? *)", "2023-02-01 00:00", "2023-02-28 00:00"),
    ("cron(0 0 L * ? *)", "2024-02-29 00:00", "2024-03-31 00:00"),
    ("cron(0 0 L * ? *)", "2024-04-01 00:00", "2024-04-30 00:00"),
    ("cron(0 0 L-1 * ? *)", "2024-02-01 00:00", "2024-02-28 00:00"),
    ("cron(0 0 L-30 * ? *)", "2024-02-01 00:00", "2024-03-01 00:00"),        # Feb has no day -1
    # L in day-of-week: Saturday alone, the last such weekday after a number
    ("cron(0 0 ? * L *)", "2024-01-15 00:00", "2024-01-20 00:00"),
    ("cron(0 0 ? * 6L *)", "2024-01-01 00:00", "2024-01-26 00:00"),
    ("cron(0 0 ? * 6L *)", "2024-01-26 00:00", "2024-02-23 00:00"),
    ("cron(0 0 ? * FRIL *)", "2024-01-26 00:00", "2024-02-23 00:00"),
    ("cron(0 0 ? * 1L *)", "2024-03-01 00:00", "2024-03-31 00:00"),          # 31 Mar 2024 a Sunday
    # #: the nth weekday, none in a month without a fifth
    ("cron(0 0 ? * 5#5 *)", "2024-01-01 00:00", "2024-02-29 00:00"),         # 5th Thursday of Feb 2024
    ("cron(0 0 ? * 5#5 *)", "2024-02-29 00:00", "2024-05-30 00:00"),
    # W: the nearest weekday, inside the month
    ("cron(0 0 15W * ? *)", "2024-06-01 00:00", "2024-06-14 00:00"),         # 15 Jun 2024 a Saturday
    ("cron(0 0 15W * ? *)", "2024-09-01 00:00", "2024-09-16 00:00"),         # 15 Sep 2024 a Sunday
    ("cron(0 0 15W * ? *)", "2024-01-01 00:00", "2024-01-15 00:00"),         # a Monday: itself
    ("cron(0 0 1W * ? *)", "2024-05-31 00:00", "2024-06-03 00:00"),          # 1 Jun a Saturday: Monday 3rd
    ("cron(0 0 1W * ? *)", "2024-08-31 00:00", "2024-09-02 00:00"),          # 1 Sep a Sunday: Monday 2nd
    ("cron(0 0 31W * ? *)", "2024-03-01 00:00", "2024-03-29 00:00"),         # 31 Mar a Sunday: Friday 29th
    ("cron(0 0 31W * ? *)", "2024-03-29 00:00", "2024-05-31 00:00"),         # no 31 April
    ("cron(0 0 30W * ? *)", "2024-01-31 00:00", "2024-03-29 00:00"),         # none in February; 30 Mar a Saturday
    ("cron(0 0 LW * ? *)", "2024-11-01 00:00", "2024-11-29 00:00"),          # 30 Nov a Saturday
    ("cron(0 0 LW * ? *)", "2024-03-01 00:00", "2024-03-29 00:00"),          # 31 Mar a Sunday
    ("cron(0 0 LW * ? *)", "2024-01-01 00:00", "2024-01-31 00:00"),
    # 29 February and far years
    ("cron(0 12 29 2 ? *)", "2024-03-01 00:00", "2028-02-29 12:00"),
    ("cron(0 12 29 2 ? *)", "2024-02-29 11:59", "2024-02-29 12:00"),
    ("cron(0 12 29 2 ? *)", "2097-01-01 00:00", "2104-02-29 12:00"),         # 2100 is no leap year
    ("cron(0 0 1 1 ? 2150)", "2024-01-01 00:00", "2150-01-01 00:00"),
    ("cron(0 0 1 1 ? 2020-2030/5,2100)", "2025-01-01 00:00", "2030-01-01 00:00"),
    ("cron(0 0 1 1 ? 2020-2030/5,2100)", "2030-01-01 00:00", "2100-01-01 00:00"),
    ("cron(59 23 31 12 ? 2199)", "2199-12-31 23:58", "2199-12-31 23:59"),
    # before 1970: the first minute of 1970 at the earliest
    ("cron(* * * * ? *)", "1969-12-31 23:00", "1970-01-01 00:00"),
    ("cron(* * * * ? *)", "2024-01-15 09:30:00", "2024-01-15 09:31"),
    ("cron(* * * * ? *)", "2024-01-15 09:30:59", "2024-01-15 09:31"),
]


@pytest.mark.parametrize("expression,after,expected", NEXT)
def test_cron_next_after(expression, after, expected):
    assert utc(parse(expression).next_after(ts(after))) == expected


@pytest.mark.parametrize("expression,after", [
    ("cron(0 0 1 1 ? 2020)", "2021-01-01 00:00"),              # a past year list
    ("cron(0 0 1 1 ? 2020)", "2020-01-01 00:00"),              # strictly after its only fire
    ("cron(0 0 * * ? 2020-2022)", "2022-12-31 00:00"),
    ("cron(0 0 30 2 ? *)", "2024-01-01 00:00"),                # 30 February never comes
    ("cron(0 0 31 4,6,9,11 ? *)", "1970-01-01 00:00"),
    ("cron(59 23 31 12 ? 2199)", "2199-12-31 23:59"),          # the last minute, then nothing
    ("cron(* * * * ? *)", "2200-01-01 00:00"),                 # after 2199
])
def test_cron_never_again(expression, after):
    assert parse(expression).next_after(ts(after)) is None


def test_cron_never_again_from_far_epochs():
    schedule = parse("cron(0 12 * * ? *)")
    assert schedule.next_after(1e18) is None
    assert schedule.next_after(float("inf")) is None
    assert utc(schedule.next_after(float("-inf"))) == "1970-01-01 12:00"


def test_cron_fractional_epoch():
    schedule = parse("cron(0 10 * * ? *)")
    assert schedule.next_after(ts("2024-01-15 10:00") - 0.25) == ts("2024-01-15 10:00")
    assert schedule.next_after(ts("2024-01-15 10:00") + 0.25) == ts("2024-01-16 10:00")


def test_cron_ignores_base():
    schedule = parse("cron(0 10 * * ? *)")
    assert schedule.next_after(ts("2024-01-15 09:30"), base=17.0) == ts("2024-01-15 10:00")


def test_cron_rare_dates_are_fast():
    # 29 February from 2101: the search walks years and months, not minutes.
    start = time.perf_counter()
    assert utc(parse("cron(0 12 29 2 ? *)").next_after(ts("2101-03-01 00:00"))) == "2104-02-29 12:00"
    assert parse("cron(0 0 30 2 ? *)").next_after(0.0) is None
    assert utc(parse("cron(0 0 ? * 1#5 2199)").next_after(0.0)) == "2199-03-31 00:00"
    assert time.perf_counter() - start < 1.0


def test_cron_fires_between():
    schedule = parse("cron(0/15 * * * ? *)")
    got = schedule.fires_between(ts("2024-01-15 09:00"), ts("2024-01-15 10:00"))
    assert [utc(t) for t in got] == ["2024-01-15 09:15", "2024-01-15 09:30",
                                     "2024-01-15 09:45", "2024-01-15 10:00"]   # start out, end in
    got = schedule.fires_between(ts("2024-01-15 09:00"), ts("2024-01-16 09:00"), limit=3)
    assert [utc(t) for t in got] == ["2024-01-15 09:15", "2024-01-15 09:30", "2024-01-15 09:45"]
    assert len(schedule.fires_between(ts("2024-01-15 00:00"), ts("2024-02-15 00:00"))) == 1000
    assert schedule.fires_between(ts("2024-01-15 09:00"), ts("2024-01-15 09:00")) == []
    assert schedule.fires_between(ts("2024-01-15 10:00"), ts("2024-01-15 09:00")) == []
    assert schedule.fires_between(ts("2024-01-15 09:00"), ts("2024-01-15 10:00"), limit=0) == []


def test_cron_fires_between_weekdays():
    got = parse("cron(0 18 ? * MON-FRI *)").fires_between(ts("2024-01-17 18:00"), ts("2024-01-24 00:00"))
    assert [utc(t) for t in got] == ["2024-01-18 18:00", "2024-01-19 18:00",
                                     "2024-01-22 18:00", "2024-01-23 18:00"]


def test_cron_fires_between_ends_with_the_years():
    got = parse("cron(0 0 1 1 ? 2020-2023)").fires_between(ts("2000-01-01 00:00"), ts("2199-12-31 00:00"))
    assert [utc(t) for t in got] == ["2020-01-01 00:00", "2021-01-01 00:00",
                                     "2022-01-01 00:00", "2023-01-01 00:00"]


@pytest.mark.parametrize("expression,month,days", [
    ("cron(0 0 ? * 2#1 *)", "2024-07", [1]),
    ("cron(0 0 ? * 6L *)", "2024-05", [31]),
    ("cron(0 0 ? * MON-FRI *)", "2024-06", [3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 17, 18, 19, 20, 21,
                                           24, 25, 26, 27, 28]),
])
def test_cron_days_of_a_month(expression, month, days):
    start = ts(f"{month}-01 00:00") - 60
    year, mon = map(int, month.split("-"))
    end = ts(f"{month}-{calendar.monthrange(year, mon)[1]:02d} 23:59")
    got = parse(expression).fires_between(start, end)
    assert [int(utc(t)[8:10]) for t in got] == days


def test_cron_matches_a_minute_by_minute_scan():
    # Every minute of a week checked against the fields read directly.
    schedule = parse("cron(0/20 9-10,22-1 ? * TUE,SAT *)")
    start, end = ts("2024-01-14 00:00"), ts("2024-01-21 00:00")
    expected = []
    t = start + 60
    while t <= end:
        moment = datetime(1970, 1, 1) + timedelta(seconds=t)
        weekday = moment.isoweekday() % 7 + 1            # 1 = Sunday
        if (moment.minute % 20 == 0 and moment.hour in (9, 10, 22, 23, 0, 1)
                and weekday in (3, 7)):
            expected.append(t)
        t += 60
    assert schedule.fires_between(start, end) == expected
    assert len(expected) == 36


# -- when a rate fires -----------------------------------------------------

RATE_NEXT = [
    # expression, base, after, next fire
    ("rate(5 minutes)", "2024-01-15 09:32:10", "2024-01-15 09:40", "2024-01-15 09:42:10"),
    ("rate(5 minutes)", "2024-01-15 09:32:10", "2024-01-15 09:42:10", "2024-01-15 09:47:10"),
    ("rate(5 minutes)", "2024-01-15 09:32:10", "2024-01-15 09:32:10", "2024-01-15 09:37:10"),
    ("rate(5 minutes)", "2024-01-15 09:32:10", "2024-01-15 09:00", "2024-01-15 09:02:10"),  # the grid runs back
    ("rate(5 minutes)", "1970-01-01 00:00", "2024-01-15 09:41", "2024-01-15 09:45"),
    ("rate(1 minute)", "1970-01-01 00:00", "2024-01-15 09:41:30", "2024-01-15 09:42"),
    ("rate(1 hour)", "2024-01-15 09:30", "2024-01-15 09:30", "2024-01-15 10:30"),
    ("rate(1 hour)", "2024-01-15 09:30", "2024-01-15 11:29:59", "2024-01-15 11:30"),
    ("rate(2 hours)", "1970-01-01 00:00", "2024-01-15 09:00", "2024-01-15 10:00"),
    ("rate(1 day)", "2024-01-15 09:30", "2024-03-01 12:00", "2024-03-02 09:30"),
    ("rate(7 days)", "2024-01-15 00:00", "2024-01-15 00:00", "2024-01-22 00:00"),
]


@pytest.mark.parametrize("expression,base,after,expected", RATE_NEXT)
def test_rate_next_after(expression, base, after, expected):
    assert utc(parse(expression).next_after(ts(after), base=ts(base))) == expected


def test_rate_default_base_is_the_epoch():
    schedule = parse("rate(5 minutes)")
    assert schedule.next_after(ts("2024-01-15 09:41")) == ts("2024-01-15 09:45")
    assert schedule.next_after(0.0) == 300.0
    assert schedule.next_after(-1.0) == 0.0
    assert schedule.next_after(299.5) == 300.0
    assert schedule.next_after(float("inf")) is None


def test_rate_fractional_base():
    schedule = parse("rate(1 minute)")
    assert schedule.next_after(100.0, base=0.5) == 120.5
    assert schedule.next_after(120.5, base=0.5) == 180.5


def test_rate_fires_between():
    schedule = parse("rate(5 minutes)")
    base = ts("2024-01-15 09:32:10")
    got = schedule.fires_between(ts("2024-01-15 09:37:10"), ts("2024-01-15 09:57:10"), base=base)
    assert [utc(t) for t in got] == ["2024-01-15 09:42:10", "2024-01-15 09:47:10",
                                     "2024-01-15 09:52:10", "2024-01-15 09:57:10"]   # start out, end in
    got = schedule.fires_between(ts("2024-01-15 09:37:10"), ts("2024-01-16 00:00"), limit=2, base=base)
    assert [utc(t) for t in got] == ["2024-01-15 09:42:10", "2024-01-15 09:47:10"]
    assert len(schedule.fires_between(0.0, ts("2024-01-01 00:00"))) == 1000
    assert schedule.fires_between(0.0, 299.0) == []
    assert schedule.fires_between(0.0, 600.0) == [300.0, 600.0]
    assert schedule.fires_between(600.0, 0.0) == []
    assert schedule.fires_between(0.0, 600.0, limit=0) == []
