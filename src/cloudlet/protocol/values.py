"""Shape-driven conversion between decoded documents (JSON or CBOR data) and
the input / output dicts handlers see.

One `DocumentCodec` per encoding: JSON carries blobs as base64 and
timestamps as epoch numbers (or formatted strings); CBOR carries both
natively. Member names follow `locationName` (JSON) or the member name (CBOR).
"""

from __future__ import annotations

import math

from cloudlet.protocol.common import (
    ParseError, b64decode, b64encode, epoch_number, format_timestamp,
    parse_timestamp,
)
from cloudlet.protocol.model import RESPONSE_LOCATIONS, Shape

_INT_TYPES = ("integer", "long", "short", "byte")
_FLOAT_TYPES = ("float", "double")
_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_TYPE_WORDS = {
    dict: "structure or map", list: "array", str: "string", bool: "boolean",
    int: "number", float: "number", bytes: "blob",
}


def _describe(value) -> str:
    return _TYPE_WORDS.get(type(value), type(value).__name__)


def _flat(path) -> str:
    """A value's path, "/a/b/0". Built only for an error: reading passes it
    as nested (parent, key) tuples, which cost far less than formatting a
    string for every value of a large request."""
    parts = []
    while isinstance(path, tuple):
        path, key = path
        parts.append(str(key))
    parts.append(path)
    return "/".join(reversed(parts)) if parts != [""] else ""


def _mismatch(shape: Shape, value, path) -> ParseError:
    path = _flat(path)
    expected = {"structure": "structure", "map": "map", "list": "list"}.get(shape.type, shape.type)
    return ParseError(f"Expected {expected} but found {_describe(value)} at '{path or '/'}'", path)


def _wire_members(shape: Shape, use_wire: bool) -> dict:
    """{key in the document: (member name, shape, wire name or None)}: the
    wire name (locationName) when the codec uses them, and the member name,
    accepted too where it differs (then the wire name is given: it wins)."""
    cache = shape.__dict__.get("_wire_members")
    if cache is None:
        cache = shape.__dict__["_wire_members"] = {}
    found = cache.get(use_wire)
    if found is None:
        found = {}
        for name, mshape in shape.members.items():
            key = (mshape.wire_name or name) if use_wire else name
            found[key] = (name, mshape, None)
        for name, mshape in shape.members.items():
            wire = mshape.wire_name or name
            if use_wire and name not in found:
                found[name] = (name, mshape, wire)
        cache[use_wire] = found
    return found


