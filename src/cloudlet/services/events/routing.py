"""Events on their way: PutEvents, the matching of each event against the
enabled rules of its bus, and the invocation of the matched rules' targets;
scheduled rules on cloudlet's clock. Mixed into EventsService.

Targets are called through the internal dispatcher as events.amazonaws.com
with the rule's ARN as aws:SourceArn, so the queue's, topic's or log
group's resource policy decides, as on AWS: SQS (SendMessage; a FIFO
queue's MessageGroupId from SqsParameters, the event id as deduplication
id), SNS (Publish), CloudWatch Logs (a stream per event, named by the
event id, one log event at the event's time) and event buses (the event,
unchanged, onto another bus: another account's bus must allow it in its
policy), API destinations (HTTP, apihttp.py), Lambda (an asynchronous
Invoke: the function policy must allow events.amazonaws.com). The other
targets cloudlet does not run fail like a target that does not exist.

A failed invocation is not retried (the failures here are missing
resources or missing permissions, which AWS does not retry either); the
event goes to the target's dead-letter queue when it has one, with the
message attributes AWS documents (RULE_ARN, TARGET_ARN, ERROR_CODE,
ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS). PutEvents
answers once every target has been called, so an acknowledged event has
reached its targets' storage.

Metrics (AWS/Events, dimension RuleName, with EventBusName on a custom
bus): TriggeredRules, Invocations, FailedInvocations,
DeadLetterInvocations, InvocationsFailedToBeSentToDlq, MatchedEvents.
"""

from __future__ import annotations

import datetime as _dt
import logging
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.eventruler import parse_event
from cloudlet.services.events import schedule as schedules
from cloudlet.services.events.transform import target_input

log = logging.getLogger("cloudlet.events")

PRINCIPAL = "events.amazonaws.com"
MAX_REQUEST_BYTES = 256 * 1024
MAX_FIRES_PER_RUN = 1440  # a clock jumped far ahead fires a day of rate(1 minute), not years of it


def iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value) -> float:
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    return float(value)


