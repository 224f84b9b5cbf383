"""Value conversions shared by every protocol: timestamps, blobs, numbers.

Inside cloudlet a timestamp is a float of epoch seconds, a blob is bytes.
Serializers also accept datetimes, ints and (for blobs) str.
"""

from __future__ import annotations

import base64
import functools
import binascii
import datetime as _dt
import calendar
import math
import re
import time

from cloudlet.errors import AwsError

_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)


class ParseError(AwsError):
    """A value on the wire that does not fit its shape. Each protocol turns it
    into its own error (SerializationException, InvalidParameterValue, ...)."""

    def __init__(self, message: str, path: str = ""):
        super().__init__("SerializationException", message, 400)
        self.path = path


# -- timestamps -------------------------------------------------------------

def parse_timestamp(value) -> float:
    """Wire timestamp -> epoch seconds. Accepts every format AWS uses
    (epoch seconds, ISO 8601, RFC 822 / HTTP date), whatever the model says:
    servers are lenient where clients are strict."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isnan(value) or math.isinf(value):
            raise ParseError(f"Invalid timestamp: {value}")
        return float(value)
    if isinstance(value, _dt.datetime):
        return to_epoch(value)
    if not isinstance(value, str):
        raise ParseError(f"Invalid timestamp: {value!r}")
    text = value.strip()
    if not text:
        raise ParseError("Invalid timestamp: empty value")
    c = text[0]
    if c.isdigit() or c == "-":
        if "T" not in text and ":" not in text and text.count("-") <= 1:
            try:
                return float(text)
            except ValueError:
                pass
        try:
            if text.endswith(("z", "Z")):
                text = text[:-1] + "+00:00"
            dt = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ParseError(f"Invalid timestamp: {value}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=_UTC)
        return to_epoch(dt)
    return parse_http_date(text)


def to_epoch(value) -> float:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_UTC)
        return (value - _EPOCH).total_seconds()
    return float(value)


def to_datetime(value) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    return _EPOCH + _dt.timedelta(seconds=float(value))


def iso8601(value) -> str:
    """Epoch (or datetime) -> 2014-04-29T18:30:38Z, with milliseconds when
    the value has a fraction, as AWS writes them."""
    dt = to_datetime(value)
    ms = dt.microsecond // 1000
    if ms:
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m.lower(): i for i, m in enumerate(_MONTHS, 1)}
# IMF-fixdate (RFC 7231), the form AWS writes: "Sun, 06 Nov 1994 08:49:37 GMT".
_IMF = re.compile(r"^[A-Za-z]{3},\s+(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})"
                  r"(?:\.\d+)?\s*(?:GMT|UTC|Z|\+0000|-0000)?$")


def http_date(value) -> str:
    return _http_date(int(to_epoch(value)))


@functools.lru_cache(maxsize=1024)
def _http_date(seconds: int) -> str:
    # (the same few times are formatted over and over: Last-Modified of the
    # objects read, the Date of this second)
    t = time.gmtime(seconds)
    return (f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")


def parse_http_date(text: str) -> float:
    m = _IMF.match(text)
    if m:
        day, mon, year, hh, mm, ss = m.groups()
        month = _MONTH_NUMBER.get(mon.lower())
        if month is not None:
            try:
                return float(calendar.timegm((int(year), month, int(day), int(hh), int(mm), int(ss))))
            except (ValueError, OverflowError):
                pass
    # The obsolete forms (RFC 850, asctime) and numeric zones.
    from email.utils import mktime_tz, parsedate_tz

    parsed = parsedate_tz(text)
    if parsed is None:
        raise ParseError(f"Invalid timestamp: {text}")
    try:
        return float(mktime_tz(parsed))
    except (ValueError, OverflowError):
        raise ParseError(f"Invalid timestamp: {text}") from None


def epoch_number(value):
    """Epoch seconds as JSON/CBOR number: int when whole, else milliseconds."""
    seconds = to_epoch(value)
    whole = int(seconds)
    if whole == seconds:
        return whole
    return round(seconds, 3)


def format_timestamp(value, fmt: str):
    fmt = fmt.lower()
    if fmt == "iso8601":
        return iso8601(value)
    if fmt == "rfc822":
        return http_date(value)
    return epoch_number(value)


# -- blobs ------------------------------------------------------------------

def b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError("Invalid base64 value") from None


def b64encode(value) -> str:
    if isinstance(value, str):
        value = value.encode()
    return base64.b64encode(value).decode()


def as_bytes(value) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


# -- numbers ----------------------------------------------------------------

_SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def parse_float_text(text: str) -> float:
    special = _SPECIAL_FLOATS.get(text)
    if special is not None:
        return special
    try:
        value = float(text)
    except ValueError:
        raise ParseError(f"Invalid number: {text}") from None
    if text.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+nan"):
        raise ParseError(f"Invalid number: {text}")
    return value


def parse_int_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(f"Invalid integer: {text}") from None


def parse_bool_text(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise ParseError(f"Invalid boolean: {text}")


def float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if float(value).is_integer() and abs(value) < 1e16:
        return str(int(value)) if isinstance(value, int) else repr(float(value))
    return repr(float(value))


def json_float(value):
    """A float for a JSON body: NaN and the infinities as AWS spells them."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
    return value


def scalar_text(shape_type: str, value) -> str:
    """A scalar as text, for XML bodies, query strings and headers."""
    if shape_type == "boolean":
        return "true" if value else "false"
    if shape_type in ("float", "double"):
        return float_text(value)
    if shape_type == "blob":
        return b64encode(value)
    return str(value)