class DocumentCodec:
    __slots__ = ("binary", "use_wire_names", "default_timestamp")

    def __init__(self, binary: bool, use_wire_names: bool, default_timestamp: str = "unixTimestamp"):
        self.binary = binary  # CBOR: blobs are bytes, timestamps tagged
        self.use_wire_names = use_wire_names
        self.default_timestamp = default_timestamp

    # -- decoded document -> input dict ----------------------------------

    def read_structure(self, shape: Shape, data, path: str = "", skip_located: bool = False) -> dict:
        if shape.document:
            return data
        if not isinstance(data, dict):
            raise _mismatch(shape, data, path)
        out = {}
        members = _wire_members(shape, self.use_wire_names)
        for key, raw in data.items():
            found = members.get(key)
            if found is None or raw is None:
                continue  # unknown members are ignored, as AWS ignores them
            name, mshape, wire = found
            if wire is not None and data.get(wire) is not None:
                continue  # the member name, where the wire name is given too: the wire name wins
            if skip_located and mshape.location:
                continue
            t = mshape.type
            if t == "string" and type(raw) is str:  # the common cases, without a call
                out[name] = raw
                continue
            if t == "double" and type(raw) is float:
                out[name] = raw
                continue
            value = self.read(mshape, raw, (path, key))
            if value is not None:
                out[name] = value
        return out

    def read(self, shape: Shape, raw, path: str):
        t = shape.type
        if t == "structure":
            return self.read_structure(shape, raw, path)
        if t == "string":
            if isinstance(raw, str):
                return raw
            raise _mismatch(shape, raw, path)
        if t in _INT_TYPES:
            if isinstance(raw, int) and not isinstance(raw, bool):
                return raw
            if isinstance(raw, float) and raw.is_integer():
                return int(raw)
            raise _mismatch(shape, raw, path)
        if t == "boolean":
            if isinstance(raw, bool):
                return raw
            raise _mismatch(shape, raw, path)
        if t in _FLOAT_TYPES:
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                return float(raw)
            if isinstance(raw, str) and raw in _SPECIAL:
                return _SPECIAL[raw]
            raise _mismatch(shape, raw, path)
        if t == "list":
            if not isinstance(raw, list):
                raise _mismatch(shape, raw, path)
            member = shape.member
            sparse = shape.spec.get("sparse", False)
            if member.type == "string" and not sparse and all(type(item) is str for item in raw):
                return list(raw)
            out = []
            for i, item in enumerate(raw):
                if item is None:
                    if sparse:
                        out.append(None)
                    continue
                out.append(self.read(member, item, (path, i)))
            return out
        if t == "map":
            if not isinstance(raw, dict):
                raise _mismatch(shape, raw, path)
            vshape = shape.value
            sparse = shape.spec.get("sparse", False)
            out = {}
            for k, v in raw.items():
                if not isinstance(k, str):
                    raise ParseError(f"Expected string map key at '{_flat(path)}'", _flat(path))
                if v is None:
                    if sparse:
                        out[k] = None
                    continue
                out[k] = self.read(vshape, v, (path, k))
            return out
        if t == "timestamp":
            if isinstance(raw, bool):
                raise _mismatch(shape, raw, path)
            try:
                return parse_timestamp(raw)
            except ParseError as exc:
                exc.path = _flat(path)
                raise
        if t == "blob":
            if self.binary:
                if isinstance(raw, (bytes, bytearray)):
                    return bytes(raw)
                raise _mismatch(shape, raw, path)
            if not isinstance(raw, str):
                raise _mismatch(shape, raw, path)
            return b64decode(raw)
        return raw  # document and unknown types pass through

    # -- output dict -> document to encode ------------------------------

    def write_structure(self, shape: Shape, value: dict, skip_located: bool = False) -> dict:
        if shape.document:
            return value
        out = {}
        members = shape.members
        use_wire = self.use_wire_names
        for name, item in value.items():
            if item is None:
                continue
            mshape = members.get(name)
            if mshape is None:
                continue
            if skip_located and mshape.location in RESPONSE_LOCATIONS:
                continue
            out[(mshape.wire_name or name) if use_wire else name] = self.write(mshape, item)
        return out

    def write(self, shape: Shape, value):
        t = shape.type
        if t == "string" or t in _INT_TYPES or t == "boolean":
            return value
        if t == "structure":
            return self.write_structure(shape, value)
        if t == "list":
            member = shape.member
            mt = member.type
            if mt == "string" or mt in _INT_TYPES or mt == "boolean":
                return list(value)  # written as they are (a large list costs no call per item)
            if mt in _FLOAT_TYPES and not self.binary and all(math.isfinite(v) for v in value if v is not None):
                return list(value)
            return [None if v is None else self.write(member, v) for v in value]
        if t == "map":
            vshape = shape.value
            return {k: (None if v is None else self.write(vshape, v)) for k, v in value.items()}
        if t in _FLOAT_TYPES:
            if self.binary:
                return float(value)
            if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
                return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            return value
        if t == "timestamp":
            if self.binary:
                return _CborTimestamp(epoch_number(value))
            fmt = shape.timestamp_format or self.default_timestamp
            return format_timestamp(value, fmt)
        if t == "blob":
            if self.binary:
                return value.encode() if isinstance(value, str) else bytes(value)
            return b64encode(value)
        return value


class _CborTimestamp:
    """Marks a value to be written as CBOR tag 1 (epoch seconds)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds):
        self.seconds = seconds


