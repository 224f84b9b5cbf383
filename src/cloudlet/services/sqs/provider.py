"""Amazon Simple Queue Service: standard and FIFO queues over the JSON and
the query protocols.

Queues and messages live in SQLite (store.py); waiting receivers are woken
by in-process events (a hint only: they re-read storage when woken). The
retention sweep and message move tasks run on cloudlet's clock.
"""

from __future__ import annotations

import asyncio

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.sqs.messaging import MessagingOps
from cloudlet.services.sqs.movetasks import MoveTaskOps
from cloudlet.services.sqs.queues import QueueOps
from cloudlet.services.sqs.querycompat import MODEL_PATCH
from cloudlet.services.sqs.sse import EncryptionOps
from cloudlet.services.sqs.store import MIGRATIONS

# IAM authorizes the batch operations as their single forms.
_ACTIONS = {"SendMessageBatch": "sqs:SendMessage", "DeleteMessageBatch": "sqs:DeleteMessage",
            "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


class SqsService(QueueOps, MessagingOps, MoveTaskOps, EncryptionOps, Service):
    model_name = "sqs"
    migrations = MIGRATIONS
    model_patch = MODEL_PATCH

    def __init__(self, cloud):
        super().__init__(cloud)
        # Long polls waiting per queue id: wake-up hints, not state.
        self._waiters: dict = {}
        # Queue rows by (account, region, name); see QueueOps.forget_queue.
        self._queue_cache: dict = {}
        # Background deletions in progress (kept so they are not collected).
        self._background: set = set()
        # Encryption at rest (sse.py): SQS's own key, and the data keys in
        # use per requester (plaintext keys, this process only).
        self._sse_sqs = None
        self._send_keys: dict = {}
        self._open_keys: dict = {}

    def start(self) -> None:
        self.cloud.scheduler.every("sqs-retention", 60, self._sweep)
        # Messages of queues deleted while cloudlet was stopped (a full scan,
        # so once per start, not per sweep).
        self.cloud.scheduler.at("sqs-orphans", self.clock.now(), self._orphans)
        self.cloud.scheduler.every("sqs-move-tasks", 1, self.run_move_tasks)
        self.cloud.clock.on_change(self._wake_all)
        self.cloud.metrics.add_sampler("sqs", self.sample_metrics)

    def _wake_all(self) -> None:
        for queue_id in list(self._waiters):
            self.wake(queue_id)

    async def _sweep(self, now: float) -> None:
        await self.delete_messages("expires_at <= ?", (now,))
        with self.storage.tx():
            self.storage.execute("DELETE FROM sqs_dedup WHERE expires <= ?", (now,))
            self.storage.execute("DELETE FROM sqs_receive_attempts WHERE expires <= ?", (now,))
            self.storage.execute("DELETE FROM sqs_deleted_queues WHERE deleted <= ?", (now - 3600,))
        self.forget_data_keys(now)

    async def _orphans(self, now: float) -> None:
        await self.delete_messages("queue_id NOT IN (SELECT id FROM sqs_queues)", ())

    async def delete_messages(self, where: str, params: tuple, chunk: int = 5000) -> int:
        """Delete messages matching `where`, a slice per transaction, yielding
        to other requests between slices."""
        total = 0
        while True:
            with self.storage.tx():
                cur = self.storage.execute(
                    f"DELETE FROM sqs_messages WHERE id IN (SELECT id FROM sqs_messages WHERE {where} LIMIT ?)",
                    (*params, chunk))
            await self.storage.flush()
            total += cur.rowcount
            if cur.rowcount < chunk:
                return total
            await asyncio.sleep(0)

    def delete_messages_later(self, where: str, params: tuple) -> None:
        task = asyncio.get_running_loop().create_task(self.delete_messages(where, params))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def reset(self) -> None:
        self._queue_cache.clear()
        self._send_keys.clear()
        self._open_keys.clear()
        self._wake_all()

    # -- input checks (SQS's own words, not the generic ones) -----------

    def check_input(self, op, params: dict, request) -> None:
        """SQS answers a missing parameter with MissingParameter and reads a
        query request's queue from its path, as the query API allows."""
        shape = op.input
        if shape is None:
            return
        if "QueueUrl" in shape.members and not params.get("QueueUrl"):
            pieces = [p for p in request.path.split("/") if p]
            if len(pieces) == 2 and pieces[0].isdigit():
                params["QueueUrl"] = f"http://{request.host or 'localhost'}/{pieces[0]}/{pieces[1]}"
        for name in shape.required:
            if params.get(name) is None:
                raise AwsError("MissingParameter", f"The request must contain the parameter {name}.")

    # -- authorization ---------------------------------------------------

    def authz_action(self, operation: str) -> str | None:
        return _ACTIONS.get(operation)

    def _target_arn(self, ctx, operation: str, params: dict) -> str | None:
        if params.get("QueueUrl"):
            try:
                region, account, name = self.parse_queue_url(params["QueueUrl"], ctx.region)
            except AwsError:
                return None
            return self.queue_arn(region, account, name)
        if operation in ("CreateQueue", "GetQueueUrl") and params.get("QueueName"):
            account = params.get("QueueOwnerAWSAccountId") or ctx.account_id
            return self.queue_arn(ctx.region, account, params["QueueName"])
        if params.get("SourceArn"):
            return params["SourceArn"]
        return None

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        arn = self._target_arn(ctx, operation, params)
        return [arn] if arn else ["*"]

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        if not resource.startswith("arn:aws:sqs:"):
            return None
        queue = self.queue_by_arn(resource)
        if queue is None:
            return None
        if params.get("QueueUrl"):
            ctx.extra["sqs_queue"] = queue  # the handler needs it too
        policy = queue.attributes.get("Policy")
        # Without a policy, another account's caller is refused by the
        # engine (the resource account comes from the queue's ARN).
        return (policy, queue.account) if policy else None
