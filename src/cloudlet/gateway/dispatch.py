"""The path of one request: route, parse, authenticate, validate, call the
provider, serialize; every failure answered as the protocol's AWS error.

`Gateway.handle` serves HTTP requests; `Gateway.call` is the internal
dispatcher services use to call each other (as a service principal), which
goes through the same checks.
"""

from __future__ import annotations

import logging
import time
import zlib

from cloudlet import ids
from cloudlet.errors import AwsError, internal_failure, invalid_action, missing_action, unknown_operation
from cloudlet.gateway.auth import Principal, parse_credential
from cloudlet.gateway.context import RequestContext
from cloudlet.gateway.router import RouteResult, Router, guess_protocol
from cloudlet.protocol import PROTOCOLS
from cloudlet.protocol.common import ParseError
from cloudlet.protocol.hostlabels import fill_host_labels
from cloudlet.protocol.http import HttpRequest, HttpResponse, SpooledBody
from cloudlet.protocol.model import ServiceModel
from cloudlet.protocol.validate import check as validate

log = logging.getLogger("cloudlet.request")
errlog = logging.getLogger("cloudlet.gateway")

_JSON_TYPES = ("application/x-amz-json-1.0", "application/x-amz-json-1.1", "application/json")
_MAX_INFLATED = 64 * 1024 * 1024


def new_request_id(s3: bool = False) -> str:
    """A random (version 4) UUID, or S3's 16 upper-case hex digits."""
    if s3:
        return "%016X" % ids.bits(64)
    return ids.uuid4()


