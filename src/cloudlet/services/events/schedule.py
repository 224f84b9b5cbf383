"""EventBridge rule schedules: the ScheduleExpression of PutRule ("Setting a
schedule pattern for scheduled rules" and "Rate expressions reference" in
the EventBridge User Guide), parsed once into a Schedule that says when the
rule fires. Pure: no I/O, time passed in (UTC epoch seconds).

- `rate(value unit)`: value a positive integer, unit minute | minutes |
  hour | hours | day | days; 1 takes the singular, more the plural
  (`rate(1 hours)` and `rate(5 hour)` are the guide's invalid examples).
- `cron(minutes hours day-of-month month day-of-week year)`: six fields,
  UTC. Minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC,
  day-of-week 1-7 or SUN-SAT (1 is Sunday), year 1970-2199. The wildcards
  each field takes are the guide's table: `, - * /` in minutes, hours,
  month and year; `, - * ? / L W` in day-of-month; `, - * ? L #` in
  day-of-week (no `/` there; EventBridge refuses a step in day-of-week).
  One of day-of-month and day-of-week is `?` and the other is not ("If you
  specify a value or a * in one of the fields, you must use a ? in the
  other"). With `#` the day-of-week field holds that one expression only
  (the guide's "3#1,6#3" is invalid).

Every invalid expression gets AWS's one answer, ValidationException
"Parameter ScheduleExpression is not valid." (MESSAGE).

What the guide does not say is decided here, the way the Quartz cron
syntax the guide's grammar comes from reads it:

- `a/n` runs from a to the field's maximum; a step is 1 up to the field's
  maximum (59 for minutes, 23 hours, 31 days, 12 months, 7 weekdays).
- A range whose start is after its end wraps around (`22-2` hours is 22,
  23, 0, 1, 2; `FRI-MON`, `NOV-FEB`), except in the year field.
- Day-of-month `L` is the last day, `L-n` (n 0-30) n days before it, `LW`
  the last weekday, `nW` (n 1-31) the weekday nearest day n without
  leaving the month (a Saturday the 1st gives Monday the 3rd, a Sunday on
  the last day the Friday before); `nW` past the month's end, like `31`
  in a 30-day month, fires on no day of that month. `L`, `L-n`, `LW` and
  `nW` stand alone in the field.
- Day-of-week `L` alone is 7 (Saturday); `xL` is the last weekday x of the
  month, `x#k` (k 1-5) the k-th, none in a month without one; x may be a
  name (`FRIL`, `MON#2`). Both stand alone in the field.
- Names and the letters L, W are case-insensitive; the words `rate`,
  `cron` and the units are lowercase. Fields are separated by spaces or
  tabs (runs of them); a rate has exactly one space between value and unit
  and no other blanks. A rate's value is at most 2**31 - 1.
- A cron whose dates are all past (or impossible, `30 2` for February 30)
  is accepted; it never fires (`next_after` answers None).

When a rate fires is counted from a base time (AWS counts from the rule's
creation, roughly). Here the base is given to `next_after` / `fires_between`
(`base=`, default 0: aligned to the epoch) and a rate fires at every
base + k * interval, k any integer: the base sets the phase, times before
it are on the same grid, and a caller that wants nothing before the rule
existed starts its window there. Cron schedules take `base=` too and ignore
it, so a caller need not know which kind it holds.
"""

from __future__ import annotations

import calendar
import math
import re
from bisect import bisect_left
from collections.abc import Iterator
from datetime import date

__all__ = ["MESSAGE", "CronSchedule", "RateSchedule", "Schedule", "ScheduleError", "parse"]

MESSAGE = "Parameter ScheduleExpression is not valid."


class ScheduleError(ValueError):
    """An expression PutRule refuses; str() and .message are AWS's text."""

    def __init__(self, message: str = MESSAGE) -> None:
        super().__init__(message)
        self.message = message


# -- limits ----------------------------------------------------------------

_MAX_RATE_VALUE = 2**31 - 1
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_FIRST_YEAR, _LAST_YEAR = 1970, 2199

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Minutes since the epoch of 2199-12-31 23:59, the last minute a cron can fire.
_LAST_MINUTE = (date(_LAST_YEAR, 12, 31).toordinal() - _EPOCH_ORDINAL + 1) * 1440 - 1

_MONTHS = {name: i for i, name in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)}
_DAYS = {name: i for i, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}

_RATE = re.compile(r"rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.*)\)", re.DOTALL)
_BLANKS = re.compile(r"[ \t]+")
_NUMBER = re.compile(r"[0-9]{1,4}")
_DOM_LAST_OFFSET = re.compile(r"L-([0-9]{1,2})")
_DOM_WEEKDAY = re.compile(r"([0-9]{1,2})W")
_DOW_LAST = re.compile(r"([0-9A-Z]+)L")
_DOW_NTH = re.compile(r"([0-9A-Z]+)#([0-9]+)")


# -- schedules -------------------------------------------------------------

