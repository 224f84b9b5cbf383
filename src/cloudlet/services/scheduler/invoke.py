"""Schedules firing: a job on the clock takes the schedules whose time has
come, calls each one's target once per fire time passed (at most
MAX_FIRES_PER_RUN), and sets the next time. Mixed into SchedulerService.

The target is called as its role, as on AWS: Scheduler assumes
Target.RoleArn as scheduler.amazonaws.com (aws:SourceArn the schedule, so
the trust policy decides), then the call runs with the role's permissions.
Templated targets: SQS SendMessage (Input the body; a FIFO queue's
MessageGroupId from SqsParameters), SNS Publish, Lambda Invoke
(asynchronous), EventBridge PutEvents on
a bus (EventBridgeParameters' Source and DetailType, Input the Detail).
Universal targets `arn:aws:scheduler:::aws-sdk:<service>:<apiAction>` call
that action of any service cloudlet runs, Input being its request in the
API's JSON (e.g. `...:aws-sdk:sqs:sendMessage` with
`{"QueueUrl": ..., "MessageBody": ...}`). Input may use the context
attributes <aws.scheduler.schedule-arn>, <aws.scheduler.scheduled-time>,
<aws.scheduler.execution-id> and <aws.scheduler.attempt-number>; without
Input the payload is "{}".

A call that fails (no such target, no permission: failures AWS does not
retry either) goes to the target's dead-letter queue with ERROR_CODE,
ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS, SCHEDULE_ARN and
TARGET_ARN attributes. A FLEXIBLE time window fires at its start here (AWS
picks a time within it). A one-time or ended schedule with
ActionAfterCompletion DELETE is deleted after its last invocation.
"""

from __future__ import annotations

import datetime as _dt
import logging
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.scheduler.timing import Timing, TimingError

log = logging.getLogger("cloudlet.scheduler")

