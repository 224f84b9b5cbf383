"""Delivering to subscribers.

- sqs: in the Publish request itself, through the gateway as the service
  principal sns.amazonaws.com, so the queue's policy decides (aws:SourceArn
  is the topic). Done before Publish answers, in the same storage commit:
  an acknowledged publish is in every queue it matched.
- http/https: written to sns_deliveries with the Publish, then POSTed by a
  job on cloudlet's clock; failures are retried on the subscription's
  delivery policy (the delays are clock time, so a test advances the clock
  rather than waiting), then dead-lettered or dropped.
- email, email-json, sms, application: captured in the outbox
  (GET /_cloudlet/sns/messages) until SES and the push services exist.
- lambda, firehose: handed to those services through the gateway; until
  they exist the call fails as a client error would (dead-letter or drop).

A client error (the endpoint is gone, its policy refuses SNS) is not
retried; only HTTP/S server errors are.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets

import orjson

from cloudlet import httpclient
from cloudlet import ids
from cloudlet.errors import AwsError
from cloudlet.services.sns import deliverypolicy
from cloudlet.services.sns.envelope import Urls, lambda_event, render, timestamp

log = logging.getLogger("cloudlet.sns")

SNS_PRINCIPAL = "sns.amazonaws.com"
USER_AGENT = "Amazon Simple Notification Service Agent"
LEASE_SECONDS = 60.0  # clock time an in-flight delivery is held before another attempt may take it
_DELIVERY_COLUMNS = ("id, subscription_arn, topic_arn, endpoint, message_type, message_id, body, raw, attempt, "
                     "created, data_key, sealed")


class DeliveryOps:
    """Mixin of SnsService."""

    # -- addresses -------------------------------------------------------

    def urls(self) -> Urls:
        return Urls(f"http://localhost:{self.cloud.settings.port}")

    # -- SQS -------------------------------------------------------------

    async def deliver_sqs_many(self, topic, deliveries: list, request_id: str | None = None, *,
                               message_id: str = "", published: float | None = None, text: str = "") -> None:
        """Send to many subscribed queues at once (one authorized call each,
        stored together); refused ones are dead-lettered or dropped."""
        calls = [(params, sub.endpoint.split(":")[4], sub.endpoint.split(":")[3]) for sub, params in deliveries]
        results = await self.cloud.gateway.call_many("sqs", "SendMessage", calls, invoked_by=SNS_PRINCIPAL,
                                                     source_arn=topic.arn, request_id=request_id)
        logging_on = any(k.startswith("SQS") for k in topic.attributes)
        published = self.clock.now() if published is None else published
        for (sub, params), result in zip(deliveries, results):
            if isinstance(result, AwsError):
                log.info("SNS could not deliver to %s: %s %s", sub.endpoint, result.code, result.message)
                if logging_on:
                    self.log_delivery(topic, sub, message_id, text, published, False,
                                      403 if "AccessDenied" in result.code else 400,
                                      orjson.dumps({"ErrorCode": result.code, "ErrorMessage": result.message,
                                                    "sqsRequestId": "Unrecoverable"}).decode())
                await self.dead_letter(topic, sub, params["MessageBody"], params.get("MessageAttributes"),
                                       params.get("MessageGroupId"), params.get("MessageDeduplicationId"))
            else:
                self.metric(topic, "NumberOfNotificationsDelivered", 1)
                if logging_on:
                    self.log_delivery(topic, sub, message_id, text, published, True, 200,
                                      orjson.dumps({"sqsRequestId": request_id or "",
                                                    "sqsMessageId": result.get("MessageId", "")}).decode())

    def _sqs_params(self, queue_arn: str, body: str, attributes: dict | None, group_id: str | None,
                    dedup_id: str | None) -> dict:
        _, _, _, region, account, name = queue_arn.split(":", 5)
        params: dict = {"QueueUrl": self.cloud.service("sqs").queue_url(region, account, name), "MessageBody": body}
        if attributes:
            params["MessageAttributes"] = attributes
        if group_id is not None:
            params["MessageGroupId"] = group_id
        if dedup_id is not None:
            params["MessageDeduplicationId"] = dedup_id
        return params

    async def dead_letter(self, topic, sub, body: str, attributes: dict | None, group_id: str | None,
                          dedup_id: str | None) -> None:
        """Send what could not be delivered to the subscription's
        dead-letter queue (the body the endpoint would have got), as SNS,
        under the DLQ's policy."""
        target = _redrive_target(sub)
        if target is None:
            self.metric(topic, "NumberOfNotificationsFailed", 1)
            return
        if not target.endswith(".fifo"):
            group_id = dedup_id = None
        elif group_id is not None and dedup_id is None:
            dedup_id = hashlib.sha256(body.encode()).hexdigest()
        params = self._sqs_params(target, body, attributes, group_id, dedup_id)
        try:
            await self.cloud.gateway.call("sqs", "SendMessage", params, account_id=target.split(":")[4],
                                          region=target.split(":")[3], invoked_by=SNS_PRINCIPAL,
                                          source_arn=topic.arn)
            self.metric(topic, "NumberOfNotificationsRedrivenToDlq", 1)
        except AwsError as err:
            log.info("SNS could not dead-letter to %s: %s %s", target, err.code, err.message)
            self.metric(topic, "NumberOfNotificationsFailedToRedriveToDlq", 1)

    # -- captured protocols ----------------------------------------------

    def capture_for(self, topic, sub, message_id: str, text: str, subject: str | None,
                    attributes: dict | None) -> None:
        self.capture(sub.owner, sub.protocol, sub.endpoint, message_id, text, subject=subject,
                     attributes=attributes, topic_arn=topic.arn, subscription_arn=sub.arn)

    # -- Lambda and Firehose ---------------------------------------------

    async def deliver_service(self, topic, sub, envelope: dict) -> bool:
        """Lambda (an asynchronous Invoke with the SNS event) or Firehose
        (PutRecord of the envelope or raw text). Until those services exist
        the gateway answers unknown operation, a client error."""
        region, account = sub.endpoint.split(":")[3:5]
        if sub.protocol == "lambda":
            service, operation = "lambda", "Invoke"
            params = {"FunctionName": sub.endpoint, "InvocationType": "Event",
                      "Payload": lambda_event(sub.arn, envelope)}
        else:
            service, operation = "firehose", "PutRecord"
            data = envelope["Message"] if sub.raw else render(envelope)
            params = {"DeliveryStreamName": sub.endpoint.rsplit("/", 1)[-1], "Record": {"Data": data.encode()}}
        try:
            await self.cloud.gateway.call(service, operation, params, account_id=account, region=region,
                                          invoked_by=SNS_PRINCIPAL, source_arn=topic.arn)
            return True
        except AwsError as err:
            log.info("SNS could not deliver to %s: %s %s", sub.endpoint, err.code, err.message)
            await self.dead_letter(topic, sub, render(envelope), None, None, None)
            return False

    # -- HTTP/S ----------------------------------------------------------

    def queue_http(self, sub, message_type: str, message_id: str, body: str, raw: bool = False,
                   sealer=None) -> None:
        """Record an HTTP/S delivery (inside the caller's storage unit),
        sealed by an encrypted topic's data key, and have the delivery job
        pick it up now."""
        now = self.clock.now()
        with self.storage.tx():
            if sealer is None:
                self.storage.execute(
                    "INSERT INTO sns_deliveries (subscription_arn, topic_arn, endpoint, message_type, message_id, "
                    "body, raw, next_attempt, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (sub.arn, sub.topic_arn, sub.endpoint, message_type, message_id, body, int(raw), now, now))
            else:
                self.storage.execute(
                    "INSERT INTO sns_deliveries (subscription_arn, topic_arn, endpoint, message_type, message_id, "
                    "body, raw, next_attempt, created, data_key, sealed) VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)",
                    (sub.arn, sub.topic_arn, sub.endpoint, message_type, message_id, int(raw), now, now,
                     sealer.data_key, sealer.seal(body.encode(), message_id.encode())))
        self.kick_deliveries(now)

    def kick_deliveries(self, when: float) -> None:
        self.cloud.scheduler.at("sns-http-deliveries", when, self.run_deliveries)

    async def run_deliveries(self, now: float) -> None:
        """Start every HTTP/S delivery that is due (each in its own task),
        then have the job come back when the next one is."""
        rows = self.storage.all(f"SELECT {_DELIVERY_COLUMNS} FROM sns_deliveries WHERE next_attempt <= ? "
                                "ORDER BY id LIMIT 1000", (now,))
        with self.storage.tx():
            claimed = [r for r in rows if self.storage.execute(
                "UPDATE sns_deliveries SET next_attempt = ?, leased = 1 WHERE id = ? AND next_attempt <= ?",
                (now + LEASE_SECONDS, r[0], now)).rowcount]
        await self.storage.flush()
        for row in claimed:
            task = asyncio.get_running_loop().create_task(self._deliver_http(row))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if len(rows) == 1000:
            self.kick_deliveries(now)
        else:
            self._schedule_next_delivery()

    def _schedule_next_delivery(self) -> None:
        row = self.storage.one("SELECT MIN(next_attempt) FROM sns_deliveries WHERE leased = 0", ())
        if row is not None and row[0] is not None:
            self.kick_deliveries(row[0])

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait (real time, bounded) for deliveries under way to finish: an
        admin clock move answers once the attempts it made due are made."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._inflight:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.wait(set(self._inflight), timeout=left)
        await self.settle_logs()

    def recover_deliveries(self) -> None:
        """At start: deliveries a stopped process had in flight are due now."""
        with self.storage.tx():
            self.storage.execute("UPDATE sns_deliveries SET leased = 0, next_attempt = ? WHERE leased = 1",
                                 (self.clock.now(),))
        self._schedule_next_delivery()

    async def _deliver_http(self, row) -> None:
        (delivery_id, sub_arn, topic_arn, endpoint, message_type, message_id, body, raw, attempt, created, data_key,
         sealed) = row
        sub = self.find_subscription(sub_arn, include_deleted=True)
        topic = self.find_topic(topic_arn)
        if sub is None or topic is None:
            self._finish_delivery(delivery_id)
            return
        if data_key is not None:
            try:
                body = self.delivery_sealer(data_key).open(bytes(sealed), message_id.encode()).decode()
            except AwsError as err:
                # SNS cannot read what it kept (its KMS key is unusable):
                # tried again later, within the hour deliveries get.
                log.info("SNS could not decrypt delivery %s: %s %s", message_id, err.code, err.message)
                if self.clock.now() - created > deliverypolicy.MAX_TOTAL_RETRY_SECONDS:
                    self._finish_delivery(delivery_id)
                else:
                    self._reschedule_delivery(delivery_id, attempt, self.clock.now() + 60)
                return
        policy = self.effective_delivery_policy(topic, sub)
        delays = deliverypolicy.retry_delays(policy)
        headers = self._http_headers(sub, policy, message_type, message_id, topic_arn, bool(raw))
        while True:
            wait = self._throttle_wait(sub, policy)
            if wait:
                self._reschedule_delivery(delivery_id, attempt, self.clock.now() + wait)
                return
            # Delays count from when an attempt starts, so a clock moved
            # while the endpoint answers does not stretch them.
            started = self.clock.now()
            try:
                result = await httpclient.post(endpoint, body.encode(), headers,
                                               timeout=deliverypolicy.REQUEST_TIMEOUT_SECONDS)
                status, detail = result.status, f"HTTP {result.status}"
            except httpclient.HttpError as exc:
                status, detail = None, str(exc)
            if status is not None and 200 <= status < 300:
                self._finish_delivery(delivery_id)
                if message_type == "Notification":
                    self.metric(topic, "NumberOfNotificationsDelivered", 1)
                    self.log_delivery(topic, sub, message_id, body, created, True, status,
                                      result.body[:1024].decode("utf-8", "replace"), attempts=attempt + 1)
                return
            retryable = status is None or deliverypolicy.is_retryable_http_status(status)
            # However the policy adds up, SNS stops retrying an HTTP/S
            # delivery an hour after the message was published.
            if retryable and attempt < len(delays) and \
                    started + delays[attempt] - created <= deliverypolicy.MAX_TOTAL_RETRY_SECONDS:
                delay = delays[attempt]
                attempt += 1
                if delay <= 0:
                    continue  # the immediate-retry phase
                log.info("SNS delivery to %s failed (%s); attempt %d in %gs", endpoint, detail, attempt + 1, delay)
                self._reschedule_delivery(delivery_id, attempt, started + delay)
                return
            log.info("SNS gave up delivering %s to %s (%s)", message_id, endpoint, detail)
            self._finish_delivery(delivery_id)
            if message_type == "Notification":
                self.log_delivery(topic, sub, message_id, body, created, False, status, detail,
                                  attempts=attempt + 1)
                await self.dead_letter(topic, sub, body, None, None, None)
            return

    def _http_headers(self, sub, policy: dict, message_type: str, message_id: str, topic_arn: str,
                      raw: bool) -> dict:
        content_type = (policy.get("requestPolicy") or {}).get("headerContentType") or "text/plain; charset=UTF-8"
        headers = {"Content-Type": content_type, "User-Agent": USER_AGENT, "x-amz-sns-message-type": message_type,
                   "x-amz-sns-message-id": message_id, "x-amz-sns-topic-arn": topic_arn}
        if message_type == "Notification":
            headers["x-amz-sns-subscription-arn"] = sub.arn
            if raw:
                headers["x-amz-sns-rawdelivery"] = "true"
        return headers

    def _throttle_wait(self, sub, policy: dict) -> float:
        """Clock seconds to hold a delivery so the endpoint gets at most
        maxReceivesPerSecond (0: send now)."""
        interval = deliverypolicy.throttle_interval(policy)
        if not interval:
            return 0.0
        now = self.clock.now()
        next_free = self._throttle.get(sub.arn, 0.0)
        if next_free > now:
            return next_free - now
        self._throttle[sub.arn] = now + interval
        return 0.0

    def _finish_delivery(self, delivery_id: int) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM sns_deliveries WHERE id = ?", (delivery_id,))

    def _reschedule_delivery(self, delivery_id: int, attempt: int, when: float) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE sns_deliveries SET attempt = ?, next_attempt = ?, leased = 0 WHERE id = ?",
                                 (attempt, when, delivery_id))
        self.kick_deliveries(when)

    def effective_delivery_policy(self, topic, sub) -> dict:
        topic_policy = topic.attributes.get("DeliveryPolicy")
        sub_policy = sub.attributes.get("DeliveryPolicy")
        return deliverypolicy.effective_policy(orjson.loads(topic_policy) if topic_policy else None,
                                               orjson.loads(sub_policy) if sub_policy else None)

    # -- confirmations ---------------------------------------------------

    def send_confirmation(self, topic, sub) -> None:
        """SubscriptionConfirmation to an HTTP/S endpoint, or the email
        asking to confirm (inside the caller's storage unit)."""
        self._confirmation(topic, sub, "SubscriptionConfirmation", _SUBSCRIBE_TEXT.format(topic=topic.arn),
                           sub.token)

    def send_unsubscribe_confirmation(self, topic, sub, token: str) -> None:
        text = (f"You have chosen to deactivate subscription {sub.arn}.\n"
                "To cancel this operation and restore the subscription, visit the SubscribeURL included in "
                "this message.")
        self._confirmation(topic, sub, "UnsubscribeConfirmation", text, token)

    def _confirmation_envelope(self, topic, message_type: str, text: str, token: str) -> tuple[str, dict]:
        message_id = ids.uuid4()
        urls = self.urls()
        envelope = {"Type": message_type, "MessageId": message_id, "Token": token, "TopicArn": topic.arn,
                    "Message": text, "SubscribeURL": urls.confirm(topic.arn, token),
                    "Timestamp": timestamp(self.clock.now()), "SigningCertURL": urls.certificate}
        return message_id, self.signer.sign(envelope, topic.attributes.get("SignatureVersion", "1"))

    async def send_sqs_confirmation(self, topic, sub) -> None:
        """SubscriptionConfirmation into a queue of another account that
        the topic's side subscribed (the queue owner confirms with its
        SubscribeURL or ConfirmSubscription). Sent as SNS under the queue's
        policy; a refused one is dropped (the subscription stays pending),
        as on AWS."""
        message_id, signed = self._confirmation_envelope(topic, "SubscriptionConfirmation", _SUBSCRIBE_TEXT.format(
            topic=topic.arn), sub.token)
        fifo = sub.endpoint.endswith(".fifo")
        # (a FIFO queue needs a group and a deduplication id; AWS does not
        # document the ones it uses: the message id serves for both)
        params = self._sqs_params(sub.endpoint, render(signed), None, message_id if fifo else None,
                                  message_id if fifo else None)
        try:
            await self.cloud.gateway.call("sqs", "SendMessage", params, account_id=sub.endpoint.split(":")[4],
                                          region=sub.endpoint.split(":")[3], invoked_by=SNS_PRINCIPAL,
                                          source_arn=topic.arn)
        except AwsError as err:
            log.info("SNS could not send the subscription confirmation to %s: %s %s", sub.endpoint, err.code,
                     err.message)

    def _confirmation(self, topic, sub, message_type: str, text: str, token: str) -> None:
        message_id, signed = self._confirmation_envelope(topic, message_type, text, token)
        if sub.protocol in ("http", "https"):
            self.queue_http(sub, message_type, message_id, render(signed))
        elif sub.protocol == "email-json":
            self.capture_for(topic, sub, message_id, render(signed), None, None)
        elif sub.protocol == "email":
            body = (f"You have chosen to subscribe to the topic: \n{topic.arn}\n\nTo confirm this subscription, "
                    "click or visit the link below (If this was in error no action is necessary):\n"
                    f"{signed['SubscribeURL']}")
            self.capture_for(topic, sub, message_id, body, "AWS Notification - Subscription Confirmation", None)


_SUBSCRIBE_TEXT = ("You have chosen to subscribe to the topic {topic}.\n"
                   "To confirm the subscription, visit the SubscribeURL included in this message.")


def _redrive_target(sub) -> str | None:
    policy = sub.attributes.get("RedrivePolicy")
    if not policy:
        return None
    try:
        return orjson.loads(policy).get("deadLetterTargetArn") or None
    except (orjson.JSONDecodeError, AttributeError):
        return None


def new_token() -> str:
    """A confirmation token: 288 hex characters, as SNS's are."""
    return secrets.token_hex(144)
