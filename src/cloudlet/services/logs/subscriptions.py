"""Subscription filters: log events that match a filter pattern are sent,
as they arrive, to a Lambda function, in the form AWS sends them:
`{"awslogs": {"data": base64(gzip(JSON))}}` whose JSON is {"messageType":
"DATA_MESSAGE", "owner", "logGroup", "logStream", "subscriptionFilters",
"logEvents": [{"id", "timestamp", "message"}]}, one invocation per
PutLogEvents batch and filter (asynchronous, as logs.amazonaws.com with
the group's ARN as aws:SourceArn: the function policy decides, and
PutSubscriptionFilter checks it as AWS does). At most two filters per
group. Kinesis and Firehose destinations wait for those services.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.logs.patterns import PatternError, compile_pattern

log = logging.getLogger("cloudlet.logs")

MAX_FILTERS = 2
PRINCIPAL = "logs.amazonaws.com"


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


class SubscriptionFilterOps:
    """Mixed into LogsService."""

    def _may_invoke(self, group, destination: str) -> bool:
        lam = self.cloud.service("lambda")
        parts = destination.split(":")
        fn = lam.find_function(parts[4], parts[3], parts[6]) if len(parts) >= 7 and lam is not None else None
        if fn is None or not fn["policy"]:
            return False
        from cloudlet.iam import AuthzRequest, PolicySet, PrincipalInfo, evaluate, parse_policy

        source = group.arn + ":*"
        policy = parse_policy(orjson.dumps(fn["policy"]).decode(), "resource")
        for service in (PRINCIPAL, f"logs.{group.region}.amazonaws.com"):
            request = AuthzRequest(
                principal=PrincipalInfo(arn=service, account=group.account, type="AWSService", service=service),
                action="lambda:InvokeFunction", resource=fn["config"]["FunctionArn"],
                context={"aws:SourceArn": source, "aws:SourceAccount": group.account, "aws:SecureTransport": True})
            if evaluate(request, PolicySet(resource=policy, resource_must_allow=True), self.clock.now()).allowed:
                return True
        return False

    def PutSubscriptionFilter(self, ctx, params):
        name, pattern, destination = params["filterName"], params["filterPattern"], params["destinationArn"]
        try:
            compile_pattern(pattern)
        except PatternError as err:
            raise _invalid(str(err)) from None
        group = self.group(ctx, params)
        service = destination.split(":")[2] if destination.count(":") >= 5 else ""
        if service != "lambda":
            raise _invalid("Could not deliver test message to specified destination. Check if the destination is "
                           "valid. (cloudlet delivers subscription filters to Lambda functions.)")
        if not self._may_invoke(group, destination):
            raise _invalid("Could not execute the lambda function. Make sure you have given CloudWatch Logs "
                           "permission to execute your function.")
        with self.storage.tx():
            exists = self.storage.one("SELECT 1 FROM logs_subscription_filters WHERE group_id = ? AND name = ?",
                                      (group.id, name))
            if not exists and self.storage.scalar("SELECT COUNT(*) FROM logs_subscription_filters WHERE group_id = ?",
                                                  (group.id,)) >= MAX_FILTERS:
                raise AwsError("LimitExceededException", "Resource limit exceeded.")
            self.storage.execute(
                "INSERT INTO logs_subscription_filters (group_id, name, pattern, destination, role, distribution, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (group_id, name) DO UPDATE SET pattern = "
                "excluded.pattern, destination = excluded.destination, role = excluded.role, distribution = "
                "excluded.distribution",
                (group.id, name, pattern, destination, params.get("roleArn"), params.get("distribution") or "ByLogStream",
                 self._now_ms()))
        return {}

    def DescribeSubscriptionFilters(self, ctx, params):
        from cloudlet.services.logs.provider import _paged

        group = self.group(ctx, params)
        prefix = params.get("filterNamePrefix") or ""
        filters = []
        for name, pattern, destination, role, distribution, created in self.storage.all(
                "SELECT name, pattern, destination, role, distribution, created FROM logs_subscription_filters "
                "WHERE group_id = ? ORDER BY name", (group.id,)):
            if not name.startswith(prefix):
                continue
            item = {"filterName": name, "logGroupName": group.name, "filterPattern": pattern,
                    "destinationArn": destination, "distribution": distribution, "applyOnTransformedLogs": False,
                    "creationTime": created}
            if role:
                item["roleArn"] = role
            filters.append(item)
        return _paged(filters, params, "subscriptionFilters")

    def DeleteSubscriptionFilter(self, ctx, params):
        group = self.group(ctx, params)
        with self.storage.tx():
            cursor = self.storage.execute("DELETE FROM logs_subscription_filters WHERE group_id = ? AND name = ?",
                                          (group.id, params["filterName"]))
        if cursor.rowcount == 0:
            raise AwsError("ResourceNotFoundException", "The specified subscription filter does not exist.")
        return {}

    # -- delivery ------------------------------------------------------------------------------

    def deliver_subscriptions(self, group, stream: str, events: list[tuple[int, str]]) -> None:
        """A batch PutLogEvents accepted: each filter's matches, to its function."""
        filters = self.storage.all("SELECT name, pattern, destination FROM logs_subscription_filters WHERE "
                                   "group_id = ?", (group.id,))
        if not filters:
            return
        for name, pattern, destination in filters:
            match = self._compiled_filter(pattern)
            matched = [(ts, m) for ts, m in events if match(m) is not None]
            if not matched:
                continue
            doc = {"messageType": "DATA_MESSAGE", "owner": group.account, "logGroup": group.name,
                   "logStream": stream, "subscriptionFilters": [name],
                   "logEvents": [{"id": f"{ts:020d}{i:036d}", "timestamp": ts, "message": m}
                                 for i, (ts, m) in enumerate(matched)]}
            payload = orjson.dumps({"awslogs": {"data": base64.b64encode(
                gzip.compress(orjson.dumps(doc), mtime=0)).decode()}})
            self._spawn_delivery(self._invoke(group, destination, payload))

    def _spawn_delivery(self, coro) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            return
        tasks = self.__dict__.setdefault("_subscription_tasks", set())
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _invoke(self, group, destination: str, payload: bytes) -> None:
        parts = destination.split(":")
        try:
            await self.cloud.gateway.call("lambda", "Invoke", {"FunctionName": destination, "InvocationType": "Event",
                                                               "Payload": payload},
                                          account_id=parts[4], region=parts[3], invoked_by=PRINCIPAL,
                                          source_arn=group.arn + ":*", source_account=group.account)
        except AwsError as err:
            log.info("subscription of %s could not invoke %s: %s %s", group.name, destination, err.code,
                     err.message)

    async def settle(self) -> None:
        tasks = set(self.__dict__.get("_subscription_tasks", ()))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