PRINCIPAL = "scheduler.amazonaws.com"
MAX_FIRES_PER_RUN = 1440
# The SDK service names of universal targets, by cloudlet's model names.
_SDK_SERVICES = {"cloudwatchlogs": "logs", "eventbridge": "events", "cloudwatch": "cloudwatch"}


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class InvokeOps:
    """Mixed into SchedulerService."""

    def wake(self, when: float) -> None:
        self.cloud.scheduler.at("scheduler-schedules", when, self.fire)

    def wake_at_next(self) -> None:
        when = self.storage.scalar("SELECT MIN(next_fire) FROM scheduler_schedules WHERE next_fire IS NOT NULL")
        if when is not None:
            self.wake(when)

    async def fire(self, now: float) -> None:
        from cloudlet.services.scheduler.provider import schedule_arn

        due = self.storage.all("SELECT account, region, grp, name, config, created, next_fire FROM "
                               "scheduler_schedules WHERE next_fire IS NOT NULL AND next_fire <= ?", (now,))
        for account, region, group, name, config, created, next_fire in due:
            config = orjson.loads(config)
            try:
                timing = Timing(config["ScheduleExpression"], config.get("ScheduleExpressionTimezone"),
                                config.get("StartDate"), config.get("EndDate"), created)
            except TimingError:
                continue
            times = [next_fire]
            while len(times) < MAX_FIRES_PER_RUN:
                following = timing.next_after(times[-1])
                if following is None or following > now:
                    break
                times.append(following)
            following = timing.next_after(max(times[-1], now))
            finished = following is None
            with self.storage.tx():
                if finished and config.get("ActionAfterCompletion") == "DELETE":
                    self.storage.execute("DELETE FROM scheduler_schedules WHERE account = ? AND region = ? AND "
                                         "grp = ? AND name = ?", (account, region, group, name))
                else:
                    self.storage.execute("UPDATE scheduler_schedules SET next_fire = ? WHERE account = ? AND "
                                         "region = ? AND grp = ? AND name = ?",
                                         (following, account, region, group, name))
            if config.get("State") == "DISABLED":
                continue
            arn = schedule_arn(region, account, group, name)
            for when in times:
                await self.invoke(account, region, arn, config["Target"], when)
        self.wake_at_next()

    # -- one invocation -------------------------------------------------------------------

    def _role(self, account: str, region: str, role_arn: str, schedule: str):
        from cloudlet.gateway.servicerole import ServiceRoles

        roles = self.__dict__.get("_roles")
        if roles is None:
            roles = self.__dict__["_roles"] = ServiceRoles(self.cloud, PRINCIPAL, "scheduler")
        return roles.principal(role_arn, account, region, schedule)

    async def invoke(self, account: str, region: str, schedule: str, target: dict, when: float) -> bool:
        execution = str(uuid.uuid4())
        payload = (target.get("Input") if target.get("Input") is not None else "{}")
        for key, value in (("<aws.scheduler.schedule-arn>", schedule), ("<aws.scheduler.scheduled-time>", _iso(when)),
                           ("<aws.scheduler.execution-id>", execution), ("<aws.scheduler.attempt-number>", "1")):
            payload = payload.replace(key, value)
        try:
            principal = self._role(account, region, target["RoleArn"], schedule)
            await self._call(account, region, target, payload, principal, schedule)
        except AwsError as err:
            log.info("schedule %s could not invoke %s: %s %s", schedule, target["Arn"], err.code, err.message)
            self.cloud.metrics(account, region, "AWS/Scheduler", "TargetErrorCount", {}, 1.0, "Count")
            await self._dead_letter(account, region, schedule, target, payload, err)
            return False
        self.cloud.metrics(account, region, "AWS/Scheduler", "InvocationAttemptCount", {}, 1.0, "Count")
        return True

    async def _call(self, account: str, region: str, target: dict, payload: str, principal, schedule: str):
        arn = target["Arn"]
        gateway = self.cloud.gateway
        if arn.startswith("arn:aws:scheduler:::aws-sdk:"):
            service, _, action = arn[len("arn:aws:scheduler:::aws-sdk:"):].partition(":")
            service = _SDK_SERVICES.get(service, service)
            try:
                params = orjson.loads(payload)
            except orjson.JSONDecodeError:
                raise AwsError("ValidationException", "The Input of a universal target must be JSON.") from None
            await gateway.call(service, action[:1].upper() + action[1:], params, account_id=account, region=region,
                               invoked_by=PRINCIPAL, principal=principal)
            return
        parts = arn.split(":", 5)
        if len(parts) < 6:
            raise AwsError("ValidationException", f"Target {arn} is not valid.")
        service, target_region, owner, resource = parts[2], parts[3], parts[4], parts[5]
        common = dict(account_id=owner, region=target_region, invoked_by=PRINCIPAL, principal=principal)
        if service == "sqs":
            params = {"QueueUrl": self.cloud.service("sqs").queue_url(target_region, owner, resource),
                      "MessageBody": payload}
            group = (target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                params["MessageGroupId"] = group
                params["MessageDeduplicationId"] = uuid.uuid4().hex
            await gateway.call("sqs", "SendMessage", params, **common)
        elif service == "sns":
            await gateway.call("sns", "Publish", {"TopicArn": arn, "Message": payload}, **common)
        elif service == "lambda":
            await gateway.call("lambda", "Invoke", {"FunctionName": arn, "InvocationType": "Event",
                                                    "Payload": payload.encode()}, **common)
        elif service == "events" and resource.startswith("event-bus/"):
            eb = target.get("EventBridgeParameters") or {}
            await gateway.call("events", "PutEvents", {"Entries": [{
                "EventBusName": arn, "Source": eb.get("Source"), "DetailType": eb.get("DetailType"),
                "Detail": payload, "Resources": [schedule]}]}, **common)
        else:
            raise AwsError("ResourceNotFoundException", f"Target {arn} cannot be invoked: cloudlet does not run "
                                                        f"{service} targets.")

    async def _dead_letter(self, account: str, region: str, schedule: str, target: dict, payload: str,
                           err: AwsError) -> None:
        dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            return
        parts = dlq.split(":")
        attributes = {k: {"DataType": "String", "StringValue": v} for k, v in (
            ("ERROR_CODE", err.code), ("ERROR_MESSAGE", err.message or err.code),
            ("EXHAUSTED_RETRY_CONDITION", "None"), ("RETRY_ATTEMPTS", "0"), ("SCHEDULE_ARN", schedule),
            ("TARGET_ARN", target["Arn"]))}
        try:
            await self.cloud.gateway.call(
                "sqs", "SendMessage", {"QueueUrl": self.cloud.service("sqs").queue_url(parts[3], parts[4], parts[5]),
                                       "MessageBody": payload, "MessageAttributes": attributes},
                account_id=parts[4], region=parts[3], invoked_by=PRINCIPAL, source_arn=schedule,
                source_account=account)
        except AwsError as dlq_err:
            log.info("schedule %s could not dead-letter to %s: %s", schedule, dlq, dlq_err.code)
