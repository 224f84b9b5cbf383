"""CloudWatch anomaly detection: PutAnomalyDetector, DescribeAnomalyDetectors,
DeleteAnomalyDetector, and `anomaly_band`, the band metric math's
ANOMALY_DETECTION_BAND and anomaly alarms read. The model itself is pure
(anomalymodel.py); the method is described for users in docs/ANOMALY.md.

A detector is one row of `cloudwatch_anomaly_detectors`: `identity` is the
canonical JSON of what it models (a single metric's account, namespace,
name, sorted dimensions and statistic; or a metric-math detector's queries,
sorted by Id, without their Labels), `config` the JSON DescribeAnomalyDetectors
answers from (AnomalyDetectorId, the detector as given, Configuration,
MetricCharacteristics).

Trained models are kept in memory, keyed by (identity, configuration,
period, training end rounded down to the hour, a fingerprint of the stored
points in the training window), so an alarm evaluated every minute trains
once an hour, and a reset cloud or back-filled history never reads a stale
model.
"""

from __future__ import annotations

import math
import re
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import tokens
from cloudlet.services.cloudwatch import anomalymodel
from cloudlet.services.cloudwatch.store import dims_key

MAX_EXCLUDED_RANGES = 10
MAX_DESCRIBE = 100
MODEL_CACHE = 512
STATE_PERIOD = 300
_LEGACY = ("Namespace", "MetricName", "Dimensions", "Stat")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def _combination(a: str, b: str) -> AwsError:
    return AwsError("InvalidParameterCombination",
                    f"The parameters {a} and {b} are mutually exclusive and you have specified both.")


def _missing(name: str) -> AwsError:
    return AwsError("MissingParameter", f"The parameter {name} is required.")


