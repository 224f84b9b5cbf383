"""What a published message is: its validation (size, Subject, structure,
attributes, FIFO ids) and the per-protocol text it becomes.

Messages are AWS's where recorded (the SNS API reference and answers real
SNS gave, as LocalStack's AWS-validated tests captured them); a few are
cloudlet's wording and say so.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.sns.topics import invalid

MAX_SIZE = 262_144  # 256 KiB: message plus attributes (names, types and values)
MAX_SUBJECT = 99  # "less than 100 characters"
_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")
_ATTR_NAME_CHARS = re.compile(r"[^A-Za-z0-9_\-.]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# E.164: a country code and subscriber number, 7 to 15 digits in all.
_PHONE = re.compile(r"^\+?[1-9][0-9]{6,14}$")
# The keys of a MessageStructure=json message that address a protocol or a
# mobile platform (everything else is ignored by SNS).
PLATFORM_KEYS = ("ADM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU", "GCM", "MACOS",
                 "MACOS_SANDBOX", "MPNS", "WNS")


def invalid_value(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message)


@dataclass
class Message:
    """One message to publish, validated."""

    text: str
    subject: str | None = None
    structured: dict | None = None  # MessageStructure=json: protocol key -> text
    attributes: dict = field(default_factory=dict)
    group_id: str | None = None
    dedup_id: str | None = None

    def for_protocol(self, protocol: str) -> str:
        """The text a subscriber of `protocol` gets ("default" unless the
        structure names the protocol)."""
        if self.structured is None:
            return self.text
        return self.structured.get(protocol, self.structured.get("default", ""))

    def for_platform(self, platform: str) -> str:
        if self.structured is None:
            return self.text
        return self.structured.get(platform, self.structured.get("default", ""))

    def size(self) -> int:
        return len(self.text.encode()) + attributes_size(self.attributes)


def attributes_size(attributes: dict) -> int:
    size = 0
    for name, attr in attributes.items():
        size += len(name.encode()) + len(attr.get("DataType", "").encode())
        if attr.get("StringValue") is not None:
            size += len(attr["StringValue"].encode())
        if attr.get("BinaryValue") is not None:
            size += len(attr["BinaryValue"])
    return size


def check_subject(subject: str | None) -> None:
    if subject is None:
        return
    if subject == "" or len(subject) > MAX_SUBJECT or _CONTROL.search(subject):
        raise invalid("Subject")


def check_phone(phone: str) -> None:
    if not _PHONE.match(phone):
        raise invalid(f"PhoneNumber Reason: {phone} is not valid to publish to")


def parse_structure(text: str, *, needs_default: bool = True) -> dict:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise invalid("Message Structure - JSON message body failed to parse") from None
    if not isinstance(doc, dict):
        raise invalid("Message Structure - JSON message body failed to parse")
    # Keys whose values are not strings are ignored, as SNS does.
    structured = {k: v for k, v in doc.items() if isinstance(v, str)}
    if needs_default and "default" not in structured:
        raise invalid("Message Structure - No default entry in JSON message body")
    return structured


def check_attribute_name(name: str) -> None:
    if len(name.encode()) > 256:
        raise invalid_value("Length of message attribute name must be less than 256 bytes.")
    if name.startswith("."):
        raise invalid_value("Invalid message attribute name starting with character '.' was found.")
    if name.endswith("."):
        raise invalid_value("Invalid message attribute name ending with character '.' was found.")
    bad = _ATTR_NAME_CHARS.search(name)
    if bad is not None:
        raise invalid_value(f"Invalid non-alphanumeric character '#x{ord(bad.group()):X}' was found in the "
                            "message attribute name. Can only include alphanumeric characters, hyphens, "
                            "underscores, or dots.")
    if ".." in name:
        raise invalid_value("Message attribute name can not have successive '.' character.")


def check_attributes(attributes: dict) -> None:
    for name, attr in attributes.items():
        check_attribute_name(name)
        data_type = attr.get("DataType") or ""
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_value(f"The message attribute '{name}' has an invalid message attribute type, the set "
                                "of supported type prefixes is Binary, Number, and String.")
        field_name = "Binary" if base == "Binary" else "String"
        value = attr.get(f"{field_name}Value")
        if value is None:
            raise invalid_value(f"The message attribute '{name}' with type '{data_type}' must use field "
                                f"'{field_name}'.")
        if value in ("", b""):
            raise invalid_value(f"The message attribute '{name}' must contain non-empty message attribute value "
                                f"for message attribute type '{data_type}'.")
        if base == "Number":
            _check_number(name, value)
        elif data_type == "String.Array":
            _check_array(name, value)


def _check_number(name: str, value: str) -> None:
    # SNS numbers: finite, -1e9..1e9, five digits after the point (the
    # "Message attribute data types" page). Wording is cloudlet's.
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or abs(number) > Decimal(1_000_000_000):
        raise invalid_value(f"Could not cast message attribute '{name}' value to number.")


def _check_array(name: str, value: str) -> None:
    # A String.Array holds a JSON array of strings, numbers, booleans and
    # nulls. Wording is cloudlet's.
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, list) or any(isinstance(v, (list, dict)) for v in doc):
        raise invalid_value(f"The message attribute '{name}' with type 'String.Array' must contain a JSON array "
                            "of strings, numbers, booleans or nulls.")


def check_ids(group_id: str | None, dedup_id: str | None) -> None:
    for label, value in (("MessageGroupId", group_id), ("MessageDeduplicationId", dedup_id)):
        if value is not None and not _ID.match(value):
            raise invalid(f"{label} Reason: {label} can only include alphanumeric and punctuation characters. "
                          "1 to 128 in length.")


def envelope_attributes(attributes: dict) -> dict:
    """Message attributes as the JSON envelope carries them."""
    out = {}
    for name, attr in attributes.items():
        data_type = attr["DataType"]
        if data_type.startswith("Binary"):
            value = base64.b64encode(attr["BinaryValue"]).decode()
        else:
            value = attr["StringValue"]
        out[name] = {"Type": data_type, "Value": value}
    return out
