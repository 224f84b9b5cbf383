"""Dead-letter queue redrive: message move tasks that move messages back
(to their source queues or a chosen destination) at a rate, on the clock."""

from __future__ import annotations

import base64
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.sqs import attributes as attrs

DEFAULT_RATE = 500  # "system optimized" when no rate is given


def _not_found(what: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"The resource that you specified for the {what} parameter doesn't "
                                                 "exist.")


class MoveTaskOps:
    """Mixin of SqsService."""

    def _is_dead_letter_queue(self, arn: str, account: str) -> bool:
        for (raw,) in self.storage.all("SELECT attributes FROM sqs_queues WHERE account = ?", (account,)):
            target = attrs.redrive_target(orjson.loads(raw))
            if target and target[0] == arn:
                return True
        return False

    def StartMessageMoveTask(self, ctx, params):
        source_arn = params["SourceArn"]
        source = self.queue_by_arn(source_arn)
        if source is None:
            raise _not_found("SourceArn")
        if not self._is_dead_letter_queue(source_arn, source.account):
            raise AwsError("InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.")
        destination_arn = params.get("DestinationArn")
        if destination_arn and self.queue_by_arn(destination_arn) is None:
            raise _not_found("DestinationArn")
        rate = params.get("MaxNumberOfMessagesPerSecond")
        if rate is not None and not 1 <= rate <= 500:
            raise AwsError("InvalidParameterValue", f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is "
                                                    "invalid. Reason: Must be between 1 and 500.")
        now = self.clock.now()
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM sqs_move_tasks WHERE source_arn = ? AND status = 'RUNNING'",
                                (source_arn,)):
                raise AwsError("UnsupportedOperation", "There is already a task running. Only one active task is "
                                                       "allowed for a source queue arn at a given time.")
            to_move = self.storage.scalar("SELECT COUNT(*) FROM sqs_messages WHERE queue_id = ? AND expires_at > ?",
                                          (source.id, now))
            handle = base64.b64encode(orjson.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn})).decode()
            self.storage.execute(
                "INSERT INTO sqs_move_tasks (handle, source_arn, destination_arn, rate, status, started, last_tick, "
                "to_move) VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, ?)",
                (handle, source_arn, destination_arn, rate, now, now, to_move))
        return {"TaskHandle": handle}

    def ListMessageMoveTasks(self, ctx, params):
        source_arn = params["SourceArn"]
        if self.queue_by_arn(source_arn) is None:
            raise _not_found("SourceArn")
        limit = params.get("MaxResults") or 1
        if not 1 <= limit <= 10:
            raise AwsError("InvalidParameterValue", f"Value {limit} for parameter MaxResults is invalid. Reason: Must "
                                                    "be between 1 and 10.")
        rows = self.storage.all(
            "SELECT handle, status, source_arn, destination_arn, rate, moved, to_move, failure, started "
            "FROM sqs_move_tasks WHERE source_arn = ? ORDER BY started DESC, rowid DESC LIMIT ?", (source_arn, limit))
        results = []
        for handle, status, source, destination, rate, moved, to_move, failure, started in rows:
            entry = {"Status": status, "SourceArn": source, "ApproximateNumberOfMessagesMoved": moved,
                     "ApproximateNumberOfMessagesToMove": to_move, "StartedTimestamp": int(started * 1000)}
            if status == "RUNNING":
                entry["TaskHandle"] = handle
            if destination:
                entry["DestinationArn"] = destination
            if rate:
                entry["MaxNumberOfMessagesPerSecond"] = rate
            if failure:
                entry["FailureReason"] = failure
            results.append(entry)
        return {"Results": results}

    def CancelMessageMoveTask(self, ctx, params):
        handle = params["TaskHandle"]
        with self.storage.tx():
            row = self.storage.one("SELECT status, moved FROM sqs_move_tasks WHERE handle = ?", (handle,))
            if row is None:
                raise AwsError("ResourceNotFoundException", "The specified task handle is invalid.")
            if row[0] != "RUNNING":
                raise AwsError("UnsupportedOperation", "Only active tasks can be cancelled.")
            self.storage.execute("UPDATE sqs_move_tasks SET status = 'CANCELLED' WHERE handle = ?", (handle,))
        return {"ApproximateNumberOfMessagesMoved": row[1]}

    def run_move_tasks(self, now: float) -> None:
        """Scheduler job: move each running task's share of messages."""
        for handle, source_arn, destination_arn, rate, last_tick, moved, to_move, budget in self.storage.all(
                "SELECT handle, source_arn, destination_arn, rate, last_tick, moved, to_move, budget "
                "FROM sqs_move_tasks WHERE status = 'RUNNING'"):
            with self.storage.tx():
                self._move_some(handle, source_arn, destination_arn, rate or DEFAULT_RATE, last_tick, moved,
                                to_move, budget, now)

    def _move_some(self, handle, source_arn, destination_arn, rate, last_tick, moved, to_move, budget, now) -> None:
        source = self.queue_by_arn(source_arn)
        if source is None:
            self.storage.execute("UPDATE sqs_move_tasks SET status = 'FAILED', failure = ? WHERE handle = ?",
                                 ("AWS.SimpleQueueService.NonExistentQueue", handle))
            return
        budget = min(budget + rate * max(0.0, now - last_tick), float(rate * 3600))
        allowed = min(int(budget), max(0, to_move - moved))
        rows = self.storage.all("SELECT id, source_arn FROM sqs_messages WHERE queue_id = ? AND expires_at > ? "
                                "AND visible_at <= ? ORDER BY id LIMIT ?", (source.id, now, now, allowed))
        done = 0
        for row_id, original in rows:
            target_arn = destination_arn or original
            target = self.queue_by_arn(target_arn) if target_arn else None
            if target is None:
                self.storage.execute("UPDATE sqs_move_tasks SET status = 'FAILED', failure = ? WHERE handle = ?",
                                     ("AWS.SimpleQueueService.NonExistentQueue", handle))
                return
            self.storage.execute(
                "INSERT INTO sqs_messages (queue_id, message_id, body, md5_body, attributes, md5_attributes, system, "
                "md5_system, sent, visible_at, expires_at, sender_id, group_id, dedup_id, seq, data_key, sealed) "
                "SELECT ?, message_id, body, md5_body, attributes, md5_attributes, system, md5_system, sent, ?, ?, "
                "sender_id, group_id, dedup_id, seq, data_key, sealed FROM sqs_messages WHERE id = ?",
                (target.id, now, now + target.int_attr("MessageRetentionPeriod"), row_id))
            self.storage.execute("DELETE FROM sqs_messages WHERE id = ?", (row_id,))
            self.wake(target.id)
            done += 1
        moved += done
        remaining = self.storage.scalar("SELECT COUNT(*) FROM sqs_messages WHERE queue_id = ? AND expires_at > ?",
                                        (source.id, now))
        status = "COMPLETED" if moved >= to_move or remaining == 0 else "RUNNING"
        self.storage.execute("UPDATE sqs_move_tasks SET moved = ?, budget = ?, last_tick = ?, status = ? "
                             "WHERE handle = ?", (moved, budget - done, now, status, handle))
