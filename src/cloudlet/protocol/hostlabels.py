"""Host labels: input members an operation's endpoint trait puts in the host
name (`hostPrefix: "{AccountId}."`). Clients usually send them in the body or
a header too; when they do not, they are read back from the Host header."""

from __future__ import annotations

import re

from cloudlet.protocol.http import HttpRequest
from cloudlet.protocol.model import OperationModel

_LABEL = re.compile(r"\{([^}]+)\}")


def _pattern(prefix: str) -> re.Pattern:
    parts, pos = [], 0
    for m in _LABEL.finditer(prefix):
        parts.append(re.escape(prefix[pos:m.start()]))
        parts.append(f"(?P<{m.group(1)}>[A-Za-z0-9-]+)")
        pos = m.end()
    parts.append(re.escape(prefix[pos:]))
    return re.compile("".join(parts), re.IGNORECASE)


def fill_host_labels(op: OperationModel, request: HttpRequest, params: dict) -> None:
    prefix = op.host_prefix
    shape = op.input
    if not prefix or shape is None:
        return
    missing = [n for n, m in shape.members.items() if m.host_label and params.get(n) is None]
    if not missing:
        return
    pattern = op.plans.get("host_prefix")
    if pattern is None:
        pattern = op.plans["host_prefix"] = _pattern(prefix)
    m = pattern.match(request.host)
    if m is None:
        return
    found = m.groupdict()
    for name in missing:
        if found.get(name):
            params[name] = found[name]
