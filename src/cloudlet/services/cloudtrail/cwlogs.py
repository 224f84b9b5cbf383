"""Trail events into CloudWatch Logs (CloudWatchLogsLogGroupArn +
CloudWatchLogsRoleArn).

As on AWS, CloudTrail assumes the trail's role as cloudtrail.amazonaws.com
(the role's trust policy decides, with aws:SourceArn naming the trail) and
writes with the role's permissions: CreateLogStream and PutLogEvents on the
stream `<account>_CloudTrail_<region>` of the group, one stream per source
region, one log event per record (its JSON, timestamped at eventTime).
Create/UpdateTrail check this once (assume the role, create the home
region's stream, may PutLogEvents) and answer AWS's errors.

Events go with each S3 delivery (the same records the trail's selectors
match), before the log file, and are not sent again: a failure is kept as
LatestCloudWatchLogsDeliveryError and those events stay in the S3 log
files only. A record over 256 KiB is not sent (CloudTrail's limit).
The role's session is kept until five minutes before it expires.
"""

from __future__ import annotations

import logging
import re

import orjson

from cloudlet.errors import AwsError

log = logging.getLogger("cloudlet.cloudtrail")

SERVICE_PRINCIPAL = "cloudtrail.amazonaws.com"
SESSION_NAME = "CloudTrail_CloudWatchLogs_Session"
MAX_EVENT_BYTES = 256 * 1024
_BATCH_BYTES = 1_048_576
_BATCH_EVENTS = 10_000
_EVENT_OVERHEAD = 26
_DAY_MS = 86_400_000
_GROUP_ARN = re.compile(r"arn:aws[a-z-]*:logs:([a-z0-9-]+):(\d{12}):log-group:([^:*]+)(?::\*)?")


def parse_group_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, group name) of a log group ARN, with or without
    the ":*" the console and DescribeLogGroups' `arn` add."""
    m = _GROUP_ARN.fullmatch(arn or "")
    return (m.group(1), m.group(2), m.group(3)) if m else None


def stream_name(account: str, region: str) -> str:
    return f"{account}_CloudTrail_{region}"


def _batches(events: list[tuple[int, str]]):
    """PutLogEvents-sized runs of (timestamp ms, message), oldest first."""
    events.sort(key=lambda e: e[0])
    batch: list = []
    size = 0
    for ts, message in events:
        n = len(message.encode()) + _EVENT_OVERHEAD
        if batch and (len(batch) >= _BATCH_EVENTS or size + n > _BATCH_BYTES or ts - batch[0][0] > _DAY_MS):
            yield batch
            batch, size = [], 0
        batch.append((ts, message))
        size += n
    if batch:
        yield batch


class LogsDelivery:
    """Mixin of CloudTrailService."""

    @property
    def _roles(self):
        from cloudlet.gateway.servicerole import ServiceRoles

        roles = self.__dict__.get("_cwl_roles")
        if roles is None:
            roles = self.__dict__["_cwl_roles"] = ServiceRoles(self.cloud, SERVICE_PRINCIPAL, SESSION_NAME)
        return roles

    def _role_principal(self, trail, fresh: bool = False):
        """The principal of a session of the trail's CloudWatch Logs role,
        assumed as cloudtrail.amazonaws.com."""
        return self._roles.principal(trail.config["CloudWatchLogsRoleArn"], trail.account, trail.region, trail.arn,
                                     fresh=fresh)

    def _as_role(self, principal, operation: str, params: dict, group_region: str, group_account: str) -> dict:
        return self.cloud.gateway.call_sync("logs", operation, params, account_id=group_account,
                                            region=group_region, invoked_by=SERVICE_PRINCIPAL, principal=principal)

    def _create_stream(self, principal, where: tuple[str, str, str], stream: str) -> None:
        region, account, group = where
        try:
            self._as_role(principal, "CreateLogStream", {"logGroupName": group, "logStreamName": stream},
                          region, account)
        except AwsError as err:
            if err.code != "ResourceAlreadyExistsException":
                raise

    def check_logs_destination(self, ctx, trail) -> None:
        """Create/UpdateTrail: can CloudTrail write to the group with the
        role? AWS's two answers: the trust policy, or the permissions."""
        where = parse_group_arn(trail.config["CloudWatchLogsLogGroupArn"])
        try:
            principal = self._role_principal(trail, fresh=True)
        except AwsError:
            raise AwsError("InvalidCloudWatchLogsRoleArnException",
                           "Access denied. Check the trust relationships for your role.") from None
        stream = stream_name(trail.account, trail.region)
        try:
            self._create_stream(principal, where, stream)
            region, account, group = where
            logs = self.cloud.service("logs")
            sub, op = self._as_cloudtrail(ctx, "logs", "PutLogEvents", trail.arn)
            sub.principal = principal
            sub.account_id, sub.region = account, region
            self.cloud.authorizer.check(sub, logs, op, {"logGroupName": group, "logStreamName": stream,
                                                        "logEvents": [{"timestamp": 0, "message": "check"}]})
        except AwsError:
            raise AwsError("InvalidCloudWatchLogsLogGroupArnException",
                           "Access denied. Check the permissions for your role.") from None

    def deliver_to_logs(self, trail, items: list[tuple[str, float, dict]], state: dict, now: float) -> None:
        """(source region, event time, record) of one delivery into the
        trail's group; the outcome goes into the delivery `state`."""
        where = parse_group_arn(trail.config.get("CloudWatchLogsLogGroupArn") or "")
        if where is None or not trail.config.get("CloudWatchLogsRoleArn"):
            return
        by_stream: dict[str, list] = {}
        for region, when, record in items:
            message = orjson.dumps(record).decode()
            if len(message.encode()) > MAX_EVENT_BYTES:
                continue
            by_stream.setdefault(stream_name(trail.account, region), []).append((int(when * 1000), message))
        if not by_stream:
            return
        region, account, group = where
        try:
            principal = self._role_principal(trail)
            for stream, events in sorted(by_stream.items()):
                for batch in _batches(events):
                    params = {"logGroupName": group, "logStreamName": stream,
                              "logEvents": [{"timestamp": ts, "message": m} for ts, m in batch]}
                    try:
                        self._as_role(principal, "PutLogEvents", params, region, account)
                    except AwsError as err:
                        if err.code != "ResourceNotFoundException":
                            raise
                        self._create_stream(principal, where, stream)  # (a deleted group still fails)
                        self._as_role(principal, "PutLogEvents", params, region, account)
        except AwsError as err:
            state["LatestCloudWatchLogsDeliveryError"] = err.code
            log.info("trail %s: delivery to CloudWatch Logs failed: %s", trail.arn, err.code)
            return
        state["LatestCloudWatchLogsDeliveryTime"] = now
        state.pop("LatestCloudWatchLogsDeliveryError", None)

    def forget_role_sessions(self, trail) -> None:
        self._roles.forget(trail.arn)
