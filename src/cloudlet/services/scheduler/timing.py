"""When a Scheduler schedule fires: `at(yyyy-mm-ddThh:mm:ss)`, `rate(...)`
and `cron(...)` (the grammar EventBridge rules use, events/schedule.py) in
the schedule's ScheduleExpressionTimezone, bounded by StartDate and
EndDate. Pure.

A cron expression is read on the zone's wall clock (so `cron(0 9 * * ? *)`
in Europe/Paris fires at 09:00 Paris time all year); a wall time a DST
change skips or repeats takes the zone's first reading of it. A rate counts
from StartDate, or from the schedule's creation.
"""

from __future__ import annotations

import datetime as _dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudlet.services.events import schedule as grammar

_AT = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")


class TimingError(ValueError):
    pass


def zone(name: str | None) -> _dt.tzinfo:
    if not name or name == "UTC":
        return _dt.timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimingError(f"Invalid timezone: {name}") from None


class Timing:
    def __init__(self, expression: str, tz: str | None, start: float | None, end: float | None, base: float):
        self.tz = zone(tz)
        self.start, self.end, self.base = start, end, base
        self.at: float | None = None
        self.rule = None
        m = _AT.fullmatch(expression or "")
        if m:
            try:
                local = _dt.datetime(*map(int, m.groups()), tzinfo=self.tz)
            except ValueError:
                raise TimingError(f"Invalid Schedule Expression {expression}.") from None
            self.at = local.timestamp()
        else:
            try:
                self.rule = grammar.parse(expression)
            except grammar.ScheduleError:
                raise TimingError(f"Invalid Schedule Expression {expression}.") from None

    @property
    def one_time(self) -> bool:
        return self.at is not None

    def next_after(self, epoch: float) -> float | None:
        """The first fire time strictly after `epoch` within StartDate and
        EndDate; None when the schedule has no more."""
        if self.start is not None and epoch < self.start:
            epoch = self.start - 0.001
        if self.at is not None:
            found = self.at if self.at > epoch else None
        elif self.rule.kind == "rate":
            found = self.rule.next_after(epoch, base=self.start if self.start is not None else self.base)
        else:
            found = self._cron_after(epoch)
        if found is None or (self.end is not None and found > self.end):
            return None
        return found

    def _cron_after(self, epoch: float) -> float | None:
        if self.tz is _dt.timezone.utc:
            return self.rule.next_after(epoch)
        # Read the cron on the zone's wall clock: a wall time written as if UTC.
        wall = _dt.datetime.fromtimestamp(epoch, self.tz).replace(tzinfo=_dt.timezone.utc).timestamp()
        found = self.rule.next_after(wall)
        if found is None:
            return None
        naive = _dt.datetime.fromtimestamp(found, _dt.timezone.utc).replace(tzinfo=None)
        actual = naive.replace(tzinfo=self.tz).timestamp()
        return actual if actual > epoch else self._cron_after(epoch + 60)