def entry_size(entry: dict) -> int:
    """PutEvents entry size as the EventBridge User Guide computes it."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        if entry.get(key):
            size += len(entry[key].encode())
    for resource in entry.get("Resources") or ():
        size += len(resource.encode())
    return size


class _Rule:
    __slots__ = ("account", "region", "bus", "name", "pattern", "state", "targets", "arn")

    def __init__(self, account, region, bus, name, pattern, state, targets, arn):
        self.account, self.region, self.bus, self.name = account, region, bus, name
        self.pattern, self.state, self.targets, self.arn = pattern, state, targets, arn


class RoutingOps:
    """Mixed into EventsService."""

    def start_routing(self) -> None:
        self._rules_cache: dict = {}
        self.cloud.eventbridge_sink = self.cloudtrail_event
        nxt = self.storage.scalar("SELECT MIN(next_fire) FROM events_rules WHERE next_fire IS NOT NULL")
        if nxt is not None:
            self.schedule_wakeup(nxt)

    # -- rules, compiled once per change ----------------------------------------

    def rules_changed(self, account: str, region: str) -> None:
        self.__dict__.setdefault("_rules_cache", {}).pop((account, region), None)

    def _rules(self, account: str, region: str) -> dict[str, list[_Rule]]:
        from cloudlet.services.events.provider import rule_arn
        from cloudlet.services.events.rules import compile_pattern

        cache = self.__dict__.setdefault("_rules_cache", {})
        found = cache.get((account, region))
        if found is not None:
            return found
        found = {}
        for bus, name, pattern, state in self.storage.all(
                "SELECT bus, name, pattern, state FROM events_rules WHERE account = ? AND region = ? AND "
                "pattern IS NOT NULL ORDER BY name", (account, region)):
            compiled = compile_pattern(pattern)
            targets = self.targets_of(account, region, bus, name)
            found.setdefault(bus, []).append(_Rule(account, region, bus, name, compiled, state, targets,
                                                   rule_arn(region, account, bus, name)))
        cache[(account, region)] = found
        return found

    def has_rules(self, account: str, region: str, bus: str = "default") -> bool:
        return bool(self._rules(account, region).get(bus))

    # -- PutEvents ----------------------------------------------------------------

    async def PutEvents(self, ctx, params):
        from cloudlet.services.events.provider import validation

        entries = params["Entries"]
        if sum(entry_size(e) for e in entries) > MAX_REQUEST_BYTES:
            raise validation("Total size of the entries in the request is over the limit.")
        results = []
        now = self.clock.now()
        for entry in entries:
            problem = _entry_problem(entry)
            if problem is not None:
                results.append({"ErrorCode": problem[0], "ErrorMessage": problem[1]})
                continue
            account, region, name = self.bus_ref(ctx, entry.get("EventBusName"))
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"],
                     "source": entry["Source"], "account": ctx.account_id,
                     "time": iso(_epoch(entry["Time"]) if entry.get("Time") is not None else now),
                     "region": region, "resources": list(entry.get("Resources") or ()),
                     "detail": orjson.loads(entry["Detail"])}
            results.append({"EventId": event["id"]})
            # (an event for a bus that does not exist is accepted and dropped, as on AWS)
            if name == "default" or self.find_bus(account, region, name) is not None:
                await self.route(account, region, name, event)
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}

    # -- routing ------------------------------------------------------------------

    async def route(self, account: str, region: str, bus: str, event: dict, *,
                    read_only_management: bool = False, only_rules: set | None = None) -> int:
        """Send an event to the targets of the rules of a bus it matches
        (of `only_rules`, by ARN, for a replay), archiving it where an
        archive of the bus wants it; the number of rules it triggered."""
        rules = self._rules(account, region).get(bus)
        archives = self._archives_of(account, region, bus)
        if not rules and not archives:
            return 0
        text = orjson.dumps(event).decode()
        document = parse_event(text)
        if archives:
            self.archive(account, region, bus, event, text, document)
        triggered = 0
        for rule in rules or ():
            if rule.state == "DISABLED":
                continue
            if only_rules is not None and rule.arn not in only_rules:
                continue
            if read_only_management and rule.state != "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS":
                continue
            if not rule.pattern.matches_document(document):
                continue
            triggered += 1
            self._metric(rule, "TriggeredRules")
            self._metric(rule, "MatchedEvents")
            for target in rule.targets:
                await self.invoke(rule.account, rule.region, rule.bus, rule.name, rule.arn, target, text, event)
        return triggered

    async def invoke(self, account: str, region: str, bus: str, rule_name: str, rule_arn: str, target: dict,
                     text: str, event: dict) -> bool:
        """Call one target for one event; on failure, its dead-letter queue."""
        body = target_input(target, text, event, rule_arn, rule_name, iso(self.clock.now()))
        metric_rule = _Rule(account, region, bus, rule_name, None, None, None, rule_arn)
        if ":api-destination/" in target["Arn"]:
            # HTTP: stored now, requested by apihttp.py (retries on the clock)
            self.enqueue_http(account, region, bus, rule_name, rule_arn, target, body, text)
            self._metric(metric_rule, "Invocations")
            return True
        try:
            await self._call_target(account, target, body, event, rule_arn)
        except AwsError as err:
            log.info("EventBridge rule %s could not invoke %s: %s %s", rule_arn, target["Arn"], err.code,
                     err.message)
            self._metric(metric_rule, "FailedInvocations")
            await self._dead_letter(metric_rule, target, text, err)
            return False
        self._metric(metric_rule, "Invocations")
        return True

    async def _call_target(self, account: str, target: dict, body: str, event: dict, rule_arn: str) -> None:
        arn = target["Arn"]
        parts = arn.split(":", 5)
        service, region, owner, resource = parts[2], parts[3], parts[4], parts[5]
        gateway = self.cloud.gateway
        common = dict(account_id=owner, region=region, invoked_by=PRINCIPAL, source_arn=rule_arn,
                      source_account=account)
        if service == "sqs":
            params = {"QueueUrl": self.cloud.service("sqs").queue_url(region, owner, resource), "MessageBody": body}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if resource.endswith(".fifo"):
                params["MessageGroupId"] = group or ""
                params["MessageDeduplicationId"] = event["id"]
            await gateway.call("sqs", "SendMessage", params, **common)
        elif service == "sns":
            await gateway.call("sns", "Publish", {"TopicArn": arn, "Message": body}, **common)
        elif service == "logs" and resource.startswith("log-group:"):
            group = resource[len("log-group:"):].removesuffix(":*")
            when = int(_dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
                       .replace(tzinfo=_dt.timezone.utc).timestamp() * 1000)
            await gateway.call("logs", "CreateLogStream", {"logGroupName": group, "logStreamName": event["id"]},
                               **common)
            await gateway.call("logs", "PutLogEvents", {"logGroupName": group, "logStreamName": event["id"],
                                                        "logEvents": [{"timestamp": when, "message": body}]},
                               **common)
        elif service == "events" and resource.startswith("event-bus/"):
            await self._to_bus(account, owner, region, resource[len("event-bus/"):], event, rule_arn)
        elif service == "lambda":
            # asynchronous, as EventBridge invokes (the function policy decides)
            await gateway.call("lambda", "Invoke", {"FunctionName": arn, "InvocationType": "Event",
                                                    "Payload": body.encode()}, **common)
        else:
            raise AwsError("ResourceNotFoundException", f"Target {arn} cannot be invoked: cloudlet does not run "
                                                        f"{service} targets.")

    async def _to_bus(self, account: str, owner: str, region: str, name: str, event: dict, rule_arn: str) -> None:
        from cloudlet.services.events.provider import bus_arn

        bus = self.find_bus(owner, region, name)
        if bus is None:
            raise AwsError("ResourceNotFoundException", f"Event bus {name} does not exist.")
        if owner != account:
            # Another account's bus: its policy must let this account put events.
            if not self._bus_allows(bus, account, bus_arn(region, owner, name)):
                raise AwsError("AccessDeniedException", f"Account {account} is not authorized to put events on "
                                                        f"{bus.arn}.")
        await self.route(owner, region, name, event)

    def _bus_allows(self, bus, account: str, arn: str) -> bool:
        for statement in (bus.policy or {}).get("Statement", []):
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            if not any(a in ("events:PutEvents", "events:*", "*") for a in actions):
                continue
            principal = statement.get("Principal")
            if principal == "*" or principal == {"AWS": "*"}:
                return True
            names = (principal or {}).get("AWS") if isinstance(principal, dict) else None
            names = [names] if isinstance(names, str) else names or []
            if any(n in (account, f"arn:aws:iam::{account}:root") for n in names):
                return True
        return False

    async def _dead_letter(self, rule: _Rule, target: dict, text: str, err: AwsError, attempts: int = 0,
                           exhausted: str = "None") -> None:
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            return
        parts = dlq.split(":")
        code = ("RESOURCE_NOT_FOUND" if err.code in ("ResourceNotFoundException", "NotFound", "QueueDoesNotExist",
                                                     "AWS.SimpleQueueService.NonExistentQueue")
                else "NO_PERMISSIONS" if "AccessDenied" in err.code or "Authoriz" in err.code
                else err.code if err.code.isupper() else "SDK_CLIENT_ERROR")
        attributes = {name: {"DataType": "String", "StringValue": value} for name, value in (
            ("RULE_ARN", rule.arn), ("TARGET_ARN", target["Arn"]), ("ERROR_CODE", code),
            ("ERROR_MESSAGE", err.message or err.code), ("EXHAUSTED_RETRY_CONDITION", exhausted),
            ("RETRY_ATTEMPTS", str(attempts)))}
        try:
            await self.cloud.gateway.call(
                "sqs", "SendMessage", {"QueueUrl": self.cloud.service("sqs").queue_url(parts[3], parts[4], parts[5]),
                                       "MessageBody": text, "MessageAttributes": attributes},
                account_id=parts[4], region=parts[3], invoked_by=PRINCIPAL, source_arn=rule.arn,
                source_account=rule.account)
        except AwsError as dlq_err:
            log.info("EventBridge could not dead-letter to %s: %s", dlq, dlq_err.code)
            self._metric(rule, "InvocationsFailedToBeSentToDlq")
            return
        self._metric(rule, "DeadLetterInvocations")

    def _metric(self, rule: _Rule, name: str) -> None:
        dims = {"RuleName": rule.name} if rule.bus == "default" else {"EventBusName": rule.bus,
                                                                        "RuleName": rule.name}
        self.cloud.metrics(rule.account, rule.region, "AWS/Events", name, dims, 1.0, "Count")

    # -- scheduled rules ------------------------------------------------------------

    def schedule_wakeup(self, when: float) -> None:
        self.cloud.scheduler.at("events-schedules", when, self.fire_schedules)

    async def fire_schedules(self, now: float) -> None:
        """Every scheduled rule whose time has come fires once per fire time
        passed (at most MAX_FIRES_PER_RUN), with AWS's "Scheduled Event"."""
        from cloudlet.services.events.provider import rule_arn

        due = self.storage.all("SELECT account, region, bus, name, schedule, state, next_fire FROM events_rules "
                               "WHERE next_fire IS NOT NULL AND next_fire <= ?", (now,))
        for account, region, bus, name, expression, state, next_fire in due:
            try:
                parsed = schedules.parse(expression)
            except schedules.ScheduleError:
                continue
            # (a rate's grid: every fire time is on it, the stored one too)
            times = [next_fire] + parsed.fires_between(next_fire, now, limit=MAX_FIRES_PER_RUN - 1, base=next_fire)
            following = parsed.next_after(max(times[-1], now), base=next_fire)
            with self.storage.tx():
                self.storage.execute("UPDATE events_rules SET next_fire = ? WHERE account = ? AND region = ? AND "
                                     "bus = ? AND name = ?", (following, account, region, bus, name))
            if state == "DISABLED":
                continue
            arn = rule_arn(region, account, bus, name)
            targets = self.targets_of(account, region, bus, name)
            rule = _Rule(account, region, bus, name, None, state, targets, arn)
            for when in times:
                event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                         "source": "aws.events", "account": account, "time": iso(when), "region": region,
                         "resources": [arn], "detail": {}}
                text = orjson.dumps(event).decode()
                self._metric(rule, "TriggeredRules")
                for target in targets:
                    await self.invoke(account, region, bus, name, arn, target, text, event)
        nxt = self.storage.scalar("SELECT MIN(next_fire) FROM events_rules WHERE next_fire IS NOT NULL")
        if nxt is not None:
            self.schedule_wakeup(nxt)

    # -- events from other services ---------------------------------------------------

    def cloudtrail_event(self, account: str, region: str, service: str, operation: str, row: tuple,
                         read_only: bool) -> None:
        """The recorder's hook (see sources.py)."""
        from cloudlet.services.events.sources import on_api_call

        on_api_call(self, account, region, service, operation, row, read_only)


def _entry_problem(entry: dict) -> tuple[str, str] | None:
    for key in ("Source", "DetailType", "Detail"):
        if not entry.get(key):
            return "InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required argument."
    try:
        detail = orjson.loads(entry["Detail"])
    except orjson.JSONDecodeError:
        return "MalformedDetail", "Detail is malformed."
    if not isinstance(detail, dict):
        return "MalformedDetail", "Detail is malformed."
    return None
