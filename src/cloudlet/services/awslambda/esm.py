"""Event source mappings for SQS: a queue polled for a function, as Lambda
polls it. Create / Get / List / Update / DeleteEventSourceMapping.
Mixed into LambdaService.

Each enabled mapping has a poller (a task on the loop) that long-polls the
queue as the function's execution role (sqs:ReceiveMessage, DeleteMessage
and GetQueueAttributes are the role's to have, and CreateEventSourceMapping
checks them, as AWS does), invokes the function synchronously with the
batch as AWS's SQS event ({"Records": [...]}, each record with messageId,
receiptHandle, body, attributes, messageAttributes, md5OfBody, eventSource
"aws:sqs", eventSourceARN, awsRegion), then deletes the batch. A failed
invocation deletes nothing: the messages come back when their visibility
timeout ends, and the queue's RedrivePolicy moves them on, as on AWS. With
FunctionResponseTypes ReportBatchItemFailures, the function's
`batchItemFailures` are kept and the rest deleted. FilterCriteria patterns
(Event Ruler, on the record) drop what matches none: deleted unprocessed,
as AWS does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import uuid

import orjson

from cloudlet.errors import AwsError

log = logging.getLogger("cloudlet.lambda")

_WAIT = 20  # seconds of long polling (real time: a poller waits for messages, not the clock)


def esm_arn(region: str, account: str, uid: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:event-source-mapping:{uid}"


def _record(message: dict, queue_arn: str, region: str) -> dict:
    attributes = {k: v for k, v in (message.get("Attributes") or {}).items()}
    out_attrs = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        item = {"stringValue": value.get("StringValue"), "stringListValues": [], "binaryListValues": [],
                "dataType": value.get("DataType")}
        if value.get("BinaryValue") is not None:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
            item.pop("stringValue")
        out_attrs[name] = item
    return {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
            "attributes": attributes, "messageAttributes": out_attrs, "md5OfBody": message.get("MD5OfBody") or
            hashlib.md5(message["Body"].encode()).hexdigest(), "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn, "awsRegion": region}


class EventSourceMappingOps:
    """Mixed into LambdaService."""

    def _pollers(self) -> dict:
        return self.__dict__.setdefault("_esm_pollers", {})

    def _mapping(self, uid: str) -> dict | None:
        row = self.storage.one("SELECT account, region, function, source_arn, config, created, modified FROM "
                               "lambda_esm WHERE uuid = ?", (uid,))
        if row is None:
            return None
        account, region, function, source, config, created, modified = row
        return {"uuid": uid, "account": account, "region": region, "function": function, "source": source,
                "config": orjson.loads(config), "created": created, "modified": modified}

    def _esm_out(self, m: dict) -> dict:
        from cloudlet.services.awslambda.provider import function_arn

        c = m["config"]
        out = {"UUID": m["uuid"], "BatchSize": c["BatchSize"],
               "MaximumBatchingWindowInSeconds": c.get("MaximumBatchingWindowInSeconds", 0),
               "EventSourceArn": m["source"], "FunctionArn": function_arn(m["region"], m["account"], m["function"]),
               "LastModified": m["modified"], "State": "Enabled" if c.get("Enabled", True) else "Disabled",
               "StateTransitionReason": "USER_INITIATED", "FunctionResponseTypes": c.get("FunctionResponseTypes")
               or [], "EventSourceMappingArn": esm_arn(m["region"], m["account"], m["uuid"])}
        if c.get("FilterCriteria"):
            out["FilterCriteria"] = c["FilterCriteria"]
        if c.get("ScalingConfig"):
            out["ScalingConfig"] = c["ScalingConfig"]
        return out

    def _check_source(self, ctx, fn: dict, source: str) -> None:
        parts = source.split(":")
        if len(parts) != 6 or parts[2] != "sqs":
            raise AwsError("InvalidParameterValueException", "cloudlet maps SQS queues only (EventSourceArn "
                                                             f"{source}).")
        if self.cloud.service("sqs").queue_by_arn(source) is None:
            raise AwsError("InvalidParameterValueException", "Error occurred while ReceiveMessage. SQS Error Code: "
                                                             "AWS.SimpleQueueService.NonExistentQueue. SQS Error "
                                                             "Message: The specified queue does not exist.")
        principal, _ = self._session(fn)
        from cloudlet.gateway.context import RequestContext
        from cloudlet.protocol.http import HttpRequest

        sqs = self.cloud.service("sqs")
        model = self.cloud.models.get("sqs")
        url = sqs.queue_url(parts[3], parts[4], parts[5])
        for operation in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes"):
            op = model.operation(operation)
            sub = RequestContext(request_id=ctx.request_id, account_id=parts[4], region=parts[3], principal=principal,
                                 service="sqs", operation=operation, protocol="internal",
                                 request=HttpRequest("POST", "/"), cloud=self.cloud, op_model=op,
                                 invoked_by="lambda.amazonaws.com")
            params = {"QueueUrl": url, "ReceiptHandle": "x"} if operation == "DeleteMessage" else {"QueueUrl": url}
            try:
                self.cloud.authorizer.check(sub, sqs, op, params)
            except AwsError:
                raise AwsError("InvalidParameterValueException", "The function execution role does not have "
                                                                 f"permissions to call {operation} on SQS") from None

    def CreateEventSourceMapping(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        source = params.get("EventSourceArn") or ""
        self._check_source(ctx, fn, source)
        fifo = source.endswith(".fifo")
        batch = params.get("BatchSize") or 10
        if batch > (10 if fifo else 10000):
            raise AwsError("InvalidParameterValueException", f"Maximum batch size for {'FIFO ' if fifo else ''}SQS "
                                                             f"is {10 if fifo else 10000}")
        for existing in self.storage.all("SELECT uuid FROM lambda_esm WHERE account = ? AND region = ? AND "
                                         "function = ? AND source_arn = ?",
                                         (fn["account"], fn["region"], fn["name"], source)):
            raise AwsError("ResourceConflictException", f"An event source mapping with SQS arn (\" {source} \") and "
                                                        f"function (\" {fn['name']} \") already exists. Please update "
                                                        f"or delete the existing mapping with UUID {existing[0]}", 409)
        uid = str(uuid.uuid4())
        config = {"BatchSize": batch, "Enabled": params.get("Enabled", True)}
        for key in ("MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "FilterCriteria", "ScalingConfig"):
            if params.get(key) is not None:
                config[key] = params[key]
        now = self.clock.now()
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_esm (uuid, account, region, function, source_arn, config, "
                                 "created, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                 (uid, fn["account"], fn["region"], fn["name"], source, orjson.dumps(config).decode(),
                                  now, now))
        self._start_poller(uid)
        out = self._esm_out(self._mapping(uid))
        out["State"] = "Creating" if config["Enabled"] else "Disabled"
        return out

    def _known(self, uid: str) -> dict:
        found = self._mapping(uid)
        if found is None:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        return found

    def GetEventSourceMapping(self, ctx, params):
        return self._esm_out(self._known(params["UUID"]))

    def ListEventSourceMappings(self, ctx, params):
        rows = self.storage.all("SELECT uuid, function, source_arn FROM lambda_esm WHERE account = ? AND region = ? "
                                "ORDER BY created, uuid", (ctx.account_id, ctx.region))
        wanted_fn = None
        if params.get("FunctionName"):
            wanted_fn = self.function_ref(ctx, params["FunctionName"])[2]
        items = [self._esm_out(self._mapping(uid)) for uid, function, source in rows
                 if (wanted_fn is None or function == wanted_fn)
                 and (not params.get("EventSourceArn") or source == params["EventSourceArn"])]
        return {"EventSourceMappings": items}

    def UpdateEventSourceMapping(self, ctx, params):
        m = self._known(params["UUID"])
        for key in ("Enabled", "BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes",
                    "FilterCriteria", "ScalingConfig"):
            if params.get(key) is not None:
                m["config"][key] = params[key]
        if params.get("FunctionName"):
            m["function"] = self.function(ctx, params["FunctionName"])["name"]
        with self.storage.tx():
            self.storage.execute("UPDATE lambda_esm SET config = ?, function = ?, modified = ? WHERE uuid = ?",
                                 (orjson.dumps(m["config"]).decode(), m["function"], self.clock.now(), m["uuid"]))
        self._stop_poller(m["uuid"])
        self._start_poller(m["uuid"])
        return self._esm_out(self._mapping(m["uuid"]))

    def DeleteEventSourceMapping(self, ctx, params):
        m = self._known(params["UUID"])
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_esm WHERE uuid = ?", (m["uuid"],))
        self._stop_poller(m["uuid"])
        out = self._esm_out(m)
        out["State"] = "Deleting"
        return out

    # -- pollers -------------------------------------------------------------------------------

    def start_pollers(self) -> None:
        for uid, in self.storage.all("SELECT uuid FROM lambda_esm", ()):
            self._start_poller(uid)

    def stop_pollers(self) -> None:
        for uid in list(self._pollers()):
            self._stop_poller(uid)

    def _start_poller(self, uid: str) -> None:
        m = self._mapping(uid)
        if m is None or not m["config"].get("Enabled", True) or uid in self._pollers():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._pollers()[uid] = loop.create_task(self._poll(uid))

    def _stop_poller(self, uid: str) -> None:
        task = self._pollers().pop(uid, None)
        if task is not None:
            task.cancel()

    async def _poll(self, uid: str) -> None:
        from cloudlet.eventruler import compile_event_pattern, parse_event

        try:
            while True:
                m = self._mapping(uid)
                fn = self.find_function(m["account"], m["region"], m["function"]) if m else None
                if m is None or fn is None or not m["config"].get("Enabled", True):
                    self._pollers().pop(uid, None)
                    return
                try:
                    await self._poll_once(m, fn, compile_event_pattern, parse_event)
                except AwsError as err:
                    log.info("event source mapping %s: %s %s", uid, err.code, err.message)
                    await asyncio.sleep(1.0)
        except asyncio.CancelledError:
            return

    async def _poll_once(self, m: dict, fn: dict, compile_pattern, parse) -> None:
        parts = m["source"].split(":")
        region, account, name = parts[3], parts[4], parts[5]
        url = self.cloud.service("sqs").queue_url(region, account, name)
        principal, _ = self._session(fn)
        common = dict(account_id=account, region=region, invoked_by="lambda.amazonaws.com", principal=principal)
        out = await self.cloud.gateway.call("sqs", "ReceiveMessage", {
            "QueueUrl": url, "MaxNumberOfMessages": min(m["config"]["BatchSize"], 10), "WaitTimeSeconds": _WAIT,
            "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]}, **common)
        messages = out.get("Messages") or []
        if not messages:
            return
        # a batch under way: settle() (a clock move) waits for it
        busy = asyncio.get_running_loop().create_future()
        self.esm_batches().add(busy)
        try:
            await self._process(m, fn, messages, url, common, compile_pattern, parse)
        finally:
            self.esm_batches().discard(busy)
            busy.set_result(None)

    def esm_batches(self) -> set:
        return self.__dict__.setdefault("_esm_batches", set())

    async def _process(self, m: dict, fn: dict, messages: list, url: str, common: dict, compile_pattern,
                       parse) -> None:
        region = m["source"].split(":")[3]
        records = [_record(msg, m["source"], region) for msg in messages]
        patterns = [compile_pattern(f["Pattern"]) for f in (m["config"].get("FilterCriteria") or {}).get("Filters")
                    or ()]
        if patterns:
            kept = [r for r in records if any(p.matches_document(parse(orjson.dumps(r))) for p in patterns)]
        else:
            kept = records
        done = {r["messageId"] for r in records if r not in kept}  # filtered out: deleted, as on AWS
        if kept:
            result = await self.run(fn, orjson.dumps({"Records": kept}), str(uuid.uuid4()))
            if not result.error_type:
                done |= {r["messageId"] for r in kept}
                if "ReportBatchItemFailures" in (m["config"].get("FunctionResponseTypes") or ()):
                    try:
                        failures = orjson.loads(result.payload).get("batchItemFailures") or []
                        done -= {f.get("itemIdentifier") for f in failures}
                    except (orjson.JSONDecodeError, AttributeError):
                        pass
        handles = [(r["messageId"], r["receiptHandle"]) for r in records if r["messageId"] in done]
        for i in range(0, len(handles), 10):
            await self.cloud.gateway.call("sqs", "DeleteMessageBatch", {
                "QueueUrl": url, "Entries": [{"Id": str(n), "ReceiptHandle": h}
                                             for n, (_, h) in enumerate(handles[i:i + 10])]}, **common)
