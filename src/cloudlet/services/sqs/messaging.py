"""Sending, receiving (with long polling, FIFO group order and dead-letter
redrive), deleting, and changing visibility."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time
import orjson

from cloudlet import ids
from cloudlet.errors import AwsError
from cloudlet.gateway.dispatch import new_request_id
from cloudlet.services.sqs import attributes as attrs
from cloudlet.services.sqs.messages import (
    attribute_size, check_attributes, check_body, md5_hex, md5_of_attributes,
)
from cloudlet.services.sqs.queues import Queue

DEDUP_WINDOW = 300          # FIFO deduplication interval (5 minutes)
ATTEMPT_WINDOW = 300        # ReceiveRequestAttemptId is honoured for 5 minutes
MAX_VISIBILITY = 43_200     # 12 hours in flight at most
MAX_BATCH = 10
_ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_SYSTEM_NAMES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                 "SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "AWSTraceHeader",
                 "DeadLetterQueueSourceArn")
_MSG_COLUMNS = ("id, message_id, body, md5_body, attributes, md5_attributes, system, sent, receive_count, "
                "first_receive, sender_id, group_id, dedup_id, seq, source_arn, expires_at, data_key, sealed")


def _encode_attributes(attributes: dict | None) -> str | None:
    if not attributes:
        return None
    out = {}
    for name, attr in attributes.items():
        entry = {"DataType": attr["DataType"]}
        if attr.get("StringValue") is not None:
            entry["StringValue"] = attr["StringValue"]
        if attr.get("BinaryValue") is not None:
            entry["BinaryValue"] = base64.b64encode(bytes(attr["BinaryValue"])).decode()
        out[name] = entry
    return orjson.dumps(out).decode()


def _decode_attributes(raw: str | None) -> dict:
    if not raw:
        return {}
    out = orjson.loads(raw)
    for attr in out.values():
        if "BinaryValue" in attr:
            attr["BinaryValue"] = base64.b64decode(attr["BinaryValue"])
    return out


def receipt_handle(queue_id: int, row_id: int, nonce: str) -> str:
    """Opaque, like AWS's; the same receive (a FIFO attempt replayed) gives
    the same handle."""
    token = f"{queue_id}:{row_id}:{nonce}".encode()
    digest = hashlib.sha256(token).digest()
    return base64.urlsafe_b64encode(token + digest + digest[:16]).decode()


def parse_receipt(handle: str) -> tuple[int, int, str]:
    def invalid() -> AwsError:
        return AwsError("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.')

    try:
        raw = base64.urlsafe_b64decode(handle.encode() + b"=" * (-len(handle) % 4))
        head = raw[:-48].decode()
        queue_id, row_id, nonce = head.split(":")
        return int(queue_id), int(row_id), nonce
    except (ValueError, UnicodeDecodeError):
        raise invalid() from None


class MessagingOps:
    """Mixin of SqsService."""

    # -- waking long polls -----------------------------------------------

    def wake(self, queue_id: int) -> None:
        event = self._waiters.pop(queue_id, None)
        if event is not None:
            event.set()

    def _wait_event(self, queue_id: int) -> asyncio.Event:
        event = self._waiters.get(queue_id)
        if event is None:
            event = self._waiters[queue_id] = asyncio.Event()
        return event

    # -- send ------------------------------------------------------------

    def _prepare(self, ctx, queue: Queue, entry: dict, now: float) -> dict:
        """Validate one message and compute what is stored and answered."""
        body = entry.get("MessageBody")
        if body is None:
            raise AwsError("MissingParameter", "The request must contain the parameter MessageBody.")
        check_body(body)
        attributes = entry.get("MessageAttributes")
        system = entry.get("MessageSystemAttributes")
        check_attributes(attributes)
        check_attributes(system, system=True)
        size = len(body.encode()) + attribute_size(attributes)
        limit = queue.int_attr("MaximumMessageSize")
        if size > limit:
            raise AwsError("InvalidParameterValue", f"One or more parameters are invalid. Reason: Message must be "
                                                    f"shorter than {limit} bytes.")
        delay = entry.get("DelaySeconds")
        group = entry.get("MessageGroupId")
        dedup = entry.get("MessageDeduplicationId")
        if queue.fifo:
            if delay is not None and delay != 0:
                raise AwsError("InvalidParameterValue", f"Value {delay} for parameter DelaySeconds is invalid. Reason: "
                                                        "The request include parameter that is not valid for this "
                                                        "queue type.")
            if not group:
                raise AwsError("MissingParameter", "The request must contain the parameter MessageGroupId.")
            if dedup is None:
                if not queue.content_dedup:
                    raise AwsError("InvalidParameterValue", "The queue should either have ContentBasedDeduplication "
                                                            "enabled or MessageDeduplicationId provided explicitly")
                dedup = hashlib.sha256(body.encode()).hexdigest()
            for label, value in (("MessageGroupId", group), ("MessageDeduplicationId", dedup)):
                if len(value) > 128 or not all(33 <= ord(c) <= 126 for c in value):
                    raise AwsError("InvalidParameterValue", f"Value {value} for parameter {label} is invalid. Reason: "
                                                            "The value must be 1 to 128 characters of alphanumeric "
                                                            "characters or punctuation.")
            delay = queue.int_attr("DelaySeconds")
        else:
            if dedup is not None:
                raise AwsError("InvalidParameterValue", f"Value {dedup} for parameter MessageDeduplicationId is "
                                                        "invalid. Reason: The request include parameter that is not "
                                                        "valid for this queue type.")
            if delay is None:
                delay = queue.int_attr("DelaySeconds")
            elif not 0 <= delay <= 900:
                raise AwsError("InvalidParameterValue", f"Value {delay} for parameter DelaySeconds is invalid. Reason: "
                                                        "DelaySeconds must be >= 0 and <= 900.")
        return {
            "body": body, "md5_body": md5_hex(body.encode()), "attributes": _encode_attributes(attributes),
            "md5_attributes": md5_of_attributes(attributes), "system": _encode_attributes(system),
            "md5_system": md5_of_attributes(system), "visible_at": now + delay,
            "expires_at": now + queue.int_attr("MessageRetentionPeriod"), "group": group, "dedup": dedup,
            "size": size,
        }

    def _store(self, ctx, queue: Queue, m: dict, now: float, sealer=None) -> dict:
        """Insert one prepared message (inside the caller's transaction),
        sealed by `sealer` if the queue encrypts (sse.py)."""
        message_id = new_request_id()  # a random version-4 UUID
        seq = None
        if queue.fifo:
            scope_key = m["dedup"]
            if queue.attributes.get("DeduplicationScope") == "messageGroup":
                scope_key = f"{m['group']}\x00{m['dedup']}"
            found = self.storage.one("SELECT message_id, seq FROM sqs_dedup WHERE queue_id = ? AND key = ? "
                                     "AND expires > ?", (queue.id, scope_key, now))
            if found is not None:
                # A duplicate within five minutes is acknowledged, not delivered.
                return self._sent(found[0], m, found[1])
            number = self.storage.scalar("UPDATE sqs_queues SET next_seq = next_seq + 1 WHERE id = ? "
                                         "RETURNING next_seq - 1", (queue.id,))
            seq = f"{number:020d}"
            self.storage.execute("INSERT INTO sqs_dedup (queue_id, key, message_id, seq, expires) VALUES (?, ?, ?, ?, ?) "
                                 "ON CONFLICT (queue_id, key) DO UPDATE SET message_id = excluded.message_id, "
                                 "seq = excluded.seq, expires = excluded.expires",
                                 (queue.id, scope_key, message_id, seq, now + DEDUP_WINDOW))
        if sealer is None:
            self.storage.execute(
                "INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attributes, md5_attributes, system, "
                "md5_system, sent, visible_at, expires_at, sender_id, group_id, dedup_id, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (queue.id, message_id, m["body"], m["md5_body"], m["attributes"], m["md5_attributes"], m["system"],
                 m["md5_system"], now, m["visible_at"], m["expires_at"], self.sender_id(ctx), m["group"],
                 m["dedup"] if queue.fifo else None, seq))
        else:
            self.storage.execute(
                "INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, md5_attributes, system, "
                "md5_system, sent, visible_at, expires_at, sender_id, group_id, dedup_id, seq, data_key, sealed) "
                "VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (queue.id, message_id, m["md5_body"], m["md5_attributes"], m["system"], m["md5_system"], now,
                 m["visible_at"], m["expires_at"], self.sender_id(ctx), m["group"],
                 m["dedup"] if queue.fifo else None, seq, sealer.data_key,
                 self.seal(sealer, message_id, m["body"], m["attributes"])))
        return self._sent(message_id, m, seq)

    @staticmethod
    def _sent(message_id: str, m: dict, seq: str | None) -> dict:
        out = {"MD5OfMessageBody": m["md5_body"], "MessageId": message_id}
        if m["md5_attributes"]:
            out["MD5OfMessageAttributes"] = m["md5_attributes"]
        if m["md5_system"]:
            out["MD5OfMessageSystemAttributes"] = m["md5_system"]
        if seq is not None:
            out["SequenceNumber"] = seq
        return out

    @staticmethod
    def sender_id(ctx) -> str:
        return ctx.principal.user_id or ctx.account_id

    def metric(self, queue: Queue, name: str, value: float, unit: str = "Count") -> None:
        """An AWS/SQS metric datum (buffered per minute by the sink)."""
        self.cloud.metrics(queue.account, queue.region, "AWS/SQS", name, {"QueueName": queue.name}, value, unit)

    def _sent_metrics(self, queue: Queue, sizes) -> None:
        sink = self.cloud.metrics
        dims = {"QueueName": queue.name}
        for size in sizes:
            sink(queue.account, queue.region, "AWS/SQS", "NumberOfMessagesSent", dims, 1, "Count")
            sink(queue.account, queue.region, "AWS/SQS", "SentMessageSize", dims, size, "Bytes")

    def sample_metrics(self, now: float) -> None:
        """The Approximate* gauges of every queue, once a minute."""
        rows = self.storage.all(
            "SELECT q.id, q.account, q.region, q.name, "
            "COALESCE(SUM(m.visible_at <= ?), 0), COALESCE(SUM(m.visible_at > ? AND m.receive_count > 0), 0), "
            "COALESCE(SUM(m.visible_at > ? AND m.receive_count = 0), 0), MIN(m.sent) "
            "FROM sqs_queues q LEFT JOIN sqs_messages m ON m.queue_id = q.id AND m.expires_at > ? GROUP BY q.id",
            (now, now, now, now))
        sink = self.cloud.metrics
        for _, account, region, name, visible, hidden, delayed, oldest in rows:
            dims = {"QueueName": name}
            sink(account, region, "AWS/SQS", "ApproximateNumberOfMessagesVisible", dims, visible, "Count")
            sink(account, region, "AWS/SQS", "ApproximateNumberOfMessagesNotVisible", dims, hidden, "Count")
            sink(account, region, "AWS/SQS", "ApproximateNumberOfMessagesDelayed", dims, delayed, "Count")
            sink(account, region, "AWS/SQS", "ApproximateAgeOfOldestMessage", dims,
                 float(int(now - oldest)) if oldest is not None else 0.0, "Seconds")

    def SendMessage(self, ctx, params):
        queue = self.queue_for(ctx, params)
        now = self.clock.now()
        prepared = self._prepare(ctx, queue, params, now)
        sealer = self.sealer_for(ctx, queue)
        with self.storage.tx():
            out = self._store(ctx, queue, prepared, now, sealer)
        self._sent_metrics(queue, (prepared["size"],))
        if prepared["visible_at"] <= now:
            self.wake(queue.id)
        return out

    def batch_handler(self, operation: str):
        """What the gateway's call_many uses to do many calls at once."""
        return self.send_to_many if operation == "SendMessage" else None

    def send_to_many(self, calls: list) -> list:
        """SendMessage for many (ctx, params), to any queues (SNS fanning
        out): each validated on its own, the standard-queue messages stored
        by one statement. Returns each output or AwsError, in order.
        Data keys (KMS calls) are had before the storage unit opens, so
        none is remembered from a unit that could still roll back."""
        now = self.clock.now()
        results: list = [None] * len(calls)
        ready = []
        for i, (ctx, params) in enumerate(calls):
            try:
                queue = self.queue_for(ctx, params)
                m = self._prepare(ctx, queue, params, now)
                sealer = self.sealer_for(ctx, queue)
            except AwsError as err:
                results[i] = err
                continue
            ready.append((i, ctx, queue, m, sealer))
        rows = []
        sealed_rows = []
        woken = set()
        with self.storage.tx():
            for i, ctx, queue, m, sealer in ready:
                if queue.fifo:
                    results[i] = self._store(ctx, queue, m, now, sealer)
                elif sealer is None:
                    message_id = new_request_id()
                    rows.append((queue.id, message_id, m["body"], m["md5_body"], m["attributes"],
                                 m["md5_attributes"], m["system"], m["md5_system"], now, m["visible_at"],
                                 m["expires_at"], self.sender_id(ctx), m["group"]))
                    results[i] = self._sent(message_id, m, None)
                else:
                    message_id = new_request_id()
                    sealed_rows.append((queue.id, message_id, m["md5_body"], m["md5_attributes"], m["system"],
                                        m["md5_system"], now, m["visible_at"], m["expires_at"],
                                        self.sender_id(ctx), m["group"], sealer.data_key,
                                        self.seal(sealer, message_id, m["body"], m["attributes"])))
                    results[i] = self._sent(message_id, m, None)
                if m["visible_at"] <= now:
                    woken.add(queue.id)
                self._sent_metrics(queue, (m["size"],))
            if rows:
                self.storage.executemany(
                    "INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attributes, md5_attributes, "
                    "system, md5_system, sent, visible_at, expires_at, sender_id, group_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            if sealed_rows:
                self.storage.executemany(
                    "INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, md5_attributes, system, "
                    "md5_system, sent, visible_at, expires_at, sender_id, group_id, data_key, sealed) "
                    "VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sealed_rows)
        for queue_id in woken:
            self.wake(queue_id)
        return results

    def _check_batch(self, entries: list, name: str) -> None:
        if not entries:
            raise AwsError("EmptyBatchRequest", f"There should be at least one {name} in the request.")
        if len(entries) > MAX_BATCH:
            raise AwsError("TooManyEntriesInBatchRequest", f"Maximum number of entries per request are {MAX_BATCH}. "
                                                           f"You have sent {len(entries)}.")
        seen = set()
        for entry in entries:
            entry_id = entry.get("Id", "")
            if not _ENTRY_ID.match(entry_id):
                raise AwsError("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                                                      "hyphens and underscores. It can be at most 80 letters long.")
            if entry_id in seen:
                raise AwsError("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.")
            seen.add(entry_id)

    @staticmethod
    def _failure(entry_id: str, err: AwsError) -> dict:
        return {"Id": entry_id, "SenderFault": err.sender_fault is not False, "Code": err.code, "Message": err.message}

    def SendMessageBatch(self, ctx, params):
        queue = self.queue_for(ctx, params)
        entries = params.get("Entries") or []
        self._check_batch(entries, "SendMessageBatchRequestEntry")
        total = sum(len((e.get("MessageBody") or "").encode()) + attribute_size(e.get("MessageAttributes"))
                    for e in entries)
        if total > attrs.MAX_MESSAGE:
            raise AwsError("BatchRequestTooLong", f"Batch requests cannot be longer than {attrs.MAX_MESSAGE} bytes. "
                                                  f"You have sent {total} bytes.")
        now = self.clock.now()
        successful, failed, sizes = [], [], []
        wake = False
        sealer = self.sealer_for(ctx, queue)
        with self.storage.tx():
            for entry in entries:
                try:
                    prepared = self._prepare(ctx, queue, entry, now)
                except AwsError as err:
                    failed.append(self._failure(entry["Id"], err))
                    continue
                out = self._store(ctx, queue, prepared, now, sealer)
                out["Id"] = entry["Id"]
                successful.append(out)
                sizes.append(prepared["size"])
                wake = wake or prepared["visible_at"] <= now
        self._sent_metrics(queue, sizes)
        if wake:
            self.wake(queue.id)
        return {"Successful": successful, "Failed": failed}

    # -- receive ---------------------------------------------------------

    async def ReceiveMessage(self, ctx, params):
        queue = self.queue_for(ctx, params)
        count = params.get("MaxNumberOfMessages", 1)
        if not 1 <= count <= 10:
            raise AwsError("InvalidParameterValue", f"Value {count} for parameter MaxNumberOfMessages is invalid. "
                                                    "Reason: Must be between 1 and 10, if provided.")
        visibility = params.get("VisibilityTimeout")
        if visibility is not None and not 0 <= visibility <= MAX_VISIBILITY:
            raise AwsError("InvalidParameterValue", f"Value {visibility} for parameter VisibilityTimeout is invalid. "
                                                    "Reason: Must be >= 0 and <= 43200, if provided.")
        wait = params.get("WaitTimeSeconds")
        if wait is not None and not 0 <= wait <= 20:
            raise AwsError("InvalidParameterValue", f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: "
                                                    "Must be >= 0 and <= 20, if provided.")
        if wait is None:
            wait = queue.int_attr("ReceiveMessageWaitTimeSeconds")
        if visibility is None:
            visibility = queue.int_attr("VisibilityTimeout")
        attempt = params.get("ReceiveRequestAttemptId") if queue.fifo else None
        messages = self._receive(ctx, queue, count, visibility, attempt)
        if not messages and wait > 0:
            clock_deadline = self.clock.now() + wait
            real_deadline = time.monotonic() + wait
            while not messages:
                real_left = real_deadline - time.monotonic()
                if real_left <= 0 or self.clock.now() >= clock_deadline:
                    break
                event = self._wait_event(queue.id)
                # Wake at the next message that becomes visible by the clock,
                # when one is sent, when the clock moves, or at the deadline.
                wake_at = min(clock_deadline, self._next_visible(queue.id, self.clock.now()))
                waiter = asyncio.ensure_future(event.wait())
                sleeper = asyncio.ensure_future(self.clock.sleep_until(wake_at, max_real_wait=real_left))
                try:
                    await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                    sleeper.cancel()
                current = self.find_queue(queue.region, queue.account, queue.name)
                if current is None or current.id != queue.id:
                    raise AwsError("QueueDoesNotExist", "The specified queue does not exist.")
                messages = self._receive(ctx, current, count, visibility, attempt)
        if messages:
            self.metric(queue, "NumberOfMessagesReceived", len(messages))
        else:
            self.metric(queue, "NumberOfEmptyReceives", 1)
        return {"Messages": [self._message_out(queue, m, params) for m in messages]} if messages else {}

    def _next_visible(self, queue_id: int, now: float) -> float:
        soonest = self.storage.scalar("SELECT MIN(visible_at) FROM sqs_messages WHERE queue_id = ? AND visible_at > ?",
                                      (queue_id, now))
        return soonest if soonest is not None else float("inf")

    def _receive(self, ctx, queue: Queue, count: int, visibility: int, attempt: str | None) -> list[tuple]:
        """Take up to `count` messages (rows of _MSG_COLUMNS + the receipt
        nonce, opened). A KMS refusal to open them raises and takes none."""
        now = self.clock.now()
        with self.storage.tx():
            if attempt:
                found = self._replay_attempt(queue, attempt, now)
                if found is not None:
                    return self.open_rows(ctx, queue, found)
            if queue.fifo:
                candidates = self.storage.all(
                    f"SELECT {_MSG_COLUMNS} FROM sqs_messages m WHERE queue_id = ? AND visible_at <= ? AND expires_at > ? "
                    "AND NOT EXISTS (SELECT 1 FROM sqs_messages o WHERE o.queue_id = m.queue_id AND o.group_id = m.group_id "
                    "AND o.id < m.id AND o.expires_at > ?) ORDER BY id LIMIT ?",
                    (queue.id, now, now, now, count))
                candidates = self._fifo_runs(queue, candidates, count, now)
            else:
                candidates = self.storage.all(
                    f"SELECT {_MSG_COLUMNS} FROM sqs_messages WHERE queue_id = ? AND visible_at <= ? AND expires_at > ? "
                    "ORDER BY visible_at, id LIMIT ?", (queue.id, now, now, count))
            if not candidates:
                return []
            redrive = attrs.redrive_target(queue.attributes)
            # One nonce per receive: with the row id it makes each handle unique.
            nonce = "%016x" % ids.bits(64)
            taken = []
            for row in candidates:
                if redrive is not None and row[8] >= redrive[1] and self._dead_letter(queue, row, redrive[0], now):
                    continue
                taken.append(row[:8] + (row[8] + 1, row[9] if row[9] is not None else now) + row[10:] + (nonce,))
            taken = self.open_rows(ctx, queue, taken)
            if taken:
                marks = ",".join("?" * len(taken))
                self.storage.execute(
                    "UPDATE sqs_messages SET visible_at = ?, receive_count = receive_count + 1, "
                    f"first_receive = COALESCE(first_receive, ?), receipt = ?, received_at = ? WHERE id IN ({marks})",
                    (now + visibility, now, nonce, now, *(t[0] for t in taken)))
            if attempt and taken:
                self.storage.execute(
                    "INSERT INTO sqs_receive_attempts (queue_id, attempt, expires, messages) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (queue_id, attempt) DO UPDATE SET expires = excluded.expires, messages = excluded.messages",
                    (queue.id, attempt, now + ATTEMPT_WINDOW, orjson.dumps([[t[0], t[-1]] for t in taken]).decode()))
        return taken

    def _fifo_runs(self, queue: Queue, heads: list[tuple], count: int, now: float) -> list[tuple]:
        """FIFO: from each available group's head (no message of the group
        in flight), take the group's following messages in order, the first
        group first, up to `count`."""
        out: list[tuple] = []
        for head in heads:
            if len(out) >= count:
                break
            out.append(head)
            if len(out) < count:
                out += self.storage.all(
                    f"SELECT {_MSG_COLUMNS} FROM sqs_messages WHERE queue_id = ? AND group_id = ? AND id > ? "
                    "AND visible_at <= ? AND expires_at > ? ORDER BY id LIMIT ?",
                    (queue.id, head[11], head[0], now, now, count - len(out)))
        return out[:count]

    def _replay_attempt(self, queue: Queue, attempt: str, now: float) -> list[tuple] | None:
        row = self.storage.one("SELECT expires, messages FROM sqs_receive_attempts WHERE queue_id = ? AND attempt = ?",
                               (queue.id, attempt))
        if row is None or row[0] <= now:
            return None
        out = []
        for row_id, nonce in orjson.loads(row[1]):
            found = self.storage.one(f"SELECT {_MSG_COLUMNS}, receipt FROM sqs_messages WHERE id = ? AND receipt = ? "
                                     "AND visible_at > ?", (row_id, nonce, now))
            if found is not None:
                out.append(found)
        return out

    def _dead_letter(self, queue: Queue, row: tuple, dlq_arn: str, now: float) -> bool:
        """Move a message that has been received too often to the queue's
        dead-letter queue; False if it cannot go there (it is then delivered)."""
        dlq = self.queue_by_arn(dlq_arn)
        if dlq is None or not attrs.redrive_allows(dlq.attributes, queue.arn):
            return False
        row_id, sent = row[0], row[7]
        # The message keeps its encryption (sse.py): its reader needs the
        # source queue's key, as on AWS.
        self.storage.execute(
            "INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attributes, md5_attributes, system, "
            "md5_system, sent, visible_at, expires_at, sender_id, group_id, dedup_id, seq, source_arn, data_key, "
            "sealed) "
            "SELECT ?, message_id, body, md5_body, attributes, md5_attributes, system, md5_system, sent, ?, ?, "
            "sender_id, group_id, dedup_id, seq, ?, data_key, sealed FROM sqs_messages WHERE id = ?",
            (dlq.id, now, sent + dlq.int_attr("MessageRetentionPeriod"), queue.arn, row_id))
        self.storage.execute("DELETE FROM sqs_messages WHERE id = ?", (row_id,))
        self.wake(dlq.id)
        return True

    def _message_out(self, queue: Queue, row: tuple, params: dict) -> dict:
        (row_id, message_id, body, md5_body, attributes, md5_attributes, system, sent, count, first, sender, group,
         dedup, seq, source, _expires, _data_key, _sealed, nonce) = row
        out = {"MessageId": message_id, "ReceiptHandle": receipt_handle(queue.id, row_id, nonce),
               "MD5OfBody": md5_body, "Body": body}
        wanted = set(params.get("AttributeNames") or ()) | set(params.get("MessageSystemAttributeNames") or ())
        if wanted:
            every = "All" in wanted
            values = {"SenderId": sender, "SentTimestamp": str(int(sent * 1000)),
                      "ApproximateReceiveCount": str(count),
                      "ApproximateFirstReceiveTimestamp": str(int(first * 1000))}
            if group is not None:
                values["MessageGroupId"] = group
            if dedup is not None:
                values["MessageDeduplicationId"] = dedup
            if seq is not None:
                values["SequenceNumber"] = seq
            if system:
                trace = _decode_attributes(system).get("AWSTraceHeader")
                if trace:
                    values["AWSTraceHeader"] = trace.get("StringValue", "")
            if source:
                values["DeadLetterQueueSourceArn"] = source
            picked = {k: v for k, v in values.items() if every or k in wanted}
            if picked:
                out["Attributes"] = picked
        names = params.get("MessageAttributeNames") or ()
        if names and attributes:
            decoded = _decode_attributes(attributes)
            if "All" in names or ".*" in names:
                chosen = decoded
            else:
                prefixes = tuple(n[:-2] for n in names if n.endswith(".*"))
                exact = set(names)
                chosen = {k: v for k, v in decoded.items() if k in exact or (prefixes and k.startswith(prefixes))}
            if chosen:
                out["MessageAttributes"] = chosen
                out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        return out

    # -- delete / visibility ---------------------------------------------

    def _message_for(self, queue: Queue, handle: str):
        queue_id, row_id, nonce = parse_receipt(handle)
        if queue_id != queue.id:
            raise AwsError("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt '
                                                     "handle.")
        return row_id, nonce

    def _delete(self, queue: Queue, handle: str, now: float) -> None:
        row_id, nonce = self._message_for(queue, handle)
        row = self.storage.one("SELECT receipt, visible_at FROM sqs_messages WHERE id = ? AND queue_id = ?",
                               (row_id, queue.id))
        if self._deletable(queue, handle, nonce, row, now):
            self.storage.execute("DELETE FROM sqs_messages WHERE id = ?", (row_id,))

    @staticmethod
    def _deletable(queue: Queue, handle: str, nonce: str, row, now: float) -> bool:
        """Whether a handle deletes its message (row: receipt, visible_at,
        None once deleted); raises where AWS answers with an error."""
        if row is None:
            return False  # already deleted: succeeds, as on AWS
        if row[0] != nonce:
            if queue.fifo:
                raise AwsError("InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. "
                                                        "Reason: The receipt handle has expired.")
            return False  # a stale handle: succeeds, but the message stays
        if queue.fifo and row[1] <= now:
            raise AwsError("InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. Reason: "
                                                    "The receipt handle has expired.")
        return True

    def DeleteMessage(self, ctx, params):
        queue = self.queue_for(ctx, params)
        with self.storage.tx():
            self._delete(queue, params["ReceiptHandle"], self.clock.now())
        self.metric(queue, "NumberOfMessagesDeleted", 1)
        if queue.fifo:
            self.wake(queue.id)  # the group's next message is free
        return {}

    def DeleteMessageBatch(self, ctx, params):
        queue = self.queue_for(ctx, params)
        entries = params.get("Entries") or []
        self._check_batch(entries, "DeleteMessageBatchRequestEntry")
        successful, failed = [], []
        now = self.clock.now()
        # One SELECT and one DELETE for the batch, not two statements an entry.
        parsed = []
        for entry in entries:
            handle = entry.get("ReceiptHandle") or ""
            try:
                parsed.append((entry["Id"], handle, *self._message_for(queue, handle)))
            except AwsError as err:
                parsed.append((entry["Id"], handle, err, None))
        ids = list({p[2] for p in parsed if p[3] is not None})
        with self.storage.tx():
            rows = {}
            if ids:
                # (+queue_id: by row id, not by scanning the queue's index)
                rows = {r[0]: r[1:] for r in self.storage.all(
                    f"SELECT id, receipt, visible_at FROM sqs_messages WHERE id IN ({','.join('?' * len(ids))}) "
                    "AND +queue_id = ?", (*ids, queue.id))}
            doomed = set()
            for entry_id, handle, row_id, nonce in parsed:
                try:
                    if nonce is None:
                        raise row_id  # the handle did not parse
                    if self._deletable(queue, handle, nonce, rows.get(row_id), now):
                        doomed.add(row_id)
                    successful.append({"Id": entry_id})
                except AwsError as err:
                    failed.append(self._failure(entry_id, err))
            if doomed:
                self.storage.execute(f"DELETE FROM sqs_messages WHERE id IN ({','.join('?' * len(doomed))})",
                                     tuple(doomed))
        if successful:
            self.metric(queue, "NumberOfMessagesDeleted", len(successful))
        if queue.fifo:
            self.wake(queue.id)
        return {"Successful": successful, "Failed": failed}

    def _change_visibility(self, queue: Queue, handle: str, timeout, now: float) -> None:
        if timeout is None or not 0 <= timeout <= MAX_VISIBILITY:
            raise AwsError("InvalidParameterValue", f"Value {timeout} for parameter VisibilityTimeout is invalid. "
                                                    "Reason: Must be >= 0 and <= 43200, if provided.")
        row_id, nonce = self._message_for(queue, handle)
        row = self.storage.one("SELECT receipt, visible_at, received_at FROM sqs_messages WHERE id = ? AND queue_id = ?",
                               (row_id, queue.id))
        if row is None or row[0] != nonce:
            raise AwsError("InvalidParameterValue", f"Value {handle} for parameter ReceiptHandle is invalid. Reason: "
                                                    "Message does not exist or is not available for visibility timeout "
                                                    "change.")
        if row[1] <= now:
            raise AwsError("MessageNotInflight", "The message referred to isn't in flight.")
        if now + timeout - row[2] > MAX_VISIBILITY:
            raise AwsError("InvalidParameterValue", f"Value {timeout} for parameter VisibilityTimeout is invalid. "
                                                    "Reason: Total VisibilityTimeout for the message is beyond the limit "
                                                    "[43200 seconds]")
        self.storage.execute("UPDATE sqs_messages SET visible_at = ? WHERE id = ?", (now + timeout, row_id))

    def ChangeMessageVisibility(self, ctx, params):
        queue = self.queue_for(ctx, params)
        with self.storage.tx():
            self._change_visibility(queue, params["ReceiptHandle"], params.get("VisibilityTimeout"), self.clock.now())
        if params.get("VisibilityTimeout") == 0:
            self.wake(queue.id)
        return {}

    def ChangeMessageVisibilityBatch(self, ctx, params):
        queue = self.queue_for(ctx, params)
        entries = params.get("Entries") or []
        self._check_batch(entries, "ChangeMessageVisibilityBatchRequestEntry")
        successful, failed = [], []
        now = self.clock.now()
        with self.storage.tx():
            for entry in entries:
                try:
                    self._change_visibility(queue, entry.get("ReceiptHandle") or "", entry.get("VisibilityTimeout"), now)
                    successful.append({"Id": entry["Id"]})
                except AwsError as err:
                    failed.append(self._failure(entry["Id"], err))
        self.wake(queue.id)
        return {"Successful": successful, "Failed": failed}
