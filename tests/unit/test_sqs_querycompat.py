"""SQS over the query protocol from botocore's JSON model plus querycompat's
patch.

The reference for the query wire is botocore's last query-protocol model of
SQS (tests/unit/data/sqs-query-2012-11-05.json: botocore 1.34.22's
botocore/data/sqs/2012-11-05/service-2.json without its documentation;
cross-checked against boto/botocore's older query model of the same API
version): requests serialized by botocore's QuerySerializer from it must parse
to the same params, and responses cloudlet writes must parse back with its
QueryParser. The example requests are those of AWS's SQS API Reference.

The names in QUERY_ONLY_NAMES (Attribute.N, Tag.N, MessageAttribute.N, ...)
can only be carried by a structure member; they are given as `queryName`, a
trait only the query protocol reads, so the JSON protocol's keys stay as
they are (checked below).
"""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import urlencode

import orjson
import pytest
from botocore.model import ServiceModel as BotocoreServiceModel
from botocore.parsers import JSONParser, QueryParser
from botocore.serialize import JSONSerializer, QuerySerializer

from cloudlet.errors import AwsError
from cloudlet.protocol.http import HttpRequest
from cloudlet.protocol.json import _CODEC, JsonProtocol
from cloudlet.protocol.model import ModelRegistry
from cloudlet.protocol.query import QueryProtocol
from cloudlet.protocol.xml import member_element_name
from cloudlet.services.sqs.querycompat import (
    ERROR_CODES,
    MODEL_PATCH,
    QUERY_ONLY_NAMES,
    XML_NAMESPACE,
)

OLD_MODEL_PATH = os.path.join(os.path.dirname(__file__), "data", "sqs-query-2012-11-05.json")
QUEUE = "https://sqs.us-east-2.amazonaws.com/123456789012/MyQueue"
HANDLE = "MbZj6wDWli+JvwwJaBV+3dcjk2YW2vA3+STFFljTM8tJJg6HRG6PYSasuWXPJB+Cw="


def _registry(patch):
    registry = ModelRegistry()
    if patch is not None:
        registry.add_patch("sqs", patch)
    return registry.get("sqs")


@pytest.fixture(scope="module")
def plain():
    return _registry(None)


@pytest.fixture(scope="module")
def patched():
    return _registry(MODEL_PATCH)


@pytest.fixture(scope="module")
def query_model():
    return _registry(MODEL_PATCH)


@pytest.fixture(scope="module")
def old_raw():
    with open(OLD_MODEL_PATH) as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def old(old_raw):
    return BotocoreServiceModel(old_raw, service_name="sqs")


@pytest.fixture(scope="module")
def current_raw():
    registry = ModelRegistry()
    return registry.load_raw("sqs")


def form_request(params: dict[str, str] | list[tuple[str, str]]) -> HttpRequest:
    return HttpRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"},
                       body=urlencode(params).encode())


def query_parse(model, op: str, params) -> dict:
    return QueryProtocol().parse(model.operation(op), form_request(params))


