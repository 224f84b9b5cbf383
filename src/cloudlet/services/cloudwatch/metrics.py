"""CloudWatch metrics: PutMetricData, ListMetrics, GetMetricStatistics,
GetMetricData, and `stat_series`, the one way every other part (alarms,
metric math, anomaly models, widget images) reads a metric's statistic per
period. Vended AWS/* metrics arrive through `cloud.metrics` (sink.py).
"""

from __future__ import annotations

import base64
import math
import re

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch.store import INSERT_POINT, MIGRATIONS, dims_key, metric_id

MAX_METRIC_DATA = 1000
MAX_VALUES = 150
MAX_DATAPOINTS = 1440
MAX_GMD_DATAPOINTS = 100_800
LIST_PAGE = 500
TWO_WEEKS = 14 * 86400
TWO_HOURS = 2 * 3600
VALUE_LIMIT = 2.0 ** 360
HIGH_RES_PERIODS = (1, 5, 10, 20, 30)
_PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100(\.0{1,10})?)$")
_STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


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


class Bucket:
    __slots__ = ("count", "sum", "min", "max", "values", "exact")

    def __init__(self):
        self.count = 0.0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.values: list = []
        self.exact = True  # every point's values are known (percentiles possible)

    def add(self, count, total, lo, hi, vals) -> None:
        self.count += count
        self.sum += total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        if vals is not None:
            self.values.extend(tuple(v) for v in orjson.loads(vals))
        elif lo == hi:
            self.values.append((lo, count))
        else:
            self.exact = False

    def merge(self, other: "Bucket") -> None:
        self.count += other.count
        self.sum += other.sum
        self.min, self.max = min(self.min, other.min), max(self.max, other.max)
        self.values += other.values
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
        if name.startswith("p"):
            if not self.exact or self.min < 0:
                return None
            return percentile(self.values, float(name[1:]))
        return None


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
        for (ts, _unit), bucket in self._buckets(mid, aligned, end, period, unit).items():
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

    def PutMetricData(self, ctx, params):
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
        rows = []
        for i, datum in enumerate(data, 1):
            rows.append(self._datum(datum, f"MetricData.member.{i}", now))
        storage = self.storage
        with storage.tx():
            cache: dict = {}
            points = []
            for name, dims, ts, unit, count, total, lo, hi, vals, resolution in rows:
                mid = metric_id(storage, ctx.account_id, ctx.region, namespace, name, dims, ts, cache)
                points.append((mid, ts, unit, count, total, lo, hi, vals, resolution))
            storage.executemany(INSERT_POINT, points)
        return {}

    def _datum(self, datum: dict, where: str, now: float) -> tuple:
        dimensions = datum.get("Dimensions") or []
        names = set()
        for j, d in enumerate(dimensions, 1):
            if d["Name"] in names:
                raise _invalid(f"No metric may have duplicate dimension names. Found a duplicate of "
                               f"{where}.Dimensions.member.{j}.Name: {d['Name']}")
            names.add(d["Name"])
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
            vals = orjson.dumps(pairs).decode()
            if count == 0:
                return (datum["MetricName"], dims_key(dimensions), ts, unit, 0.0, 0.0, 0.0, 0.0, vals, resolution)
        return (datum["MetricName"], dims_key(dimensions), ts, unit, count, total, lo, hi, vals, resolution)

    # -- ListMetrics --------------------------------------------------------

    def ListMetrics(self, ctx, params):
        self._flush()
        sql = "SELECT id, namespace, name, dims FROM cloudwatch_metrics WHERE account = ? AND region = ?"
        args: list = [ctx.account_id, ctx.region]
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
            try:
                after = int(base64.urlsafe_b64decode(token.encode()).decode())
            except Exception:
                raise AwsError("InvalidNextToken", "The service cannot complete the request.") from None
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
        if last is not None:
            out["NextToken"] = base64.urlsafe_b64encode(str(last).encode()).decode()
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

    def _buckets(self, mid, start, end, period, unit) -> dict:
        """{(bucket start, unit): Bucket} of a metric's points in [start, end)."""
        sql = "SELECT ts, unit, count, sum, min, max, vals FROM cloudwatch_points WHERE metric_id = ? AND ts >= ? " \
              "AND ts < ?"
        args = [mid, start, end]
        if unit:
            sql += " AND unit = ?"
            args.append(unit)
        out: dict = {}
        for ts, u, count, total, lo, hi, vals in self.storage.all(sql, args):
            if count <= 0:
                continue
            key = (start + ((ts - start) // period) * period, u)
            bucket = out.get(key)
            if bucket is None:
                bucket = out[key] = Bucket()
            bucket.add(count, total, lo, hi, vals)
        return out

    # -- GetMetricStatistics -------------------------------------------------------

    def GetMetricStatistics(self, ctx, params):
        stats = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if bool(stats) == bool(extended):
            raise AwsError("InvalidParameterCombination",
                           "Must specify either Statistics or ExtendedStatistics, but not both.")
        for name in extended:
            if not _PERCENTILE.match(name):
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
        buckets = self._buckets(mid, start, end, period, params.get("Unit"))
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
                raise AwsError("ValidationError", "Metric math expressions are not supported by cloudlet yet "
                                                  f"(MetricDataQueries.member.{i}.Expression).")
            stat = q["MetricStat"]
            self._check_period(stat["Period"], f"MetricDataQueries.member.{i}.MetricStat.Period")
            if stat["Stat"] not in _STATS and not _PERCENTILE.match(stat["Stat"]):
                raise AwsError("ValidationError", f"The value {stat['Stat']} for parameter "
                                                  f"MetricDataQueries.member.{i}.MetricStat.Stat is invalid.")
        self._flush()
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for q in queries:
            if q.get("ReturnData") is False:
                continue
            stat = q["MetricStat"]
            metric = stat["Metric"]
            points = self.stat_series(ctx.account_id, ctx.region, metric, stat["Period"], stat["Stat"], start, end,
                                      stat.get("Unit"))
            if descending:
                points.reverse()
            results.append({"Id": q["Id"], "Label": q.get("Label") or metric.get("MetricName"), "points": points})
        # Pagination: NextToken is the number of datapoints already returned.
        skip = 0
        token = params.get("NextToken")
        if token:
            try:
                skip = int(base64.urlsafe_b64decode(token.encode()).decode())
            except Exception:
                raise AwsError("InvalidNextToken", "The service cannot complete the request.") from None
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
            response["NextToken"] = base64.urlsafe_b64encode(str(skip + returned).encode()).decode()
        return response
