"""CloudWatch's extended statistics: their names (`parse`) and their values
over a period's raw values (`window`, `between`). Pure.

Definitions (CloudWatch user guide, "CloudWatch statistics definitions",
its Syntax section and its note on fixed boundaries):

* pNN(.NN): nearest rank, the value at rank max(1, ceil(NN/100 * N)) of the
  N sorted values (counts are weights). Computed by metrics.Bucket.
* TM, WM, TC, TS (trimmed mean, winsorized mean, trimmed count, trimmed
  sum) over a range:
  - percentages, TM(a%:b%), TM(a%:), TM(:b%), and the lower-case shorthand
    tmNN = TM(:NN%): the values between the a-th and b-th percentiles, that
    is the part of the sorted values lying in [a*N/100, b*N/100] of their
    cumulative count (a data point straddling a boundary counts for the
    fraction inside it: the guide's "interpolated approximation", TC may
    be fractional). The largest value kept is the nearest-rank p_b, so
    "p99 is the maximum of the remaining 99%, tm99 their average" holds.
  - fixed values, TM(x:y), TM(x:), TM(:y): the values v with x < v <= y
    ("includes values equal to the higher boundary, but does not include
    values equal to the lower boundary").
  TM = TS / TC (no value when nothing is kept); TC and TS are 0 then.
  WM: the values below the range count as its lowest kept value and those
  above as its highest (percentages), or as the boundary values themselves
  (fixed values); then the mean over all N.
* IQM = TM(25%:75%).
* PR(x:y), fixed values only, either omitted: 100 * (count of x < v <= y) / N
  ("exclusive on the lower bound and inclusive on the upper bound").

Numbers: percentages 0-100, fixed values any non-negative number, up to 10
decimal places. Upper-case letters take the parenthesised range (both
bounds percentages or both fixed, at least one given, lower <= upper);
lower-case letters take one number (a percentage, no `%`)."""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from functools import lru_cache
from typing import NamedTuple

BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PCT = r"(?:\d{1,2}(?:\.\d{1,10})?|100(?:\.0{1,10})?)"
_SHORT = re.compile(rf"^(p|tm|wm|tc|ts)({_PCT})$")
_BOUND = rf"(?:({_PCT})(%)|(\d+(?:\.\d{{1,10}})?))?"
_RANGE = re.compile(rf"^(TM|WM|TC|TS|PR)\({_BOUND}:{_BOUND}\)$")
_EPS = 1e-9


class Stat(NamedTuple):
    kind: str  # "p", "TM", "WM", "TC", "TS" or "PR"
    lower: float | None  # None: no lower bound
    upper: float | None  # None: no upper bound
    percent: bool  # bounds are percentages (else fixed values)


@lru_cache(maxsize=4096)
def parse(name: str) -> Stat | None:
    """The extended statistic `name`, or None when it is not one."""
    if name == "IQM":
        return Stat("TM", 25.0, 75.0, True)
    m = _SHORT.match(name)
    if m:
        kind, number = m.group(1), float(m.group(2))
        if kind == "p":
            return Stat("p", None, number, True)
        return Stat(kind.upper(), None, number, True)
    m = _RANGE.match(name)
    if not m:
        return None
    kind, lo_pct, lo_sign, lo_abs, hi_pct, hi_sign, hi_abs = m.groups()
    lower = lo_pct if lo_sign else lo_abs
    upper = hi_pct if hi_sign else hi_abs
    if lower is None and upper is None:
        return None
    percent = bool(lo_sign or hi_sign)
    if lower is not None and upper is not None and bool(lo_sign) != bool(hi_sign):
        return None  # one bound a percentage, the other a value
    if percent and kind == "PR":
        return None  # percentile rank takes fixed values
    lo = float(lower) if lower is not None else None
    hi = float(upper) if upper is not None else None
    if lo is not None and hi is not None and lo > hi:
        return None
    return Stat(kind, lo, hi, percent)


def valid(name: str) -> bool:
    """A statistic a MetricStat may name: a basic or an extended one."""
    return name in BASIC or parse(name) is not None


def extended(name: str) -> bool:
    return parse(name) is not None


def _snap(x: float) -> float:
    r = round(x)
    return float(r) if abs(x - r) < _EPS * max(1.0, abs(x)) else x


def window(values, weights, total: float, kind: str, lower: float, upper: float) -> float | None:
    """TM, WM, TC or TS of the sorted `values` (with `weights`, None when
    all are 1; `total` their sum) between the lower-th and upper-th
    percentiles (0-100)."""
    lo = _snap(lower * total / 100.0)
    hi = _snap(upper * total / 100.0)
    count = kept = 0.0
    first = last = None
    if weights is None:
        n = len(values)
        k0 = int(math.floor(lo))
        k1 = min(int(math.ceil(hi)), n)
        if hi > lo and k0 < k1:
            if k1 - k0 == 1:
                count = hi - lo
                kept = count * values[k0]
            else:
                f0, f1 = (k0 + 1) - lo, hi - (k1 - 1)
                count = f0 + f1 + (k1 - k0 - 2)
                kept = f0 * values[k0] + f1 * values[k1 - 1] + math.fsum(values[k0 + 1:k1 - 1])
            first, last = values[k0], values[k1 - 1]
    else:
        seen = 0.0
        parts = []
        for v, w in zip(values, weights):
            start, seen = seen, seen + w
            inside = min(hi, seen) - max(lo, start)
            if inside > 0:
                count += inside
                parts.append(inside * v)
                if first is None:
                    first = v
                last = v
            if seen >= hi:
                break
        kept = math.fsum(parts)
    if kind == "TC":
        return count
    if kind == "TS":
        return kept
    if count <= 0:
        return None
    if kind == "TM":
        return kept / count
    # WM: below the window counts as its lowest value, above as its highest.
    return (kept + lo * first + (total - hi) * last) / total


def between(values, weights, total: float, kind: str, lower: float | None, upper: float | None) -> float | None:
    """TM, WM, TC, TS or PR of the sorted `values` (with `weights`, None
    when all are 1; `total` their sum) over lower < v <= upper (None: no
    bound)."""
    i0 = 0 if lower is None else bisect_right(values, lower)
    i1 = len(values) if upper is None else bisect_right(values, upper)
    i1 = max(i0, i1)
    if weights is None:
        count = float(i1 - i0)
        kept = math.fsum(values[i0:i1])
    else:
        count = math.fsum(weights[i0:i1])
        kept = math.fsum([v * w for v, w in zip(values[i0:i1], weights[i0:i1])])
    if kind == "PR":
        return 100.0 * count / total
    if kind == "TC":
        return count
    if kind == "TS":
        return kept
    if kind == "TM":
        return kept / count if count > 0 else None
    # WM: values at or below the lower bound count as it, above the upper as it.
    below = float(i0) if weights is None else math.fsum(weights[:i0])
    above = total - below - count
    return (kept + (below * lower if below else 0.0) + (above * upper if above else 0.0)) / total


def compute(stat: Stat, values, weights, total: float) -> float | None:
    """A non-percentile extended statistic of sorted values."""
    if total <= 0:
        return None
    if stat.percent:
        lower = 0.0 if stat.lower is None else stat.lower
        upper = 100.0 if stat.upper is None else stat.upper
        return window(values, weights, total, stat.kind, lower, upper)
    return between(values, weights, total, stat.kind, stat.lower, stat.upper)
