"""Per-function and account settings infrastructure tools read and write
(Terraform's aws_lambda_function reads most of them on every plan):
GetAccountSettings (AWS's default limits, the account's real usage),
reserved concurrency (Put / Get / DeleteFunctionConcurrency; 0 stops
every invocation: TooManyRequestsException "Rate Exceeded." for a
synchronous call, a throttled asynchronous one is retried as AWS does),
the runtime management and recursion settings (stored and answered), and
GetFunctionCodeSigningConfig (no code signing configs here: empty).
Reserved concurrency is enforced as a limit on invocations of the function
running at once. The settings live in the function's stored configuration
under keys starting with "_", which no response shape has (the
serializers write only the model's members). Mixed into LambdaService.
"""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError

ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100


class SettingsOps:
    """Mixed into LambdaService."""

    def GetAccountSettings(self, ctx, params):
        rows = self.storage.all("SELECT f.config, f.code_sha FROM lambda_functions f WHERE account = ? AND "
                                "region = ?", (ctx.account_id, ctx.region))
        total = sum(orjson.loads(c)["CodeSize"] for c, _ in rows)
        reserved = sum(orjson.loads(c).get("_Reserved", 0) for c, _ in rows)
        return {"AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000,
                                 "CodeSizeZipped": 52428800, "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                                 "UnreservedConcurrentExecutions": ACCOUNT_CONCURRENCY - reserved},
                "AccountUsage": {"TotalCodeSize": total, "FunctionCount": len(rows)}}

    def PutFunctionConcurrency(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        wanted = params["ReservedConcurrentExecutions"]
        others = sum(orjson.loads(c).get("_Reserved", 0) for c, in self.storage.all(
            "SELECT config FROM lambda_functions WHERE account = ? AND region = ? AND name != ?",
            (fn["account"], fn["region"], fn["name"])))
        if ACCOUNT_CONCURRENCY - others - wanted < MIN_UNRESERVED:
            raise AwsError("InvalidParameterValueException", "Specified ReservedConcurrentExecutions for function "
                                                             "decreases account's UnreservedConcurrentExecution below "
                                                             f"its minimum value of [{MIN_UNRESERVED}].")
        fn["config"]["_Reserved"] = wanted
        self._save(fn)
        return {"ReservedConcurrentExecutions": wanted}

    def GetFunctionConcurrency(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        reserved = fn["config"].get("_Reserved")
        return {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    def DeleteFunctionConcurrency(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        fn["config"].pop("_Reserved", None)
        self._save(fn)
        return {}

    def reserved_concurrency(self, fn: dict) -> int | None:
        return fn["config"].get("_Reserved")

    def GetFunctionCodeSigningConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        return {"CodeSigningConfigArn": "", "FunctionName": fn["name"]}

    def GetRuntimeManagementConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        out = {"UpdateRuntimeOn": fn["config"].get("_UpdateRuntimeOn", "Auto")}
        if fn["config"].get("_RuntimeVersionArn"):
            out["RuntimeVersionArn"] = fn["config"]["_RuntimeVersionArn"]
        return out

    def PutRuntimeManagementConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        if params["UpdateRuntimeOn"] == "Manual" and not params.get("RuntimeVersionArn"):
            raise AwsError("InvalidParameterValueException", "RuntimeVersionArn must be provided when "
                                                             "UpdateRuntimeOn is Manual.")
        fn["config"]["_UpdateRuntimeOn"] = params["UpdateRuntimeOn"]
        if params.get("RuntimeVersionArn"):
            fn["config"]["_RuntimeVersionArn"] = params["RuntimeVersionArn"]
        self._save(fn)
        out = {"UpdateRuntimeOn": params["UpdateRuntimeOn"], "FunctionArn": fn["config"]["FunctionArn"]}
        if params.get("RuntimeVersionArn"):
            out["RuntimeVersionArn"] = params["RuntimeVersionArn"]
        return out

    def GetFunctionRecursionConfig(self, ctx, params):
        return {"RecursiveLoop": self.function(ctx, params["FunctionName"])["config"].get("_RecursiveLoop",
                                                                                          "Terminate")}

    def PutFunctionRecursionConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        fn["config"]["_RecursiveLoop"] = params["RecursiveLoop"]
        self._save(fn)
        return {"RecursiveLoop": params["RecursiveLoop"]}
