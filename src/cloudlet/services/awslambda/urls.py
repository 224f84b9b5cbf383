"""Function URLs: Create / Get / Update / Delete / ListFunctionUrlConfigs,
and the HTTP endpoint itself, `http://<url-id>.lambda-url.<region>.localhost:<port>/`
(AWS's `https://<url-id>.lambda-url.<region>.on.aws/`). Mixed into
LambdaService; the gateway hands every request for such a host here.

A request becomes AWS's payload format 2.0 event (version, routeKey
$default, rawPath, rawQueryString, cookies, headers, queryStringParameters,
requestContext with http method / path / sourceIp / userAgent, body,
isBase64Encoded) and the function's answer the response: a result with
statusCode is taken as {statusCode, headers, body, isBase64Encoded,
cookies}, anything else is a 200 with the result as its JSON body.
AuthType NONE needs the function policy to let "*" invoke the URL (the
statement `add-permission --function-url-auth-type NONE` writes); AWS_IAM
needs a SigV4-signed request from a principal allowed
lambda:InvokeFunctionUrl. Otherwise 403 {"Message": "Forbidden"}, as AWS
answers. A function error is a 502 {"Message": "Internal Server Error"}.
Cors: preflights (OPTIONS with Origin and Access-Control-Request-Method)
are answered from it without invoking the function, and its headers are
added to answers.
"""

from __future__ import annotations

import base64
import datetime as _dt
import secrets
import string
from urllib.parse import parse_qsl

import orjson

from cloudlet.errors import AwsError
from cloudlet.protocol.http import HttpResponse

_ALPHABET = string.ascii_lowercase + string.digits


def _forbidden() -> HttpResponse:
    return HttpResponse(403, [("Content-Type", "application/json")], b'{"Message":"Forbidden"}')


