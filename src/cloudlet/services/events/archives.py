"""EventBridge archives and replays. Mixed into EventsService.

An archive keeps every event put on its bus that its pattern matches (all
of them without a pattern), from its creation on, for RetentionDays of
clock time (0: for ever; a daily job deletes older ones). A replay sends
the archived events whose time falls in [EventStartTime, EventEndTime)
back to the bus, in order, each with a "replay-name" field, to every rule
of the bus or only to the Destination's FilterArns; replayed events are
not archived again. A replay runs as soon as it starts (STARTING, then
COMPLETED with EventLastReplayedTime); CancelReplay on a finished one is
an IllegalStatusException, as on AWS. cloudlet does not create the
managed "Events-Archive-<name>" rule AWS puts on the bus.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import re

import orjson

from cloudlet.errors import AwsError

DAY = 86400.0
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus/(.+)")
_ARCHIVE_ARN = re.compile(r"arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):archive/(.+)")


def archive_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:archive/{name}"


def replay_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:replay/{name}"


def _epoch(value) -> float:
    return value.timestamp() if isinstance(value, _dt.datetime) else float(value)


def _event_time(event: dict) -> float:
    return _dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp()


class ArchiveOps:
    """Mixed into EventsService."""

    def start_archives(self) -> None:
        self.cloud.scheduler.every("events-archive-retention", DAY, self.expire_archived)

    # -- archiving (called by route) ----------------------------------------------------------

    def _archives_of(self, account: str, region: str, bus: str) -> list:
        cache = self.__dict__.setdefault("_archive_cache", {})
        found = cache.get((account, region, bus))
        if found is None:
            from cloudlet.services.events.provider import bus_arn
            from cloudlet.services.events.rules import compile_pattern

            arn = bus_arn(region, account, bus)
            found = [(name, compile_pattern(pattern) if pattern else None) for name, pattern in self.storage.all(
                "SELECT name, pattern FROM events_archives WHERE account = ? AND region = ? AND source_arn = ?",
                (account, region, arn))]
            cache[(account, region, bus)] = found
        return found

    def archives_changed(self) -> None:
        self.__dict__.pop("_archive_cache", None)

    def archive(self, account: str, region: str, bus: str, event: dict, text: str, document) -> None:
        if "replay-name" in event:
            return
        wanted = [name for name, pattern in self._archives_of(account, region, bus)
                  if pattern is None or pattern.matches_document(document)]
        if not wanted:
            return
        when = _event_time(event)
        with self.storage.tx():
            for name in wanted:
                self.storage.execute("INSERT INTO events_archived (account, region, archive, time, event) "
                                     "VALUES (?, ?, ?, ?, ?)", (account, region, name, when, text))

    def expire_archived(self, now: float) -> None:
        for account, region, name, retention in self.storage.all(
                "SELECT account, region, name, retention FROM events_archives WHERE retention > 0", ()):
            with self.storage.tx():
                self.storage.execute("DELETE FROM events_archived WHERE account = ? AND region = ? AND archive = ? "
                                     "AND time < ?", (account, region, name, now - retention * DAY))

    # -- archives --------------------------------------------------------------------------------

    def _archive_row(self, account: str, region: str, name: str):
        return self.storage.one("SELECT name, source_arn, pattern, retention, description, created FROM "
                                "events_archives WHERE account = ? AND region = ? AND name = ?",
                                (account, region, name))

    def _known_archive(self, ctx, name: str):
        row = self._archive_row(ctx.account_id, ctx.region, name)
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Archive {name} does not exist.")
        return row

    def CreateArchive(self, ctx, params):
        from cloudlet.services.events.rules import compile_pattern

        name = params["ArchiveName"]
        if self._archive_row(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("ResourceAlreadyExistsException", f"Archive {name} already exists.")
        m = _BUS_ARN.fullmatch(params["EventSourceArn"])
        if m is None or self.find_bus(m.group(2), m.group(1), m.group(3)) is None:
            raise AwsError("ResourceNotFoundException", f"Event bus {params['EventSourceArn'].rpartition('/')[2]} "
                                                        "does not exist.")
        if m.group(2) != ctx.account_id:
            raise AwsError("ValidationException", "An archive can only be created for an event bus in the same "
                                                  "account.")
        if params.get("EventPattern"):
            compile_pattern(params["EventPattern"])
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute("INSERT INTO events_archives (account, region, name, source_arn, pattern, retention, "
                                 "description, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (ctx.account_id, ctx.region, name, params["EventSourceArn"],
                                  params.get("EventPattern"), params.get("RetentionDays") or 0,
                                  params.get("Description"), now))
        self.archives_changed()
        return {"ArchiveArn": archive_arn(ctx.region, ctx.account_id, name), "State": "ENABLED",
                "CreationTime": now}

    def _archive_out(self, ctx, row, full: bool) -> dict:
        name, source, pattern, retention, description, created = row
        count, size = self.storage.one("SELECT COUNT(*), COALESCE(SUM(length(CAST(event AS BLOB))), 0) FROM "
                                       "events_archived WHERE account = ? AND region = ? AND archive = ?",
                                       (ctx.account_id, ctx.region, name))
        out = {"ArchiveName": name, "EventSourceArn": source, "State": "ENABLED", "RetentionDays": retention,
               "SizeBytes": size, "EventCount": count, "CreationTime": created}
        if full:
            out["ArchiveArn"] = archive_arn(ctx.region, ctx.account_id, name)
            if description is not None:
                out["Description"] = description
            if pattern:
                out["EventPattern"] = pattern
        return out

    def DescribeArchive(self, ctx, params):
        return self._archive_out(ctx, self._known_archive(ctx, params["ArchiveName"]), full=True)

    def ListArchives(self, ctx, params):
        from cloudlet.services.events.provider import page

        rows = self.storage.all("SELECT name, source_arn, pattern, retention, description, created FROM "
                                "events_archives WHERE account = ? AND region = ? ORDER BY name",
                                (ctx.account_id, ctx.region))
        items = [self._archive_out(ctx, r, full=False) for r in rows
                 if (not params.get("NamePrefix") or r[0].startswith(params["NamePrefix"]))
                 and (not params.get("EventSourceArn") or r[1] == params["EventSourceArn"])
                 and params.get("State") in (None, "ENABLED")]
        return page(items, params, "Archives")

    def UpdateArchive(self, ctx, params):
        from cloudlet.services.events.rules import compile_pattern

        name, source, pattern, retention, description, created = self._known_archive(ctx, params["ArchiveName"])
        if params.get("EventPattern"):
            compile_pattern(params["EventPattern"])
        with self.storage.tx():
            self.storage.execute("UPDATE events_archives SET pattern = ?, retention = ?, description = ? WHERE "
                                 "account = ? AND region = ? AND name = ?",
                                 (params["EventPattern"] if "EventPattern" in params else pattern,
                                  params["RetentionDays"] if params.get("RetentionDays") is not None else retention,
                                  params["Description"] if "Description" in params else description,
                                  ctx.account_id, ctx.region, name))
        self.archives_changed()
        return {"ArchiveArn": archive_arn(ctx.region, ctx.account_id, name), "State": "ENABLED",
                "CreationTime": created}

    def DeleteArchive(self, ctx, params):
        name = self._known_archive(ctx, params["ArchiveName"])[0]
        with self.storage.tx():
            self.storage.execute("DELETE FROM events_archived WHERE account = ? AND region = ? AND archive = ?",
                                 (ctx.account_id, ctx.region, name))
            self.storage.execute("DELETE FROM events_archives WHERE account = ? AND region = ? AND name = ?",
                                 (ctx.account_id, ctx.region, name))
        self.archives_changed()
        return {}

    # -- replays ---------------------------------------------------------------------------------

    def _replay(self, ctx, name: str) -> dict:
        row = self.storage.one("SELECT config FROM events_replays WHERE account = ? AND region = ? AND name = ?",
                               (ctx.account_id, ctx.region, name))
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Replay {name} does not exist.")
        return orjson.loads(row[0])

    def _save_replay(self, account: str, region: str, replay: dict) -> None:
        with self.storage.tx():
            self.storage.execute("INSERT INTO events_replays (account, region, name, config) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT (account, region, name) DO UPDATE SET config = excluded.config",
                                 (account, region, replay["ReplayName"], orjson.dumps(replay).decode()))

    def StartReplay(self, ctx, params):
        name = params["ReplayName"]
        if self.storage.one("SELECT 1 FROM events_replays WHERE account = ? AND region = ? AND name = ?",
                            (ctx.account_id, ctx.region, name)):
            raise AwsError("ResourceAlreadyExistsException", f"Replay {name} already exists.")
        m = _ARCHIVE_ARN.fullmatch(params["EventSourceArn"])
        if m is None or self._archive_row(m.group(2), m.group(1), m.group(3)) is None:
            raise AwsError("ResourceNotFoundException", f"Archive {params['EventSourceArn'].rpartition('/')[2]} "
                                                        "does not exist.")
        start, end = _epoch(params["EventStartTime"]), _epoch(params["EventEndTime"])
        if end <= start:
            raise AwsError("ValidationException", "Parameter EventEndTime is not valid. Reason: EventStartTime must "
                                                  "be before EventEndTime.")
        if end > self.clock.now():
            raise AwsError("ValidationException", "Parameter EventEndTime is not valid. Reason: EventEndTime cannot "
                                                  "be in the future.")
        destination = params["Destination"]
        archive = self._archive_row(m.group(2), m.group(1), m.group(3))
        if destination["Arn"] != archive[1]:
            raise AwsError("ValidationException", "Parameter Destination.Arn is not valid. Reason: Cross event bus "
                                                  "replay is not permitted.")
        now = self.clock.now()
        replay = {"ReplayName": name, "ReplayArn": replay_arn(ctx.region, ctx.account_id, name),
                  "EventSourceArn": params["EventSourceArn"], "Destination": destination, "State": "STARTING",
                  "EventStartTime": start, "EventEndTime": end, "ReplayStartTime": now}
        if params.get("Description") is not None:
            replay["Description"] = params["Description"]
        self._save_replay(ctx.account_id, ctx.region, replay)
        task = asyncio.get_running_loop().create_task(self._run_replay(ctx.account_id, ctx.region, m.group(3),
                                                                       replay))
        tasks = self.__dict__.setdefault("_source_tasks", set())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return {"ReplayArn": replay["ReplayArn"], "State": "STARTING", "ReplayStartTime": now}

    async def _run_replay(self, account: str, region: str, archive: str, replay: dict) -> None:
        bus = replay["Destination"]["Arn"].rpartition("/")[2]
        only = set(replay["Destination"].get("FilterArns") or ())
        replay["State"] = "RUNNING"
        self._save_replay(account, region, replay)
        last = None
        for when, text in self.storage.all("SELECT time, event FROM events_archived WHERE account = ? AND region = ? "
                                           "AND archive = ? AND time >= ? AND time < ? ORDER BY time, id",
                                           (account, region, archive, replay["EventStartTime"],
                                            replay["EventEndTime"])):
            event = orjson.loads(text)
            event["replay-name"] = replay["ReplayName"]
            await self.route(account, region, bus, event, only_rules=only or None)
            last = when
        replay["State"] = "COMPLETED"
        replay["ReplayEndTime"] = self.clock.now()
        if last is not None:
            replay["EventLastReplayedTime"] = last
        self._save_replay(account, region, replay)

    def DescribeReplay(self, ctx, params):
        return self._replay(ctx, params["ReplayName"])

    def ListReplays(self, ctx, params):
        from cloudlet.services.events.provider import page

        rows = self.storage.all("SELECT config FROM events_replays WHERE account = ? AND region = ? ORDER BY name",
                                (ctx.account_id, ctx.region))
        items = []
        for row in rows:
            r = orjson.loads(row[0])
            if params.get("NamePrefix") and not r["ReplayName"].startswith(params["NamePrefix"]):
                continue
            if params.get("State") and r["State"] != params["State"]:
                continue
            if params.get("EventSourceArn") and r["EventSourceArn"] != params["EventSourceArn"]:
                continue
            items.append({k: r[k] for k in ("ReplayName", "EventSourceArn", "State", "EventStartTime",
                                            "EventEndTime", "EventLastReplayedTime", "ReplayStartTime",
                                            "ReplayEndTime") if k in r})
        return page(items, params, "Replays")

    def CancelReplay(self, ctx, params):
        replay = self._replay(ctx, params["ReplayName"])
        if replay["State"] not in ("STARTING", "RUNNING"):
            raise AwsError("IllegalStatusException", f"Replay {replay['ReplayName']} is not in a valid state for "
                                                     f"this operation.")
        replay["State"] = "CANCELLING"
        self._save_replay(ctx.account_id, ctx.region, replay)
        return {"ReplayArn": replay["ReplayArn"], "State": "CANCELLING"}
