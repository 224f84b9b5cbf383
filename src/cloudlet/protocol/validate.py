"""Input validation from the model's constraints (required, enum, length,
range, pattern), worded the way AWS's Coral services word it:

    1 validation error detected: Value 'x' at 'queueName' failed to satisfy
    constraint: Member must have length less than or equal to 80
"""

from __future__ import annotations

from cloudlet.errors import AwsError
from cloudlet.protocol.model import Shape

_MAX_REPORTED = 10


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show_inner(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show_inner(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (bytes, bytearray)):
        return "java.nio.HeapByteBuffer"
    return str(value)


def _show_inner(value) -> str:
    return _show(value)


class Violation:
    __slots__ = ("path", "value", "constraint", "sensitive")

    def __init__(self, path: str, value, constraint: str, sensitive: bool = False):
        self.path = path
        self.value = value
        self.constraint = constraint
        self.sensitive = sensitive

    def __str__(self) -> str:
        if self.value is None:
            subject = "Value null"
        elif self.sensitive:
            subject = "Value"
        else:
            subject = f"Value '{_show(self.value)}'"
        return f"{subject} at '{self.path}' failed to satisfy constraint: {self.constraint}"


def violations(shape: Shape | None, params: dict) -> list[Violation]:
    out: list[Violation] = []
    if shape is not None:
        _structure(shape, params, "", out)
    return out


def check(shape: Shape | None, params: dict, code: str = "ValidationException") -> None:
    """Raise AwsError(code) listing every violation, or return."""
    found = violations(shape, params)
    if found:
        raise validation_error(found, code)


def validation_error(found: list[Violation], code: str) -> AwsError:
    n = len(found)
    head = f"{n} validation error{'s' if n != 1 else ''} detected: "
    return AwsError(code, head + "; ".join(str(v) for v in found[:_MAX_REPORTED]), 400)


def _structure(shape: Shape, value: dict, prefix: str, out: list[Violation]) -> None:
    members = shape.members
    for req in shape.required:
        if value.get(req) is None and req in members:
            out.append(Violation(prefix + _camel(req), None, "Member must not be null"))
    for name, item in value.items():
        if item is None:
            continue
        mshape = members.get(name)
        if mshape is not None:
            _value(mshape, item, prefix + _camel(name), out)


def _bounds(shape: Shape, value, measure, what: str, path: str, out: list[Violation]) -> None:
    """min/max of the model: on a length (`what` = "length") or a value."""
    if shape.min is not None and measure < shape.min:
        out.append(Violation(path, value, f"Member must have {what} greater than or equal to {shape.min}",
                             shape.sensitive))
    if shape.max is not None and measure > shape.max:
        out.append(Violation(path, value, f"Member must have {what} less than or equal to {shape.max}",
                             shape.sensitive))


def _value(shape: Shape, value, path: str, out: list[Violation]) -> None:
    t = shape.type
    if t == "string":
        if not isinstance(value, str):
            return
        if shape.enum and value not in shape.enum:
            out.append(Violation(path, value, "Member must satisfy enum value set: [" + ", ".join(shape.enum) + "]",
                                 shape.sensitive))
            return
        _bounds(shape, value, len(value), "length", path, out)
        pattern = shape.compiled_pattern
        if pattern is not None and pattern.fullmatch(value) is None:
            out.append(Violation(path, value, f"Member must satisfy regular expression pattern: {shape.pattern}",
                                 shape.sensitive))
    elif t == "structure":
        if isinstance(value, dict) and not shape.document:
            _structure(shape, value, path + ".", out)
    elif t == "list":
        if not isinstance(value, list):
            return
        _bounds(shape, value, len(value), "length", path, out)
        member = shape.member
        for i, item in enumerate(value, 1):
            if item is not None:
                _value(member, item, f"{path}.{i}.member", out)
    elif t == "map":
        if not isinstance(value, dict):
            return
        _bounds(shape, value, len(value), "length", path, out)
        kshape, vshape = shape.key, shape.value
        for k, v in value.items():
            _value(kshape, k, f"{path}.key", out)
            if v is not None:
                _value(vshape, v, f"{path}.{k}.member" if vshape.type == "structure" else f"{path}.value", out)
    elif t == "blob":
        if isinstance(value, (bytes, bytearray)):
            _bounds(shape, value, len(value), "length", path, out)
    elif t in ("integer", "long", "short", "byte", "float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        _bounds(shape, value, value, "value", path, out)
