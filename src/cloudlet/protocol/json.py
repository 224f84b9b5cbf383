"""The awsJson 1.0 / 1.1 protocols: POST /, X-Amz-Target names the
operation, JSON in and out. Query-compatible services (awsQueryCompatible)
also answer their errors' query codes in the x-amzn-query-error header."""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError, serialization_error, unknown_operation
from cloudlet.protocol.common import ParseError
from cloudlet.protocol.http import HttpRequest, HttpResponse
from cloudlet.protocol.model import OperationModel, ServiceModel, Shape
from cloudlet.protocol.values import DocumentCodec

_CODEC = DocumentCodec(binary=False, use_wire_names=True, default_timestamp="unixTimestamp")


def error_fields(service: ServiceModel | None, error: AwsError):
    """(query code, status, sender fault, error shape) for an AwsError; the
    code may name the shape or its query-compatible custom code."""
    shape = service.error_shape(error.code) if service is not None else None
    status = error.status
    sender = error.sender_fault
    query_code = None
    if shape is not None:
        status = status or shape.error.get("httpStatusCode")
        if sender is None and "senderFault" in shape.error:
            sender = shape.error["senderFault"]
        query_code = shape.error.get("code")
    status = status or 400
    if sender is None:
        sender = status < 500
    return query_code, status, sender, shape


def message_key(shape: Shape | None) -> str:
    if shape is not None and "Message" in shape.members and "message" not in shape.members:
        return "Message"
    return "message"


def decode_json_body(body: bytes):
    if not body or not body.strip():
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise serialization_error(_json_problem(exc)) from None


def _json_problem(exc: orjson.JSONDecodeError) -> str:
    msg = str(exc)
    if "EOF" in msg or "end of" in msg.lower():
        return "Unexpected end of input: the request body is not complete JSON."
    return f"The request body is not valid JSON: {msg}"


class JsonProtocol:
    name = "json"

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str:
        target = request.header("x-amz-target") or ""
        prefix, _, op = target.rpartition(".")
        if not op or (service.target_prefix and prefix != service.target_prefix):
            raise unknown_operation()
        return op

    def parse(self, op: OperationModel, request: HttpRequest) -> dict:
        data = decode_json_body(request.body)
        shape = op.input
        if shape is None:
            if not isinstance(data, dict):
                raise serialization_error("Expected a JSON object as the request body.")
            return {}
        try:
            return _CODEC.read_structure(shape, data)
        except ParseError as exc:
            raise serialization_error(exc.message) from None

    def serialize(self, op: OperationModel, output: dict | None, request_id: str) -> HttpResponse:
        shape = op.output
        doc = _CODEC.write_structure(shape, output) if (shape is not None and output) else {}
        return HttpResponse(200, [
            ("Content-Type", f"application/x-amz-json-{op.service.json_version}"),
            ("x-amzn-RequestId", request_id),
        ], orjson.dumps(doc))

    def serialize_error(self, service: ServiceModel | None, error: AwsError, request_id: str) -> HttpResponse:
        query_code, status, sender, shape = error_fields(service, error)
        doc = {"__type": shape.name if shape is not None else error.code, message_key(shape): error.message or ""}
        if shape is not None and error.fields:
            doc.update(_CODEC.write_structure(shape, error.fields))
        version = service.json_version if service is not None else "1.0"
        headers = [
            ("Content-Type", f"application/x-amz-json-{version}"),
            ("x-amzn-RequestId", request_id),
        ]
        if service is not None and service.query_compatible:
            headers.append(("x-amzn-query-error", f"{query_code or error.code};{'Sender' if sender else 'Receiver'}"))
        headers.extend(error.headers.items())
        return HttpResponse(status, headers, orjson.dumps(doc))
