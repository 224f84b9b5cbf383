"""Values and records of Logs Insights queries: how a value reads as a
number, as text and as true or false, how values sort, and the fields of
a log event. Pure; standard library only.

- Fields: the five system fields and @ptr; a JSON message (an object)
  gives its values flattened with dots, array items by index (`a.0.b`); a
  key starting with @ gets another @ (`@@key`), as the guide says.
- Values print as GetQueryResults prints them: times as
  "YYYY-MM-DD HH:MM:SS.mmm" (UTC), whole numbers without ".0", true and
  false as 1 and 0 (the guide: ispresent gives "0 or 1").
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

# -- values ----------------------------------------------------------------------------

class Timestamp(int):
    """Milliseconds since the epoch, printed as a time."""
    __slots__ = ()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_NUMBER = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*\Z")
_NUMBER_VALUE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")  # the sort page's "number values"


def _format_time(ms: int) -> str:
    try:
        moment = _EPOCH + ms * _MS
    except OverflowError:
        return str(int(ms))
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


def as_number(value):
    """The value as a number, or None when it is not one."""
    if value is None or isinstance(value, (int, float)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, str) and _NUMBER.match(value):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def as_text(value) -> str | None:
    """The value as GetQueryResults prints it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Timestamp):
        return _format_time(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    return str(value)


def truth(value):
    """True, False, or None (unknown: a missing value)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return value != ""


def _chunk_key(chunk: str):
    # A digit chunk meets a text chunk by their first characters' code
    # points; two digit chunks compare by length, then value.
    return (0x30, len(chunk), int(chunk)) if chunk[0] in "0123456789" else (ord(chunk[0]), chunk)


_CHUNKS = re.compile(r"[0-9]+|[^0-9]+")


def sort_key(value):
    """The sort page's natural order: text before numbers, text by chunks."""
    if isinstance(value, (int, float)):
        return (1, float(value))
    text = as_text(value)
    if _NUMBER_VALUE.match(text):
        return (1, float(text))
    return (0, tuple(_chunk_key(c) for c in _CHUNKS.findall(text)))


# -- records ---------------------------------------------------------------------------

_SYSTEM_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime", "@ptr")
_TIME_FIELDS = ("@timestamp", "@ingestionTime")


def _discover(message: str) -> dict:
    """The fields of a JSON message: nested keys joined with dots, array
    items by index; a top-level key starting with @ gets another @."""
    if not message.lstrip().startswith("{"):
        return {}
    try:
        doc = json.loads(message)
    except ValueError:
        return {}
    found: dict = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else ("@" + key if key.startswith("@") else key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}")
        elif isinstance(node, bool):
            found[path] = "true" if node else "false"
        elif node is not None:
            found[path] = node
    if isinstance(doc, dict):
        walk(doc, "")
    return found


class Record:
    """One log event (or stats row) with the fields the query set on it."""
    __slots__ = ("event", "flat", "vals")

    def __init__(self, event: dict | None = None, vals: dict | None = None):
        self.event, self.vals, self.flat = event, {} if vals is None else vals, None

    def get(self, name):
        if name in self.vals:
            return self.vals[name]
        event = self.event
        if event is None:
            return None
        if name in _SYSTEM_FIELDS:
            value = event.get(name)
            return Timestamp(value) if value is not None and name in _TIME_FIELDS else value
        if self.flat is None:
            self.flat = _discover(event.get("@message") or "")
        return self.flat.get(name)

