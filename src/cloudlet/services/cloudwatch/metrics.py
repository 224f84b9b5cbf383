"""CloudWatch metrics: PutMetricData, ListMetrics, GetMetricStatistics,
GetMetricData, and `stat_series`, the one way every other part (alarms,
metric math, anomaly models, widget images) reads a metric's statistic per
period. Vended AWS/* metrics arrive through `cloud.metrics` (sink.py).
"""

from __future__ import annotations

import math
import re
from array import array

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import mathexpr, tokens
from cloudlet.services.cloudwatch import stats as cwstats
from cloudlet.services.cloudwatch.store import INSERT_POINT, UPSERT_ROLLUP, dims_key, remember, resolve_metrics

MAX_METRIC_DATA = 1000
MAX_PUT_BYTES = 1_048_576
MAX_VALUES = 150
MAX_DATAPOINTS = 1440
MAX_GMD_DATAPOINTS = 100_800
LIST_PAGE = 500
TWO_WEEKS = 14 * 86400
TWO_HOURS = 2 * 3600
VALUE_LIMIT = 2.0 ** 360
HIGH_RES_PERIODS = (1, 5, 10, 20, 30)
_STATS = cwstats.BASIC
_BASIC = frozenset(_STATS)  # statistics the per-minute roll-up answers


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def _check_value(value, where: str) -> None:
    if value is None or math.isnan(value) or math.isinf(value) or abs(value) > VALUE_LIMIT:
        raise _invalid(f"The value {_show(value)} for parameter {where} is invalid.")


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def percentile(pairs: list[tuple[float, float]], p: float) -> float | None:
    """Nearest-rank percentile of weighted values [(value, count)]."""
    pairs = sorted(pairs)
    total = sum(n for _, n in pairs)
    if total <= 0:
        return None
    rank = max(1.0, math.ceil(p / 100.0 * total - 1e-9))
    seen = 0.0
    for value, n in pairs:
        seen += n
        if seen >= rank:
            return value
    return pairs[-1][0]


def _request_size(request) -> int:
    """The request's size as sent (Content-Length; a gzip body counts
    compressed)."""
    if request is None:
        return 0
    length = request.header("content-length")
    if length and length.isdigit():
        return int(length)
    body = request.body
    return len(body) if isinstance(body, (bytes, bytearray)) else 0


