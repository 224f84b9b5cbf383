"""Bad input of every kind answers AWS's error, in the protocol's own form,
and never a 500 or a traceback."""

from __future__ import annotations

import cbor2
import orjson
import pytest
from xml.etree import ElementTree as ET

from tests.http import send

STS_FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
SQS_JSON = {"Content-Type": "application/x-amz-json-1.0"}
CW_CBOR = {"Content-Type": "application/cbor", "Accept": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
CW_PATH = "/service/GraniteServiceVersion20100801/operation/"


def xml_error(resp):
    root = ET.fromstring(resp.body)
    ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
    err = root.find(f"{ns}Error")
    return {child.tag.replace(ns, ""): child.text for child in err}


def test_unknown_query_action(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=NoSuchThing&Version=2011-06-15",
                headers=STS_FORM, service="sts")
    assert resp.status == 400
    assert resp.header("content-type") == "text/xml"
    assert xml_error(resp) == {"Type": "Sender", "Code": "InvalidAction",
                               "Message": "The action NoSuchThing is not valid for this web service."}


def test_missing_query_action(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Version=2011-06-15", headers=STS_FORM, service="sts")
    assert resp.status == 400
    assert xml_error(resp)["Code"] == "MissingAction"


def test_unknown_json_operation(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"{}",
                headers={**SQS_JSON, "X-Amz-Target": "AmazonSQS.NoSuchThing"}, service="sqs")
    assert resp.status == 400
    assert orjson.loads(resp.body)["__type"] == "UnknownOperationException"


def test_unknown_cbor_operation(cloudlet):
    resp = send(cloudlet.endpoint, "POST", CW_PATH + "NoSuchThing", body=cbor2.dumps({}), headers=CW_CBOR,
                service="monitoring")
    assert resp.status == 400
    assert resp.header("smithy-protocol") == "rpc-v2-cbor"
    assert cbor2.loads(resp.body)["__type"] == "UnknownOperationException"


def test_unknown_service(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=Frobnicate&Version=1",
                headers=STS_FORM, service="no-such-service")
    assert resp.status == 400
    assert xml_error(resp)["Code"] == "InvalidAction"
    resp = send(cloudlet.endpoint, "POST", "/", body=b"{}",
                headers={**SQS_JSON, "X-Amz-Target": "NoSuchPrefix_20200101.Frobnicate"}, service="no-such-service")
    assert resp.status == 400
    assert orjson.loads(resp.body)["__type"] == "UnknownOperationException"


def test_truncated_json(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b'{"QueueNamePrefix": "a',
                headers={**SQS_JSON, "X-Amz-Target": "AmazonSQS.ListQueues"}, service="sqs")
    assert resp.status == 400
    doc = orjson.loads(resp.body)
    assert doc["__type"] == "SerializationException"
    assert doc["message"].startswith("Unexpected end of input")
    # SQS is query-compatible: its errors also carry their query code.
    assert resp.header("x-amzn-query-error") == "SerializationException;Sender"


def test_json_of_the_wrong_type(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b'{"MaxResults": "ten"}',
                headers={**SQS_JSON, "X-Amz-Target": "AmazonSQS.ListQueues"}, service="sqs")
    assert resp.status == 400
    doc = orjson.loads(resp.body)
    assert doc["__type"] == "SerializationException"
    assert doc["message"] == "Expected integer but found string at '/MaxResults'"


def test_invalid_cbor(cloudlet):
    resp = send(cloudlet.endpoint, "POST", CW_PATH + "ListMetrics", body=b"\xbf\x61",
                headers=CW_CBOR, service="monitoring")
    assert resp.status == 400
    assert resp.header("content-type") == "application/cbor"
    doc = cbor2.loads(resp.body)
    assert doc["__type"] == "SerializationException"
    assert doc["message"].startswith("The request body is not valid CBOR")


def test_query_body_not_utf8(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15&X=\xff\xfe",
                headers=STS_FORM, service="sts")
    assert resp.status == 400
    assert xml_error(resp)["Code"] == "MalformedQueryString"


def test_query_value_of_the_wrong_type(cloudlet):
    body = (b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A000000000000%3Arole%2Fr"
            b"&RoleSessionName=s1&DurationSeconds=soon")
    resp = send(cloudlet.endpoint, "POST", "/", body=body, headers=STS_FORM, service="sts")
    assert resp.status == 400
    err = xml_error(resp)
    assert err["Code"] == "InvalidParameterValue"
    assert err["Message"] == "Invalid integer: soon for parameter DurationSeconds"


def test_json_with_wrong_content_type(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"{}",
                headers={"Content-Type": "text/plain", "X-Amz-Target": "AmazonSQS.ListQueues"}, service="sqs")
    assert resp.status == 415
    assert orjson.loads(resp.body)["__type"] == "UnsupportedMediaTypeException"


def test_query_with_wrong_content_type(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                headers={"Content-Type": "application/json"}, service="sts")
    assert resp.status == 400
    assert xml_error(resp)["Code"] == "MissingAction"


def test_missing_required_json_member(cloudlet):
    # The generic model-driven answer (DynamoDB words it the Coral way)...
    resp = send(cloudlet.endpoint, "POST", "/", body=b"{}",
                headers={**SQS_JSON, "X-Amz-Target": "DynamoDB_20120810.DescribeTimeToLive"}, service="dynamodb")
    assert resp.status == 400
    doc = orjson.loads(resp.body)
    assert doc["__type"] == "ValidationException"
    assert doc["message"] == ("1 validation error detected: Value null at 'tableName' failed to satisfy "
                              "constraint: Member must not be null")
    # ... and SQS's own.
    resp = send(cloudlet.endpoint, "POST", "/", body=b"{}",
                headers={**SQS_JSON, "X-Amz-Target": "AmazonSQS.CreateQueue"}, service="sqs")
    assert resp.status == 400
    doc = orjson.loads(resp.body)
    assert doc["__type"] == "MissingParameter"
    assert doc["message"] == "The request must contain the parameter QueueName."


def test_cbor_out_of_range(cloudlet):
    body = cbor2.dumps({"AlarmNames": ["a"] * 101})
    resp = send(cloudlet.endpoint, "POST", CW_PATH + "DescribeAlarms", body=body, headers=CW_CBOR,
                service="monitoring")
    assert resp.status == 400
    doc = cbor2.loads(resp.body)
    assert doc["__type"] == "ValidationException"
    assert "at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100" in doc["message"]


def test_gzip_request_body_is_inflated(cloudlet):
    import gzip

    body = gzip.compress(b"Action=GetCallerIdentity&Version=2011-06-15")
    resp = send(cloudlet.endpoint, "POST", "/", body=body,
                headers={**STS_FORM, "Content-Encoding": "gzip"}, service="sts")
    assert resp.status == 200
    assert b"<Arn>arn:aws:iam::000000000000:root</Arn>" in resp.body


def test_bad_gzip_body(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"not gzip at all",
                headers={**STS_FORM, "Content-Encoding": "gzip"}, service="sts")
    assert resp.status == 400
    assert xml_error(resp)["Code"] == "SerializationException"


def test_request_id_header_matches_body(cloudlet):
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=GetCallerIdentity&Version=2011-06-15",
                headers=STS_FORM, service="sts")
    rid = resp.header("x-amzn-requestid")
    assert f"<RequestId>{rid}</RequestId>".encode() in resp.body


def test_s3_style_errors_carry_s3_request_ids(cloudlet):
    resp = send(cloudlet.endpoint, "PATCH", "/some-bucket", service="s3")
    assert resp.status == 405
    assert len(resp.header("x-amz-request-id")) == 16
    assert resp.header("x-amz-id-2")
    root = ET.fromstring(resp.body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "MethodNotAllowed"
    assert root.findtext("RequestId") == resp.header("x-amz-request-id")


@pytest.mark.parametrize("path", ["/_cloudlet/nope", "/_cloudlet/"])
def test_unknown_admin_path(cloudlet, path):
    resp = send(cloudlet.endpoint, "GET", path)
    assert resp.status == 404
    assert "error" in orjson.loads(resp.body)
