"""Metric-alarm evaluation: one alarm, one evaluation, no storage and no I/O.

The caller (alarms.py) asks `evaluation_window` which datapoints to fetch,
fetches one statistic per period over it, and hands them to `evaluate`, which
answers the new state with AWS's StateReason and StateReasonData, or None
when the alarm keeps its state.

Sources (quoted where a rule is applied):

  [EVAL]    CloudWatch User Guide, "Alarm evaluation" and "Configuring how
            CloudWatch alarms treat missing data" (alarms-and-missing-data),
            with its section "How alarm state is evaluated when data is
            missing", its two tables (3 of 3 and 2 of 3, evaluation range 5)
            and "Avoiding premature transitions to alarm state".
  [OLDDOC]  The same page as published 2019-2021 (awsdocs/amazon-cloudwatch-
            user-guide, doc_source/AlarmThatSendsEmail.md; rows "- - - - X"
            and "X - - - -" added by awsdocs PR #13 from observed behaviour),
            whose rows the current page no longer shows.
  [PCT]     Same guide, "Percentile-based alarms and low data samples".
  [REAL]    StateReason / StateReasonData written by AWS, as quoted in public
            repositories, SNS messages and EventBridge "CloudWatch Alarm
            State Change" events (the AWS EventBridge doc examples among
            them). Each format below names the example it follows.

Decisions (what the docs leave open, and what was chosen):

* Periods. An evaluation at `now` looks at whole periods only: the newest
  period ends at `now` rounded down to the minute (to the period, for periods
  under a minute), so the period still in progress is never evaluated.
  [REAL]: queryDate 2024-07-16T13:14:42.817 evaluates the datapoint of 13:13:00
  (period 60); queryDate 2026-01-17T17:07:38 evaluates 17:02:00 (period 300,
  so periods are aligned to the evaluation minute, not to multiples of the
  period); a 900 s alarm evaluated at 08:14:49 listed buckets 06:14, 06:29,
  ..., 07:59; INSUFFICIENT_DATA at 12:31:29 lists periods 12:30, 12:29, ...
* Evaluation range. N + 2 periods (`RANGE_EXTRA`). [EVAL] only says "a higher
  number of data points than Evaluation Periods" and shows 5 for N = 3; the
  900 s alarm above (N = 8, breaching, last datapoint at 05:43:53) went to
  ALARM at the evaluation of 08:14 and not of 08:13, which is exactly a range
  of 10 = N + 2.
* M of N over real points. With at least N real datapoints in the range the N
  most recent of them are evaluated and TreatMissingData is not used; with
  fewer, every real datapoint is used and N - real periods are filled [EVAL].
* breaching / notBreaching fill those periods. missing / ignore do not fill:
  - no real datapoint at all: missing -> INSUFFICIENT_DATA, ignore -> keep;
  - at least M real breaching -> ALARM;
  - a real non-breaching datapoint in the range -> OK (rows "0 - - - -",
    "0 - X - -", "- - - - 0": OK for MISSING and IGNORE);
  - otherwise (some real datapoints, all breaching, fewer than M): the
    premature-alarm rule. If the oldest of them is at least M periods old
    ("- - X - -" with M = 3, "- - - X -" with M = 2, [OLDDOC] "X - - - -")
    missing -> ALARM; if not ([OLDDOC] "- - - - X") missing ->
    INSUFFICIENT_DATA. ignore keeps the state in both cases ("Retain current
    state" in every such row). [EVAL]'s wording ("the oldest available
    breaching datapoint ... and all other more recent data points are
    breaching or missing") would put "0 - X - -" (2 of 3) in ALARM, but its
    own table says OK; [OLDDOC] words the condition as "the oldest evaluated
    data point is breaching and there aren't any non-breaching data points",
    which is what is applied (awsdocs issue #129 reports the same
    contradiction).
* Band alarms (anomaly detection): a period breaches below the lower and/or
  above the upper band (strictly); a period with a value but no band point
  is missing.
* Low-sample percentiles [PCT]: with EvaluateLowSampleCountPercentile=ignore
  and a pNN statistic, the alarm keeps its state when any evaluated datapoint
  has fewer than 10/(1-p) samples (p >= 0.5) or 10/p samples (p < 0.5);
  p0 and p100 (the minimum and maximum) are never "low". "evaluate" (or no
  setting) evaluates as usual.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from decimal import Decimal

OK = "OK"
ALARM = "ALARM"
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"

RANGE_EXTRA = 2  # evaluation range = EvaluationPeriods + RANGE_EXTRA periods

BAND_OPERATORS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                  "GreaterThanUpperThreshold")

# "was greater than ..." / "was not greater than ..." [REAL]
_OPERATOR_WORDS = {
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "GreaterThanThreshold": "greater than",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}

_PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")


@dataclass
class AlarmSpec:
    """One metric alarm's evaluation settings.

    `datapoints_to_alarm_given`: the alarm was put with DatapointsToAlarm
    (the console always sends it). AWS then words its reason "M out of the
    last N datapoints [...] ... (minimum M datapoints for OK -> ALARM
    transition)"; without it, "N datapoints [...] were ...". [REAL]: the
    DescribeAlarms outputs quoted with the short form carry no
    DatapointsToAlarm; band (anomaly) alarms always use the long form.
    """

    period: int
    evaluation_periods: int
    datapoints_to_alarm: int  # M (defaults to N)
    comparison: str
    threshold: float | None  # None for band alarms
    treat_missing: str = "missing"  # missing | ignore | breaching | notBreaching
    statistic: str | None = "Average"  # Statistic or ExtendedStatistic; None for metric math
    evaluate_low_sample_count_percentile: str | None = None  # "evaluate" | "ignore" | None
    unit: str | None = None
    datapoints_to_alarm_given: bool = False


@dataclass
class Point:
    """One period's datapoint: `ts` is the period's start."""

    ts: float
    value: float
    sample_count: float | None = None
    lower: float | None = None  # band alarms
    upper: float | None = None


@dataclass
class Outcome:
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str  # StateReason
    reason_data: dict  # StateReasonData (the caller JSON-encodes it)


# -- the window ----------------------------------------------------------------


def _n_m(spec: AlarmSpec) -> tuple[int, int]:
    n = max(1, int(spec.evaluation_periods or 1))
    m = int(spec.datapoints_to_alarm or n)
    return n, min(max(m, 1), n)


def range_periods(spec: AlarmSpec) -> int:
    """How many periods the evaluation range holds."""
    return _n_m(spec)[0] + RANGE_EXTRA


def window_end(spec: AlarmSpec, now: float) -> float:
    """End of the newest whole period an evaluation at `now` looks at."""
    step = min(60, spec.period)
    return float(math.floor(now / step) * step)


def evaluation_window(spec: AlarmSpec, now: float) -> tuple[float, float]:
    """[start, end) of datapoints to fetch for an evaluation at `now` (the
    evaluation range; periods are [end - k*period, end - (k-1)*period), so a
    fetch aligned to `start` gives exactly these periods)."""
    end = window_end(spec, now)
    return end - range_periods(spec) * spec.period, end


# -- evaluation ----------------------------------------------------------------


@dataclass
class _Slot:
    age: int  # 0: the newest period
    point: Point
    breach: bool


def _breaches(spec: AlarmSpec, p: Point) -> bool | None:
    """Whether a datapoint breaches; None when it cannot be judged (missing)."""
    v = p.value
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    op = spec.comparison
    if op in BAND_OPERATORS:
        if p.lower is None or p.upper is None:
            return None
        if op == "LessThanLowerThreshold":
            return v < p.lower
        if op == "GreaterThanUpperThreshold":
            return v > p.upper
        return v < p.lower or v > p.upper
    t = spec.threshold
    if op == "GreaterThanOrEqualToThreshold":
        return v >= t
    if op == "GreaterThanThreshold":
        return v > t
    if op == "LessThanThreshold":
        return v < t
    if op == "LessThanOrEqualToThreshold":
        return v <= t
    raise ValueError(f"unknown comparison operator {op!r}")


def low_sample_minimum(statistic: str | None) -> float | None:
    """The fewest samples a pNN datapoint needs to be significant [PCT]:
    10/(1-p) for p in [0.5, 1), 10/p for p in (0, 0.5); None when the
    statistic is not a percentile (or is p0 / p100)."""
    match = _PERCENTILE.match(statistic or "")
    if not match:
        return None
    p = float(match.group(1)) / 100.0
    if p <= 0.0 or p >= 1.0:
        return None
    return 10.0 / (1.0 - p) if p >= 0.5 else 10.0 / p


def _slots(spec: AlarmSpec, points: list[Point], end: float, span: int) -> list[_Slot]:
    """The real datapoints of the range, newest first (one per period; a
    later point for the same period wins)."""
    by_age: dict[int, _Slot] = {}
    for p in points:
        if p.ts >= end or p.ts < end - span * spec.period:
            continue  # the period in progress, or outside the range
        breach = _breaches(spec, p)
        if breach is None:
            continue
        age = int((end - p.ts) // spec.period) - 1
        by_age[age] = _Slot(age, p, breach)
    return [by_age[a] for a in sorted(by_age)]


def evaluate(spec: AlarmSpec, points: list[Point], now: float, current_state: str) -> Outcome | None:
    """The new state at `now` given the datapoints in the window; None = keep
    the current state (all missing with treat_missing=ignore, the cases the
    docs mark "Retain current state", a low-sample percentile with 'ignore').
    The outcome may equal the current state: the caller decides whether that
    is a transition."""
    n, m = _n_m(spec)
    end = window_end(spec, now)
    real = _slots(spec, points, end, range_periods(spec))
    used = real[:n]  # [EVAL]: the most recent real datapoints, at most N
    treat = spec.treat_missing or "missing"
    if treat not in ("missing", "ignore", "breaching", "notBreaching"):
        treat = "missing"

    if spec.evaluate_low_sample_count_percentile == "ignore":
        least = low_sample_minimum(spec.statistic)
        if least is not None and any(s.point.sample_count is not None and s.point.sample_count < least
                                     for s in used):
            return None

    fill = n - len(used)  # periods TreatMissingData must fill
    breaching = sum(1 for s in used if s.breach)
    report = _Report(spec, n, m, end, now, used)

    if fill == 0:
        return report.threshold(ALARM if breaching >= m else OK)
    if treat == "breaching":
        return report.threshold(ALARM if breaching + fill >= m else OK, fill, "Breaching")
    if treat == "notBreaching":
        return report.threshold(ALARM if breaching >= m else OK, fill, "NonBreaching")
    # missing / ignore: nothing is filled in
    if not used:
        return None if treat == "ignore" else report.insufficient(n)
    if breaching >= m:
        return report.threshold(ALARM)
    if breaching < len(used):
        return report.threshold(OK)
    # Every real datapoint breaches but there are fewer than M of them.
    if treat == "ignore":
        return None
    if used[-1].age + 1 >= m:  # premature-alarm rule: the oldest is >= M periods old
        return report.threshold(ALARM)
    return report.insufficient(fill)


# -- StateReason and StateReasonData ---------------------------------------------


def format_number(x: float) -> str:
    """A double as Java's Double.toString writes it, which is how AWS writes
    values and thresholds in reasons and reason data [REAL]: "1.0", "0.005",
    "99.50160229693434", "40000.0"; scientific below 1e-3 and from 1e7
    ("1.0E7", "1.5E-4")."""
    x = float(x)
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    if math.isinf(x) or math.isnan(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if 1e-3 <= abs(x) < 1e7:
        return repr(x)  # shortest repr; Python writes "1.0" for integral values as Java does
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    mantissa = f"{digits[0]}." + ("".join(map(str, digits[1:])) or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(digits) - 1 + exponent}"


def reason_date(ts: float) -> str:
    """"26/03/21 22:44:00": the datapoint dates of a StateReason, UTC [REAL]."""
    return time.strftime("%d/%m/%y %H:%M:%S", time.gmtime(ts))


def data_date(ts: float) -> str:
    """"2019-10-01T13:56:40.985+0000": the dates of StateReasonData [REAL]."""
    ms = round(ts * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}+0000"


def _s(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def _was(k: int) -> str:
    return "was" if k == 1 else "were"


class _Report:
    """Builds the Outcome of one evaluation."""

    def __init__(self, spec: AlarmSpec, n: int, m: int, end: float, now: float, used: list[_Slot]):
        self.spec, self.n, self.m, self.end, self.now, self.used = spec, n, m, end, now, used

    def threshold(self, state: str, fill: int = 0, filled_as: str = "") -> Outcome:
        return Outcome(state, self._reason(state, fill, filled_as), self._data())

    def insufficient(self, unknown: int) -> Outcome:
        # [REAL] "Insufficient Data: 1 datapoint was unknown." (N = 1),
        # "Insufficient Data: 5 datapoints were unknown." (N = 5, all missing).
        # With some datapoints present (the "- - - - X" row) the count is the
        # number of periods that could not be filled: an assumption.
        return Outcome(INSUFFICIENT_DATA, f"Insufficient Data: {_s(unknown, 'datapoint')} {_was(unknown)} unknown.",
                       self._data())

    # The reason text. Formats and their sources [REAL]:
    #  "Threshold Crossed: 1 datapoint [6.0 (03/03/26 01:35:00)] was greater than or equal to the threshold (3.0)."
    #  "Threshold Crossed: 3 datapoints [2.0 (19/08/26 05:50:00), 3.0 (19/08/26 05:47:00), 1.0 (19/08/26
    #   05:44:00)] were greater than the threshold (0.0)."                 (newest first)
    #  "Threshold Crossed: 1 datapoint [0.0 (19/08/26 09:48:00)] was not greater than the threshold (0.0)."
    #   (an N = 3 alarm going OK lists only its non-breaching datapoints)
    #  "Threshold Crossed: 1 datapoint [2.0 (19/08/26 09:36:00)] was not less than or equal to the threshold
    #   (0.0) and 7 missing datapoints were treated as [Breaching]."
    #  "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as
    #   [Breaching]." / "... for 8 periods and 8 missing datapoints were treated as [Breaching]." /
    #   "... treated as [NonBreaching]."
    #  "1 datapoint was received for 3 periods and 2 missing datapoints were treated as [Breaching]"
    #   (an alarm whose only real datapoint did not breach, M = 2, N = 3)
    #  With DatapointsToAlarm:
    #  "Threshold Crossed: 1 out of the last 1 datapoints [9.0 (26/03/21 22:44:00)] was greater than or equal
    #   to the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition)."
    #  "Threshold Crossed: 2 out of the last 3 datapoints [0.002 (17/07/26 04:13:00), 0.002 (17/07/26
    #   04:08:00)] were not greater than the threshold (0.005) (minimum 1 datapoint for ALARM -> OK
    #   transition)."                                        (OK needs N - M + 1 non-breaching datapoints)
    #  "Threshold Crossed: 1 out of the last 20 datapoints [613.0 (16/03/24 12:15:00)] was greater than or
    #   equal to the threshold (1.0) and 19 missing datapoints were treated as [NonBreaching] (minimum 1
    #   datapoint for OK -> ALARM transition)."
    #  Band alarms:
    #  "Thresholds Crossed: 1 out of the last 1 datapoints [0.0 (03/10/19 15:58:00)] was less than the lower
    #   thresholds [0.020599444741798756] or greater than the upper thresholds [0.3006915352732461] (minimum
    #   1 datapoint for OK -> ALARM transition)."
    #  "Thresholds Crossed: 1 out of the last 1 datapoints [17.0 (24/05/23 11:15:00)] was greater than the
    #   upper thresholds [15.981390464586445] (minimum 1 datapoint for OK -> ALARM transition)."
    # The OK wording of band alarms ("was not ...") is not on record: assumed.
    def _reason(self, state: str, fill: int, filled_as: str) -> str:
        spec, n = self.spec, self.n
        filled = f"{_s(fill, 'missing datapoint')} {_was(fill)} treated as [{filled_as}]" if fill else ""
        if not self.used:
            return f"Threshold Crossed: no datapoints were received for {_s(n, 'period')} and {filled}."
        support = [s for s in self.used if s.breach == (state == ALARM)]
        if not support:
            got = len(self.used)
            return (f"Threshold Crossed: {_s(got, 'datapoint')} {_was(got)} received for {_s(n, 'period')}"
                    f" and {filled}.")
        k = len(support)
        listed = "[" + ", ".join(f"{format_number(s.point.value)} ({reason_date(s.point.ts)})"
                                 for s in support) + "]"
        negation = "" if state == ALARM else "not "
        band = spec.comparison in BAND_OPERATORS
        if band:
            lower = "[" + ", ".join(format_number(s.point.lower) for s in support) + "]"
            upper = "[" + ", ".join(format_number(s.point.upper) for s in support) + "]"
            crossed = {
                "LessThanLowerThreshold": f"less than the lower thresholds {lower}",
                "GreaterThanUpperThreshold": f"greater than the upper thresholds {upper}",
            }.get(spec.comparison, f"less than the lower thresholds {lower} or greater than the upper thresholds "
                                   f"{upper}")
            text = f"Thresholds Crossed: {k} out of the last {n} datapoints {listed} {_was(k)} {negation}{crossed}"
        elif spec.datapoints_to_alarm_given:
            text = (f"Threshold Crossed: {k} out of the last {n} datapoints {listed} {_was(k)} {negation}"
                    f"{_OPERATOR_WORDS[spec.comparison]} the threshold ({format_number(spec.threshold)})")
        else:
            text = (f"Threshold Crossed: {_s(k, 'datapoint')} {listed} {_was(k)} {negation}"
                    f"{_OPERATOR_WORDS[spec.comparison]} the threshold ({format_number(spec.threshold)})")
        if filled:
            text += f" and {filled}"
        if band or spec.datapoints_to_alarm_given:
            need, change = (self.m, "OK -> ALARM") if state == ALARM else (n - self.m + 1, "ALARM -> OK")
            text += f" (minimum {_s(need, 'datapoint')} for {change} transition)"
        return text + "."

    # StateReasonData, keys in AWS's order [REAL]:
    #  {"version":"1.0","queryDate":"2023-04-07T09:09:15.917+0000","startDate":"2023-04-07T09:08:00.000+0000",
    #   "unit":"Count","statistic":"Minimum","period":60,"recentDatapoints":[0.0],"threshold":1.0,
    #   "evaluatedDatapoints":[{"timestamp":"2023-04-07T09:08:00.000+0000","sampleCount":1.0,"value":0.0}]}
    #  recentDatapoints oldest first ([65.6, 99.97] for a reason listing 99.97 (06:14), 65.6 (06:13));
    #  startDate the oldest of them; no startDate when there are none:
    #  {"version":"1.0","queryDate":"2023-08-04T12:31:29.591+0000","statistic":"Average","period":60,
    #   "recentDatapoints":[],"threshold":5.0,"evaluatedDatapoints":[{"timestamp":"2023-08-04T12:30:00.000+0000"},
    #   {"timestamp":"2023-08-04T12:29:00.000+0000"}, ...]}      (INSUFFICIENT_DATA, N = 5, newest first)
    #  Band alarms: "recentLowerThresholds" / "recentUpperThresholds" after recentDatapoints, no threshold.
    # evaluatedDatapoints: in every example with data it holds one entry, the
    # newest evaluated datapoint, even for N = 2 with two datapoints (2-of-2
    # alarm at 2021-04-13T16:06:38; Sum alarm at 2023-01-09T14:07:25); with no
    # data it lists the N newest periods, timestamps only. That is followed.
    def _data(self) -> dict:
        spec = self.spec
        oldest_first = list(reversed(self.used))
        data: dict = {"version": "1.0", "queryDate": data_date(self.now)}
        if oldest_first:
            data["startDate"] = data_date(oldest_first[0].point.ts)
        if spec.unit:
            data["unit"] = spec.unit
        if spec.statistic:
            data["statistic"] = spec.statistic
        data["period"] = spec.period
        data["recentDatapoints"] = [float(s.point.value) for s in oldest_first]
        if spec.comparison in BAND_OPERATORS:
            data["recentLowerThresholds"] = [float(s.point.lower) for s in oldest_first]
            data["recentUpperThresholds"] = [float(s.point.upper) for s in oldest_first]
        else:
            data["threshold"] = float(spec.threshold)
        if self.used:
            newest = self.used[0].point
            entry: dict = {"timestamp": data_date(newest.ts)}
            if newest.sample_count is not None:
                entry["sampleCount"] = float(newest.sample_count)
            entry["value"] = float(newest.value)
            data["evaluatedDatapoints"] = [entry]
        else:
            data["evaluatedDatapoints"] = [{"timestamp": data_date(self.end - (k + 1) * spec.period)}
                                           for k in range(self.n)]
        return data
