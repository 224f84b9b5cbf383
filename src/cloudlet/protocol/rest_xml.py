"""rest-xml: REST routing and bindings with XML bodies (S3, Route 53,
CloudFront). S3 writes its errors as a bare <Error> and its request ids as
x-amz-request-id / x-amz-id-2; the others wrap errors in <ErrorResponse>."""

from __future__ import annotations

import base64
import hashlib

from cloudlet.errors import AwsError
from cloudlet.protocol.http import HttpResponse
from cloudlet.protocol.json import error_fields
from cloudlet.protocol.model import OperationModel, ServiceModel, Shape
from cloudlet.protocol.rest import RestProtocol
from cloudlet.protocol.xml import XmlReader, XmlWriter, escape, ns_attr, parse_document

_READER = XmlReader()
_BODY_WRITER = XmlWriter("iso8601", skip_located=True)
_WRITER = XmlWriter("iso8601")


def is_s3(service: ServiceModel | None) -> bool:
    return service is not None and service.signing_name == "s3" and service.service_id == "S3"


class RestXmlProtocol(RestProtocol):
    name = "rest-xml"
    content_type = "application/xml"

    def request_id_headers(self, service: ServiceModel | None, request_id: str) -> list[tuple[str, str]]:
        if service is not None and service.signing_name == "s3":
            return [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id))]
        return [("x-amzn-RequestId", request_id)]

    def parse_body(self, shape: Shape, body: bytes) -> dict:
        root = parse_document(body)
        return _READER.structure(shape, root, skip_located=True)

    def parse_payload_structure(self, shape: Shape, body: bytes):
        root = parse_document(body)
        return _READER.value(shape, root)

    def root_name(self, op: OperationModel, shape: Shape) -> str:
        """The document element of a response body. botocore's models do not
        keep it (clients ignore it); services may name it in their plans."""
        override = op.plans.get("xml_root")
        if override:
            return override
        return shape.wire_name or shape.name

    def encode_body(self, op: OperationModel, shape: Shape, output: dict) -> bytes:
        if op.name == "GetBucketLocation" and is_s3(op.service):
            # The one S3 answer a model cannot describe (botocore parses it by
            # hand too): the document element's text is the region.
            namespace = ns_attr(op.service.xml_namespace)
            text = escape(output.get("LocationConstraint") or "")
            return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<LocationConstraint{namespace}>{text}</LocationConstraint>").encode()
        out: list[str] = [""]
        attrs = _BODY_WRITER.structure_body(out, shape, output)
        name = self.root_name(op, shape)
        namespace = shape.xml_namespace or op.service.xml_namespace
        out[0] = f"<{name}{ns_attr(namespace)}{attrs}>"
        out.append(f"</{name}>")
        return "".join(out).encode()

    def encode_payload_structure(self, op: OperationModel, shape: Shape, member: str, value) -> bytes:
        out: list[str] = []
        name = op.plans.get("xml_root") or shape.wire_name or shape.name
        if shape.type == "structure":
            out.append("")
            attrs = _WRITER.structure_body(out, shape, value)
            namespace = shape.xml_namespace or op.service.xml_namespace
            out[0] = f"<{name}{ns_attr(namespace)}{attrs}>"
            out.append(f"</{name}>")
        else:
            _WRITER.write(out, shape, value, name)
        return "".join(out).encode()

    def serialize_error(self, service: ServiceModel | None, error: AwsError, request_id: str) -> HttpResponse:
        query_code, status, sender, shape = error_fields(service, error)
        headers = [("Content-Type", "application/xml")]
        headers.extend(self.request_id_headers(service, request_id))
        fields: list[str] = []
        if shape is not None and error.fields:
            self.write_located(shape, error.fields, headers, status)
            _BODY_WRITER.structure_body(fields, shape, {k: v for k, v in error.fields.items()
                                                        if k not in ("Message", "message")})
            # Fields the model does not declare (S3's NoSuchBucket has no
            # members, yet S3 sends BucketName): written as plain elements.
            for k, v in error.fields.items():
                if k not in shape.members and k not in ("Message", "message"):
                    fields.append(f"<{k}>{escape(str(v))}</{k}>")
        elif error.fields:
            for k, v in error.fields.items():
                fields.append(f"<{k}>{escape(str(v))}</{k}>")
        code = escape(shape.error.get("code") or shape.name if shape is not None else error.code)
        message = f"<Message>{escape(error.message)}</Message>" if error.message else ""
        if is_s3(service):
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>{message}'
                    f"{''.join(fields)}<RequestId>{escape(request_id)}</RequestId>"
                    f"<HostId>{escape(host_id(request_id))}</HostId></Error>")
        else:
            body = (f"<ErrorResponse><Error><Type>{'Sender' if sender else 'Receiver'}</Type><Code>{code}</Code>"
                    f"{message}{''.join(fields)}</Error>"
                    f"<RequestId>{escape(request_id)}</RequestId></ErrorResponse>")
        headers.extend(error.headers.items())
        if status == 304:
            # Not Modified carries no body (HTTP forbids one).
            return HttpResponse(status, [h for h in headers if h[0].lower() != "content-type"], b"")
        return HttpResponse(status, headers, body.encode())


def host_id(request_id: str) -> str:
    """S3's x-amz-id-2: an opaque token derived from the request id."""
    return base64.b64encode(hashlib.sha256(request_id.encode()).digest() * 2).decode()
