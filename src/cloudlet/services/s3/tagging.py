"""Object tags: the x-amz-tagging header (a URL query string) and the
<Tagging> document, checked as S3 checks them.

Limits (S3 user guide, "Categorizing your storage using tags"): up to 10
tags, unique keys of 1-128 and values of 0-256 Unicode characters (counted
in UTF-16 units), letters, digits, white space and _ . : / = + - @ only,
and no key starting with "aws:". S3 gives a tag set back in key order.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from cloudlet.services.s3.common import invalid_argument, s3_error

MAX_TAGS = 10
_ALLOWED = re.compile(r"^[\w\s_.:/=+\-@]*$", re.UNICODE)


def _invalid_tag(message: str, **fields):
    return s3_error("InvalidTag", message, 400, **fields)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check(tags: dict[str, str]) -> dict[str, str]:
    """Validate a tag set; return it in key order."""
    if len(tags) > MAX_TAGS:
        raise s3_error("BadRequest", "Object tags cannot be greater than 10", 400)
    for key, value in tags.items():
        if key.startswith("aws:"):
            raise _invalid_tag("Your TagKey cannot be prefixed with aws:", TagKey=key)
        if not key or _utf16_len(key) > 128:
            if key:
                raise _invalid_tag("The TagKey you have provided is too long, max 128", TagKey=key)
            raise _invalid_tag("The TagKey you have provided is invalid", TagKey=key)
        if _utf16_len(value) > 256:
            raise _invalid_tag("The TagValue you have provided is too long, max 256", TagKey=key, TagValue=value)
        if not _ALLOWED.match(key):
            raise _invalid_tag("The TagKey you have provided is invalid", TagKey=key)
        if not _ALLOWED.match(value):
            raise _invalid_tag("The TagValue you have provided is invalid", TagKey=key, TagValue=value)
    return dict(sorted(tags.items()))


def from_header(text: str | None) -> dict[str, str]:
    """The tags of an x-amz-tagging header ("k1=v1&k2=v2"; a key without
    "=" has the empty value)."""
    if not text:
        return {}
    tags: dict[str, str] = {}
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        bad = "=" in value
        try:
            name, value = unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict")
        except UnicodeDecodeError:
            bad = True
        if bad or name in tags:
            raise invalid_argument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
                                   "parameters without tag name duplicates.", "x-amz-tagging", text)
        tags[name] = value
    return check(tags)


def from_tag_set(tag_set: list | None) -> dict[str, str]:
    """The tags of a <Tagging><TagSet> document."""
    tags: dict[str, str] = {}
    for tag in tag_set or []:
        key, value = tag.get("Key"), tag.get("Value")
        if key is None or value is None:
            from cloudlet.services.s3.common import malformed_xml

            raise malformed_xml()
        if key in tags:
            raise _invalid_tag("Cannot provide multiple Tags with the same key", TagKey=key)
        tags[key] = value
    return check(tags)


def to_tag_set(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]
