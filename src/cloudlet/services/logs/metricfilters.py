"""Metric filters: log events that match a filter pattern become CloudWatch
metric data, in the minute of the event's own timestamp (so an alarm on
them evaluates as on AWS, on cloudlet's clock). The value is a number, a
JSON selector ("$.latency") or a space-delimited field ("$bytes"), as are
dimension values; defaultValue is reported for a batch that matched
nothing. Put / Describe / Delete / TestMetricFilter."""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.logs.patterns import PatternError, compile_fields, json_value

MAX_FILTERS_PER_GROUP = 100


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def _resolve(spec: str, message: str, bound: dict):
    if spec.startswith("$."):
        return json_value(message, spec)
    if spec.startswith("$"):
        return bound.get(spec)
    return spec


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class MetricFilterOps:
    """Mixed into LogsService."""

    def _compiled_filter(self, pattern: str):
        cache = self.__dict__.setdefault("_filter_cache", {})
        found = cache.get(pattern)
        if found is None:
            if len(cache) > 1000:
                cache.clear()
            found = cache[pattern] = compile_fields(pattern)
        return found

    def PutMetricFilter(self, ctx, params):
        name, pattern = params["filterName"], params["filterPattern"]
        [transformation] = params["metricTransformations"]
        try:
            compile_fields(pattern)
        except PatternError as err:
            raise _invalid(str(err)) from None
        if transformation.get("dimensions") and transformation.get("defaultValue") is not None:
            raise _invalid("A metric transformation with dimensions cannot have a default value.")
        if len(transformation.get("dimensions") or {}) > 3:
            raise _invalid("A metric transformation can have at most 3 dimensions.")
        with self.storage.tx():
            group = self.group(ctx, params)
            exists = self.storage.one("SELECT 1 FROM logs_metric_filters WHERE group_id = ? AND name = ?",
                                      (group.id, name))
            if not exists and self.storage.scalar("SELECT COUNT(*) FROM logs_metric_filters WHERE group_id = ?",
                                                  (group.id,)) >= MAX_FILTERS_PER_GROUP:
                raise AwsError("LimitExceededException", "Resource limit exceeded.")
            self.storage.execute(
                "INSERT INTO logs_metric_filters (group_id, name, pattern, transformations, created) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id, name) DO UPDATE SET pattern = excluded.pattern, "
                "transformations = excluded.transformations",
                (group.id, name, pattern, orjson.dumps(params["metricTransformations"]).decode(), self._now_ms()))
        return {}

    def DescribeMetricFilters(self, ctx, params):
        from cloudlet.services.logs.provider import _paged

        metric, namespace = params.get("metricName"), params.get("metricNamespace")
        if (metric is None) != (namespace is None):
            raise _invalid("metricName and metricNamespace must be specified together.")
        if params.get("filterNamePrefix") is not None and params.get("logGroupName") is None:
            raise _invalid("filterNamePrefix requires logGroupName.")
        sql = ("SELECT g.name, f.name, f.pattern, f.transformations, f.created FROM logs_metric_filters f "
               "JOIN logs_groups g ON g.id = f.group_id WHERE g.account = ? AND g.region = ?")
        args: list = [ctx.account_id, ctx.region]
        if params.get("logGroupName") is not None:
            group = self.group(ctx, params)
            sql += " AND g.id = ?"
            args.append(group.id)
        filters = []
        for group_name, name, pattern, transformations, created in self.storage.all(
                sql + " ORDER BY g.name, f.name", tuple(args)):
            transformations = orjson.loads(transformations)
            if params.get("filterNamePrefix") and not name.startswith(params["filterNamePrefix"]):
                continue
            if metric is not None and not any(t["metricName"] == metric and t["metricNamespace"] == namespace
                                               for t in transformations):
                continue
            filters.append({"filterName": name, "filterPattern": pattern, "metricTransformations": transformations,
                            "creationTime": created, "logGroupName": group_name, "applyOnTransformedLogs": False})
        return _paged(filters, params, "metricFilters")

    def DeleteMetricFilter(self, ctx, params):
        with self.storage.tx():
            group = self.group(ctx, params)
            cursor = self.storage.execute("DELETE FROM logs_metric_filters WHERE group_id = ? AND name = ?",
                                          (group.id, params["filterName"]))
            if cursor.rowcount == 0:
                raise AwsError("ResourceNotFoundException", "The specified metric filter does not exist.")
        return {}

    def TestMetricFilter(self, ctx, params):
        try:
            match = compile_fields(params["filterPattern"])
        except PatternError as err:
            raise _invalid(str(err)) from None
        matches = []
        for number, message in enumerate(params["logEventMessages"], start=1):
            bound = match(message)
            if bound is not None:
                matches.append({"eventNumber": number, "eventMessage": message, "extractedValues": bound})
        return {"matches": matches}

    def apply_metric_filters(self, group, account: str, region: str, events: list[tuple[int, str]]) -> None:
        """The metric data a batch of accepted (timestamp ms, message)
        events makes through its group's filters."""
        filters = self.storage.all("SELECT pattern, transformations FROM logs_metric_filters WHERE group_id = ?",
                                   (group.id,))
        if not filters:
            return
        sink = self.cloud.metrics
        for pattern, transformations in filters:
            match = self._compiled_filter(pattern)
            [t] = orjson.loads(transformations)
            unit = t.get("unit") or "None"
            matched = False
            for ts, message in events:
                bound = match(message)
                if bound is None:
                    continue
                matched = True
                value = _number(_resolve(t["metricValue"], message, bound))
                if value is None:
                    continue
                dims = {}
                for dim, spec in (t.get("dimensions") or {}).items():
                    resolved = _resolve(spec, message, bound)
                    if resolved is None:
                        break
                    dims[dim] = str(resolved)
                else:
                    sink(account, region, t["metricNamespace"], t["metricName"], dims, value, unit,
                         timestamp=ts / 1000)
            if not matched and t.get("defaultValue") is not None:
                sink(account, region, t["metricNamespace"], t["metricName"], {}, float(t["defaultValue"]), unit)
