"""Invoking a function (Invoke, InvokeAsync): the code unzipped once per
version of it, the execution role assumed as lambda.amazonaws.com (its
session's credentials are the function's AWS_ACCESS_KEY_ID ... and
AWS_ENDPOINT_URL points at cloudlet, so boto3 in the function calls
cloudlet with the role's permissions), the handler run by runtime.py, and
its log lines written to the function's log group as the role (as on AWS,
a role without logs permissions means no logs). Mixed into LambdaService.

- RequestResponse: the answer carries the handler's result (or its error
  with X-Amz-Function-Error: Unhandled) and, with LogType Tail, the last
  4 KB of the log, base64.
- Event: stored (a row of lambda_async) and answered 202; a job on the
  clock runs it, and retries a failed run twice, one and then two minutes
  later, as AWS does; then the DeadLetterConfig queue or topic (attributes
  RequestID, ErrorCode, ErrorMessage), sent as the role.
- DryRun: 204 once the caller may invoke.

AWS/Lambda metrics: Invocations, Errors, Duration (FunctionName).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import io
import logging
import os
import shutil
import uuid
import zipfile

import orjson

from cloudlet.errors import AwsError

log = logging.getLogger("cloudlet.lambda")

PRINCIPAL = "lambda.amazonaws.com"
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 256 * 1024
RETRY_DELAYS = (60.0, 120.0)
LEASE_SECONDS = 960.0


class InvokeOps:
    """Mixed into LambdaService."""

    # -- the code on disk --------------------------------------------------------------------

    def code_dir(self, sha: str) -> str:
        """The function's code unzipped (once per code version)."""
        safe = base64.urlsafe_b64encode(base64.b64decode(sha)).decode().rstrip("=")
        root = os.path.join(self.cloud.data_dir, "lambda-code")
        path = os.path.join(root, safe)
        if not os.path.isdir(path):
            tmp = f"{path}.{uuid.uuid4().hex}.tmp"
            os.makedirs(tmp)
            with zipfile.ZipFile(io.BytesIO(self.code_bytes(sha))) as archive:
                archive.extractall(tmp)
            try:
                os.rename(tmp, path)
            except OSError:  # another invocation unzipped it first
                shutil.rmtree(tmp, ignore_errors=True)
        return path

    # -- roles -------------------------------------------------------------------------------

    @property
    def _roles(self):
        from cloudlet.gateway.servicerole import ServiceRoles

        roles = self.__dict__.get("_exec_roles")
        if roles is None:
            roles = self.__dict__["_exec_roles"] = ServiceRoles(self.cloud, PRINCIPAL, "lambda")
        return roles

    def _session(self, fn: dict):
        """(principal, issued key) of the execution role's session: the key
        carries the secret and token the function gets."""
        from cloudlet.gateway.identity import IssuedKeys

        principal = self._roles.principal(fn["config"]["Role"], fn["account"], fn["region"],
                                          fn["config"]["FunctionArn"])
        return principal, IssuedKeys(self.cloud).lookup(principal.access_key)

    # -- Invoke -------------------------------------------------------------------------------

    async def Invoke(self, ctx, params):
        fn, version = self.resolve(ctx, params["FunctionName"], params)
        kind = params.get("InvocationType") or "RequestResponse"
        payload = params.get("Payload") or b""
        if isinstance(payload, str):
            payload = payload.encode()
        if kind == "DryRun":
            return {"StatusCode": 204, "Payload": b""}
        if kind == "Event":
            if len(payload) > MAX_ASYNC_PAYLOAD:
                raise AwsError("RequestEntityTooLargeException", f"{len(payload)} byte payload is too large for the "
                                                                 "Event invocation type (limit 262144 bytes)", 413)
            request_id = str(uuid.uuid4())
            self.enqueue(fn, request_id, payload, version)
            return {"StatusCode": 202, "Payload": b""}
        if len(payload) > MAX_SYNC_PAYLOAD:
            raise AwsError("RequestEntityTooLargeException", f"{len(payload)} byte payload is too large for the "
                                                             "RequestResponse invocation type (limit 6291456 bytes)",
                           413)
        if self.throttled(fn):
            raise AwsError("TooManyRequestsException", "Rate Exceeded.", 429)
        result = await self.run(fn, payload, str(uuid.uuid4()), params.get("ClientContext"), version)
        out = {"StatusCode": 200, "Payload": result.payload, "ExecutedVersion": version}
        if result.error_type:
            out["FunctionError"] = result.error_type
        if params.get("LogType") == "Tail":
            text = "\n".join(result.log_lines) + "\n"
            out["LogResult"] = base64.b64encode(text.encode()[-4096:]).decode()
        return out

    async def InvokeAsync(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        args = params.get("InvokeArgs") or b""
        self.enqueue(fn, str(uuid.uuid4()), args if isinstance(args, bytes) else args.read())
        return {"Status": 202}

    # -- one run -----------------------------------------------------------------------------------

    def _running(self) -> dict:
        return self.__dict__.setdefault("_running_counts", {})

    def throttled(self, fn: dict) -> bool:
        """Whether the function's reserved concurrency is all in use."""
        reserved = self.reserved_concurrency(fn)
        return reserved is not None and self._running().get((fn["account"], fn["region"], fn["name"]), 0) >= reserved

    async def run(self, fn: dict, payload: bytes, request_id: str, client_context: str | None = None,
                  version: str = "$LATEST"):
        key = (fn["account"], fn["region"], fn["name"])
        running = self._running()
        running[key] = running.get(key, 0) + 1
        try:
            return await self._run(fn, payload, request_id, client_context, version)
        finally:
            running[key] -= 1
            if not running[key]:
                del running[key]

    async def _run(self, fn: dict, payload: bytes, request_id: str, client_context: str | None, version: str):
        from cloudlet.services.awslambda import runtime

        config = fn["config"]
        try:
            principal, issued = self._session(fn)
        except AwsError as err:
            return runtime.Result(payload=orjson.dumps({
                "errorMessage": f"The role defined for the function cannot be assumed by Lambda: {err.message}",
                "errorType": "Lambda.AccessDeniedException"}), error_type="Unhandled", log_lines=[],
                duration_ms=0.0, timed_out=False)
        now = self.clock.now()
        stream = f"{_dt.datetime.fromtimestamp(now, _dt.timezone.utc):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
        group = config["LoggingConfig"]["LogGroup"]
        env = {
            "AWS_ACCESS_KEY_ID": issued.access_key, "AWS_SECRET_ACCESS_KEY": issued.secret,
            "AWS_SESSION_TOKEN": issued.session_token or "", "AWS_REGION": fn["region"],
            "AWS_DEFAULT_REGION": fn["region"], "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.cloud.settings.port}",
            "AWS_LAMBDA_FUNCTION_NAME": fn["name"], "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
            "AWS_LAMBDA_FUNCTION_VERSION": version, "AWS_LAMBDA_LOG_GROUP_NAME": group,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream, "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config['Runtime']}",
        }
        code_dir = self.code_dir(fn["code_sha"])
        opt = self.opt_dir(config.get("Layers") or [])
        if opt is not None:
            env.update(self.layer_env(opt, config["Runtime"], code_dir))
        env.update((config.get("Environment") or {}).get("Variables") or {})
        invocation = runtime.Invocation(
            code_dir=code_dir, handler=config["Handler"], payload=payload, env=env,
            request_id=request_id, function_name=fn["name"], function_arn=config["FunctionArn"],
            memory_mb=config["MemorySize"], timeout_s=float(config["Timeout"]), log_group=group, log_stream=stream,
            version=version, client_context=client_context, runtime=config["Runtime"])
        result = await runtime.invoke(invocation)
        dims = {"FunctionName": fn["name"]}
        metrics = self.cloud.metrics
        metrics(fn["account"], fn["region"], "AWS/Lambda", "Invocations", dims, 1.0, "Count")
        metrics(fn["account"], fn["region"], "AWS/Lambda", "Duration", dims, result.duration_ms, "Milliseconds")
        if result.error_type:
            metrics(fn["account"], fn["region"], "AWS/Lambda", "Errors", dims, 1.0, "Count")
        await self._write_logs(fn, principal, group, stream, now, result.log_lines)
        return result

    async def _write_logs(self, fn: dict, principal, group: str, stream: str, started: float, lines: list[str]):
        from cloudlet.services.logs.writer import put_log_events

        when = int(started * 1000)
        try:
            await put_log_events(self.cloud, principal, fn["account"], fn["region"], PRINCIPAL, group, stream,
                                 [(when, line) for line in lines])
        except AwsError as err:
            log.info("function %s: its logs were not written (%s %s)", fn["name"], err.code, err.message)

    # -- asynchronous invocations ----------------------------------------------------------------------

    def _async_tasks(self) -> set:
        return self.__dict__.setdefault("_async_inflight", set())

    def enqueue(self, fn: dict, request_id: str, payload: bytes, version: str = "$LATEST") -> None:
        now = self.clock.now()
        # (the version that runs travels with the name: "fn" or "fn:3")
        name = fn["name"] if version == "$LATEST" else f"{fn['name']}:{version}"
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_async (account, region, name, request_id, payload, created, "
                                 "next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (fn["account"], fn["region"], name, request_id, payload, now, now))
        self._kick(now)

    def _kick(self, when: float) -> None:
        self.cloud.scheduler.at("lambda-async", when, self.run_async)

    def recover_async(self) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE lambda_async SET leased = 0, next_attempt = ? WHERE leased = 1",
                                 (self.clock.now(),))
        self._next_async()

    def _next_async(self) -> None:
        when = self.storage.scalar("SELECT MIN(next_attempt) FROM lambda_async WHERE leased = 0")
        if when is not None:
            self._kick(when)

    async def run_async(self, now: float) -> None:
        rows = self.storage.all("SELECT id, account, region, name, request_id, payload, attempt, created FROM "
                                "lambda_async "
                                "WHERE leased = 0 AND next_attempt <= ? ORDER BY id LIMIT 100", (now,))
        with self.storage.tx():
            for row in rows:
                self.storage.execute("UPDATE lambda_async SET leased = 1, next_attempt = ? WHERE id = ?",
                                     (now + LEASE_SECONDS, row[0]))
        for row in rows:
            task = asyncio.get_running_loop().create_task(self._run_one(row))
            self._async_tasks().add(task)
            task.add_done_callback(self._async_tasks().discard)
        if len(rows) == 100:
            self._kick(now)
        else:
            self._next_async()

    async def _run_one(self, row) -> None:
        row_id, account, region, name, request_id, payload, attempt, created = row
        name, _, version = name.partition(":")
        version = version or "$LATEST"
        fn = self.find_function(account, region, name)
        if fn is not None and version != "$LATEST":
            found = self._version(fn, version)
            fn = None if found is None else dict(fn, config=found["config"], code_sha=found["code_sha"])
        if fn is None:
            self._done(row_id)
            return
        if self.throttled(fn):
            # (throttled events wait and are tried again, not counted as attempts, as on AWS)
            with self.storage.tx():
                self.storage.execute("UPDATE lambda_async SET leased = 0, next_attempt = ? WHERE id = ?",
                                     (self.clock.now() + 60.0, row_id))
            self._next_async()
            return
        settings = self.invoke_config(fn, version) or self.invoke_config(fn) or {}
        retries = settings.get("MaximumRetryAttempts", len(RETRY_DELAYS))
        max_age = settings.get("MaximumEventAgeInSeconds", 21600)
        started = self.clock.now()  # (retry delays count from the attempt's start)
        payload = bytes(payload)
        result = await self.run(fn, payload, request_id, version=version)
        if not result.error_type:
            self._done(row_id)
            await self.send_to_destination(fn, version, request_id, payload, result, "Success", attempt + 1)
            return
        if attempt < min(retries, len(RETRY_DELAYS)):
            retry_at = started + RETRY_DELAYS[attempt]
            if retry_at - created <= max_age:
                with self.storage.tx():
                    self.storage.execute("UPDATE lambda_async SET attempt = ?, leased = 0, next_attempt = ? "
                                         "WHERE id = ?", (attempt + 1, retry_at, row_id))
                self._next_async()
                return
            condition = "EventAgeExceeded"
        else:
            condition = "RetriesExhausted"
        self._done(row_id)
        await self._dead_letter(fn, request_id, payload, result)
        await self.send_to_destination(fn, version, request_id, payload, result, condition, attempt + 1)

    def _done(self, row_id: int) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_async WHERE id = ?", (row_id,))

    async def _dead_letter(self, fn: dict, request_id: str, payload: bytes, result) -> None:
        target = (fn["config"].get("DeadLetterConfig") or {}).get("TargetArn")
        if not target:
            return
        try:
            error = orjson.loads(result.payload)
        except orjson.JSONDecodeError:
            error = {}
        attributes = {"RequestID": {"DataType": "String", "StringValue": request_id},
                      "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                      "ErrorMessage": {"DataType": "String",
                                       "StringValue": str(error.get("errorMessage") or "Unhandled")[:1024]}}
        parts = target.split(":")
        try:
            principal, _ = self._session(fn)
            common = dict(account_id=parts[4], region=parts[3], invoked_by=PRINCIPAL, principal=principal)
            if parts[2] == "sqs":
                await self.cloud.gateway.call("sqs", "SendMessage", {
                    "QueueUrl": self.cloud.service("sqs").queue_url(parts[3], parts[4], parts[5]),
                    "MessageBody": payload.decode("utf-8", "replace"), "MessageAttributes": attributes}, **common)
            elif parts[2] == "sns":
                await self.cloud.gateway.call("sns", "Publish", {
                    "TopicArn": target, "Message": payload.decode("utf-8", "replace"),
                    "MessageAttributes": attributes}, **common)
        except AwsError as err:
            log.info("function %s: dead-letter to %s failed: %s", fn["name"], target, err.code)

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait (real time, bounded) for asynchronous runs under way: a clock
        move answers once the runs it made due are done."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = set(self._async_tasks()) | set(self.esm_batches())
            left = deadline - loop.time()
            if not pending or left <= 0:
                return
            await asyncio.wait(pending, timeout=left)
