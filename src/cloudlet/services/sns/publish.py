"""Publish and PublishBatch: validation, FIFO sequencing and deduplication,
and the fan-out to a topic's subscriptions (filter policies, per-protocol
messages, raw delivery)."""

from __future__ import annotations

import asyncio
import hashlib


from cloudlet import ids
from cloudlet.errors import AwsError
from cloudlet.services.sns import messages
from cloudlet.services.sns.envelope import Notification, timestamp
from cloudlet.services.sns.messages import Message, check_attributes, check_ids, check_subject
from cloudlet.services.sns.topics import invalid

DEDUP_SECONDS = 300
MAX_BATCH = 10


class PublishOps:
    """Mixin of SnsService."""

    # -- the calls -------------------------------------------------------

    async def Publish(self, ctx, params):
        topic_arn, target_arn, phone = params.get("TopicArn"), params.get("TargetArn"), params.get("PhoneNumber")
        if not (topic_arn or target_arn or phone):
            raise invalid("TopicArn or TargetArn Reason: no value for required parameter")
        endpoint_target = bool(target_arn) and ":endpoint/" in target_arn
        if phone and (topic_arn or target_arn):
            raise invalid("TopicArn or TargetArn Reason: Only one of TopicArn, TargetArn and PhoneNumber may be set")
        if topic_arn and target_arn:
            raise invalid("TopicArn Reason: Only one of TopicArn and TargetArn may be set")
        message = self._message(params, needs_default=not endpoint_target)
        if phone:
            messages.check_phone(phone)
            return self.publish_to_phone(ctx, phone, message)
        if endpoint_target:
            return self.publish_to_endpoint(ctx, target_arn, message)
        topic = self.topic(topic_arn or target_arn)
        self._check_fifo(topic, message)
        # An encrypted topic: the publisher's KMS permissions are checked
        # at publish time (sse.py).
        sealer = await self.topic_sealer(ctx, topic)
        async with self._topic_lock(topic):
            return await self._publish(ctx, topic, message, sealer)

    async def PublishBatch(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        entries = params.get("PublishBatchRequestEntries") or []
        if not entries:
            raise AwsError("EmptyBatchRequestException", "The batch request doesn't contain any entries.")
        if len(entries) > MAX_BATCH:
            raise AwsError("TooManyEntriesInBatchRequestException",
                           "The batch request contains more entries than permissible.")
        ids = [e["Id"] for e in entries]
        if len(set(ids)) != len(ids):
            raise AwsError("BatchEntryIdsNotDistinctException",
                           "Two or more batch entries in the request have the same Id.")
        for entry_id in ids:
            if not entry_id or len(entry_id) > 80 or not all(c.isalnum() or c in "-_" for c in entry_id):
                raise AwsError("InvalidBatchEntryIdException",
                               "The Id of a batch entry in a batch request doesn't abide by the specification.")
        # Every entry is checked before any is published: AWS fails the
        # whole call for a malformed entry.
        batch = []
        total = 0
        for entry in entries:
            message = self._message(entry, needs_default=True)
            self._check_fifo(topic, message)
            total += message.size()
            batch.append((entry["Id"], message))
        if total > messages.MAX_SIZE:
            raise AwsError("BatchRequestTooLongException",
                           "The length of all the messages put together is more than the limit.")
        successful = []
        sealer = await self.topic_sealer(ctx, topic)
        async with self._topic_lock(topic):
            for entry_id, message in batch:
                result = await self._publish(ctx, topic, message, sealer)
                successful.append({"Id": entry_id, **result})
        return {"Successful": successful, "Failed": []}

    # -- validation ------------------------------------------------------

    def _message(self, params: dict, needs_default: bool) -> Message:
        text = params.get("Message")
        if not text:
            raise invalid("Empty message")
        subject = params.get("Subject")
        check_subject(subject)
        structured = None
        structure = params.get("MessageStructure")
        if structure is not None:
            if structure != "json":
                raise invalid("MessageStructure")
            structured = messages.parse_structure(text, needs_default=needs_default)
        attributes = params.get("MessageAttributes") or {}
        message = Message(text=text, subject=subject, structured=structured, attributes=attributes,
                          group_id=params.get("MessageGroupId"), dedup_id=params.get("MessageDeduplicationId"))
        if message.size() > messages.MAX_SIZE:
            raise invalid("Message too long")
        check_attributes(attributes)
        check_ids(message.group_id, message.dedup_id)
        return message

    @staticmethod
    def _check_fifo(topic, message: Message) -> None:
        if topic.fifo:
            if not message.group_id:
                raise invalid("The MessageGroupId parameter is required for FIFO topics")
            if not message.dedup_id and topic.attributes.get("ContentBasedDeduplication") != "true":
                raise invalid("The topic should either have ContentBasedDeduplication enabled or "
                              "MessageDeduplicationId provided explicitly")
        elif message.dedup_id is not None:
            raise invalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter "
                          "that is not valid for this topic type")

    def _topic_lock(self, topic):
        """FIFO topics publish one message at a time (sequence numbers and
        per-group order); standard topics need no lock."""
        if not topic.fifo:
            return _NO_LOCK
        lock = self._fifo_locks.get(topic.arn)
        if lock is None:
            lock = self._fifo_locks[topic.arn] = asyncio.Lock()
        return lock

    # -- publishing to a topic -------------------------------------------

    async def _publish(self, ctx, topic, message: Message, sealer=None) -> dict:
        now = self.clock.now()
        sequence = None
        dedup_id = None
        if topic.fifo:
            dedup_id = message.dedup_id or hashlib.sha256(message.text.encode()).hexdigest()
            key = dedup_id if topic.attributes.get("FifoThroughputScope") != "MessageGroup" \
                else f"{message.group_id}\n{dedup_id}"
            seen = self.storage.one("SELECT message_id, seq FROM sns_dedup WHERE topic_id = ? AND key = ? "
                                    "AND expires > ?", (topic.id, key, now))
            if seen is not None:
                return {"MessageId": seen[0], "SequenceNumber": seen[1]}
        message_id = ids.uuid4()
        if topic.fifo:
            with self.storage.tx():
                row = self.storage.one("UPDATE sns_topics SET next_seq = next_seq + 1 WHERE id = ? "
                                       "RETURNING next_seq - 1", (topic.id,))
                sequence = f"{row[0]:020d}"
                self.storage.execute(
                    "INSERT INTO sns_dedup (topic_id, key, message_id, seq, expires) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (topic_id, key) DO UPDATE SET message_id = excluded.message_id, "
                    "seq = excluded.seq, expires = excluded.expires",
                    (topic.id, key, message_id, sequence, now + DEDUP_SECONDS))
        # Each delivery is its own storage unit; all of them commit with the
        # publish before it is answered.
        await self.fan_out(ctx, topic, message, message_id, now, sequence, dedup_id, sealer)
        self.metric(topic, "NumberOfMessagesPublished", 1)
        self.metric(topic, "PublishSize", message.size(), unit="Bytes")
        out = {"MessageId": message_id}
        if sequence is not None:
            out["SequenceNumber"] = sequence
        return out

    async def fan_out(self, ctx, topic, message: Message, message_id: str, now: float, sequence: str | None,
                      dedup_id: str | None, sealer=None) -> None:
        """Deliver to every matching subscription; `sealer` (an encrypted
        topic's data key) seals what waits in storage for HTTP/S."""
        matched = [sub for sub in self.topic_subscriptions(topic.arn) if self._matches(topic, sub, message)]
        if not matched:
            return
        notifications = await self._notifications(topic, message, message_id, now, sequence, matched)
        urls = self.urls()
        to_sqs = []  # (subscription, params of its SendMessage)
        for sub in matched:
            protocol = sub.protocol
            if protocol == "sqs":
                if sub.raw:
                    body, attributes = message.for_protocol("sqs"), _sqs_attributes(message.attributes)
                else:
                    body = notifications[message.for_protocol("sqs")].text(urls.unsubscribe(sub.arn))
                    attributes = None
                if sub.endpoint.endswith(".fifo"):
                    group, dedup = message.group_id, dedup_id
                else:
                    # A standard queue takes a group id (fair queues) from a
                    # standard topic only, and never a deduplication id.
                    group, dedup = (None if topic.fifo else message.group_id), None
                to_sqs.append((sub, self._sqs_params(sub.endpoint, body, attributes, group, dedup)))
            elif protocol in ("http", "https"):
                if sub.raw:
                    self.queue_http(sub, "Notification", message_id, message.for_protocol(protocol), raw=True,
                                    sealer=sealer)
                else:
                    self.queue_http(sub, "Notification", message_id,
                                    notifications[message.for_protocol(protocol)].text(urls.unsubscribe(sub.arn)),
                                    sealer=sealer)
            elif protocol == "email":
                self.capture_for(topic, sub, message_id, message.for_protocol("email"),
                                 message.subject or "AWS Notification Message", message.attributes or None)
                self.metric(topic, "NumberOfNotificationsDelivered", 1)
            elif protocol == "email-json":
                text = notifications[message.for_protocol("email-json")].text(urls.unsubscribe(sub.arn))
                self.capture_for(topic, sub, message_id, text, message.subject, message.attributes or None)
                self.metric(topic, "NumberOfNotificationsDelivered", 1)
            elif protocol == "sms":
                await self.deliver_sms(topic, sub, message_id, message)
            elif protocol == "application":
                await self.deliver_application(topic, sub, message_id, message)
            elif protocol in ("lambda", "firehose"):
                doc = notifications[message.for_protocol(protocol)].doc(urls.unsubscribe(sub.arn))
                if await self.deliver_service(topic, sub, doc):
                    self.metric(topic, "NumberOfNotificationsDelivered", 1)
        if to_sqs:
            await self.deliver_sqs_many(topic, to_sqs, ctx.request_id, message_id=message_id, published=now,
                                        text=message.text)

    def _matches(self, topic, sub, message: Message) -> bool:
        policy = sub.filter_policy()
        if policy is None:
            return True
        if policy.scope == "MessageBody":
            if policy.matches_body(message.text):
                return True
            self.metric(topic, "NumberOfNotificationsFilteredOut-MessageBody", 1)
            return False
        if policy.matches_attributes(message.attributes):
            return True
        self.metric(topic, "NumberOfNotificationsFilteredOut", 1)
        return False

    async def _notifications(self, topic, message: Message, message_id: str, now: float, sequence: str | None,
                             subscriptions: list) -> dict:
        """The signed notification for each text the subscribers get (one
        unless MessageStructure gives protocols their own), signed off the
        event loop when other requests are in flight: RSA signing is the
        costliest step of a publish and releases the GIL, so it runs on
        another core while the loop serves them."""
        texts = {message.for_protocol(sub.protocol) for sub in subscriptions if _needs_envelope(sub)}
        if not texts:
            return {}
        version = topic.attributes.get("SignatureVersion", "1")
        stamp = timestamp(now)
        docs = []
        for text in texts:
            doc = {"Type": "Notification", "MessageId": message_id}
            if sequence is not None:
                doc["SequenceNumber"] = sequence
            doc["TopicArn"] = topic.arn
            if message.subject is not None:
                doc["Subject"] = message.subject
            doc.update(Message=text, Timestamp=stamp)
            docs.append((text, doc))
        signer = self.signer
        if len(docs) == 1 and self.cloud.alone():
            # The only request: a hop to the pool and back would only add
            # latency (+15% publishes a second at one connection).
            signed = [signer.sign(docs[0][1], version)]
        else:
            loop = asyncio.get_running_loop()
            signed = await asyncio.gather(*(loop.run_in_executor(self.sign_pool, signer.sign, doc, version)
                                            for _, doc in docs))
        certificate = self.urls().certificate
        attributes = messages.envelope_attributes(message.attributes) if message.attributes else None
        return {text: Notification(s, certificate, attributes) for (text, _), s in zip(docs, signed)}

    async def deliver_sms(self, topic, sub, message_id: str, message: Message) -> None:
        if self.is_opted_out(sub.owner, sub.endpoint):
            self.metric(topic, "NumberOfNotificationsFailed", 1)
            return
        self.capture_for(topic, sub, message_id, message.for_protocol("sms"), message.subject,
                         message.attributes or None)
        self.metric(topic, "NumberOfNotificationsDelivered", 1)

    async def deliver_application(self, topic, sub, message_id: str, message: Message) -> None:
        endpoint = self.platform_endpoint(sub.endpoint)
        if endpoint is None or endpoint.get("Enabled", "true").lower() != "true" \
                or endpoint.get("ApplicationEnabled", "true").lower() != "true":
            await self.dead_letter(topic, sub, message.for_protocol("default"), None, None, None)
            return
        self.capture_for(topic, sub, message_id, message.for_platform(endpoint.get("Platform", "")),
                         message.subject, message.attributes or None)
        self.metric(topic, "NumberOfNotificationsDelivered", 1)

    # -- publishing to a phone number or a mobile endpoint ----------------

    def publish_to_phone(self, ctx, phone: str, message: Message) -> dict:
        message_id = ids.uuid4()
        if not self.is_opted_out(ctx.account_id, phone):
            with self.storage.tx():
                self.capture(ctx.account_id, "sms", phone, message_id, message.for_protocol("sms"),
                             subject=message.subject, attributes=message.attributes or None)
        return {"MessageId": message_id}

    def publish_to_endpoint(self, ctx, arn: str, message: Message) -> dict:
        endpoint = self.platform_endpoint(arn)
        if endpoint is None:
            raise invalid("TargetArn Reason: No endpoint found for the target arn specified")
        if endpoint.get("ApplicationEnabled", "true").lower() != "true":
            raise AwsError("PlatformApplicationDisabledException", "Platform application is disabled")
        if endpoint.get("Enabled", "true").lower() != "true":
            raise AwsError("EndpointDisabledException", "Endpoint is disabled")
        platform = endpoint.get("Platform", "")
        if message.structured is not None and platform not in message.structured \
                and "default" not in message.structured:
            raise invalid("Message Structure - No default entry in JSON message body")
        message_id = ids.uuid4()
        with self.storage.tx():
            self.capture(ctx.account_id, "application", arn, message_id, message.for_platform(platform),
                         subject=message.subject, attributes=message.attributes or None)
        return {"MessageId": message_id}


def _needs_envelope(sub) -> bool:
    return sub.protocol in ("email-json", "lambda") or (
        sub.protocol in ("sqs", "http", "https", "firehose") and not sub.raw)


def _sqs_attributes(attributes: dict) -> dict | None:
    """Raw delivery: the message attributes become the SQS message's."""
    if not attributes:
        return None
    out = {}
    for name, attr in attributes.items():
        data_type = attr["DataType"]
        if data_type.startswith("Binary"):
            out[name] = {"DataType": data_type, "BinaryValue": attr["BinaryValue"]}
        else:
            out[name] = {"DataType": data_type, "StringValue": attr["StringValue"]}
    return out


class _NoLock:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


_NO_LOCK = _NoLock()