def _canon(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _dims(dimensions) -> list[dict]:
    return [{"Name": d["Name"], "Value": d["Value"]} for d in dimensions or ()]


def _metric_stat(stat: dict) -> dict:
    metric = stat.get("Metric") or {}
    out_metric = {k: metric[k] for k in ("Namespace", "MetricName") if metric.get(k) is not None}
    out_metric["Dimensions"] = _dims(metric.get("Dimensions"))
    out = {"Metric": out_metric, "Period": stat.get("Period"), "Stat": stat.get("Stat")}
    if stat.get("Unit"):
        out["Unit"] = stat["Unit"]
    return out


def _query_echo(q: dict) -> dict:
    """A MetricDataQuery as a detector keeps it (no Label: AWS does not echo it)."""
    out: dict = {"Id": q["Id"]}
    if q.get("MetricStat") is not None:
        out["MetricStat"] = _metric_stat(q["MetricStat"])
    if q.get("Expression") is not None:
        out["Expression"] = q["Expression"]
    out["ReturnData"] = q.get("ReturnData", True) is not False
    for key in ("Period", "AccountId"):
        if q.get(key) is not None:
            out[key] = q[key]
    return out


def _math_identity(queries: list[dict]) -> str:
    canon = []
    for q in sorted(queries, key=lambda q: q["Id"]):
        c = dict(q)
        if "MetricStat" in c:
            ms = dict(c["MetricStat"])
            metric = dict(ms["Metric"])
            metric["Dimensions"] = orjson.loads(dims_key(metric.get("Dimensions")))
            ms["Metric"] = metric
            c["MetricStat"] = ms
        canon.append(c)
    return _canon({"Type": "METRIC_MATH", "MetricDataQueries": canon})


def _single_identity(account: str, namespace, name, dimensions, stat) -> str:
    return _canon({"Type": "SINGLE_METRIC", "AccountId": account, "Namespace": namespace, "MetricName": name,
                   "Dimensions": orjson.loads(dims_key(dimensions)), "Stat": stat})


def _dependencies(target: dict, queries: list[dict]) -> list[dict]:
    """`target` and the queries its expression needs, transitively, in the
    order given; ReturnData true for the target only."""
    by_id = {q["Id"]: q for q in queries}
    needed = {target["Id"]}
    todo = [target]
    while todo:
        q = todo.pop()
        for token in _TOKEN.findall(q.get("Expression") or ""):
            if token in by_id and token not in needed:
                needed.add(token)
                todo.append(by_id[token])
    ordered = [q for q in queries if q["Id"] in needed]
    if target["Id"] not in by_id:
        ordered.append(target)
    return [dict(q, ReturnData=q["Id"] == target["Id"]) for q in ordered]


class AnomalyOps:
    """The anomaly detection operations (a mixin of CloudWatchService)."""

    # -- what a request names ----------------------------------------------

    def _detector_of(self, ctx, params: dict, *, check: bool) -> tuple[str, dict]:
        """(identity, the detector as DescribeAnomalyDetectors shows it:
        {"SingleMetricAnomalyDetector": ...} or {"MetricMathAnomalyDetector": ...})."""
        single = params.get("SingleMetricAnomalyDetector")
        math_ = params.get("MetricMathAnomalyDetector")
        legacy = [k for k in _LEGACY if params.get(k) is not None]
        if single is not None and math_ is not None:
            raise _combination("SingleMetricAnomalyDetector", "MetricMathAnomalyDetector")
        for given in ("SingleMetricAnomalyDetector", "MetricMathAnomalyDetector"):
            if params.get(given) is not None and legacy:
                raise _combination(given, legacy[0])
        if math_ is not None:
            return self._math_detector(math_, check)
        prefix = "SingleMetricAnomalyDetector."
        if single is None:
            if not legacy:
                raise _missing("SingleMetricAnomalyDetector")
            single, prefix = {k: params[k] for k in legacy}, ""
        for key in ("Namespace", "MetricName", "Stat"):
            if not single.get(key):
                raise _missing(prefix + key)
        dimensions = single.get("Dimensions") or []
        if check:
            seen = set()
            for j, d in enumerate(dimensions, 1):
                if d["Name"] in seen:
                    raise _invalid(f"No metric may have duplicate dimension names. Found a duplicate of "
                                   f"{prefix}Dimensions.member.{j}.Name: {d['Name']}")
                seen.add(d["Name"])
        account = single.get("AccountId") or ctx.account_id
        echo = {"AccountId": account, "Namespace": single["Namespace"], "MetricName": single["MetricName"],
                "Dimensions": _dims(dimensions), "Stat": single["Stat"]}
        identity = _single_identity(account, single["Namespace"], single["MetricName"], dimensions, single["Stat"])
        return identity, {"SingleMetricAnomalyDetector": echo}

    def _math_detector(self, math_: dict, check: bool) -> tuple[str, dict]:
        queries = math_.get("MetricDataQueries") or []
        where = "MetricMathAnomalyDetector.MetricDataQueries"
        if not queries:
            raise _missing(where)
        if check:
            ids = set()
            for i, q in enumerate(queries, 1):
                if q["Id"] in ids:
                    raise _invalid(f"The value {q['Id']} for parameter {where}.member.{i}.Id is not unique.")
                ids.add(q["Id"])
                if (q.get("MetricStat") is None) == (q.get("Expression") is None):
                    raise _invalid(f"Exactly one element of the metrics list should be specified for "
                                   f"{where}.member.{i}.")
            if sum(1 for q in queries if q.get("ReturnData", True) is not False) != 1:
                raise _invalid("Exactly one element of the metrics list should return data.")
        echo = [_query_echo(q) for q in queries]
        return _math_identity(echo), {"MetricMathAnomalyDetector": {"MetricDataQueries": echo}}

    @staticmethod
    def _configuration(params: dict) -> dict:
        config = params.get("Configuration") or {}
        ranges = config.get("ExcludedTimeRanges") or []
        where = "Configuration.ExcludedTimeRanges"
        if len(ranges) > MAX_EXCLUDED_RANGES:
            raise _invalid(f"The collection {where} must not have a size greater than {MAX_EXCLUDED_RANGES}.")
        out: dict = {"ExcludedTimeRanges": []}
        for i, r in enumerate(ranges, 1):
            if r["StartTime"] >= r["EndTime"]:
                raise _invalid(f"The parameter {where}.member.{i}.StartTime must be less than the parameter "
                               f"{where}.member.{i}.EndTime.")
            out["ExcludedTimeRanges"].append({"StartTime": r["StartTime"], "EndTime": r["EndTime"]})
        tz = config.get("MetricTimezone")
        if tz is not None:
            try:
                anomalymodel.zone(tz)
            except ValueError:
                raise _invalid(f"The value {tz} for parameter Configuration.MetricTimezone is invalid.") from None
            out["MetricTimezone"] = tz
        for key in ("AdaptationSpeed", "OutlierFilteringStrength"):
            if config.get(key) is not None:
                out[key] = config[key]
        return out

    # -- PutAnomalyDetector ------------------------------------------------------

    def PutAnomalyDetector(self, ctx, params):
        identity, detector = self._detector_of(ctx, params, check=True)
        configuration = self._configuration(params)
        storage = self.storage
        with storage.tx():
            row = storage.one("SELECT id, config FROM cloudwatch_anomaly_detectors WHERE account = ? AND region = ? "
                              "AND identity = ?", (ctx.account_id, ctx.region, identity))
            if row is not None:
                detector_id = orjson.loads(row[1])["AnomalyDetectorId"]
            else:
                detector_id = str(uuid.uuid4())
            config = {"AnomalyDetectorId": detector_id, **detector, "Configuration": configuration}
            if params.get("MetricCharacteristics") is not None:
                config["MetricCharacteristics"] = params["MetricCharacteristics"]
            if row is None:
                storage.execute("INSERT INTO cloudwatch_anomaly_detectors (account, region, identity, config, created) "
                                "VALUES (?, ?, ?, ?, ?)",
                                (ctx.account_id, ctx.region, identity, _canon(config), self.clock.now()))
            else:
                storage.execute("UPDATE cloudwatch_anomaly_detectors SET config = ? WHERE id = ?",
                                (_canon(config), row[0]))
        return {"AnomalyDetectorId": detector_id}

    # -- DescribeAnomalyDetectors ------------------------------------------------

    def DescribeAnomalyDetectors(self, ctx, params):
        ids = params.get("AnomalyDetectorIds")
        if ids:
            for other in ("Namespace", "MetricName", "Dimensions", "AnomalyDetectorTypes"):
                if params.get(other):
                    raise _combination("AnomalyDetectorIds", other)
        limit = params.get("MaxResults") or MAX_DESCRIBE
        if limit > MAX_DESCRIBE:
            raise _invalid(f"The value {limit} for parameter MaxResults is invalid.")
        types = set(params.get("AnomalyDetectorTypes") or ["SINGLE_METRIC"])
        after = 0
        token = params.get("NextToken")
        if token:
            after = tokens.decode(token, int)
        rows = self.storage.all("SELECT id, identity, config FROM cloudwatch_anomaly_detectors WHERE account = ? "
                                "AND region = ? AND id > ? ORDER BY id", (ctx.account_id, ctx.region, after))
        wanted_dims = params.get("Dimensions") or []
        out, last, more = [], None, False
        for rid, identity, config in rows:
            key = orjson.loads(identity)
            config = orjson.loads(config)
            if ids:
                if config["AnomalyDetectorId"] not in ids:
                    continue
            else:
                if key["Type"] not in types:
                    continue
                if key["Type"] == "SINGLE_METRIC":
                    if params.get("Namespace") and key["Namespace"] != params["Namespace"]:
                        continue
                    if params.get("MetricName") and key["MetricName"] != params["MetricName"]:
                        continue
                    have = dict(map(tuple, key["Dimensions"]))
                    if any(have.get(d["Name"]) != d["Value"] for d in wanted_dims):
                        continue
            if len(out) == limit:
                more = True
                break
            out.append(self._describe(ctx, key, config))
            last = rid
        result = {"AnomalyDetectors": out}
        if more and last is not None:
            result["NextToken"] = tokens.encode(last)
        return result

    def _describe(self, ctx, key: dict, config: dict) -> dict:
        item: dict = {"AnomalyDetectorId": config["AnomalyDetectorId"]}
        single = config.get("SingleMetricAnomalyDetector")
        if single is not None:
            for k in _LEGACY:
                item[k] = single[k]
        item["Configuration"] = config["Configuration"]
        if config.get("MetricCharacteristics") is not None:
            item["MetricCharacteristics"] = config["MetricCharacteristics"]
        try:
            model = self._detector_model(ctx.account_id, ctx.region, key, config)
        except AwsError:  # an expression that cannot be evaluated has nothing to train on
            model = None
        item["StateValue"] = anomalymodel.state(model)
        if single is not None:
            item["SingleMetricAnomalyDetector"] = single
        else:
            item["MetricMathAnomalyDetector"] = config["MetricMathAnomalyDetector"]
        return item

    def _detector_model(self, account, region, key: dict, config: dict):
        """The model a stored detector has now, at its natural period (a
        metric-math detector's target query's period, else 5 minutes)."""
        single = config.get("SingleMetricAnomalyDetector")
        if single is not None:
            query = {"Id": "m", "AccountId": single["AccountId"], "MetricStat": {
                "Metric": {k: single[k] for k in ("Namespace", "MetricName", "Dimensions")},
                "Period": STATE_PERIOD, "Stat": single["Stat"]}}
            return self._model(account, region, query, [query], STATE_PERIOD, config)
        queries = config["MetricMathAnomalyDetector"]["MetricDataQueries"]
        target = next(q for q in queries if q.get("ReturnData", True))
        period = target.get("Period") or (target.get("MetricStat") or {}).get("Period") or STATE_PERIOD
        return self._model(account, region, target, queries, period, config)

    # -- DeleteAnomalyDetector ------------------------------------------------------

    def DeleteAnomalyDetector(self, ctx, params):
        storage = self.storage
        with storage.tx():
            detector_id = params.get("AnomalyDetectorId")
            if detector_id and not any(params.get(k) is not None for k in
                                       (*_LEGACY, "SingleMetricAnomalyDetector", "MetricMathAnomalyDetector")):
                rows = storage.all("SELECT id, config FROM cloudwatch_anomaly_detectors WHERE account = ? AND "
                                   "region = ?", (ctx.account_id, ctx.region))
                found = [rid for rid, config in rows if orjson.loads(config)["AnomalyDetectorId"] == detector_id]
                rid = found[0] if found else None
            else:
                identity, _ = self._detector_of(ctx, params, check=False)
                rid = storage.scalar("SELECT id FROM cloudwatch_anomaly_detectors WHERE account = ? AND region = ? "
                                     "AND identity = ?", (ctx.account_id, ctx.region, identity))
            if rid is None:
                raise AwsError("ResourceNotFoundException", "The anomaly detector does not exist.")
            storage.execute("DELETE FROM cloudwatch_anomaly_detectors WHERE id = ?", (rid,))
        return {}

    # -- the band ------------------------------------------------------------------

    def anomaly_band(self, account: str, region: str, query: dict, k: float, timestamps: list[float], period: int,
                     *, queries: list[dict] | None = None,
                     create: bool = False) -> tuple[list, list]:
        """(lower, upper) aligned to `timestamps` (period starts) for the
        metric or expression of `query` (a MetricDataQuery: MetricStat or
        Expression), the band expected ± k·spread of a model trained on the
        two weeks before the current hour. An Expression needs `queries`
        (the request's MetricDataQueries, to find what it reads). The
        stored detector with the same identity lends its configuration;
        without one the default configuration is used, and `create=True`
        (alarms: AWS creates the model an anomaly alarm needs) stores a
        detector with it. Both lists hold None everywhere when there is no
        data to train on."""
        identity, config = self._lookup(account, region, query, queries, create)
        model = self._model(account, region, query, queries or [query], period, config, identity)
        if model is None:
            return [None] * len(timestamps), [None] * len(timestamps)
        return model.band(timestamps, k, period)

    def _lookup(self, account, region, query, queries, create) -> tuple[str, dict]:
        if query.get("MetricStat") is not None:
            ms = query["MetricStat"]
            metric = ms["Metric"]
            owner = query.get("AccountId") or account
            identity = _single_identity(owner, metric.get("Namespace"), metric.get("MetricName"),
                                        metric.get("Dimensions"), ms.get("Stat"))
            detector = {"SingleMetricAnomalyDetector": {
                "AccountId": owner, "Namespace": metric.get("Namespace"), "MetricName": metric.get("MetricName"),
                "Dimensions": _dims(metric.get("Dimensions")), "Stat": ms.get("Stat")}}
        else:
            echo = [_query_echo(q) for q in _dependencies(query, queries or [])]
            identity = _math_identity(echo)
            detector = {"MetricMathAnomalyDetector": {"MetricDataQueries": echo}}
        row = self.storage.scalar("SELECT config FROM cloudwatch_anomaly_detectors WHERE account = ? AND region = ? "
                                  "AND identity = ?", (account, region, identity))
        if row is not None:
            return identity, orjson.loads(row)
        config = {"AnomalyDetectorId": str(uuid.uuid4()), **detector, "Configuration": {"ExcludedTimeRanges": []}}
        if create:
            with self.storage.tx():
                self.storage.execute(
                    "INSERT INTO cloudwatch_anomaly_detectors (account, region, identity, config, created) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, region, identity) DO NOTHING",
                    (account, region, identity, _canon(config), self.clock.now()))
        return identity, config

    def _model(self, account, region, query, queries, period, config, identity=None):
        """The trained model of `query` at `period` under a detector's
        configuration, from the cache when its training data is unchanged."""
        end = math.floor(self.clock.now() / 3600.0) * 3600.0
        start = end - anomalymodel.TRAINING_WINDOW
        deps = [query] if query.get("MetricStat") is not None else _dependencies(query, queries)
        self._flush()
        fingerprint = self._fingerprint(account, region, deps, start, end)
        configuration = config.get("Configuration") or {}
        key = (identity or _canon(config.get("SingleMetricAnomalyDetector") or config.get("MetricMathAnomalyDetector")),
               _canon(configuration), period, end, fingerprint)
        cache = self.__dict__.setdefault("_anomaly_models", {})
        if key in cache:
            return cache[key]
        if query.get("MetricStat") is not None:
            ms = query["MetricStat"]
            points = self.stat_series(query.get("AccountId") or account, region, ms["Metric"], period, ms["Stat"],
                                      start, end, ms.get("Unit"))
        else:
            results = self.run_queries(account, region, deps, start, end)
            mine = next((r for r in results if r["Id"] == query["Id"]), None)
            points = list(zip(mine["Timestamps"], mine["Values"])) if mine else []
        excluded = [(r["StartTime"], r["EndTime"]) for r in configuration.get("ExcludedTimeRanges") or []]
        model = anomalymodel.train(points, end=end, period=period, excluded=excluded,
                                   tz=configuration.get("MetricTimezone"))
        if len(cache) >= MODEL_CACHE:
            cache.pop(next(iter(cache)))
        cache[key] = model
        return model

    def _fingerprint(self, account, region, deps, start, end) -> tuple:
        """What the stored points a model reads look like in [start, end):
        per metric, (id, count, sums); a model is retrained when it changes."""
        out = []
        for q in deps:
            ms = q.get("MetricStat")
            if ms is None:
                continue
            metric = ms["Metric"]
            mid = self.storage.scalar(
                "SELECT id FROM cloudwatch_metrics WHERE account = ? AND region = ? AND namespace = ? AND name = ? "
                "AND dims = ?", (q.get("AccountId") or account, region, metric.get("Namespace"),
                                 metric.get("MetricName"), dims_key(metric.get("Dimensions"))))
            if mid is None:
                out.append(None)
                continue
            out.append((mid, *self.storage.one(
                "SELECT count(*), total(sum), total(count), total(min), total(max), total(ts) FROM cloudwatch_points "
                "WHERE metric_id = ? AND ts >= ? AND ts < ?", (mid, start - 3600, end))))
        return tuple(out)
