"""Event notifications: S3 events delivered to SQS queues and SNS topics
(Lambda once it exists) in S3's event message structure (S3 User Guide,
"Event message structure"), sent as s3.amazonaws.com through the gateway
with aws:SourceArn = the bucket and aws:SourceAccount = its owner, so the
queue's or topic's policy decides, as on AWS.

The bucket's configuration is the `notification` row of
s3_bucket_configs: the NotificationConfiguration as
PutBucketNotificationConfiguration took it.

Deliveries start after the operation's rows are committed and run in the
background (S3's own notifications are asynchronous); `settle()` waits for
them, so an admin clock move answers with their effects.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.s3.common import canonical_id

log = logging.getLogger("cloudlet.s3")

NOTIFICATION = "notification"
_DESTINATIONS = (("QueueConfigurations", "QueueArn", "sqs"), ("TopicConfigurations", "TopicArn", "sns"),
                 ("LambdaFunctionConfigurations", "LambdaFunctionArn", "lambda"))


def event_time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def event_matches(patterns: list[str], event: str) -> bool:
    """`event` ("ObjectCreated:Put") against configured names
    ("s3:ObjectCreated:*", "s3:ObjectCreated:Put")."""
    name = "s3:" + event
    for pattern in patterns:
        if pattern == name or (pattern.endswith(":*") and name.startswith(pattern[:-1])):
            return True
    return False


def key_matches(config: dict, key: str) -> bool:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    for rule in rules:
        name, value = rule.get("Name", "").lower(), rule.get("Value", "")
        if name == "prefix" and not key.startswith(value):
            return False
        if name == "suffix" and not key.endswith(value):
            return False
    return True


# "2.3 - S3 Lifecycle, S3 Intelligent-Tiering, object ACL, object tagging,
# and object restoration deletion events" (the S3 User Guide's event
# message structure); the others are 2.1.
_VERSION_2_3 = ("Lifecycle", "IntelligentTiering", "ObjectAcl", "ObjectTagging", "ObjectRestore:Delete")


class Notifier:
    """Mixed into S3Service: `notify` is called by every operation (and
    lifecycle action) that makes an event."""

    def notify(self, bucket, event: str, version, ctx=None, *, key: str | None = None, size: int | None = None,
               etag: str | None = None, version_id: str | None = None, extra: dict | None = None) -> None:
        """Send `event` (e.g. "ObjectCreated:Put") about an object version
        to every destination of the bucket's configuration that wants it."""
        config = self.get_config(bucket.name, NOTIFICATION)
        if not config:
            return
        key = key if key is not None else version.key
        if "EventBridgeConfiguration" in config:
            self._to_eventbridge(bucket, event, version, ctx, key, size, etag, version_id)
        targets = []
        for section, arn_field, kind in _DESTINATIONS:
            for item in config.get(section) or []:
                if event_matches(item.get("Events") or [], event) and key_matches(item, key):
                    targets.append((kind, item[arn_field], item.get("Id") or ""))
        if not targets:
            return
        record = self._record(bucket, event, version, ctx, key, size, etag, version_id, extra)
        self._spawn(bucket, record, targets)

    def _record(self, bucket, event, version, ctx, key, size, etag, version_id, extra) -> dict:
        now = self.clock.now()
        if ctx is not None:
            principal = ctx.principal
            who = "AWS:" + (principal.user_id or principal.account_id)
            source_ip = ctx.source_ip or "127.0.0.1"
            request_id = ctx.request_id
        else:
            who, source_ip, request_id = "s3.amazonaws.com", "s3.amazonaws.com", ""
        obj: dict = {"key": _encode_key(key)}
        deleted = event.startswith("ObjectRemoved") or event.startswith("LifecycleExpiration")
        if not deleted:
            obj["size"] = size if size is not None else (version.size if version is not None else 0)
            obj["eTag"] = (etag if etag is not None else (version.etag if version is not None else "")).strip('"')
        vid = version_id if version_id is not None else (version.version_id if version is not None else None)
        if vid and vid != "null":
            obj["versionId"] = vid
        obj["sequencer"] = f"{int(now * 1e6):016X}{self._sequence():04X}"
        record = {
            "eventVersion": "2.3" if event.startswith(_VERSION_2_3) else "2.1",
            "eventSource": "aws:s3", "awsRegion": bucket.region, "eventTime": event_time(now),
            "eventName": event, "userIdentity": {"principalId": who},
            "requestParameters": {"sourceIPAddress": source_ip},
            "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": _host_id(request_id)},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "",
                   "bucket": {"name": bucket.name, "ownerIdentity": {"principalId": canonical_id(bucket.account)},
                              "arn": bucket.arn},
                   "object": obj}}
        if extra:
            record.update(extra)
        return record

    def _to_eventbridge(self, bucket, event, version, ctx, key, size, etag, version_id) -> None:
        """The event on the bucket owner's default EventBridge bus (the
        bucket's EventBridgeConfiguration): events/sources.py shapes it."""
        from cloudlet.services.events.sources import s3_event

        events = self.cloud.service("events")
        if events is None:
            return
        now = self.clock.now()
        if size is None and version is not None:
            size = version.size
        if etag is None and version is not None:
            etag = version.etag
        if version_id is None and version is not None:
            version_id = version.version_id
        requester = ctx.principal.account_id if ctx is not None else "s3.amazonaws.com"
        s3_event(events, bucket, event, key, size, etag, version_id,
                 f"{int(now * 1e6):016X}{self._sequence():04X}", ctx.request_id if ctx is not None else "",
                 requester, (ctx.source_ip or "127.0.0.1") if ctx is not None else "s3.amazonaws.com", now)

    def _sequence(self) -> int:
        self._event_seq = (getattr(self, "_event_seq", 0) + 1) & 0xFFFF
        return self._event_seq

    def _spawn(self, bucket, record: dict, targets: list) -> None:
        self._spawn_task(self._deliver(bucket, record, targets))

    def _spawn_task(self, coro) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()
            return  # no loop (a job outside the server): nothing to deliver with
        tasks = getattr(self, "_deliveries", None)
        if tasks is None:
            tasks = self._deliveries = set()
        task = loop.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _deliver(self, bucket, record: dict, targets: list) -> None:
        # Let the operation's own commit go first: a consumer must find the object.
        await self.storage.flush()
        for kind, arn, config_id in targets:
            message = dict(record, s3=dict(record["s3"], configurationId=config_id))
            try:
                await self.send_event(bucket, kind, arn, orjson.dumps({"Records": [message]}).decode())
            except AwsError as err:
                log.warning("S3 event for %s not delivered to %s: %s %s", bucket.name, arn, err.code, err.message)
            except Exception:
                log.exception("S3 event for %s not delivered to %s", bucket.name, arn)
        await self.storage.flush()

    async def send_event(self, bucket, kind: str, arn: str, body: str) -> None:
        """One message to one destination, as s3.amazonaws.com."""
        parts = arn.split(":")
        region, account, name = parts[3], parts[4], parts[5] if len(parts) > 5 else ""
        gateway = self.cloud.gateway
        if kind == "sqs":
            url = self.cloud.service("sqs").queue_url(region, account, name)
            await gateway.call("sqs", "SendMessage", {"QueueUrl": url, "MessageBody": body}, account_id=account,
                               region=region, invoked_by="s3.amazonaws.com", source_arn=bucket.arn,
                               source_account=bucket.account)
        elif kind == "sns":
            await gateway.call("sns", "Publish", {"TopicArn": arn, "Message": body,
                                                  "Subject": "Amazon S3 Notification"},
                               account_id=account, region=region, invoked_by="s3.amazonaws.com",
                               source_arn=bucket.arn, source_account=bucket.account)
        else:
            await gateway.call("lambda", "Invoke", {"FunctionName": arn, "InvocationType": "Event",
                                                    "Payload": body.encode()},
                               account_id=account, region=region, invoked_by="s3.amazonaws.com",
                               source_arn=bucket.arn, source_account=bucket.account)

    def notification_configured(self, ctx, bucket, config: dict) -> None:
        """A configuration was stored: S3 sends each destination an
        s3:TestEvent (not a record: its own small document)."""
        body = orjson.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": event_time(self.clock.now()),
                             "Bucket": bucket.name, "RequestId": ctx.request_id,
                             "HostId": _host_id(ctx.request_id)}).decode()
        targets = [(kind, item[arn_field]) for section, arn_field, kind in _DESTINATIONS
                   for item in config.get(section) or [] if kind != "lambda"]
        self._spawn_task(self._deliver_raw(bucket, body, targets))

    async def _deliver_raw(self, bucket, body: str, targets: list) -> None:
        await self.storage.flush()
        for kind, arn in targets:
            try:
                await self.send_event(bucket, kind, arn, body)
            except AwsError as err:
                log.warning("S3 test event for %s not delivered to %s: %s", bucket.name, arn, err.code)
        await self.storage.flush()

    async def settle(self) -> None:
        tasks = getattr(self, "_deliveries", None)
        while tasks:
            await asyncio.gather(*list(tasks), return_exceptions=True)


def _encode_key(key: str) -> str:
    """Keys in event messages are URL-encoded as S3 does (spaces as '+')."""
    from urllib.parse import quote_plus

    return quote_plus(key, safe="/")


def _host_id(request_id: str) -> str:
    from cloudlet.protocol.rest_xml import host_id

    return host_id(request_id) if request_id else ""
