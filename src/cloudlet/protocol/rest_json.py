"""rest-json: REST routing and bindings with JSON bodies."""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError
from cloudlet.protocol.http import HttpResponse
from cloudlet.protocol.json import decode_json_body, error_fields, message_key
from cloudlet.protocol.model import OperationModel, ServiceModel, Shape
from cloudlet.protocol.rest import RestProtocol
from cloudlet.protocol.values import DocumentCodec

_CODEC = DocumentCodec(binary=False, use_wire_names=True, default_timestamp="unixTimestamp")


class RestJsonProtocol(RestProtocol):
    name = "rest-json"
    content_type = "application/json"

    def parse_body(self, shape: Shape, body: bytes) -> dict:
        data = decode_json_body(body)
        return _CODEC.read_structure(shape, data, skip_located=True)

    def parse_payload_structure(self, shape: Shape, body: bytes):
        data = decode_json_body(body)
        if shape.document or shape.type != "structure":
            return _CODEC.read(shape, data, "")
        return _CODEC.read_structure(shape, data)

    def encode_body(self, op: OperationModel, shape: Shape, output: dict) -> bytes:
        return orjson.dumps(_CODEC.write_structure(shape, output, skip_located=True))

    def encode_payload_structure(self, op: OperationModel, shape: Shape, member: str, value) -> bytes:
        return orjson.dumps(_CODEC.write(shape, value))

    def serialize_error(self, service: ServiceModel | None, error: AwsError, request_id: str) -> HttpResponse:
        _, status, _, shape = error_fields(service, error)
        headers = [("Content-Type", "application/json"),
                   ("x-amzn-ErrorType", shape.name if shape is not None else error.code)]
        headers.extend(self.request_id_headers(service, request_id))
        doc = {message_key(shape): error.message or ""}
        if shape is not None and error.fields:
            self.write_located(shape, error.fields, headers, status)
            doc.update(_CODEC.write_structure(shape, error.fields, skip_located=True))
        headers.extend(error.headers.items())
        return HttpResponse(status, headers, orjson.dumps(doc))
