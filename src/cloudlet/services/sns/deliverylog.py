"""Delivery status logging: with a topic's `<Protocol>SuccessFeedbackRoleArn`
/ `<Protocol>FailureFeedbackRoleArn` (Protocol: SQS, HTTP, Lambda,
Firehose, Application), SNS writes each delivery's outcome to CloudWatch
Logs as that role (assumed as sns.amazonaws.com: its trust policy and
its logs permissions decide, as on AWS), in the log groups

    sns/<region>/<account>/<topic name>            successes (sampled by
                                                   <Protocol>SuccessFeedbackSampleRate)
    sns/<region>/<account>/<topic name>/Failure    failures

created when first needed, one log stream per UTC day (cloudlet's choice;
AWS does not document its stream names). Each entry is AWS's JSON:
{"notification": {messageMD5Sum, messageId, topicArn, timestamp},
"delivery": {deliveryId, destination, providerResponse, dwellTimeMs,
attempts, statusCode}, "status": "SUCCESS" | "FAILURE"}. Entries are
written after the delivery (a task on the loop), never slowing it; a log
that cannot be written is dropped, as AWS drops it.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import logging
import random
import uuid

import orjson

from cloudlet.errors import AwsError

log = logging.getLogger("cloudlet.sns")

PRINCIPAL = "sns.amazonaws.com"
_PROTOCOLS = {"sqs": "SQS", "http": "HTTP", "https": "HTTP", "lambda": "Lambda", "firehose": "Firehose",
              "application": "Application"}


def _stamp(epoch: float) -> str:
    t = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


class DeliveryLogOps:
    """Mixed into SnsService."""

    def log_delivery(self, topic, sub, message_id: str, body: str, published: float, ok: bool,
                     status_code: int | None, provider_response: str, attempts: int = 1) -> None:
        """Note one delivery's outcome, if the topic logs its protocol."""
        kind = _PROTOCOLS.get(sub.protocol)
        if kind is None:
            return
        attrs = topic.attributes
        role = attrs.get(f"{kind}{'Success' if ok else 'Failure'}FeedbackRoleArn")
        if not role:
            return
        if ok:
            rate = attrs.get(f"{kind}SuccessFeedbackSampleRate")
            if rate is not None and rate.isdigit() and random.random() * 100 >= int(rate):
                return
        now = self.clock.now()
        entry = {"notification": {"messageMD5Sum": hashlib.md5(body.encode()).hexdigest(), "messageId": message_id,
                                  "topicArn": topic.arn, "timestamp": _stamp(published)},
                 "delivery": {"deliveryId": str(uuid.uuid4()), "destination": sub.endpoint,
                              "providerResponse": provider_response,
                              "dwellTimeMs": max(0, int((now - published) * 1000)), "attempts": attempts},
                 "status": "SUCCESS" if ok else "FAILURE"}
        if status_code is not None:
            entry["delivery"]["statusCode"] = status_code
        group = f"sns/{topic.region}/{topic.account}/{topic.name}" + ("" if ok else "/Failure")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        tasks = self.__dict__.setdefault("_log_tasks", set())
        task = loop.create_task(self._write_log(topic, role, group, int(now * 1000), orjson.dumps(entry).decode()))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @property
    def _feedback_roles(self):
        from cloudlet.gateway.servicerole import ServiceRoles

        roles = self.__dict__.get("_feedback_role_sessions")
        if roles is None:
            roles = self.__dict__["_feedback_role_sessions"] = ServiceRoles(self.cloud, PRINCIPAL, "SNSDeliveryLogs")
        return roles

    async def _write_log(self, topic, role: str, group: str, when_ms: int, message: str) -> None:
        from cloudlet.services.logs.writer import put_log_events

        stream = _dt.datetime.fromtimestamp(when_ms / 1000, _dt.timezone.utc).strftime("%Y/%m/%d")
        try:
            principal = self._feedback_roles.principal(role, topic.account, topic.region, topic.arn)
            await put_log_events(self.cloud, principal, topic.account, topic.region, PRINCIPAL, group, stream,
                                 [(when_ms, message)])
        except AwsError as err:
            log.info("SNS could not log delivery status for %s to %s: %s %s", topic.arn, group, err.code, err.message)

    async def settle_logs(self) -> None:
        tasks = set(self.__dict__.get("_log_tasks", ()))
        if tasks:
            await asyncio.wait(tasks, timeout=30)
