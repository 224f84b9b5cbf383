"""Smithy RPC v2 CBOR: POST /service/{Service}/operation/{Operation} with a
CBOR body and the `smithy-protocol: rpc-v2-cbor` header. boto3 speaks it to
CloudWatch by default."""

from __future__ import annotations

import cbor2

from cloudlet.errors import AwsError, serialization_error, unknown_operation
from cloudlet.protocol.common import ParseError
from cloudlet.protocol.http import HttpRequest, HttpResponse
from cloudlet.protocol.json import error_fields, message_key
from cloudlet.protocol.model import OperationModel, ServiceModel
from cloudlet.protocol.values import DocumentCodec, _CborTimestamp

_CODEC = DocumentCodec(binary=True, use_wire_names=False)
from cloudlet.protocol.http import CBOR_PATH as PATH_RE  # noqa: E402


def _encode_default(encoder, value):
    if isinstance(value, _CborTimestamp):
        encoder.encode(cbor2.CBORTag(1, value.seconds))
    else:
        raise cbor2.CBOREncodeTypeError(f"cannot encode {type(value).__name__}")


def encode(doc) -> bytes:
    return cbor2.dumps(doc, default=_encode_default)


def decode(body: bytes):
    if not body:
        return {}
    try:
        return cbor2.loads(body, max_depth=128)
    except Exception as exc:  # cbor2 raises several types on bad input
        raise serialization_error(f"The request body is not valid CBOR: {exc}") from None


def _strip_undefined(value):
    if value is cbor2.undefined:
        return None
    if isinstance(value, dict):
        return {k: _strip_undefined(v) for k, v in value.items() if v is not cbor2.undefined}
    if isinstance(value, list):
        return [_strip_undefined(v) for v in value]
    return value


class RpcV2CborProtocol:
    name = "smithy-rpc-v2-cbor"

    def operation_name(self, request: HttpRequest, service: ServiceModel) -> str:
        match = PATH_RE.match(request.path)
        if not match:
            raise unknown_operation()
        return match.group(2)

    def parse(self, op: OperationModel, request: HttpRequest) -> dict:
        data = decode(request.body)
        if data == {} or data is None:
            data = {}
        if not isinstance(data, dict):
            raise serialization_error("Expected a CBOR map as the request body.")
        shape = op.input
        if shape is None:
            return {}
        try:
            return _CODEC.read_structure(shape, _strip_undefined(data))
        except ParseError as exc:
            raise serialization_error(exc.message) from None

    def serialize(self, op: OperationModel, output: dict | None, request_id: str) -> HttpResponse:
        shape = op.output
        doc = _CODEC.write_structure(shape, output) if (shape is not None and output) else {}
        return HttpResponse(200, [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-RequestId", request_id),
        ], encode(doc))

    def serialize_error(self, service: ServiceModel | None, error: AwsError, request_id: str) -> HttpResponse:
        query_code, status, sender, shape = error_fields(service, error)
        doc = {"__type": shape.name if shape is not None else error.code, message_key(shape): error.message or ""}
        if shape is not None and error.fields:
            doc.update(_CODEC.write_structure(shape, error.fields))
        headers = [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("x-amzn-RequestId", request_id),
        ]
        if service is not None and service.query_compatible:
            headers.append(("x-amzn-query-error", f"{query_code or error.code};{'Sender' if sender else 'Receiver'}"))
        headers.extend(error.headers.items())
        return HttpResponse(status, headers, encode(doc))