class Bucket:
    """The points of one period: their statistic set and, for percentiles
    and the other extended statistics (stats.py), their values: `runs`,
    arrays of values of count 1 each sorted (a stored point's values),
    `values`, other values of count 1 (unsorted), `pairs`, (value, count)
    of other counts."""

    __slots__ = ("count", "sum", "min", "max", "runs", "values", "pairs", "exact", "cache")

    def __init__(self):
        self.count = 0.0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.runs: list = []
        self.values = array("d")
        self.pairs: list = []
        self.exact = True  # every point's values are known (percentiles possible)
        self.cache = None  # sorted_values

    @classmethod
    def of(cls, count, total, lo, hi) -> "Bucket":
        """A statistic set without values (a roll-up row: no percentiles)."""
        b = cls()
        b.count, b.sum, b.min, b.max, b.exact = count, total, lo, hi, False
        return b

    def add(self, count, total, lo, hi, vals=None, packed=None, weights=None) -> None:
        self.cache = None
        self.count += count
        self.sum += total
        if lo < self.min:
            self.min = lo
        if hi > self.max:
            self.max = hi
        if packed is not None:
            if weights is None:
                self.runs.append(memoryview(packed).cast("d"))  # read in place: no copy
            else:
                self.pairs.extend(zip(array("d", packed), array("d", weights)))
        elif vals is not None:  # rows written before values were packed
            self.pairs.extend(tuple(v) for v in orjson.loads(vals))
        elif lo == hi:
            if count == 1:
                self.values.append(lo)
            else:
                self.pairs.append((lo, count))
        else:
            self.exact = False

    def merge(self, other: "Bucket") -> None:
        self.cache = None
        self.count += other.count
        self.sum += other.sum
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.runs += other.runs
        self.values.extend(other.values)
        self.pairs += other.pairs
        self.exact = self.exact and other.exact

    def stat(self, name: str):
        if name == "SampleCount":
            return self.count
        if name == "Sum":
            return self.sum
        if name == "Minimum":
            return self.min
        if name == "Maximum":
            return self.max
        if name == "Average":
            return self.sum / self.count if self.count else None
        st = cwstats.parse(name)
        if st is None or not self.exact or self.min < 0:
            return None  # raw values needed, none negative (as AWS documents)
        if st.kind != "p":
            values, weights, total = self.sorted_values()
            return cwstats.compute(st, values, weights, total)
        p = st.upper
        if self.pairs:
            ones = [(v, 1.0) for run in self.runs for v in run] + [(v, 1.0) for v in self.values]
            return percentile(ones + self.pairs, p)
        n = len(self.values) + sum(len(run) for run in self.runs)
        if not n:
            return None
        rank = min(max(1, math.ceil(p / 100.0 * n - 1e-9)), n)
        if len(self.runs) == 1 and not self.values:
            return self.runs[0][rank - 1]  # one stored point's values: already sorted
        # The rank-th smallest is among the rank smallest of each sorted
        # run (and the (n - rank + 1)-th largest among their as many
        # largest): only those are sorted.
        below, above = rank, n - rank + 1
        picked = self.values.tolist()
        if below <= above:
            for run in self.runs:
                picked += run[:below]
            picked.sort()
            return picked[below - 1]
        for run in self.runs:
            picked += run[-above:]
        picked.sort()
        return picked[-above]

    def sorted_values(self) -> tuple:
        """(values ascending, weights aligned or None when all are 1, their
        total weight) of an exact bucket; kept for its other statistics."""
        have = self.cache
        if have is None:
            if self.pairs:
                pairs = [(v, 1.0) for run in self.runs for v in run] + [(v, 1.0) for v in self.values] + self.pairs
                pairs.sort()
                weights = [w for _, w in pairs]
                have = ([v for v, _ in pairs], weights, math.fsum(weights))
            else:
                values = self.values.tolist()
                for run in self.runs:
                    values += run
                values.sort()
                have = (values, None, float(len(values)))
            self.cache = have
        return have


_units: dict = {}


def _plain_put(op, params: dict) -> bool:
    """True when the model's constraints cannot reject this PutMetricData
    (names and dimensions within their lengths, known units, ...)."""
    # The protocol's parse already gave every member its model type and
    # kept only modeled members: lengths, enums, patterns and required
    # members are left.
    if params.keys() - {"Namespace", "MetricData"}:
        return False
    ns = params.get("Namespace")
    if ns is None or not 0 < len(ns) <= 255 or ns[0] == ":" or "\n" in ns:
        return False
    units = _units.get(op.name)
    if units is None:
        units = _units[op.name] = frozenset(op.input.members["MetricData"].member.members["Unit"].enum)
    seen: set = set()  # dimension sets already checked (as (name, value) tuples)
    for datum in params.get("MetricData") or ():
        name = datum.get("MetricName")
        if name is None or not 0 < len(name) <= 255:
            return False
        dims = datum.get("Dimensions")
        if dims:
            if len(dims) > 30:
                return False
            for d in dims:
                n, v = d.get("Name"), d.get("Value")
                if (n, v) in seen:
                    continue
                if n is None or v is None or not 0 < len(n) <= 255 or not 0 < len(v) <= 1024:
                    return False
                seen.add((n, v))
        unit = datum.get("Unit")
        if unit is not None and unit not in units:
            return False
        if len(datum) > 4:  # more than MetricName, Dimensions, Value, Unit
            res = datum.get("StorageResolution")
            if res is not None and res < 1:
                return False
            stats = datum.get("StatisticValues")
            if stats is not None and len(stats) < 4:
                return False
    return True


