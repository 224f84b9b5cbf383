"""Asynchronous invocation settings and destinations:
Put / Update / Get / Delete / ListFunctionEventInvokeConfigs
(MaximumRetryAttempts 0-2, MaximumEventAgeInSeconds 60-21600,
DestinationConfig OnSuccess / OnFailure), and the invocation record
Lambda sends to a destination (an SQS queue, an SNS topic, another
function, an EventBridge bus) as the function's execution role:
{"version": "1.0", "timestamp", "requestContext": {requestId, functionArn,
condition: Success | RetriesExhausted | EventAgeExceeded,
approximateInvokeCount}, "requestPayload", "responseContext": {statusCode,
executedVersion, functionError}, "responsePayload"}; on a bus, detail-type
"Lambda Function Invocation Result - Success" / "- Failure", source
"lambda". Mixed into LambdaService.
"""

from __future__ import annotations

import datetime as _dt
import logging

import orjson

from cloudlet.errors import AwsError

log = logging.getLogger("cloudlet.lambda")

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21600


def _iso_ms(epoch: float) -> str:
    t = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class DestinationOps:
    """Mixed into LambdaService."""

    def invoke_config(self, fn: dict, qualifier: str = "$LATEST") -> dict | None:
        row = self.storage.one("SELECT config FROM lambda_invoke_configs WHERE account = ? AND region = ? AND "
                               "name = ? AND qualifier = ?", (fn["account"], fn["region"], fn["name"], qualifier))
        return orjson.loads(row[0]) if row else None

    def _put_invoke_config(self, ctx, params: dict, replace: bool) -> dict:
        fn = self.function(ctx, params["FunctionName"])
        qualifier = params.get("Qualifier") or "$LATEST"
        current = self.invoke_config(fn, qualifier)
        if not replace and current is None:
            raise AwsError("ResourceNotFoundException", f"The function {fn['config']['FunctionArn']} doesn't have "
                                                        "an EventInvokeConfig", 404)
        config = {} if replace or current is None else {k: v for k, v in current.items()
                                                         if k not in ("LastModified", "FunctionArn")}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"):
            if params.get(key) is not None:
                config[key] = params[key]
        for which in ("OnSuccess", "OnFailure"):
            target = ((config.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
            if target and target.split(":")[2:3] not in (["sqs"], ["sns"], ["lambda"], ["events"]):
                raise AwsError("InvalidParameterValueException", f"The provided destination config "
                                                                 f"DestinationConfig.{which}.Destination is invalid.")
        config["FunctionArn"] = fn["config"]["FunctionArn"] + (f":{qualifier}" if qualifier != "$LATEST" else "")
        config["LastModified"] = self.clock.now()
        config.setdefault("DestinationConfig", {"OnSuccess": {}, "OnFailure": {}})
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_invoke_configs (account, region, name, qualifier, config) "
                                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, region, name, qualifier) DO UPDATE SET "
                                 "config = excluded.config", (fn["account"], fn["region"], fn["name"], qualifier,
                                                              orjson.dumps(config).decode()))
        return config

    def PutFunctionEventInvokeConfig(self, ctx, params):
        return self._put_invoke_config(ctx, params, replace=True)

    def UpdateFunctionEventInvokeConfig(self, ctx, params):
        return self._put_invoke_config(ctx, params, replace=False)

    def GetFunctionEventInvokeConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        found = self.invoke_config(fn, params.get("Qualifier") or "$LATEST")
        if found is None:
            raise AwsError("ResourceNotFoundException", f"The function {fn['config']['FunctionArn']} doesn't have an "
                                                        "EventInvokeConfig", 404)
        return found

    def DeleteFunctionEventInvokeConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_invoke_configs WHERE account = ? AND region = ? AND name = ? AND "
                                 "qualifier = ?", (fn["account"], fn["region"], fn["name"],
                                                   params.get("Qualifier") or "$LATEST"))
        return {}

    def ListFunctionEventInvokeConfigs(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        rows = self.storage.all("SELECT config FROM lambda_invoke_configs WHERE account = ? AND region = ? AND "
                                "name = ? ORDER BY qualifier", (fn["account"], fn["region"], fn["name"]))
        return {"FunctionEventInvokeConfigs": [orjson.loads(r[0]) for r in rows]}

    # -- records to destinations ----------------------------------------------------------------

    async def send_to_destination(self, fn: dict, version: str, request_id: str, payload: bytes, result,
                                  condition: str, invoke_count: int) -> None:
        from cloudlet.services.awslambda.provider import function_arn

        config = self.invoke_config(fn, version) or self.invoke_config(fn) or {}
        which = "OnSuccess" if condition == "Success" else "OnFailure"
        target = ((config.get("DestinationConfig") or {}).get(which) or {}).get("Destination")
        if not target:
            return
        try:
            request_payload = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            request_payload = payload.decode("utf-8", "replace")
        try:
            response_payload = orjson.loads(result.payload) if result.payload else None
        except orjson.JSONDecodeError:
            response_payload = result.payload.decode("utf-8", "replace")
        response_context = {"statusCode": 200, "executedVersion": version}
        if result.error_type:
            response_context["functionError"] = result.error_type
        record = {"version": "1.0", "timestamp": _iso_ms(self.clock.now()),
                  "requestContext": {"requestId": request_id,
                                     "functionArn": f"{function_arn(fn['region'], fn['account'], fn['name'])}:{version}",
                                     "condition": condition, "approximateInvokeCount": invoke_count},
                  "requestPayload": request_payload, "responseContext": response_context,
                  "responsePayload": response_payload}
        text = orjson.dumps(record).decode()
        kind = "Success" if which == "OnSuccess" else "Failure"
        parts = target.split(":")
        try:
            principal, _ = self._session(fn)
            common = dict(account_id=parts[4], region=parts[3], invoked_by="lambda.amazonaws.com",
                          principal=principal)
            gateway = self.cloud.gateway
            if parts[2] == "sqs":
                await gateway.call("sqs", "SendMessage", {
                    "QueueUrl": self.cloud.service("sqs").queue_url(parts[3], parts[4], parts[5]),
                    "MessageBody": text}, **common)
            elif parts[2] == "sns":
                await gateway.call("sns", "Publish", {"TopicArn": target, "Message": text}, **common)
            elif parts[2] == "lambda":
                await gateway.call("lambda", "Invoke", {"FunctionName": target, "InvocationType": "Event",
                                                        "Payload": text.encode()}, **common)
            elif parts[2] == "events":
                await gateway.call("events", "PutEvents", {"Entries": [{
                    "EventBusName": target, "Source": "lambda",
                    "DetailType": f"Lambda Function Invocation Result - {kind}",
                    "Detail": text, "Resources": [fn["config"]["FunctionArn"], target]}]}, **common)
        except AwsError as err:
            log.info("function %s: its %s destination %s failed: %s %s", fn["name"], which, target, err.code,
                     err.message)
