"""Message rules: allowed characters, attribute validation, and the MD5
digests boto3 checks (MD5OfMessageBody, MD5OfMessageAttributes,
MD5OfMessageSystemAttributes, by AWS's documented algorithm)."""

from __future__ import annotations

import hashlib
import re
import struct

from cloudlet.errors import AwsError

MAX_ATTRIBUTES = 10
# XML 1.0's characters: what an SQS message may contain.
_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,256}$")
_TRANSPORT = {"String": 1, "Number": 1, "Binary": 2}


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_body(body: str) -> None:
    if not body:
        raise AwsError("MissingParameter", "The request must contain the parameter MessageBody.")
    bad = _INVALID.search(body)
    if bad is not None:
        raise AwsError("InvalidMessageContents",
                       f"Invalid binary character '#x{ord(bad.group()):X}' was found in the message body, the set of "
                       "allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")


def attribute_size(attributes: dict | None) -> int:
    """Bytes message attributes count towards the size limit (name, type
    and value, as SQS counts them)."""
    size = 0
    for name, attr in (attributes or {}).items():
        size += len(name.encode()) + len(attr.get("DataType", "").encode())
        if attr.get("StringValue") is not None:
            size += len(attr["StringValue"].encode())
        if attr.get("BinaryValue") is not None:
            size += len(attr["BinaryValue"])
    return size


def check_attributes(attributes: dict | None, system: bool = False) -> None:
    if not attributes:
        return
    if len(attributes) > MAX_ATTRIBUTES:
        raise AwsError("InvalidParameterValue", f"Number of message attributes [{len(attributes)}] exceeds the "
                                                f"allowed maximum [{MAX_ATTRIBUTES}].")
    for name, attr in attributes.items():
        if system:
            if name != "AWSTraceHeader":
                raise AwsError("InvalidParameterValue", f"Message system attribute name '{name}' is invalid.")
        elif (not _ATTRIBUTE_NAME.match(name) or ".." in name or name.startswith(".") or name.endswith(".")
              or name.lower().startswith(("aws.", "amazon."))):
            raise AwsError("InvalidParameterValue", f"Message (user) attribute name '{name}' is invalid.")
        data_type = attr.get("DataType")
        if not data_type:
            raise AwsError("InvalidParameterValue", f"The message attribute '{name}' must contain a non-empty "
                                                    "message attribute type.")
        base = data_type.split(".", 1)[0]
        if base not in _TRANSPORT or len(data_type) > 256:
            raise AwsError("InvalidParameterValue", f"The type of message (user) attribute '{name}' is invalid. You "
                                                    "must use only the following supported type prefixes: Binary, "
                                                    "Number, String.")
        if attr.get("StringListValues") or attr.get("BinaryListValues"):
            raise AwsError("InvalidParameterValue", "Message attribute list values in SendMessage operation are "
                                                    "not supported.")
        if base == "Binary":
            if attr.get("BinaryValue") is None:
                raise AwsError("InvalidParameterValue", f"The message attribute '{name}' with type 'Binary' must use "
                                                        "field 'Binary'.")
        else:
            value = attr.get("StringValue")
            if value is None:
                raise AwsError("InvalidParameterValue", f"The message attribute '{name}' with type '{base}' must use "
                                                        "field 'String'.")
            if base == "Number":
                try:
                    number = float(value)
                except ValueError:
                    raise AwsError("InvalidParameterValue", f"Can't cast the value of message (user) attribute "
                                                            f"'{name}' to a number.") from None
                if number != number or abs(number) > 1e126 or (number != 0 and abs(number) < 1e-128):
                    raise AwsError("InvalidParameterValue", f"Value {value} for message attribute '{name}' is "
                                                            "outside the range of a Number.")
            elif _INVALID.search(value):
                raise AwsError("InvalidParameterValue", f"Message (user) attribute '{name}' value contains invalid "
                                                        "characters.")


def md5_of_attributes(attributes: dict | None) -> str | None:
    """AWS's digest of message attributes: for each attribute in name order,
    length-prefixed name, type and value, with a transport byte."""
    if not attributes:
        return None
    out = bytearray()
    for name in sorted(attributes):
        attr = attributes[name]
        data_type = attr["DataType"]
        for text in (name, data_type):
            encoded = text.encode()
            out += struct.pack(">I", len(encoded)) + encoded
        if data_type.split(".", 1)[0] == "Binary":
            value = bytes(attr["BinaryValue"])
            out += b"\x02" + struct.pack(">I", len(value)) + value
        else:
            value = attr["StringValue"].encode()
            out += b"\x01" + struct.pack(">I", len(value)) + value
    return md5_hex(bytes(out))