class Gateway:
    def __init__(self, cloud):
        self.cloud = cloud
        self.router = Router(cloud.catalog)
        from cloudlet.gateway.recorder import Recorder

        self.recorder = Recorder(cloud, enabled=getattr(cloud.settings, "cloudtrail", True))
        self._usage_dims: dict = {}
        # Read once: checking the level on every request shows in profiles.
        self.log_requests = log.isEnabledFor(logging.INFO)

    async def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        cloud = self.cloud
        protocol_name = None
        model: ServiceModel | None = None
        service_name = "-"
        op_name = "-"
        request_id = ""
        op = principal = params = output = failure = ctx = None  # (what CloudTrail records)
        service = None
        path = request.raw_path
        try:
            try:
                cred = parse_credential(request)
                bad_auth = None
            except AwsError:
                cred, bad_auth = None, request.header("authorization") or ""
            host = request.host
            if ".lambda-url." in host:
                # A function URL (<url-id>.lambda-url.<region>...): the
                # function answers, not the Lambda API.
                op_name = "function-url"
                request_id = new_request_id()
                request.body = request.body.read() if isinstance(request.body, SpooledBody) else request.body
                raise _Answered(await cloud.service("lambda").function_url_request(
                    request, host.split(".", 1)[0], request_id))
            routed = self.router.route(request, cred)
            protocol_name = routed.protocol
            entry = routed.entry
            request_id = new_request_id(s3=entry is not None and entry.signing_name == "s3")
            if entry is None:
                raise self._unknown_service(request, protocol_name)
            service_name = entry.name
            if entry.signing_name != "s3" and isinstance(request.body, SpooledBody):
                request.body = request.body.read()  # only S3 streams bodies; others have small limits
            model = cloud.models.get(entry.name)
            if model is None:
                raise self._unknown_service(request, protocol_name)
            service = cloud.service(entry.name)
            path = routed.raw_path or request.raw_path
            if routed.website and getattr(service, "website", None) is not None:
                # A website endpoint: anonymous GETs of a static site, not
                # the API (whatever credentials the request carries).
                op_name = "website"
                raise _Answered(await service.website(request, routed.bucket_from_host, request_id))
            if bad_auth is not None:
                from cloudlet.gateway.sigv4 import auth_error, authorization_error

                raise auth_error(authorization_error(bad_auth), signing_name=entry.signing_name,
                                 protocol=protocol_name)
            # Who is calling is settled before the request is read, as on AWS
            # (a bad credential is refused whatever the body says). The
            # signature covers the body as sent, so inflating comes after.
            principal = cloud.auth.authenticate(cred, request, signing_name=entry.signing_name,
                                                protocol=protocol_name)
            if entry.signing_name != "s3":
                _inflate(request)
            protocol = PROTOCOLS[protocol_name]
            if service is not None and service.unrouted is not None and protocol_name.startswith("rest") \
                    and protocol.route(model, request, routed.raw_path) is None:
                # No operation of the model: the provider may still answer
                # (S3's CORS preflights and browser POST uploads).
                answer = await service.unrouted(request, path, request_id)
                if answer is not None:
                    op_name = request.method
                    raise _Answered(answer)
            op, parse = self._operation(protocol_name, protocol, model, request, routed)
            op_name = op.name
            # AWS reads and validates a request before it looks for the code
            # behind it: a malformed call to any modeled operation gets the
            # protocol's error even where cloudlet has not built it.
            try:
                params = parse()
            except ParseError as exc:
                raise self._parse_error(protocol_name, exc) from None
            if op.host_prefix:
                fill_host_labels(op, request, params)
            _check_input(service, op, params, request, _validation_code(protocol_name))
            handler = service.handler(op.name) if service is not None else None
            if handler is None:
                raise self._not_built(protocol_name, op.name)
            ctx = RequestContext(
                request_id=request_id,
                account_id=principal.account_id,
                region=(cred.region if cred is not None and cred.region else cloud.settings.region),
                principal=principal,
                service=entry.name,
                operation=op.name,
                protocol=protocol_name,
                request=request,
                cloud=cloud,
                op_model=op,
                access_key=cred.access_key if cred is not None else None,
                user_agent=request.header("user-agent") or "",
                source_ip=request.client,
            )
            if routed.bucket_from_host:
                ctx.extra["bucket_from_host"] = routed.bucket_from_host
            cloud.authorizer.check(ctx, service, op, params)
            if principal.attributes.get("key_last_used_stale"):
                cloud.note_key_used(principal.access_key, entry.signing_name, ctx.region)
            fn, is_async = handler
            output = (await fn(ctx, params)) if is_async else fn(ctx, params)
            response = protocol.serialize(op, output, request_id)
        except _Answered as answered:
            response = answered.response
        except AwsError as err:
            failure = err
            response = self._error(protocol_name, request, model, err, request_id)
        except Exception:
            request_id = request_id or new_request_id()
            errlog.exception("unhandled error in %s.%s (request %s)", service_name, op_name, request_id)
            failure = internal_failure(request_id)
            response = self._error(protocol_name, request, model, failure, request_id)
        if op is not None and principal is not None and self.recorder.enabled:
            # CloudTrail: every call whose caller and operation are known,
            # failed or not (one INSERT, committed with the call's writes).
            # A call that wrote nothing else answers without waiting for its
            # record's commit (made at the next loop iteration): recording
            # must not slow the call it records.
            wrote = cloud.storage.pending
            self.recorder.record(
                op, principal, cred.region if cred is not None and cred.region else cloud.settings.region,
                params, output, failure, request_id, request.client, request.header("user-agent") or "",
                cred.access_key if cred is not None else None,
                host=request.header("host") if service_name == "s3" else None,
                owner=ctx.extra.get("resource_owner") if ctx is not None else None)
            if not wrote:
                response.wait_for_commit = False
        if op is not None and principal is not None:
            # AWS/Usage CallCount: one per API call, per service and operation
            # (the sink only adds to a per-minute aggregate).
            usage = self._usage_dims.get(op)
            if usage is None:
                usage = self._usage_dims[op] = {"Class": "None", "Resource": op.name, "Service": model.service_id,
                                                "Type": "API"}
            cloud.metrics(principal.account_id, cred.region if cred is not None and cred.region
                          else cloud.settings.region, "AWS/Usage", "CallCount", usage, 1.0)
        if service is not None and service.finish_response is not None:
            try:
                response = service.finish_response(request, path, response)
            except Exception:
                errlog.exception("finishing the answer to %s.%s failed (request %s)", service_name, op_name,
                                 request_id)
        if self.log_requests:
            log.info("%s %s.%s %d %.1fms", request_id, service_name, op_name, response.status,
                     (time.perf_counter() - started) * 1000)
        return response

    # -- operation lookup -----------------------------------------------

    def _operation(self, protocol_name: str, protocol, model: ServiceModel, request: HttpRequest,
                   routed: RouteResult):
        """(operation model, zero-argument parse function)."""
        if protocol_name in ("query", "ec2"):
            form = request.form()
            name = protocol.operation_name(request, form)
            op = model.operation(name)
            if op is None:
                raise invalid_action(name)
            return op, lambda: protocol.parse(op, request, form)
        if protocol_name in ("json", "smithy-rpc-v2-cbor"):
            _check_content_type(protocol_name, request)
            name = protocol.operation_name(request, model)
            op = model.operation(name)
            if op is None:
                raise unknown_operation("An unknown operation was requested.")
            return op, lambda: protocol.parse(op, request)
        found = protocol.route(model, request, routed.raw_path)
        if found is None:
            raise self._no_route(protocol, model, request, routed)
        op, labels = found
        return op, lambda: protocol.parse(op, request, labels)

    @staticmethod
    def _no_route(protocol, model: ServiceModel, request: HttpRequest, routed: RouteResult) -> AwsError:
        if model.signing_name == "s3":
            path = routed.raw_path or request.raw_path
            if path.startswith("//"):
                return AwsError("InvalidBucketName", "The specified bucket is not valid.", 400)
            return AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
        return AwsError("UnknownOperationException", "An unknown operation was requested.", 404)

    @staticmethod
    def _not_built(protocol_name: str, op_name: str) -> AwsError:
        # An operation cloudlet has not built answers as an unknown one.
        if protocol_name in ("query", "ec2"):
            return invalid_action(op_name)
        if protocol_name in ("rest-json", "rest-xml"):
            return AwsError("UnknownOperationException", f"The operation {op_name} is not supported.", 404)
        return unknown_operation("An unknown operation was requested.")

    @staticmethod
    def _unknown_service(request: HttpRequest, protocol_name: str) -> AwsError:
        message = "cloudlet does not know which service this request is for."
        if protocol_name in ("query", "ec2"):
            action = request.form().get("Action")
            if not action:
                return missing_action()
            return AwsError("InvalidAction", f"The action {action} is not valid for this web service.", 400)
        return AwsError("UnknownOperationException", message, 404 if protocol_name.startswith("rest") else 400)

    @staticmethod
    def _parse_error(protocol_name: str, exc: ParseError) -> AwsError:
        if protocol_name in ("query", "ec2"):
            where = f" for parameter {exc.path}" if exc.path else ""
            return AwsError("InvalidParameterValue", f"{exc.message}{where}", 400)
        return AwsError("SerializationException", exc.message, 400)

    def _error(self, protocol_name: str | None, request: HttpRequest, model: ServiceModel | None,
               err: AwsError, request_id: str) -> HttpResponse:
        request_id = request_id or new_request_id()
        protocol = PROTOCOLS[protocol_name or guess_protocol(request)]
        try:
            response = protocol.serialize_error(model, err, request_id)
        except Exception:
            errlog.exception("could not serialize %r", err)
            response = protocol.serialize_error(None, internal_failure(request_id), request_id)
        return response

    def commit_failed(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id()
        return self._error(None, request, None, internal_failure(request_id), request_id)

    # -- internal calls -------------------------------------------------

    async def call(self, service_name: str, operation: str, params: dict, *, account_id: str,
                   region: str, invoked_by: str, principal: Principal | None = None,
                   request_id: str | None = None, source_arn: str | None = None,
                   source_account: str | None = None) -> dict:
        """Call another service's operation as a service principal (e.g.
        SNS delivering to SQS), authorized by the target's resource policy
        with aws:SourceArn/aws:SourceAccount naming what the service acts
        for. Raises AwsError like an external call."""
        cloud = self.cloud
        model = cloud.models.get(service_name)
        op = model.operation(operation) if model is not None else None
        service = cloud.service(service_name)
        handler = service.handler(operation) if (service is not None and op is not None) else None
        if handler is None:
            raise unknown_operation(f"{service_name}.{operation} is not available.")
        if principal is None:
            principal = Principal(account_id=account_id, arn=invoked_by, user_id=invoked_by,
                                  type="AWSService", name=invoked_by)
        ctx = RequestContext(
            request_id=request_id or new_request_id(), account_id=account_id, region=region,
            principal=principal, service=service_name, operation=operation, protocol="internal",
            request=HttpRequest("POST", "/"), cloud=cloud, op_model=op, invoked_by=invoked_by,
            user_agent=invoked_by, source_ip=invoked_by)
        if source_arn:
            ctx.extra["aws:SourceArn"] = source_arn
            # (an S3 bucket's ARN names no account: the caller says whose it is)
            ctx.extra["aws:SourceAccount"] = ctx.extra["aws:SourceOwner"] = \
                source_account or source_arn.split(":")[4]
        try:
            _check_input(service, op, params, ctx.request, "ValidationException")
        except AwsError as err:
            if self.recorder.enabled:
                self.recorder.record_internal(ctx, params, None, err)
            raise
        recorder = self.recorder
        if not recorder.enabled:
            cloud.authorizer.check(ctx, service, op, params)
            fn, is_async = handler
            return (await fn(ctx, params)) if is_async else fn(ctx, params)
        try:
            cloud.authorizer.check(ctx, service, op, params)
            fn, is_async = handler
            output = (await fn(ctx, params)) if is_async else fn(ctx, params)
        except AwsError as err:
            recorder.record_internal(ctx, params, None, err)
            raise
        recorder.record_internal(ctx, params, output, None)
        return output

    def call_sync(self, service_name: str, operation: str, params: dict, **kwargs) -> dict:
        """`call` from synchronous code, for a target whose provider method
        is synchronous (SQS's SendMessage asking KMS for a data key): the
        same checks and authorization, run to completion at once. A target
        method that would suspend is refused (use `call`)."""
        coro = self.call(service_name, operation, params, **kwargs)
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise RuntimeError(f"{service_name}.{operation} is asynchronous: use Gateway.call")

    async def call_many(self, service_name: str, operation: str, calls: list[tuple[dict, str, str]], *,
                        invoked_by: str, source_arn: str | None = None,
                        request_id: str | None = None) -> list[dict | AwsError]:
        """`call` for many (params, account_id, region) at once, each checked
        and authorized on its own; a service that can do them together
        (`batch_handler`, e.g. SQS inserting SNS's fan-out in one statement)
        gets the authorized ones in one go. Returns, in order, each call's
        output or the AwsError it met."""
        cloud = self.cloud
        model = cloud.models.get(service_name)
        op = model.operation(operation) if model is not None else None
        service = cloud.service(service_name)
        handler = service.handler(operation) if (service is not None and op is not None) else None
        if handler is None:
            err = unknown_operation(f"{service_name}.{operation} is not available.")
            return [err] * len(calls)
        request = HttpRequest("POST", "/")
        request_id = request_id or new_request_id()
        principals: dict = {}
        results: list = [None] * len(calls)
        contexts: list = [None] * len(calls)
        ready: list = []  # (index, ctx, params)
        for i, (params, account_id, region) in enumerate(calls):
            principal = principals.get(account_id)
            if principal is None:
                principal = principals[account_id] = Principal(account_id=account_id, arn=invoked_by,
                                                               user_id=invoked_by, type="AWSService",
                                                               name=invoked_by)
            ctx = RequestContext(
                request_id=request_id, account_id=account_id, region=region, principal=principal,
                service=service_name, operation=operation, protocol="internal", request=request, cloud=cloud,
                op_model=op, invoked_by=invoked_by, user_agent=invoked_by, source_ip=invoked_by)
            if source_arn:
                ctx.extra["aws:SourceArn"] = source_arn
                ctx.extra["aws:SourceAccount"] = ctx.extra["aws:SourceOwner"] = source_arn.split(":")[4]
            try:
                _check_input(service, op, params, request, "ValidationException")
                cloud.authorizer.check(ctx, service, op, params)
            except AwsError as err:
                results[i] = err
                contexts[i] = ctx
                continue
            contexts[i] = ctx
            ready.append((i, ctx, params))
        batch = getattr(service, "batch_handler", None)
        many = batch(operation) if batch is not None else None
        if many is not None:
            for (i, _, _), out in zip(ready, many([(ctx, params) for _, ctx, params in ready])):
                results[i] = out
        else:
            fn, is_async = handler
            for i, ctx, params in ready:
                try:
                    results[i] = (await fn(ctx, params)) if is_async else fn(ctx, params)
                except AwsError as err:
                    results[i] = err
        if self.recorder.enabled:
            record = self.recorder.record_internal
            for (params, _, _), ctx, out in zip(calls, contexts, results):
                if isinstance(out, AwsError):
                    record(ctx, params, None, out)
                else:
                    record(ctx, params, out, None)
        return results


class _Answered(Exception):
    """A provider answered a request outside its model (Service.unrouted)."""

    def __init__(self, response: HttpResponse):
        super().__init__()
        self.response = response


def _check_input(service, op, params: dict, request, default_code: str) -> None:
    """A request's input against the model, or the service's own check
    (`Service.check_input`), which may hand a request back to the model's
    by answering False."""
    if service is not None and service.check_input is not None:
        if service.check_input(op, params, request) is not False:
            return
    validate(op.input, params, (service.validation_code if service is not None else None) or default_code)


def _validation_code(protocol_name: str) -> str:
    return "ValidationError" if protocol_name in ("query", "ec2") else "ValidationException"


def _check_content_type(protocol_name: str, request: HttpRequest) -> None:
    ct = request.content_type.split(";", 1)[0].strip().lower()
    if not ct or not request.body:
        return
    if protocol_name == "json":
        ok = ct in _JSON_TYPES
    else:
        ok = ct == "application/cbor"
    if not ok:
        raise AwsError("UnsupportedMediaTypeException", f"Unsupported Content-Type: {ct}", 415)


def _inflate(request: HttpRequest) -> None:
    """Undo a transport Content-Encoding (botocore gzips large CloudWatch
    requests). S3 keeps Content-Encoding as object metadata instead."""
    encoding = (request.header("content-encoding") or "").lower()
    if "gzip" not in encoding or not request.body:
        return
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        body = inflater.decompress(request.body, _MAX_INFLATED)
        if inflater.unconsumed_tail:
            raise AwsError("RequestEntityTooLarge", "The decompressed request body is too large.", 413)
    except zlib.error:
        raise AwsError("SerializationException", "The request body is not valid gzip data.", 400) from None
    request.body = body
