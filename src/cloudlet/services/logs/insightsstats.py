"""The stats command of Logs Insights queries run over records: groups by
the `by` values, and the stats functions (compiled by insightsfunctions.py
into AggSpecs) over each group. Pure; standard library only.

Where the guide is silent, this engine chooses:
- A group with a missing `by` value is kept; stats without `by` gives its
  one row even over no events (count 0).
- pct is nearest-rank (a value of the data set); stddev is the sample
  standard deviation; earliest/latest of a time give epoch milliseconds
  (AWS does); min/max of a time stay times. count(field) counts events
  where it has a value; avg/sum/stddev skip values that are not numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cloudlet.services.logs.insightsfunctions import AggSpec
from cloudlet.services.logs.insightsvalues import (
    Record,
    Timestamp,
    as_number,
    as_text,
    sort_key,
)


def _better(first: bool):
    """Picks the value that sorts first (or last) in the natural order."""
    def pick(best, value):
        if best is None:
            return value
        return value if (sort_key(value) < sort_key(best)) == first and sort_key(value) != sort_key(best) \
            else best
    return pick


class _State:
    """One stats function over one group."""
    __slots__ = ("best", "best_text", "n", "seen", "spec", "total", "values")

    def __init__(self, spec: AggSpec):
        self.spec, self.n, self.total, self.values = spec, 0, 0, []
        self.best = self.best_text = None
        self.seen: set | None = set() if spec.name == "count_distinct" else None

    def add(self, rec: Record) -> None:
        spec = self.spec
        if spec.arg is None:
            self.n += 1
            return
        value = spec.arg(rec)
        if value is None:
            return
        name = spec.name
        if name == "count":
            self.n += 1
        elif name == "count_distinct":
            self.seen.add(as_text(value))
        elif name in ("sum", "avg", "stddev"):
            number = as_number(value)
            if number is not None:
                self.n += 1
                self.total += number
                if name == "stddev":
                    self.values.append(number)
        elif name in ("min", "max"):
            number = as_number(value)
            if number is not None:
                if self.best is None or (number < as_number(self.best) if name == "min" else number > as_number(self.best)):
                    self.best = value
            else:
                self.best_text = _better(name == "min")(self.best_text, value)
        elif name == "pct":
            self.values.append(value)
        elif name in ("earliest", "latest"):
            ms = rec.get("@timestamp")
            if ms is not None and (self.best is None or (ms < self.best[0] if name == "earliest"
                                                         else ms > self.best[0])):
                self.best = (ms, value)
        else:  # sortsFirst / sortsLast
            self.best = _better(name == "sortsfirst")(self.best, value)

    def result(self):
        name = self.spec.name
        if name == "count":
            return self.n
        if name == "count_distinct":
            return len(self.seen)
        if name in ("sum", "avg", "stddev") and not self.n:
            return None
        if name == "sum":
            return self.total
        if name == "avg":
            return self.total / self.n
        if name == "stddev":
            mean = self.total / self.n
            return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (self.n - 1)) if self.n > 1 else 0
        if name in ("min", "max"):
            return self.best if self.best is not None else self.best_text
        if name == "pct":
            if not self.values:
                return None
            ordered = sorted(self.values, key=sort_key)
            rank = max(math.ceil(self.spec.percent / 100 * len(ordered)), 1)
            return ordered[rank - 1]
        if name in ("earliest", "latest"):
            value = None if self.best is None else self.best[1]
            return int(value) if isinstance(value, Timestamp) else value
        return self.best


@dataclass
class Stats:
    groups: list  # [(name, fn, is a bin)]
    items: list  # [(name, fn)]
    aggs: list  # [AggSpec]

    def run(self, recs: list[Record]) -> list[Record]:
        found: dict[tuple, tuple[list, list[_State]]] = {}
        for rec in recs:
            values = [fn(rec) for _, fn, _ in self.groups]
            key = tuple(as_text(v) for v in values)
            group = found.get(key)
            if group is None:
                group = found[key] = (values, [_State(spec) for spec in self.aggs])
            for state in group[1]:
                state.add(rec)
        if not self.groups and not found:  # stats with no `by` gives one row, even over nothing
            found[()] = ([], [_State(spec) for spec in self.aggs])
        rows = []
        for values, states in found.values():
            row = Record()
            for (name, _, is_bin), value in zip(self.groups, values):
                row.vals[name] = value
                if is_bin:
                    row.vals.setdefault("@timestamp", value)
            for i, state in enumerate(states):
                row.vals[("agg", i)] = state.result()
            for name, fn in self.items:
                row.vals[name] = fn(row)
            rows.append(row)
        return rows

