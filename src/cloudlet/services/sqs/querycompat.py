"""What SQS's query protocol needs that botocore's JSON model lost.

botocore's SQS model is awsJson 1.0 (awsQueryCompatible), but SQS still
answers the query protocol (older SDKs, raw HTTP) from the same model. The
JSON model dropped two things the query wire needs:

* the query / XML names: a flattened list travels under its member's name
  (`AttributeName.1`, `<QueueUrl>`, `SendMessageBatchRequestEntry.1.Id`,
  `<BatchResultErrorEntry>`), a flattened map's entries under `Name`/`Value`
  or `Key`/`Value`;
* each error's query code and HTTP status (`AWS.SimpleQueueService.NonExistentQueue`
  for QueueDoesNotExist), which the query protocol writes as `<Code>` and the
  JSON protocol as the `x-amzn-query-error` header.

`MODEL_PATCH` puts them back, taken from botocore's last query model of
SQS (2012-11-05, before the move to JSON) mapped onto the current shape
names, and for the errors the JSON model added (InvalidAddress, InvalidSecurity,
RequestThrottled, the Kms* family, ...) from the `awsQueryError` traits of
AWS's Smithy model of SQS.

The patch only touches what the JSON protocol ignores: the `member` / `key` /
`value` references of list and map shapes, `flattened`, the error traits and
the service's XML namespace. A `locationName` on a structure member would
rename the member's JSON key, so the names that only a structure member can
carry (a flattened map is written under the member's own name: `Attribute.1.Name`,
`Tag.1.Key`, `<MessageAttribute>`) are not in the patch; they are listed in
`QUERY_ONLY_NAMES` for a query-only trait of the protocol layer.
"""

from __future__ import annotations


# The namespace of SQS's query responses (<ListQueuesResponse xmlns="...">).
XML_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"


def _list(member: str) -> dict:
    """A flattened list whose items travel as `<member>.N` / `<member>`."""
    return {"flattened": True, "member": {"locationName": member}}


def _map(key: str, value: str = "Value") -> dict:
    """A flattened map whose entries travel as `X.N.<key>` / `X.N.<value>`."""
    return {"flattened": True, "key": {"locationName": key}, "value": {"locationName": value}}


# Exception shape -> (query error code, HTTP status). Every SQS error is the
# caller's fault. Codes and statuses: botocore's query model where it had
# them, otherwise the awsQueryError / httpError traits of the Smithy model;
# an error with neither answers its own name with 400.
ERROR_CODES: dict[str, tuple[str, int]] = {
    "BatchEntryIdsNotDistinct": ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
    "BatchRequestTooLong": ("AWS.SimpleQueueService.BatchRequestTooLong", 400),
    "EmptyBatchRequest": ("AWS.SimpleQueueService.EmptyBatchRequest", 400),
    "InvalidAddress": ("InvalidAddress", 404),
    "InvalidAttributeName": ("InvalidAttributeName", 400),
    "InvalidAttributeValue": ("InvalidAttributeValue", 400),
    "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
    "InvalidIdFormat": ("InvalidIdFormat", 400),
    "InvalidMessageContents": ("InvalidMessageContents", 400),
    "InvalidSecurity": ("InvalidSecurity", 403),
    "KmsAccessDenied": ("KMS.AccessDeniedException", 400),
    "KmsDisabled": ("KMS.DisabledException", 400),
    "KmsInvalidKeyUsage": ("KMS.InvalidKeyUsageException", 400),
    "KmsInvalidState": ("KMS.InvalidStateException", 400),
    "KmsNotFound": ("KMS.NotFoundException", 400),
    "KmsOptInRequired": ("KMS.OptInRequired", 403),
    "KmsThrottled": ("KMS.ThrottlingException", 400),
    "MessageNotInflight": ("AWS.SimpleQueueService.MessageNotInflight", 400),
    "OverLimit": ("OverLimit", 403),
    "PurgeQueueInProgress": ("AWS.SimpleQueueService.PurgeQueueInProgress", 403),
    "QueueDeletedRecently": ("AWS.SimpleQueueService.QueueDeletedRecently", 400),
    "QueueDoesNotExist": ("AWS.SimpleQueueService.NonExistentQueue", 400),
    "QueueNameExists": ("QueueAlreadyExists", 400),
    "ReceiptHandleIsInvalid": ("ReceiptHandleIsInvalid", 404),
    "RequestThrottled": ("RequestThrottled", 403),
    "ResourceNotFoundException": ("ResourceNotFoundException", 404),
    "TooManyEntriesInBatchRequest": ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
    "UnsupportedOperation": ("AWS.SimpleQueueService.UnsupportedOperation", 400),
}

