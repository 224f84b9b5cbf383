"""EventBridge rules and their targets: PutRule (an event pattern, a
schedule, or both), Describe / List / Delete / Enable / DisableRule,
ListRuleNamesByTarget, Put / RemoveTargets, ListTargetsByRule,
TestEventPattern. Mixed into EventsService."""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError
from cloudlet.eventruler import FilterPolicyError, compile_event_pattern, parse_event
from cloudlet.services.events import schedule as schedules
from cloudlet.services.events.transform import check_target_input

MAX_RULES_PER_BUS = 300
MAX_TARGETS_PER_RULE = 5
_RULE_COLUMNS = "account, region, bus, name, pattern, schedule, state, description, role_arn, managed_by, created"
_TEST_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def invalid_pattern(err: FilterPolicyError) -> AwsError:
    return AwsError("InvalidEventPatternException", f"Event pattern is not valid. Reason: {err}")


def compile_pattern(text: str):
    try:
        return compile_event_pattern(text)
    except FilterPolicyError as err:
        raise invalid_pattern(err) from None


def _rule_not_found(name: str, bus: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Rule {name} does not exist on EventBus {bus}.")


class RuleOps:
    """Mixed into EventsService."""

    def _rule_row(self, account: str, region: str, bus: str, name: str):
        return self.storage.one(f"SELECT {_RULE_COLUMNS} FROM events_rules WHERE account = ? AND region = ? AND "
                                "bus = ? AND name = ?", (account, region, bus, name))

    def _rule_out(self, row, full: bool) -> dict:
        from cloudlet.services.events.provider import rule_arn

        account, region, bus, name, pattern, schedule, state, description, role, managed_by, _ = row
        out = {"Name": name, "Arn": rule_arn(region, account, bus, name)}
        if pattern is not None:
            out["EventPattern"] = pattern
        if schedule is not None:
            out["ScheduleExpression"] = schedule
        out["State"] = state
        if description is not None:
            out["Description"] = description
        if role is not None:
            out["RoleArn"] = role
        if managed_by is not None:
            out["ManagedBy"] = managed_by
        out["EventBusName"] = bus
        if full:
            out["CreatedBy"] = account
        return out

    def PutRule(self, ctx, params):
        from cloudlet.services.events.provider import DEFAULT, rule_arn, validation

        name = params["Name"]
        pattern, expression = params.get("EventPattern"), params.get("ScheduleExpression")
        if pattern is None and expression is None:
            raise validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if pattern is not None:
            compile_pattern(pattern)
        bus = self.bus(ctx, params.get("EventBusName"))
        if bus.account != ctx.account_id:
            raise AwsError("AccessDeniedException", "Rules cannot be created on another account's event bus.")
        next_fire = None
        if expression is not None:
            if bus.name != DEFAULT:
                raise validation("ScheduleExpression is supported only on the default event bus.")
            try:
                parsed = schedules.parse(expression)
            except schedules.ScheduleError:
                raise validation("Parameter ScheduleExpression is not valid.") from None
        state = params.get("State") or "ENABLED"
        now = self.clock.now()
        with self.storage.tx():
            existing = self._rule_row(bus.account, bus.region, bus.name, name)
            if existing is None:
                count = self.storage.scalar("SELECT COUNT(*) FROM events_rules WHERE account = ? AND region = ? "
                                            "AND bus = ?", (bus.account, bus.region, bus.name))
                if count >= MAX_RULES_PER_BUS:
                    raise AwsError("LimitExceededException", "The requested resource exceeds the maximum number "
                                                             "allowed.")
            if expression is not None:
                base = now if existing is None or existing[5] != expression else None
                next_fire = (parsed.next_after(now, base=base) if base is not None
                             else self.storage.scalar("SELECT next_fire FROM events_rules WHERE account = ? AND "
                                                      "region = ? AND bus = ? AND name = ?",
                                                      (bus.account, bus.region, bus.name, name)))
            tags = {t["Key"]: t["Value"] for t in params.get("Tags") or ()}
            self.storage.execute(
                "INSERT INTO events_rules (account, region, bus, name, pattern, schedule, state, description, "
                "role_arn, created, next_fire, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (account, region, bus, name) DO UPDATE SET pattern = excluded.pattern, "
                "schedule = excluded.schedule, state = excluded.state, description = excluded.description, "
                "role_arn = excluded.role_arn, next_fire = excluded.next_fire",
                (bus.account, bus.region, bus.name, name, pattern, expression, state, params.get("Description"),
                 params.get("RoleArn"), now, next_fire, orjson.dumps(tags).decode()))
        self.rules_changed(bus.account, bus.region)
        if next_fire is not None:
            self.schedule_wakeup(next_fire)
        return {"RuleArn": rule_arn(bus.region, bus.account, bus.name, name)}

    def _rule(self, ctx, params, name_key: str = "Name"):
        bus = self.bus(ctx, params.get("EventBusName"))
        row = self._rule_row(bus.account, bus.region, bus.name, params[name_key])
        if row is None:
            raise _rule_not_found(params[name_key], bus.name)
        return bus, row

    def DescribeRule(self, ctx, params):
        _, row = self._rule(ctx, params)
        return self._rule_out(row, full=True)

    def ListRules(self, ctx, params):
        from cloudlet.services.events.provider import page

        bus = self.bus(ctx, params.get("EventBusName"))
        rows = self.storage.all(f"SELECT {_RULE_COLUMNS} FROM events_rules WHERE account = ? AND region = ? AND "
                                "bus = ? ORDER BY name", (bus.account, bus.region, bus.name))
        prefix = params.get("NamePrefix")
        rules = [self._rule_out(r, full=False) for r in rows if not prefix or r[3].startswith(prefix)]
        return page(rules, params, "Rules")

    def DeleteRule(self, ctx, params):
        bus = self.bus(ctx, params.get("EventBusName"))
        with self.storage.tx():
            key = (bus.account, bus.region, bus.name, params["Name"])
            if self._rule_row(*key) is None:
                return {}  # AWS: deleting a rule that is not there succeeds
            if self.storage.one("SELECT 1 FROM events_targets WHERE account = ? AND region = ? AND bus = ? AND "
                                "rule = ?", key):
                raise AwsError("ValidationException", "Rule can't be deleted since it has targets.")
            self.storage.execute("DELETE FROM events_rules WHERE account = ? AND region = ? AND bus = ? AND "
                                 "name = ?", key)
        self.rules_changed(bus.account, bus.region)
        return {}

    def _set_state(self, ctx, params, state: str) -> dict:
        bus, row = self._rule(ctx, params)
        with self.storage.tx():
            self.storage.execute("UPDATE events_rules SET state = ? WHERE account = ? AND region = ? AND bus = ? "
                                 "AND name = ?", (state, bus.account, bus.region, bus.name, row[3]))
        self.rules_changed(bus.account, bus.region)
        return {}

    def EnableRule(self, ctx, params):
        return self._set_state(ctx, params, "ENABLED")

    def DisableRule(self, ctx, params):
        return self._set_state(ctx, params, "DISABLED")

    def ListRuleNamesByTarget(self, ctx, params):
        from cloudlet.services.events.provider import page

        bus = self.bus(ctx, params.get("EventBusName"))
        names = [r[0] for r in self.storage.all(
            "SELECT DISTINCT rule FROM events_targets WHERE account = ? AND region = ? AND bus = ? AND arn = ? "
            "ORDER BY rule", (bus.account, bus.region, bus.name, params["TargetArn"]))]
        return page(names, params, "RuleNames")

    # -- targets ----------------------------------------------------------------

    def PutTargets(self, ctx, params):
        bus, row = self._rule(ctx, params, "Rule")
        key = (bus.account, bus.region, bus.name, row[3])
        failed: list = []  # (AWS reports bad targets as a whole-request ValidationException)
        accepted = params["Targets"]
        from cloudlet.gateway.servicerole import require_pass_role
        from cloudlet.services.events.provider import rule_arn

        for target in accepted:
            problem = _target_problem(target)
            if problem is not None:
                raise AwsError("ValidationException", problem)
            require_pass_role(self.cloud, ctx, self, params, target.get("RoleArn"), "events.amazonaws.com",
                              rule_arn(bus.region, bus.account, bus.name, row[3]))
        with self.storage.tx():
            existing = {r[0] for r in self.storage.all(
                "SELECT id FROM events_targets WHERE account = ? AND region = ? AND bus = ? AND rule = ?", key)}
            new_ids = {t["Id"] for t in accepted} - existing
            if len(existing) + len(new_ids) > MAX_TARGETS_PER_RULE:
                raise AwsError("LimitExceededException", "The requested resource exceeds the maximum number "
                                                         "allowed.")
            for i, target in enumerate(accepted):
                self.storage.execute(
                    "INSERT INTO events_targets (account, region, bus, rule, id, arn, config, added) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(added), 0) + 1 FROM events_targets)) "
                    "ON CONFLICT (account, region, bus, rule, id) DO UPDATE SET arn = excluded.arn, "
                    "config = excluded.config",
                    (*key, target["Id"], target["Arn"], orjson.dumps(target).decode()))
        self.rules_changed(bus.account, bus.region)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def RemoveTargets(self, ctx, params):
        bus, row = self._rule(ctx, params, "Rule")
        key = (bus.account, bus.region, bus.name, row[3])
        failed = []
        with self.storage.tx():
            for target_id in params["Ids"]:
                cursor = self.storage.execute("DELETE FROM events_targets WHERE account = ? AND region = ? AND "
                                              "bus = ? AND rule = ? AND id = ?", (*key, target_id))
                if cursor.rowcount == 0:
                    failed.append({"TargetId": target_id, "ErrorCode": "ResourceNotFoundException",
                                   "ErrorMessage": f"Target {target_id} does not exist on rule {row[3]}."})
        self.rules_changed(bus.account, bus.region)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def targets_of(self, account: str, region: str, bus: str, rule: str) -> list[dict]:
        return [orjson.loads(r[0]) for r in self.storage.all(
            "SELECT config FROM events_targets WHERE account = ? AND region = ? AND bus = ? AND rule = ? "
            "ORDER BY added", (account, region, bus, rule))]

    def ListTargetsByRule(self, ctx, params):
        from cloudlet.services.events.provider import page

        bus, row = self._rule(ctx, params, "Rule")
        return page(self.targets_of(bus.account, bus.region, bus.name, row[3]), params, "Targets")

    # -- TestEventPattern ---------------------------------------------------------

    def TestEventPattern(self, ctx, params):
        from cloudlet.services.events.provider import validation

        pattern = compile_pattern(params["EventPattern"])
        try:
            event = parse_event(params["Event"])
        except ValueError:
            raise validation("Parameter Event is not valid.") from None
        if not isinstance(event, dict) or any(f not in event for f in _TEST_EVENT_FIELDS):
            raise validation("Parameter Event is not valid.")
        return {"Result": pattern.matches_document(event)}


def _target_problem(target: dict) -> str | None:
    arn = target["Arn"]
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[2]:
        return f"Parameter {arn} is not valid. Reason: Provided Arn is not in correct format."
    reason = check_target_input(target)
    if reason is not None:
        return reason
    if parts[2] == "sqs" and parts[5].endswith(".fifo") and not (target.get("SqsParameters") or {}).get(
            "MessageGroupId"):
        return f"Parameter(s) SqsParameters must be specified for target: {target['Id']}."
    dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
    if dlq is not None and not dlq.startswith("arn:aws:sqs:"):
        return f"Parameter {dlq} is not valid. Reason: Provided Arn is not in correct format."
    return None
