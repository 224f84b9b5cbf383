"""botocore's protocol test vectors, inverted for a server.

input/:  the HTTP request a client sends (`serialized`) must parse back into
         the caller's `params`.
output/: the `result` (or error) must serialize into a response that
         botocore's own parser turns back into `result`.

A case is skipped only where the vector describes something a server cannot
see or need (client-side conveniences); SKIPS gives each reason. The
session-end summary prints pass counts per protocol and direction.
"""

from __future__ import annotations

import base64
import copy
import math

import pytest
from botocore.awsrequest import HeadersDict
from botocore.model import NoShapeFoundError, OperationModel as BotoOperation, ServiceModel as BotoService
from botocore.parsers import create_parser
from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

from cloudlet.errors import AwsError
from cloudlet.protocol import PROTOCOLS
from cloudlet.protocol.http import HttpRequest
from cloudlet.protocol.model import ServiceModel

from .conformance import load_cases, service_description

# Whole suites that test a client convenience (botocore's ignore list).
SKIP_SUITES = {
    "Test cases for PutWithContentEncoding operation": "request compression is a client choice; the server sees the compressed body and Content-Encoding",
    "Test cases for QueryIdempotencyTokenAutoFill operation": "the client fills in the idempotency token; a server receives it like any member",
    "Test cases for HostWithPathOperation operation": "the endpoint's base path is client configuration, not part of the operation",
    "Idempotency token auto fill": "the client fills in the idempotency token; a server receives it like any member",
}

SERVER_QUERY_MAP = ("a server puts every query parameter into an httpQueryParams map, named ones too "
                    "(Smithy's server rule); this client vector leaves them out")

BOTOCORE_HEADER_LISTS = ("botocore's parser splits a list header on every comma, so it cannot read quoted "
                         "items or HTTP dates back; the response follows the spec (the input vectors check it)")

BOTOCORE_FLAT_LISTS = ("botocore names a flattened list's elements after its list member, so two flattened "
                       "lists sharing a member name read back merged; the response is written the way "
                       "botocore (every boto3 user) reads it")

