"""Queue operations: create, find, list, delete, purge, attributes, tags,
permissions, dead-letter sources."""

from __future__ import annotations

import re
import orjson

from cloudlet.errors import AwsError
from cloudlet.services.sqs import attributes as attrs

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
DELETE_COOLDOWN = 60
PURGE_COOLDOWN = 60
MAX_TAGS = 50


def queue_missing() -> AwsError:
    return AwsError("QueueDoesNotExist", "The specified queue does not exist.")


class Queue:
    """One queue row, with its attributes decoded."""

    __slots__ = ("id", "account", "region", "name", "arn", "fifo", "created", "modified", "attributes", "tags",
                 "purged", "kms_key", "sse_sqs", "reuse")

    def __init__(self, row):
        (self.id, self.account, self.region, self.name, self.arn, fifo, self.created, self.modified, attributes,
         tags, self.purged) = row
        self.fifo = bool(fifo)
        self.attributes: dict[str, str] = orjson.loads(attributes)
        self.tags: dict[str, str] = orjson.loads(tags)
        # Server-side encryption (sse.py): SSE-KMS with this key, or SSE-SQS.
        self.kms_key: str | None = self.attributes.get("KmsMasterKeyId") or None
        self.sse_sqs = self.kms_key is None and self.attributes.get("SqsManagedSseEnabled") == "true"
        self.reuse = int(self.attributes.get("KmsDataKeyReusePeriodSeconds") or 300)

    def int_attr(self, name: str) -> int:
        return int(self.attributes[name])

    @property
    def content_dedup(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication") == "true"


_QUEUE_COLUMNS = "id, account, region, name, arn, fifo, created, modified, attributes, tags, purged"


class QueueOps:
    """Mixin of SqsService."""

    # -- naming ----------------------------------------------------------

    def queue_url(self, region: str, account: str, name: str) -> str:
        return f"http://sqs.{region}.localhost:{self.cloud.settings.port}/{account}/{name}"

    @staticmethod
    def queue_arn(region: str, account: str, name: str) -> str:
        return f"arn:aws:sqs:{region}:{account}:{name}"

    @staticmethod
    def parse_queue_url(url: str, region: str) -> tuple[str, str, str]:
        """(region, account, name) named by a queue URL in any of the forms
        users have: cloudlet's, localhost:4566/<account>/<name>, or AWS's
        https://sqs.<region>.amazonaws.com/<account>/<name>."""
        host = ""
        path = url
        scheme = url.find("://")
        if scheme >= 0:
            rest = url[scheme + 3:]
            slash = rest.find("/")
            host, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
        pieces = [p for p in path.split("/") if p]
        if len(pieces) != 2 or not (pieces[0].isdigit() and len(pieces[0]) == 12):
            raise AwsError("InvalidAddress", f"The address {url} is not valid for this endpoint.")
        if host.startswith("sqs."):
            labels = host.split(".")
            if len(labels) >= 3 and labels[1].count("-") >= 2:
                region = labels[1]
        return region, pieces[0], pieces[1]

    @staticmethod
    def parse_queue_arn(arn: str) -> tuple[str, str, str] | None:
        parts = arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
            return None
        return parts[3], parts[4], parts[5]

    # -- lookups ---------------------------------------------------------

    def find_queue(self, region: str, account: str, name: str) -> Queue | None:
        key = (account, region, name)
        queue = self._queue_cache.get(key)
        if queue is None:
            row = self.storage.one(f"SELECT {_QUEUE_COLUMNS} FROM sqs_queues WHERE account = ? AND region = ? "
                                   "AND name = ?", key)
            if row is None:
                return None
            queue = self._queue_cache[key] = Queue(row)
        return queue

    def forget_queue(self, queue: Queue) -> None:
        """Drop a changed queue from the cache of queue rows (a cache of
        storage for this process; every queue write goes through here)."""
        self._queue_cache.pop((queue.account, queue.region, queue.name), None)

    def queue_by_arn(self, arn: str) -> Queue | None:
        parsed = self.parse_queue_arn(arn)
        return self.find_queue(*parsed) if parsed else None

    def queue_for(self, ctx, params: dict) -> Queue:
        # The authorizer may already have read it for this request.
        queue = ctx.extra.get("sqs_queue")
        if queue is None:
            region, account, name = self.parse_queue_url(params["QueueUrl"], ctx.region)
            queue = self.find_queue(region, account, name)
            if queue is None:
                raise queue_missing()
        return queue

    def _arn_exists(self, arn: str) -> tuple[bool, bool]:
        queue = self.queue_by_arn(arn)
        return (queue is not None, bool(queue and queue.fifo))

    # -- queues ----------------------------------------------------------

    def CreateQueue(self, ctx, params):
        name = params["QueueName"]
        given = dict(params.get("Attributes") or {})
        fifo = name.endswith(".fifo")
        if given.get("FifoQueue", "").lower() == "true" and not fifo:
            raise AwsError("InvalidParameterValue", "The name of a FIFO queue can only include alphanumeric characters, "
                                                    "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 "
                                                    "in length.")
        if fifo and not _FIFO_NAME.match(name):
            raise AwsError("InvalidParameterValue", "The name of a FIFO queue can only include alphanumeric characters, "
                                                    "hyphens, or underscores, must end with .fifo suffix and be 1 to 80 "
                                                    "in length.")
        if fifo and given.get("FifoQueue", "true").lower() != "true":
            raise attrs.invalid_value("FifoQueue")
        if not fifo and not _NAME.match(name):
            raise AwsError("InvalidParameterValue", "Can only include alphanumeric characters, hyphens, or underscores. "
                                                    "1 to 80 in length")
        checked = attrs.validate(given, fifo, creating=True, resolve_arn=self._arn_exists)
        attrs.check_encryption(checked)
        self._check_redrive_allowed(checked, self.queue_arn(ctx.region, ctx.account_id, name))
        wanted = attrs.defaults(fifo)
        wanted.update(checked)
        attrs.apply_encryption(wanted, checked)
        if fifo:
            wanted["FifoQueue"] = "true"
        tags = dict(params.get("tags") or {})
        if len(tags) > MAX_TAGS:
            raise AwsError("InvalidParameterValue", f"Too many tags added for queue {name}.")
        account, region = ctx.account_id, ctx.region
        now = self.clock.now()
        with self.storage.tx():
            existing = self.find_queue(region, account, name)
            if existing is not None:
                for key, value in checked.items():
                    if existing.attributes.get(key, "") != value:
                        raise AwsError("QueueNameExists", f"A queue already exists with the same name and a "
                                                          f"different value for attribute {key}")
                return {"QueueUrl": self.queue_url(region, account, name)}
            deleted = self.storage.scalar("SELECT deleted FROM sqs_deleted_queues WHERE account = ? AND region = ? "
                                          "AND name = ?", (account, region, name))
            if deleted is not None and now - deleted < DELETE_COOLDOWN:
                raise AwsError("QueueDeletedRecently", "You must wait 60 seconds after deleting a queue before you can "
                                                       "create another with the same name.")
            self.storage.execute(
                "INSERT INTO sqs_queues (account, region, name, arn, fifo, created, modified, attributes, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, region, name, self.queue_arn(region, account, name), int(fifo), now, now,
                 orjson.dumps(wanted).decode(), orjson.dumps(tags).decode()))
        return {"QueueUrl": self.queue_url(region, account, name)}

    def _check_redrive_allowed(self, checked: dict, source_arn: str) -> None:
        target = attrs.redrive_target(checked)
        if target is None:
            return
        dlq = self.queue_by_arn(target[0])
        if dlq is not None and not attrs.redrive_allows(dlq.attributes, source_arn):
            raise AwsError("InvalidParameterValue", f"Value {checked['RedrivePolicy']} for parameter RedrivePolicy is "
                                                    f"invalid. Reason: Queue {target[0]} does not allow this queue to "
                                                    "use it as a dead-letter queue.")

    def GetQueueUrl(self, ctx, params):
        account = params.get("QueueOwnerAWSAccountId") or ctx.account_id
        queue = self.find_queue(ctx.region, account, params["QueueName"])
        if queue is None:
            raise queue_missing()
        return {"QueueUrl": self.queue_url(queue.region, queue.account, queue.name)}

    def ListQueues(self, ctx, params):
        prefix = params.get("QueueNamePrefix") or ""
        limit = params.get("MaxResults")
        if limit is not None and not 1 <= limit <= 1000:
            raise AwsError("InvalidParameterValue", f"Value {limit} for parameter MaxResults is invalid. Reason: "
                                                    "MaxResults must be an integer between 1 and 1000.")
        start = ""
        token = params.get("NextToken")
        if token:
            if limit is None:
                raise AwsError("InvalidParameterValue", "MaxResults is a mandatory parameter when you provide a value "
                                                        "for NextToken.")
            start = token
        rows = self.storage.all(
            "SELECT region, account, name FROM sqs_queues WHERE account = ? AND region = ? AND name > ? "
            "AND substr(name, 1, ?) = ? ORDER BY name LIMIT ?",
            (ctx.account_id, ctx.region, start, len(prefix), prefix, (limit or 1000) + 1))
        page = rows[: limit or 1000]
        out: dict = {}
        if page:
            out["QueueUrls"] = [self.queue_url(r, a, n) for r, a, n in page]
        if limit is not None and len(rows) > limit:
            out["NextToken"] = page[-1][2]
        return out

    def DeleteQueue(self, ctx, params):
        queue = self.queue_for(ctx, params)
        with self.storage.tx():
            self.storage.execute("DELETE FROM sqs_dedup WHERE queue_id = ?", (queue.id,))
            self.storage.execute("DELETE FROM sqs_receive_attempts WHERE queue_id = ?", (queue.id,))
            self.storage.execute("DELETE FROM sqs_queues WHERE id = ?", (queue.id,))
            self.forget_queue(queue)
            self.storage.execute("INSERT INTO sqs_deleted_queues (account, region, name, deleted) VALUES (?, ?, ?, ?) "
                                 "ON CONFLICT (account, region, name) DO UPDATE SET deleted = excluded.deleted",
                                 (queue.account, queue.region, queue.name, self.clock.now()))
        # Its messages are deleted in the background, a slice at a time, so
        # a big queue does not stall the server (AWS takes up to 60 s too).
        self.delete_messages_later("queue_id = ?", (queue.id,))
        self.wake(queue.id)
        return {}

    async def PurgeQueue(self, ctx, params):
        queue = self.queue_for(ctx, params)
        now = self.clock.now()
        if queue.purged is not None and now - queue.purged < PURGE_COOLDOWN:
            raise AwsError("PurgeQueueInProgress", f"Only one PurgeQueue operation on {queue.name} is allowed every 60 "
                                                   "seconds.")
        with self.storage.tx():
            self.storage.execute("UPDATE sqs_queues SET purged = ? WHERE id = ?", (now, queue.id))
            self.forget_queue(queue)
        # A slice at a time, letting other requests run in between.
        await self.delete_messages("queue_id = ? AND sent <= ?", (queue.id, now))
        return {}

    # -- attributes ------------------------------------------------------

    def counts(self, queue: Queue, now: float) -> tuple[int, int, int]:
        """(visible, in flight, delayed) message counts, approximate as
        SQS's are: the visible count reads only the (queue, visible_at)
        index (expired messages count until the retention sweep takes
        them); in flight and delayed, usually few, are read row by row."""
        visible = self.storage.scalar("SELECT COUNT(*) FROM sqs_messages WHERE queue_id = ? AND visible_at <= ?",
                                      (queue.id, now))
        hidden = self.storage.all("SELECT receive_count > 0, COUNT(*) FROM sqs_messages WHERE queue_id = ? "
                                  "AND visible_at > ? GROUP BY receive_count > 0", (queue.id, now))
        by_kind = dict(hidden)
        return visible, by_kind.get(1, 0), by_kind.get(0, 0)

    def GetQueueAttributes(self, ctx, params):
        queue = self.queue_for(ctx, params)
        names = list(params.get("AttributeNames") or [])
        for name in names:
            if name != "All" and name not in attrs.ALL_NAMES:
                raise attrs.unknown(name)
            if not queue.fifo and name in ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
                                           "FifoThroughputLimit"):
                raise attrs.unknown(name)
        wanted = set(names)
        everything = "All" in wanted
        now = self.clock.now()
        values: dict[str, str] = {}
        for key, value in queue.attributes.items():
            if value != "" and (everything or key in wanted):
                values[key] = value
        if everything or wanted & {"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                   "ApproximateNumberOfMessagesDelayed"}:
            visible, inflight, delayed = self.counts(queue, now)
            computed = {"ApproximateNumberOfMessages": visible, "ApproximateNumberOfMessagesNotVisible": inflight,
                        "ApproximateNumberOfMessagesDelayed": delayed}
            for key, value in computed.items():
                if everything or key in wanted:
                    values[key] = str(value)
        extra = {"CreatedTimestamp": str(int(queue.created)), "LastModifiedTimestamp": str(int(queue.modified)),
                 "QueueArn": queue.arn}
        for key, value in extra.items():
            if everything or key in wanted:
                values[key] = value
        return {"Attributes": values} if values else {}

    def SetQueueAttributes(self, ctx, params):
        queue = self.queue_for(ctx, params)
        given = dict(params.get("Attributes") or {})
        checked = attrs.validate(given, queue.fifo, creating=False, resolve_arn=self._arn_exists)
        attrs.check_encryption(checked)
        self._check_redrive_allowed(checked, queue.arn)
        merged = dict(queue.attributes)
        for key, value in checked.items():
            if value == "" and key in ("Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId"):
                merged.pop(key, None)
            else:
                merged[key] = value
        attrs.apply_encryption(merged, checked)
        with self.storage.tx():
            self.storage.execute("UPDATE sqs_queues SET attributes = ?, modified = ? WHERE id = ?",
                                 (orjson.dumps(merged).decode(), self.clock.now(), queue.id))
            self.forget_queue(queue)
        self.wake(queue.id)  # a shorter delay or wait may change what waiters see
        return {}

    # -- tags ------------------------------------------------------------

    def _save_tags(self, queue: Queue, tags: dict) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE sqs_queues SET tags = ? WHERE id = ?", (orjson.dumps(tags).decode(), queue.id))
            self.forget_queue(queue)

    def TagQueue(self, ctx, params):
        queue = self.queue_for(ctx, params)
        tags = dict(queue.tags)
        tags.update(params["Tags"])
        if len(tags) > MAX_TAGS:
            raise AwsError("InvalidParameterValue", f"Too many tags added for queue {queue.name}.")
        self._save_tags(queue, tags)
        return {}

    def UntagQueue(self, ctx, params):
        queue = self.queue_for(ctx, params)
        tags = {k: v for k, v in queue.tags.items() if k not in set(params["TagKeys"])}
        self._save_tags(queue, tags)
        return {}

    def ListQueueTags(self, ctx, params):
        queue = self.queue_for(ctx, params)
        return {"Tags": queue.tags} if queue.tags else {}

    # -- permissions -----------------------------------------------------

    def _policy_doc(self, queue: Queue) -> dict:
        raw = queue.attributes.get("Policy")
        if raw:
            return orjson.loads(raw)
        return {"Version": "2012-10-17", "Id": f"{queue.arn}/SQSDefaultPolicy", "Statement": []}

    def _save_policy(self, queue: Queue, doc: dict | None) -> None:
        merged = dict(queue.attributes)
        if doc and doc.get("Statement"):
            merged["Policy"] = orjson.dumps(doc).decode()
        else:
            merged.pop("Policy", None)
        with self.storage.tx():
            self.storage.execute("UPDATE sqs_queues SET attributes = ?, modified = ? WHERE id = ?",
                                 (orjson.dumps(merged).decode(), self.clock.now(), queue.id))
            self.forget_queue(queue)

    def AddPermission(self, ctx, params):
        queue = self.queue_for(ctx, params)
        label = params["Label"]
        doc = self._policy_doc(queue)
        if any(s.get("Sid") == label for s in doc["Statement"]):
            raise AwsError("InvalidParameterValue", f"Value {label} for parameter Label is invalid. Reason: Already "
                                                    "exists.")
        if len(doc["Statement"]) >= 7:
            raise AwsError("OverLimit", "7 Actions were found, maximum allowed is 7.")
        accounts = params["AWSAccountIds"]
        actions = params["Actions"]
        principal = [f"arn:aws:iam::{a}:root" for a in accounts]
        doc["Statement"].append({
            "Sid": label, "Effect": "Allow",
            "Principal": {"AWS": principal[0] if len(principal) == 1 else principal},
            "Action": [f"SQS:{a}" for a in actions] if len(actions) > 1 else f"SQS:{actions[0]}",
            "Resource": queue.arn})
        self._save_policy(queue, doc)
        return {}

    def RemovePermission(self, ctx, params):
        queue = self.queue_for(ctx, params)
        label = params["Label"]
        doc = self._policy_doc(queue)
        kept = [s for s in doc["Statement"] if s.get("Sid") != label]
        if len(kept) == len(doc["Statement"]):
            raise AwsError("InvalidParameterValue", f"Value {label} for parameter Label is invalid. Reason: can't find "
                                                    "label.")
        doc["Statement"] = kept
        self._save_policy(queue, doc)
        return {}

    def ListDeadLetterSourceQueues(self, ctx, params):
        queue = self.queue_for(ctx, params)
        urls = []
        for region, account, name, raw in self.storage.all(
                "SELECT region, account, name, attributes FROM sqs_queues WHERE account = ? ORDER BY name",
                (queue.account,)):
            target = attrs.redrive_target(orjson.loads(raw))
            if target and target[0] == queue.arn:
                urls.append(self.queue_url(region, account, name))
        limit = params.get("MaxResults") or 1000
        start = int(params["NextToken"]) if params.get("NextToken", "").isdigit() else 0
        out: dict = {"queueUrls": urls[start:start + limit]}
        if params.get("MaxResults") and start + limit < len(urls):
            out["NextToken"] = str(start + limit)
        return out
