"""Queue attributes: defaults, validation (with SQS's errors), and the
values GetQueueAttributes reports."""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError

MAX_MESSAGE = 1_048_576  # 1 MiB: the SQS limit since August 2025 (API reference)

# name -> (default, minimum, maximum) for the integer attributes
_RANGES = {
    "DelaySeconds": ("0", 0, 900),
    "MaximumMessageSize": (str(MAX_MESSAGE), 1024, MAX_MESSAGE),
    "MessageRetentionPeriod": ("345600", 60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": ("0", 0, 20),
    "VisibilityTimeout": ("30", 0, 43_200),
    "KmsDataKeyReusePeriodSeconds": ("300", 60, 86_400),
}
_BOOLEANS = ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled")
_FIFO_ONLY = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
_JSON = ("Policy", "RedrivePolicy", "RedriveAllowPolicy")
SETTABLE = frozenset(list(_RANGES) + list(_BOOLEANS) + list(_JSON) + [
    "KmsMasterKeyId", "DeduplicationScope", "FifoThroughputLimit"])
COMPUTED = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn")
ALL_NAMES = frozenset(SETTABLE | set(COMPUTED))


def invalid_value(name: str) -> AwsError:
    return AwsError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")


def unknown(name: str) -> AwsError:
    return AwsError("InvalidAttributeName", f"Unknown Attribute {name}.")


def defaults(fifo: bool) -> dict[str, str]:
    out = {name: spec[0] for name, spec in _RANGES.items() if name != "KmsDataKeyReusePeriodSeconds"}
    out["SqsManagedSseEnabled"] = "true"
    if fifo:
        out.update(FifoQueue="true", ContentBasedDeduplication="false", DeduplicationScope="queue",
                   FifoThroughputLimit="perQueue")
    return out


def validate(attributes: dict[str, str], fifo: bool, creating: bool, resolve_arn=None) -> dict[str, str]:
    """Check attribute names and values; return them normalized.
    `resolve_arn(arn)` -> (exists, fifo) checks a redrive target."""
    out: dict[str, str] = {}
    for name, value in attributes.items():
        if name not in SETTABLE:
            raise unknown(name)
        if name in _FIFO_ONLY and not fifo:
            raise unknown(name)
        if name == "FifoQueue" and not creating:
            raise AwsError("InvalidAttributeName", "Invalid attribute name: FifoQueue. You can't change the queue "
                                                   "type after you create it.")
        if name in _RANGES:
            _, low, high = _RANGES[name]
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise invalid_value(name) from None
            if not low <= number <= high:
                raise invalid_value(name)
            value = str(number)
        elif name in _BOOLEANS:
            if value.lower() not in ("true", "false"):
                raise invalid_value(name)
            value = value.lower()
            if name == "FifoQueue" and value == "false" and fifo:
                raise invalid_value(name)
        elif name == "DeduplicationScope":
            if value not in ("messageGroup", "queue"):
                raise invalid_value(name)
        elif name == "FifoThroughputLimit":
            if value not in ("perQueue", "perMessageGroupId"):
                raise invalid_value(name)
        elif name == "RedrivePolicy" and value:
            value = _redrive_policy(value, fifo, resolve_arn)
        elif name == "RedriveAllowPolicy" and value:
            value = _redrive_allow(value)
        elif name == "Policy" and value:
            _check_policy(value)
        out[name] = value
    if fifo and out.get("FifoThroughputLimit") == "perMessageGroupId" and out.get("DeduplicationScope") == "queue":
        raise AwsError("InvalidAttributeValue", "Invalid value for the parameter FifoThroughputLimit. Reason: "
                                                "To enable high throughput for FIFO queues, set DeduplicationScope to "
                                                "messageGroup.")
    return out


def check_encryption(checked: dict[str, str]) -> None:
    """SSE-KMS and SSE-SQS exclude each other within a request."""
    if checked.get("SqsManagedSseEnabled") == "true" and checked.get("KmsMasterKeyId"):
        raise AwsError("InvalidAttributeName", "You can use one type of server-side encryption (SSE) at one time. "
                                               "You can either enable KMS SSE or SQS SSE.")


def apply_encryption(merged: dict[str, str], checked: dict[str, str]) -> None:
    """The encryption attributes after a request set `checked`: a KMS key
    turns SSE-SQS off (the reuse period defaults to 300 s); SSE-SQS turned
    on drops the KMS key."""
    if checked.get("SqsManagedSseEnabled") == "true" and "KmsMasterKeyId" not in checked:
        merged.pop("KmsMasterKeyId", None)
        merged.pop("KmsDataKeyReusePeriodSeconds", None)
    if merged.get("KmsMasterKeyId"):
        merged.setdefault("KmsDataKeyReusePeriodSeconds", _RANGES["KmsDataKeyReusePeriodSeconds"][0])
        if "SqsManagedSseEnabled" not in checked:
            merged["SqsManagedSseEnabled"] = "false"


def _redrive_policy(value: str, fifo: bool, resolve_arn) -> str:
    def bad(reason: str) -> AwsError:
        return AwsError("InvalidParameterValue", f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}")

    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise bad("Redrive policy is not a valid JSON map.") from None
    if not isinstance(doc, dict):
        raise bad("Redrive policy is not a valid JSON map.")
    target = doc.get("deadLetterTargetArn")
    count = doc.get("maxReceiveCount")
    if not target:
        raise bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    if count is None:
        raise bad("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise bad("Invalid value for maxReceiveCount: " + str(count) + ", valid values are from 1 to 1000 both "
                  "inclusive.") from None
    if not 1 <= count <= 1000:
        raise bad(f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive.")
    if resolve_arn is not None:
        exists, target_fifo = resolve_arn(target)
        if not exists:
            raise bad("Dead letter target does not exist.")
        if target_fifo != fifo:
            raise bad("Dead-letter queue must be same type of queue as the source.")
    return orjson.dumps({"deadLetterTargetArn": target, "maxReceiveCount": count}).decode()


def _redrive_allow(value: str) -> str:
    def bad(reason: str) -> AwsError:
        return AwsError("InvalidParameterValue",
                        f"Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {reason}")

    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise bad("Invalid JSON.") from None
    if not isinstance(doc, dict) or doc.get("redrivePermission") not in ("allowAll", "denyAll", "byQueue"):
        raise bad("Invalid value for redrivePermission. Valid values are allowAll, denyAll, byQueue.")
    sources = doc.get("sourceQueueArns")
    if doc["redrivePermission"] == "byQueue":
        if not sources or not isinstance(sources, list):
            raise bad("sourceQueueArns must be specified when redrivePermission is byQueue.")
        if len(sources) > 10:
            raise bad("Maximum number of source queue ARNs is 10.")
    elif sources:
        raise bad("sourceQueueArns can only be specified when redrivePermission is byQueue.")
    return value


def _check_policy(value: str) -> None:
    from cloudlet.iam import PolicyError, parse_policy

    try:
        parse_policy(value, "resource")
    except PolicyError as exc:
        raise AwsError("InvalidAttributeValue", f"Invalid value for the parameter Policy. Reason: {exc.message}") from None


def redrive_target(attributes: dict) -> tuple[str, int] | None:
    raw = attributes.get("RedrivePolicy")
    if not raw:
        return None
    doc = orjson.loads(raw)
    return doc["deadLetterTargetArn"], int(doc["maxReceiveCount"])


def redrive_allows(attributes: dict, source_arn: str) -> bool:
    """Does this dead-letter queue accept messages from `source_arn`?"""
    raw = attributes.get("RedriveAllowPolicy")
    if not raw:
        return True
    doc = orjson.loads(raw)
    permission = doc.get("redrivePermission")
    if permission == "denyAll":
        return False
    if permission == "byQueue":
        return source_arn in (doc.get("sourceQueueArns") or [])
    return True
