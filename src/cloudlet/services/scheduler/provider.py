"""Amazon EventBridge Scheduler: schedule groups (tags are theirs, as on
AWS: schedules take none) and schedules that really fire on cloudlet's
clock (timing.py) and call their target as the target's role
(invoke.py). Create / Get / Update / Delete / ListSchedules, Create / Get /
Delete / ListScheduleGroups, Tag / Untag / ListTagsForResource.
"""

from __future__ import annotations

import base64
import re

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.scheduler.invoke import InvokeOps
from cloudlet.services.scheduler.store import MIGRATIONS
from cloudlet.services.scheduler.timing import Timing, TimingError

DEFAULT = "default"
MAX_GROUPS = 500
_GROUP_ARN = re.compile(r"arn:aws[\w-]*:scheduler:([a-z0-9-]+):(\d{12}):schedule-group/(.+)")


def group_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}"


def schedule_arn(region: str, account: str, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"


def _validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def _page(items: list, params: dict, key: str) -> dict:
    start = 0
    if params.get("NextToken"):
        try:
            start = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise _validation("Invalid NextToken.") from None
    limit = params.get("MaxResults") or 100
    out = {key: items[start:start + limit]}
    if start + limit < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return out


class SchedulerService(InvokeOps, Service):
    model_name = "scheduler"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.wake_at_next()

    # -- groups -----------------------------------------------------------------------

    def _group_row(self, account: str, region: str, name: str):
        row = self.storage.one("SELECT name, created, modified, tags FROM scheduler_groups WHERE account = ? AND "
                               "region = ? AND name = ?", (account, region, name))
        if row is None and name == DEFAULT:
            now = self.clock.now()
            with self.storage.tx():
                self.storage.execute("INSERT OR IGNORE INTO scheduler_groups (account, region, name, created, "
                                     "modified) VALUES (?, ?, ?, ?, ?)", (account, region, DEFAULT, now, now))
            return self._group_row(account, region, name)
        return row

    def _group(self, ctx, name: str | None):
        row = self._group_row(ctx.account_id, ctx.region, name or DEFAULT)
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Schedule group {name} does not exist.")
        return row

    def CreateScheduleGroup(self, ctx, params):
        name = params["Name"]
        if self._group_row(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("ConflictException", f"Schedule group {name} already exists.")
        if self.storage.scalar("SELECT COUNT(*) FROM scheduler_groups WHERE account = ? AND region = ?",
                               (ctx.account_id, ctx.region)) >= MAX_GROUPS:
            raise AwsError("ServiceQuotaExceededException", "Schedule group quota exceeded.")
        now = self.clock.now()
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or ()}
        with self.storage.tx():
            self.storage.execute("INSERT INTO scheduler_groups (account, region, name, created, modified, tags) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (ctx.account_id, ctx.region, name, now, now,
                                                               orjson.dumps(tags).decode()))
        return {"ScheduleGroupArn": group_arn(ctx.region, ctx.account_id, name)}

    def _group_out(self, ctx, row) -> dict:
        name, created, modified, _ = row
        return {"Arn": group_arn(ctx.region, ctx.account_id, name), "Name": name, "State": "ACTIVE",
                "CreationDate": created, "LastModificationDate": modified}

    def GetScheduleGroup(self, ctx, params):
        return self._group_out(ctx, self._group(ctx, params["Name"]))

    def ListScheduleGroups(self, ctx, params):
        self._group_row(ctx.account_id, ctx.region, DEFAULT)
        rows = self.storage.all("SELECT name, created, modified, tags FROM scheduler_groups WHERE account = ? AND "
                                "region = ? ORDER BY name", (ctx.account_id, ctx.region))
        prefix = params.get("NamePrefix") or ""
        return _page([self._group_out(ctx, r) for r in rows if r[0].startswith(prefix)], params, "ScheduleGroups")

    def DeleteScheduleGroup(self, ctx, params):
        name = params["Name"]
        if name == DEFAULT:
            raise _validation("Cannot delete the default schedule group.")
        self._group(ctx, name)
        with self.storage.tx():
            self.storage.execute("DELETE FROM scheduler_schedules WHERE account = ? AND region = ? AND grp = ?",
                                 (ctx.account_id, ctx.region, name))
            self.storage.execute("DELETE FROM scheduler_groups WHERE account = ? AND region = ? AND name = ?",
                                 (ctx.account_id, ctx.region, name))
        return {}

    # -- tags (groups only) -------------------------------------------------------------

    def _tagged(self, ctx, arn: str):
        m = _GROUP_ARN.fullmatch(arn)
        if m is None or m.group(2) != ctx.account_id:
            raise AwsError("ResourceNotFoundException", f"Resource {arn} does not exist.")
        return self._group(ctx, m.group(3))

    def _save_tags(self, ctx, name: str, tags: dict) -> None:
        if len(tags) > 200:
            raise _validation("A resource can have at most 200 tags.")
        with self.storage.tx():
            self.storage.execute("UPDATE scheduler_groups SET tags = ? WHERE account = ? AND region = ? AND name = ?",
                                 (orjson.dumps(tags).decode(), ctx.account_id, ctx.region, name))

    def TagResource(self, ctx, params):
        row = self._tagged(ctx, params["ResourceArn"])
        tags = orjson.loads(row[3])
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        self._save_tags(ctx, row[0], tags)
        return {}

    def UntagResource(self, ctx, params):
        row = self._tagged(ctx, params["ResourceArn"])
        tags = {k: v for k, v in orjson.loads(row[3]).items() if k not in params["TagKeys"]}
        self._save_tags(ctx, row[0], tags)
        return {}

    def ListTagsForResource(self, ctx, params):
        row = self._tagged(ctx, params["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in orjson.loads(row[3]).items()]}

    # -- schedules ------------------------------------------------------------------------

    def _schedule_row(self, account: str, region: str, group: str, name: str):
        return self.storage.one("SELECT config, created, modified, next_fire FROM scheduler_schedules WHERE "
                                "account = ? AND region = ? AND grp = ? AND name = ?", (account, region, group, name))

    def _check(self, params: dict) -> None:
        window = params["FlexibleTimeWindow"]
        if window.get("Mode") == "FLEXIBLE" and not window.get("MaximumWindowInMinutes"):
            raise _validation("MaximumWindowInMinutes must be provided when Mode is FLEXIBLE.")
        if window.get("Mode") == "OFF" and window.get("MaximumWindowInMinutes"):
            raise _validation("MaximumWindowInMinutes must not be provided when Mode is OFF.")
        target = params["Target"]
        if target["Arn"].startswith("arn:aws:events:") and ":event-bus/" in target["Arn"] \
                and not target.get("EventBridgeParameters"):
            raise _validation("EventBridgeParameters must be provided for an EventBridge PutEvents target.")
        if target["Arn"].endswith(".fifo") and not (target.get("SqsParameters") or {}).get("MessageGroupId"):
            raise _validation("SqsParameters.MessageGroupId must be provided for a FIFO queue target.")
        if params.get("StartDate") is not None and params.get("EndDate") is not None and \
                _epoch(params["EndDate"]) <= _epoch(params["StartDate"]):
            raise _validation("The EndDate must be after the StartDate.")

    def _store(self, ctx, params: dict, creating: bool) -> dict:
        group = params.get("GroupName") or DEFAULT
        name = params["Name"]
        self._group(ctx, group)
        self._check(params)
        from cloudlet.gateway.servicerole import require_pass_role

        require_pass_role(self.cloud, ctx, self, params, params["Target"].get("RoleArn"), "scheduler.amazonaws.com",
                          schedule_arn(ctx.region, ctx.account_id, group, name))
        existing = self._schedule_row(ctx.account_id, ctx.region, group, name)
        if creating and existing is not None:
            raise AwsError("ConflictException", f"Schedule {name} already exists.")
        if not creating and existing is None:
            raise AwsError("ResourceNotFoundException", f"Schedule {name} does not exist.")
        now = self.clock.now()
        created = existing[1] if existing else now
        config = {k: v for k, v in params.items() if k not in ("ClientToken", "Name", "GroupName")}
        for key in ("StartDate", "EndDate"):
            if config.get(key) is not None:
                config[key] = _epoch(config[key])
        config.setdefault("State", "ENABLED")
        config.setdefault("ActionAfterCompletion", "NONE")
        try:
            timing = Timing(config["ScheduleExpression"], config.get("ScheduleExpressionTimezone"),
                            config.get("StartDate"), config.get("EndDate"), created)
        except TimingError as err:
            raise _validation(str(err)) from None
        next_fire = timing.next_after(now)
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO scheduler_schedules (account, region, grp, name, config, created, modified, next_fire) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, grp, name) DO UPDATE SET "
                "config = excluded.config, modified = excluded.modified, next_fire = excluded.next_fire",
                (ctx.account_id, ctx.region, group, name, orjson.dumps(config).decode(), created, now, next_fire))
        if next_fire is not None:
            self.wake(next_fire)
        return {"ScheduleArn": schedule_arn(ctx.region, ctx.account_id, group, name)}

    def CreateSchedule(self, ctx, params):
        return self._store(ctx, params, creating=True)

    def UpdateSchedule(self, ctx, params):
        return self._store(ctx, params, creating=False)

    def GetSchedule(self, ctx, params):
        group = params.get("GroupName") or DEFAULT
        row = self._schedule_row(ctx.account_id, ctx.region, group, params["Name"])
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Schedule {params['Name']} does not exist.")
        config, created, modified, _ = row
        out = {"Arn": schedule_arn(ctx.region, ctx.account_id, group, params["Name"]), "GroupName": group,
               "Name": params["Name"]}
        out.update(orjson.loads(config))
        out.update(CreationDate=created, LastModificationDate=modified)
        return out

    def DeleteSchedule(self, ctx, params):
        group = params.get("GroupName") or DEFAULT
        with self.storage.tx():
            cursor = self.storage.execute("DELETE FROM scheduler_schedules WHERE account = ? AND region = ? AND "
                                          "grp = ? AND name = ?", (ctx.account_id, ctx.region, group, params["Name"]))
        if cursor.rowcount == 0:
            raise AwsError("ResourceNotFoundException", f"Schedule {params['Name']} does not exist.")
        return {}

    def ListSchedules(self, ctx, params):
        if params.get("GroupName"):
            self._group(ctx, params["GroupName"])
        rows = self.storage.all("SELECT grp, name, config, created, modified FROM scheduler_schedules WHERE "
                                "account = ? AND region = ? ORDER BY grp, name", (ctx.account_id, ctx.region))
        items = []
        for group, name, config, created, modified in rows:
            config = orjson.loads(config)
            if params.get("GroupName") and group != params["GroupName"]:
                continue
            if params.get("NamePrefix") and not name.startswith(params["NamePrefix"]):
                continue
            if params.get("State") and config["State"] != params["State"]:
                continue
            items.append({"Arn": schedule_arn(ctx.region, ctx.account_id, group, name), "Name": name,
                          "GroupName": group, "State": config["State"], "CreationDate": created,
                          "LastModificationDate": modified, "Target": {"Arn": config["Target"]["Arn"]}})
        return _page(items, params, "Schedules")


def _epoch(value) -> float:
    import datetime as _dt

    return value.timestamp() if isinstance(value, _dt.datetime) else float(value)