class FunctionUrlOps:
    """Mixed into LambdaService."""

    def _url(self, url_id: str, region: str) -> str:
        return f"http://{url_id}.lambda-url.{region}.localhost:{self.cloud.settings.port}/"

    def _url_row(self, fn: dict, qualifier: str):
        return self.storage.one("SELECT url_id, config FROM lambda_urls WHERE account = ? AND region = ? AND name = ? "
                                "AND qualifier = ?", (fn["account"], fn["region"], fn["name"], qualifier))

    def _url_out(self, fn: dict, url_id: str, config: dict, qualifier: str) -> dict:
        arn = fn["config"]["FunctionArn"] + (f":{qualifier}" if qualifier != "$LATEST" else "")
        out = {"FunctionUrl": self._url(url_id, fn["region"]), "FunctionArn": arn, "AuthType": config["AuthType"],
               "CreationTime": config["CreationTime"], "LastModifiedTime": config["LastModifiedTime"],
               "InvokeMode": config.get("InvokeMode", "BUFFERED")}
        if config.get("Cors"):
            out["Cors"] = config["Cors"]
        return out

    def CreateFunctionUrlConfig(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        qualifier = params.get("Qualifier") or "$LATEST"
        if self._url_row(fn, qualifier) is not None:
            raise AwsError("ResourceConflictException", f"Failed to create function url config for [functionArn = "
                                                        f"{fn['config']['FunctionArn']}]. Error message:  "
                                                        "FunctionUrlConfig exists for this Lambda function", 409)
        now = _dt.datetime.fromtimestamp(self.clock.now(), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        config = {"AuthType": params["AuthType"], "InvokeMode": params.get("InvokeMode") or "BUFFERED",
                  "CreationTime": now, "LastModifiedTime": now}
        if params.get("Cors"):
            config["Cors"] = params["Cors"]
        url_id = "".join(secrets.choice(_ALPHABET) for _ in range(32))
        with self.storage.tx():
            self.storage.execute("INSERT INTO lambda_urls (url_id, account, region, name, qualifier, config) VALUES "
                                 "(?, ?, ?, ?, ?, ?)", (url_id, fn["account"], fn["region"], fn["name"], qualifier,
                                                        orjson.dumps(config).decode()))
        out = self._url_out(fn, url_id, config, qualifier)
        out.pop("LastModifiedTime")
        return out

    def _known_url(self, ctx, params) -> tuple[dict, str, dict, str]:
        fn = self.function(ctx, params["FunctionName"])
        qualifier = params.get("Qualifier") or "$LATEST"
        row = self._url_row(fn, qualifier)
        if row is None:
            raise AwsError("ResourceNotFoundException", "The resource you requested does not exist.", 404)
        return fn, row[0], orjson.loads(row[1]), qualifier

    def GetFunctionUrlConfig(self, ctx, params):
        fn, url_id, config, qualifier = self._known_url(ctx, params)
        return self._url_out(fn, url_id, config, qualifier)

    def UpdateFunctionUrlConfig(self, ctx, params):
        fn, url_id, config, qualifier = self._known_url(ctx, params)
        for key in ("AuthType", "Cors", "InvokeMode"):
            if params.get(key) is not None:
                config[key] = params[key]
        config["LastModifiedTime"] = _dt.datetime.fromtimestamp(self.clock.now(), _dt.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
        with self.storage.tx():
            self.storage.execute("UPDATE lambda_urls SET config = ? WHERE url_id = ?",
                                 (orjson.dumps(config).decode(), url_id))
        return self._url_out(fn, url_id, config, qualifier)

    def DeleteFunctionUrlConfig(self, ctx, params):
        _, url_id, _, _ = self._known_url(ctx, params)
        with self.storage.tx():
            self.storage.execute("DELETE FROM lambda_urls WHERE url_id = ?", (url_id,))
        return {}

    def ListFunctionUrlConfigs(self, ctx, params):
        fn = self.function(ctx, params["FunctionName"])
        rows = self.storage.all("SELECT url_id, qualifier, config FROM lambda_urls WHERE account = ? AND region = ? "
                                "AND name = ? ORDER BY qualifier", (fn["account"], fn["region"], fn["name"]))
        return {"FunctionUrlConfigs": [self._url_out(fn, u, orjson.loads(c), q) for u, q, c in rows]}

    # -- the endpoint -------------------------------------------------------------------------------

    def _url_allows_anyone(self, fn: dict) -> bool:
        for statement in (fn["policy"] or {}).get("Statement", []):
            if statement.get("Effect") != "Allow" or statement.get("Principal") not in ("*", {"AWS": "*"}):
                continue
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            if not any(a in ("lambda:InvokeFunctionUrl", "lambda:*", "*") for a in actions):
                continue
            condition = statement.get("Condition") or {}
            auth = (condition.get("StringEquals") or {}).get("lambda:FunctionUrlAuthType")
            if auth in (None, "NONE") and set(condition) <= {"StringEquals"}:
                return True
        return False

    def _iam_allows(self, request, fn: dict, request_id: str) -> bool:
        from cloudlet.gateway.auth import parse_credential
        from cloudlet.gateway.context import RequestContext

        cloud = self.cloud
        try:
            cred = parse_credential(request)
            if cred is None:
                return False
            principal = cloud.auth.authenticate(cred, request, signing_name="lambda", protocol="rest-json")
        except AwsError:
            return False
        op = cloud.models.get("lambda").operation("Invoke")
        ctx = RequestContext(request_id=request_id, account_id=principal.account_id, region=fn["region"],
                             principal=principal, service="lambda", operation="Invoke", protocol="rest-json",
                             request=request, cloud=cloud, op_model=op)
        arn = fn["config"]["FunctionArn"]
        params = {"FunctionName": arn}
        try:
            cloud.authorizer.require(ctx, self, op, params, "lambda:InvokeFunctionUrl", arn,
                                     self.resource_policy(ctx, "Invoke", arn, params))
        except AwsError:
            return False
        return True

    async def function_url_request(self, request, url_id: str, request_id: str) -> HttpResponse:
        row = self.storage.one("SELECT account, region, name, qualifier, config FROM lambda_urls WHERE url_id = ?",
                               (url_id,))
        if row is None:
            return _forbidden()
        account, region, name, qualifier, config = row
        config = orjson.loads(config)
        fn = self.find_function(account, region, name)
        if fn is None:
            return _forbidden()
        if request.method == "OPTIONS" and config.get("Cors") and request.header("origin") and \
                request.header("access-control-request-method"):
            return self._preflight(config["Cors"], request)
        allowed = (self._url_allows_anyone(fn) if config["AuthType"] == "NONE"
                   else self._iam_allows(request, fn, request_id))
        if not allowed:
            return _forbidden()
        version = "$LATEST"
        if qualifier != "$LATEST":
            target = qualifier if qualifier.isdigit() else (self._alias(fn, qualifier) or {}).get("FunctionVersion")
            found = self._version(fn, target) if target and target != "$LATEST" else None
            if found is not None:
                fn, version = dict(fn, config=found["config"], code_sha=found["code_sha"]), target
        event = self._url_event(request, url_id, account, region, request_id)
        result = await self.run(fn, orjson.dumps(event), request_id, version=version)
        headers = self._cors_headers(config, request)
        if result.error_type:
            return HttpResponse(502, [("Content-Type", "application/json"), *headers],
                                b'{"Message":"Internal Server Error"}')
        return self._url_response(result.payload, headers)

    def _url_event(self, request, url_id: str, account: str, region: str, request_id: str) -> dict:
        now = self.clock.now()
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.body if isinstance(request.body, (bytes, bytearray)) else b""
        text_types = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")
        is_text = not body or any(t in headers.get("content-type", "") for t in text_types)
        query = request.query_string or ""
        params: dict[str, str] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event: dict = {
            "version": "2.0", "routeKey": "$default", "rawPath": request.path, "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous", "apiId": url_id, "domainName": headers.get("host", ""),
                "domainPrefix": url_id,
                "http": {"method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                         "sourceIp": request.client or "127.0.0.1",
                         "userAgent": headers.get("user-agent", "")},
                "requestId": request_id, "routeKey": "$default", "stage": "$default",
                "time": _dt.datetime.fromtimestamp(now, _dt.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now * 1000)},
            "isBase64Encoded": not is_text,
        }
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
        if params:
            event["queryStringParameters"] = params
        if body:
            event["body"] = body.decode("utf-8", "replace") if is_text else base64.b64encode(body).decode()
        return event

    @staticmethod
    def _url_response(payload: bytes, extra: list) -> HttpResponse:
        try:
            result = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            return HttpResponse(200, [("Content-Type", "application/json"), *extra], payload)
        if isinstance(result, dict) and "statusCode" in result:
            headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
            headers += [("Set-Cookie", c) for c in result.get("cookies") or ()]
            body = result.get("body") or ""
            data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
            if not any(k.lower() == "content-type" for k, _ in headers):
                headers.append(("Content-Type", "application/json"))
            return HttpResponse(int(result["statusCode"]), headers + extra, data)
        return HttpResponse(200, [("Content-Type", "application/json"), *extra], orjson.dumps(result))

    @staticmethod
    def _preflight(cors: dict, request) -> HttpResponse:
        """A CORS preflight, answered from the URL's Cors without invoking
        the function (as Lambda does)."""
        origin = request.header("origin")
        allowed = cors.get("AllowOrigins") or []
        method = request.header("access-control-request-method") or ""
        methods = cors.get("AllowMethods") or []
        if ("*" not in allowed and origin not in allowed) or ("*" not in methods and method not in methods):
            return HttpResponse(200, [], b"")
        headers = [("Access-Control-Allow-Origin", "*" if "*" in allowed else origin),
                   ("Access-Control-Allow-Methods", ",".join(methods))]
        if cors.get("AllowHeaders"):
            headers.append(("Access-Control-Allow-Headers", ",".join(cors["AllowHeaders"])))
        if cors.get("MaxAge") is not None:
            headers.append(("Access-Control-Max-Age", str(cors["MaxAge"])))
        if cors.get("AllowCredentials"):
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return HttpResponse(200, headers, b"")

    @staticmethod
    def _cors_headers(config: dict, request) -> list:
        cors = config.get("Cors") or {}
        origin = request.header("origin")
        if not cors or not origin:
            return []
        allowed = cors.get("AllowOrigins") or []
        if "*" not in allowed and origin not in allowed:
            return []
        out = [("Access-Control-Allow-Origin", "*" if "*" in allowed else origin)]
        if cors.get("AllowCredentials"):
            out.append(("Access-Control-Allow-Credentials", "true"))
        if cors.get("ExposeHeaders"):
            out.append(("Access-Control-Expose-Headers", ",".join(cors["ExposeHeaders"])))
        return out