class Schedule:
    """A parsed ScheduleExpression. `kind` is "rate" or "cron", `expression`
    the text as given. Times are UTC epoch seconds (floats)."""

    __slots__ = ("expression",)
    kind: str = ""

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def next_after(self, epoch: float, *, base: float = 0.0) -> float | None:
        """The first fire time strictly after `epoch`; None if there is none."""
        raise NotImplementedError

    def fires_between(self, start: float, end: float, limit: int = 1000, *,
                      base: float = 0.0) -> list[float]:
        """Fire times t with start < t <= end, in order, at most `limit`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.expression!r})"


class RateSchedule(Schedule):
    """`rate(value unit)`: fires at base + k * interval for every integer k,
    `base` being the keyword argument of next_after / fires_between (default
    0, i.e. aligned to the epoch). `interval` is in seconds."""

    __slots__ = ("interval", "unit", "value")
    kind = "rate"

    def __init__(self, expression: str, value: int, unit: str) -> None:
        super().__init__(expression)
        self.value = value
        self.unit = unit                     # singular: minute, hour or day
        self.interval = value * _UNITS[unit]

    def next_after(self, epoch: float, *, base: float = 0.0) -> float | None:
        if math.isnan(epoch) or math.isnan(base):
            raise ValueError("epoch and base must be numbers")
        if epoch == math.inf:
            return None
        if epoch == -math.inf:
            raise ValueError("a rate fires without a first time; give a finite epoch")
        k = (epoch - base) // self.interval + 1
        t = base + k * self.interval
        while t <= epoch:                    # rounding, for float bases
            t += self.interval
        return float(t)

    def fires_between(self, start: float, end: float, limit: int = 1000, *,
                      base: float = 0.0) -> list[float]:
        out: list[float] = []
        if limit <= 0:
            return out
        t = self.next_after(start, base=base)
        while t is not None and t <= end and len(out) < limit:
            out.append(t)
            t += self.interval
        return out


class CronSchedule(Schedule):
    """`cron(...)`: fires at whole UTC minutes up to 2199-12-31 23:59.

    The search walks the year list, then the months, then the days a month
    matches (computed once per month and kept), then hours and minutes: a
    rare date (29 February, a year far off) costs a few hundred month
    steps, never a minute-by-minute scan."""

    __slots__ = ("_dom", "_dow", "_hours", "_minutes", "_month_days", "_months", "_years")
    kind = "cron"

    def __init__(self, expression: str, minutes: frozenset[int], hours: frozenset[int],
                 dom: tuple | None, months: frozenset[int], dow: tuple | None,
                 years: frozenset[int]) -> None:
        super().__init__(expression)
        self._minutes = tuple(sorted(minutes))
        self._hours = tuple(sorted(hours))
        self._months = tuple(sorted(months))
        self._years = tuple(sorted(years))
        self._dom = dom                      # None when the field is "?"
        self._dow = dow
        self._month_days: dict[tuple[int, int], tuple[int, ...]] = {}

    def next_after(self, epoch: float, *, base: float = 0.0) -> float | None:
        return next(self._fires_from(_minute_after(epoch)), None)

    def fires_between(self, start: float, end: float, limit: int = 1000, *,
                      base: float = 0.0) -> list[float]:
        out: list[float] = []
        if limit <= 0 or not end > start:
            return out
        for t in self._fires_from(_minute_after(start)):
            if t > end:
                break
            out.append(t)
            if len(out) >= limit:
                break
        return out

    # -- the search --------------------------------------------------------

    def _fires_from(self, minute: int | None) -> Iterator[float]:
        """Fire times (epoch seconds) at or after minute number `minute`
        (minutes since the epoch), in order."""
        if minute is None or minute > _LAST_MINUTE:
            return
        minute = max(minute, 0)
        day_number, in_day = divmod(minute, 1440)
        start = date.fromordinal(_EPOCH_ORDINAL + day_number)
        first = (start.year, start.month, start.day)
        for year in self._years[bisect_left(self._years, start.year):]:
            for month in self._months:
                if (year, month) < first[:2]:
                    continue
                for day in self._days(year, month):
                    if (year, month, day) < first:
                        continue
                    day_start = (date(year, month, day).toordinal() - _EPOCH_ORDINAL) * 1440
                    floor = in_day if (year, month, day) == first else 0
                    for hour in self._hours:
                        if hour * 60 + 59 < floor:
                            continue
                        for m in self._minutes:
                            if hour * 60 + m >= floor:
                                yield float((day_start + hour * 60 + m) * 60)

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        days = self._month_days.get(key)
        if days is None:
            days = self._month_days[key] = self._compute_days(year, month)
        return days

    def _compute_days(self, year: int, month: int) -> tuple[int, ...]:
        first_weekday, length = calendar.monthrange(year, month)   # Monday = 0

        def dow(day: int) -> int:                                   # 1 = Sunday .. 7 = Saturday
            return (first_weekday + day) % 7 + 1

        if self._dom is not None:
            form = self._dom[0]
            if form == "set":
                return tuple(d for d in sorted(self._dom[1]) if d <= length)
            if form == "last":
                day = length - self._dom[1]
                return (day,) if day >= 1 else ()
            if form == "lastweekday":
                return (_nearest_weekday(length, length, dow),)
            # "weekday": nW
            n = self._dom[1]
            return (_nearest_weekday(n, length, dow),) if n <= length else ()
        form = self._dow[0]
        if form == "set":
            return tuple(d for d in range(1, length + 1) if dow(d) in self._dow[1])
        target = self._dow[1]
        first = 1 + (target - dow(1)) % 7                           # first such weekday
        if form == "last":
            return (first + 7 * ((length - first) // 7),)
        day = first + 7 * (self._dow[2] - 1)                        # "nth": x#k
        return (day,) if day <= length else ()


def _nearest_weekday(day: int, length: int, dow) -> int:
    weekday = dow(day)
    if weekday == 7:                          # Saturday: the Friday before, or Monday after the 1st
        return day + 2 if day == 1 else day - 1
    if weekday == 1:                          # Sunday: the Monday after, or Friday before the last
        return day - 2 if day == length else day + 1
    return day


def _minute_after(epoch: float) -> int | None:
    """The number (since the epoch) of the first whole minute strictly after
    `epoch`; None when that is past any cron."""
    if math.isnan(epoch):
        raise ValueError("epoch must be a number")
    if epoch == math.inf:
        return None
    if epoch == -math.inf:
        return 0
    if epoch >= (_LAST_MINUTE + 1) * 60:
        return None
    return int(epoch // 60) + 1


# -- parsing ---------------------------------------------------------------

def parse(expression: str) -> Schedule:
    """The Schedule of a ScheduleExpression; ScheduleError (MESSAGE) for any
    text PutRule refuses."""
    if not isinstance(expression, str) or not expression.isascii():
        raise ScheduleError()
    m = _RATE.fullmatch(expression)
    if m:
        return _parse_rate(expression, m.group(1), m.group(2))
    m = _CRON.fullmatch(expression)
    if m:
        return _parse_cron(expression, m.group(1))
    raise ScheduleError()


def _parse_rate(expression: str, value_text: str, unit_text: str) -> RateSchedule:
    if len(value_text) > 10:
        raise ScheduleError()
    value = int(value_text)
    if not 1 <= value <= _MAX_RATE_VALUE:
        raise ScheduleError()
    plural = unit_text.endswith("s")
    if plural != (value > 1):
        raise ScheduleError()
    return RateSchedule(expression, value, unit_text.rstrip("s"))


def _parse_cron(expression: str, inner: str) -> CronSchedule:
    fields = _BLANKS.split(inner.strip(" \t"))
    if len(fields) != 6:
        raise ScheduleError()
    minutes, hours, dom, month, dow, year = (f.upper() for f in fields)
    if (dom == "?") == (dow == "?"):
        raise ScheduleError()
    return CronSchedule(
        expression,
        minutes=_parse_list(minutes, 0, 59),
        hours=_parse_list(hours, 0, 23),
        dom=_parse_dom(dom),
        months=_parse_list(month, 1, 12, _MONTHS),
        dow=_parse_dow(dow),
        years=_parse_list(year, _FIRST_YEAR, _LAST_YEAR, wrap=False),
    )


def _number(text: str, low: int, high: int, names: dict[str, int] | None = None) -> int:
    if names is not None and text in names:
        value = names[text]
    elif _NUMBER.fullmatch(text):
        value = int(text)
    else:
        raise ScheduleError()
    if not low <= value <= high:
        raise ScheduleError()
    return value


def _parse_list(text: str, low: int, high: int, names: dict[str, int] | None = None, *,
                steps: bool = True, wrap: bool = True) -> frozenset[int]:
    """`,` lists of `*`, `a`, `a-b`, each optionally `/n`."""
    values: set[int] = set()
    for item in text.split(","):
        body, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not steps:
                raise ScheduleError()
            step = _number(step_text, 1, high)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            first, last = _number(a, low, high, names), _number(b, low, high, names)
        else:
            first = _number(body, low, high, names)
            last = high if slash else first
        if first <= last:
            run = list(range(first, last + 1))
        elif wrap:
            run = list(range(first, high + 1)) + list(range(low, last + 1))
        else:
            raise ScheduleError()
        values.update(run[::step])
    return frozenset(values)


def _parse_dom(text: str) -> tuple | None:
    if text == "?":
        return None
    if text == "L":
        return ("last", 0)
    if text == "LW":
        return ("lastweekday",)
    m = _DOM_LAST_OFFSET.fullmatch(text)
    if m:
        return ("last", _number(m.group(1), 0, 30))
    m = _DOM_WEEKDAY.fullmatch(text)
    if m:
        return ("weekday", _number(m.group(1), 1, 31))
    return ("set", _parse_list(text, 1, 31))


def _parse_dow(text: str) -> tuple | None:
    if text == "?":
        return None
    if text == "L":
        return ("set", frozenset({7}))
    m = _DOW_LAST.fullmatch(text)
    if m:
        return ("last", _number(m.group(1), 1, 7, _DAYS))
    m = _DOW_NTH.fullmatch(text)
    if m:
        return ("nth", _number(m.group(1), 1, 7, _DAYS), _number(m.group(2), 1, 5))
    return ("set", _parse_list(text, 1, 7, _DAYS, steps=False))
