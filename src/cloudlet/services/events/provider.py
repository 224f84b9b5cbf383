"""Amazon EventBridge: event buses (the default bus of each account and
Region, custom buses, their resource policies), rules with event patterns
or schedules, targets, PutEvents and the routing of every event to the
targets of the rules it matches (routing.py), the events other services
send (sources.py), TestEventPattern, tags.

Event patterns are compiled by cloudlet/eventruler.py, the Event Ruler
engine SNS filter policies use too (AWS runs the same library for both).
"""

from __future__ import annotations

import base64
import re

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.events.apihttp import ApiHttpOps
from cloudlet.services.events.archives import ArchiveOps
from cloudlet.services.events.connections import ConnectionOps
from cloudlet.services.events.routing import RoutingOps
from cloudlet.services.events.rules import RuleOps
from cloudlet.services.events.store import MIGRATIONS

DEFAULT = "default"
MAX_BUSES = 100
MAX_TAGS = 50
_BUS_COLUMNS = "account, region, name, created, modified, description, kms_key, dead_letter, log_config, policy, tags"
_BUS_ARN = re.compile(r"arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):event-bus/(.+)")
_RULE_ARN = re.compile(r"arn:aws[\w-]*:events:([a-z0-9-]+):(\d{12}):rule/(?:(.+)/)?([^/]+)")


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message)


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def bus_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    return (f"arn:aws:events:{region}:{account}:rule/{name}" if bus == DEFAULT
            else f"arn:aws:events:{region}:{account}:rule/{bus}/{name}")


def page(items: list, params: dict, key: str, limit_key: str = "Limit", default: int = 100) -> dict:
    token = params.get("NextToken")
    start = 0
    if token is not None:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise validation("The NextToken provided is not valid.") from None
    limit = params.get(limit_key) or default
    out = {key: items[start:start + limit]}
    if start + limit < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return out


class Bus:
    __slots__ = ("account", "region", "name", "created", "modified", "description", "kms_key", "dead_letter",
                 "log_config", "policy", "tags")

    def __init__(self, row):
        (self.account, self.region, self.name, self.created, self.modified, self.description, self.kms_key,
         dead_letter, log_config, policy, tags) = row
        self.dead_letter = orjson.loads(dead_letter) if dead_letter else None
        self.log_config = orjson.loads(log_config) if log_config else None
        self.policy = orjson.loads(policy) if policy else None
        self.tags = orjson.loads(tags)

    @property
    def arn(self) -> str:
        return bus_arn(self.region, self.account, self.name)


