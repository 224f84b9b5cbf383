"""The anomaly detection model: pure functions over [(timestamp, value)].

A model is trained on up to two weeks of a metric's values at the band's
period (`train`), and gives, for any time, an expected value and a spread;
the band is expected ± k·spread (`Model.band`). docs/ANOMALY.md describes
the method for users; in short:

- Each point stands for its period's midpoint, placed in local time (the
  detector's MetricTimezone, UTC by default) as an hour of the week, or of
  the day.
- Seasonality: an hour-of-week profile when every hour of the week has data
  on at least two local dates (about two weeks of history), else an
  hour-of-day profile when every hour of the day has data on at least two
  dates, else one global level. A slot's level is the median of its values;
  between slot centres (hh:30) the profile is interpolated linearly, around
  the day or week.
- Spread: per slot, the median absolute residual (value − profile) scaled
  to a normal sigma (× 1.4826), interpolated like the levels, never below a
  floor: 5% of the series' scale (the larger of |median| and the
  interquartile range), or 1.0 when every training value is 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from zoneinfo import ZoneInfo

TRAINING_WINDOW = 14 * 86400
MAD_TO_SIGMA = 1.4826
FLOOR_FRACTION = 0.05
ZERO_FLOOR = 1.0
MIN_DATES = 2

GLOBAL, DAILY, WEEKLY = "GLOBAL", "DAILY", "WEEKLY"
_SLOTS = {GLOBAL: 1, DAILY: 24, WEEKLY: 168}


def zone(name: str | None) -> tzinfo:
    """The tzinfo of an IANA name (None or "": UTC); ValueError if unknown."""
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError, TypeError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(name) from None


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2.0


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _local(ts: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ts, tz)


def _hours(local: datetime, weekly: bool) -> float:
    """Hours since local midnight (since Monday midnight when weekly)."""
    h = local.hour + local.minute / 60.0 + (local.second + local.microsecond / 1e6) / 3600.0
    return h + 24.0 * local.weekday() if weekly else h


@dataclass
class Model:
    mode: str                       # GLOBAL, DAILY or WEEKLY
    levels: list[float]             # per slot: median value
    spreads: list[float]            # per slot: robust sigma of residuals (floored)
    tz: tzinfo = timezone.utc
    floor: float = 0.0
    points: int = 0                 # training points used
    extra: dict = field(default_factory=dict)

    def _interp(self, table: list[float], ts: float) -> float:
        n = len(table)
        if n == 1:
            return table[0]
        x = _hours(_local(ts, self.tz), self.mode == WEEKLY) - 0.5
        base = math.floor(x)
        frac = x - base
        i0 = base % n
        i1 = (base + 1) % n
        return table[i0] * (1.0 - frac) + table[i1] * frac

    def expected(self, ts: float) -> float:
        """The profile's value at instant `ts` (epoch seconds)."""
        return self._interp(self.levels, ts)

    def spread(self, ts: float) -> float:
        """The robust sigma at instant `ts`."""
        return self._interp(self.spreads, ts)

    def band(self, timestamps: list[float], k: float, period: float) -> tuple[list[float], list[float]]:
        """(lower, upper) for periods starting at `timestamps` (each read at
        its midpoint, ts + period/2, as in training)."""
        lower, upper = [], []
        for ts in timestamps:
            mid = ts + period / 2.0
            e = self.expected(mid)
            s = k * self.spread(mid)
            lower.append(e - s)
            upper.append(e + s)
        return lower, upper


def _excluded(ts: float, period: float, ranges) -> bool:
    return any(ts < end and ts + period > start for start, end in ranges)


def train(points: list[tuple[float, float]], *, end: float, period: float, excluded=(), tz: str | tzinfo | None = None,
          window: float = TRAINING_WINDOW) -> Model | None:
    """A model of `points` [(period start, value)] in [end - window, end),
    leaving out every period that overlaps an excluded range [(start, end)];
    None when no point is left."""
    zone_ = tz if isinstance(tz, tzinfo) else zone(tz)
    start = end - window
    ranges = [(float(a), float(b)) for a, b in excluded]
    half = period / 2.0
    data = [(ts + half, float(v)) for ts, v in points
            if start <= ts < end and not _excluded(ts, period, ranges)
            and v is not None and math.isfinite(v)]
    if not data:
        return None
    locals_ = [(_local(mid, zone_), v, mid) for mid, v in data]
    daily_dates: dict = defaultdict(set)
    weekly_dates: dict = defaultdict(set)
    for local, _v, _mid in locals_:
        daily_dates[local.hour].add(local.date())
        weekly_dates[local.weekday() * 24 + local.hour].add(local.date())
    if len(weekly_dates) == 168 and all(len(d) >= MIN_DATES for d in weekly_dates.values()):
        mode = WEEKLY
    elif len(daily_dates) == 24 and all(len(d) >= MIN_DATES for d in daily_dates.values()):
        mode = DAILY
    else:
        mode = GLOBAL
    n = _SLOTS[mode]

    def slot(local: datetime) -> int:
        if mode == WEEKLY:
            return local.weekday() * 24 + local.hour
        if mode == DAILY:
            return local.hour
        return 0

    by_slot: dict = defaultdict(list)
    for local, v, mid in locals_:
        by_slot[slot(local)].append((mid, v))
    levels = [median([v for _, v in by_slot[i]]) for i in range(n)]

    values = sorted(v for _, v in data)
    scale = max(abs(median(values)), _quantile(values, 0.75) - _quantile(values, 0.25))
    floor = FLOOR_FRACTION * scale if scale > 0 else ZERO_FLOOR

    model = Model(mode=mode, levels=levels, spreads=[floor] * n, tz=zone_, floor=floor, points=len(data))
    spreads = []
    for i in range(n):
        residuals = [abs(v - model.expected(mid)) for mid, v in by_slot[i]]
        spreads.append(max(MAD_TO_SIGMA * median(residuals), floor))
    model.spreads = spreads
    return model


def state(model: Model | None) -> str:
    """DescribeAnomalyDetectors' StateValue for a trained model."""
    if model is None:
        return "PENDING_TRAINING"
    return "TRAINED_INSUFFICIENT_DATA" if model.mode == GLOBAL else "TRAINED"
