"""CloudTrail Insights: unusual API call and error rates.

Every minute of clock time (`cloudtrail-insights`) each logging trail with
insight selectors has the minutes completed since its last run analysed,
per (account, region, insight type): per-minute counts come from
cloudtrail_events by SQL aggregates (GROUP BY the minute), never a Python
loop over rows. The model (docs/INSIGHTS.md):

  baseline   the per-minute counts of the API (ApiCallRateInsight: write
             management calls; ApiErrorRateInsight: management calls that
             ended in that error code) over the 10080 minutes (7 days)
             before the minute, zero minutes included: mean and stddev
  history    the API must have a call recorded in those 7 days at least
             MIN_HISTORY (36 hours) before the minute
  threshold  max(mean + K * stddev, FLOOR)
  Start      a minute whose count exceeds the threshold
  End        the first later minute whose count is at or below the
             threshold the Start was judged against

Insights events are stored in cloudtrail_insights (LookupEvents
EventCategory=insight) and delivered at once under
AWSLogs/<account>/CloudTrail-Insight/<region>/... to each trail that asked.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.protocol.common import iso8601, parse_timestamp
from cloudlet.services.cloudtrail import events as ev

log = logging.getLogger("cloudlet.cloudtrail")

CALL = "ApiCallRateInsight"
ERROR = "ApiErrorRateInsight"
INSIGHT_TYPES = (CALL, ERROR)
BASELINE_MINUTES = 7 * 24 * 60          # 10080
MIN_HISTORY = 36 * 3600                 # seconds of history an API needs
K = 4.0                                 # standard deviations above the mean
FLOOR = 10                              # a Start needs more than this per minute
TOP = 5                                 # attribution values per attribute
EVENT_VERSION = "1.08"
_MINUTE = "CAST(time / 60 AS INTEGER)"
_PERIOD_DAYS = {60: 15, 300: 63, 3600: 90}

MIGRATION = """
CREATE TABLE cloudtrail_insights (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    time REAL NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    source TEXT NOT NULL,
    name TEXT NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX cloudtrail_insights_by_time ON cloudtrail_insights (account, region, time);
CREATE TABLE cloudtrail_insight_state (
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    last REAL NOT NULL,
    open BLOB NOT NULL,
    PRIMARY KEY (account, region, kind)
);
"""


def _err(code: str, message: str) -> AwsError:
    return AwsError(code, message, 400)


def _round(x: float) -> float | int:
    x = round(x, 10)
    return int(x) if x == int(x) else x


def _kind_filter(kind: str) -> str:
    return "read_only = 0" if kind == CALL else "error_code = ?"


class Insights:
    """Mixin of CloudTrailService: the Insights job, insight events,
    ListInsightsMetricData."""

    def start_insights(self) -> None:
        self.cloud.scheduler.every("cloudtrail-insights", 60, self._insights_job)

    # -- the job ----------------------------------------------------------------

    async def _insights_job(self, now: float) -> None:
        self.cloud.gateway.recorder.write_batch()
        from cloudlet.services.cloudtrail.provider import Trail

        scopes: dict[tuple, list] = {}
        for row in self.storage.all("SELECT account, region, name, multi_region, logging, config FROM "
                                    "cloudtrail_trails WHERE logging = 1 ORDER BY account, region, name"):
            trail = Trail(*row)
            kinds = [s["InsightType"] for s in trail.config.get("InsightSelectors") or []]
            if not kinds:
                continue
            regions = {trail.region}
            if trail.multi_region:
                regions.update(r for (r,) in self.storage.all(
                    "SELECT DISTINCT region FROM cloudtrail_events WHERE account = ?", (trail.account,)))
            since = float(trail.config.get("InsightsSince") or now)
            for region in sorted(regions):
                for kind in kinds:
                    entry = scopes.setdefault((trail.account, region, kind), [since, []])
                    entry[0] = min(entry[0], since)
                    entry[1].append(trail)
        # one file per trail and region per run, with what every insight type found
        outbox: dict[tuple, tuple] = {}
        for (account, region, kind), (since, trails) in scopes.items():
            try:
                records = self._analyze(account, region, kind, since, now)
            except Exception:
                log.exception("insights for %s %s %s failed", account, region, kind)
                continue
            for trail in trails if records else ():
                outbox.setdefault((trail.arn, region), (trail, []))[1].extend(records)
        for (_, region), (trail, records) in outbox.items():
            try:
                await self._deliver_insights(trail, region, records, now)
            except AwsError as err:
                log.info("trail %s: insights delivery failed: %s", trail.arn, err.code)

    def _analyze(self, account: str, region: str, kind: str, since: float, now: float) -> list[dict]:
        upto = int(now // 60)                       # minutes before this one are complete
        row = self.storage.one("SELECT last, open FROM cloudtrail_insight_state WHERE account = ? AND region = ? "
                               "AND kind = ?", (account, region, kind))
        if row is None:
            last, open_ = int(since // 60), {}
        else:
            last, open_ = int(row[0]), orjson.loads(row[1])
        if last >= upto:
            return []
        if kind == CALL:
            rows = self.storage.all(
                f"SELECT service, name, '', {_MINUTE} AS m, COUNT(*) FROM cloudtrail_events WHERE account = ? AND "
                "region = ? AND category = 0 AND read_only = 0 AND time >= ? AND time < ? GROUP BY service, name, m",
                (account, region, last * 60, upto * 60))
        else:
            rows = self.storage.all(
                f"SELECT service, name, error_code, {_MINUTE} AS m, COUNT(*) FROM cloudtrail_events WHERE "
                "account = ? AND region = ? AND category = 0 AND error_code IS NOT NULL AND time >= ? AND time < ? "
                "GROUP BY service, name, error_code, m", (account, region, last * 60, upto * 60))
        by_key: dict[str, dict[int, int]] = {}
        for service, name, code, minute, count in rows:
            by_key.setdefault(f"{service}|{name}|{code}", {})[int(minute)] = count
        records: list[dict] = []
        for key in sorted(set(by_key) | set(open_)):
            counts = by_key.get(key, {})
            candidates = set(counts)
            candidates.update(m + 1 for m in counts)
            if key in open_:
                candidates.add(last)
            for minute in sorted(m for m in candidates if last <= m < upto):
                c = counts.get(minute, 0)
                found = open_.get(key)
                if found is not None:
                    if c <= found["threshold"]:
                        records.append(self._end(account, region, kind, key, found, minute))
                        del open_[key]
                elif c > FLOOR:
                    started = self._start(account, region, kind, key, minute, c)
                    if started is not None:
                        open_[key], record = started
                        records.append(record)
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO cloudtrail_insight_state (account, region, kind, last, open) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (account, region, kind) DO UPDATE SET last = excluded.last, open = excluded.open",
                (account, region, kind, upto, orjson.dumps(open_)))
            for record in records:
                details = record["insightDetails"]
                self.storage.execute(
                    "INSERT INTO cloudtrail_insights (event_id, time, account, region, source, name, record) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record["eventID"], parse_timestamp(record["eventTime"]), account, region,
                     details["eventSource"], details["eventName"], orjson.dumps(record)))
        return records

    # -- statistics -------------------------------------------------------------

    def _where(self, account, region, kind, service, name, code) -> tuple[str, list]:
        where = f"account = ? AND region = ? AND category = 0 AND service = ? AND name = ? AND {_kind_filter(kind)}"
        args = [account, region, service, name]
        if kind == ERROR:
            args.append(code)
        return where, args

    def _baseline(self, account, region, kind, service, name, code, minute: int) -> tuple[float, float] | None:
        lo, hi = (minute - BASELINE_MINUTES) * 60, minute * 60
        first = self.storage.scalar("SELECT MIN(time) FROM cloudtrail_events WHERE account = ? AND region = ? AND "
                                    "category = 0 AND service = ? AND name = ? AND time >= ? AND time < ?",
                                    (account, region, service, name, lo, hi))
        if first is None or first > hi - MIN_HISTORY:
            return None
        where, args = self._where(account, region, kind, service, name, code)
        total, squares = self.storage.one(
            f"SELECT COALESCE(SUM(c), 0), COALESCE(SUM(c * c), 0) FROM (SELECT COUNT(*) AS c FROM "
            f"cloudtrail_events WHERE {where} AND time >= ? AND time < ? GROUP BY {_MINUTE})", (*args, lo, hi))
        mean = total / BASELINE_MINUTES
        std = math.sqrt(max(squares / BASELINE_MINUTES - mean * mean, 0.0))
        return mean, std

    def _attributions(self, account, region, kind, service, name, code, lo: float, hi: float,
                      minutes: float) -> list[tuple[str, list[dict]]]:
        where, args = self._where(account, region, kind, service, name, code)
        out = []
        for attribute, column in (("userIdentityArn", "json_extract(CAST(identity AS TEXT), '$.arn')"),
                                  ("userAgent", "user_agent"), ("errorCode", "error_code")):
            rows = self.storage.all(
                f"SELECT COALESCE({column}, 'null') AS v, COUNT(*) AS n FROM cloudtrail_event_fields WHERE {where} AND "
                f"time >= ? AND time < ? GROUP BY v ORDER BY n DESC, v LIMIT {TOP}", (*args, lo, hi))
            out.append((attribute, [{"value": v, "average": _round(n / minutes)} for v, n in rows]))
        return out

    def _context(self, account, region, kind, key, start: int, end: int | None, base: dict) -> dict:
        service, name, code = key.split("|", 2)
        until = end if end is not None else start + 1
        minutes = until - start
        insight = self._attributions(account, region, kind, service, name, code, start * 60, until * 60, minutes)
        baseline = self._attributions(account, region, kind, service, name, code,
                                      (start - BASELINE_MINUTES) * 60, start * 60, BASELINE_MINUTES)
        where, args = self._where(account, region, kind, service, name, code)
        total = self.storage.scalar(f"SELECT COUNT(*) FROM cloudtrail_events WHERE {where} AND time >= ? AND "
                                    "time < ?", (*args, start * 60, until * 60))
        statistics: dict = {"baseline": {"average": _round(base["mean"])},
                            "insight": {"average": _round(total / minutes)}}
        if end is not None:
            statistics["insightDuration"] = minutes
        statistics["baselineDuration"] = BASELINE_MINUTES
        attributions = [{"attribute": attribute, "insight": values, "baseline": dict(baseline)[attribute]}
                        for attribute, values in insight]
        return {"statistics": statistics, "attributions": attributions}

    def _record(self, account, region, kind, key, state: str, shared: str, minute: int, context: dict) -> dict:
        service, name, code = key.split("|", 2)
        details: dict = {"state": state, "eventSource": ev.event_source(service, self.cloud.models),
                         "eventName": name, "insightType": kind}
        if kind == ERROR:
            details["errorCode"] = code
        details["insightContext"] = context
        return {
            "eventVersion": EVENT_VERSION,
            "eventTime": iso8601(minute * 60),
            "awsRegion": region,
            "eventID": str(uuid.uuid4()),
            "eventType": "AwsCloudTrailInsight",
            "recipientAccountId": account,
            "sharedEventID": shared,
            "insightDetails": details,
            "eventCategory": "Insight",
        }

    def _start(self, account, region, kind, key, minute: int, count: int):
        service, name, code = key.split("|", 2)
        found = self._baseline(account, region, kind, service, name, code, minute)
        if found is None:
            return None
        mean, std = found
        threshold = max(mean + K * std, FLOOR)
        if count <= threshold:
            return None
        state = {"shared": str(uuid.uuid4()), "start": minute, "mean": mean, "threshold": threshold}
        context = self._context(account, region, kind, key, minute, None, state)
        return state, self._record(account, region, kind, key, "Start", state["shared"], minute, context)

    def _end(self, account, region, kind, key, state: dict, minute: int) -> dict:
        context = self._context(account, region, kind, key, state["start"], minute, state)
        return self._record(account, region, kind, key, "End", state["shared"], minute, context)

    async def _deliver_insights(self, trail, region: str, records: list[dict], now: float) -> None:
        from cloudlet.services.cloudtrail.delivery import _ALNUM, _gzip, _utc
        import secrets

        t = _utc(now)
        suffix = "".join(secrets.choice(_ALNUM) for _ in range(16))
        key = (f"{self._prefix(trail)}AWSLogs/{trail.account}/CloudTrail-Insight/{region}/{t:%Y/%m/%d}/"
               f"{trail.account}_CloudTrail-Insight_{region}_{t:%Y%m%dT%H%MZ}_{suffix}.json.gz")
        await self._put(trail, key, _gzip(orjson.dumps({"Records": records})), None)

    # -- LookupEvents EventCategory=insight ----------------------------------------

    def lookup_insights(self, ctx, attributes: list, start: float, end: float, limit: int,
                        cursor, fingerprint: str) -> dict:
        where = ["account = ?", "region = ?", "time >= ?", "time <= ?"]
        args: list = [ctx.account_id, ctx.region, start, end]
        if attributes:
            key, value = attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]
            column = {"EventId": "event_id", "EventName": "name", "EventSource": "source"}.get(key)
            if column is None:
                if key == "ReadOnly" and value not in ("true", "false"):
                    raise _err("InvalidLookupAttributesException",
                               "The value for the ReadOnly attribute must be true or false.")
                return {"Events": []}           # (insight events have no user, key or resources)
            where.append(f"{column} = ?")
            args.append(value)
        if cursor is not None:
            where.append("(time < ? OR (time = ? AND seq < ?))")
            args.extend([cursor[0], cursor[0], cursor[1]])
        rows = self.storage.all(f"SELECT seq, time, record FROM cloudtrail_insights WHERE {' AND '.join(where)} "
                                "ORDER BY time DESC, seq DESC LIMIT ?", (*args, limit + 1))
        events = []
        for seq, time, raw in rows[:limit]:
            record = orjson.loads(raw)
            events.append({"EventId": record["eventID"], "EventName": record["insightDetails"]["eventName"],
                           "ReadOnly": "false", "EventTime": time,
                           "EventSource": record["insightDetails"]["eventSource"], "Resources": [],
                           "CloudTrailEvent": raw.decode() if isinstance(raw, bytes) else raw})
        out: dict = {"Events": events}
        if len(rows) > limit:
            from cloudlet.services.cloudtrail.provider import _make_token

            out["NextToken"] = _make_token(rows[limit - 1][1], rows[limit - 1][0], fingerprint)
        return out

    # -- ListInsightsMetricData ---------------------------------------------------------

    def ListInsightsMetricData(self, ctx, params: dict) -> dict:
        kind = params["InsightType"]
        code = params.get("ErrorCode")
        if kind == ERROR and not code:
            raise _err("InvalidParameterException",
                       "ErrorCode is required when InsightType is ApiErrorRateInsight.")
        if kind == CALL and code:
            raise _err("InvalidParameterException",
                       "ErrorCode can only be specified when InsightType is ApiErrorRateInsight.")
        trail_arn = None
        if params.get("TrailName"):
            trail = self._find(ctx, params["TrailName"])
            if not trail.config.get("InsightSelectors"):
                raise _err("InvalidParameterException", f"Trail {trail.arn} does not have Insights enabled.")
            trail_arn = trail.arn
        period = params.get("Period", 3600)
        if period not in _PERIOD_DAYS:
            raise _err("InvalidParameterException", "Period must be 60, 300 or 3600 seconds.")
        now = ctx.now()
        end = parse_timestamp(params["EndTime"]) if params.get("EndTime") is not None else now
        start = (parse_timestamp(params["StartTime"]) if params.get("StartTime") is not None
                 else end - _PERIOD_DAYS[period] * 86400)
        if start > end:
            raise _err("InvalidParameterException", "StartTime must be before EndTime.")
        start = max(start, now - _PERIOD_DAYS[period] * 86400)
        fill = params.get("DataType", "NonZeroData") == "FillWithZeros"
        limit = params.get("MaxResults") or 21600
        source = params["EventSource"]
        services = [s for (s,) in self.storage.all(
            "SELECT DISTINCT service FROM cloudtrail_events WHERE account = ? AND region = ? AND name = ?",
            (ctx.account_id, ctx.region, params["EventName"])) if ev.event_source(s, self.cloud.models) == source]
        counts: dict[int, int] = {}
        if services:
            where = (f"account = ? AND region = ? AND category = 0 AND name = ? AND {_kind_filter(kind)} AND "
                     f"service IN ({','.join('?' * len(services))}) AND time >= ? AND time < ?")
            args = [ctx.account_id, ctx.region, params["EventName"]] + ([code] if kind == ERROR else [])
            args += services + [start, end]
            for bucket, n in self.storage.all(
                    f"SELECT CAST(time / {period} AS INTEGER) AS b, COUNT(*) FROM cloudtrail_events WHERE {where} "
                    "GROUP BY b ORDER BY b", args):
                counts[int(bucket) * period] = n
        if fill:
            first = int(start // period) * period
            points = [(t, counts.get(t, 0)) for t in range(first, int(math.ceil(end / period)) * period, period)]
        else:
            points = sorted(counts.items())
        fingerprint = hashlib.sha256(orjson.dumps([params.get(k) for k in (
            "EventSource", "EventName", "InsightType", "ErrorCode", "Period", "DataType")] + [start, end])).hexdigest()
        offset = 0
        token = params.get("NextToken")
        if token is not None:
            try:
                offset, fp = orjson.loads(base64.urlsafe_b64decode(token.encode()))
                if fp != fingerprint[:16]:
                    raise ValueError
            except Exception:
                raise _err("InvalidNextTokenException", "Invalid NextToken.") from None
        page = points[offset:offset + limit]
        out: dict = {}
        if trail_arn:
            out["TrailARN"] = trail_arn
        out.update({"EventSource": source, "EventName": params["EventName"], "InsightType": kind})
        if code:
            out["ErrorCode"] = code
        out["Timestamps"] = [float(t) for t, _ in page]
        out["Values"] = [float(n) for _, n in page]
        if offset + limit < len(points):
            out["NextToken"] = base64.urlsafe_b64encode(orjson.dumps([offset + limit, fingerprint[:16]])).decode()
        return out
