"""Amazon CloudWatch Logs: log groups (retention on cloudlet's clock, KMS
key and class recorded, tags), log streams, and their events (events.py).

Built: Create / Delete / DescribeLogGroups (prefix, pattern, identifiers,
class, pages), Create / Delete / DescribeLogStreams (prefix, order by name
or last event time, descending, pages), PutLogEvents, GetLogEvents,
FilterLogEvents (patterns.py), metric filters (metricfilters.py), resource
policies and their enforcement for AWS services (resourcepolicies.py), Logs
Insights queries (insights.py, insightsquery.py), Put /
DeleteRetentionPolicy, TagResource / UntagResource /
ListTagsForResource and the older TagLogGroup / UntagLogGroup /
ListTagsLogGroup. An hourly job on the clock deletes events older than a
group's retention. Each accepted batch adds to the AWS/Logs metrics
IncomingLogEvents and IncomingBytes of its group.
"""

from __future__ import annotations

import base64

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.logs.events import EventOps
from cloudlet.services.logs.insights import InsightsOps
from cloudlet.services.logs.metricfilters import MetricFilterOps
from cloudlet.services.logs.resourcepolicies import ResourcePolicyOps
from cloudlet.services.logs.store import MIGRATIONS
from cloudlet.services.logs.subscriptions import SubscriptionFilterOps

RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
MAX_TAGS = 50
DAY_MS = 86_400_000
_GROUP_COLUMNS = "id, account, region, name, created, retention, kms_key, class, protected, tags"


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def group_missing() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log group does not exist.")


def stream_missing() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log stream does not exist.")


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:logs:{region}:{account}:log-group:{name}"


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode()


def _page_offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if text.startswith("o"):
            return int(text[1:])
    except (ValueError, UnicodeDecodeError):
        pass
    raise invalid("The specified nextToken is invalid.")


def _paged(items: list, params: dict, key: str, default_limit: int = 50) -> dict:
    start = _page_offset(params.get("nextToken"))
    limit = params.get("limit") or default_limit
    out = {key: items[start:start + limit]}
    if start + limit < len(items):
        out["nextToken"] = _page_token(start + limit)
    return out


class Group:
    __slots__ = ("id", "account", "region", "name", "created", "retention", "kms_key", "cls", "protected", "tags")

    def __init__(self, row):
        (self.id, self.account, self.region, self.name, self.created, self.retention, self.kms_key, self.cls,
         self.protected, tags) = row
        self.tags: dict = orjson.loads(tags)

    @property
    def arn(self) -> str:
        return group_arn(self.region, self.account, self.name)