def _point(rows: list) -> tuple:
    """(count, sum, min, max, packed, weights) of one stored point from a
    request's datum rows (`_datum`) sharing metric, timestamp, unit and
    resolution: values sorted ascending as float64s, weights aligned (None
    when all are 1); no values when one row is a statistic set whose min
    and max differ (the point then has no percentiles)."""
    if len(rows) == 1:
        row = rows[0]
        count, total, lo, hi, vals, weights = row[4], row[5], row[6], row[7], row[8], row[9]
        if vals is None:
            return count, total, lo, hi, None, None
        if weights is None:
            vals.sort()
            return count, total, lo, hi, array("d", vals).tobytes(), None
    else:
        if all(row[8] is None and row[4] == 1.0 and row[6] == row[7] for row in rows):  # single Values
            vals = [row[6] for row in rows]
            total = sum([row[5] for row in rows])
            vals.sort()
            return float(len(vals)), total, vals[0], vals[-1], array("d", vals).tobytes(), None
        count, total, lo, hi = 0.0, 0.0, math.inf, -math.inf
        vals, weights, weighted, exact = [], [], False, True
        for row in rows:
            count += row[4]
            total += row[5]
            lo = min(lo, row[6])
            hi = max(hi, row[7])
            if row[8] is not None:
                vals.extend(row[8])
                if row[9] is None:
                    weights.extend([1.0] * len(row[8]))
                else:
                    weights.extend(row[9])
                    weighted = True
            elif row[6] == row[7]:
                vals.append(row[6])
                weights.append(row[4])
                weighted = weighted or row[4] != 1
            else:
                exact = False
        if not exact:
            return count, total, lo, hi, None, None
        if not weighted:
            vals.sort()
            return count, total, lo, hi, array("d", vals).tobytes(), None
    order = sorted(range(len(vals)), key=vals.__getitem__)
    return (count, total, lo, hi, array("d", [vals[i] for i in order]).tobytes(),
            array("d", [weights[i] for i in order]).tobytes())