def old_parse(old, op: str, body: bytes, status: int = 200) -> dict:
    shape = old.operation_model(op).output_shape
    parsed = QueryParser().parse({"body": body, "headers": {}, "status_code": status}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


# -- sample values, generated from a raw model's shapes ---------------------------

def sample(shapes: dict, name: str, path: str = ""):
    """A value exercising every member of a shape: two items per list and
    map, strings that need escaping and name their own path."""
    spec = shapes[name]
    t = spec["type"]
    if t == "structure":
        out = {}
        for member, ref in spec.get("members", {}).items():
            out[member] = sample(shapes, ref["shape"], f"{path}.{member}")
        return out
    if t == "list":
        return [sample(shapes, spec["member"]["shape"], f"{path}.{i}") for i in (1, 2)]
    if t == "map":
        kspec = shapes[spec["key"]["shape"]]
        keys = kspec.get("enum", [f"{path}-k1", f"{path}-k2"])[:2]
        if len(keys) < 2:
            keys = keys + [f"{path}-k2"]
        return {k: sample(shapes, spec["value"]["shape"], f"{path}.{k}") for k in keys}
    if t == "string":
        if "enum" in spec:
            return spec["enum"][len(path) % len(spec["enum"])]
        return f"{path} <&> 'é'"
    if t in ("integer", "long"):
        return len(path) + 7
    if t == "boolean":
        return True
    if t == "blob":
        return b"\x00\xff" + path.encode()
    raise AssertionError(f"no sample for {name} ({t})")


# -- the patch itself ----------------------------------------------------------

def test_patch_names_only_existing_shapes_and_members(current_raw):
    shapes = current_raw["shapes"]
    for name, spec in MODEL_PATCH["shapes"].items():
        assert name in shapes, name
        target = shapes[name]
        for ref in ("member", "key", "value"):
            if ref in spec:
                assert ref in target, (name, ref)
        for member in spec.get("members", {}):
            assert member in target["members"], (name, member)
    for name, members in QUERY_ONLY_NAMES.items():
        assert shapes[name]["type"] == "structure"
        for member in members:
            assert member in shapes[name]["members"], (name, member)
    assert set(MODEL_PATCH) == {"metadata", "shapes"}
    assert MODEL_PATCH["metadata"] == {"xmlNamespace": XML_NAMESPACE}


def test_patch_adds_only_traits_the_json_protocol_ignores():
    for name, spec in MODEL_PATCH["shapes"].items():
        assert "locationName" not in spec, name  # a shape's own name reaches every reference
        for ref in ("member", "key", "value"):
            assert set(spec.get(ref, {})) <= {"locationName"}, (name, ref)
        for member, ref in spec.get("members", {}).items():
            # never a JSON key rename: queryName is read by the query protocol only
            assert set(ref) <= {"flattened", "queryName"}, (name, member)
        assert set(spec) <= {"member", "key", "value", "members", "flattened", "error"}, name


def test_every_exception_shape_gets_its_query_code(current_raw, patched):
    exceptions = {n for n, s in current_raw["shapes"].items() if s.get("exception")}
    assert exceptions == set(ERROR_CODES)
    for name, (code, status) in ERROR_CODES.items():
        shape = patched.shape(name)
        assert shape.error == {"code": code, "httpStatusCode": status, "senderFault": True}
        assert patched.error_shape(code) is shape
        assert patched.error_shape(name) is shape


def test_error_codes_agree_with_the_old_query_model(old_raw):
    for name, spec in old_raw["shapes"].items():
        if not spec.get("exception"):
            continue
        error = spec.get("error")
        if error:
            assert ERROR_CODES[name] == (error["code"], error["httpStatusCode"]), name
        else:  # the old model left these to the defaults
            assert ERROR_CODES[name][0] == name


def test_query_view_carries_every_old_query_name(old, query_model):
    """For each structure member the old model knows, the element / key name
    cloudlet uses is the one botocore's query model gives, and so are list
    item and map entry names."""
    def old_key(shape, name):
        if shape.type_name == "list" and shape.serialization.get("flattened"):
            inner = shape.member.serialization.get("name")
            if inner:
                return inner
        return shape.serialization.get("name", name)

    checked = 0
    for name in old.shape_names:
        oshape = old.shape_for(name)
        if not query_model.has_shape(name):
            continue
        cshape = query_model.shape(name)
        if oshape.type_name == "structure":
            for member, omember in oshape.members.items():
                cmember = cshape.members[member]
                assert member_element_name(cmember, member, query_names=True) == old_key(omember, member), (name, member)
                assert QueryProtocol()._names(cmember, member)[0] in (
                    old_key(omember, member), cmember.wire_name or member)
                assert cmember.flattened == bool(omember.serialization.get("flattened")), (name, member)
                checked += 1
        elif oshape.type_name == "list":
            assert cshape.member.wire_name == oshape.member.serialization.get("name"), name
            assert cshape.flattened == bool(oshape.serialization.get("flattened")), name
        elif oshape.type_name == "map":
            assert cshape.key.wire_name == oshape.key.serialization.get("name"), name
            assert cshape.value.wire_name == oshape.value.serialization.get("name"), name
            assert cshape.flattened == bool(oshape.serialization.get("flattened")), name
    assert checked > 100


# -- requests: AWS's examples ---------------------------------------------------

# (operation, form params, expected input, needs QUERY_ONLY_NAMES)
REQUEST_EXAMPLES = [
    pytest.param("CreateQueue", [
        ("Action", "CreateQueue"), ("QueueName", "MyQueue"),
        ("Attribute.1.Name", "DelaySeconds"), ("Attribute.1.Value", "45"),
        ("Attribute.2.Name", "VisibilityTimeout"), ("Attribute.2.Value", "60"),
        ("Tag.1.Key", "QueueType"), ("Tag.1.Value", "Production"),
        ("Expires", "2020-10-18T22:52:43PST"), ("Version", "2012-11-05"),
    ], {
        "QueueName": "MyQueue",
        "Attributes": {"DelaySeconds": "45", "VisibilityTimeout": "60"},
        "tags": {"QueueType": "Production"},
    }, True, id="CreateQueue"),
    pytest.param("SetQueueAttributes", [
        ("Action", "SetQueueAttributes"), ("QueueUrl", QUEUE),
        ("Attribute.1.Name", "VisibilityTimeout"), ("Attribute.1.Value", "35"),
        ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "Attributes": {"VisibilityTimeout": "35"}}, True, id="SetQueueAttributes"),
    pytest.param("GetQueueAttributes", [
        ("Action", "GetQueueAttributes"), ("QueueUrl", QUEUE),
        ("AttributeName.1", "VisibilityTimeout"), ("AttributeName.2", "DelaySeconds"),
        ("AttributeName.3", "ReceiveMessageWaitTimeSeconds"), ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "AttributeNames": ["VisibilityTimeout", "DelaySeconds",
                                              "ReceiveMessageWaitTimeSeconds"]},
        False, id="GetQueueAttributes"),
    pytest.param("SendMessage", [
        ("Action", "SendMessage"), ("QueueUrl", QUEUE), ("MessageBody", "This is a test message"),
        ("MessageAttribute.1.Name", "my_attribute_name_1"),
        ("MessageAttribute.1.Value.StringValue", "my_attribute_value_1"),
        ("MessageAttribute.1.Value.DataType", "String"),
        ("MessageAttribute.2.Name", "my_attribute_name_2"),
        ("MessageAttribute.2.Value.StringValue", "my_attribute_value_2"),
        ("MessageAttribute.2.Value.DataType", "String"),
        ("MessageAttribute.3.Name", "my_binary"),
        ("MessageAttribute.3.Value.BinaryValue", base64.b64encode(b"\x00\x01binary").decode()),
        ("MessageAttribute.3.Value.DataType", "Binary"),
        ("MessageAttribute.4.Name", "my_list"),
        ("MessageAttribute.4.Value.StringListValue.1", "a"),
        ("MessageAttribute.4.Value.StringListValue.2", "b"),
        ("MessageAttribute.4.Value.DataType", "String"),
        ("MessageSystemAttribute.1.Name", "AWSTraceHeader"),
        ("MessageSystemAttribute.1.Value.StringValue", "Root=1-5759e988-bd862e3fe1be46a994272793"),
        ("MessageSystemAttribute.1.Value.DataType", "String"),
        ("Version", "2012-11-05"),
    ], {
        "QueueUrl": QUEUE, "MessageBody": "This is a test message",
        "MessageAttributes": {
            "my_attribute_name_1": {"StringValue": "my_attribute_value_1", "DataType": "String"},
            "my_attribute_name_2": {"StringValue": "my_attribute_value_2", "DataType": "String"},
            "my_binary": {"BinaryValue": b"\x00\x01binary", "DataType": "Binary"},
            "my_list": {"StringListValues": ["a", "b"], "DataType": "String"},
        },
        "MessageSystemAttributes": {
            "AWSTraceHeader": {"StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793",
                               "DataType": "String"},
        },
    }, True, id="SendMessage"),
    pytest.param("SendMessageBatch", [
        ("Action", "SendMessageBatch"), ("QueueUrl", QUEUE),
        ("SendMessageBatchRequestEntry.1.Id", "test_msg_001"),
        ("SendMessageBatchRequestEntry.1.MessageBody", "test message body 1"),
        ("SendMessageBatchRequestEntry.2.Id", "test_msg_002"),
        ("SendMessageBatchRequestEntry.2.MessageBody", "test message body 2"),
        ("SendMessageBatchRequestEntry.2.DelaySeconds", "60"),
        ("SendMessageBatchRequestEntry.2.MessageAttribute.1.Name", "test_attribute_name_1"),
        ("SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue", "test_attribute_value_1"),
        ("SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType", "String"),
        ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "Entries": [
        {"Id": "test_msg_001", "MessageBody": "test message body 1"},
        {"Id": "test_msg_002", "MessageBody": "test message body 2", "DelaySeconds": 60,
         "MessageAttributes": {"test_attribute_name_1": {"StringValue": "test_attribute_value_1",
                                                         "DataType": "String"}}},
    ]}, True, id="SendMessageBatch"),
    pytest.param("SendMessageBatch", [
        ("Action", "SendMessageBatch"), ("QueueUrl", QUEUE),
        ("SendMessageBatchRequestEntry.1.Id", "m1"), ("SendMessageBatchRequestEntry.1.MessageBody", "b1"),
        ("SendMessageBatchRequestEntry.1.MessageGroupId", "g"),
        ("SendMessageBatchRequestEntry.1.MessageDeduplicationId", "d1"),
        ("SendMessageBatchRequestEntry.2.Id", "m2"), ("SendMessageBatchRequestEntry.2.MessageBody", "b2"),
    ], {"QueueUrl": QUEUE, "Entries": [
        {"Id": "m1", "MessageBody": "b1", "MessageGroupId": "g", "MessageDeduplicationId": "d1"},
        {"Id": "m2", "MessageBody": "b2"},
    ]}, False, id="SendMessageBatch-plain"),
    pytest.param("DeleteMessageBatch", [
        ("Action", "DeleteMessageBatch"), ("QueueUrl", QUEUE),
        ("DeleteMessageBatchRequestEntry.1.Id", "msg1"),
        ("DeleteMessageBatchRequestEntry.1.ReceiptHandle", HANDLE),
        ("DeleteMessageBatchRequestEntry.2.Id", "msg2"),
        ("DeleteMessageBatchRequestEntry.2.ReceiptHandle", HANDLE + "2"),
        ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "Entries": [{"Id": "msg1", "ReceiptHandle": HANDLE},
                                       {"Id": "msg2", "ReceiptHandle": HANDLE + "2"}]},
        False, id="DeleteMessageBatch"),
    pytest.param("ChangeMessageVisibilityBatch", [
        ("Action", "ChangeMessageVisibilityBatch"), ("QueueUrl", QUEUE),
        ("ChangeMessageVisibilityBatchRequestEntry.1.Id", "change_visibility_msg_2"),
        ("ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle", HANDLE),
        ("ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout", "45"),
        ("ChangeMessageVisibilityBatchRequestEntry.2.Id", "change_visibility_msg_3"),
        ("ChangeMessageVisibilityBatchRequestEntry.2.ReceiptHandle", HANDLE + "3"),
        ("ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout", "45"),
        ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "Entries": [
        {"Id": "change_visibility_msg_2", "ReceiptHandle": HANDLE, "VisibilityTimeout": 45},
        {"Id": "change_visibility_msg_3", "ReceiptHandle": HANDLE + "3", "VisibilityTimeout": 45},
    ]}, False, id="ChangeMessageVisibilityBatch"),
    pytest.param("ReceiveMessage", [
        ("Action", "ReceiveMessage"), ("QueueUrl", QUEUE), ("MaxNumberOfMessages", "5"),
        ("VisibilityTimeout", "15"), ("WaitTimeSeconds", "20"),
        ("AttributeName.1", "All"),
        ("MessageAttributeName.1", "my_attribute_name_1"), ("MessageAttributeName.2", "foo.*"),
        ("MessageSystemAttributeName.1", "SenderId"), ("MessageSystemAttributeName.2", "SentTimestamp"),
        ("ReceiveRequestAttemptId", "attempt-1"), ("Version", "2012-11-05"),
    ], {
        "QueueUrl": QUEUE, "MaxNumberOfMessages": 5, "VisibilityTimeout": 15, "WaitTimeSeconds": 20,
        "AttributeNames": ["All"], "MessageAttributeNames": ["my_attribute_name_1", "foo.*"],
        "MessageSystemAttributeNames": ["SenderId", "SentTimestamp"],
        "ReceiveRequestAttemptId": "attempt-1",
    }, False, id="ReceiveMessage"),
    pytest.param("AddPermission", [
        ("Action", "AddPermission"), ("QueueUrl", QUEUE), ("Label", "MyLabel"),
        ("AWSAccountId.1", "177715257436"), ("ActionName.1", "SendMessage"),
        ("AWSAccountId.2", "111111111111"), ("ActionName.2", "ReceiveMessage"),
        ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "Label": "MyLabel", "AWSAccountIds": ["177715257436", "111111111111"],
        "Actions": ["SendMessage", "ReceiveMessage"]}, False, id="AddPermission"),
    pytest.param("TagQueue", [
        ("Action", "TagQueue"), ("QueueUrl", QUEUE),
        ("Tag.1.Key", "QueueType"), ("Tag.1.Value", "Production"),
        ("Tag.2.Key", "Owner"), ("Tag.2.Value", "Developer123"),
        ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "Tags": {"QueueType": "Production", "Owner": "Developer123"}},
        True, id="TagQueue"),
    pytest.param("UntagQueue", [
        ("Action", "UntagQueue"), ("QueueUrl", QUEUE),
        ("TagKey.1", "QueueType"), ("TagKey.2", "Owner"), ("Version", "2012-11-05"),
    ], {"QueueUrl": QUEUE, "TagKeys": ["QueueType", "Owner"]}, False, id="UntagQueue"),
    pytest.param("ListQueues", [
        ("Action", "ListQueues"), ("QueueNamePrefix", "t"), ("MaxResults", "10"), ("NextToken", "tok"),
    ], {"QueueNamePrefix": "t", "MaxResults": 10, "NextToken": "tok"}, False, id="ListQueues"),
]


@pytest.mark.parametrize("op,params,expected,query_only", REQUEST_EXAMPLES)
def test_query_request_examples(query_model, patched, op, params, expected, query_only):
    assert query_parse(query_model, op, params) == expected
    if not query_only:  # needs nothing beyond MODEL_PATCH
        assert query_parse(patched, op, params) == expected


@pytest.mark.parametrize("op,params,expected,query_only", REQUEST_EXAMPLES)
def test_old_botocore_sends_the_same_requests(old, op, params, expected, query_only):
    """The examples are what botocore's query serializer itself produces."""
    known = set(old.operation_model(op).input_shape.members)
    args = {k: v for k, v in expected.items() if k in known}
    body = QuerySerializer().serialize_to_request(args, old.operation_model(op))["body"]

    def comparable(form):
        # Action / Version / Expires are common parameters, not the
        # operation's; MessageSystemAttributeName.N postdates the old model.
        return {k: str(v) for k, v in dict(form).items()
                if k not in ("Action", "Version", "Expires") and not k.startswith("MessageSystemAttributeName")}

    assert comparable(body) == comparable(params)


def test_every_request_old_botocore_sends_parses_back(old, old_raw, query_model):
    """Every operation, every member: botocore's query serializer (old model)
    -> form body -> cloudlet's parser gives back the same params."""
    for op in old.operation_names:
        om = old.operation_model(op)
        if om.input_shape is None:
            continue
        args = sample(old_raw["shapes"], om.input_shape.name, op)
        body = QuerySerializer().serialize_to_request(args, om)["body"]
        assert query_parse(query_model, op, body) == args, op


# -- responses ------------------------------------------------------------------

RECEIVED = {"Messages": [{
    "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274",
    "ReceiptHandle": HANDLE,
    "MD5OfBody": "fafb00f5732ab283681e124bf8747ed1",
    "Body": "This is a test message <&>",
    "Attributes": {"SenderId": "195004372649", "SentTimestamp": "1238099229000",
                   "ApproximateReceiveCount": "5", "ApproximateFirstReceiveTimestamp": "1250700979248"},
    "MD5OfMessageAttributes": "e0a1a6b9f2c5c7e2e0a1a6b9f2c5c7e2",
    "MessageAttributes": {
        "City": {"StringValue": "Any City", "DataType": "String"},
        "Blob": {"BinaryValue": b"\x00\xffbin", "DataType": "Binary"},
        "List": {"StringListValues": ["x", "y"], "DataType": "String"},
    },
}, {
    "MessageId": "m2", "ReceiptHandle": HANDLE + "2", "MD5OfBody": "abc", "Body": "second",
}]}

SEND_BATCH_RESULT = {
    "Successful": [{"Id": "test_msg_001", "MessageId": "0a5231c7-8bff-4955-be2e-8dc7c50a25fa",
                    "MD5OfMessageBody": "0e024d309850c78cba5eabbeff7cae71"},
                   {"Id": "test_msg_002", "MessageId": "15ee1ed3-87e7-40c1-bdaa-2e49968ea7e9",
                    "MD5OfMessageBody": "7fb8146a82f95e0af155278f406862c2",
                    "MD5OfMessageAttributes": "295c5fa15a51aae6884d1d7c1d99ca50",
                    "SequenceNumber": "18849496460467696128"}],
    "Failed": [{"Id": "test_msg_003", "SenderFault": True, "Code": "InvalidParameterValue",
                "Message": "Message must be shorter than 262144 bytes."}],
}

RESPONSE_EXAMPLES = [
    pytest.param("ReceiveMessage", RECEIVED, ["<Message>", "<Attribute><Name>SenderId</Name>",
                                              "<MessageAttribute><Name>City</Name><Value>",
                                              "<StringListValue>x</StringListValue>"], id="ReceiveMessage"),
    pytest.param("GetQueueAttributes", {"Attributes": {
        "VisibilityTimeout": "30", "DelaySeconds": "0", "QueueArn": "arn:aws:sqs:us-east-2:123456789012:MyQueue",
    }}, ["<Attribute><Name>VisibilityTimeout</Name><Value>30</Value></Attribute>"], id="GetQueueAttributes"),
    pytest.param("ListQueues", {"QueueUrls": [QUEUE, QUEUE + "2"], "NextToken": "tok"},
                 [f"<QueueUrl>{QUEUE}</QueueUrl><QueueUrl>{QUEUE}2</QueueUrl>"], id="ListQueues"),
    pytest.param("SendMessageBatch", SEND_BATCH_RESULT, ["<SendMessageBatchResultEntry><Id>test_msg_001</Id>",
        "<BatchResultErrorEntry><Id>test_msg_003</Id><SenderFault>true</SenderFault>"],
        id="SendMessageBatch"),
    pytest.param("DeleteMessageBatch", {"Successful": [{"Id": "msg1"}],
                                        "Failed": [{"Id": "msg2", "SenderFault": False, "Code": "InternalError"}]},
                 ["<DeleteMessageBatchResultEntry><Id>msg1</Id></DeleteMessageBatchResultEntry>"],
                 id="DeleteMessageBatch"),
    pytest.param("ChangeMessageVisibilityBatch", {"Successful": [{"Id": "a"}, {"Id": "b"}], "Failed": []},
                 ["<ChangeMessageVisibilityBatchResultEntry><Id>a</Id>"], id="ChangeMessageVisibilityBatch"),
    pytest.param("ListQueueTags", {"Tags": {"QueueType": "Production", "Owner": "Developer123"}},
                 ["<Tag><Key>QueueType</Key><Value>Production</Value></Tag>"], id="ListQueueTags"),
    pytest.param("ListDeadLetterSourceQueues", {"queueUrls": [QUEUE]},
                 [f"<QueueUrl>{QUEUE}</QueueUrl>"], id="ListDeadLetterSourceQueues"),
    pytest.param("CreateQueue", {"QueueUrl": QUEUE}, [f"<CreateQueueResult><QueueUrl>{QUEUE}</QueueUrl>"],
                 id="CreateQueue"),
    pytest.param("SendMessage", {"MD5OfMessageBody": "fafb00f5732ab283681e124bf8747ed1",
                                 "MessageId": "5fea7756-0ea4-451a-a703-a558b933e274"},
                 ["<MessageId>5fea7756-0ea4-451a-a703-a558b933e274</MessageId>"], id="SendMessage"),
]


@pytest.mark.parametrize("op,output,fragments", RESPONSE_EXAMPLES)
def test_query_responses_parse_with_old_botocore(old, query_model, op, output, fragments):
    response = QueryProtocol().serialize(query_model.operation(op), output, "req-id")
    assert response.status == 200
    body = response.body.decode()
    assert body.startswith(f'<{op}Response xmlns="{XML_NAMESPACE}"><{op}Result>')
    assert body.endswith(f"<ResponseMetadata><RequestId>req-id</RequestId></ResponseMetadata></{op}Response>")
    for fragment in fragments:
        assert fragment in body
    expected = {k: v for k, v in output.items() if v != []}  # an empty flattened list is no element
    assert old_parse(old, op, response.body) == expected


def test_list_responses_need_only_the_model_patch(old, patched):
    """Outputs without QUERY_ONLY_NAMES read back already with MODEL_PATCH."""
    for op, output in (("ListQueues", {"QueueUrls": [QUEUE, QUEUE + "2"]}),
                       ("SendMessageBatch", SEND_BATCH_RESULT),
                       ("ReceiveMessage", {"Messages": [{"MessageId": "m", "Body": "b"}]})):
        response = QueryProtocol().serialize(patched.operation(op), output, "r")
        assert old_parse(old, op, response.body) == output


def test_every_response_reads_back_with_old_botocore(old, old_raw, query_model):
    for op in old.operation_names:
        om = old.operation_model(op)
        if om.output_shape is None:
            response = QueryProtocol().serialize(query_model.operation(op), None, "r")
            assert response.body.decode() == (
                f'<{op}Response xmlns="{XML_NAMESPACE}"><ResponseMetadata><RequestId>r</RequestId>'
                f"</ResponseMetadata></{op}Response>")
            continue
        output = sample(old_raw["shapes"], om.output_shape.name, op)
        response = QueryProtocol().serialize(query_model.operation(op), output, "r")
        assert old_parse(old, op, response.body) == output, op


# -- errors ---------------------------------------------------------------------

def test_query_error_answers_the_query_code(old, patched):
    error = AwsError("QueueDoesNotExist", "The specified queue does not exist.")
    response = QueryProtocol().serialize_error(patched, error, "id")
    assert response.status == 400
    body = response.body.decode()
    assert "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in body
    assert "<Type>Sender</Type>" in body
    assert f'<ErrorResponse xmlns="{XML_NAMESPACE}">' in body
    parsed = QueryParser().parse({"body": response.body, "headers": {}, "status_code": 400},
                                 old.operation_model("GetQueueUrl").output_shape)
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert parsed["Error"]["Message"] == "The specified queue does not exist."


def test_json_error_carries_the_query_code_header(plain, patched):
    error = AwsError("QueueDoesNotExist", "The specified queue does not exist.")
    response = JsonProtocol().serialize_error(patched, error, "id")
    assert response.status == 400
    assert ("x-amzn-query-error", "AWS.SimpleQueueService.NonExistentQueue;Sender") in response.headers
    assert orjson.loads(response.body) == {"__type": "QueueDoesNotExist",
                                           "message": "The specified queue does not exist."}
    # Without the patch the header could only repeat the shape name.
    before = JsonProtocol().serialize_error(plain, error, "id")
    assert ("x-amzn-query-error", "QueueDoesNotExist;Sender") in before.headers
    assert before.body == response.body


@pytest.mark.parametrize("shape_name", sorted(ERROR_CODES))
def test_every_error_on_both_protocols(patched, shape_name):
    code, status = ERROR_CODES[shape_name]
    for raised in (shape_name, code):  # a handler may raise either
        query = QueryProtocol().serialize_error(patched, AwsError(raised, "m"), "id")
        assert query.status == status
        assert f"<Code>{code}</Code>".encode() in query.body
        assert b"<Type>Sender</Type>" in query.body
        js = JsonProtocol().serialize_error(patched, AwsError(raised, "m"), "id")
        assert js.status == status
        assert ("x-amzn-query-error", f"{code};Sender") in js.headers
        assert orjson.loads(js.body)["__type"] == shape_name


# -- the JSON protocol does not change ------------------------------------------

def _wire_tree(shape) -> object:
    """The JSON wire names of a shape, all the way down."""
    if shape.type == "structure":
        return {(m.wire_name or name): _wire_tree(m) for name, m in shape.members.items()}
    if shape.type == "list":
        return [_wire_tree(shape.member)]
    if shape.type == "map":
        return {"<key>": _wire_tree(shape.key), "<value>": _wire_tree(shape.value)}
    return shape.type


def test_json_wire_names_are_unchanged(plain, patched, query_model):
    differs = []
    for op in plain.operation_names:
        for side in ("input", "output"):
            before = getattr(plain.operation(op), side)
            after = getattr(patched.operation(op), side)
            assert (before is None) == (after is None)
            if before is None:
                continue
            assert _wire_tree(after) == _wire_tree(before), (op, side)
            if _wire_tree(getattr(query_model.operation(op), side)) != _wire_tree(before):
                differs.append(op)
    # queryName never reaches the JSON protocol.
    assert differs == []


def test_json_requests_and_responses_are_unchanged(plain, patched, current_raw):
    shapes = current_raw["shapes"]
    proto = JsonProtocol()
    for op in plain.operation_names:
        spec = current_raw["operations"][op]
        if "input" in spec:
            args = sample(shapes, spec["input"]["shape"], op)
            # What an SDK sends: the plain model's JSON for these params.
            body = orjson.dumps(_CODEC.write_structure(plain.operation(op).input, args))
            request = HttpRequest("POST", "/", headers={"x-amz-target": f"AmazonSQS.{op}"}, body=body)
            assert proto.parse(patched.operation(op), request) == proto.parse(plain.operation(op), request) == args
        if "output" in spec:
            output = sample(shapes, spec["output"]["shape"], op)
            before = proto.serialize(plain.operation(op), output, "r")
            after = proto.serialize(patched.operation(op), output, "r")
            assert after.body == before.body, op
            assert after.headers == before.headers and after.status == before.status


def test_botocore_json_sdk_sees_no_difference(current_raw, patched):
    """boto3 today: its JSON requests parse, and cloudlet's JSON responses
    read back, exactly as before the patch."""
    current = BotocoreServiceModel(current_raw, service_name="sqs")
    shapes = current_raw["shapes"]
    proto = JsonProtocol()
    for op in current.operation_names:
        om = current.operation_model(op)
        if om.input_shape is not None:
            args = sample(shapes, om.input_shape.name, op)
            sent = JSONSerializer().serialize_to_request(args, om)
            request = HttpRequest("POST", "/", headers=dict(sent["headers"]), body=sent["body"])
            assert proto.parse(patched.operation(op), request) == args, op
        if om.output_shape is not None:
            output = sample(shapes, om.output_shape.name, op)
            response = proto.serialize(patched.operation(op), output, "r")
            parsed = JSONParser().parse({"body": response.body, "headers": dict(response.headers),
                                         "status_code": response.status}, om.output_shape)
            parsed.pop("ResponseMetadata", None)
            assert parsed == output, op


def test_botocore_json_sdk_reads_the_query_error_code(current_raw, patched):
    current = BotocoreServiceModel(current_raw, service_name="sqs")
    response = JsonProtocol().serialize_error(patched, AwsError("QueueDoesNotExist", "gone"), "id")
    headers = {k.lower(): v for k, v in response.headers}
    parsed = JSONParser().parse({"body": response.body, "headers": headers, "status_code": response.status},
                                current.operation_model("GetQueueUrl").output_shape)
    # As from AWS: Code is the query code, QueryErrorCode the shape name
    # (botocore maps the exception class by the latter).
    assert parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert parsed["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    assert parsed["Error"]["Type"] == "Sender"
    assert parsed["Error"]["Message"] == "gone"


def test_fixture_is_the_query_model(old_raw):
    assert old_raw["metadata"]["protocol"] == "query"
    assert old_raw["metadata"]["xmlNamespace"] == XML_NAMESPACE
    assert "awsQueryCompatible" not in old_raw["metadata"]
    assert set(old_raw["operations"]) <= set(ModelRegistry().load_raw("sqs")["operations"])