# Single cases whose `params` cannot be recovered from the wire.
SKIPS = {
    ("input", "RestJsonQueryPrecedence"): "the client drops the map entry a named member shadows; the request never carries 'fromMap'",
    ("input", "RestXmlQueryPrecedence"): "the client drops the map entry a named member shadows; the request never carries 'fromMap'",
    ("input", "MediaTypeHeaderInputBase64"): "the vector sends base64 of the bare text 'true' for a jsonvalue member, which decodes to the JSON boolean true, not the string the params hold",
    ("input", "Ec2EmptyQueryLists"): "ec2 clients send nothing for an empty list, so the server sees the member absent",
    ("input", "QueryEmptyQueryMaps"): "query clients send nothing for an empty map, so the server sees the member absent",
    ("input", "RestJsonHttpPrefixHeadersAreNotPresent"): "an empty prefix-header map puts nothing on the wire, so the server sees it absent",
    ("input", "HttpPrefixHeadersAreNotPresent"): "an empty prefix-header map puts nothing on the wire, so the server sees it absent",
    ("input", "RestJsonOmitsEmptyListQueryValues"): "empty query lists put nothing on the wire, so the server sees them absent",
    ("input", "RestJsonHttpWithEmptyStructurePayload"): "the client sends {} for an unset structure payload; the server cannot tell it from an empty one",
    ("input", "RestJsonHttpWithHeadersButNoPayload"): "the client sends {} for an unset structure payload; the server cannot tell it from an empty one",
    ("input", "RestJsonQueryParamsStringListMap"): SERVER_QUERY_MAP,
    ("input", "RestJsonQueryStringEscaping"): SERVER_QUERY_MAP,
    ("input", "RestJsonSupportsNaNFloatQueryValues"): SERVER_QUERY_MAP,
    ("input", "RestJsonSupportsInfinityFloatQueryValues"): SERVER_QUERY_MAP,
    ("input", "RestJsonSupportsNegativeInfinityFloatQueryValues"): SERVER_QUERY_MAP,
    ("input", "RestJsonZeroAndFalseQueryValues"): SERVER_QUERY_MAP,
    ("input", "AllQueryStringTypes"): SERVER_QUERY_MAP,
    ("input", "RestXmlQueryParamsStringListMap"): SERVER_QUERY_MAP,
    ("input", "RestXmlQueryStringEscaping"): SERVER_QUERY_MAP,
    ("input", "RestXmlSupportsNaNFloatQueryValues"): SERVER_QUERY_MAP,
    ("input", "RestXmlSupportsInfinityFloatQueryValues"): SERVER_QUERY_MAP,
    ("input", "RestXmlSupportsNegativeInfinityFloatQueryValues"): SERVER_QUERY_MAP,
    ("input", "RestXmlZeroAndFalseQueryValues"): SERVER_QUERY_MAP,
    ("output", "RestJsonInputAndOutputWithQuotedStringHeaders"): BOTOCORE_HEADER_LISTS,
    ("output", "RestJsonInputAndOutputWithTimestampHeaders"): BOTOCORE_HEADER_LISTS,
    ("output", "InputAndOutputWithTimestampHeaders"): BOTOCORE_HEADER_LISTS,
    ("output", "QueryXmlLists"): BOTOCORE_FLAT_LISTS,
    ("output", "Ec2XmlLists"): BOTOCORE_FLAT_LISTS,
    ("output", "XmlLists"): BOTOCORE_FLAT_LISTS,
    ("output", "QueryComplexError"): "botocore's query error parser leaves out a Message the error has not got; the vector expects ''",
    ("output", "Ec2ComplexError"): "botocore's query error parser leaves out a Message the error has not got; the vector expects ''",
    ("output", "HttpPrefixHeadersResponse"): "an empty-prefix header map reads back every response header, x-amzn-RequestId included, which every AWS response carries",
    ("output", "RestJsonHttpPayloadTraitsWithNoBlobBody"): "botocore always reads a blob payload from the body, empty or not",
    ("output", "HttpPayloadTraitsWithNoBlobBody"): "botocore always reads a blob payload from the body, empty or not",
    ("output", "RestJsonHttpPayloadWithUnsetUnion"): "botocore rejects an unset union payload whatever the body",
    ("output", "RestXmlHttpPayloadWithUnsetUnion"): "botocore rejects an unset union payload whatever the body",
}

def _ids(cases):
    return [f"{proto}:{case['id']}" for proto, _suite, case in cases]


INPUT_CASES = list(load_cases("input"))
OUTPUT_CASES = list(load_cases("output"))


def _skip_reason(direction, suite, case):
    if suite.get("description") in SKIP_SUITES:
        reason = SKIP_SUITES[suite["description"]]
        # An idempotency token the caller set is on the wire like any member.
        if "idempotency token" not in reason or not case["id"].endswith("IsSet"):
            return reason
    return SKIPS.get((direction, case["id"]))


# -- normalization ----------------------------------------------------------

def _normalize(value):
    """Compare as the vectors express values: no None members, blobs as
    text, timestamps as epoch numbers, special floats as their names."""
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


# -- input ------------------------------------------------------------------

def _request_for(proto: str, serialized: dict) -> HttpRequest:
    uri = serialized.get("uri", "/")
    path, _, query = uri.partition("?")
    body = serialized.get("body", "")
    body = base64.b64decode(body) if proto.startswith("smithy-rpc-v2-cbor") else body.encode()
    headers = dict(serialized.get("headers", {}))
    if serialized.get("host"):
        headers.setdefault("Host", serialized["host"])
    return HttpRequest(serialized.get("method", "POST"), path, query, headers, body)