class MetricOps:
    """The metric operations (a mixin of CloudWatchService)."""

    def _flush(self) -> None:
        self.cloud.metrics.flush()

    def stat_series(self, account: str, region: str, metric: dict, period: int, stat: str, start: float,
                    end: float, unit: str | None = None) -> list[tuple[float, float]]:
        """[(period start, value)] ascending of one metric's statistic over
        [start, end), periods aligned as GetMetricData aligns them; periods
        without data (or whose statistic is undefined) are left out.
        `metric`: {Namespace, MetricName, Dimensions}."""
        self._flush()
        mid = self.storage.scalar(
            "SELECT id FROM cloudwatch_metrics WHERE account = ? AND region = ? AND namespace = ? AND name = ? "
            "AND dims = ?", (account, region, metric.get("Namespace"), metric.get("MetricName"),
                             dims_key(metric.get("Dimensions"))))
        if mid is None:
            return []
        aligned = self._aligned_start(start, period)
        merged: dict = {}
        for (ts, _unit), bucket in self._buckets(mid, aligned, end, period, unit, stat not in _BASIC).items():
            have = merged.get(ts)
            if have is None:
                merged[ts] = bucket
            else:
                have.merge(bucket)
        out = []
        for ts in sorted(merged):
            value = merged[ts].stat(stat)
            if value is not None:
                out.append((ts, value))
        return out

    # -- PutMetricData ----------------------------------------------------

    def check_input(self, op, params, request):
        """Only a PutMetricData in which nothing can break a constraint (the
        common case; the generic check costs more than storing a datum) is
        checked here; False hands every other request to the model's
        validation, for AWS's exact messages."""
        return None if op.name == "PutMetricData" and _plain_put(op, params) else False

    def PutMetricData(self, ctx, params):
        # "Each PutMetricData request is limited to 1 MB in size for HTTP POST
        # requests" (gzip counts as sent): AWS's 413 with its wording.
        size = _request_size(ctx.request)
        if size > MAX_PUT_BYTES:
            raise AwsError("RequestEntityTooLarge", f"Request size {size} exceeded {MAX_PUT_BYTES} bytes", 413)
        namespace = params["Namespace"]
        data = list(params.get("MetricData") or [])
        for entity in params.get("EntityMetricData") or []:
            data.extend(entity.get("MetricData") or [])
        if not data:
            raise AwsError("MissingParameter", "The parameter MetricData is required.")
        if namespace.startswith("AWS/"):
            raise _invalid("The value AWS/ for parameter Namespace is invalid.")
        if len(data) > MAX_METRIC_DATA:
            raise _invalid(f"The collection MetricData must not have a size greater than {MAX_METRIC_DATA}.")
        now = self.clock.now()
        rows = self._rows(data, now)
        account, region = ctx.account_id, ctx.region
        # The request's points of one (metric, timestamp, unit, resolution)
        # become one row; each minute one roll-up upsert.
        newest: dict = {}
        groups: dict = {}
        for row in rows:
            metric = (row[0], row[1])
            if newest.get(metric, -math.inf) < row[2]:
                newest[metric] = row[2]
            if row[4] <= 0:
                continue  # Values whose counts are all 0: the metric exists, no datapoint
            gkey = (metric, row[2], row[3], row[10])
            group = groups.get(gkey)
            if group is None:
                groups[gkey] = [row]
            else:
                group.append(row)
        wanted = {(account, region, namespace, n, d): ts for (n, d), ts in newest.items()}
        storage = self.storage
        ids_cache = self.cloud.metrics.ids
        with storage.tx():
            ids, learned = resolve_metrics(storage, ids_cache, wanted, now)
            points, minutes = [], {}
            for ((name, dk), ts, unit, resolution), group in groups.items():
                mid = ids[(account, region, namespace, name, dk)]
                point = _point(group)
                points.append((mid, ts, unit, *point, resolution))
                mkey = (mid, int(ts // 60) * 60, unit)
                agg = minutes.get(mkey)
                if agg is None:
                    minutes[mkey] = list(point[:4])
                else:
                    agg[0] += point[0]
                    agg[1] += point[1]
                    agg[2] = min(agg[2], point[2])
                    agg[3] = max(agg[3], point[3])
            storage.executemany(INSERT_POINT, points)
            storage.executemany(UPSERT_ROLLUP, [(*k, *v) for k, v in minutes.items()])
        remember(ids_cache, learned)
        return {}

    def _rows(self, data: list, now: float) -> list:
        """`_datum` of each datum; a datum of one Value whose dimension set
        was seen before in the request (most of them) takes a short cut
        with the same checks."""
        dkeys: dict = {}
        rows = []
        append = rows.append
        oldest, newest = now - TWO_WEEKS, now + TWO_HOURS
        for i, datum in enumerate(data, 1):
            value = datum.get("Value")
            if value is not None and "StatisticValues" not in datum and "Values" not in datum \
                    and "StorageResolution" not in datum and value == value and abs(value) <= VALUE_LIMIT:
                dims = datum.get("Dimensions")
                if not dims:
                    frozen = ()
                elif len(dims) == 1:
                    frozen = (dims[0]["Name"], dims[0]["Value"])
                else:
                    frozen = tuple([(d["Name"], d["Value"]) for d in dims])
                dk = dkeys.get(frozen)
                ts = datum.get("Timestamp")
                if ts is None:
                    ts = now
                if dk is not None and oldest <= ts <= newest:
                    append((datum["MetricName"], dk, ts, datum.get("Unit") or "None", 1.0, value, value, value,
                            None, None, 60))
                    continue
                row = self._datum(datum, f"MetricData.member.{i}", now)
                dkeys[frozen] = row[1]
                append(row)
            else:
                append(self._datum(datum, f"MetricData.member.{i}", now))
        return rows

    def _datum(self, datum: dict, where: str, now: float, dkeys: dict | None = None) -> tuple:
        """(name, dims key, ts, unit, count, sum, min, max, values, counts,
        resolution); values None for a Value or a statistic set, counts
        None when every count is 1. `dkeys` caches dimension keys."""
        dimensions = datum.get("Dimensions") or []
        frozen = tuple((d["Name"], d["Value"]) for d in dimensions)
        dk = dkeys.get(frozen) if dkeys is not None else None
        if dk is None:
            names = set()
            for j, d in enumerate(dimensions, 1):
                if d["Name"] in names:
                    raise _invalid(f"No metric may have duplicate dimension names. Found a duplicate of "
                                   f"{where}.Dimensions.member.{j}.Name: {d['Name']}")
                names.add(d["Name"])
            dk = dims_key(dimensions)
            if dkeys is not None:
                dkeys[frozen] = dk
        value = datum.get("Value")
        stats = datum.get("StatisticValues")
        values = datum.get("Values")
        counts = datum.get("Counts")
        given = [n for n, v in (("Value", value), ("StatisticValues", stats), ("Values", values)) if v is not None]
        if len(given) > 1:
            raise AwsError("InvalidParameterCombination",
                           f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive and "
                           "you have specified both.")
        if not given:
            raise AwsError("MissingParameter", f"The parameter {where}.Value is required.")
        resolution = datum.get("StorageResolution", 60)
        if resolution not in (1, 60):
            raise _invalid(f"The value {resolution} for parameter {where}.StorageResolution is invalid.")
        ts = datum.get("Timestamp")
        if ts is None:
            ts = now
        elif ts < now - TWO_WEEKS:
            raise _invalid(f"The parameter {where}.Timestamp must specify a time no more than two weeks in the past.")
        elif ts > now + TWO_HOURS:
            raise _invalid(f"The parameter {where}.Timestamp must specify a time no more than two hours in the future.")
        unit = datum.get("Unit") or "None"
        vals = None
        if value is not None:
            if value != value or abs(value) > VALUE_LIMIT:  # NaN, infinities, too large
                _check_value(value, f"{where}.Value")
            count, total, lo, hi = 1.0, value, value, value
        elif stats is not None:
            for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
                _check_value(stats.get(key), f"{where}.StatisticValues.{key}")
            if stats["SampleCount"] <= 0:
                raise _invalid(f"The value {_show(stats['SampleCount'])} for parameter "
                               f"{where}.StatisticValues.SampleCount is invalid.")
            if stats["Minimum"] > stats["Maximum"]:
                raise _invalid(f"The value {_show(stats['Minimum'])} for parameter {where}.StatisticValues.Minimum "
                               f"is invalid.")
            count, total, lo, hi = stats["SampleCount"], stats["Sum"], stats["Minimum"], stats["Maximum"]
        else:
            if len(values) > MAX_VALUES:
                raise _invalid(f"The collection {where}.Values must not have a size greater than {MAX_VALUES}.")
            if counts is not None and len(counts) != len(values):
                raise _invalid(f"The parameters {where}.Values and {where}.Counts must be of the same size.")
            if not values:
                raise AwsError("MissingParameter", f"The parameter {where}.Value is required.")
            counts = counts if counts is not None else [1.0] * len(values)
            for k, v in enumerate(values, 1):
                _check_value(v, f"{where}.Values.member.{k}")
            for k, c in enumerate(counts, 1):
                _check_value(c, f"{where}.Counts.member.{k}")
                if c < 0:
                    raise _invalid(f"The value {_show(c)} for parameter {where}.Counts.member.{k} is invalid.")
            pairs = [(v, c) for v, c in zip(values, counts) if c > 0]
            count = float(sum(c for _, c in pairs))
            total = float(sum(v * c for v, c in pairs))
            lo = min(v for v, _ in pairs) if pairs else 0.0
            hi = max(v for v, _ in pairs) if pairs else 0.0
            vals = [v for v, _ in pairs]
            weights = [float(c) for _, c in pairs] if any(c != 1 for _, c in pairs) else None
            if count == 0:
                return (datum["MetricName"], dk, ts, unit, 0.0, 0.0, 0.0, 0.0, None, None, resolution)
            return (datum["MetricName"], dk, ts, unit, count, total, lo, hi, vals, weights, resolution)
        return (datum["MetricName"], dk, ts, unit, count, total, lo, hi, None, None, resolution)

    # -- ListMetrics --------------------------------------------------------

    def ListMetrics(self, ctx, params):
        self._flush()
        # Metrics without a datapoint in two weeks are not listed (AWS).
        sql = ("SELECT id, namespace, name, dims FROM cloudwatch_metrics WHERE account = ? AND region = ? "
               "AND last_put >= ?")
        args: list = [ctx.account_id, ctx.region, self.clock.now() - TWO_WEEKS]
        if params.get("Namespace"):
            sql += " AND namespace = ?"
            args.append(params["Namespace"])
        if params.get("MetricName"):
            sql += " AND name = ?"
            args.append(params["MetricName"])
        if params.get("RecentlyActive"):
            if params["RecentlyActive"] != "PT3H":
                raise _invalid(f"The value {params['RecentlyActive']} for parameter RecentlyActive is invalid.")
            sql += " AND last_put >= ?"
            args.append(self.clock.now() - 3 * 3600)
        token = params.get("NextToken")
        if token:
            after = tokens.decode(token, int)
            sql += " AND id > ?"
            args.append(after)
        sql += " ORDER BY id"
        filters = params.get("Dimensions") or []
        metrics, last = [], None
        for mid, namespace, name, dims in self.storage.all(sql, args):
            pairs = orjson.loads(dims)
            have = dict(pairs)
            if any(f["Name"] not in have or ("Value" in f and f["Value"] is not None and have[f["Name"]] != f["Value"])
                   for f in filters):
                continue
            if len(metrics) == LIST_PAGE:
                break
            metrics.append({"Namespace": namespace, "MetricName": name,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in pairs]})
            last = mid
        else:
            last = None
        out = {"Metrics": metrics}
        if params.get("IncludeLinkedAccounts"):
            # No account is linked to this one (no cross-account
            # observability): every metric is the caller's own.
            out["OwningAccounts"] = [ctx.account_id] * len(metrics)
        if last is not None:
            out["NextToken"] = tokens.encode(last)
        return out

    # -- reading points -------------------------------------------------------

    def _metric_id(self, ctx, namespace, name, dimensions) -> int | None:
        return self.storage.scalar(
            "SELECT id FROM cloudwatch_metrics WHERE account = ? AND region = ? AND namespace = ? AND name = ? "
            "AND dims = ?", (ctx.account_id, ctx.region, namespace, name, dims_key(dimensions)))

    def _aligned_start(self, start: float, period: int) -> float:
        if period < 60:
            return math.floor(start / period) * period
        age = self.clock.now() - start
        step = 60 if age < 15 * 86400 else 300 if age < 63 * 86400 else 3600
        return math.floor(start / step) * step

    @staticmethod
    def _check_period(period: int, name: str = "Period") -> None:
        if period <= 0 or (period not in HIGH_RES_PERIODS and period % 60):
            raise _invalid(f"The parameter {name} must be 1, 5, 10, 20, 30, or a multiple of 60.")

    def _buckets(self, mid, start, end, period, unit, values: bool = True) -> dict:
        """{(bucket start, unit): Bucket} of a metric's points in [start, end).
        Without `values` (only SampleCount, Sum, Minimum, Maximum, Average
        wanted) and with whole-minute periods from a whole minute, the
        roll-up is read (its buckets have no values: no percentiles);
        otherwise the raw points."""
        if values or period % 60 or start % 60:
            return self._raw_buckets(mid, start, end, period, unit, start)
        start, period = int(start), int(period)
        whole = math.floor(end / 60) * 60  # minutes wholly before `end`
        sql = ("SELECT unit, ? + ((start - ?) / ?) * ?, SUM(count), SUM(sum), MIN(min), MAX(max) "
               "FROM cloudwatch_rollup WHERE metric_id = ? AND start >= ? AND start < ?")
        args: list = [start, start, period, period, mid, start, whole]
        if unit:
            sql += " AND unit = ?"
            args.append(unit)
        out = {(float(ts), u): Bucket.of(n, total, lo, hi)
               for u, ts, n, total, lo, hi in self.storage.all(sql + " GROUP BY 1, 2", args)}
        if whole < end:  # the points of a last, partial minute
            for key, bucket in self._raw_buckets(mid, start, end, period, unit, max(whole, start)).items():
                have = out.get(key)
                if have is None:
                    bucket.exact = False
                    out[key] = bucket
                else:
                    have.merge(bucket)
        return out

    def _raw_buckets(self, mid, start, end, period, unit, since) -> dict:
        """Buckets of the raw points in [since, end), periods from `start`."""
        sql = ("SELECT ts, unit, count, sum, min, max, vals, packed, weights FROM cloudwatch_points "
               "WHERE metric_id = ? AND ts >= ? AND ts < ?")
        args = [mid, since, end]
        if unit:
            sql += " AND unit = ?"
            args.append(unit)
        out: dict = {}
        for ts, u, count, total, lo, hi, vals, packed, weights in self.storage.all(sql, args):
            if count <= 0:
                continue
            key = (start + ((ts - start) // period) * period, u)
            bucket = out.get(key)
            if bucket is None:
                bucket = out[key] = Bucket()
            bucket.add(count, total, lo, hi, vals, packed, weights)
        return out

    # -- GetMetricStatistics -------------------------------------------------------

    def GetMetricStatistics(self, ctx, params):
        stats = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if bool(stats) == bool(extended):
            raise AwsError("InvalidParameterCombination",
                           "Must specify either Statistics or ExtendedStatistics, but not both.")
        for name in extended:
            if not cwstats.extended(name):
                raise _invalid(f"The value {name} for parameter ExtendedStatistics is not supported.")
        start, end, period = params["StartTime"], params["EndTime"], params["Period"]
        if start >= end:
            raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
        self._check_period(period)
        start = self._aligned_start(start, period)
        wanted = math.ceil((end - start) / period)
        if wanted > MAX_DATAPOINTS:
            raise AwsError("InvalidParameterCombination",
                           f"You have requested up to {wanted:,} datapoints, which exceeds the limit of "
                           f"{MAX_DATAPOINTS:,}. You may reduce the datapoints requested by increasing Period, "
                           "or decreasing the time range.")
        self._flush()
        out = {"Label": params["MetricName"], "Datapoints": []}
        mid = self._metric_id(ctx, params["Namespace"], params["MetricName"], params.get("Dimensions"))
        if mid is None:
            return out
        buckets = self._buckets(mid, start, end, period, params.get("Unit"), bool(extended))
        for (ts, unit), bucket in sorted(buckets.items()):
            point = {"Timestamp": ts, "Unit": unit}
            for name in stats:
                point[name] = bucket.stat(name)
            if extended:
                point["ExtendedStatistics"] = {n: v for n in extended if (v := bucket.stat(n)) is not None}
            out["Datapoints"].append(point)
        return out

    # -- GetMetricData ----------------------------------------------------------

    def GetMetricData(self, ctx, params):
        queries = params["MetricDataQueries"]
        if len(queries) > 500:
            raise _invalid("The collection MetricDataQueries must not have a size greater than 500.")
        start, end = params["StartTime"], params["EndTime"]
        if start >= end:
            raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
        ids = set()
        for i, q in enumerate(queries, 1):
            if not re.match(r"^[a-z][a-zA-Z0-9_]*$", q["Id"]):
                raise AwsError("ValidationError", f"The value {q['Id']} for parameter MetricDataQueries.member.{i}.Id "
                                                  "is invalid.")
            if q["Id"] in ids:
                raise AwsError("ValidationError", f"The value {q['Id']} for parameter MetricDataQueries.member.{i}.Id "
                                                  "is not unique.")
            ids.add(q["Id"])
            if (q.get("MetricStat") is None) == (q.get("Expression") is None):
                raise AwsError("ValidationError", f"Exactly one element of the metrics list should be specified "
                                                  f"for MetricDataQueries.member.{i}.")
            if q.get("Expression") is not None:
                if q.get("Period") is not None:
                    self._check_period(q["Period"], f"MetricDataQueries.member.{i}.Period")
                continue
            stat = q["MetricStat"]
            self._check_period(stat["Period"], f"MetricDataQueries.member.{i}.MetricStat.Period")
            if not cwstats.valid(stat["Stat"]):
                raise AwsError("ValidationError", f"The value {stat['Stat']} for parameter "
                                                  f"MetricDataQueries.member.{i}.MetricStat.Stat is invalid.")
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        timezone = (params.get("LabelOptions") or {}).get("Timezone")
        results = []
        for r in self.run_queries(ctx.account_id, ctx.region, queries, start, end):
            if not r["ReturnData"]:
                continue
            label = mathexpr.dynamic_label(r["Label"], r["Timestamps"], r["Values"], timezone)
            # A band is two results under the band's Id: its upper bound, then
            # its lower (the order FIRST/LAST see in an expression).
            for values in ((r["Upper"], r["Lower"]) if "Upper" in r else (r["Values"],)):
                points = list(zip(r["Timestamps"], values))
                if descending:
                    points.reverse()
                results.append({"Id": r["Id"], "Label": label, "points": points})
        # Pagination: NextToken is the number of datapoints already returned.
        skip = 0
        token = params.get("NextToken")
        if token:
            skip = tokens.decode(token, int)
        budget = params.get("MaxDatapoints") or MAX_GMD_DATAPOINTS
        returned, seen, more = 0, 0, False
        out = []
        for r in results:
            points = r.pop("points")
            n = len(points)
            first = min(max(skip - seen, 0), n)
            take = points[first:first + max(budget - returned, 0)]
            seen += n
            returned += len(take)
            partial = first + len(take) < n
            more = more or partial
            if first >= n and n and not partial and skip >= seen:
                take = []
            r["Timestamps"] = [t for t, _ in take]
            r["Values"] = [v for _, v in take]
            r["StatusCode"] = "PartialData" if partial else "Complete"
            r["Messages"] = []
            out.append(r)
        response = {"MetricDataResults": out, "Messages": []}
        if more:
            response["NextToken"] = tokens.encode(skip + returned)
        return response

    def run_queries(self, account: str, region: str, queries: list[dict], start: float, end: float) -> list[dict]:
        """Evaluates MetricDataQueries (MetricStat or Expression) over [start,
        end): one dict per query, in order, ReturnData false included, one per
        series for an expression yielding several (METRICS(), SEARCH):
        {Id, Label, Timestamps (ascending), Values, ReturnData, StatusCode,
        Messages}, plus Lower and Upper for an ANOMALY_DETECTION_BAND (whose
        Values are the band's middle). A bad expression raises
        ValidationError."""
        self._flush()
        return mathexpr.QueryRunner(self, account, region, queries, start, end).run()
