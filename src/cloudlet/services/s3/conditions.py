"""Conditional requests and ranges, as S3 reads them (pure: values in,
errors out).

- GET/HEAD preconditions (If-Match, If-Unmodified-Since -> 412; If-None-
  Match, If-Modified-Since -> 304), with RFC 7232's precedence, which S3's
  API reference spells out: a true If-Match makes If-Unmodified-Since moot,
  and If-Modified-Since only counts without If-None-Match.
- CopyObject's x-amz-copy-source-if-* (the same rules, always 412).
- Conditional writes (PutObject, CopyObject, CompleteMultipartUpload):
  If-None-Match "*" and If-Match <etag>.
- Range: one bytes=a-b, a- or -n range; anything S3 cannot read (several
  ranges, other units, garbage) means the whole object, as on S3.

Times are compared at whole seconds: Last-Modified is sent that way.
"""

from __future__ import annotations

import math

from cloudlet.protocol.common import http_date
from cloudlet.services.s3.common import invalid_argument, invalid_request, s3_error

PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold"


def precondition_failed(condition: str):
    return s3_error("PreconditionFailed", PRECONDITION_MESSAGE, 412, Condition=condition)


def not_modified(etag: str, last_modified: float):
    """304: no body; S3 still sends the validators."""
    err = s3_error("NotModified", "Not Modified", 304)
    err.headers = {"ETag": etag, "Last-Modified": http_date(last_modified)}
    return err


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names `etag` ("*" names
    any existing object). Weak validators compare as strong ones here."""
    want = etag.strip('"')
    for item in header.split(","):
        item = item.strip()
        if item == "*":
            return True
        item = item.removeprefix("W/")
        if item.strip('"') == want:
            return True
    return False


def check_read(params: dict, etag: str, last_modified: float, now: float) -> None:
    """GetObject / HeadObject preconditions on the version being read."""
    modified = math.floor(last_modified)
    if_match = params.get("IfMatch")
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise precondition_failed("If-Match")
    elif params.get("IfUnmodifiedSince") is not None and modified > math.floor(params["IfUnmodifiedSince"]):
        raise precondition_failed("If-Unmodified-Since")
    if_none_match = params.get("IfNoneMatch")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            raise not_modified(etag, last_modified)
    else:
        since = params.get("IfModifiedSince")
        # A date in the future is not a valid validator (RFC 7232 3.3).
        if since is not None and since <= now and modified <= math.floor(since):
            raise not_modified(etag, last_modified)


def check_copy_source(params: dict, etag: str, last_modified: float, now: float) -> None:
    """CopyObject's x-amz-copy-source-if-* on the source version."""
    modified = math.floor(last_modified)
    if_match = params.get("CopySourceIfMatch")
    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise precondition_failed("x-amz-copy-source-If-Match")
    elif params.get("CopySourceIfUnmodifiedSince") is not None and \
            modified > math.floor(params["CopySourceIfUnmodifiedSince"]):
        raise precondition_failed("x-amz-copy-source-If-Unmodified-Since")
    if_none_match = params.get("CopySourceIfNoneMatch")
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            raise precondition_failed("x-amz-copy-source-If-None-Match")
    else:
        since = params.get("CopySourceIfModifiedSince")
        if since is not None and since <= now and modified <= math.floor(since):
            raise precondition_failed("x-amz-copy-source-If-Modified-Since")


# -- conditional writes ------------------------------------------------------------

def _not_implemented(header: str, extra: str):
    return s3_error("NotImplemented", "A header you provided implies functionality that is not implemented", 501,
                    Header=header, additionalMessage=extra)


def check_write_headers(params: dict) -> None:
    """The forms S3 accepts for a conditional write, before anything is
    read: If-None-Match only as "*", If-Match only as an ETag, not both."""
    if_match, if_none_match = params.get("IfMatch"), params.get("IfNoneMatch")
    if if_match is not None and if_none_match is not None:
        raise _not_implemented("If-Match,If-None-Match", "Multiple conditional request headers present in the request")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise _not_implemented("If-None-Match", "We don't accept the provided value of If-None-Match header for this API")
    if if_match is not None and if_match.strip() == "*":
        raise _not_implemented("If-Match", "We don't accept the provided value of If-Match header for this API")


def check_write(params: dict, current, key: str) -> None:
    """Conditional write against the key's current version (None, or an
    ObjectVersion that may be a delete marker). Call in the transaction
    that commits the write, so nothing can come in between."""
    exists = current is not None and not current.delete_marker
    if params.get("IfNoneMatch") is not None and exists:
        raise precondition_failed("If-None-Match")
    if_match = params.get("IfMatch")
    if if_match is not None:
        if not exists:
            from cloudlet.services.s3.common import no_such_key

            raise no_such_key(key)
        if not etag_matches(if_match, current.etag):
            raise precondition_failed("If-Match")


# -- ranges ----------------------------------------------------------------------

def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a Range header, None for the whole object;
    InvalidRange (416) when the range starts past the end."""
    if not header:
        return None
    unit, sep, spec = header.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        start = int(first) if first.strip() else None
        end = int(last) if last.strip() else None
    except ValueError:
        return None
    if (start is not None and start < 0) or (end is not None and end < 0):
        return None
    if (start is None and end == 0) or (start is not None and start >= size):
        raise s3_error("InvalidRange", "The requested range is not satisfiable", 416,
                       RangeRequested=header, ActualObjectSize=size)
    if start is None:
        if end is None:
            return None
        start, end = size - min(end, size), size - 1
    else:
        end = size - 1 if end is None else min(end, size - 1)
    if start > end:
        return None
    return start, end


def part_range(parts: list | None, size: int, number: int) -> tuple[int, int, int]:
    """(start, end inclusive, part count) of part `number` of an object;
    an object not uploaded in parts is one part."""
    if not 1 <= number <= 10000:
        raise invalid_argument("Part number must be an integer between 1 and 10000, inclusive", "partNumber",
                               str(number))
    if not parts:
        if number != 1:
            raise s3_error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                           PartNumberRequested=number, ActualPartCount=1)
        return 0, size - 1, 1
    offset = 0
    for part in parts:
        length = part.get("Size", 0)
        if part.get("PartNumber") == number:
            return offset, offset + length - 1, len(parts)
        offset += length
    raise s3_error("InvalidPartNumber", "The requested partnumber is not satisfiable", 416,
                   PartNumberRequested=number, ActualPartCount=len(parts))


def range_with_part():
    return invalid_request("Cannot specify both Range header and partNumber query parameter")