@pytest.mark.parametrize("proto,suite,case", INPUT_CASES, ids=_ids(INPUT_CASES))
def test_input(proto, suite, case):
    reason = _skip_reason("input", suite, case)
    if reason:
        pytest.skip(reason)
    model = ServiceModel("conformance", copy.deepcopy(service_description(suite, case)))
    protocol = PROTOCOLS[model.protocol]
    op_name = case["given"].get("name", "OperationName")
    request = _request_for(proto, case["serialized"])
    if model.protocol in ("rest-json", "rest-xml"):
        routed = protocol.route(model, request)
        assert routed is not None, "no route matched"
        op, labels = routed
        assert op.name == op_name
        parsed = protocol.parse(op, request, labels)
    elif model.protocol in ("query", "ec2"):
        form = request.form()
        assert protocol.operation_name(request, form) == op_name
        parsed = protocol.parse(model.operation(op_name), request, form)
    else:
        if model.protocol == "json" and "X-Amz-Target" not in case["serialized"].get("headers", {}):
            # These vectors check only the host; every client sends the target.
            request.add_header("X-Amz-Target", f"{model.target_prefix}.{op_name}")
        assert protocol.operation_name(request, model) == op_name
        parsed = protocol.parse(model.operation(op_name), request)
    assert _normalize(parsed) == _normalize(case["params"])


# -- output -----------------------------------------------------------------

def _timestamp_parser(value):
    return parse_timestamp(value).astimezone(tzutc()).timestamp()


def _specials_to_float(result: dict) -> dict:
    specials = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    return {k: specials.get(v, v) if isinstance(v, str) else v for k, v in result.items()}


@pytest.mark.parametrize("proto,suite,case", OUTPUT_CASES, ids=_ids(OUTPUT_CASES))
def test_output(proto, suite, case):
    reason = _skip_reason("output", suite, case)
    if reason:
        pytest.skip(reason)
    description = service_description(suite, case)
    model = ServiceModel("conformance", copy.deepcopy(description))
    protocol = PROTOCOLS[model.protocol]
    op_name = case["given"].get("name", "OperationName")
    op = model.operation(op_name)
    if "error" in case:
        fields = dict(case["error"])
        message = case.get("errorMessage", "")
        response = protocol.serialize_error(model, AwsError(case["errorCode"], message, fields=fields), "req-1")
    else:
        response = protocol.serialize(op, _specials_to_float(copy.deepcopy(case["result"])), "req-1")

    boto_model = BotoService(copy.deepcopy(description))
    boto_op = BotoOperation(case["given"], boto_model)
    parser = create_parser(boto_model.metadata["protocol"])
    parser._timestamp_parser = _timestamp_parser
    if hasattr(parser, "_event_stream_parser") and parser._event_stream_parser is not None:
        parser._event_stream_parser._timestamp_parser = _timestamp_parser
    raw = {
        "status_code": response.status,
        "headers": HeadersDict(dict(response.headers)),
        "body": response.body,
        "context": {"operation_name": op_name},
    }
    output_shape = boto_op.output_shape
    if "error" in case:
        parsed = parser.parse(raw, output_shape)
        try:
            error_shape = boto_model.shape_for_error_code(parsed.get("Error", {}).get("Code"))
        except NoShapeFoundError:
            error_shape = None
        if error_shape is not None:
            parsed.update(parser.parse(raw, error_shape))
        expected = {"Error": {"Code": case.get("errorCode", ""), "Message": case.get("errorMessage", "")}}
        expected.update(case["error"])
    else:
        if model.protocol == "query" and output_shape is not None and output_shape.members:
            output_shape.serialization["resultWrapper"] = f"{op_name}Result"
        parsed = parser.parse(raw, output_shape)
        expected = case["result"]
    parsed.pop("ResponseMetadata", None)
    if "Error" in parsed:
        parsed["Error"] = {k: v for k, v in parsed["Error"].items() if k in ("Code", "Message")}
    assert _normalize(parsed) == _normalize(expected)