_SHAPES: dict[str, dict] = {
    # Lists: AddPermission's AWSAccountId.N / ActionName.N, UntagQueue's
    # TagKey.N, the names lists of GetQueueAttributes / ReceiveMessage, the
    # batch entries and results, ListQueues' <QueueUrl>, <Message>.
    "AWSAccountIdList": _list("AWSAccountId"),
    "ActionNameList": _list("ActionName"),
    "AttributeNameList": _list("AttributeName"),
    "BatchResultErrorEntryList": _list("BatchResultErrorEntry"),
    "ChangeMessageVisibilityBatchRequestEntryList": _list("ChangeMessageVisibilityBatchRequestEntry"),
    "ChangeMessageVisibilityBatchResultEntryList": _list("ChangeMessageVisibilityBatchResultEntry"),
    "DeleteMessageBatchRequestEntryList": _list("DeleteMessageBatchRequestEntry"),
    "DeleteMessageBatchResultEntryList": _list("DeleteMessageBatchResultEntry"),
    "ListMessageMoveTasksResultEntryList": _list("ListMessageMoveTasksResultEntry"),
    "MessageAttributeNameList": _list("MessageAttributeName"),
    "MessageList": _list("Message"),
    # New in the JSON model (ReceiveMessage's MessageSystemAttributeNames):
    # query clients send MessageSystemAttributeName.N.
    "MessageSystemAttributeList": _list("MessageSystemAttributeName"),
    "QueueUrlList": _list("QueueUrl"),
    "SendMessageBatchRequestEntryList": _list("SendMessageBatchRequestEntry"),
    "SendMessageBatchResultEntryList": _list("SendMessageBatchResultEntry"),
    "TagKeyList": _list("TagKey"),
    # Not flattened themselves: flattened by the member references of
    # MessageAttributeValue / MessageSystemAttributeValue (StringListValue.N).
    "StringList": {"member": {"locationName": "StringListValue"}},
    "BinaryList": {"member": {"locationName": "BinaryListValue"}},
    "MessageAttributeValue": {"members": {
        "StringListValues": {"flattened": True},
        "BinaryListValues": {"flattened": True},
    }},
    "MessageSystemAttributeValue": {"members": {
        "StringListValues": {"flattened": True},
        "BinaryListValues": {"flattened": True},
    }},
    # Maps: Attribute.N.Name / .Value, MessageAttribute.N.Name / .Value.*,
    # Tag.N.Key / .Value.
    "MessageBodyAttributeMap": _map("Name"),
    "MessageBodySystemAttributeMap": _map("Name"),
    "MessageSystemAttributeMap": _map("Name"),
    "QueueAttributeMap": _map("Name"),
    "TagMap": _map("Key"),
}
for _name, (_code, _status) in ERROR_CODES.items():
    _SHAPES[_name] = {"error": {"code": _code, "httpStatusCode": _status, "senderFault": True}}

MODEL_PATCH: dict = {
    "metadata": {"xmlNamespace": XML_NAMESPACE},
    "shapes": _SHAPES,
}

# Query / XML names only a structure member can carry (botocore's query model
# put them on the member reference, or on the map shape itself, which every
# reference inherits). As a `locationName` either would rename the member's
# JSON key, so they are given as `queryName`, a trait only cloudlet's query
# protocol reads (see QueryProtocol._names and XmlWriter):
#   {structure shape: {member name: query name}}
QUERY_ONLY_NAMES: dict[str, dict[str, str]] = {
    "CreateQueueRequest": {"Attributes": "Attribute", "tags": "Tag"},
    "SetQueueAttributesRequest": {"Attributes": "Attribute"},
    "GetQueueAttributesResult": {"Attributes": "Attribute"},
    "TagQueueRequest": {"Tags": "Tag"},
    "ListQueueTagsResult": {"Tags": "Tag"},
    "Message": {"Attributes": "Attribute", "MessageAttributes": "MessageAttribute"},
    "SendMessageRequest": {
        "MessageAttributes": "MessageAttribute",
        "MessageSystemAttributes": "MessageSystemAttribute",
    },
    "SendMessageBatchRequestEntry": {
        "MessageAttributes": "MessageAttribute",
        "MessageSystemAttributes": "MessageSystemAttribute",
    },
}


def _with_query_names(patch: dict) -> dict:
    shapes = patch["shapes"]
    for shape, names in QUERY_ONLY_NAMES.items():
        members = shapes.setdefault(shape, {}).setdefault("members", {})
        for member, wire in names.items():
            members.setdefault(member, {})["queryName"] = wire
    return patch


MODEL_PATCH = _with_query_names(MODEL_PATCH)