class EventsService(RuleOps, RoutingOps, ConnectionOps, ApiHttpOps, ArchiveOps, Service):
    model_name = "events"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.start_routing()
        self.recover_http()
        self.start_archives()

    def reset(self) -> None:
        self._rules_cache = {}
        self.archives_changed()

    # -- names ------------------------------------------------------------------

    def bus_ref(self, ctx, name: str | None) -> tuple[str, str, str]:
        """(account, region, bus name) an EventBusName (a name or an ARN)
        names; the default bus when none."""
        if not name:
            return ctx.account_id, ctx.region, DEFAULT
        m = _BUS_ARN.fullmatch(name)
        if m:
            return m.group(2), m.group(1), m.group(3)
        return ctx.account_id, ctx.region, name

    # -- authorization ----------------------------------------------------------

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        if params.get("ResourceARN"):
            return [params["ResourceARN"]]
        if operation in ("PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule", "PutTargets",
                         "RemoveTargets", "ListTargetsByRule"):
            account, region, bus = self.bus_ref(ctx, params.get("EventBusName"))
            name = params.get("Name") or params.get("Rule")
            return [rule_arn(region, account, bus, name)]
        if operation in ("CreateEventBus", "DeleteEventBus", "DescribeEventBus", "UpdateEventBus"):
            account, region, bus = self.bus_ref(ctx, params.get("Name"))
            return [bus_arn(region, account, bus)]
        if operation in ("PutPermission", "RemovePermission"):
            account, region, bus = self.bus_ref(ctx, params.get("EventBusName"))
            return [bus_arn(region, account, bus)]
        if operation == "PutEvents":
            arns = []
            for entry in params.get("Entries") or ():
                account, region, bus = self.bus_ref(ctx, entry.get("EventBusName"))
                arn = bus_arn(region, account, bus)
                if arn not in arns:
                    arns.append(arn)
            return arns or ["*"]
        return ["*"]

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        """An event bus's policy (PutPermission / a Policy document): what
        lets other accounts put events on it."""
        m = _BUS_ARN.fullmatch(resource)
        if not m:
            return None
        bus = self.find_bus(m.group(2), m.group(1), m.group(3))
        if bus is None or not bus.policy:
            return None
        return orjson.dumps(bus.policy).decode(), bus.account

    # -- buses ------------------------------------------------------------------

    def find_bus(self, account: str, region: str, name: str) -> Bus | None:
        row = self.storage.one(f"SELECT {_BUS_COLUMNS} FROM events_buses WHERE account = ? AND region = ? AND "
                               "name = ?", (account, region, name))
        if row is not None:
            return Bus(row)
        if name == DEFAULT:
            return self._default_bus(account, region)
        return None

    def _default_bus(self, account: str, region: str) -> Bus:
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute("INSERT OR IGNORE INTO events_buses (account, region, name, created, modified) "
                                 "VALUES (?, ?, ?, ?, ?)", (account, region, DEFAULT, now, now))
        return Bus(self.storage.one(f"SELECT {_BUS_COLUMNS} FROM events_buses WHERE account = ? AND region = ? "
                                    "AND name = ?", (account, region, DEFAULT)))

    def bus(self, ctx, name: str | None) -> Bus:
        account, region, bus_name = self.bus_ref(ctx, name)
        found = self.find_bus(account, region, bus_name)
        if found is None:
            raise not_found(f"Event bus {bus_name} does not exist.")
        return found

    def CreateEventBus(self, ctx, params):
        name = params["Name"]
        if params.get("EventSourceName"):
            raise not_found(f"Event source {params['EventSourceName']} does not exist.")
        if name.startswith("aws."):
            raise validation("Event bus name must not start with 'aws.'.")
        if "/" in name:
            raise validation("Event bus name must not contain '/'.")
        tags = params.get("Tags") or []
        if len(tags) > MAX_TAGS:
            raise AwsError("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
        now = self.clock.now()
        with self.storage.tx():
            if self.find_bus(ctx.account_id, ctx.region, name) is not None:
                raise AwsError("ResourceAlreadyExistsException", f"Event bus {name} already exists.")
            count = self.storage.scalar("SELECT COUNT(*) FROM events_buses WHERE account = ? AND region = ?",
                                        (ctx.account_id, ctx.region))
            if count >= MAX_BUSES:
                raise AwsError("LimitExceededException", "The requested resource exceeds the maximum number "
                                                         "allowed.")
            self.storage.execute(
                "INSERT INTO events_buses (account, region, name, created, modified, description, kms_key, "
                "dead_letter, log_config, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ctx.account_id, ctx.region, name, now, now, params.get("Description"),
                 params.get("KmsKeyIdentifier"), _json(params.get("DeadLetterConfig")),
                 _json(params.get("LogConfig")), orjson.dumps({t["Key"]: t["Value"] for t in tags}).decode()))
        out = {"EventBusArn": bus_arn(ctx.region, ctx.account_id, name)}
        for key in ("Description", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig"):
            if params.get(key) is not None:
                out[key] = params[key]
        return out

    def UpdateEventBus(self, ctx, params):
        bus = self.bus(ctx, params.get("Name"))
        with self.storage.tx():
            self.storage.execute(
                "UPDATE events_buses SET description = ?, kms_key = ?, dead_letter = ?, log_config = ?, "
                "modified = ? WHERE account = ? AND region = ? AND name = ?",
                (params.get("Description"), params.get("KmsKeyIdentifier"), _json(params.get("DeadLetterConfig")),
                 _json(params.get("LogConfig")), self.clock.now(), bus.account, bus.region, bus.name))
        out = {"Arn": bus.arn, "Name": bus.name}
        for key in ("Description", "KmsKeyIdentifier", "DeadLetterConfig", "LogConfig"):
            if params.get(key) is not None:
                out[key] = params[key]
        return out

    def DeleteEventBus(self, ctx, params):
        account, region, name = self.bus_ref(ctx, params["Name"])
        if name == DEFAULT:
            raise validation("Cannot delete event bus default.")
        with self.storage.tx():
            # (AWS deletes a bus's rules with it; their targets go too)
            for table in ("events_targets", "events_rules", "events_buses"):
                column = "name" if table == "events_buses" else "bus"
                self.storage.execute(f"DELETE FROM {table} WHERE account = ? AND region = ? AND {column} = ?",
                                     (account, region, name))
        self.rules_changed(account, region)
        return {}

    def _bus_out(self, bus: Bus) -> dict:
        out = {"Name": bus.name, "Arn": bus.arn}
        if bus.description is not None:
            out["Description"] = bus.description
        if bus.kms_key:
            out["KmsKeyIdentifier"] = bus.kms_key
        if bus.dead_letter:
            out["DeadLetterConfig"] = bus.dead_letter
        if bus.log_config:
            out["LogConfig"] = bus.log_config
        if bus.policy:
            out["Policy"] = orjson.dumps(bus.policy).decode()
        out["CreationTime"] = bus.created
        out["LastModifiedTime"] = bus.modified
        return out

    def DescribeEventBus(self, ctx, params):
        return self._bus_out(self.bus(ctx, params.get("Name")))

    def ListEventBuses(self, ctx, params):
        self.find_bus(ctx.account_id, ctx.region, DEFAULT)
        rows = self.storage.all(f"SELECT {_BUS_COLUMNS} FROM events_buses WHERE account = ? AND region = ? "
                                "ORDER BY name", (ctx.account_id, ctx.region))
        buses = [Bus(r) for r in rows]
        if params.get("NamePrefix"):
            buses = [b for b in buses if b.name.startswith(params["NamePrefix"])]
        listed = []
        for bus in buses:
            out = self._bus_out(bus)
            out.pop("KmsKeyIdentifier", None)
            out.pop("DeadLetterConfig", None)
            out.pop("LogConfig", None)
            listed.append(out)
        return page(listed, params, "EventBuses")

    # -- bus policies -----------------------------------------------------------

    def _save_policy(self, bus: Bus, policy: dict | None) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE events_buses SET policy = ?, modified = ? WHERE account = ? AND "
                                 "region = ? AND name = ?",
                                 (_json(policy), self.clock.now(), bus.account, bus.region, bus.name))

    def PutPermission(self, ctx, params):
        bus = self.bus(ctx, params.get("EventBusName"))
        if params.get("Policy") is not None:
            if any(params.get(k) is not None for k in ("Action", "Principal", "StatementId", "Condition")):
                raise validation("Policy cannot be specified with Action, Principal, StatementId or Condition.")
            try:
                policy = orjson.loads(params["Policy"])
            except orjson.JSONDecodeError:
                raise validation("The policy document is not valid JSON.") from None
            if not isinstance(policy, dict) or not isinstance(policy.get("Statement"), list):
                raise validation("The policy document is not valid.")
            self._save_policy(bus, policy)
            return {}
        missing = [k for k in ("Action", "Principal", "StatementId") if not params.get(k)]
        if missing:
            raise validation(f"Parameter(s) {', '.join(missing)} must be specified.")
        if params["Action"] not in ("events:PutEvents", "events:PutRule", "events:PutTargets"):
            raise validation("Provided value in parameter 'action' is not supported.")
        principal = params["Principal"]
        condition = params.get("Condition")
        statement: dict = {"Sid": params["StatementId"], "Effect": "Allow",
                           "Principal": "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"},
                           "Action": params["Action"], "Resource": bus.arn}
        if condition is not None:
            statement["Condition"] = {condition["Type"]: {condition["Key"]: condition["Value"]}}
        policy = bus.policy or {"Version": "2012-10-17", "Statement": []}
        statements = [s for s in policy.get("Statement", []) if s.get("Sid") != params["StatementId"]]
        statements.append(statement)
        policy["Statement"] = statements
        self._save_policy(bus, policy)
        return {}

    def RemovePermission(self, ctx, params):
        bus = self.bus(ctx, params.get("EventBusName"))
        if params.get("RemoveAllPermissions"):
            self._save_policy(bus, None)
            return {}
        sid = params.get("StatementId")
        if not sid:
            raise validation("Parameter(s) StatementId must be specified.")
        statements = (bus.policy or {}).get("Statement", [])
        kept = [s for s in statements if s.get("Sid") != sid]
        if len(kept) == len(statements):
            raise not_found("Statement with the provided id does not exist.")
        self._save_policy(bus, dict(bus.policy, Statement=kept) if kept else None)
        return {}

    # -- tags -------------------------------------------------------------------

    def _tagged(self, ctx, arn: str) -> tuple[str, tuple]:
        """("bus" | "rule", key) of a taggable resource ARN."""
        m = _BUS_ARN.fullmatch(arn)
        if m and m.group(2) == ctx.account_id:
            bus = self.find_bus(m.group(2), m.group(1), m.group(3))
            if bus is not None:
                return "bus", (bus.account, bus.region, bus.name)
            raise not_found(f"Event bus {m.group(3)} does not exist.")
        m = _RULE_ARN.fullmatch(arn)
        if m and m.group(2) == ctx.account_id:
            bus, name = m.group(3) or DEFAULT, m.group(4)
            if self.storage.one("SELECT 1 FROM events_rules WHERE account = ? AND region = ? AND bus = ? AND "
                                "name = ?", (m.group(2), m.group(1), bus, name)):
                return "rule", (m.group(2), m.group(1), bus, name)
            raise not_found(f"Rule {name} does not exist on EventBus {bus}.")
        raise not_found(f"Resource {arn} does not exist.")

    def _tags(self, kind: str, key: tuple) -> dict:
        if kind == "bus":
            row = self.storage.one("SELECT tags FROM events_buses WHERE account = ? AND region = ? AND name = ?", key)
        else:
            row = self.storage.one("SELECT tags FROM events_rules WHERE account = ? AND region = ? AND bus = ? AND "
                                   "name = ?", key)
        return orjson.loads(row[0])

    def _set_tags(self, kind: str, key: tuple, tags: dict) -> None:
        if len(tags) > MAX_TAGS:
            raise AwsError("LimitExceededException", "The requested resource exceeds the maximum number allowed.")
        if kind == "bus":
            self.storage.execute("UPDATE events_buses SET tags = ? WHERE account = ? AND region = ? AND name = ?",
                                 (orjson.dumps(tags).decode(), *key))
        else:
            self.storage.execute("UPDATE events_rules SET tags = ? WHERE account = ? AND region = ? AND bus = ? "
                                 "AND name = ?", (orjson.dumps(tags).decode(), *key))

    def TagResource(self, ctx, params):
        with self.storage.tx():
            kind, key = self._tagged(ctx, params["ResourceARN"])
            tags = self._tags(kind, key)
            tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
            self._set_tags(kind, key, tags)
        return {}

    def UntagResource(self, ctx, params):
        with self.storage.tx():
            kind, key = self._tagged(ctx, params["ResourceARN"])
            tags = self._tags(kind, key)
            for k in params["TagKeys"]:
                tags.pop(k, None)
            self._set_tags(kind, key, tags)
        return {}

    def ListTagsForResource(self, ctx, params):
        kind, key = self._tagged(ctx, params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in self._tags(kind, key).items()]}


def _json(value) -> str | None:
    return None if value is None else orjson.dumps(value).decode()
