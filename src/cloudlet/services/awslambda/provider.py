"""AWS Lambda (first cut): Python and Node.js functions that really run
(invoke.py, runtime.py), their configuration, code, resource policy, tags,
versions and aliases (versions.py) and SQS event source mappings (esm.py).

Create / Get / List / Delete, GetFunctionConfiguration, UpdateFunctionCode
(ZipFile or S3Bucket/S3Key, read from cloudlet's S3 as the caller),
UpdateFunctionConfiguration, Invoke (invoke.py), Add / RemovePermission,
GetPolicy (the function policy other services' invocations are
authorized by), Tag / Untag / ListTags. python3.x functions run on
cloudlet's own Python interpreter, nodejs ones on the machine's `node`,
whatever version they name; other runtimes are refused at creation.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import io
import re
import uuid
import zipfile

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.awslambda.destinations import DestinationOps
from cloudlet.services.awslambda.esm import EventSourceMappingOps
from cloudlet.services.awslambda.invoke import InvokeOps
from cloudlet.services.awslambda.layers import LayerOps
from cloudlet.services.awslambda.settings import SettingsOps
from cloudlet.services.awslambda.store import MIGRATIONS
from cloudlet.services.awslambda.urls import FunctionUrlOps
from cloudlet.services.awslambda.versions import VersionOps
from cloudlet.services.base import Service

MAX_ZIP = 50 * 1024 * 1024
MAX_UNZIPPED = 262_144_000
RESERVED_ENV = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"})
_NAME = re.compile(r"(?:arn:aws[\w-]*:lambda:([a-z0-9-]+):(\d{12}):function:|(\d{12}):function:)?([A-Za-z0-9_-]+)"
                   r"(?::(\$LATEST|[A-Za-z0-9_-]+))?")


def _runnable(runtime: str) -> bool:
    from cloudlet.services.awslambda.runtime import node_available

    if runtime.startswith("python3"):
        return True
    return runtime.startswith("nodejs") and runtime != "nodejs" and node_available()


def function_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message)


def _last_modified(epoch: float) -> str:
    t = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


class LambdaService(InvokeOps, EventSourceMappingOps, VersionOps, FunctionUrlOps, DestinationOps, LayerOps,
                    SettingsOps, Service):
    model_name = "lambda"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.recover_async()
        self.start_pollers()

    def stop(self) -> None:
        self.stop_pollers()

    def reset(self) -> None:
        self.stop_pollers()

    # -- names and lookups ----------------------------------------------------------------

    def function_ref(self, ctx, name: str) -> tuple[str, str, str]:
        """(account, region, function name) of a FunctionName: a name, a
        partial ARN (account:function:name) or an ARN, with a qualifier."""
        m = _NAME.fullmatch(name or "")
        if m is None:
            raise _invalid(f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?"
                           "([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|"
                           "[a-zA-Z0-9-_]+))?")
        region, account, partial_account, fname = m.group(1), m.group(2), m.group(3), m.group(4)
        return account or partial_account or ctx.account_id, region or ctx.region, fname

    def find_function(self, account: str, region: str, name: str) -> dict | None:
        row = self.storage.one("SELECT config, code_sha, policy, tags FROM lambda_functions WHERE account = ? AND "
                               "region = ? AND name = ?", (account, region, name))
        if row is None:
            return None
        config = orjson.loads(row[0])
        return {"config": config, "code_sha": row[1], "policy": orjson.loads(row[2]) if row[2] else None,
                "tags": orjson.loads(row[3]), "account": account, "region": region, "name": name}

    def function(self, ctx, name: str) -> dict:
        account, region, fname = self.function_ref(ctx, name)
        found = self.find_function(account, region, fname)
        if found is None:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: {function_arn(region, account, fname)}", 404)
        return found

    def _save(self, fn: dict) -> None:
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO lambda_functions (account, region, name, config, code_sha, policy, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, name) DO UPDATE SET config = "
                "excluded.config, code_sha = excluded.code_sha, policy = excluded.policy, tags = excluded.tags",
                (fn["account"], fn["region"], fn["name"], orjson.dumps(fn["config"]).decode(), fn["code_sha"],
                 orjson.dumps(fn["policy"]).decode() if fn["policy"] else None, orjson.dumps(fn["tags"]).decode()))

    # -- authorization ----------------------------------------------------------------------

    def authz_action(self, operation: str) -> str | None:
        return {"Invoke": "lambda:InvokeFunction", "InvokeAsync": "lambda:InvokeFunction",
                "ListTags": "lambda:ListTags"}.get(operation)

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        name = params.get("FunctionName")
        if name:
            try:
                account, region, fname = self.function_ref(ctx, name)
            except AwsError:
                return ["*"]
            return [function_arn(region, account, fname)]
        if params.get("Resource"):
            return [params["Resource"]]
        return ["*"]

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        if not resource.startswith("arn:aws:lambda:"):
            return None
        parts = resource.split(":")
        found = self.find_function(parts[4], parts[3], parts[6]) if len(parts) >= 7 else None
        if found is None or not found["policy"]:
            return None
        return orjson.dumps(found["policy"]).decode(), found["account"]

    # -- code -------------------------------------------------------------------------------

    async def _s3_code(self, ctx, code: dict) -> bytes:
        """A zip in S3, read as the caller (their access to the object decides)."""
        params = {"Bucket": code["S3Bucket"], "Key": code["S3Key"]}
        if code.get("S3ObjectVersion"):
            params["VersionId"] = code["S3ObjectVersion"]
        try:
            out = await self.cloud.gateway.call("s3", "GetObject", params, account_id=ctx.account_id,
                                                region=ctx.region, invoked_by="lambda.amazonaws.com",
                                                principal=ctx.principal)
        except AwsError as err:
            raise _invalid(f"Error occurred while GetObject. S3 Error Code: {err.code}. S3 Error Message: "
                           f"{err.message}") from None
        body = out["Body"]
        try:
            return b"".join(body.chunks) if hasattr(body, "chunks") else bytes(body)
        finally:
            if hasattr(body, "close"):
                body.close()

    async def _code(self, ctx, code: dict) -> tuple[str, int]:
        """Store a zip (ZipFile or S3Bucket/S3Key) and return (sha, size)."""
        data = code.get("ZipFile")
        if data is None and code.get("S3Bucket"):
            data = await self._s3_code(ctx, code)
        if data is None:
            raise _invalid("Please provide a source for function code.")
        if len(data) > MAX_ZIP:
            raise AwsError("RequestEntityTooLargeException", "Request must be smaller than 52428800 bytes for the "
                                                             "CreateFunction operation", 413)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                unzipped = sum(i.file_size for i in archive.infolist())
        except zipfile.BadZipFile:
            raise _invalid("Could not unzip uploaded file. Please check your file, then try to upload again.") from None
        if unzipped > MAX_UNZIPPED:
            raise _invalid(f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes")
        sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
        with self.storage.tx():
            self.storage.execute("INSERT OR IGNORE INTO lambda_code (sha, data) VALUES (?, ?)", (sha, data))
        return sha, len(data)

    def code_bytes(self, sha: str) -> bytes:
        return bytes(self.storage.scalar("SELECT data FROM lambda_code WHERE sha = ?", (sha,)))

    # -- configuration ------------------------------------------------------------------------

    def _check_config(self, ctx, params: dict, creating: bool) -> None:
        runtime = params.get("Runtime")
        if runtime is not None and not _runnable(runtime):
            raise _invalid(f"The runtime parameter of {runtime} is not available in cloudlet: it runs python3.x "
                           "functions, and nodejs18.x / 20.x / 22.x ones where Node.js is installed.")
        if creating and params.get("PackageType", "Zip") == "Zip":
            if not runtime:
                raise _invalid("Runtime is required for .zip file deployment package.")
            if not params.get("Handler"):
                raise _invalid("Handler is required for .zip file deployment package.")
        if params.get("PackageType") == "Image":
            raise _invalid("cloudlet runs .zip file functions only (PackageType Zip).")
        timeout = params.get("Timeout")
        if timeout is not None and not 1 <= timeout <= 900:
            raise _invalid(f"1 validation error detected: Value '{timeout}' at 'timeout' failed to satisfy "
                           "constraint: Member must have value less than or equal to 900")
        memory = params.get("MemorySize")
        if memory is not None and not 128 <= memory <= 10240:
            raise _invalid(f"1 validation error detected: Value '{memory}' at 'memorySize' failed to satisfy "
                           "constraint: Member must have value less than or equal to 10240")
        variables = (params.get("Environment") or {}).get("Variables") or {}
        reserved = sorted(k for k in variables if k in RESERVED_ENV)
        if reserved:
            raise _invalid("Lambda was unable to configure your environment variables because the environment "
                           "variables you have provided contains reserved keys that are currently not supported for "
                           f"modification. Reserved keys used in this request: {', '.join(reserved)}")
        if params.get("Role") is not None:
            from cloudlet.gateway.servicerole import require_pass_role

            require_pass_role(self.cloud, ctx, self, params, params["Role"], "lambda.amazonaws.com",
                              function_arn(ctx.region, ctx.account_id, params["FunctionName"].split(":")[-1]))
            self._check_role(ctx, params["Role"])

    def _check_role(self, ctx, role_arn: str) -> None:
        """The execution role must exist and trust lambda.amazonaws.com."""
        from cloudlet.gateway.servicerole import ServiceRoles

        try:
            ServiceRoles(self.cloud, "lambda.amazonaws.com", "check").principal(
                role_arn, ctx.account_id, ctx.region, function_arn(ctx.region, ctx.account_id, "check"), fresh=True)
        except AwsError:
            raise _invalid("The role defined for the function cannot be assumed by Lambda.") from None

    async def CreateFunction(self, ctx, params):
        name = params["FunctionName"]
        if self.find_function(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("ResourceConflictException", f"Function already exist: {name}", 409)
        self._check_config(ctx, params, creating=True)
        sha, size = await self._code(ctx, params["Code"])
        now = self.clock.now()
        config = {
            "FunctionName": name, "FunctionArn": function_arn(ctx.region, ctx.account_id, name),
            "Runtime": params["Runtime"], "Role": params["Role"], "Handler": params["Handler"], "CodeSize": size,
            "Description": params.get("Description", ""), "Timeout": params.get("Timeout", 3),
            "MemorySize": params.get("MemorySize", 128), "LastModified": _last_modified(now), "CodeSha256": sha,
            "Version": "$LATEST", "TracingConfig": {"Mode": (params.get("TracingConfig") or {}).get("Mode",
                                                                                                   "PassThrough")},
            "RevisionId": str(uuid.uuid4()), "State": "Active", "LastUpdateStatus": "Successful",
            "PackageType": "Zip", "Architectures": params.get("Architectures") or ["x86_64"],
            "EphemeralStorage": params.get("EphemeralStorage") or {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
        }
        for key in ("Environment", "DeadLetterConfig", "KMSKeyArn"):
            if params.get(key):
                config[key] = params[key] if key != "Environment" else {
                    "Variables": params[key].get("Variables") or {}}
        if params.get("Layers"):
            config["Layers"] = self.function_layers(params["Layers"])
        if params.get("LoggingConfig", {}).get("LogGroup"):
            config["LoggingConfig"]["LogGroup"] = params["LoggingConfig"]["LogGroup"]
        fn = {"account": ctx.account_id, "region": ctx.region, "name": name, "config": config, "code_sha": sha,
              "policy": None, "tags": params.get("Tags") or {}}
        self._save(fn)
        return config

    def _qualified(self, ctx, params) -> dict:
        """The function, or the version its Qualifier names (an alias: its
        primary version)."""
        fn = self.function(ctx, params["FunctionName"])
        qualifier = self.qualifier_of(params["FunctionName"], params)
        if qualifier in (None, "$LATEST"):
            return fn
        version = qualifier
        if not qualifier.isdigit():
            alias = self._alias(fn, qualifier)
            if alias is None:
                raise AwsError("ResourceNotFoundException",
                               f"Function not found: {fn['config']['FunctionArn']}:{qualifier}", 404)
            version = alias["FunctionVersion"]
            if version == "$LATEST":
                return fn
        found = self._version(fn, version)
        if found is None:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: {fn['config']['FunctionArn']}:{qualifier}", 404)
        return dict(fn, config=found["config"], code_sha=found["code_sha"])

    def GetFunctionConfiguration(self, ctx, params):
        return self._qualified(ctx, params)["config"]

    def _code_location(self, sha: str) -> str:
        """Where a zip is served (AWS's Code.Location is a presigned S3 URL)."""
        return (f"http://localhost:{self.cloud.settings.port}/_cloudlet/lambda/code/"
                f"{base64.urlsafe_b64encode(base64.b64decode(sha)).decode().rstrip('=')}")

    def GetFunction(self, ctx, params):
        fn = self._qualified(ctx, params)
        out = {"Configuration": fn["config"], "Code": {"RepositoryType": "S3",
                                                       "Location": self._code_location(fn["code_sha"])}}
        if fn["tags"]:
            out["Tags"] = fn["tags"]
        return out

    def ListFunctions(self, ctx, params):
        rows = self.storage.all("SELECT config FROM lambda_functions WHERE account = ? AND region = ? ORDER BY name",
                                (ctx.account_id, ctx.region))
        items = [orjson.loads(r[0]) for r in rows]
        start = int(params["Marker"]) if (params.get("Marker") or "").isdigit() else 0
        limit = params.get("MaxItems") or 50
        out = {"Functions": items[start:start + limit]}
        if start + limit < len(items):
            out["NextMarker"] = str(start + limit)
        return out

    def DeleteFunction(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        qualifier = self.qualifier_of(params["FunctionName"], params)
        if qualifier is not None:
            self.delete_version(fn, qualifier)
            return {"StatusCode": 204}
        key = (fn["account"], fn["region"], fn["name"])
        with self.storage.tx():
            for table in ("lambda_functions", "lambda_versions", "lambda_aliases"):
                self.storage.execute(f"DELETE FROM {table} WHERE account = ? AND region = ? AND name = ?", key)
            self.storage.execute("DELETE FROM lambda_code WHERE NOT EXISTS (SELECT 1 FROM lambda_functions f WHERE "
                                 "f.code_sha = lambda_code.sha) AND NOT EXISTS (SELECT 1 FROM lambda_versions v "
                                 "WHERE v.code_sha = lambda_code.sha) AND NOT EXISTS (SELECT 1 FROM lambda_layers l "
                                 "WHERE l.code_sha = lambda_code.sha)")
        return {"StatusCode": 204}

    def _revised(self, fn: dict, params: dict) -> None:
        if params.get("RevisionId") and params["RevisionId"] != fn["config"]["RevisionId"]:
            raise AwsError("PreconditionFailedException", "The Revision Id provided does not match the latest "
                                                          "Revision Id. Call the GetFunction/GetAlias API to retrieve "
                                                          "the latest Revision Id", 412)
        fn["config"]["RevisionId"] = str(uuid.uuid4())
        fn["config"]["LastModified"] = _last_modified(self.clock.now())

    async def UpdateFunctionCode(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        sha, size = await self._code(ctx, {k: params[k] for k in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion")
                                     if params.get(k) is not None})
        if params.get("DryRun"):
            return dict(fn["config"], CodeSha256=sha, CodeSize=size)
        self._revised(fn, params)
        fn["config"].update(CodeSha256=sha, CodeSize=size)
        fn["code_sha"] = sha
        self._save(fn)
        return fn["config"]

    def UpdateFunctionConfiguration(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        self._check_config(ctx, params, creating=False)
        self._revised(fn, params)
        config = fn["config"]
        for key in ("Role", "Handler", "Description", "Timeout", "MemorySize", "Runtime", "DeadLetterConfig",
                    "KMSKeyArn", "TracingConfig", "EphemeralStorage"):
            if params.get(key) is not None:
                config[key] = params[key]
        if params.get("Layers") is not None:
            config["Layers"] = self.function_layers(params["Layers"])
            if not config["Layers"]:
                config.pop("Layers")
        if params.get("Environment") is not None:
            config["Environment"] = {"Variables": params["Environment"].get("Variables") or {}}
        self._save(fn)
        return config

    # -- the function policy ----------------------------------------------------------------------

    def AddPermission(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        policy = fn["policy"] or {"Version": "2012-10-17", "Id": "default", "Statement": []}
        sid = params["StatementId"]
        if any(s.get("Sid") == sid for s in policy["Statement"]):
            raise AwsError("ResourceConflictException", f"The statement id ({sid}) provided already exists. Please "
                                                        "provide a new statement id, or remove the existing "
                                                        "statement.", 409)
        principal = params["Principal"]
        if principal == "*":
            who: object = "*"
        elif principal.endswith(".amazonaws.com"):
            who = {"Service": principal}
        elif re.fullmatch(r"\d{12}", principal):
            who = {"AWS": f"arn:aws:iam::{principal}:root"}
        else:
            who = {"AWS": principal}
        statement: dict = {"Sid": sid, "Effect": "Allow", "Principal": who, "Action": params["Action"],
                           "Resource": fn["config"]["FunctionArn"]}
        condition: dict = {}
        if params.get("SourceAccount"):
            condition.setdefault("StringEquals", {})["AWS:SourceAccount"] = params["SourceAccount"]
        if params.get("SourceArn"):
            condition.setdefault("ArnLike", {})["AWS:SourceArn"] = params["SourceArn"]
        if params.get("FunctionUrlAuthType"):
            condition.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
        if condition:
            statement["Condition"] = condition
        policy["Statement"].append(statement)
        fn["policy"] = policy
        self._revised(fn, params)
        self._save(fn)
        return {"Statement": orjson.dumps(statement).decode()}

    def GetPolicy(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        if not fn["policy"]:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        return {"Policy": orjson.dumps(fn["policy"]).decode(), "RevisionId": fn["config"]["RevisionId"]}

    def RemovePermission(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        statements = (fn["policy"] or {}).get("Statement", [])
        kept = [s for s in statements if s.get("Sid") != params["StatementId"]]
        if len(kept) == len(statements):
            raise AwsError("ResourceNotFoundException", f"Statement {params['StatementId']} is not found in resource "
                                                        "policy.", 404)
        fn["policy"] = dict(fn["policy"], Statement=kept) if kept else None
        self._revised(fn, params)
        self._save(fn)
        return {}

    # -- tags ---------------------------------------------------------------------------------------

    def _tagged(self, ctx, arn: str) -> dict:
        return self.function(ctx, arn)

    def TagResource(self, ctx, params):
        fn = self._tagged(ctx, params["Resource"])
        fn["tags"].update(params["Tags"])
        self._save(fn)
        return {}

    def UntagResource(self, ctx, params):
        fn = self._tagged(ctx, params["Resource"])
        for key in params["TagKeys"]:
            fn["tags"].pop(key, None)
        self._save(fn)
        return {}

    def ListTags(self, ctx, params):
        return {"Tags": self._tagged(ctx, params["Resource"])["tags"]}