class LogsService(EventOps, MetricFilterOps, ResourcePolicyOps, InsightsOps, SubscriptionFilterOps, Service):
    model_name = "logs"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.cloud.scheduler.every("logs-retention", 3600.0, self.expire_events)

    # -- authorization -----------------------------------------------------------

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        """The log group's ARN, or its stream's for operations on a stream
        (the resource types of the CloudWatch Logs authorization reference)."""
        if params.get("resourceArn"):
            return [params["resourceArn"].removesuffix(":*")]
        name = params.get("logGroupName")
        identifier = params.get("logGroupIdentifier")
        if name is None and identifier:
            if identifier.startswith("arn:"):
                arn = identifier.removesuffix(":*")
            else:
                arn = group_arn(ctx.region, ctx.account_id, identifier)
        elif name is not None:
            arn = group_arn(ctx.region, ctx.account_id, name)
        else:
            return ["*"]
        stream = params.get("logStreamName")
        return [f"{arn}:log-stream:{stream}" if stream is not None else arn]

    # -- lookups -----------------------------------------------------------------

    def find_group(self, account: str, region: str, name: str) -> Group | None:
        row = self.storage.one(f"SELECT {_GROUP_COLUMNS} FROM logs_groups WHERE account = ? AND region = ? "
                               "AND name = ?", (account, region, name))
        return Group(row) if row is not None else None

    def group(self, ctx, params: dict, name_key: str = "logGroupName") -> Group:
        """The group a request names, by name or by logGroupIdentifier (a
        name or an ARN, with or without its ":*")."""
        name = params.get(name_key)
        identifier = params.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        account, region = ctx.account_id, ctx.region
        if name is None and identifier is not None:
            name = identifier
            if identifier.startswith("arn:"):
                parts = identifier.split(":")
                if len(parts) < 7 or parts[2] != "logs" or parts[5] != "log-group":
                    raise invalid("Invalid log group identifier.")
                region, account, name = parts[3], parts[4], parts[6]
        if name is None:
            raise invalid("Either logGroupName or logGroupIdentifier should be provided.")
        found = self.find_group(account, region, name)
        if found is None:
            raise group_missing()
        return found

    def stream_row(self, group: Group, name: str):
        row = self.storage.one("SELECT id, name, created, first_event, last_event, last_ingestion, bytes "
                               "FROM logs_streams WHERE group_id = ? AND name = ?", (group.id, name))
        if row is None:
            raise stream_missing()
        return row

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- log groups ------------------------------------------------------------

    def CreateLogGroup(self, ctx, params):
        name = params["logGroupName"]
        tags = params.get("tags") or {}
        with self.storage.tx():
            if self.find_group(ctx.account_id, ctx.region, name) is not None:
                raise AwsError("ResourceAlreadyExistsException", "The specified log group already exists")
            self.storage.execute(
                "INSERT INTO logs_groups (account, region, name, created, kms_key, class, protected, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ctx.account_id, ctx.region, name, self._now_ms(), params.get("kmsKeyId"),
                 params.get("logGroupClass") or "STANDARD", int(bool(params.get("deletionProtectionEnabled"))),
                 orjson.dumps(tags).decode()))
        return {}

    def DeleteLogGroup(self, ctx, params):
        with self.storage.tx():
            group = self.group(ctx, params)
            if group.protected:
                raise AwsError("OperationAbortedException", f"Log group {group.name} has deletion protection "
                                                            "enabled.")
            self.storage.execute("DELETE FROM logs_events WHERE stream_id IN (SELECT id FROM logs_streams "
                                 "WHERE group_id = ?)", (group.id,))
            self.storage.execute("DELETE FROM logs_streams WHERE group_id = ?", (group.id,))
            self.storage.execute("DELETE FROM logs_metric_filters WHERE group_id = ?", (group.id,))
            self.storage.execute("DELETE FROM logs_subscription_filters WHERE group_id = ?", (group.id,))
            self.drop_group_policy(group)
            self.storage.execute("DELETE FROM logs_groups WHERE id = ?", (group.id,))
        return {}

    def _group_out(self, group: Group) -> dict:
        stored = self.storage.scalar("SELECT COALESCE(SUM(bytes), 0) FROM logs_streams WHERE group_id = ?",
                                     (group.id,))
        filters = self.storage.scalar("SELECT COUNT(*) FROM logs_metric_filters WHERE group_id = ?", (group.id,))
        out = {"logGroupName": group.name, "creationTime": group.created, "metricFilterCount": filters,
               "arn": group.arn + ":*", "storedBytes": stored, "logGroupClass": group.cls,
               "logGroupArn": group.arn}
        if group.retention is not None:
            out["retentionInDays"] = group.retention
        if group.kms_key:
            out["kmsKeyId"] = group.kms_key
        if group.protected:
            out["deletionProtectionEnabled"] = True
        return out

    def DescribeLogGroups(self, ctx, params):
        prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
        identifiers = params.get("logGroupIdentifiers")
        if sum(x is not None for x in (prefix, pattern, identifiers)) > 1:
            raise invalid("LogGroup name prefix, LogGroup name pattern and LogGroup identifiers are mutually "
                          "exclusive parameters.")
        rows = self.storage.all(f"SELECT {_GROUP_COLUMNS} FROM logs_groups WHERE account = ? AND region = ? "
                                "ORDER BY name", (ctx.account_id, ctx.region))
        groups = [Group(r) for r in rows]
        if prefix is not None:
            groups = [g for g in groups if g.name.startswith(prefix)]
        if pattern:
            groups = [g for g in groups if pattern.lower() in g.name.lower()]
        if identifiers is not None:
            wanted = {i.removesuffix(":*") for i in identifiers}
            groups = [g for g in groups if g.name in wanted or g.arn in wanted]
        if params.get("logGroupClass"):
            groups = [g for g in groups if g.cls == params["logGroupClass"]]
        return _paged([self._group_out(g) for g in groups], params, "logGroups")

    # -- retention ---------------------------------------------------------------

    def PutRetentionPolicy(self, ctx, params):
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise invalid(f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy "
                          f"constraint: Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]")
        with self.storage.tx():
            group = self.group(ctx, params)
            self.storage.execute("UPDATE logs_groups SET retention = ? WHERE id = ?", (days, group.id))
        return {}

    def DeleteRetentionPolicy(self, ctx, params):
        with self.storage.tx():
            group = self.group(ctx, params)
            self.storage.execute("UPDATE logs_groups SET retention = NULL WHERE id = ?", (group.id,))
        return {}

    def expire_events(self, now: float) -> None:
        """Events older than their group's retention (by event time)."""
        now_ms = int(now * 1000)
        for group_id, days in self.storage.all("SELECT id, retention FROM logs_groups WHERE retention IS NOT NULL"):
            cutoff = now_ms - days * DAY_MS
            with self.storage.tx():
                for stream_id, in self.storage.all("SELECT id FROM logs_streams WHERE group_id = ?", (group_id,)):
                    gone = self.storage.one("SELECT COUNT(*), COALESCE(SUM(length(CAST(message AS BLOB))), 0) "
                                            "FROM logs_events WHERE stream_id = ? AND timestamp < ?",
                                            (stream_id, cutoff))
                    if not gone[0]:
                        continue
                    self.storage.execute("DELETE FROM logs_events WHERE stream_id = ? AND timestamp < ?",
                                         (stream_id, cutoff))
                    self.storage.execute(
                        "UPDATE logs_streams SET bytes = MAX(0, bytes - ?), first_event = (SELECT MIN(timestamp) "
                        "FROM logs_events WHERE stream_id = ?) WHERE id = ?", (gone[1], stream_id, stream_id))

    # -- log streams -------------------------------------------------------------

    def CreateLogStream(self, ctx, params):
        name = params["logStreamName"]
        with self.storage.tx():
            group = self.group(ctx, params)
            if self.storage.one("SELECT 1 FROM logs_streams WHERE group_id = ? AND name = ?", (group.id, name)):
                raise AwsError("ResourceAlreadyExistsException", "The specified log stream already exists")
            self.storage.execute("INSERT INTO logs_streams (group_id, name, created) VALUES (?, ?, ?)",
                                 (group.id, name, self._now_ms()))
        return {}

    def DeleteLogStream(self, ctx, params):
        with self.storage.tx():
            group = self.group(ctx, params)
            stream_id = self.stream_row(group, params["logStreamName"])[0]
            self.storage.execute("DELETE FROM logs_events WHERE stream_id = ?", (stream_id,))
            self.storage.execute("DELETE FROM logs_streams WHERE id = ?", (stream_id,))
        return {}

    def DescribeLogStreams(self, ctx, params):
        group = self.group(ctx, params)
        order = params.get("orderBy") or "LogStreamName"
        prefix = params.get("logStreamNamePrefix")
        if order == "LastEventTime" and prefix is not None:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        rows = self.storage.all("SELECT id, name, created, first_event, last_event, last_ingestion, bytes "
                                "FROM logs_streams WHERE group_id = ?", (group.id,))
        if prefix is not None:
            rows = [r for r in rows if r[1].startswith(prefix)]
        if order == "LastEventTime":
            rows.sort(key=lambda r: (r[4] if r[4] is not None else -1, r[1]))
        else:
            rows.sort(key=lambda r: r[1])
        if params.get("descending"):
            rows.reverse()
        streams = []
        for _, name, created, first, last, ingestion, size in rows:
            stream = {"logStreamName": name, "creationTime": created,
                      "arn": f"{group.arn}:log-stream:{name}", "storedBytes": size}
            if first is not None:
                stream.update(firstEventTimestamp=first, lastEventTimestamp=last, lastIngestionTime=ingestion)
            streams.append(stream)
        return _paged(streams, params, "logStreams")

    # -- tags ----------------------------------------------------------------------

    def _tagged_group(self, ctx, arn: str) -> Group:
        parts = arn.split(":")
        if len(parts) < 7 or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "log-group":
            raise invalid(f"Invalid resource arn: {arn}")
        found = self.find_group(parts[4], parts[3], parts[6])
        if found is None or parts[4] != ctx.account_id:
            raise AwsError("ResourceNotFoundException", f"The specified resource does not exist: {arn}")
        return found

    def _set_tags(self, group: Group, tags: dict) -> None:
        merged = dict(group.tags)
        merged.update(tags)
        if len(merged) > MAX_TAGS:
            raise AwsError("TooManyTagsException", f"A resource can have no more than {MAX_TAGS} tags.")
        self.storage.execute("UPDATE logs_groups SET tags = ? WHERE id = ?", (orjson.dumps(merged).decode(),
                                                                             group.id))

    def _drop_tags(self, group: Group, keys: list[str]) -> None:
        kept = {k: v for k, v in group.tags.items() if k not in set(keys)}
        self.storage.execute("UPDATE logs_groups SET tags = ? WHERE id = ?", (orjson.dumps(kept).decode(), group.id))

    def TagResource(self, ctx, params):
        with self.storage.tx():
            self._set_tags(self._tagged_group(ctx, params["resourceArn"]), params["tags"])
        return {}

    def UntagResource(self, ctx, params):
        with self.storage.tx():
            self._drop_tags(self._tagged_group(ctx, params["resourceArn"]), params["tagKeys"])
        return {}

    def ListTagsForResource(self, ctx, params):
        return {"tags": self._tagged_group(ctx, params["resourceArn"]).tags}

    def TagLogGroup(self, ctx, params):
        with self.storage.tx():
            self._set_tags(self.group(ctx, params), params["tags"])
        return {}

    def UntagLogGroup(self, ctx, params):
        with self.storage.tx():
            self._drop_tags(self.group(ctx, params), params["tags"])
        return {}

    def ListTagsLogGroup(self, ctx, params):
        return {"tags": self.group(ctx, params).tags}
